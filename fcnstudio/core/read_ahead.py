"""Reading ahead: the neighbouring pairs' files read in one background thread while the user edits.

A user mostly steps through the pair list, so the session asks for the pairs
before and after the current one; when the user gets there, the files are
taken from here if they are still current on disk (else read again in the
foreground, where errors are reported).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterable

from .dataset import Pair
from .pair_files import PairFiles, read_pair, stamp

__all__ = ["PREFETCH_MAX_BYTES", "ReadAhead"]

#: Pairs are read ahead only while the current image is at most this large.
PREFETCH_MAX_BYTES = 256 * 2**20


class ReadAhead:
    """Pairs being read in the background, by their index in the dataset.

    :meth:`shutdown` joins the thread; the next :meth:`want` starts it again.
    """

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._ahead: dict[int, Future] = {}

    def take(self, index: int, pair: Pair) -> PairFiles | None:
        """The files of ``pair`` (at ``index``) read ahead, if still current on disk; else None."""
        future = self._ahead.pop(index, None)
        if future is None:
            return None
        try:
            files = future.result()
        except Exception:  # read again in the foreground, where errors are reported
            return None
        return files if files.pair == pair and files.stamp == stamp(pair) else None

    def want(self, pairs: Iterable[tuple[int, Pair]]) -> None:
        """Read exactly these ``(index, pair)`` ahead: others are cancelled, new ones started."""
        wanted = dict(pairs)
        for i in list(self._ahead):
            if i not in wanted:
                self._ahead.pop(i).cancel()
        for i in wanted.keys() - self._ahead.keys():
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fcnstudio-read-ahead")
            self._ahead[i] = self._executor.submit(read_pair, wanted[i])

    def wait(self, index: int) -> bool:
        """Wait until pair ``index`` is read; False when it is not being read ahead."""
        future = self._ahead.get(index)
        if future is None:
            return False
        try:
            future.result()
        except Exception:  # noqa: BLE001 - reported when the pair is read again in the foreground
            pass
        return True

    def cancel(self) -> None:
        """Forget every read in flight (another dataset was opened)."""
        for future in self._ahead.values():
            future.cancel()
        self._ahead.clear()

    def shutdown(self) -> None:
        """Cancel the reads and join the background thread."""
        self.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
