"""Drive every FCN Studio entry point over a hostile dataset and judge how it copes.

Each ``run_*`` function takes a dataset built by :func:`hostile.build_dataset`
and returns a :class:`Report`: per placed case, whether that entry point handled
it cleanly, and the problems found. "Cleanly" means (the crash-only contract):

- in-process APIs either succeed or raise one of FCN Studio's own ``ValueError``
  subclasses (``ImageReadError``, ``DatasetError``, ``ProjectError``,
  ``DataError``, ``SessionError`` ...) whose message names the file; anything
  else (``IndexError``, ``cv2.error``, ``MemoryError``, ``struct.error``, a
  plain numpy ``ValueError`` ...) is a bug;
- a file that does not decode is *reported* (an ``unreadable`` finding, a load
  error naming it), never silently dropped;
- commands exit with their documented codes, print no traceback, and their
  one-line messages name the file;
- nothing outside the dataset (or run folder) is touched.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import hostile
from hostile import Placed

REPO = Path(__file__).resolve().parents[2]

#: Bugs already reported in files other teams own: substring of a problem -> bug id.
#: The corpus runs set the cases that hit them aside (so every other case is still
#: checked); each has a strict-xfail test reproducing it, which turns red once fixed.
KNOWN: dict[str, str] = {
    # e.g. "in _ramp_features": "BUG-mask-stats-empty-dominant"  (found by this suite; fixed)
}


@dataclass
class Report:
    entry: str
    #: case name -> list of problems (empty list = handled cleanly)
    results: dict[str, list[str]] = field(default_factory=dict)
    #: problems not tied to one case (a crash of the whole entry point)
    general: list[str] = field(default_factory=list)
    #: ``role:name`` of placements left out of this run because they hit a KNOWN bug
    set_aside: set = field(default_factory=set)

    def add(self, key: str, problem: str | None = None) -> None:
        self.results.setdefault(key, [])
        if problem:
            self.results[key].append(problem)

    @property
    def handled(self) -> int:
        return sum(1 for v in self.results.values() if not v) if not self.general else 0

    @property
    def total(self) -> int:
        return len(self.results)

    def problems(self) -> list[str]:
        out = [f"{self.entry}: {p}" for p in self.general]
        out += [f"{self.entry}: {k}: {p}" for k, v in self.results.items() for p in v]
        return out


def key_of(p: Placed) -> str:
    return f"{p.role}:{p.case.name}"


def _names(*paths) -> list[str]:
    return [Path(p).name for p in paths if p is not None]


def judge_exception(exc: BaseException, names: list[str]) -> str | None:
    """None when ``exc`` honours the crash-only contract, else what is wrong with it."""
    kind = type(exc)
    ours = isinstance(exc, ValueError) and kind.__module__.startswith("fcnstudio")
    if not ours:
        tb = "".join(traceback.format_exception(exc)[-4:]).strip().replace("\n", " | ")
        return f"raised {kind.__module__}.{kind.__qualname__}: {str(exc)[:300]} [{tb[-600:]}]"
    msg = str(exc)
    if names and not any(n in msg for n in names):
        return f"{kind.__name__} does not name the file ({names[0]!r}): {msg[:200]}"
    if "\n" in msg.strip():
        return f"{kind.__name__}: message is not one line: {msg[:200]!r}"
    return None


# ---------------------------------------------------------------- browser


def run_browser(root: Path, placed: list[Placed]) -> tuple[Report, dict[str, bool]]:
    """open_dataset + decode every listed file as the browser does. Also returns ``decodes``
    (case key -> whether the hostile file decoded), which the other entry points use."""
    from fcnstudio.core.dataset import open_dataset
    from fcnstudio.core.io import read_header, read_image, read_mask_file

    rep = Report("browser")
    decodes: dict[str, bool] = {}
    try:
        ds = open_dataset(root)
    except BaseException as exc:  # noqa: BLE001 - judged below
        rep.general.append(judge_exception(exc, [root.name]) or f"open_dataset refused the dataset: {exc}")
        return rep, decodes
    listed = {os.path.abspath(p) for pair in ds.pairs for p in (pair.image, pair.mask) if p is not None}
    for name in listed:
        if os.path.basename(name).startswith("."):
            rep.general.append(f"a dotfile was listed as data: {name}")
    for pl in placed:
        key = key_of(pl)
        rep.add(key)
        if pl.path is None:
            continue
        shown = os.path.abspath(pl.path) in listed
        if not pl.case.listed:
            if shown:
                rep.add(key, f"{pl.path.name} was listed (a {pl.case.name} must be skipped)")
            continue
        if not shown:
            rep.add(key, f"{pl.path.name} is not listed")
            continue
        ok = True
        readers = (read_header, read_image) if pl.role == "image" else (read_header, read_mask_file)
        for reader in readers:
            try:
                out = reader(pl.path)
                if reader is read_image:
                    _check_array(out, rep, key)
                elif reader is read_mask_file:
                    _check_array(out.array, rep, key)
            except BaseException as exc:  # noqa: BLE001
                if isinstance(exc, KeyboardInterrupt):
                    raise
                if reader is not read_header:
                    ok = False
                problem = judge_exception(exc, _names(pl.path))
                if problem:
                    rep.add(key, f"{reader.__name__}: {problem}")
        decodes[key] = ok
    return rep, decodes


def _check_array(arr, rep: Report, key: str) -> None:
    if not isinstance(arr, np.ndarray) or arr.ndim not in (2, 3) or arr.size == 0:
        rep.add(key, f"decoded to {type(arr).__name__} {getattr(arr, 'shape', '?')}")


# ---------------------------------------------------------------- checker (in-process)


def run_checker(root: Path, placed: list[Placed], decodes: dict[str, bool]) -> Report:
    from fcnstudio.core.checker.run import check_dataset
    from fcnstudio.core.dataset import open_dataset

    rep = Report("checker")
    try:
        result = check_dataset(root, workers=1)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        rep.general.append(judge_exception(exc, []) or f"check_dataset raised {type(exc).__name__}: {exc}")
        _blame_pairs(rep, root, placed)
        return rep
    ds = open_dataset(root)
    _judge_findings(rep, [f.to_json() for f in result.findings], placed, decodes, ds.relative)
    return rep


def _blame_pairs(rep: Report, root: Path, placed: list[Placed]) -> None:
    """After a checker crash: analyse each hostile pair alone to say which input crashes it."""
    from fcnstudio.core.dataset import open_dataset
    from fcnstudio.core.checker.pair_stats import PairTask, analyse_pair

    ds = open_dataset(root)
    by_path = {os.path.abspath(p): pair for pair in ds.pairs for p in (pair.image, pair.mask) if p is not None}
    for pl in placed:
        pair = by_path.get(os.path.abspath(pl.path)) if pl.path is not None else None
        if pair is None:
            continue
        task = PairTask(0, pair.stem, str(pair.image) if pair.image else None, str(pair.mask) if pair.mask else None,
                        ds.relative(pair.image), ds.relative(pair.mask))
        try:
            analyse_pair(task)
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            rep.add(key_of(pl), f"analyse_pair: {judge_exception(exc, []) or exc}")


def _judge_findings(rep: Report, findings: list[dict], placed: list[Placed], decodes: dict[str, bool], relative) -> None:
    unreadable = {f for x in findings if x["code"] == "unreadable" for f in x["files"]}
    named = {f for x in findings for f in x["files"]}
    for pl in placed:
        key = key_of(pl)
        rep.add(key)
        if pl.path is None or not pl.case.listed:
            continue
        rel = relative(pl.path)
        if decodes.get(key) is False and rel not in unreadable:
            rep.add(key, f"{rel} does not decode but is not reported as unreadable"
                    + (" (named by: " + ", ".join(x["code"] for x in findings if rel in x["files"]) + ")"
                       if rel in named else ""))


# ---------------------------------------------------------------- checker (CLI)


def cli(args: list[str], cwd: Path, timeout: float = 300, env: dict | None = None,
        prelude: str = "") -> subprocess.CompletedProcess:
    """Run ``fcnstudio ARGS`` in a fresh interpreter (``prelude``: Python run first, e.g. a fault injection)."""
    code = f"import sys; sys.path.insert(0, {str(REPO)!r}); {prelude}\nfrom fcnstudio.cli import main; sys.exit(main())"
    e = dict(os.environ)
    e.setdefault("QT_QPA_PLATFORM", "offscreen")
    e["PYTHONPATH"] = str(REPO)
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, timeout=timeout,
                          env=e)


def judge_cli(proc: subprocess.CompletedProcess, ok_codes: tuple[int, ...], names: list[str] | None = None,
              what: str = "") -> list[str]:
    problems = []
    err = proc.stderr.decode("utf-8", "replace")
    if "Traceback" in err:
        problems.append(f"{what}: traceback on stderr: ...{err[-800:]!r}")
    if proc.returncode not in ok_codes:
        problems.append(f"{what}: exit code {proc.returncode}, expected one of {ok_codes}; stderr {err[-400:]!r}")
    if proc.returncode == 2:
        # one error line, "fcnstudio CMD: ...", last (progress lines such as "checking ..." may precede it)
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("fcnstudio")]
        if len(errors) != 1 or lines[-1] != errors[0]:
            problems.append(f"{what}: exit 2 should end with one 'fcnstudio ...:' line, got: {err[-400:]!r}")
        elif names and not any(n in errors[0] for n in names):
            problems.append(f"{what}: message does not name {names[0]!r}: {errors[0][-300:]!r}")
    return problems


def run_cli_check(root: Path, placed: list[Placed], decodes: dict[str, bool], timeout: float = 300) -> Report:
    from fcnstudio.core.dataset import open_dataset

    rep = Report("cli-check")
    try:
        proc = cli(["check", str(root), "--json", "--workers", "1", "--no-progress"], cwd=root.parent, timeout=timeout)
    except subprocess.TimeoutExpired:
        rep.general.append(f"fcnstudio check did not finish in {timeout:.0f} s")
        return rep
    rep.general.extend(judge_cli(proc, (0, 1), what="check --json"))
    try:
        data = json.loads(proc.stdout.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        rep.general.append(f"stdout is not one JSON object ({exc}): {proc.stdout[:300]!r}")
        return rep
    has_error = any(f.get("severity") == "error" for f in data.get("findings", []))
    if proc.returncode != (1 if has_error else 0):
        rep.general.append(f"exit code {proc.returncode} does not match error findings ({has_error})")
    ds = open_dataset(root)
    _judge_findings(rep, data.get("findings", []), placed, decodes, ds.relative)
    return rep


# ---------------------------------------------------------------- editor


def run_editor(root: Path, placed: list[Placed], decodes: dict[str, bool]) -> Report:
    """Open every pair in an :class:`EditSession`; paint and save the editable ones."""
    from fcnstudio.core.session import EditSession

    rep = Report("editor")
    s = EditSession(autosave=False)
    try:
        return _drive_editor(s, root, placed, decodes, rep)
    finally:
        s.shutdown()  # joins its read-ahead thread


def _drive_editor(s, root: Path, placed: list[Placed], decodes: dict[str, bool], rep: Report) -> Report:
    from fcnstudio.core.edits import brush
    from fcnstudio.core.io import read_mask_file
    from fcnstudio.core.session import ASK_DISCARD

    try:
        s.open(root)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        rep.general.append(judge_exception(exc, []) or f"open refused the dataset: {exc}")
        return rep
    by_path = {}
    for i, pair in enumerate(s.dataset.pairs):
        for p in (pair.image, pair.mask):
            if p is not None:
                by_path[os.path.abspath(p)] = i
    for pl in placed:
        key = key_of(pl)
        rep.add(key)
        if pl.path is None or not pl.case.listed:
            continue
        i = by_path.get(os.path.abspath(pl.path))
        if i is None:
            rep.add(key, "not in the session's pair list")
            continue
        try:
            if not s.go_to(i, ask=lambda *a: ASK_DISCARD):
                rep.add(key, "go_to refused")
                continue
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            rep.add(key, f"go_to: {judge_exception(exc, _names(pl.path)) or exc}")
            continue
        said = " ".join(s.load_errors) + (" " + s.read_only.message if s.read_only else "")
        if decodes.get(key) is False and pl.path.name not in said:
            rep.add(key, f"{pl.path.name} does not decode but the editor does not say so: {said[:200]!r}")
        if not s.editable:
            continue
        try:
            h, w = s.mask.shape
            value = 1 if s.project.num_classes > 1 else 0
            s.apply(brush, (w / 2, h / 2), (w / 2, h / 2), radius=3, value=value)
            target = s.save()
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            problem = judge_exception(exc, _names(pl.path, pl.partner))
            if problem:
                rep.add(key, f"paint+save: {problem}")
            continue
        if target is not None:
            try:
                back = read_mask_file(target).array
                if not np.array_equal(back, s.mask):
                    rep.add(key, f"saved {target.name} does not read back as the edited mask")
            except BaseException as exc:  # noqa: BLE001
                rep.add(key, f"saved {target.name} does not read back: {type(exc).__name__}: {exc}")
    return rep


# ---------------------------------------------------------------- training data


def run_train_data(root: Path, placed: list[Placed], decodes: dict[str, bool]) -> Report:
    """The training loader: PairStore.load of every complete pair, then crops of those that load."""
    from fcnstudio.core.dataset import open_dataset
    from fcnstudio.core.labels import load_project
    from fcnstudio.train.crops import CropSampler
    from fcnstudio.train.data import PairStore
    from fcnstudio.train.preprocess import channel_mode

    rep = Report("train-data")
    try:
        ds = open_dataset(root)
        project = load_project(ds)
        mode = channel_mode(ds)
        pairs = ds.complete_pairs
        store = PairStore(ds, pairs, project, mode, cache_mb=64)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        rep.general.append(judge_exception(exc, ["fcnstudio.json"]) or f"setup refused: {exc}")
        return rep
    index = {}
    for i, pair in enumerate(pairs):
        for p in (pair.image, pair.mask):
            index[os.path.abspath(p)] = i
    loaded = []
    for pl in placed:
        key = key_of(pl)
        rep.add(key)
        if pl.path is None or not pl.case.listed:
            continue
        i = index.get(os.path.abspath(pl.path))
        if i is None:
            rep.add(key, "not among the complete pairs")
            continue
        try:
            store.load(i)
            loaded.append(i)
            if decodes.get(key) is False:
                rep.add(key, f"{pl.path.name} does not decode, yet the loader accepted it")
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            problem = judge_exception(exc, _names(pl.path, pl.partner))
            if problem:
                rep.add(key, f"load: {problem}")
    if loaded:
        rng = np.random.default_rng(0)
        try:
            store.scan(loaded)
            sampler = CropSampler(store, loaded, crop_size=32)
            for j in range(2 * len(loaded)):
                img, mask, _ = sampler.sample(rng, fg=bool(j % 2))
                if not np.all(np.isfinite(img)):
                    rep.general.append("a training crop holds NaN/Inf")
                    break
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            rep.general.append(f"sampling loaded pairs: {judge_exception(exc, []) or exc}")
    return rep


# ---------------------------------------------------------------- running an entry point over a corpus


def split_known(problems: list[str]) -> tuple[list[str], list[str]]:
    """(unexpected problems, problems of a KNOWN bug)."""
    unexpected, seen = [], []
    for p in problems:
        bug = next((b for pat, b in KNOWN.items() if pat in p), None)
        if bug:
            seen.append(f"[{bug}] {p}")
        else:
            unexpected.append(p)
    return unexpected, seen


def run_once(entry: str, base: Path, cases: list) -> Report:
    """A fresh dataset under ``base`` (with a sentinel folder beside it) and ``entry`` run over it."""
    root = base / "dataset"
    outside = base / "outside"
    outside.mkdir(parents=True)
    (outside / "sentinel.png").write_bytes(hostile.valid_files()["rgb.png"])
    before = hostile.snapshot(base, skip=(root,))
    placed = hostile.build_dataset(root, cases)
    rep, decodes = run_browser(root, placed)
    if entry != "browser":
        rep = ENTRIES[entry](root, placed, decodes)
    changes = hostile.diff_snapshots(before, hostile.snapshot(base, skip=(root,)))
    if changes:
        rep.general.append(f"files outside the dataset changed: {changes[:5]}")
    return rep


def _bugged(rep: Report) -> set[str]:
    """``role:name`` of the placements whose every problem is a KNOWN bug."""
    return {key for key, v in rep.results.items() if v and all(any(pat in x for pat in KNOWN) for x in v)}


def without(cases: list, bad: set[str]) -> list:
    """``cases`` minus the placements in ``bad`` (a case bad as a mask is still tried as an image)."""
    out = []
    for c in cases:
        roles = [r for r in (("image", "mask") if c.role == "both" else (c.role,)) if f"{r}:{c.name}" not in bad]
        if len(roles) == 2 or (roles and roles[0] == c.role):
            out.append(c)
        elif roles:
            out.append(dataclasses.replace(c, role=roles[0]))
    return out


def known_bug_cases(entry: str, base: Path, cases: list) -> set[str]:
    """``role:name`` of the placements that hit a KNOWN bug at ``entry``."""
    return _bugged(run_once(entry, base, cases))


def run_entry(entry: str, base: Path, cases: list) -> tuple[Report, list[str]]:
    """Run ``entry`` over ``cases``; when some hit a KNOWN bug, run again without those placements.

    Returns (the last report, the known problems seen).
    """
    rep = run_once(entry, base / "first", cases)
    _, hits = split_known(rep.problems())
    bad = _bugged(rep)
    if hits and bad:
        rep = run_once(entry, base / "again", without(cases, bad))
        rep.set_aside = bad
    return rep, hits


ENTRIES = {
    "checker": lambda root, placed, decodes: run_checker(root, placed, decodes),
    "cli-check": lambda root, placed, decodes: run_cli_check(root, placed, decodes),
    "editor": lambda root, placed, decodes: run_editor(root, placed, decodes),
    "train-data": lambda root, placed, decodes: run_train_data(root, placed, decodes),
}
