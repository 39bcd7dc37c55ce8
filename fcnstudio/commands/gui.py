"""`fcnstudio [gui] [DATASET]`: open the window on DATASET, else the last one opened, else the bundled sample.

Set ``FCNSTUDIO_EXIT_AFTER_SHOW=1`` to print ``FCNSTUDIO_SHOWN <seconds since
process start>`` once the window is on screen and quit (startup benchmark).
"""

from __future__ import annotations

import os
import sys
import time

EXIT_AFTER_SHOW_ENV = "FCNSTUDIO_EXIT_AFTER_SHOW"


def _process_age() -> float:
    """Seconds since this process started (Linux /proc), else since this module was imported."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter() - _IMPORTED


_IMPORTED = time.perf_counter()


def candidates(arg: str | None, settings) -> list[str]:
    """Datasets to try, in order: the argument; else the last opened, then the sample."""
    if arg:
        return [arg]
    out = []
    if settings.last_dataset:
        out.append(settings.last_dataset)
    try:
        from fcnstudio.core.resources import sample_dataset

        out.append(str(sample_dataset()))
    except (ImportError, OSError):
        pass
    return out


def run(args) -> int:
    from PyQt6.QtCore import QTimer

    from fcnstudio.gui.app import Settings, create_app, install_excepthook
    from fcnstudio.gui.jobs import live_jobs, preload
    from fcnstudio.gui.main_window import MainWindow

    app = create_app(sys.argv[:1])
    settings = Settings()
    window = MainWindow(settings=settings)
    install_excepthook(window.report_error)
    paths = candidates(getattr(args, "dataset", None), settings)
    for i, path in enumerate(paths):
        if window.open_dataset(path) or getattr(args, "dataset", None):
            break
    window.show()
    preloading = preload()
    if os.environ.get(EXIT_AFTER_SHOW_ENV):
        def report() -> None:
            window.repaint()
            print(f"FCNSTUDIO_SHOWN {_process_age():.3f}", flush=True)
            window.close()  # the normal way out: joins every worker thread

        QTimer.singleShot(0, report)
    rc = app.exec()
    if window.isVisible():  # the loop ended some other way: still stop the threads first
        window.close()
    for job in live_jobs():  # no job thread may outlive the app: one killed inside a torch op aborts it
        job.shutdown()
    preloading.join()
    # Widgets go before the QApplication, never in the interpreter's arbitrary exit order.
    window.deleteLater()
    app.sendPostedEvents(None, 0)
    del window
    return rc
