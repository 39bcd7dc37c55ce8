"""Per-class segmentation metrics from class-index arrays.

Everything is built from one confusion matrix over the labelled pixels
(pixels whose truth equals ``ignore_index`` are left out, whatever was
predicted there). From it, per class ``c``:

- ``tp`` / ``fp`` / ``fn``: true positives, false positives, false negatives
- ``iou  = tp / (tp + fp + fn)``
- ``dice = 2 tp / (2 tp + fp + fn)``
- ``true_fraction = (tp + fn) / labelled pixels``  (share of the labels)
- ``pred_fraction = (tp + fp) / labelled pixels``  (share of the prediction)

Convention for a class absent from both truth and prediction: its IoU and Dice
are NaN (there is nothing to score, and 0 or 1 would both bias the mean);
``mean_iou`` / ``mean_fg_iou`` skip NaN and are NaN only when every class is.
A class predicted but absent from truth scores 0. With no labelled pixel at
all, the fractions are NaN too.

Inputs may be numpy arrays or torch tensors (converted with
``.detach().cpu().numpy()``); this module does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MetricAccumulator", "Metrics", "confusion_matrix", "metrics_from_confusion"]


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _nanmean(a: np.ndarray) -> float:
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def confusion_matrix(pred: Any, target: Any, num_classes: int,
                     ignore_index: int | None = None) -> np.ndarray:
    """``cm[t, p]`` = number of labelled pixels of true class t predicted as p.

    ``pred`` and ``target`` are integer class-index arrays of the same shape
    (any shape: HxW, NxHxW ...). Target values other than ``ignore_index`` must
    lie in ``[0, num_classes)``, and so must every prediction on a labelled pixel.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    p = _to_numpy(pred)
    t = _to_numpy(target)
    if p.shape != t.shape:
        raise ValueError(f"pred and target shapes differ: {p.shape} vs {t.shape}")
    for name, a in (("pred", p), ("target", t)):
        if a.dtype.kind not in "iub":
            raise ValueError(f"{name} must hold integer class indices, got dtype {a.dtype}; "
                             "take the argmax of the probabilities first")
    p = p.reshape(-1).astype(np.int64, copy=False)
    t = t.reshape(-1).astype(np.int64, copy=False)
    if ignore_index is not None:
        keep = t != ignore_index
        p, t = p[keep], t[keep]
    if t.size:
        if t.min() < 0 or t.max() >= num_classes:
            raise ValueError(
                f"target values must be in [0, {num_classes}) or ignore_index={ignore_index}; "
                f"found {int(t.min())}..{int(t.max())}. Run the label checker "
                "(label-out-of-range, binary-255)")
        if p.min() < 0 or p.max() >= num_classes:
            raise ValueError(f"pred values must be in [0, {num_classes}); found {int(p.min())}..{int(p.max())}")
    cm = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return cm.reshape(num_classes, num_classes).astype(np.int64)


@dataclass(frozen=True)
class Metrics:
    """Per-class metrics (tuples indexed by class) and the counts behind them."""

    tp: tuple
    fp: tuple
    fn: tuple
    iou: tuple
    dice: tuple
    true_fraction: tuple
    pred_fraction: tuple
    labelled_pixels: int

    @property
    def num_classes(self) -> int:
        return len(self.tp)

    @property
    def mean_iou(self) -> float:
        """Mean IoU over all classes, NaN (absent) classes skipped."""
        return _nanmean(np.array(self.iou, dtype=float))

    @property
    def mean_fg_iou(self) -> float:
        """Mean IoU over classes 1..C-1, NaN classes skipped (class 0 is background)."""
        return _nanmean(np.array(self.iou[1:], dtype=float))


def metrics_from_confusion(cm: np.ndarray) -> Metrics:
    """:class:`Metrics` from a CxC confusion matrix (rows: truth, columns: prediction)."""
    cm = np.asarray(cm, dtype=np.int64)
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    total = int(cm.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (tp + fp + fn)
        dice = 2 * tp / (2 * tp + fp + fn)
        true_fraction = (tp + fn) / total if total else np.full(len(tp), np.nan)
        pred_fraction = (tp + fp) / total if total else np.full(len(tp), np.nan)
    return Metrics(
        tp=tuple(int(x) for x in tp),
        fp=tuple(int(x) for x in fp),
        fn=tuple(int(x) for x in fn),
        iou=tuple(float(x) for x in iou),
        dice=tuple(float(x) for x in dice),
        true_fraction=tuple(float(x) for x in true_fraction),
        pred_fraction=tuple(float(x) for x in pred_fraction),
        labelled_pixels=total,
    )


class MetricAccumulator:
    """Sums confusion counts (and the per-class max and min probability) over batches.

    >>> acc = MetricAccumulator(num_classes=2, ignore_index=255)
    >>> acc.update(pred, target)            # any number of batches
    >>> m = acc.compute()                   # Metrics; acc.max_prob for the monitor
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        self.cm = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        self._max_prob = np.full(self.num_classes, np.nan)
        self._min_prob = np.full(self.num_classes, np.nan)

    def update(self, pred: Any, target: Any, prob: Any = None) -> None:
        """Add one batch.

        ``pred``/``target``: class indices of the same shape (HxW or NxHxW).
        ``prob`` (optional): softmax probabilities, CxHxW for an HxW target or
        NxCxHxW for NxHxW; the per-class maximum over labelled pixels is kept.
        """
        self.cm += confusion_matrix(pred, target, self.num_classes, self.ignore_index)
        if prob is None:
            return
        pr = _to_numpy(prob)
        t = _to_numpy(target)
        if t.ndim == 2 and pr.ndim == 3:  # one HxW image: CxHxW probabilities
            pr = pr[None]
            t = t[None]
        if pr.ndim != t.ndim + 1 or pr.shape[1] != self.num_classes or \
                pr.shape[:1] + pr.shape[2:] != t.shape:
            raise ValueError(f"prob must be CxHxW or NxCxHxW matching target {t.shape} with "
                             f"C={self.num_classes}, got {pr.shape}")
        flat = np.moveaxis(pr, 1, -1).reshape(-1, self.num_classes)
        if self.ignore_index is not None:
            flat = flat[t.reshape(-1) != self.ignore_index]
        if flat.size:
            batch_max = flat.max(axis=0).astype(np.float64)
            self._max_prob = np.fmax(self._max_prob, batch_max)  # fmax: NaN loses
            self._min_prob = np.fmin(self._min_prob, flat.min(axis=0).astype(np.float64))

    def merge(self, other: "MetricAccumulator") -> None:
        """Add the counts of ``other`` (e.g. another process's share of the images): the result is what
        one accumulator updated with both sets of batches holds."""
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot merge {other.num_classes}-class counts into {self.num_classes}-class ones")
        self.cm += other.cm
        self._max_prob = np.fmax(self._max_prob, other._max_prob)
        self._min_prob = np.fmin(self._min_prob, other._min_prob)

    @property
    def max_prob(self) -> tuple:
        """Per-class max probability seen on labelled pixels (NaN before any prob)."""
        return tuple(float(x) for x in self._max_prob)

    @property
    def prob_spread(self) -> tuple:
        """Per-class max minus min probability over labelled pixels (NaN before any prob).

        Near 0 for every class, the network gives every pixel the same answer:
        it no longer looks at the image.
        """
        return tuple(float(x) for x in self._max_prob - self._min_prob)

    def compute(self) -> Metrics:
        return metrics_from_confusion(self.cm)
