"""The training settings form: loss, class weights, learning rate, budget, batch, crop, width.

Untouched, it gives :class:`fcnstudio.train.config.TrainConfig`'s defaults
(Dice + CE, lr 1e-3, …), which work on an imbalanced dataset. :data:`DEFAULTS`
and the loss names are read from that module, which imports no torch, so the
window shows this form without loading torch. :meth:`to_config` gives the TrainConfig fields;
:meth:`save` / :meth:`load` remember them in QSettings (``training/…``);
:meth:`load_dict` takes a project file's ``training`` section.
"""

from __future__ import annotations

import math

from PyQt6.QtGui import QDoubleValidator
from PyQt6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QSpinBox,
                             QWidget)

from ..train.config import DEFAULT_LOSS, LOSS_NAMES, MAX_LR, TrainConfig

__all__ = ["DEFAULTS", "LOSSES", "TrainingSettings"]

_FIELDS = ("loss", "class_weights", "lr", "batch_size", "crop_size", "width", "max_steps", "epochs", "max_minutes")
#: TrainConfig's defaults for the fields of this form.
DEFAULTS = {k: getattr(TrainConfig(), k) for k in _FIELDS}
_LABELS = {"dice+ce": "Dice + CE", "ce": "Cross-entropy", "weighted-ce": "Weighted CE", "dice": "Dice",
           "focal": "Focal"}
#: The losses in the menu's order (the default first) with their labels.
LOSSES = {name: _LABELS.get(name, name) for name in sorted(LOSS_NAMES, key=lambda n: n != DEFAULT_LOSS)}
BUDGETS = {"max_steps": "steps", "epochs": "epochs", "max_minutes": "minutes"}
KEY = "training/"


