"""The training loop: a plain class, a config dataclass, events through a callback.

(Over 400 lines on purpose: the one public entry — control, events, prepare and the loop — reads top to bottom.)

    trainer = Trainer("path/to/dataset", TrainConfig(max_minutes=5), callback=print)
    trainer.run()                 # blocks; returns the DoneEvent or ErrorEvent it emitted
    # from any other thread:
    trainer.pause(); trainer.resume(); trainer.stop(); trainer.apply({"lr": 3e-4})

Event flow (each event also goes, one JSON line each, to ``events.jsonl`` in
the run folder)::

    InfoEvent("device") → InfoEvent("data") →
      StepEvent … (at most every 0.25 s) + WarningEvent (loss-nan, loss-diverging, loss-plateau)
      EvalEvent (every eval_every_steps steps or eval_every_s seconds, whichever first)
        + WarningEvent/info (collapse-*, class-never-predicted, collapse-recovered)
      …
    DoneEvent (budget reached, or stop()) | ErrorEvent (an exception inside run())

``run()`` never raises an ``Exception``: it becomes an :class:`ErrorEvent`
(message for the user, traceback in ``detail``). :meth:`prepare` does the
checks that can refuse a start — the label pre-flight
(:class:`~.preflight.PreflightError`), data/label errors naming the file
(:class:`~.data.DataError`), an unusable checkpoint
(:class:`~.checkpoint.CheckpointError`) — and *raises* them, so a caller that
wants to tell "refused" from "failed" (the CLI: exit 2 vs 1) calls it first.

Control is cooperative and thread-safe: :meth:`stop` and :meth:`pause` set
flags checked between steps, between validation images and (stop only) inside
the forward pass (a pre-hook on every convolution), so a stop lands within a
fraction of a step. A stopped run still writes ``last.pt``.

Checkpoints: ``last.pt`` at every evaluation and at the end, ``best.pt``
whenever the mean *foreground* IoU improves (a network that predicts only
background still scores a high background IoU). Both are self-describing
dicts (see :mod:`.checkpoint`) written atomically.

The parts: :mod:`.plan` (which pairs train / validate), :mod:`.build` (device,
network, loss, optimiser, resume), :mod:`.step` (one step; losses stay on the
device until a step event reads them), :mod:`.cadence` (budget, lr schedule,
when to emit and evaluate), :mod:`.evaluation`, :mod:`.run_folder`. Under
torchrun (``dist``: a :class:`~.distributed.Group`) the loop is
:mod:`.distributed_loop`'s, and only process 0 makes the run folder.
"""

from __future__ import annotations

import logging
import math
import os
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..core.dataset import Dataset, DatasetError, open_dataset
from ..core.project import LabelError, Project, ProjectError
from . import build, distributed_loop, events, precision, run_folder
from .cadence import Cadence, budget_spent, budget_steps, eta, lr_at
from .checkpoint import CheckpointError, one_line
from .control import RunControl
from .distributed import Group, PeerRefused
from .config import ConfigError, TrainConfig
from .errors import DataError, Stopped
from .evaluation import Evaluator
from .events import DoneEvent, ErrorEvent, EvalEvent, InfoEvent, StepEvent, WarningEvent
from .heap import frozen_heap
from .plan import checked_project, plan_data
from .preflight import PreflightError, PreflightResult
from .step import LossLog, TrainStep, add_stop_hooks, is_out_of_memory

__all__ = ["Trainer", "TrainConfig", "REFUSALS"]

log = logging.getLogger(__name__)

#: Exceptions that mean "this run cannot start" (the CLI exits 2 on them).
REFUSALS = (PreflightError, DataError, CheckpointError, ConfigError, DatasetError, ProjectError, LabelError,
            PeerRefused)
#: Consecutive steps with a non-finite loss after which the run gives up.
MAX_NAN_STEPS = 100


