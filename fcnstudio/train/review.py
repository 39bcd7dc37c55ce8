"""The label review: K fold models, held-out probabilities, scores, and ``review.json``.

    outcome = run_review("path/to/dataset", folds=3, minutes_per_fold=4, progress=print, stop=flag.is_set)
    outcome.review.trusted, outcome.review.images[0].regions[0].kind, outcome.folder

The pairs are cut into ``folds`` contiguous blocks (:func:`fcnstudio.core.review.contiguous_folds`). For
each fold a model trains with the current training defaults on the other blocks, within the per-fold
budget, then predicts the fold's images (:mod:`.review_fold`); each image is scored against the fold's
own per-class thresholds. A fold whose run ends with a standing whole-model collapse warning
(collapse-background, collapse-single-class), or fails, is reported and its images are left out of the
ranking; a standing class-never-predicted leaves the fold ranked and names the class (``never_predicted``:
errors of that class cannot be found with this model); the trust gate (:mod:`fcnstudio.core.review.trust`) says
whether the rest can be read as a ranking at all. Everything goes into a new folder
``<dataset>/.fcnstudio/reviews/<timestamp>/`` (fold run folders, ``probs/``, then ``review.json``
written last and atomically).

The checker's error findings refuse a review as they refuse training: :func:`run_review` raises one of
:data:`~.trainer.REFUSALS` before writing anything. ``stop()`` is polled between images and relayed to
the training fold (a stop lands within a fraction of a second); a cancelled review removes its folder
and returns an outcome with ``cancelled=True``. Plain function, plain callbacks: the window will run it
as a background job.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from ..core.dataset import Dataset, open_dataset
from ..core.review import FoldQuality, Review, UnrankedImage, contiguous_folds, make_review_dir, verdict, write_review
from .config import REVIEW_FOLDS, REVIEW_MINUTES_PER_FOLD, ConfigError, TrainConfig
from .errors import DataError, Stopped
from .events import StepEvent
from .plan import checked_project
from .review_fold import predict_fold, score_fold, train_fold

__all__ = ["DEFAULT_FOLDS", "DEFAULT_MINUTES_PER_FOLD", "ReviewOutcome", "ReviewProgress", "review_config",
           "run_review"]

DEFAULT_FOLDS = REVIEW_FOLDS
DEFAULT_MINUTES_PER_FOLD = REVIEW_MINUTES_PER_FOLD
#: Seconds per image to predict and score, assumed until the first fold has measured it.
PREDICT_GUESS_S = 0.5


@dataclass(frozen=True)
class ReviewProgress:
    """Where the review is: fold ``fold`` of ``folds`` (0 during the label check), ``phase`` (check, train,
    predict, score), ``done`` of ``total`` (seconds for train, images otherwise), ``eta_s`` for the whole
    review (None when unknown)."""

    fold: int
    folds: int
    phase: str
    done: int
    total: int
    eta_s: float | None = None


@dataclass(frozen=True)
class ReviewOutcome:
    review: Review | None
    folder: Path | None
    cancelled: bool = False


def review_config(config: TrainConfig | None = None, minutes_per_fold: float | None = DEFAULT_MINUTES_PER_FOLD,
                  steps_per_fold: int | None = None) -> TrainConfig:
    """The fold models' settings: ``config`` (default: the training defaults) with the per-fold budget.

    ``steps_per_fold`` replaces the default step budget (a review bounded by steps only is reproducible);
    at least one of the two budgets must be given.
    """
    base = config if config is not None else TrainConfig()
    if minutes_per_fold is None and steps_per_fold is None:
        raise ConfigError("a review needs a budget per fold: minutes, steps or both")
    steps = steps_per_fold if steps_per_fold is not None else base.max_steps
    return dataclasses.replace(base, max_minutes=minutes_per_fold, max_steps=steps, epochs=None, resume=None,
                               out_dir=None).validate()


class _Clock:
    """The review's ETA: the rest of this fold's training, the other folds' budgets, and the predictions."""

    def __init__(self, cfg: TrainConfig, folds: list[list[str]]) -> None:
        self.folds = folds
        self.train_s = 60.0 * cfg.max_minutes if cfg.max_minutes else None
        self.per_image_s = PREDICT_GUESS_S
        self.measured_train_s: float | None = None

    def eta(self, fold: int, train_left: float | None, images_left: float) -> float | None:
        """Seconds left: ``train_left`` of fold ``fold`` (1-based), ``images_left`` of its images (in units of
        one image's predict-and-score time), then the later folds whole."""
        per_fold_train = self.train_s if self.train_s is not None else self.measured_train_s
        later = self.folds[fold:]
        if train_left is None or (per_fold_train is None and later):
            return None
        rest = len(later) * (per_fold_train or 0.0) + sum(len(f) for f in later) * self.per_image_s
        return train_left + images_left * self.per_image_s + rest