class TrainingSettings(QWidget):
    def __init__(self, store=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.loss = QComboBox()
        for name, label in LOSSES.items():
            self.loss.addItem(label, name)
        self.loss.setToolTip("Dice + CE learns rare classes; plain cross-entropy often predicts only background")
        self.weights = QComboBox()
        self.weights.addItem("None", None)
        self.weights.addItem("Auto (median frequency)", "auto")
        self.weights.setToolTip("Class weights for the cross-entropy term (rare classes count more)")
        self.lr = QLineEdit()
        v = QDoubleValidator(1e-7, MAX_LR, 8, self.lr)
        v.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.lr.setValidator(v)
        self.lr.setToolTip("Learning rate, e.g. 0.001 or 3e-4 (the LR range test suggests one)")
        self.budget = QComboBox()
        for key, label in BUDGETS.items():
            self.budget.addItem(label, key)
        self.budget_value = QDoubleSpinBox()
        self.budget_value.setRange(1, 1_000_000)
        self.budget.currentIndexChanged.connect(self._budget_kind)
        self.batch = QSpinBox()
        self.batch.setRange(1, 512)
        self.crop = QSpinBox()
        self.crop.setRange(16, 2048)
        self.crop.setSingleStep(16)
        self.crop.setSuffix(" px")
        self.crop.setToolTip("Training crops (square); larger is slower per step")
        self.width_ = QSpinBox()
        self.width_.setRange(2, 256)
        self.width_.setToolTip("U-Net base width (channels of the first level)")
        reset = QPushButton("Defaults")
        reset.setToolTip("Back to the defaults (they work on imbalanced data)")
        reset.clicked.connect(lambda: self.load_dict(DEFAULTS))
        budget = QHBoxLayout()
        budget.addWidget(self.budget_value, 1)
        budget.addWidget(self.budget)
        form = QFormLayout(self)
        form.setContentsMargins(4, 4, 4, 4)
        form.addRow("Loss", self.loss)
        form.addRow("Class weights", self.weights)
        form.addRow("Learning rate", self.lr)
        form.addRow("Train for", budget)
        form.addRow("Batch", self.batch)
        form.addRow("Crop", self.crop)
        form.addRow("Width", self.width_)
        form.addRow("", reset)
        self._budget_kind()
        self.load_dict(DEFAULTS)
        self.load()

    def _budget_kind(self) -> None:
        minutes = self.budget.currentData() == "max_minutes"
        self.budget_value.setDecimals(1 if minutes else 0)
        self.budget_value.setSingleStep(1 if minutes else 100 if self.budget.currentData() == "max_steps" else 1)

    # ------------------------------------------------------------------ values

    def to_config(self) -> dict:
        """TrainConfig fields (an unreadable learning rate falls back to the default)."""
        try:
            lr = float(self.lr.text())
            lr = lr if math.isfinite(lr) and 0 < lr <= MAX_LR else DEFAULTS["lr"]
        except ValueError:
            lr = DEFAULTS["lr"]
        kind = self.budget.currentData()
        value = self.budget_value.value()
        cfg = {"loss": self.loss.currentData(), "class_weights": self.weights.currentData(), "lr": lr,
               "batch_size": self.batch.value(), "crop_size": self.crop.value(), "width": self.width_.value(),
               "max_steps": None, "epochs": None, "max_minutes": None}
        cfg[kind] = float(value) if kind == "max_minutes" else int(round(value))
        if cfg["loss"] == "dice":
            cfg["class_weights"] = None  # Dice takes no weights
        return cfg

    def load_dict(self, d: dict) -> None:
        """Show the values of ``d`` (TrainConfig field names; missing ones are left as they are)."""
        if "loss" in d and d["loss"] in LOSSES:
            self.loss.setCurrentIndex(self.loss.findData(d["loss"]))
        if "class_weights" in d:
            self.weights.setCurrentIndex(1 if d["class_weights"] == "auto" else 0)
        if isinstance(d.get("lr"), (int, float)) and d["lr"] > 0:
            self.lr.setText(f"{float(d['lr']):g}")
        for key, box in (("batch_size", self.batch), ("crop_size", self.crop), ("width", self.width_)):
            if isinstance(d.get(key), (int, float)):
                box.setValue(int(d[key]))
        for key in BUDGETS:
            if isinstance(d.get(key), (int, float)) and not isinstance(d.get(key), bool) and d[key] > 0:
                self.budget.setCurrentIndex(self.budget.findData(key))
                self.budget_value.setValue(float(d[key]))
                break

    def apply_action(self, action: dict) -> bool:
        """A suggestion's ``loss`` / ``lr`` / ``class_weights``; True when a setting changed."""
        before = self.to_config()
        if "class_weights" in action and self.loss.currentData() == "dice" and action["class_weights"]:
            self.loss.setCurrentIndex(self.loss.findData(DEFAULT_LOSS))  # weights need a CE term
        self.load_dict({k: v for k, v in action.items() if k in ("loss", "lr", "class_weights")})
        return self.to_config() != before

    # ------------------------------------------------------------------ QSettings

    def save(self) -> None:
        if self.store is None:
            return
        cfg = self.to_config()
        for key in ("loss", "lr", "batch_size", "crop_size", "width"):
            self.store.setValue(KEY + key, cfg[key])
        self.store.setValue(KEY + "class_weights", cfg["class_weights"] or "none")
        kind = self.budget.currentData()
        self.store.setValue(KEY + "budget", kind)
        self.store.setValue(KEY + "budget_value", float(cfg[kind]))

    def load(self) -> None:
        if self.store is None or self.store.value(KEY + "loss") is None:
            return
        d: dict = {}
        for key, kind in (("loss", str), ("lr", float), ("batch_size", int), ("crop_size", int), ("width", int)):
            try:
                d[key] = kind(self.store.value(KEY + key))
            except (TypeError, ValueError):
                pass
        d["class_weights"] = "auto" if self.store.value(KEY + "class_weights") == "auto" else None
        kind = self.store.value(KEY + "budget")
        try:
            if kind in BUDGETS:
                d[kind] = float(self.store.value(KEY + "budget_value"))
        except (TypeError, ValueError):
            pass
        self.load_dict(d)
