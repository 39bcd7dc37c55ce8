"""Segmentation losses: thin ``nn.Module`` wrappers over pure functions.

Shapes (every function and module):

- ``logits``: float ``N x C x H x W`` (raw network output, before softmax)
- ``target``: integer ``N x H x W`` class indices in ``[0, C)``, or ``ignore_index``

Pixels whose target equals ``ignore_index`` are excluded from every loss: they
add nothing to the value and get zero gradient. They are replaced by 0 before
any one-hot encoding, so a target of 255 never reaches ``one_hot``. Any other
value outside ``[0, C)`` raises ValueError (run the label checker). A batch
with no labelled pixel gives a loss of 0 (with a gradient graph), not NaN.

Names for :func:`make_loss` (:data:`LOSS_NAMES`); ``dice+ce`` is the default:

- ``ce``: cross-entropy, mean over labelled pixels
- ``weighted-ce``: cross-entropy with per-class weights (see
  :func:`median_frequency_weights`), normalised by the summed weights of the
  labelled pixels (PyTorch's convention)
- ``dice``: soft multi-class *batch* Dice over foreground classes (1..C-1).
  For each class, sums run over the whole batch:
  ``dice_c = (2 * sum(p*t) + eps) / (sum(p) + sum(t) + eps)``; loss is
  ``1 - mean_c dice_c``. A class absent from the batch's labels still counts:
  its score is ``eps / (sum(p) + eps)``, so predicting it is penalised and
  predicting none of it costs nothing. ``eps`` = 1 (the usual smoothing).
- ``focal``: ``-(1 - p_t)**gamma * log(p_t)``, gamma = 2, mean over labelled
  pixels (class weights, when given, scale each pixel as in weighted CE)
- ``dice+ce``: ``dice + ce`` (1:1); class weights, when given, weight the CE term
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import LOSS_NAMES

__all__ = [
    "CELoss",
    "DiceCELoss",
    "DiceLoss",
    "FocalLoss",
    "cross_entropy",
    "dice_loss",
    "focal_loss",
    "make_loss",
    "median_frequency_weights",
]


# F.cross_entropy's own default; used only when no ignore_index is given and
# after _check_target has proven that no target holds it.
_NO_IGNORE = -100


def _check_target(logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    """Validate shapes/values; return the target as int64."""
    if logits.ndim != 4:
        raise ValueError(f"logits must be N x C x H x W, got shape {tuple(logits.shape)}")
    n, c, h, w = logits.shape
    if tuple(target.shape) != (n, h, w):
        raise ValueError(f"target must be N x H x W = {(n, h, w)} to match logits, got {tuple(target.shape)}")
    if target.dtype.is_floating_point or target.dtype == torch.bool:
        raise ValueError(f"target must hold integer class indices, got {target.dtype}")
    target = target.long()
    labelled = target if ignore_index is None else target[target != ignore_index]
    if labelled.numel() and (int(labelled.min()) < 0 or int(labelled.max()) >= c):
        raise ValueError(
            f"target values must be in [0, {c}) or ignore_index={ignore_index}; found "
            f"{int(labelled.min())}..{int(labelled.max())}. Run the label checker "
            "(0/255 masks, colour masks and out-of-range labels are fixable there)")
    return target


def _valid_and_clean(target: torch.Tensor, ignore_index: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(float mask of labelled pixels, target with ignored pixels set to 0)."""
    if ignore_index is None:
        return torch.ones_like(target, dtype=torch.float32), target
    valid = target != ignore_index
    return valid.float(), torch.where(valid, target, torch.zeros_like(target))


def _weight_tensor(weight: Sequence[float] | torch.Tensor | None, logits: torch.Tensor) -> torch.Tensor | None:
    if weight is None:
        return None
    w = torch.as_tensor(weight, dtype=logits.dtype, device=logits.device)
    if w.shape != (logits.shape[1],):
        raise ValueError(f"class weights must have one value per class ({logits.shape[1]}), got {tuple(w.shape)}")
    return w


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None,
                  weight: Sequence[float] | torch.Tensor | None = None) -> torch.Tensor:
    """Mean (optionally class-weighted) cross-entropy over labelled pixels."""
    target = _check_target(logits, target, ignore_index)
    w = _weight_tensor(weight, logits)
    valid, _ = _valid_and_clean(target, ignore_index)
    if valid.sum() == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, weight=w,
                           ignore_index=_NO_IGNORE if ignore_index is None else ignore_index)


def dice_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None,
              eps: float = 1.0, include_background: bool = False) -> torch.Tensor:
    """Soft multi-class batch Dice loss (see the module docstring)."""
    target = _check_target(logits, target, ignore_index)
    c = logits.shape[1]
    valid, clean = _valid_and_clean(target, ignore_index)
    probs = logits.softmax(dim=1) * valid[:, None]
    onehot = F.one_hot(clean, c).permute(0, 3, 1, 2).to(probs.dtype) * valid[:, None]
    dims = (0, 2, 3)  # batch Dice: sum over the whole batch
    inter = (probs * onehot).sum(dims)
    card = probs.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + eps) / (card + eps)
    if not include_background:
        dice = dice[1:]
    return 1.0 - dice.mean()


def focal_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None,
               gamma: float = 2.0, weight: Sequence[float] | torch.Tensor | None = None) -> torch.Tensor:
    """Focal loss ``-(1 - p_t)**gamma * log p_t``, mean over labelled pixels.

    With ``gamma=0`` and the same weights it equals :func:`cross_entropy`.
    """
    target = _check_target(logits, target, ignore_index)
    w = _weight_tensor(weight, logits)
    valid, clean = _valid_and_clean(target, ignore_index)
    logp_t = logits.log_softmax(dim=1).gather(1, clean[:, None]).squeeze(1)
    per_pixel = -((1 - logp_t.exp()) ** gamma) * logp_t
    scale = valid if w is None else valid * w[clean]
    denom = scale.sum()
    if denom == 0:
        return logits.sum() * 0.0
    return (per_pixel * scale).sum() / denom