class Trainer:
    """Trains a small FCN on one dataset; see the module docstring for the event flow.

    Parameters: ``dataset`` (a :class:`~fcnstudio.core.dataset.Dataset` or its
    folder), ``config`` (:class:`TrainConfig`), ``callback`` (called with every
    event, in the training thread — keep it quick; the GUI worker re-emits it
    as a signal), ``project`` (default: the dataset's fcnstudio.json, else
    settings inferred by the checker), ``check_result`` (a
    :class:`~.preflight.PreflightResult` the caller already has: the
    pre-flight reuses it instead of checking again), ``clock`` (the monotonic
    seconds the budget and the cadence read; tests pass a clock of their own),
    ``dist`` (the :class:`~.distributed.Group` of a run under torchrun: this
    process trains on its share of each batch, :mod:`.distributed_loop`),
    ``split`` (``(train_stems, val_stems)``: train on exactly these pairs and
    validate on those, instead of the seeded split; pairs in neither list are
    not used — the review's folds hold their images out this way).
    """

    def __init__(self, dataset: Dataset | str | os.PathLike, config: TrainConfig | None = None,
                 callback: Callable[[Any], None] | None = None, *, project: Project | None = None,
                 check_result: PreflightResult | None = None, clock: Callable[[], float] = time.monotonic,
                 dist: Group | None = None, split: tuple[Sequence[str], Sequence[str]] | None = None) -> None:
        self.config = config if config is not None else TrainConfig()
        self.clock = clock
        self.config.validate()
        self._dataset_arg = dataset
        self.callback = callback
        self.project = project
        self.check_result = check_result
        self.dist = dist
        self.split = (tuple(split[0]), tuple(split[1])) if split is not None else None
        self.control = RunControl()
        self._eval_held_s = 0.0  # time an evaluation spent paused (taken off the budget)
        self.state = "idle"
        self.prepared = False
        self.run_dir = None
        self.step = 0
        #: the batch size in use: the config's, halved once after an out-of-memory error
        self._batch_size = self.config.batch_size
        self._oom_halved = False
        self.best_score = -math.inf
        self.best_path = None
        self.last_path = None
        self.last_eval: EvalEvent | None = None
        self._events_file = None
        self._hooks: list = []

    # ================================================================ control (any thread)

    def stop(self) -> None:
        """Ask the run to end; it writes last.pt and emits DoneEvent(stopped=True)."""
        self.control.stop()

    def pause(self) -> None:
        """Hold the loop between steps and between validation images (time spent paused does not count
        against max_minutes)."""
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    @property
    def stop_requested(self) -> bool:
        return self.control.stop_requested()

    @property
    def paused(self) -> bool:
        return self.control.paused()

    def apply(self, action: dict) -> None:
        """Apply a suggestion's action between steps: ``{"lr": x}``, ``{"loss": name}``,
        ``{"class_weights": "auto" | [..] | None}`` (``open_checker`` is the GUI's business)."""
        self.control.queue(action)

    # ================================================================ events

    def _emit(self, event) -> None:
        if self._events_file is not None:
            self._events_file.write(event)
        if self.callback is not None:
            try:
                self.callback(event)
            except Exception:  # a broken listener must not kill the run
                log.exception("training event callback failed")

    def _info(self, code: str, message: str) -> None:
        self._emit(InfoEvent(step=self.step, code=code, message=message))

    def _throttled(self, code: str, what: str, every_s: float = 1.0) -> Callable[[int, int], None]:
        """A progress(done, total) that emits an InfoEvent at most every ``every_s`` seconds."""
        last = [self.clock()]

        def progress(done: int, total: int) -> None:
            now = self.clock()
            if now - last[0] >= every_s:
                last[0] = now
                self._info(code, f"{what}: {done} of {total}")
        return progress

    # ================================================================ preparation

    def prepare(self, make_run_dir: bool = True) -> None:
        """Check, load and build everything; raises one of :data:`REFUSALS` when the run cannot start.

        Safe to call once; :meth:`run` calls it when the caller did not.
        """
        if self.prepared:
            return
        self.state = "preparing"
        self._together(self._prepare)
        if make_run_dir:
            self._together(self._make_run_dir)
        self.prepared = True
        self.state = "ready"

    def _together(self, step: Callable[[], None]) -> None:
        """``step()``; in a distributed run every process then learns whether any failed, and raises that."""
        if self.dist is None:
            step()
        else:
            self.dist.together(step, REFUSALS)

    def _make_run_dir(self) -> None:
        if self.dist is None or self.dist.is_main:  # one run folder, process 0's
            self.run_dir = run_folder.make_run_dir(self.config, self.dataset.root)
            run_folder.write_run_info(self)
            self._events_file = run_folder.EventsFile(self.run_dir / "events.jsonl")

    def _prepare(self) -> None:
        """The dataset, the checked project, the data plan, the network (everything but the run folder)."""
        cfg = self.config
        if self.dist is not None:
            distributed_loop.check_batch(cfg.batch_size, self.dist)
        ds = self._dataset_arg
        self.dataset = ds if isinstance(ds, Dataset) else open_dataset(ds)
        project, self.check_result = checked_project(
            self.dataset, self.project, self.check_result, cfg, stop=self.control.stop_requested,
            progress=self._throttled("check", "checking labels"))
        self.project = project
        self.resume_ckpt = build.read_resume(cfg, project)  # it decides channels, classes and the split
        plan = plan_data(self.dataset, project, cfg, self.resume_ckpt, stop=self.control.stop_requested,
                         progress=self._throttled("scan", "reading masks"), split=self.split)
        self.store, self.sampler, self.steps_per_epoch = plan.store, plan.sampler, plan.steps_per_epoch
        self.train_idx, self.val_idx = plan.train_idx, plan.val_idx
        self.val_eval, self.preview_idx = plan.val_eval, plan.preview_idx
        self.input_scale = plan.scale
        self.orientation = plan.orientation
        self.ignore_index = self.store.ignore_index
        self.num_classes = project.num_classes
        self._build()
        self.data_notes = plan.notes

    def _build(self) -> None:
        """Device, seed, network, loss, optimiser, monitor; the resumed state on top."""
        cfg = self.config
        self.device = self.dist.device if self.dist is not None else build.device_for(cfg)
        self.seed_used, self.rng = build.seeded(cfg.seed)
        self.model = build.build_network(cfg, self.resume_ckpt, self.store.in_channels, self.num_classes,
                                         self.device)
        self.precision = precision.choose(cfg.precision, cfg.channels_last, self.model, self.store.in_channels,
                                          self.device)
        self.class_weights = build.resolve_weights(cfg.class_weights, cfg.loss, self.num_classes, self._auto_weights)
        self.loss_name = cfg.loss
        self.loss_fn = build.build_loss(self.loss_name, self.num_classes, self.ignore_index, self.class_weights,
                                        self.device)
        self.base_lr = cfg.lr
        self.optimizer = build.build_optimizer(self.model, cfg)
        self.evaluator = Evaluator(self.store, self.device, cfg.crop_size, cfg.preview_size, self.precision)
        self.monitor = build.make_monitor(self.project, self.check_result, self.loss_name, cfg.lr,
                                          self.class_weights, fresh_network=self.resume_ckpt is None)
        self.step = 0
        if self.resume_ckpt is not None:
            self.step, self.best_score, self.rng = build.load_resume(self.resume_ckpt, self.model, self.optimizer,
                                                                     cfg, self.rng)

    def _auto_weights(self) -> list:
        return build.auto_weights(self.check_result, self.store, self.train_idx, self.num_classes)

    # ================================================================ checkpoints

    def checkpoint_dict(self, include_optimizer: bool = True) -> dict:
        return run_folder.checkpoint_dict(self, include_optimizer)

    # ================================================================ the run

    def run(self):
        """Train until the budget is spent or :meth:`stop`; returns the final Done/ErrorEvent."""
        if self.state in ("running", "paused", "done", "stopped", "error"):
            err = ErrorEvent(message="this Trainer has already run; create a new one (resume from its last.pt "
                                     "to continue training)")
            self._emit(err)
            return err
        prev_threads = torch.get_num_threads()
        try:
            torch.set_num_threads(self.config.num_threads or build.default_threads())
            try:
                if not self.prepared:
                    self.prepare()
            except Stopped:
                self.state = "stopped"
                done = DoneEvent(None, math.nan, None, self.step, True)
                self._emit(done)
                return done
            self.state = "running"
            with frozen_heap():  # no collector pauses of the whole process while the loop runs
                if self.dist is None:
                    self._hooks = add_stop_hooks(self.model, self.control.stop_requested)
                    stopped = self._loop()
                else:  # no stop hooks: a stop lands where every process agrees, between steps
                    stopped = distributed_loop.run(self)
            done = DoneEvent(
                best_checkpoint=str(self.best_path) if self.best_path else None,
                best_mean_iou=self.best_score if self.best_score >= 0 else math.nan,
                last_checkpoint=str(self.last_path) if self.last_path else None,
                steps=self.step, stopped=stopped)
            self.state = "stopped" if stopped else "done"
            self._emit(done)
            return done
        except Exception as exc:  # noqa: BLE001 - the contract: errors become events
            self.state = "error"
            if self.dist is not None:
                self.dist.note_failure()
            msg = str(exc) if isinstance(exc, REFUSALS) else f"training failed: {type(exc).__name__}: {exc}"
            err = ErrorEvent(message=msg, detail=traceback.format_exc())
            self._emit(err)
            return err
        finally:
            self._end_run(prev_threads)

    def _end_run(self, prev_threads: int) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []
        torch.set_num_threads(prev_threads)
        if self._events_file is not None:
            self._events_file.close()
            self._events_file = None

    # pending actions -----------------------------------------------------

    def _apply_pending(self) -> None:
        pending = self.control.take()
        if not pending:
            return
        if "lr" in pending:
            self.base_lr = float(pending["lr"])
            self.monitor.set_lr(self.base_lr)
            self._info("lr", f"learning rate set to {self.base_lr:.3g}")
        if "loss" in pending or "class_weights" in pending:
            name = pending.get("loss", self.loss_name)
            spec = pending.get("class_weights", "keep")
            weights = self.class_weights if spec == "keep" else \
                build.resolve_weights(spec, name, self.num_classes, self._auto_weights)
            if spec == "keep" and name == "weighted-ce" and weights is None:
                weights = self._auto_weights()
            self.loss_name, self.class_weights = name, (None if name == "dice" else weights)
            self.loss_fn = build.build_loss(name, self.num_classes, self.ignore_index, self.class_weights,
                                            self.device)
            self.monitor.set_loss(name, uses_class_weights=self.class_weights is not None)
            w = "" if self.class_weights is None else " with class weights " + \
                ", ".join(f"{x:.2g}" for x in self.class_weights)
            self._info("loss", f"loss set to {name}{w}")

    # the loop --------------------------------------------------------------

    def _wait_while_paused(self) -> float:
        """Block while paused; returns the seconds spent paused."""
        return self.control.wait_while_paused(self._on_pause, self._on_resume)

    def _on_pause(self) -> None:
        self.state = "paused"
        self._info("paused", f"paused at step {self.step}")

    def _on_resume(self) -> None:
        self.state = "running"
        if not self.control.stop_requested():
            self._info("resumed", f"resumed at step {self.step}")

    def _announce(self, budget: int | None) -> None:
        cfg = self.config
        self._info("device", f"training on {self.device} with {torch.get_num_threads()} threads")
        self._info("setup", build.describe_setup(self))
        note = "; ".join(self.data_notes)
        self._info("data", f"{len(self.train_idx)} training / {len(self.val_idx)} validation images, "
                           f"{self.num_classes} classes, crops {cfg.crop_size} px, batch {cfg.batch_size}, "
                           f"loss {self.loss_name}"
                           + (f", class weights {', '.join(f'{w:.2g}' for w in self.class_weights)}"
                              if self.class_weights else "") + (f"; {note}" if note else ""))
        if self.resume_ckpt is not None:
            self._info("resumed", f"resumed from {Path(cfg.resume).name} at step {self.step}")
        if budget is not None and self.step >= budget:
            self._info("budget", f"the step budget ({budget}) is already reached; raise max_steps/epochs to continue")

    def _loop(self) -> bool:
        """The training loop; returns True when it ended by stop()."""
        budget = budget_steps(self.config, self.steps_per_epoch)
        self._announce(budget)
        clock = Cadence(self.config, self.step, self.clock(), self.clock)
        stepper = TrainStep(self.model, self.optimizer, self.config.grad_clip,
                            check_on_host=self.device.type == "cpu",
                            autocast=lambda: self.precision.autocast(self.device))
        losses = LossLog()
        stopped = False
        self.model.train()
        try:
            if self.resume_ckpt is None and self.step == 0:
                self._measure_untrained()
            while True:
                if self.control.stop_requested():
                    stopped = True
                    break
                clock.hold(self._wait_while_paused())
                if self.control.stop_requested():
                    stopped = True
                    break
                self._apply_pending()
                if budget_spent(self.config, self.step, budget, clock.elapsed()):
                    break
                if self._train_step(stepper, losses, budget, clock):
                    self._keep_cadence(losses, budget, clock)
        except Stopped:
            stopped = True
        self._flush_losses(losses, clock, budget)
        if not stopped and self.step > clock.last_eval_step:
            try:
                self._evaluate()
            except Stopped:
                stopped = True
        if self.run_dir is not None and (self.step > 0 or self.resume_ckpt is not None):
            self.last_path = run_folder.save(self, "last.pt")
        return stopped

    def _measure_untrained(self) -> None:
        """The untrained network's output spread, for the dead-network rule; out of memory: no such evidence."""
        try:
            self.evaluator.measure_untrained(self.model, self.val_eval, self.control.stop_requested)
        except RuntimeError as exc:
            if not is_out_of_memory(exc):
                raise
            # the first steps run out of memory too and report it (the batch is halved)

    def _train_step(self, stepper: TrainStep, losses: LossLog, budget: int | None, clock: Cadence) -> bool:
        """One step at the scheduled lr; False when it ran out of memory (the batch was halved)."""
        lr = lr_at(self.config, self.base_lr, self.step, budget, clock.elapsed())
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        images, masks = self.sampler.batch(self.rng, self._batch_size)
        self._report_skipped()
        try:
            x = torch.from_numpy(images).to(self.device, non_blocking=True)
            y = torch.from_numpy(masks).to(self.device, non_blocking=True)
            loss, finite = stepper(self.loss_fn, x, y)
        except RuntimeError as exc:
            if not is_out_of_memory(exc):
                raise
            x = y = None
            self._out_of_memory(exc)
            return False
        self.step += 1
        losses.add(self.step, loss, finite)
        if losses.nan_run >= MAX_NAN_STEPS:
            self._flush_losses(losses, clock, budget)  # raises
        return True

    def _keep_cadence(self, losses: LossLog, budget: int | None, clock: Cadence) -> None:
        """A step event when one is due (or the budget is spent); an evaluation when one is due."""
        now = self.clock()
        if clock.step_event_due(self.step, now) or budget_spent(self.config, self.step, budget, clock.elapsed(now)):
            self._flush_losses(losses, clock, budget)
        if clock.eval_due(self.step, self.clock()):
            self._flush_losses(losses, clock, budget)  # the losses before the evaluation first
            started = self.clock()
            self._eval_held_s = 0.0
            self._evaluate()
            clock.evaluated(self.step, started, self._eval_held_s)

    def _flush_losses(self, losses: LossLog, clock: Cadence, budget: int | None) -> None:
        """Read the pending losses (the one host sync), feed the monitor, emit a StepEvent and its warnings."""
        if not losses.pending:
            return
        read = losses.read()
        now = self.clock()
        warnings: list[WarningEvent] = []
        for s, v in read:
            warnings += self.monitor.on_step(s, v)
        finite = [v for _, v in read if math.isfinite(v)]
        dt = max(now - clock.last_emit_t, 1e-9)
        n = self.step - clock.last_emit_step
        elapsed = clock.elapsed(now)
        self._emit(StepEvent(step=self.step, epoch=self.step // self.steps_per_epoch,
                             loss=sum(finite) / len(finite) if finite else math.nan,
                             lr=self.optimizer.param_groups[0]["lr"], images_per_s=n * self._batch_size / dt,
                             elapsed_s=elapsed, eta_s=eta(self.config, self.step, budget, elapsed, dt / max(n, 1))))
        for w in warnings:
            self._emit(w)
        clock.emitted(self.step, now)
        if losses.nan_run >= MAX_NAN_STEPS:
            raise RuntimeError(f"the loss has not been a number for {MAX_NAN_STEPS} steps in a row; "
                               "lower the learning rate and run the label checker (nan-image)")

    def _report_skipped(self) -> None:
        """A warning event for each image left out because it became unreadable during the run."""
        while self.sampler.skipped:
            self._emit(events.file_skipped(self.step, self.sampler.skipped.pop(0)))

    def _out_of_memory(self, exc: RuntimeError) -> None:
        """Halve the batch once and say so; a second out-of-memory error ends the run with an error event."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        if self._oom_halved or self._batch_size <= 1:
            raise RuntimeError(f"out of memory even with batch {self._batch_size}; lower the crop size or the "
                               f"network width ({one_line(exc)})") from exc
        self._oom_halved = True
        old, self._batch_size = self._batch_size, max(1, self._batch_size // 2)
        self._emit(events.out_of_memory(self.step, old, self._batch_size, one_line(exc)))

    # evaluation ------------------------------------------------------------

    def evaluate(self) -> EvalEvent | None:
        """Score the validation images now (no eval event, no checkpoint); None if stopped meanwhile.

        A pause holds it between validation images (emitting the paused/resumed notes). In a distributed
        run every process scores its share, together (:func:`.distributed_loop.evaluate`)."""
        if self.dist is not None:
            return distributed_loop.evaluate(self)
        return self.evaluator(self.model, self.loss_fn, self.val_eval, self.preview_idx, self.step,
                              between=self._between_val_images, stop=self.control.stop_requested, drop=self._drop_val_image)

    def _between_val_images(self) -> None:
        self._eval_held_s += self._wait_while_paused()  # an evaluation of big images can take a while
        if self.control.stop_requested():
            raise Stopped()

    def _drop_val_image(self, i: int, reason: str) -> None:
        self.val_eval = [j for j in self.val_eval if j != i]
        self.sampler.skipped.append(reason)

    def _evaluate(self) -> None:
        ev = self.evaluate()
        self.last_eval = ev
        self._emit(ev)
        for w in self.monitor.on_eval(ev):
            self._emit(w)
        if self.run_dir is None:
            return
        score = ev.mean_fg_iou
        score = score if math.isfinite(score) else -1.0
        if self.best_path is None or score > self.best_score:
            self.best_score = score
            self.best_path = run_folder.save(self, "best.pt")
        self.last_path = run_folder.save(self, "last.pt")
