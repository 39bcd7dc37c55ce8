"""What the Review dock does: run a review as a job, open one, and act on its regions in the editor.

- A dataset opens: its newest finished review opens (``list_reviews``); the
  picker offers the older ones.
- *Find label errors*: ``run_review`` as a :class:`~.review_job.ReviewJob`
  with the dock's folds and budget; the fold models train with the Training
  dock's settings (network, loss, crop …; not its budget). Refused while a
  training job runs (both would share the same cores). Progress in the dock,
  Cancel ends it and the review removes its folder; a failure is a message.
- Selecting a region opens its pair (:meth:`MainWindow.show_pair`: unsaved
  edits are autosaved or asked about, as when changing image), zooms to the
  region and draws the model's prediction (:class:`~.review_layer.PredictionLayer`),
  which goes when another pair is shown.
- *Accept*: :func:`~fcnstudio.core.review.region_pixels` take the predicted
  class through Predict's path (:func:`~.predict_action.replace_mask`): one
  undo step, nothing written until the user saves. *Dismiss*: remembered in
  ``reviews/dismissed.json`` and gone from the queue; the next region is shown.
- *Train again*: the current mask is saved (or asked about), the Training
  dock starts a run with its settings, and when it ends the Runs dock shows it
  beside the dataset's newest run from before (the run the fixes are measured
  against).
"""

from __future__ import annotations

import math
from pathlib import Path

from PyQt6.QtCore import QObject
from PyQt6.QtWidgets import QDockWidget

from fcnstudio.core.review import ReviewQueue, list_reviews, read_probs, region_pixels, reviews_dir
from fcnstudio.core.review.regions import predicted_classes
from fcnstudio.core.runs import list_runs
from fcnstudio.gui.predict_action import replace_mask
from fcnstudio.gui.review_arrays import region_view
from fcnstudio.gui.review_job import review_job

__all__ = ["NOT_CARRIED", "ReviewController"]

#: Training settings the fold models do not take (the review sets its own budget and folders)
NOT_CARRIED = ("max_steps", "epochs", "max_minutes", "resume", "out_dir")


def _raise(widget) -> None:
    """Show and raise the dock that holds ``widget`` (the panel sits in a scroll area inside it)."""
    while widget is not None and not isinstance(widget, QDockWidget):
        widget = widget.parentWidget()
    if widget is not None:
        widget.show()
        widget.raise_()


