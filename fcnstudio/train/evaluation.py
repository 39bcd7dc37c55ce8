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

Calling it is :meth:`Evaluator.score` (an :class:`EvalPart`: the sums) then
:meth:`Evaluator.event`; a distributed run scores a share of the images in
each process and merges the parts before making the event
(:mod:`.distributed_loop`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np
import torch

from ..core.project import index_dtype
from .data import PairStore, Sample
from .errors import Stopped, UnreadableError
from .events import EvalEvent, Preview
from .metrics import MetricAccumulator
from .precision import Precision
from .predict import predict_probs
from .preprocess import unit_to_model_input

__all__ = ["EVAL_TILE", "EvalPart", "Evaluator", "downscale_for_preview"]

#: Validation images up to this many pixels a side (or the crop size, when larger) go through the network whole.
EVAL_TILE = 512
#: The untrained network's output spread is measured on this many validation images (cheap: once per run).
UNTRAINED_IMAGES = 2


@dataclass
class EvalPart:
    """What scoring some validation images gave, before it becomes an :class:`~.events.EvalEvent`.

    The parts of several processes, each scoring its share of the images, merge (:meth:`merged`) into
    the part one process scoring every image gets: counts add, extremes combine, and the per-image
    losses and previews are put back in the images' order.
    """

    acc: MetricAccumulator
    losses: list = field(default_factory=list)    # (image, loss) of each image with a labelled pixel
    previews: list = field(default_factory=list)  # (image, Preview)
    image_spread: float = math.nan
    scored: int = 0
    seconds: float = 0.0   # how long the scoring took (merged: the slowest part's)

    @classmethod
    def merged(cls, parts: Sequence["EvalPart"], order: Sequence[int]) -> "EvalPart":
        """One part from ``parts``; ``order``: the images in the order one process scores them."""
        rank = {i: n for n, i in enumerate(order)}
        out = cls(MetricAccumulator(parts[0].acc.num_classes, parts[0].acc.ignore_index))
        for p in parts:
            out.acc.merge(p.acc)
            out.losses += p.losses
            out.previews += p.previews
            out.image_spread = float(np.fmax(out.image_spread, p.image_spread))
            out.scored += p.scored
            out.seconds = max(out.seconds, p.seconds)
        out.losses.sort(key=lambda t: rank.get(t[0], len(rank)))
        out.previews.sort(key=lambda t: rank.get(t[0], len(rank)))
        return out


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

    def __call__(self, model: torch.nn.Module, loss_fn: Callable, indices: Sequence[int], previews_of: Sequence[int],
                 step: int, *, between: Callable[[], None], stop: Callable[[], bool],
                 drop: Callable[[int, str], None]) -> EvalEvent:
        part = self.score(model, loss_fn, indices, previews_of, between=between, stop=stop, drop=drop)
        return self.event(part, step)

    @torch.no_grad()
    def score(self, model: torch.nn.Module, loss_fn: Callable, indices: Sequence[int], previews_of: Sequence[int],
              *, between: Callable[[], None], stop: Callable[[], bool], drop: Callable[[int, str], None],
              keep_last: bool = True) -> "EvalPart":
        """Score ``indices``; :meth:`event` makes the EvalEvent. ``keep_last``: an unreadable last image raises
        instead of being dropped (a process scoring only a share of the images drops it: others may be left)."""
        was_training = model.training
        started = time.perf_counter()
        model.eval()
        part = EvalPart(MetricAccumulator(self.store.num_classes, self.store.ignore_index))
        left = len(indices)
        try:
            for i in list(indices):
                between()
                try:
                    s = self.store.load(i)
                except UnreadableError as exc:
                    if left == 1 and keep_last:
                        raise
                    left -= 1
                    drop(i, str(exc))
                    continue
                self._score_one(model, loss_fn, i, s, i in previews_of, stop, part)
        finally:
            if was_training:
                model.train()
        part.seconds = time.perf_counter() - started
        return part

    def _score_one(self, model: torch.nn.Module, loss_fn: Callable, i: int, s: Sample, preview: bool,
                   stop: Callable[[], bool], part: "EvalPart") -> None:
        num_classes, ignore = self.store.num_classes, self.store.ignore_index
        x = torch.from_numpy(unit_to_model_input(s.image, s.mean, s.std)).to(self.device)
        with self.precision.autocast(self.device):
            prob = predict_probs(model, x, self.tile, stop=stop)
        if prob is None:
            raise Stopped()
        y = torch.from_numpy(s.mask.astype(np.int64)).to(self.device)
        if (y != ignore).any():
            part.losses.append((i, float(loss_fn(torch.log(prob.clamp_min(1e-8))[None], y[None]))))
        prob_np = prob.cpu().numpy()
        pred_np = prob.argmax(0).cpu().numpy().astype(index_dtype(num_classes - 1))
        part.acc.update(pred_np, s.mask, prob_np)
        part.image_spread = float(np.fmax(part.image_spread, _image_spread(s, ignore)))
        part.scored += 1
        if preview:
            part.previews.append((i, self._preview(s, pred_np, prob_np)))

    def event(self, part: "EvalPart", step: int) -> EvalEvent:
        """The EvalEvent of scored images (losses and previews in the order they were scored)."""
        m = part.acc.compute()
        losses = [v for _, v in part.losses]
        return EvalEvent(step=step, val_loss=float(np.mean(losses)) if losses else math.nan, iou=m.iou, dice=m.dice,
                         true_fraction=m.true_fraction, pred_fraction=m.pred_fraction,
                         max_fg_prob=part.acc.max_prob, previews=tuple(p for _, p in part.previews),
                         prob_spread=part.acc.prob_spread, image_spread=part.image_spread,
                         untrained_spread=self.untrained_spread, seconds=part.seconds)

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
