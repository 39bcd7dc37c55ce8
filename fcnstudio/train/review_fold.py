"""One fold of a review: train on the other folds, predict the held-out images, score them.

- :func:`train_fold`: a :class:`~.trainer.Trainer` with the review's config and
  an explicit split (train = the other folds, validation = this fold's images,
  which only decides which checkpoint is ``best.pt``; the review predicts with
  ``last.pt`` so nothing is selected on the held-out images). A ``stop()`` that
  turns true stops the run within a fraction of a second.
- :func:`predict_fold`: every held-out image through the fold's ``last.pt`` at
  full resolution (:class:`~.predict.Predictor`: the preprocessing training
  used), its probabilities written to ``probs/<stem>.npz``; on the way the
  confusion matrix (held-out IoU, pixel accuracy) and the per-class thresholds.
- :func:`score_fold`: each image scored (:func:`fcnstudio.core.review.score_image`)
  against the fold's thresholds, with its image gradient and near-duplicate
  neighbouring frames of the same fold, then scored again with ``pair_share``
  taken over the whole fold (:func:`fcnstudio.core.review.score_fold_images`).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..core.io import ImageReadError, read_image
from ..core.review import (ClassThresholds, ImageReview, gate_foreground_iou, probs_path, read_probs,
                           score_fold_images, score_image, write_probs)
from ..core.review.features import gradient_map, near_duplicate, thumbnail
from ..core.review.report import BLOCKING_COLLAPSE
from ..core.runs import standing_collapse
from . import build
from .checkpoint import load_checkpoint
from .config import TrainConfig
from .errors import DataError
from .events import ErrorEvent, WarningEvent
from .metrics import confusion_matrix, metrics_from_confusion
from .predict import Predictor
from .trainer import Trainer

__all__ = ["FoldPrediction", "FoldRun", "predict_fold", "score_fold", "train_fold"]

#: How often (seconds) the review's stop() is looked at while a fold trains.
STOP_POLL_S = 0.1


@dataclass
class FoldRun:
    trainer: Trainer
    result: Any                       # the DoneEvent or ErrorEvent of the run
    collapse: tuple = ()              # codes of the whole-model collapse warnings standing at the end
    never_predicted: tuple = ()       # classes of a class-never-predicted warning standing at the end
    error: str = ""

    @property
    def last_checkpoint(self) -> Path | None:
        last = getattr(self.result, "last_checkpoint", None)
        return Path(last) if last else None


def train_fold(dataset, config: TrainConfig, project, check, train_stems: Sequence[str], held: Sequence[str],
               stop: Callable[[], bool], on_event: Callable[[Any], None] | None = None) -> FoldRun:
    """Train one fold model (``config.out_dir`` is its run folder); returns when the run ends or is stopped."""
    warnings: list[dict] = []

    def callback(ev) -> None:
        if isinstance(ev, WarningEvent):
            warnings.append(ev.to_json())
        if on_event is not None:
            on_event(ev)

    trainer = Trainer(dataset, config, callback, project=project, check_result=check,
                      split=(list(train_stems), list(held)))
    done = threading.Event()

    def relay() -> None:
        while not done.wait(STOP_POLL_S):
            if stop():
                trainer.stop()
                return

    watcher = threading.Thread(target=relay, name="fcnstudio-review-stop", daemon=True)
    watcher.start()
    try:
        result = trainer.run()
    finally:
        done.set()
        watcher.join()
    if isinstance(result, ErrorEvent):
        return FoldRun(trainer, result, error=result.message)
    standing = standing_collapse(warnings)
    # one class never predicted: the model still reads the others' labels, so the fold is ranked (its errors of
    # that class cannot be found, and the review says so); a model that predicts one class everywhere is not
    codes = tuple(dict.fromkeys(code for code, _ in standing if code in BLOCKING_COLLAPSE))
    never = tuple(sorted({k for code, ks in standing if code == "class-never-predicted" for k in ks}))
    return FoldRun(trainer, result, collapse=codes, never_predicted=never)


@dataclass
class FoldPrediction:
    """What predicting a fold's held-out images gave: per-image labels and thumbnails, the counts behind the
    fold's quality and thresholds, and the images that could not be used (stem → reason)."""

    stems: list = field(default_factory=list)
    labels: dict = field(default_factory=dict)
    thumbs: dict = field(default_factory=dict)
    confusion: np.ndarray | None = None
    thresholds: ClassThresholds | None = None
    skipped: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def quality(self) -> dict:
        """Held-out mean IoU (all classes; foreground: the classes labelled here), pixel accuracy, per-class IoU."""
        m = metrics_from_confusion(self.confusion)
        total = int(self.confusion.sum())
        acc = float(np.trace(self.confusion)) / total if total else math.nan
        fg = gate_foreground_iou(m.iou, self.confusion.sum(axis=1))
        return {"mean_iou": m.mean_iou, "mean_fg_iou": fg, "pixel_accuracy": acc, "iou": m.iou}


