"""Sanity tools: is it the model/loss/labels, or the data? And which learning rate?

- :func:`overfit_one_batch`: train on one fixed batch (one crop centred on each
  foreground class, the rest random; no augmentation) for up to 200 steps. A
  network, loss and labels that work drive the loss down (by more than half)
  and predict every class of the batch. If they do not, more data will not help: the
  problem is the model, the loss or the labels.
- :func:`lr_range_test`: an exponential sweep of the learning rate from 1e-6
  to 1 over ~100 steps (a fresh batch each step), recording the loss; stops
  early when the smoothed loss explodes. Suggests the rate where the smoothed
  loss falls fastest, divided by 3 (kept between 1/30 and 1/3 of the rate at
  the lowest loss).

Both build their own model from the same settings as a run (a
:class:`~.trainer.Trainer` is prepared without a run folder), write nothing,
take ``stop`` (a callable or ``threading.Event``, polled every step) and
``progress(step, total, loss)``, and return a frozen result with a verdict in
plain words. The GUI runs them in its worker thread like a training run.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch

from .config import TrainConfig
from .build import default_threads
from .trainer import Trainer

__all__ = ["LRRangeResult", "OverfitResult", "lr_range_test", "overfit_one_batch"]

Progress = Callable[[int, int, float], None]


def _stopper(stop) -> Callable[[], bool]:
    if stop is None:
        return lambda: False
    if isinstance(stop, threading.Event):
        return stop.is_set
    return stop


def _prepared(dataset, config: TrainConfig | None, project, check_result) -> Trainer:
    cfg = replace(config or TrainConfig(), augment=False, resume=None, out_dir=None)
    t = Trainer(dataset, cfg, project=project, check_result=check_result)
    t.prepare(make_run_dir=False)
    return t


class _Threads:
    def __init__(self, n: int | None) -> None:
        self.n = n or default_threads()

    def __enter__(self):
        self.prev = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.prev)


# ---------------------------------------------------------------- overfit one batch


@dataclass(frozen=True)
class OverfitResult:
    """What training on a single batch showed. ``ok``: loss near zero and every class predicted."""

    steps: int
    losses: np.ndarray
    initial_loss: float
    final_loss: float
    class_names: tuple
    classes_in_batch: tuple
    classes_predicted: tuple
    iou: tuple
    loss_ok: bool
    all_predicted: bool
    stopped: bool
    verdict: str

    @property
    def ok(self) -> bool:
        return self.loss_ok and self.all_predicted


def _fixed_batch(t: Trainer, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    imgs, masks = [], []
    for k in t.sampler.foreground_classes[:n]:
        img, m, _ = t.sampler.sample(rng, fg_class=k)
        imgs.append(img)
        masks.append(m)
    while len(imgs) < n:
        img, m, _ = t.sampler.sample(rng)
        imgs.append(img)
        masks.append(m)
    return np.stack(imgs), np.stack(masks).astype(np.int64)


def _memorised(pred: np.ndarray, masks: np.ndarray, t: Trainer, iou: float) -> bool:
    from .metrics import MetricAccumulator

    acc = MetricAccumulator(t.num_classes, t.ignore_index)
    acc.update(pred, masks)
    m = acc.compute()
    return all(m.iou[c] >= iou for c in range(t.num_classes) if m.true_fraction[c] > 0)


def overfit_one_batch(dataset, config: TrainConfig | None = None, *, project=None, check_result=None,
                      steps: int = 200, loss_ratio: float = 0.5, min_iou: float = 0.5,
                      progress: Progress | None = None, stop=None) -> OverfitResult:
    """Train a fresh network on one batch; see the module docstring.

    ``loss_ok`` when the final loss is at most ``loss_ratio`` x the first (soft
    Dice stays well above zero until the probabilities saturate, so "near zero"
    is judged relative to the start); a class counts as predicted when its IoU
    on the batch reaches ``min_iou``. Stops early once every class of the batch
    is reproduced with an IoU of 0.95.
    """
    t = _prepared(dataset, config, project, check_result)
    with _Threads(t.config.num_threads):
        losses, was_stopped, pred, masks = _train_on_one_batch(t, steps, progress, _stopper(stop))
    from .metrics import MetricAccumulator

    acc = MetricAccumulator(t.num_classes, t.ignore_index)
    acc.update(pred, masks)
    m = acc.compute()
    present = tuple(c for c in range(t.num_classes) if m.true_fraction[c] > 0)
    predicted = tuple(c for c in present if m.iou[c] >= min_iou)
    names = tuple(t.project.class_names)
    first = losses[0] if losses else math.nan
    last = float(np.mean(losses[-5:])) if losses else math.nan
    loss_ok = bool(losses) and math.isfinite(last) and last <= loss_ratio * first
    all_pred = set(predicted) == set(present)
    missing = [names[c] for c in present if c not in predicted]
    what = f"the loss went from {first:.3g} to {last:.3g} in {len(losses)} steps"
    verdict = _overfit_verdict(was_stopped, loss_ok, all_pred, len(losses), what, [names[c] for c in present],
                               missing)
    return OverfitResult(steps=len(losses), losses=np.asarray(losses, dtype=np.float64), initial_loss=first,
                         final_loss=last, class_names=names, classes_in_batch=present,
                         classes_predicted=predicted, iou=tuple(m.iou), loss_ok=loss_ok,
                         all_predicted=all_pred, stopped=was_stopped, verdict=verdict)


def _train_on_one_batch(t: Trainer, steps: int, progress: Progress | None, stopped: Callable[[], bool]
                        ) -> tuple[list[float], bool, np.ndarray, np.ndarray]:
    """(losses, stopped, final prediction, masks) of up to ``steps`` steps on one fixed batch."""
    cfg = t.config
    rng = np.random.default_rng(t.seed_used)
    images, masks = _fixed_batch(t, rng, max(cfg.batch_size, 2))
    x = torch.from_numpy(images).to(t.device)
    y = torch.from_numpy(masks).to(t.device)
    opt = torch.optim.AdamW(t.model.parameters(), lr=cfg.lr, weight_decay=0.0)
    losses: list[float] = []
    t.model.train()
    was_stopped = False
    for i in range(steps):
        if stopped():
            was_stopped = True
            break
        for g in opt.param_groups:
            g["lr"] = cfg.lr * min(1.0, (i + 1) / 10)
        logits = t.model(x)
        loss = t.loss_fn(logits, y)
        v = float(loss.detach())
        losses.append(v)
        if progress is not None:
            progress(i + 1, steps, v)
        if not math.isfinite(v):
            break
        if i % 10 == 9 and _memorised(logits.detach().argmax(1).cpu().numpy(), masks, t, 0.95):
            break  # every class of the batch reproduced almost exactly: nothing more to learn
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = t.model(x).argmax(1).cpu().numpy()
    return losses, was_stopped, pred, masks


def _overfit_verdict(was_stopped: bool, loss_ok: bool, all_pred: bool, n_steps: int, what: str,
                     present: list[str], missing: list[str]) -> str:
    if was_stopped:
        return f"Stopped after {n_steps} steps ({what}); run it to the end for a verdict."
    if loss_ok and all_pred:
        return (f"The network can learn these labels: on one batch {what} and every class in it "
                f"({', '.join(present)}) is predicted. If full training still predicts "
                "only background, look at the class balance, the loss and the learning rate over the "
                "whole dataset — the model, the loss and the labels themselves are fine.")
    if loss_ok:
        return (f"On one batch {what}, but {', '.join(missing)} is still not predicted. Even memorising "
                "a single batch fails for that class, so the problem is the model, the loss or the labels "
                "(a loss for imbalance such as dice+ce, class weights, or that class's masks), not the "
                "amount of data.")
    return (f"The loss did not fall near zero on a single batch ({what}"
            + (f"; not predicted: {', '.join(missing)}" if missing else "")
            + "). The problem is the model, the loss or the labels — or the learning rate (run the "
            "LR range test) — not the amount of data.")


# ---------------------------------------------------------------- LR range test


@dataclass(frozen=True)
class LRRangeResult:
    """Loss against learning rate. ``suggested_lr`` is None when the loss never fell."""

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggested_lr: float | None
    steepest_lr: float | None
    min_loss_lr: float | None
    exploded_at: float | None
    stopped: bool
    verdict: str


def lr_range_test(dataset, config: TrainConfig | None = None, *, project=None, check_result=None,
                  start_lr: float = 1e-6, end_lr: float = 1.0, steps: int = 100, beta: float = 0.9,
                  explode: float = 4.0, progress: Progress | None = None, stop=None) -> LRRangeResult:
    """Sweep the learning rate exponentially from ``start_lr`` to ``end_lr``; see the module docstring."""
    if not (0 < start_lr < end_lr) or steps < 5:
        raise ValueError("need 0 < start_lr < end_lr and at least 5 steps")
    t = _prepared(dataset, config, project, check_result)
    cfg = t.config
    with _Threads(cfg.num_threads):
        lrs, losses, smooth, exploded_at, was_stopped = _sweep(t, start_lr, end_lr, steps, beta, explode, progress,
                                                               _stopper(stop))
    lrs_a, sm = np.asarray(lrs), np.asarray(smooth)
    suggested = steepest = min_lr = None
    if len(sm) >= 5:
        j_min = int(np.argmin(sm))
        skip = max(1, len(sm) // 10)
        if j_min > skip and sm[j_min] < 0.98 * sm[:skip].mean():
            min_lr = float(lrs_a[j_min])
            grad = np.gradient(sm[: j_min + 1], np.log(lrs_a[: j_min + 1]))
            j = skip + int(np.argmin(grad[skip:])) if j_min + 1 > skip else j_min
            steepest = float(lrs_a[j])
            suggested = float(f"{min(max(steepest / 3, min_lr / 30), min_lr / 3):.2g}")
    if was_stopped:
        verdict = f"Stopped after {len(lrs)} of {steps} steps."
    elif suggested is None:
        verdict = (f"The loss did not fall anywhere between {start_lr:.0e} and {lrs[-1] if lrs else end_lr:.2g}: "
                   "the learning rate is not the problem — try Overfit one batch to test the model, loss "
                   "and labels.")
    else:
        boom = f"; it blew up from {exploded_at:.2g}" if exploded_at else ""
        verdict = (f"The loss fell fastest at {steepest:.2g} and was lowest at {min_lr:.2g}{boom}. "
                   f"Suggested learning rate: {suggested:.2g} (now {cfg.lr:.2g}).")
    return LRRangeResult(lrs=lrs_a, losses=np.asarray(losses), smoothed=sm, suggested_lr=suggested,
                         steepest_lr=steepest, min_loss_lr=min_lr, exploded_at=exploded_at,
                         stopped=was_stopped, verdict=verdict)


def _sweep(t: Trainer, start_lr: float, end_lr: float, steps: int, beta: float, explode: float,
           progress: Progress | None, stopped: Callable[[], bool]) -> tuple[list, list, list, float | None, bool]:
    """(lrs, losses, smoothed losses, lr it blew up at, stopped) of the exponential sweep."""
    cfg = t.config
    lrs, losses, smooth = [], [], []
    ema, best = 0.0, math.inf
    rng = np.random.default_rng(t.seed_used)
    opt = torch.optim.AdamW(t.model.parameters(), lr=start_lr, weight_decay=cfg.weight_decay)
    t.model.train()
    for i in range(steps):
        if stopped():
            return lrs, losses, smooth, None, True
        lr = start_lr * (end_lr / start_lr) ** (i / (steps - 1))
        for g in opt.param_groups:
            g["lr"] = lr
        images, masks = t.sampler.batch(rng, cfg.batch_size)
        loss = t.loss_fn(t.model(torch.from_numpy(images).to(t.device)), torch.from_numpy(masks).to(t.device))
        v = float(loss.detach())
        if progress is not None:
            progress(i + 1, steps, v)
        if not math.isfinite(v):
            return lrs, losses, smooth, lr, False
        ema = beta * ema + (1 - beta) * v
        s = ema / (1 - beta ** (i + 1))
        lrs.append(lr)
        losses.append(v)
        smooth.append(s)
        best = min(best, s)
        if i > 5 and s > explode * best:
            return lrs, losses, smooth, lr, False
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return lrs, losses, smooth, None, False
