"""The one job contract (gui/jobs.py), and the leak guard that checks every GUI test leaves no thread running."""

from __future__ import annotations

import threading

from leaks import left_running
from PyQt6.QtCore import QThread

from fcnstudio.gui.jobs import Job, JobError, live_jobs


def record(job: Job) -> list:
    got = []
    job.started.connect(lambda: got.append("started"))
    job.progress.connect(lambda d, t, _loss: got.append(("progress", d, t)))
    job.result.connect(lambda v: got.append(("result", v)))
    job.failed.connect(lambda e: got.append(("failed", e)))
    job.cancelled.connect(lambda: got.append("cancelled"))
    job.finished.connect(lambda: got.append("finished"))
    return got


def test_signals_come_in_order_and_finished_means_joined(qtbot):
    def work(job):
        for i in range(3):
            job.report_progress(i + 1, 3)
        return 42

    job = Job(work, "count")
    got = record(job)
    with qtbot.waitSignal(job.finished, timeout=5000):
        job.start()
    assert got[0] == "started" and got[-2:] == [("result", 42), "finished"]
    assert ("progress", 3, 3) in got  # the last progress always goes out
    assert not job.running and job.wait(0) and job not in live_jobs()


def test_an_exception_becomes_a_message_not_a_traceback(qtbot):
    def work(job):
        raise ValueError("the folder has no masks/ sub-folder")

    job = Job(work, "check")
    got = record(job)
    with qtbot.waitSignal(job.finished, timeout=5000):
        job.start()
    (err,) = [v for k, v in (g for g in got if isinstance(g, tuple)) if k == "failed"]
    assert isinstance(err, JobError) and err.reason == "the folder has no masks/ sub-folder"
    assert err.message == "check failed: ValueError: the folder has no masks/ sub-folder"
    assert "Traceback" not in err.message and "Traceback" in err.detail


def test_cancel_is_cooperative_and_ends_in_cancelled(qtbot):
    entered = threading.Event()

    def work(job):
        entered.set()
        job.stop_event.wait(30)  # real work polls stop_requested between steps
        return "partial result nobody wants"

    job = Job(work, "plan")
    got = record(job)
    job.start()
    assert entered.wait(5)
    with qtbot.waitSignal(job.finished, timeout=5000):
        job.cancel()
    assert "cancelled" in got and not any(isinstance(g, tuple) and g[0] == "result" for g in got)


def test_a_job_that_cannot_be_cancelled_runs_to_its_end(qtbot):
    release = threading.Event()
    job = Job(lambda job: (release.wait(5), "written")[1], "fix", cancellable=False)
    got = record(job)
    job.start()
    job.cancel()
    with qtbot.waitSignal(job.finished, timeout=5000):
        release.set()
    assert ("result", "written") in got and "cancelled" not in got


class _Blocked(QThread):
    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.setObjectName("held-open")
        self.release = release

    def run(self) -> None:
        self.release.wait(30)


def test_the_leak_guard_sees_a_qthread_left_running():
    release = threading.Event()
    thread = _Blocked(release)
    thread.start()
    try:
        assert left_running(grace_ms=50) == ["QThread 'held-open'"]
    finally:
        release.set()
        assert thread.wait(5000)
    assert left_running(grace_ms=50) == []


def test_the_leak_guard_sees_a_job_left_running():
    release = threading.Event()
    job = Job(lambda job: release.wait(30), "held-open")
    job.start()
    try:
        assert left_running(grace_ms=50) == ["job 'held-open'"]
    finally:
        release.set()
        assert job.shutdown(5000)
    assert left_running(grace_ms=50) == []