def predict_fold(run: FoldRun, held: Sequence[str], review_dir: Path, stop: Callable[[], bool],
                 progress: Callable[[int, int], None] | None = None) -> FoldPrediction | None:
    """Predict the held-out images with the fold's last.pt; None when ``stop()`` interrupted it."""
    trainer = run.trainer
    store = trainer.store
    index = {store.stem(i): i for i in range(len(store))}
    c = trainer.num_classes
    out = FoldPrediction(confusion=np.zeros((c, c), np.int64), thresholds=ClassThresholds(c))
    predictor = Predictor(load_checkpoint(run.last_checkpoint), trainer.device, name=run.last_checkpoint.name)
    names = list(trainer.project.class_names)
    started = time.monotonic()
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(trainer.config.num_threads or build.default_threads())
    try:
        for n, stem in enumerate(held):
            if stop():
                return None
            i = index[stem]
            try:
                _predict_one(predictor, store, i, stem, review_dir, names, out)
            except (ImageReadError, DataError, ValueError) as exc:
                out.skipped[stem] = f"could not be predicted: {exc}"
            if progress is not None:
                progress(n + 1, len(held))
    finally:
        torch.set_num_threads(prev_threads)
    out.seconds = time.monotonic() - started
    return out


def _predict_one(predictor: Predictor, store, i: int, stem: str, review_dir: Path, names: list,
                 out: FoldPrediction) -> None:
    pair = store.pairs[i]
    label = store.read_mask(i)
    raw = read_image(pair.image)
    if raw.shape[:2] != label.shape:
        raise DataError(f"{stem}: image and mask sizes differ")
    _, prob = predictor.predict(raw, pair.image.name)
    probs = np.moveaxis(prob, 0, -1)
    write_probs(probs_path(review_dir, stem), probs, names)
    ignore = store.ignore_index
    out.thresholds.add(probs, label, ignore)
    out.confusion += confusion_matrix(probs.argmax(axis=2), label, store.num_classes, ignore)
    out.stems.append(stem)
    out.labels[stem] = label
    out.thumbs[stem] = thumbnail(raw)


def _neighbours(pred: FoldPrediction, k: int) -> list[np.ndarray]:
    """Labels of the frames before and after stem ``k`` (fold order) that are near-duplicates of it."""
    stem = pred.stems[k]
    out = []
    for j in (k - 1, k + 1):
        if 0 <= j < len(pred.stems):
            other = pred.stems[j]
            if pred.labels[other].shape == pred.labels[stem].shape and \
                    near_duplicate(pred.thumbs[stem], pred.thumbs[other]):
                out.append(pred.labels[other])
    return out


def score_fold(run: FoldRun, pred: FoldPrediction, fold: int, review_dir: Path, stop: Callable[[], bool],
               progress: Callable[[int, int], None] | None = None) -> list[ImageReview] | None:
    """Score the predicted images of a fold (None when ``stop()`` interrupted it)."""
    store = run.trainer.store
    dataset = run.trainer.dataset
    index = {store.stem(i): i for i in range(len(store))}
    thresholds = pred.thresholds.thresholds
    results, pairs = [], []
    for k, stem in enumerate(pred.stems):
        if stop():
            return None
        pair = store.pairs[index[stem]]
        probs = read_probs(probs_path(review_dir, stem)).probs
        try:
            gradient = gradient_map(read_image(pair.image))
        except ImageReadError:  # became unreadable since it was predicted: no edge evidence
            gradient = None
        results.append(score_image(probs, pred.labels[stem], thresholds, ignore_index=store.ignore_index,
                                   gradient=gradient, neighbour_labels=_neighbours(pred, k)))
        pairs.append(pair)
        if progress is not None:
            progress(k + 1, len(pred.stems))
    return [ImageReview(mask=dataset.relative(pair.mask), image=dataset.relative(pair.image), stem=stem, fold=fold,
                        score=result.score, softmin=result.softmin, regions=result.regions, features=result.features,
                        probs=probs_path(review_dir, stem).relative_to(review_dir).as_posix())
            for stem, pair, result in zip(pred.stems, pairs, score_fold_images(results))]
