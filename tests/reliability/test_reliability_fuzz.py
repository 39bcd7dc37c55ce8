"""Mutation fuzzing: real PNG/JPEG/TIFF/GIF/BMP files made here, then bit-flipped, truncated and spliced.

100 mutants (seeded, so a failure reproduces) each go in as an image and as a
mask through the browser, the checker, the editor and the training loader; the
bench (``bench/reliability.py``) runs thousands. A failure message names the
mutant (``fuzz-NNNNN``) and how it was made (``hostile.fuzz_cases(100, seed)``).
"""

from __future__ import annotations

import pytest

import entrypoints as ep
import hostile

COUNT = 100
SEED = 20240611


@pytest.fixture(scope="module")
def mutants():
    return hostile.fuzz_cases(COUNT, SEED)


def test_mutants_really_are_broken_and_varied(mutants):
    """The fuzzer is not a no-op: most mutants differ from every seed file; all five formats are fuzzed."""
    seeds = set(hostile.valid_files().values())
    assert sum(c.data not in seeds for c in mutants) >= 0.95 * COUNT
    assert {c.suffix for c in mutants} >= {"png", "jpg", "tif", "gif", "bmp"}


@pytest.mark.parametrize("entry", ["browser", "checker", "editor", "train-data"])
def test_entry_point_meets_every_mutant(mutants, tmp_path, entry):
    rep, _ = ep.run_entry(entry, tmp_path, mutants)
    assert not rep.general, "\n".join(rep.general[:5])
    unexpected, _ = ep.split_known(rep.problems())
    notes = {f"{r}:{c.name}": c.note for c in mutants for r in ("image", "mask")}
    detail = [f"{p}  <- {notes.get(p.split(': ')[1], '')}" if p.count(": ") > 1 else p for p in unexpected]
    assert not unexpected, f"{len(unexpected)} mutants not handled cleanly:\n" + "\n".join(detail[:10])
    assert rep.total >= COUNT  # (fewer when cases hitting a known bug were set aside)
