"""The training loop of one process of a distributed run (see :mod:`.distributed` for the set-up).

The :class:`~.trainer.Trainer` runs :func:`run` instead of its own loop when
it has a :class:`~.distributed.Group` (``t`` below is that trainer; this
module reads and sets its state the way :mod:`.run_folder` does). Each
iteration, in every process:

1. the step budget reached → the end (every process counts the same steps);
2. the next batch is drawn from a copy of the run's generator, this process
   making its share of the crops (positions ``rank, rank + world, …`` of
   :meth:`~.crops.CropSampler.batch`); an error here is held;
3. the processes agree (:meth:`~.distributed.Group.agree`): an error, a stop
   asked for, files left out, the labelled pixels of each share, and process
   0's clock (elapsed time, a step event due, an evaluation due);
4. an error anywhere ends every process (:meth:`~.distributed.Group.check`);
5. a due step event, then a due evaluation: each process scores its share of
   the validation images and the parts merge (:func:`evaluate`);
6. a stop, or the time budget spent → the end, with the drawn batch unused
   (the generator is left as it was, so ``last.pt`` resumes exactly);
7. the step, at the learning rate of process 0's clock.

What equals a single process with the same ``--batch`` (the global batch)
and seed: the crops (together), the gradient and so the weights — when the
loss is a mean over labelled pixels (``ce``, ``weighted-ce``, ``focal``):
each process's loss is scaled by its share of the batch's labelled pixels
(class-weighted, as the loss weights them), so DDP's average of the
gradients is the gradient of the whole batch's loss — and when
normalisation does not mix the samples of a batch (``norm`` ``group`` or
``none``; batch norm too on CUDA, as SyncBatchNorm). Equal up to float
rounding: convolutions of 4 images and of 2 add in different orders (2
steps on the bundled sample: 3e-7), and training amplifies that rounding as
it amplifies any (after 30 steps weights differ by up to 1e-2, as they do
between one process and itself started from weights nudged by 1e-7), while
the loss curves stay together (``bench/ddp.py``). What does not hold: the
Dice terms (``dice``, ``dice+ce``) sum over the batch before
they divide, so the mean of two halves' Dice is not the whole batch's; and
batch norm on the CPU normalises each share by its own statistics. Those
runs learn alike without equal digits. A non-finite loss zeroes the
gradients of the step (:class:`~.step.TrainStep`'s device path) instead of
skipping it. Evaluation numbers are the single process's: counts add up.

There is no pause and no :meth:`~.trainer.Trainer.apply` here (the window
never trains distributed), and a stop lands at the next agreement, within
one step: no hook interrupts a forward pass, since the other processes would
wait for it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import run_folder
from .cadence import Cadence, budget_spent, budget_steps, lr_at
from .checkpoint import one_line
from .config import ConfigError
from .distributed import Group, PeerFailed, is_peer_lost
from .errors import DataError
from .evaluation import EvalPart
from .events import EvalEvent
from .step import LossLog, TrainStep

__all__ = ["PIXEL_MEAN_LOSSES", "check_batch", "evaluate", "labelled_weight", "run"]

#: Losses that are a (class-weighted) mean over labelled pixels: scaled by each share's pixels, the
#: processes' gradients average to the whole batch's.
PIXEL_MEAN_LOSSES = ("ce", "weighted-ce", "focal")


def check_batch(batch_size: int, group: Group) -> None:
    """:class:`~.config.ConfigError` when the batch cannot give every process a crop."""
    if batch_size < group.world:
        raise ConfigError(f"batch {batch_size} is smaller than the {group.world} processes (each trains on "
                          f"its share of the batch); use --batch {group.world} or more")


def labelled_weight(masks: np.ndarray, ignore_index: int, loss: str, class_weights: list | None) -> float:
    """What a pixel-mean loss divides by for these masks: the labelled pixels, class-weighted when the
    loss has class weights (PyTorch's weighted mean). 0 for the other losses (not scaled)."""
    if loss not in PIXEL_MEAN_LOSSES:
        return 0.0
    labelled = masks[masks != ignore_index]
    if class_weights is None:
        return float(labelled.size)
    return float(np.asarray(class_weights, dtype=np.float64)[labelled].sum())


@dataclass(frozen=True)
class _Agreed:
    error: bool
    stop: bool
    skipped: bool
    labelled: float     # over every process's share of the batch
    elapsed: float      # process 0's clock
    step_event: bool
    evaluate: bool


def _never() -> bool:
    return False


def _nothing() -> None:
    return None


def run(t: Any) -> bool:
    """Train until the budget is spent or a process asked to stop (True: stopped); see the module docstring."""
    g: Group = t.dist
    budget = budget_steps(t.config, t.steps_per_epoch)
    t._announce(budget)
    share = len(g.part(t._batch_size))
    t._info("distributed", f"training in {g.world} processes ({g.backend}): each makes and trains on its share "
                           f"of the batch of {t._batch_size} ({share} crops in process {g.rank})")
    clock = Cadence(t.config, t.step, t.clock(), t.clock)
    stepper = TrainStep(g.wrap(t.model), t.optimizer, t.config.grad_clip, check_on_host=False,
                        autocast=lambda: t.precision.autocast(t.device))
    losses = LossLog()
    stopped = False
    t.model.train()
    if t.resume_ckpt is None and t.step == 0 and g.is_main:
        t.evaluator.measure_untrained(t.model, t.val_eval, _never)  # only process 0 reports evaluations
    while budget is None or t.step < budget:
        rng, batch, held = _draw(t)
        agreed = _agree(t, clock, held, batch)
        if agreed.step_event or agreed.evaluate:
            t._flush_losses(losses, clock, budget)
        if agreed.evaluate:
            started = t.clock()
            t.dist.together(t._evaluate)  # an error in it (writing a checkpoint, say) reaches every process
            clock.evaluated(t.step, started, 0.0)
        if agreed.stop:
            stopped = True
            break
        if budget_spent(t.config, t.step, budget, agreed.elapsed):
            break
        t.rng = rng
        _step(t, stepper, losses, batch, agreed, budget)
    t._flush_losses(losses, clock, budget)
    if not stopped and t.step > clock.last_eval_step:
        t.dist.together(t._evaluate)
    if t.run_dir is not None and (t.step > 0 or t.resume_ckpt is not None):
        t.last_path = run_folder.save(t, "last.pt")
    return stopped


def _draw(t: Any) -> tuple[np.random.Generator, tuple | None, Exception | None]:
    """The generator after the next batch, this process's share of it, or the error met making it."""
    rng = copy.deepcopy(t.rng)
    try:
        return rng, t.sampler.batch(rng, t._batch_size, t.dist.part(t._batch_size)), None
    except Exception as exc:  # noqa: BLE001 - held until every process knows (see Group.check)
        return rng, None, exc


def _agree(t: Any, clock: Cadence, held: Exception | None, batch: tuple | None) -> _Agreed:
    g: Group = t.dist
    now = t.clock()
    main = g.is_main
    labelled = 0.0 if batch is None else labelled_weight(batch[1], t.ignore_index, t.loss_name, t.class_weights)
    v = g.agree([held is not None, t.control.stop_requested(), 0 if main else len(t.sampler.skipped), labelled,
                 clock.elapsed(now) if main else 0.0, main and clock.step_event_due(t.step, now),
                 main and clock.eval_due(t.step, now)])
    agreed = _Agreed(error=v[0] > 0, stop=v[1] > 0, skipped=v[2] > 0, labelled=v[3], elapsed=v[4],
                     step_event=v[5] > 0, evaluate=v[6] > 0)
    if agreed.error:
        g.check(held)  # raises in every process
    if agreed.skipped:  # files the other processes left out: process 0 reports them
        notes = g.gather([] if main else list(t.sampler.skipped))
        if main:
            t.sampler.skipped.extend(m for ms in notes for m in ms)
        else:
            t.sampler.skipped.clear()
    return agreed


def _step(t: Any, stepper: TrainStep, losses: LossLog, batch: tuple, agreed: _Agreed, budget: int | None) -> None:
    lr = lr_at(t.config, t.base_lr, t.step, budget, agreed.elapsed)
    for group in t.optimizer.param_groups:
        group["lr"] = lr
    t._report_skipped()
    images, masks = batch
    x = torch.from_numpy(images).to(t.device, non_blocking=True)
    y = torch.from_numpy(masks).to(t.device, non_blocking=True)
    # a pixel mean: this share's part of the whole batch's mean (module docstring); other losses: as they are
    scale = t.dist.world * labelled_weight(masks, t.ignore_index, t.loss_name, t.class_weights) / agreed.labelled \
        if agreed.labelled > 0 else 1.0

    def loss_fn(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = t.loss_fn(out, target)
        return loss * scale if scale != 1.0 else loss
    try:
        loss, _ = stepper(loss_fn, x, y)
        loss = t.dist.all_mean(loss)  # the whole batch's loss
    except Exception as exc:
        t.dist.broken = True  # the others may be waiting for this step's gradients: no goodbye
        if isinstance(exc, RuntimeError) and is_peer_lost(exc):
            raise PeerFailed(f"another process stopped answering during step {t.step + 1} (its own error, if "
                             f"any, is on its stderr): {one_line(exc)}") from exc
        raise
    t.step += 1
    losses.add(t.step, loss, None)


def evaluate(t: Any) -> EvalEvent:
    """Every process scores its share of the validation images; the merged event is the single process's.

    An image that became unreadable is left out in every process (process 0 reports it); with none
    left, :class:`~.errors.DataError`."""
    g: Group = t.dist
    order = list(t.val_eval)
    dropped: list[tuple[int, str]] = []
    part, error = None, None
    try:
        part = t.evaluator.score(t.model, t.loss_fn, t.val_eval[g.rank::g.world], t.preview_idx, between=_nothing,
                                 stop=_never, drop=lambda i, why: dropped.append((i, why)), keep_last=False)
    except Exception as exc:  # noqa: BLE001 - every process must hear of it
        error = exc
    g.check(error)
    results = g.gather((part, dropped))
    gone = [d for _, ds in results for d in ds]
    if gone:
        ids = {i for i, _ in gone}
        t.val_eval = [i for i in t.val_eval if i not in ids]
        if g.is_main:
            t.sampler.skipped.extend(why for _, why in gone)
    whole = EvalPart.merged([p for p, _ in results], order)
    if whole.scored == 0:
        raise DataError(f"every validation image became unreadable; the last one: {gone[-1][1] if gone else '?'}")
    return t.evaluator.event(whole, t.step)
