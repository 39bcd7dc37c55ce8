"""The review's settings in the Review dock: how many folds, and each fold model's budget (minutes or steps).

Untouched, they are ``fcnstudio review``'s defaults (3 folds, 4 minutes per
fold). Steps per fold make a review reproducible (the same models every
time), minutes make its cost known. :meth:`save` / :meth:`load` remember them
in QSettings (``review/…``); the dock saves them when a review starts. The
fold models' other settings (network, loss, crop …) are the Training dock's.
"""

from __future__ import annotations

from PyQt6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from fcnstudio.train.config import REVIEW_FOLDS, REVIEW_MINUTES_PER_FOLD

__all__ = ["BUDGETS", "ReviewSettings"]

KEY = "review/"
#: the budget kinds and their labels
BUDGETS = {"minutes": "min per fold", "steps": "steps per fold"}
DEFAULT_STEPS = 300


class ReviewSettings(QWidget):
    def __init__(self, store=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.folds = QSpinBox()
        self.folds.setRange(2, 10)
        self.folds.setValue(REVIEW_FOLDS)
        self.folds.setToolTip("One model per fold, each trained on the other folds and asked about its own images")
        self.budget_value = QDoubleSpinBox()
        self.budget_value.setRange(1, 1_000_000)
        self.budget = QComboBox()
        for key, label in BUDGETS.items():
            self.budget.addItem(label, key)
        self.budget.setToolTip("How long each fold model trains: minutes (a known cost) or steps (a reproducible "
                               "review)")
        self.budget.currentIndexChanged.connect(self._kind_changed)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.folds)
        row.addWidget(QLabel("folds,"))
        row.addWidget(self.budget_value, 1)
        row.addWidget(self.budget)
        self.set_values(REVIEW_FOLDS, REVIEW_MINUTES_PER_FOLD, None)
        self.load()

    def _kind_changed(self) -> None:
        minutes = self.budget.currentData() == "minutes"
        self.budget_value.setDecimals(1 if minutes else 0)
        self.budget_value.setSingleStep(1 if minutes else 100)
        if not minutes and self.budget_value.value() < 10:
            self.budget_value.setValue(DEFAULT_STEPS)
        elif minutes and self.budget_value.value() > 120:
            self.budget_value.setValue(REVIEW_MINUTES_PER_FOLD)

    def values(self) -> tuple[int, float | None, int | None]:
        """``(folds, minutes_per_fold, steps_per_fold)``, one of the two budgets None."""
        value = self.budget_value.value()
        if self.budget.currentData() == "steps":
            return self.folds.value(), None, int(round(value))
        return self.folds.value(), float(value), None

    def set_values(self, folds: int, minutes: float | None, steps: int | None) -> None:
        self.folds.setValue(int(folds))
        kind = "steps" if steps is not None else "minutes"
        self.budget.blockSignals(True)
        self.budget.setCurrentIndex(self.budget.findData(kind))
        self.budget.blockSignals(False)
        self._kind_changed()
        self.budget_value.setValue(float(steps if steps is not None else minutes))

    # ------------------------------------------------------------------ QSettings

    def save(self) -> None:
        if self.store is None:
            return
        folds, minutes, steps = self.values()
        self.store.setValue(KEY + "folds", folds)
        self.store.setValue(KEY + "budget", "steps" if steps is not None else "minutes")
        self.store.setValue(KEY + "budget_value", float(steps if steps is not None else minutes))

    def load(self) -> None:
        if self.store is None or self.store.value(KEY + "folds") is None:
            return
        try:
            folds = int(self.store.value(KEY + "folds"))
            value = float(self.store.value(KEY + "budget_value"))
        except (TypeError, ValueError):
            return
        if self.store.value(KEY + "budget") == "steps":
            self.set_values(folds, None, int(round(value)))
        else:
            self.set_values(folds, value, None)