class _Loss(nn.Module):
    def __init__(self, num_classes: int, ignore_index: int | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def _check_classes(self, logits: torch.Tensor) -> None:
        if logits.ndim == 4 and logits.shape[1] != self.num_classes:
            raise ValueError(f"loss built for {self.num_classes} classes got logits with {logits.shape[1]} channels")

    def _weights(self) -> torch.Tensor | None:
        return getattr(self, "class_weights", None)


class CELoss(_Loss):
    """``ce`` / ``weighted-ce``: :func:`cross_entropy` (weights kept as a buffer)."""

    def __init__(self, num_classes: int, ignore_index: int | None = None,
                 class_weights: Sequence[float] | None = None) -> None:
        super().__init__(num_classes, ignore_index)
        self.register_buffer("class_weights", _as_buffer(class_weights, num_classes))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self._check_classes(logits)
        return cross_entropy(logits, target, self.ignore_index, self._weights())


class DiceLoss(_Loss):
    """``dice``: :func:`dice_loss` over foreground classes."""

    def __init__(self, num_classes: int, ignore_index: int | None = None, eps: float = 1.0) -> None:
        super().__init__(num_classes, ignore_index)
        self.eps = eps

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self._check_classes(logits)
        return dice_loss(logits, target, self.ignore_index, eps=self.eps)


class FocalLoss(_Loss):
    """``focal``: :func:`focal_loss` with gamma 2 (optional class weights)."""

    def __init__(self, num_classes: int, ignore_index: int | None = None, gamma: float = 2.0,
                 class_weights: Sequence[float] | None = None) -> None:
        super().__init__(num_classes, ignore_index)
        self.gamma = gamma
        self.register_buffer("class_weights", _as_buffer(class_weights, num_classes))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self._check_classes(logits)
        return focal_loss(logits, target, self.ignore_index, self.gamma, self._weights())


class DiceCELoss(_Loss):
    """``dice+ce``: ``dice_loss + cross_entropy`` (1:1), the default."""

    def __init__(self, num_classes: int, ignore_index: int | None = None,
                 class_weights: Sequence[float] | None = None, eps: float = 1.0) -> None:
        super().__init__(num_classes, ignore_index)
        self.eps = eps
        self.register_buffer("class_weights", _as_buffer(class_weights, num_classes))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self._check_classes(logits)
        return (dice_loss(logits, target, self.ignore_index, eps=self.eps)
                + cross_entropy(logits, target, self.ignore_index, self._weights()))


def _as_buffer(weights: Sequence[float] | None, num_classes: int) -> torch.Tensor | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        raise ValueError(f"class_weights={weights!r}: resolve it to numbers first, "
                         "e.g. median_frequency_weights(class pixel counts)")
    w = torch.as_tensor(np.asarray(weights, dtype=np.float32))
    if w.shape != (num_classes,):
        raise ValueError(f"class_weights must have {num_classes} values, got shape {tuple(w.shape)}")
    if not torch.isfinite(w).all() or (w < 0).any() or w.sum() == 0:
        raise ValueError(f"class_weights must be finite, >= 0 and not all 0, got {w.tolist()}")
    return w


def make_loss(name: str, num_classes: int, ignore_index: int | None = None,
              class_weights: Sequence[float] | None = None) -> nn.Module:
    """The loss module called ``name`` (one of :data:`LOSS_NAMES`).

    ``class_weights`` (one float per class) is required by ``weighted-ce``,
    optional for ``ce``/``focal``/``dice+ce`` (it weights the CE term) and
    refused by ``dice`` (which has no per-class weights).
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2 (background + at least one class), got {num_classes}")
    if name == "ce":
        return CELoss(num_classes, ignore_index, class_weights)
    if name == "weighted-ce":
        if class_weights is None:
            raise ValueError("weighted-ce needs class_weights (one per class); compute them with "
                             "median_frequency_weights(class pixel counts)")
        return CELoss(num_classes, ignore_index, class_weights)
    if name == "dice":
        if class_weights is not None:
            raise ValueError("the dice loss takes no class_weights; use dice+ce or weighted-ce for weights")
        return DiceLoss(num_classes, ignore_index)
    if name == "focal":
        return FocalLoss(num_classes, ignore_index, class_weights=class_weights)
    if name == "dice+ce":
        return DiceCELoss(num_classes, ignore_index, class_weights)
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSS_NAMES)}")


def median_frequency_weights(class_pixels: Sequence[float]) -> np.ndarray:
    """Median-frequency balancing: ``w_c = median(f) / f_c`` (Eigen & Fergus 2015).

    ``class_pixels``: per-class pixel counts (or fractions) over the training
    labels. The median runs over the classes present; a class with no pixels
    gets the largest weight of the present ones (it is at least as rare).
    Returns float32 weights, one per class.
    """
    f = np.asarray(class_pixels, dtype=np.float64)
    if f.ndim != 1 or f.size < 2 or not np.all(np.isfinite(f)) or np.any(f < 0):
        raise ValueError(f"class_pixels must be >= 0 counts, one per class (>= 2), got {f.tolist()}")
    present = f > 0
    if not present.any():
        raise ValueError("class_pixels are all 0: there are no labelled pixels to balance")
    freq = f / f.sum()
    w = np.zeros_like(freq)
    w[present] = np.median(freq[present]) / freq[present]
    w[~present] = w[present].max()
    return w.astype(np.float32)