class ReviewController(QObject):
    """The Review dock's work for ``window`` (a MainWindow); ``panel`` shows it, ``actions`` trigger it."""

    def __init__(self, window, panel, actions: dict, layer) -> None:
        super().__init__(panel)
        self.window, self.panel, self.actions, self.layer = window, panel, actions, layer
        self.session, self.canvas = window.session, window.canvas
        self.queue: ReviewQueue | None = None
        self.current = None  # the selected QueueItem
        self.job = None
        self._probs = None  # (path, probs, pred) of the image shown
        self._before = None  # (newest run name, all run names) when Train again started

    # ------------------------------------------------------------------ reviews

    @property
    def root(self):
        ds = self.session.dataset
        return ds.root if ds is not None else None

    def on_dataset(self) -> None:
        """A dataset opened: show its newest review (or none)."""
        folders = list_reviews(self.root) if self.root is not None else []
        self.open_review(folders[0] if folders else None)

    def open_review(self, folder) -> bool:
        """Open the review in ``folder`` (None: no review); a review that cannot be read is a message."""
        queue, problem = None, ""
        if folder is not None and self.root is not None:
            try:
                queue = ReviewQueue.read(self.root, folder)
            except ValueError as exc:
                problem = f"This review cannot be read: {exc}"
        if queue is not None and self.queue is not None:
            queue.set_order(self.queue.order)
        self.queue, self.current, self._probs = queue, None, None
        self._clear_layer()
        self.panel.show_reviews(list_reviews(self.root) if self.root is not None else [], folder)
        self.panel.show_queue(queue)
        self.panel.show_item(queue, None)
        if queue is not None:
            self.panel.set_status(_summary(queue))
        elif self.job is None:
            self.panel.set_status(problem or "No review of this dataset yet: press Find label errors.")
        self.update_actions()
        return queue is not None

    def set_order(self, order: str) -> None:
        if self.queue is not None:
            self.queue.set_order(order)
            self.panel.show_queue(self.queue)
            if self.current is not None:
                self.panel.show_item(self.queue, self.current)

    # ------------------------------------------------------------------ the job

    def fold_config(self) -> dict:
        """The fold models' TrainConfig fields: the Training dock's, less its budget."""
        return {k: v for k, v in self.window.training.config().items() if k not in NOT_CARRIED}

    def start(self) -> bool:
        """Start a review of the open dataset with the dock's settings; False when it cannot start now."""
        if self.job is not None or self.root is None:
            return False
        _raise(self.panel)
        if self.window.training.busy:
            self._say("A training job is running: stop it or let it finish before a review (they share the cores)")
            return False
        folds, minutes, steps = self.panel.settings.values()
        self.panel.settings.save()
        job = self.job = review_job(str(self.root), folds, minutes, steps, self.fold_config(), parent=self)
        job.stage.connect(self.panel.show_progress)
        job.warned.connect(lambda fold, ev: self._say(f"Review, fold {fold}: {ev.code} at step {ev.step}"))
        job.result.connect(self._on_result)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(lambda: self.panel.set_status("Review cancelled: nothing was kept."))
        job.finished.connect(self._on_finished)
        job.start()
        self.panel.set_running(True)
        note = " (unsaved edits of the current image are not in it)" if self.session.dirty else ""
        self.panel.set_status("Checking the labels…" + note)
        self.update_actions()
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.panel.set_status("Cancelling…")

    def _on_result(self, outcome) -> None:
        if self.root is None or Path(outcome.folder).parent.resolve() != reviews_dir(self.root).resolve():
            self._say(f"The review of {outcome.review.dataset} is done: open that dataset to see it", 15000)
            return
        self.open_review(outcome.folder)
        verdict = "ready" if outcome.review.trusted else "not trusted (see the dock)"
        self._say(f"Review {outcome.folder.name} {verdict}: {self.queue.left if self.queue else 0} region(s)")

    def _on_failed(self, error) -> None:
        reason = getattr(error, "reason", "") or error.message
        self.panel.set_status(f"The review did not run: {reason}")
        self._say(f"The review did not run: {reason.splitlines()[0] if reason else error.message}", 15000)

    def _on_finished(self) -> None:
        job, self.job = self.job, None
        if job is not None:
            job.wait()
            job.deleteLater()
        self.panel.set_running(False)
        self.update_actions()

    def shutdown(self) -> bool:
        """Stop a running review and join its thread (the window or the dock is going); True when none is left."""
        job = self.job
        if job is None:
            return True
        return job.shutdown()

    # ------------------------------------------------------------------ regions

    def select(self, key) -> bool:
        """Open the region with ``key``: its pair, zoomed to it, with the prediction layer."""
        item = self.queue.find(key) if self.queue is not None and key is not None else None
        if item is None:
            return False
        if not self.window.show_pair(item.image.mask):
            self.panel.show_item(self.queue, self.current)  # unsaved edits kept the pair: keep the selection
            return False
        self.current = item
        self._show_layer()
        scale, cx, cy = region_view(item.region.box, (self.canvas.width(), self.canvas.height()),
                                    self.canvas.image_size() or (1, 1))
        self.canvas.zoom_to(scale)
        self.canvas.center_on(cx, cy)
        self.panel.show_item(self.queue, item)
        self.update_actions()
        return True

    def step(self, delta: int) -> bool:
        if self.queue is None or not self.panel.regions_shown():
            return False
        item = self.queue.step(self.current.key if self.current is not None else None, delta)
        if item is None:
            self._say("That was the last region" if delta > 0 else "That was the first region")
            return False
        return self.select(item.key)

    def _on_item_pair(self) -> bool:
        pair = self.session.pair
        return (self.current is not None and pair is not None and pair.mask is not None
                and self.session.dataset.relative(pair.mask) == self.current.image.mask)

    def _inputs(self):
        """``(probs, pred, thresholds)`` of the current region's image, read once per image; None with a message."""
        item = self.current
        path = self.queue.folder / item.image.probs
        if self._probs is None or self._probs[0] != path:
            try:
                probs = read_probs(path).probs
            except ValueError as exc:
                self._say(f"The review's probabilities cannot be read: {exc}", 10000)
                return None
            self._probs = (path, probs, predicted_classes(probs)[0])
        _, probs, pred = self._probs
        mask = self.session.mask
        if mask is None or probs.shape[:2] != mask.shape:
            self._say("This mask's size is not the one the review saw", 10000)
            return None
        thresholds = self.queue.thresholds(item.image.fold) or (math.nan,) * probs.shape[2]
        return probs, pred, thresholds

    def _show_layer(self) -> None:
        inputs = self._inputs() if self._on_item_pair() else None
        if inputs is None:
            self._clear_layer()
            return
        probs, pred, thresholds = inputs
        project = self.session.project
        try:
            self.layer.show(probs, pred, self.session.mask, project.colors, thresholds, project.ignore_index,
                            self.current.region.box)
        except ValueError as exc:  # the mask holds a class the review did not know
            self._say(f"The prediction cannot be drawn over this mask: {exc}", 10000)
            self.layer.clear()
        self.canvas.update()

    def _clear_layer(self) -> None:
        if self.layer.shown:
            self.layer.clear()
            self.canvas.update()

    def on_pair_changed(self) -> None:
        """Another pair (or the same one read again): the layer follows the region's pair, else goes."""
        if self._on_item_pair():
            self._show_layer()
        else:
            self._clear_layer()

    def on_mask_changed(self, rect) -> None:
        if not self.layer.shown:
            return
        if rect is None:
            self._show_layer()
            return
        self.layer.refresh(self.session.mask, rect)
        self.canvas.update(self.canvas.widget_rect(rect))

    def trigger(self, key: str) -> None:
        """Do what the Review action ``key`` (:data:`~.review_menu.ACTIONS`, all but the layer toggle) asks."""
        {"find": self.start, "cancel": self.cancel, "next": lambda: self.step(1), "previous": lambda: self.step(-1),
         "accept": self.accept, "dismiss": self.dismiss, "train_again": self.train_again}[key]()

    def set_layer_visible(self, on: bool) -> None:
        self.layer.visible = bool(on)
        self.canvas.update()

    def accept(self) -> bool:
        """Write the model's class into the region's pixels: one undo step, not saved."""
        item = self.current
        if item is None or (not self._on_item_pair() and not self.select(item.key)):
            self._say("Select a region first")
            return False
        s = self.session
        if not s.editable:
            self._say("This mask is read-only; fix it before accepting regions into it")
            return False
        inputs = self._inputs()
        if inputs is None:
            return False
        probs, _, thresholds = inputs
        try:
            pixels = region_pixels(probs, s.mask, thresholds, item.region, s.project.ignore_index)
        except ValueError as exc:
            self._say(f"Not accepted: {exc}", 10000)
            return False
        new = s.mask.copy()
        new[pixels] = item.region.predicted
        changed = replace_mask(s, new)
        self.queue.accept(item)
        self.panel.list.mark(self.queue, item)
        self.panel.show_count(self.queue)
        self.panel.show_item(self.queue, item)
        self.update_actions()
        name = self.queue.class_name(item.region.predicted)
        self._say(f"{int(pixels.sum())} px are now {name}: one undo step (Ctrl+Z), not saved yet (Ctrl+S)" if changed
                  else "Nothing to change: the mask already agrees with the model there")
        return True

    def dismiss(self) -> bool:
        """Remember that the label is right here, and go to the region that takes its place."""
        item = self.current
        if item is None or self.queue is None:
            self._say("Select a region first")
            return False
        keys = [it.key for it in self.queue.items()]
        at = keys.index(item.key) if item.key in keys else 0
        try:
            self.queue.dismiss(item)
        except (OSError, ValueError) as exc:
            self._say(f"Not dismissed: {exc}", 10000)
            return False
        self.current = None
        self.panel.show_queue(self.queue)
        self._say(f"Dismissed: later reviews of {item.image.stem} will not bring this region back")
        items = self.queue.items()
        if items and self.select(items[min(at, len(items) - 1)].key):
            return True
        self._clear_layer()
        self.panel.show_item(self.queue, None)
        self.update_actions()
        return True

    # ------------------------------------------------------------------ the loop: train again

    def train_again(self) -> bool:
        """Train with the Training dock's settings on the fixed masks; the Runs dock shows before and after."""
        training = self.window.training
        if self.job is not None or training.busy or self.root is None:
            self._say("A review or a training job is running; wait for it first")
            return False
        if not self.session.resolve_unsaved(self.window.ask):
            return False
        runs = list_runs(self.root).runs
        self._before = (runs[0].name if runs else None, {r.name for r in runs})
        if not training.start():
            return False
        _raise(training)
        training.busy_changed.connect(self._after_training)
        before = f" beside {runs[0].name}" if runs else ""
        self._say(f"Training on the fixed masks; when it ends the Runs dock shows the run{before}", 10000)
        return True

    def _after_training(self, busy: bool) -> None:
        if busy or self._before is None:
            return
        self.window.training.busy_changed.disconnect(self._after_training)
        newest, earlier = self._before
        self._before = None
        runs = getattr(self.window, "runs", None)
        if runs is None:
            return
        runs.refresh()
        runs.select_runs([r.name for r in runs.runs if r.name not in earlier] + ([newest] if newest else []))
        _raise(runs)

    # ------------------------------------------------------------------ state

    def update_actions(self) -> None:
        a, running = self.actions, self.job is not None
        listed = self.queue is not None and self.panel.regions_shown() and bool(self.queue.items())
        a["find"].setEnabled(self.root is not None and not running)
        a["cancel"].setEnabled(running)
        for key in ("previous", "next"):
            a[key].setEnabled(listed)
        for key in ("accept", "dismiss"):
            a[key].setEnabled(listed and self.current is not None)
        a["train_again"].setEnabled(self.root is not None and not running)

    def _say(self, text: str, ms: int = 8000) -> None:
        self.window.show_status(text, ms)


def _summary(queue) -> str:
    r = queue.review
    n = len(queue.items())
    head = f"Review {queue.name}: {len(r.images)} image(s) ranked, {n} region(s)"
    return head + (f", {len(r.unranked)} image(s) not ranked." if r.unranked else ".")
