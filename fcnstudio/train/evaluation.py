"""One evaluation: every validation image scored whole (tiled when large), metrics, loss and preview tiles.

:class:`Evaluator` holds what does not change during a run (the pair store,
the device, the tile and preview sizes); calling it scores a model on a list
of validation images and returns the :class:`~.events.EvalEvent`. Before each
image it calls ``between()`` (the trainer holds a pause there and raises
:class:`~.errors.Stopped` on a stop); an image that became unreadable is left
out through ``drop(i, reason)`` unless it is the last one. Each evaluation
also says how much its images vary (``image_spread``), and, on a fresh run,
:meth:`Evaluator.measure_untrained` records once how much the untrained
network's output spreads (``untrained_spread``), for the monitor's
dead-network rule.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import cv2
import numpy as np
import torch

from .data import PairStore, Sample
from .errors import Stopped, UnreadableError
from .events import EvalEvent, Preview
from .metrics import MetricAccumulator
from .precision import Precision
from .predict import predict_probs
from .preprocess import unit_to_model_input

__all__ = ["EVAL_TILE", "Evaluator", "downscale_for_preview"]

#: Validation images up to this many pixels a side (or the crop size, when larger) go through the network whole.
EVAL_TILE = 512
#: The untrained network's output spread is measured on this many validation images (cheap: once per run).
UNTRAINED_IMAGES = 2


class Evaluator:
    """Scores a model on validation images of ``store``; see the module docstring."""

    def __init__(self, store: PairStore, device: torch.device, crop_size: int, preview_size: int,
                 precision: Precision = Precision(False, False)) -> None:
        self.store = store
        self.device = device
        self.precision = precision
        self.tile = max(EVAL_TILE, int(crop_size))
        self.preview_size = int(preview_size)
        self.untrained_spread: tuple = ()

    @torch.no_grad()
    def measure_untrained(self, model: torch.nn.Module, indices: Sequence[int], stop: Callable[[], bool]) -> tuple:
        """Per-class probability spread of the untrained ``model`` on the first validation images; kept for the
        evaluations' ``untrained_spread`` (stays empty when none of them can be read)."""
        was_training = model.training
        model.eval()
        acc = MetricAccumulator(self.store.num_classes, self.store.ignore_index)
        seen = 0
        try:
            for i in list(indices)[:UNTRAINED_IMAGES]:
                try:
                    s = self.store.load(i)
                except UnreadableError:
                    continue  # the evaluation reports it
                x = torch.from_numpy(unit_to_model_input(s.image, s.mean, s.std)).to(self.device)
                with self.precision.autocast(self.device):
                    prob = predict_probs(model, x, self.tile, stop=stop)
                if prob is None:
                    raise Stopped()
                acc.update(prob.argmax(0).cpu().numpy(), s.mask, prob.cpu().numpy())
                seen += 1
        finally:
            if was_training:
                model.train()
        self.untrained_spread = acc.prob_spread if seen else ()
        return self.untrained_spread

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module, loss_fn: Callable, indices: Sequence[int], previews_of: Sequence[int],
                 step: int, *, between: Callable[[], None], stop: Callable[[], bool],
                 drop: Callable[[int, str], None]) -> EvalEvent:
        was_training = model.training
        started = time.perf_counter()
        model.eval()
        num_classes, ignore = self.store.num_classes, self.store.ignore_index
        acc = MetricAccumulator(num_classes, ignore)
        losses: list[float] = []
        previews: list[Preview] = []
        image_spread = math.nan
        left = len(indices)
        try:
            for i in list(indices):
                between()
                try:
                    s = self.store.load(i)
                except UnreadableError as exc:
                    if left == 1:
                        raise
                    left -= 1
                    drop(i, str(exc))
                    continue
                x = torch.from_numpy(unit_to_model_input(s.image, s.mean, s.std)).to(self.device)
                with self.precision.autocast(self.device):
                    prob = predict_probs(model, x, self.tile, stop=stop)
                if prob is None:
                    raise Stopped()
                y = torch.from_numpy(s.mask.astype(np.int64)).to(self.device)
                if (y != ignore).any():
                    losses.append(float(loss_fn(torch.log(prob.clamp_min(1e-8))[None], y[None])))
                prob_np = prob.cpu().numpy()
                pred_np = prob.argmax(0).cpu().numpy().astype(np.uint8 if num_classes <= 256 else np.uint16)
                acc.update(pred_np, s.mask, prob_np)
                image_spread = np.fmax(image_spread, _image_spread(s, ignore))
                if i in previews_of:
                    previews.append(self._preview(s, pred_np, prob_np))
        finally:
            if was_training:
                model.train()
        m = acc.compute()
        return EvalEvent(step=step, val_loss=float(np.mean(losses)) if losses else math.nan, iou=m.iou, dice=m.dice,
                         true_fraction=m.true_fraction, pred_fraction=m.pred_fraction,
                         max_fg_prob=acc.max_prob, previews=tuple(previews), prob_spread=acc.prob_spread,
                         image_spread=float(image_spread), untrained_spread=self.untrained_spread,
                         seconds=time.perf_counter() - started)

    def _preview(self, s: Sample, pred: np.ndarray, prob: np.ndarray) -> Preview:
        truth = np.minimum(s.mask, 255).astype(np.uint8)
        pred8 = np.minimum(pred, 255).astype(np.uint8)
        img, t, p, pr = downscale_for_preview(s.image, truth, pred8, prob, self.preview_size)
        return Preview(stem=s.stem, image=img, truth=t, pred=p, prob=pr.astype(np.float16))


def _image_spread(s: Sample, ignore: int | None) -> float:
    """The largest per-channel standard deviation of the unit image over its labelled pixels (NaN if none)."""
    img = s.image.reshape(s.mask.size, -1)
    if ignore is not None:
        img = img[s.mask.reshape(-1) != ignore]
    return float(img.std(axis=0, dtype=np.float64).max()) if len(img) else math.nan


def display_image(unit: np.ndarray) -> np.ndarray:
    """Unit float HxWxC → uint8 HxW or HxWx3 for previews."""
    img = np.clip(unit * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return img[:, :, 0] if img.shape[2] == 1 else img


def downscale_for_preview(unit: np.ndarray, truth: np.ndarray, pred: np.ndarray, prob: np.ndarray,
                          size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shrink preview arrays so the longer side is at most ``size`` (area / nearest / linear)."""
    h, w = truth.shape
    scale = min(1.0, size / max(h, w))
    if scale >= 1.0:
        return display_image(unit), truth, pred, prob
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    img = cv2.resize(unit, (nw, nh), interpolation=cv2.INTER_AREA)
    if img.ndim == 2:
        img = img[:, :, None]
    t = cv2.resize(truth, (nw, nh), interpolation=cv2.INTER_NEAREST)
    p = cv2.resize(pred, (nw, nh), interpolation=cv2.INTER_NEAREST)
    pr = np.stack([cv2.resize(c.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA) for c in prob])
    return display_image(img), t, p, pr