def run_review(dataset: Dataset | str, folds: int = DEFAULT_FOLDS,
               minutes_per_fold: float | None = DEFAULT_MINUTES_PER_FOLD, steps_per_fold: int | None = None, *,
               config: TrainConfig | None = None, progress: Callable[[ReviewProgress], None] | None = None,
               stop: Callable[[], bool] | None = None,
               on_event: Callable[[int, Any], None] | None = None) -> ReviewOutcome:
    """Run a review (see the module docstring); ``on_event(fold, event)`` sees every training event."""
    stop = stop or (lambda: False)
    report = progress or (lambda p: None)
    cfg = review_config(config, minutes_per_fold, steps_per_fold)
    ds = dataset if isinstance(dataset, Dataset) else open_dataset(dataset)
    try:
        blocks = contiguous_folds([p.stem for p in ds.complete_pairs], folds)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    try:
        project, check = checked_project(ds, None, None, cfg, stop=stop,
                                         progress=lambda d, t: report(ReviewProgress(0, folds, "check", d, t)))
    except Stopped:
        return ReviewOutcome(None, None, cancelled=True)
    folder = make_review_dir(ds.root)
    clock = _Clock(cfg, blocks)
    qualities, images, unranked = [], [], []
    for i, held in enumerate(blocks, start=1):
        others = [s for j, block in enumerate(blocks, start=1) if j != i for s in block]
        fold_cfg = dataclasses.replace(cfg, out_dir=str(folder / f"fold{i}"))
        done = _fold(ds, fold_cfg, project, check, i, held, others, folder, clock, report, stop, on_event)
        if done is None:
            shutil.rmtree(folder, ignore_errors=True)
            return ReviewOutcome(None, None, cancelled=True)
        quality, ranked, left_out = done
        qualities.append(quality)
        images += ranked
        unranked += left_out
    trusted, reason = verdict(qualities)
    review = Review(folds=folds, trusted=trusted, reason=reason, fold_quality=tuple(qualities), images=tuple(images),
                    unranked=tuple(unranked), classes=tuple(project.class_names), dataset=str(ds.root),
                    created=datetime.now().isoformat(timespec="seconds"),
                    settings={"minutes_per_fold": minutes_per_fold, "steps_per_fold": steps_per_fold,
                              "train_config": {k: v for k, v in cfg.to_json().items() if k != "out_dir"}}).sorted()
    write_review(folder, review)
    return ReviewOutcome(review, folder)


def _fold(ds, cfg, project, check, i, held, others, folder, clock: _Clock, report, stop, on_event):
    """Train, predict and score fold ``i``; ``(FoldQuality, images, unranked)``, or None when stopped."""
    k = len(clock.folds)

    def on_train(ev) -> None:
        if isinstance(ev, StepEvent):
            total = clock.train_s or (ev.elapsed_s + (ev.eta_s or 0.0))
            report(ReviewProgress(i, k, "train", int(ev.elapsed_s), int(total), clock.eta(i, ev.eta_s, len(held))))
        if on_event is not None:
            on_event(i, ev)

    started = time.monotonic()
    run = train_fold(ds, cfg, project, check, others, held, stop, on_train)
    clock.measured_train_s = time.monotonic() - started
    if stop():
        return None
    steps = int(getattr(run.result, "steps", 0) or 0)
    if run.error or run.collapse or run.last_checkpoint is None:
        error = run.error or ("" if run.collapse else "the run saved no checkpoint")
        why = f"the run failed: {error}" if error else f"the model collapsed ({', '.join(run.collapse)})"
        quality = FoldQuality(fold=i, images=len(held), steps=steps, run=f"fold{i}", collapse=run.collapse,
                              error=error)
        return quality, [], _unranked(ds, held, i, f"fold {i}: {why}; no ranking from this model")
    t0 = time.monotonic()
    pred = predict_fold(run, held, folder, stop, _images(report, i, k, "predict", clock, 1.0))
    scored = None if pred is None else score_fold(run, pred, i, folder, stop,
                                                  _images(report, i, k, "score", clock, 0.3))
    if scored is None:
        return None
    clock.per_image_s = (time.monotonic() - t0) / max(1, len(held))
    q = pred.quality
    quality = FoldQuality(fold=i, images=len(pred.stems), mean_iou=q["mean_iou"], mean_fg_iou=q["mean_fg_iou"],
                          pixel_accuracy=q["pixel_accuracy"], iou=q["iou"], thresholds=pred.thresholds.thresholds,
                          steps=steps, run=f"fold{i}", never_predicted=run.never_predicted)
    skipped = [dataclasses.replace(u, reason=pred.skipped[u.stem])
               for u in _unranked(ds, list(pred.skipped), i, "")]
    return quality, scored, skipped


def _images(report, fold: int, folds: int, phase: str, clock: _Clock, share: float):
    """A progress(done, total) for a pass over the fold's images; ``share``: the part of an image's
    predict-and-score time that is still ahead for each image this pass has not reached."""
    def progress(done: int, total: int) -> None:
        report(ReviewProgress(fold, folds, phase, done, total, clock.eta(fold, 0.0, share * (total - done))))
    return progress


def _unranked(ds: Dataset, stems, fold: int, reason: str) -> list[UnrankedImage]:
    by_stem = {p.stem: p for p in ds.complete_pairs}
    return [UnrankedImage(mask=ds.relative(by_stem[s].mask), image=ds.relative(by_stem[s].image), stem=s, fold=fold,
                          reason=reason) for s in stems]
