"""The training loop: a plain class, a config dataclass, events through a callback.

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
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .. import __version__
from ..core.dataset import Dataset, DatasetError, open_dataset
from ..core.io import atomic_write_text
from ..core.labels import load_project
from ..core.project import LabelError, Project, ProjectError
from .augment import AugmentConfig
from .checkpoint import (CheckpointError, check_model, load_checkpoint, one_line, rng_from_plain, rng_to_plain,
                         save_checkpoint)
from .config import MAX_LR, ConfigError, TrainConfig
from .data import (NORMALISATION, CropSampler, DataError, PairStore, UnreadableError, channel_mode,
                   downscale_for_preview, split_by_image, zscore)
from .events import (DoneEvent, ErrorEvent, EvalEvent, InfoEvent, Preview, StepEvent,
                     WarningEvent, to_json_line)
from .losses import make_loss, median_frequency_weights
from .metrics import MetricAccumulator
from .monitor import Monitor
from .predict import predict_probs, resolve_device
from .preflight import PreflightError, PreflightResult, preflight

__all__ = ["Trainer", "TrainConfig", "REFUSALS", "run_folder_name"]

log = logging.getLogger(__name__)

#: Exceptions that mean "this run cannot start" (the CLI exits 2 on them).
REFUSALS = (PreflightError, DataError, CheckpointError, ConfigError, DatasetError, ProjectError, LabelError)
#: Consecutive steps with a non-finite loss after which the run gives up.
MAX_NAN_STEPS = 100
EVAL_TILE = 512
#: Evaluations wait at least this many times the last one's duration (so they take <= ~20 % of the run).
EVAL_SHARE = 4.0


class _Stopped(Exception):
    """Raised inside the loop (even mid-forward) when stop() was asked for."""


def run_folder_name(now: datetime | None = None) -> str:
    return (now or datetime.now()).strftime("%Y%m%d-%H%M%S")


def _default_threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "cannot allocate memory" in text


class Trainer:
    """Trains a small FCN on one dataset; see the module docstring for the event flow.

    Parameters: ``dataset`` (a :class:`~fcnstudio.core.dataset.Dataset` or its
    folder), ``config`` (:class:`TrainConfig`), ``callback`` (called with every
    event, in the training thread — keep it quick; the GUI worker re-emits it
    as a signal), ``project`` (default: the dataset's fcnstudio.json, else
    settings inferred by the checker), ``check_result`` (a
    :class:`~.preflight.PreflightResult` the caller already has: the
    pre-flight reuses it instead of checking again).
    """

    def __init__(self, dataset: Dataset | str | os.PathLike, config: TrainConfig | None = None,
                 callback: Callable[[Any], None] | None = None, *, project: Project | None = None,
                 check_result: PreflightResult | None = None) -> None:
        self.config = config if config is not None else TrainConfig()
        self.config.validate()
        self._dataset_arg = dataset
        self.callback = callback
        self.project = project
        self.check_result = check_result
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._eval_held_s = 0.0  # time an evaluation spent paused (taken off the budget)
        self._lock = threading.Lock()
        self._pending: dict = {}
        self.state = "idle"
        self.prepared = False
        self.run_dir: Path | None = None
        self.step = 0
        #: the batch size in use: the config's, halved once after an out-of-memory error
        self._batch_size = self.config.batch_size
        self._oom_halved = False
        self.best_score = -math.inf
        self.best_path: Path | None = None
        self.last_path: Path | None = None
        self.last_eval: EvalEvent | None = None
        self._events_file = None
        self._hooks: list = []

    # ================================================================ control (any thread)

    def stop(self) -> None:
        """Ask the run to end; it writes last.pt and emits DoneEvent(stopped=True)."""
        self._stop.set()
        self._pause.clear()

    def pause(self) -> None:
        """Hold the loop between steps and between validation images (time spent paused does not count
        against max_minutes)."""
        if not self._stop.is_set():
            self._pause.set()

    def resume(self) -> None:
        self._pause.clear()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    def apply(self, action: dict) -> None:
        """Apply a suggestion's action between steps: ``{"lr": x}``, ``{"loss": name}``,
        ``{"class_weights": "auto" | [..] | None}`` (``open_checker`` is the GUI's business)."""
        unknown = set(action) - {"lr", "loss", "class_weights", "open_checker"}
        if unknown:
            raise ValueError(f"unknown action keys {sorted(unknown)}")
        if "lr" in action and not (isinstance(action["lr"], (int, float)) and 0 < action["lr"] <= MAX_LR):
            raise ValueError(f"lr must be a number in (0, {MAX_LR:g}], got {action['lr']!r}")
        if "loss" in action:
            TrainConfig(loss=action["loss"])  # validates the name
        with self._lock:
            self._pending.update({k: v for k, v in action.items() if k != "open_checker"})

    # ================================================================ events

    def _emit(self, event) -> None:
        if self._events_file is not None:
            try:
                self._events_file.write(to_json_line(event) + "\n")
                self._events_file.flush()
            except (OSError, ValueError):
                log.exception("could not write events.jsonl")
        if self.callback is not None:
            try:
                self.callback(event)
            except Exception:  # a broken listener must not kill the run
                log.exception("training event callback failed")

    def _info(self, code: str, message: str) -> None:
        self._emit(InfoEvent(step=self.step, code=code, message=message))

    def _throttled(self, code: str, what: str, every_s: float = 1.0) -> Callable[[int, int], None]:
        """A progress(done, total) that emits an InfoEvent at most every ``every_s`` seconds."""
        last = [time.monotonic()]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
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
        cfg = self.config
        self.state = "preparing"
        ds = self._dataset_arg
        self.dataset = ds if isinstance(ds, Dataset) else open_dataset(ds)
        project = self.project if self.project is not None else load_project(self.dataset)

        # 1. pre-flight: the label checker (or the result the caller passed)
        result = self.check_result
        if result is None and cfg.preflight:
            from ..core.checker import run as checks
            try:
                result = preflight(self.dataset, None if project.inferred else project,
                                   cancel=self._stop.is_set, progress=self._throttled("check", "checking labels"))
            except checks.CheckCancelled:
                raise _Stopped() from None
        if result is not None:
            self.check_result = result
            if not result.ok:
                from .preflight import describe_errors
                raise PreflightError(describe_errors(self.dataset, result.errors), result.errors, result)
            if project.inferred and result.project is not None:
                project = result.project  # inferred from every mask, not a sample
        self.project = project
        if project.num_classes < 2:
            raise DataError("the project has fewer than two classes; nothing to segment")

        # 2. resume: the checkpoint decides channels, classes and the split
        self.resume_ckpt = None
        if cfg.resume:
            ck = check_model(load_checkpoint(cfg.resume, map_location="cpu"), Path(cfg.resume).name)
            if len(ck["class_names"]) != project.num_classes:
                raise CheckpointError(
                    f"{Path(cfg.resume).name} was trained for {len(ck['class_names'])} classes "
                    f"({', '.join(ck['class_names'])}); this dataset has {project.num_classes} "
                    f"({', '.join(project.class_names)}). Resume on the same classes, or start a new run.")
            self.resume_ckpt = ck

        # 3. data
        pairs = list(self.dataset.complete_pairs)
        if not pairs:
            raise DataError(f"{self.dataset.root}: no image has a mask yet; annotate some images first")
        skipped = len(self.dataset.pairs) - len(pairs)
        mode = (self.resume_ckpt or {}).get("channels") or channel_mode(self.dataset, pairs)
        self.store = PairStore(self.dataset, pairs, project, mode, cfg.cache_mb, cfg.seed)
        if not self.store.scan(stop=self._stop.is_set, progress=self._throttled("scan", "reading masks")):
            raise _Stopped()
        classes = [self.store.classes_in(i) for i in range(len(self.store))]
        val_stems = (self.resume_ckpt or {}).get("val_stems")
        if val_stems:
            stems = {s: i for i, s in enumerate(p.stem for p in pairs)}
            val = sorted(stems[s] for s in val_stems if s in stems)
            train = [i for i in range(len(pairs)) if i not in set(val)] or list(range(len(pairs)))
            val = val or train[:1]
        else:
            train, val = split_by_image(len(pairs), cfg.val_fraction, cfg.seed, classes)
        self.train_idx, self.val_idx = train, val
        rng = np.random.default_rng(cfg.seed)
        if len(val) > cfg.max_val_images:
            keep = self._preview_indices(val)
            rest = [i for i in rng.permutation(val).tolist() if i not in keep]
            self.val_eval = sorted(keep + rest[: cfg.max_val_images - len(keep)])
        else:
            self.val_eval = list(val)
        self.preview_idx = self._preview_indices(self.val_eval)
        augment = AugmentConfig() if cfg.augment else None
        self.sampler = CropSampler(self.store, train, cfg.crop_size, cfg.fg_fraction, augment)
        self.steps_per_epoch = max(1, math.ceil(self.sampler.crops_per_epoch() / cfg.batch_size))
        self.ignore_index = self.store.ignore_index
        self.num_classes = project.num_classes

        # 4. machine, seed, model, loss, optimiser
        try:
            self.device = resolve_device(cfg.device)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.seed_used = cfg.seed if cfg.seed is not None else int.from_bytes(os.urandom(4), "little")
        torch.manual_seed(self.seed_used)
        self.rng = np.random.default_rng(self.seed_used)
        if self.resume_ckpt is not None:
            model_config = dict(self.resume_ckpt["model_config"])
        else:
            model_config = cfg.model_config(self.store.in_channels, self.num_classes)
        from .models import build_model
        self.model = build_model(model_config).to(self.device)
        self.class_weights = self._resolve_weights(cfg.class_weights, cfg.loss)
        self.loss_name = cfg.loss
        self.loss_fn = self._make_loss(self.loss_name, self.class_weights)
        self.base_lr = cfg.lr
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        stats = getattr(self.check_result, "stats", None)
        fractions = getattr(stats, "class_fraction", None)
        if fractions is not None and len(fractions) != self.num_classes:
            fractions = None
        self.monitor = Monitor(self.num_classes, project.class_names, project.ignore_index, self.loss_name,
                               cfg.lr, class_fractions_from_checker=fractions, warmup_evals=1,
                               fresh_network=self.resume_ckpt is None,
                               uses_class_weights=self.class_weights is not None)
        self.step = 0
        if self.resume_ckpt is not None:
            self._load_resume(self.resume_ckpt)
        self.data_notes = []
        if skipped:
            self.data_notes.append(f"{skipped} pair{'s' if skipped != 1 else ''} without image or mask left out")

        # 5. the run folder
        if make_run_dir:
            self._make_run_dir()
        self.prepared = True
        self.state = "ready"

    def _resolve_weights(self, spec, loss: str) -> list | None:
        if loss == "dice":
            return None
        if spec is None:
            return None if loss != "weighted-ce" else self._auto_weights()
        if spec == "auto":
            return self._auto_weights()
        w = [float(x) for x in spec]
        if len(w) != self.num_classes:
            raise ConfigError(f"class_weights has {len(w)} values for {self.num_classes} classes")
        return w

    def _auto_weights(self) -> list:
        stats = getattr(self.check_result, "stats", None)
        sw = getattr(stats, "suggested_weights", None)
        if sw is not None and len(sw) == self.num_classes and all(math.isfinite(x) and x >= 0 for x in sw) \
                and sum(sw) > 0:
            return [float(x) for x in sw]
        counts = self.store.class_pixels(self.train_idx)
        if counts.sum() == 0:
            raise DataError("class_weights 'auto': the training masks hold no labelled pixel")
        return [float(x) for x in median_frequency_weights(counts)]

    def _make_loss(self, name: str, weights):
        return make_loss(name, self.num_classes, self.ignore_index,
                         None if name == "dice" else weights).to(self.device)

    def _preview_indices(self, val: list) -> list:
        """Up to max_previews validation images that together show every class (greedy cover)."""
        k = self.config.max_previews
        if k == 0:
            return []
        chosen: list[int] = []
        covered: set[int] = set()
        pool = list(val)
        while pool and len(chosen) < k:
            best = max(pool, key=lambda i: (len(self.store.classes_in(i) - covered), -pool.index(i)))
            if not self.store.classes_in(best) - covered and chosen:
                break
            chosen.append(best)
            covered |= self.store.classes_in(best)
            pool.remove(best)
        for i in pool:
            if len(chosen) >= k:
                break
            chosen.append(i)
        return sorted(chosen)

    def _load_resume(self, ck: dict) -> None:
        try:
            self.model.load_state_dict(ck["model"])
            if isinstance(ck.get("optimizer"), dict):
                self.optimizer.load_state_dict(ck["optimizer"])
                for g in self.optimizer.param_groups:
                    g["weight_decay"] = self.config.weight_decay
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{Path(self.config.resume).name}: the weights do not fit the model "
                                  f"({one_line(exc)})") from None
        self.step = int(ck.get("step", 0))
        score = ck.get("best_score")
        self.best_score = float(score) if isinstance(score, (int, float)) else -math.inf
        rng = ck.get("rng") or {}
        if isinstance(rng.get("torch"), torch.Tensor):
            torch.set_rng_state(rng["torch"])
        if isinstance(rng.get("numpy"), dict):
            try:
                self.rng = rng_from_plain(rng["numpy"])
            except (KeyError, ValueError, TypeError, AttributeError):
                pass

    def _make_run_dir(self) -> None:
        cfg = self.config
        if cfg.out_dir:
            run_dir = Path(cfg.out_dir).expanduser()
        else:
            runs = self.dataset.root / ".fcnstudio" / "runs"
            base = run_folder_name()
            run_dir, n = runs / base, 2
            while run_dir.exists():
                run_dir, n = runs / f"{base}-{n}", n + 1
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the run folder {run_dir}: {exc.strerror or exc}") from None
        self.run_dir = run_dir
        info = {
            "config": cfg.to_json(),
            "dataset": str(self.dataset.root),
            "classes": self.project.class_names,
            "colors": [list(c) for c in self.project.colors],
            "label_map": self.project.to_json()["label_map"],
            "ignore_index": self.project.ignore_index,
            "train_ignore_index": self.ignore_index,
            "channels": self.store.mode,
            "class_weights": self.class_weights,
            "seed_used": self.seed_used,
            "device": str(self.device),
            "train_stems": [self.store.stem(i) for i in self.train_idx],
            "val_stems": [self.store.stem(i) for i in self.val_idx],
            "resumed_from": str(cfg.resume) if cfg.resume else None,
            "start_step": self.step,
            "created": datetime.now().isoformat(timespec="seconds"),
            "fcnstudio_version": __version__,
        }
        atomic_write_text(run_dir / "config.json", json.dumps(info, indent=2) + "\n")
        self._events_file = open(run_dir / "events.jsonl", "a", encoding="utf-8")

    # ================================================================ checkpoints

    def checkpoint_dict(self, include_optimizer: bool = True) -> dict:
        ev = self.last_eval.to_json() if self.last_eval is not None else None
        if ev is not None:
            ev.pop("previews", None)
        return {
            "model_config": dict(self.model.model_config),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict() if include_optimizer else None,
            "step": int(self.step),
            "epoch": int(self.step // self.steps_per_epoch),
            "class_names": list(self.project.class_names),
            "colors": [list(c) for c in self.project.colors],
            "label_map": self.project.to_json()["label_map"],
            "ignore_index": self.project.ignore_index,
            "train_ignore_index": int(self.ignore_index),
            "channels": self.store.mode,
            "in_channels": int(self.store.in_channels),
            "normalisation": dict(NORMALISATION),
            "crop_size": int(self.config.crop_size),
            "metrics": ev,
            "best_score": float(self.best_score) if math.isfinite(self.best_score) else None,
            "loss": self.loss_name,
            "class_weights": self.class_weights,
            "train_config": self.config.to_json(),
            "val_stems": [self.store.stem(i) for i in self.val_idx],
            "rng": {"torch": torch.get_rng_state(), "numpy": rng_to_plain(self.rng)},
            "created": datetime.now().isoformat(timespec="seconds"),
            "fcnstudio_version": __version__,
        }

    def _save(self, name: str) -> Path:
        path = self.run_dir / name
        save_checkpoint(path, self.checkpoint_dict())
        return path

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
            torch.set_num_threads(self.config.num_threads or _default_threads())
            try:
                if not self.prepared:
                    self.prepare()
            except _Stopped:
                self.state = "stopped"
                done = DoneEvent(None, math.nan, None, self.step, True)
                self._emit(done)
                return done
            self.state = "running"
            self._add_stop_hooks()
            stopped = self._loop()
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
            msg = str(exc) if isinstance(exc, REFUSALS) else f"training failed: {type(exc).__name__}: {exc}"
            err = ErrorEvent(message=msg, detail=traceback.format_exc())
            self._emit(err)
            return err
        finally:
            self._remove_stop_hooks()
            torch.set_num_threads(prev_threads)
            if self._events_file is not None:
                try:
                    self._events_file.close()
                except OSError:
                    pass
                self._events_file = None

    def _add_stop_hooks(self) -> None:
        """Let stop() interrupt a long step: a check before every convolution, and in backward
        when each convolution's weight gradient arrives (the aborted step changes no weight)."""
        def forward_hook(module, inputs):
            if self._stop.is_set():
                raise _Stopped()

        def grad_hook(grad):
            if self._stop.is_set():
                raise _Stopped()
            return None

        convs = [m for m in self.model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
        self._hooks = [m.register_forward_pre_hook(forward_hook) for m in convs]
        self._hooks += [m.weight.register_hook(grad_hook) for m in convs if m.weight.requires_grad]

    def _remove_stop_hooks(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []

    # budget ---------------------------------------------------------------

    def _budget_steps(self) -> int | None:
        cfg = self.config
        limits = [x for x in (cfg.max_steps, cfg.epochs * self.steps_per_epoch if cfg.epochs else None)
                  if x is not None]
        return min(limits) if limits else None

    def _progress(self, elapsed: float) -> float | None:
        parts = []
        total = self._budget_steps()
        if total:
            parts.append(self.step / total)
        if self.config.max_minutes:
            parts.append(elapsed / (60.0 * self.config.max_minutes))
        return min(1.0, max(parts)) if parts else None

    def _lr_at(self, elapsed: float) -> float:
        cfg = self.config
        lr = self.base_lr
        if cfg.warmup_steps and self.step < cfg.warmup_steps:
            lr *= (self.step + 1) / cfg.warmup_steps
        p = self._progress(elapsed)
        if p is not None:
            lr *= cfg.min_lr_fraction + (1 - cfg.min_lr_fraction) * 0.5 * (1 + math.cos(math.pi * p))
        return lr

    def _eta(self, elapsed: float, step_time: float) -> float | None:
        etas = []
        total = self._budget_steps()
        if total:
            etas.append(max(0, total - self.step) * step_time)
        if self.config.max_minutes:
            etas.append(max(0.0, 60.0 * self.config.max_minutes - elapsed))
        return min(etas) if etas else None

    # pending actions -----------------------------------------------------

    def _apply_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        if "lr" in pending:
            self.base_lr = float(pending["lr"])
            self.monitor.set_lr(self.base_lr)
            self._info("lr", f"learning rate set to {self.base_lr:.3g}")
        if "loss" in pending or "class_weights" in pending:
            name = pending.get("loss", self.loss_name)
            spec = pending.get("class_weights", "keep")
            weights = self.class_weights if spec == "keep" else self._resolve_weights(spec, name)
            if spec == "keep" and name == "weighted-ce" and weights is None:
                weights = self._auto_weights()
            self.loss_name, self.class_weights = name, (None if name == "dice" else weights)
            self.loss_fn = self._make_loss(name, self.class_weights)
            self.monitor.set_loss(name, uses_class_weights=self.class_weights is not None)
            w = "" if self.class_weights is None else " with class weights " + \
                ", ".join(f"{x:.2g}" for x in self.class_weights)
            self._info("loss", f"loss set to {name}{w}")

    # the loop --------------------------------------------------------------

    def _wait_while_paused(self) -> float:
        """Block while paused; returns the seconds spent paused."""
        if not self._pause.is_set():
            return 0.0
        t = time.monotonic()
        self.state = "paused"
        self._info("paused", f"paused at step {self.step}")
        while self._pause.is_set() and not self._stop.is_set():
            time.sleep(0.02)
        self.state = "running"
        if not self._stop.is_set():
            self._info("resumed", f"resumed at step {self.step}")
        return time.monotonic() - t

    def _loop(self) -> bool:
        """The training loop; returns True when it ended by stop()."""
        cfg = self.config
        self._info("device", f"training on {self.device} with {torch.get_num_threads()} threads")
        n_train, n_val = len(self.train_idx), len(self.val_idx)
        note = "; ".join(self.data_notes)
        self._info("data", f"{n_train} training / {n_val} validation images, {self.num_classes} classes, "
                           f"crops {cfg.crop_size} px, batch {cfg.batch_size}, loss {self.loss_name}"
                           + (f", class weights {', '.join(f'{w:.2g}' for w in self.class_weights)}"
                              if self.class_weights else "") + (f"; {note}" if note else ""))
        if self.resume_ckpt is not None:
            self._info("resumed", f"resumed from {Path(cfg.resume).name} at step {self.step}")
        budget = self._budget_steps()
        if budget is not None and self.step >= budget:
            self._info("budget", f"the step budget ({budget}) is already reached; raise max_steps/epochs to continue")
        params = [p for p in self.model.parameters() if p.requires_grad]
        paused_s = 0.0
        t0 = time.monotonic()
        last_emit_t = t0
        last_emit_step = self.step
        last_eval_t = t0
        last_eval_step = self.step
        pending_losses: list[tuple[int, torch.Tensor]] = []
        nan_run = 0
        eval_s = 0.0
        stopped = False
        self.model.train()
        try:
            while True:
                if self._stop.is_set():
                    stopped = True
                    break
                held = self._wait_while_paused()
                if held:  # the time paused counts for neither the budget nor the cadence
                    paused_s += held
                    last_emit_t += held
                    last_eval_t += held
                if self._stop.is_set():
                    stopped = True
                    break
                self._apply_pending()
                elapsed = time.monotonic() - t0 - paused_s
                if budget is not None and self.step >= budget:
                    break
                if cfg.max_minutes and elapsed >= 60.0 * cfg.max_minutes:
                    break

                lr = self._lr_at(elapsed)
                for g in self.optimizer.param_groups:
                    g["lr"] = lr
                images, masks = self.sampler.batch(self.rng, self._batch_size)
                self._report_skipped()
                try:
                    x = torch.from_numpy(images).to(self.device, non_blocking=True)
                    y = torch.from_numpy(masks).to(self.device, non_blocking=True)
                    logits = self.model(x)
                    loss = self.loss_fn(logits, y)
                    finite = bool(torch.isfinite(loss))
                    if finite:
                        self.optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip or math.inf)
                        if bool(torch.isfinite(norm)):
                            self.optimizer.step()
                        else:
                            finite = False
                            loss = torch.full_like(loss, math.nan)
                except RuntimeError as exc:
                    if not _is_out_of_memory(exc):
                        raise
                    x = y = logits = loss = None
                    self._out_of_memory(exc)
                    continue
                self.step += 1
                nan_run = 0 if finite else nan_run + 1
                pending_losses.append((self.step, loss.detach()))
                if nan_run >= MAX_NAN_STEPS:
                    self._flush_losses(pending_losses, time.monotonic(), last_emit_t, last_emit_step,
                                       time.monotonic() - t0 - paused_s)
                    raise RuntimeError(f"the loss has not been a number for {MAX_NAN_STEPS} steps in a row; "
                                       "lower the learning rate and run the label checker (nan-image)")

                now = time.monotonic()
                elapsed = now - t0 - paused_s
                end = (budget is not None and self.step >= budget) or \
                      (cfg.max_minutes and elapsed >= 60.0 * cfg.max_minutes)
                due = (self.step - last_emit_step >= cfg.step_event_every) if cfg.step_event_every \
                    else (now - last_emit_t >= cfg.step_event_interval_s)
                if due or end:
                    self._flush_losses(pending_losses, now, last_emit_t, last_emit_step, elapsed)
                    pending_losses = []
                    last_emit_t, last_emit_step = now, self.step

                since = time.monotonic() - last_eval_t
                if (self.step - last_eval_step >= cfg.eval_every_steps or since >= cfg.eval_every_s) \
                        and since >= EVAL_SHARE * eval_s:
                    if pending_losses:
                        self._flush_losses(pending_losses, now, last_emit_t, last_emit_step, elapsed)
                        pending_losses = []
                        last_emit_t, last_emit_step = now, self.step
                    te = time.monotonic()
                    self._eval_held_s = 0.0
                    self._evaluate()
                    held = self._eval_held_s
                    paused_s += held
                    last_emit_t += held
                    last_eval_step = self.step
                    last_eval_t = time.monotonic()
                    eval_s = last_eval_t - te - held
        except _Stopped:
            stopped = True
        if pending_losses:
            now = time.monotonic()
            self._flush_losses(pending_losses, now, last_emit_t, last_emit_step, now - t0 - paused_s)
        if not stopped and self.step > last_eval_step:
            try:
                self._evaluate()
            except _Stopped:
                stopped = True
        if self.run_dir is not None and (self.step > 0 or self.resume_ckpt is not None):
            self.last_path = self._save("last.pt")
        return stopped

    def _flush_losses(self, pending: list, now: float, last_t: float, last_step: int, elapsed: float) -> None:
        if not pending:
            return
        values = torch.stack([t for _, t in pending]).float().cpu().tolist()
        warnings: list[WarningEvent] = []
        for (s, _), v in zip(pending, values):
            warnings += self.monitor.on_step(s, v)
        finite = [v for v in values if math.isfinite(v)]
        loss = sum(finite) / len(finite) if finite else math.nan
        dt = max(now - last_t, 1e-9)
        n = self.step - last_step
        step_time = dt / max(n, 1)
        self._emit(StepEvent(step=self.step, epoch=self.step // self.steps_per_epoch, loss=loss,
                             lr=self.optimizer.param_groups[0]["lr"],
                             images_per_s=n * self._batch_size / dt, elapsed_s=elapsed,
                             eta_s=self._eta(elapsed, step_time)))
        for w in warnings:
            self._emit(w)

    # evaluation ------------------------------------------------------------

    def _report_skipped(self) -> None:
        """A warning event for each image left out because it became unreadable during the run."""
        while self.sampler.skipped:
            reason = self.sampler.skipped.pop(0)
            self._emit(WarningEvent(step=self.step, code="file-skipped", severity="warning",
                                    message=f"left out of this run: {reason}",
                                    diagnosis="The file was readable when training started; it was deleted, "
                                              "moved or damaged since. Training goes on without it."))

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
        self._emit(WarningEvent(step=self.step, code="out-of-memory", severity="warning",
                                message=f"out of memory with batch {old}: training goes on with batch "
                                        f"{self._batch_size}",
                                diagnosis=one_line(exc)))

    @torch.no_grad()
    def evaluate(self) -> EvalEvent | None:
        """Score the validation images now (no eval event, no checkpoint); None if stopped meanwhile.

        A pause holds it between validation images (emitting the paused/resumed notes)."""
        was_training = self.model.training
        self.model.eval()
        acc = MetricAccumulator(self.num_classes, self.ignore_index)
        losses: list[float] = []
        previews: list[Preview] = []
        try:
            for i in list(self.val_eval):
                self._eval_held_s += self._wait_while_paused()  # an evaluation of big images can take a while
                if self._stop.is_set():
                    raise _Stopped()
                try:
                    s = self.store.load(i)
                except UnreadableError as exc:
                    if len(self.val_eval) == 1:
                        raise
                    self.val_eval = [j for j in self.val_eval if j != i]
                    self.sampler.skipped.append(str(exc))
                    continue
                x = torch.from_numpy(np.ascontiguousarray(zscore(s.image, s.mean, s.std).transpose(2, 0, 1)))
                x = x.to(self.device)
                prob = predict_probs(self.model, x, max(EVAL_TILE, self.config.crop_size), stop=self._stop.is_set)
                if prob is None:
                    raise _Stopped()
                y = torch.from_numpy(s.mask.astype(np.int64)).to(self.device)
                if (y != self.ignore_index).any():
                    losses.append(float(self.loss_fn(torch.log(prob.clamp_min(1e-8))[None], y[None])))
                pred = prob.argmax(0)
                prob_np = prob.cpu().numpy()
                pred_np = pred.cpu().numpy().astype(np.uint8 if self.num_classes <= 256 else np.uint16)
                acc.update(pred_np, s.mask, prob_np)
                if i in self.preview_idx:
                    previews.append(self._preview(s, pred_np, prob_np))
        finally:
            if was_training:
                self.model.train()
        m = acc.compute()
        val_loss = float(np.mean(losses)) if losses else math.nan
        return EvalEvent(step=self.step, val_loss=val_loss, iou=m.iou, dice=m.dice,
                         true_fraction=m.true_fraction, pred_fraction=m.pred_fraction,
                         max_fg_prob=acc.max_prob, previews=tuple(previews), prob_spread=acc.prob_spread)

    def _preview(self, s, pred: np.ndarray, prob: np.ndarray) -> Preview:
        truth = np.minimum(s.mask, 255).astype(np.uint8)
        pred8 = np.minimum(pred, 255).astype(np.uint8)
        img, t, p, pr = downscale_for_preview(s.image, truth, pred8, prob, self.config.preview_size)
        return Preview(stem=s.stem, image=img, truth=t, pred=p, prob=pr.astype(np.float16))

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
            self.best_path = self._save("best.pt")
        self.last_path = self._save("last.pt")
