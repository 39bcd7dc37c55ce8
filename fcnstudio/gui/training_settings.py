"""The training settings form: loss, class weights, learning rate, budget, batch, crop, network, width, input scale.

Untouched, it gives :class:`fcnstudio.train.config.TrainConfig`'s defaults
(Dice + CE, lr 1e-3, …), which work on an imbalanced dataset. :data:`DEFAULTS`
and the loss names are read from that module, which imports no torch, so the
window shows this form without loading torch. :meth:`to_config` gives the TrainConfig fields;
:meth:`save` / :meth:`load` remember them in QSettings (``training/…``);
:meth:`load_dict` takes a project file's ``training`` section. Settings saved
before the network choice existed (no ``training/arch``) kept the old U-Net's
crop and width; they are not restored, so such a user gets today's defaults.
"""

from __future__ import annotations

import math

from PyQt6.QtGui import QDoubleValidator
from PyQt6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QSpinBox,
                             QWidget)

from ..train.config import ARCH_WIDTHS, DEFAULT_LOSS, LOSS_NAMES, MAX_LR, TrainConfig

__all__ = ["DEFAULTS", "LOSSES", "TrainingSettings"]

_FIELDS = ("loss", "class_weights", "lr", "batch_size", "crop_size", "arch", "width", "input_scale", "max_steps",
           "epochs", "max_minutes")
#: TrainConfig's defaults for the fields of this form.
DEFAULTS = {k: getattr(TrainConfig(), k) for k in _FIELDS}
_LABELS = {"dice+ce": "Dice + CE", "ce": "Cross-entropy", "weighted-ce": "Weighted CE", "dice": "Dice",
           "focal": "Focal"}
#: The losses in the menu's order (the default first) with their labels.
LOSSES = {name: _LABELS.get(name, name) for name in sorted(LOSS_NAMES, key=lambda n: n != DEFAULT_LOSS)}
BUDGETS = {"max_steps": "steps", "epochs": "epochs", "max_minutes": "minutes"}
ARCHS = {"resunet": "Residual U-Net", "unet": "U-Net", "fcn": "FCN"}
SCALES = ("auto", 1.0, 0.75, 0.625, 0.5, 0.375, 0.25)
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
        self.arch = QComboBox()
        for name, label in ARCHS.items():
            self.arch.addItem(label, name)
        self.arch.setToolTip("The network: a U-Net with a residual (ResNet-18-style) encoder learns the most per "
                             "CPU minute; U-Net and FCN as in earlier versions")
        self.width_ = QSpinBox()
        self.width_.setRange(0, 256)
        self.width_.setSpecialValueText("Auto")
        self.width_.setToolTip("Base width (channels of the first level); Auto: "
                               + ", ".join(f"{ARCHS[k]} {v}" for k, v in ARCH_WIDTHS.items()))
        self.scale = QComboBox()
        for value in SCALES:
            self.scale.addItem("Auto" if value == "auto" else f"{value:g}x", value)
        self.scale.setToolTip("Train at this fraction of the image size (Auto: from the image sizes and the thinnest "
                              "labelled structures); predictions are always at full size")
        self._layout()
        self._budget_kind()
        self.load_dict(DEFAULTS)
        self.load()

    def _layout(self) -> None:
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
        form.addRow("Network", self.arch)
        form.addRow("Width", self.width_)
        form.addRow("Input scale", self.scale)
        form.addRow("", reset)

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
               "batch_size": self.batch.value(), "crop_size": self.crop.value(), "arch": self.arch.currentData(),
               "width": self.width_.value() or None, "input_scale": self.scale.currentData(),
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
        if "width" in d and d["width"] is None:
            self.width_.setValue(0)
        if d.get("arch") in ARCHS:
            self.arch.setCurrentIndex(self.arch.findData(d["arch"]))
        if "input_scale" in d:
            i = next((i for i, v in enumerate(SCALES) if v == d["input_scale"]), -1)
            if i >= 0:
                self.scale.setCurrentIndex(i)
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
        for key in ("loss", "lr", "batch_size", "crop_size", "arch"):
            self.store.setValue(KEY + key, cfg[key])
        self.store.setValue(KEY + "width", cfg["width"] or 0)
        self.store.setValue(KEY + "input_scale", str(cfg["input_scale"]))
        self.store.setValue(KEY + "class_weights", cfg["class_weights"] or "none")
        kind = self.budget.currentData()
        self.store.setValue(KEY + "budget", kind)
        self.store.setValue(KEY + "budget_value", float(cfg[kind]))

    def load(self) -> None:
        if self.store is None or self.store.value(KEY + "loss") is None:
            return
        d: dict = {}
        fields = [("loss", str), ("lr", float), ("batch_size", int)]
        if self.store.value(KEY + "arch") is not None:  # else saved before the residual U-Net: its crop and width
            fields += [("crop_size", int), ("arch", str), ("width", int)]
        for key, kind in fields:
            try:
                d[key] = kind(self.store.value(KEY + key))
            except (TypeError, ValueError):
                pass
        if d.get("width") == 0:
            d["width"] = None
        scale = self.store.value(KEY + "input_scale")
        try:
            d["input_scale"] = "auto" if scale in (None, "auto") else float(scale)
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
