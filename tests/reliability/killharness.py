"""Kill a writer with SIGKILL at random moments and check that nothing was lost.

The writers run in a *zygote*: one child interpreter (``python killharness.py
zygote``) that imports FCN Studio (and torch when needed) once, then forks a
fresh writer process per round on request. A round is:

1. the harness asks the zygote for a writer (``{"writer": ..., "dir": ..., "seed": ...}``);
2. the forked writer prepares, prints ``GO <pid>`` and starts writing (in a
   loop, or once for a fix);
3. the harness sleeps a random 0..``max_delay_ms`` and sends ``SIGKILL`` to the
   writer's pid (a real, uncatchable kill of a real process, mid-syscall or not);
4. the zygote reaps it and prints ``EXIT <pid> <status>``;
5. the harness checks the files with a verifier for that writer.

Writers and what "survived" means (every write goes through
``core.io.atomic_write_bytes``):

- ``mask_save``: ``write_mask`` of a 1024x768 mask, alternating contents A and
  B. The target must decode to exactly A or exactly B (pixels and palette).
- ``project_file``: ``save_project`` alternating two projects; ``load_project``
  must give exactly one of them.
- ``checkpoint``: the trainer's checkpoint save (``train.checkpoint`` when it
  exists) alternating two state dicts; ``torch.load(weights_only=True)`` must
  give exactly one of them.
- ``fix``: ``core.fixes.apply_fix`` with backups over a dataset of 0/255 masks,
  killed once mid-run. For every mask: it is byte-identical to the original, or
  it is the fixed mask *and* a complete, byte-identical backup of the original
  exists under ``.fcnstudio/backup/``. Masks never fail to decode.

Leftover ``.NAME.*.tmp`` files are allowed (a kill between ``mkstemp`` and
``rename`` leaves one): their presence after a kill is how a round is counted
as "landed mid-write". They must never be taken for data: the harness checks
that ``open_dataset`` lists no dotfile.

A kill only tests a *process* crash (the page cache survives); power loss
would also need the fsyncs, which this harness cannot observe.
"""

from __future__ import annotations

import functools
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

MASK_SHAPE = (768, 1024)


# ================================================================ shared content


@functools.lru_cache(maxsize=2)
def mask_content(which: str):
    """Mask A or B: blocky class regions plus noise so the PNG takes real time to encode."""
    import numpy as np

    rng = np.random.default_rng(1 if which == "A" else 2)
    h, w = MASK_SHAPE
    small = rng.integers(0, 5, (h // 16, w // 16)).astype(np.uint8)
    m = np.kron(small, np.ones((16, 16), np.uint8))
    noise = rng.random((h, w)) < 0.05
    m[noise] = rng.integers(0, 5, int(noise.sum())).astype(np.uint8)
    return m


MASK_COLORS = {"A": [(0, 0, 0), (200, 0, 0), (0, 200, 0), (0, 0, 200), (90, 90, 90)],
               "B": [(0, 0, 0), (255, 255, 0), (0, 255, 255), (255, 0, 255), (10, 20, 30)]}


@functools.lru_cache(maxsize=2)
def project_content(which: str):
    from fcnstudio.core.project import ClassInfo, Project

    n = 6 if which == "A" else 9
    classes = tuple(ClassInfo(f"{which}-class-{i}-" + "x" * 40, (i * 20 % 256, (i * 50) % 256, 255 - i)) for i in range(n))
    return Project(classes=classes, label_map={255: 1} if which == "A" else {7: 2, (1, 2, 3): 3},
                   ignore_index=None if which == "A" else 255,
                   training={"lr": 0.001 if which == "A" else 0.02, "notes": which * 20000})


@functools.lru_cache(maxsize=2)
def checkpoint_content(which: str) -> dict:
    import torch

    g = torch.Generator().manual_seed(1 if which == "A" else 2)
    state = {f"layer{i}.weight": torch.randn(64, 64, 3, 3, generator=g) for i in range(6)}
    return {"model": state, "step": 100 if which == "A" else 200, "config": {"which": which}}


# ================================================================ writers (run in the forked child)


def _say(text: str) -> None:
    os.write(1, (text + "\n").encode())


def _writer_mask_save(d: Path, seed: int) -> None:
    from fcnstudio.core.io import write_mask

    target = d / "masks" / "m.png"
    contents = {k: mask_content(k) for k in "AB"}
    _say(f"GO {os.getpid()}")
    i = seed
    while True:
        k = "AB"[i % 2]
        write_mask(target, contents[k], MASK_COLORS[k])
        i += 1


def _writer_naive_mask_save(d: Path, seed: int) -> None:
    """The control: what a careless writer does (Pillow streams straight into the target).

    The harness must catch this one losing the mask, or it proves nothing.
    """
    from PIL import Image

    target = d / "masks" / "m.png"
    images = {}
    for k in "AB":
        img = Image.fromarray(mask_content(k), mode="P")
        img.putpalette([v for c in MASK_COLORS[k] + [(0, 0, 0)] * (256 - len(MASK_COLORS[k])) for v in c])
        images[k] = img
    _say(f"GO {os.getpid()}")
    i = seed
    while True:
        images["AB"[i % 2]].save(target, format="PNG", compress_level=1)
        i += 1


def _writer_project_file(d: Path, seed: int) -> None:
    from fcnstudio.core.project import save_project

    contents = {k: project_content(k) for k in "AB"}
    _say(f"GO {os.getpid()}")
    i = seed
    while True:
        save_project(d, contents["AB"[i % 2]])
        i += 1


def _writer_checkpoint(d: Path, seed: int) -> None:
    import torch

    torch.set_num_threads(1)
    save = checkpoint_saver()
    contents = {k: checkpoint_content(k) for k in "AB"}
    target = d / "last.pt"
    _say(f"GO {os.getpid()}")
    i = seed
    while True:
        save(target, contents["AB"[i % 2]])
        i += 1


def checkpoint_saver():
    """The app's own checkpoint writer: ``train.checkpoint.save_checkpoint(path, obj)`` when present."""
    from fcnstudio.train import checkpoint as ck  # noqa: F401 - ImportError when it does not exist yet

    for name in ("save_checkpoint", "save", "write_checkpoint"):
        fn = getattr(ck, name, None)
        if callable(fn):
            return fn
    raise ImportError("fcnstudio.train.checkpoint has no save_checkpoint()")


_PLANS: dict[str, object] = {}


def fix_plan(d: Path):
    """The binary-255 fix plan for dataset ``d`` (computed once per folder, in the zygote: every
    round restores the same dataset in the same folder, so one plan serves every forked writer)."""
    from fcnstudio.core import fixes
    from fcnstudio.core.checker.run import check_dataset

    key = str(d)
    if key not in _PLANS:
        _PLANS[key] = fixes.plan_fix(check_dataset(d, workers=1), "binary-255")
    return _PLANS[key]


def _writer_fix(d: Path, seed: int) -> None:
    from fcnstudio.core import fixes

    plan = fix_plan(d)
    _say(f"GO {os.getpid()}")
    fixes.apply_fix(plan)
    _say(f"FINISHED {os.getpid()}")
    os._exit(0)


def make_train_dataset(d: Path, n: int = 4, size: tuple[int, int] = (48, 64)) -> None:
    """A tiny two-class dataset the trainer accepts."""
    import numpy as np
    from PIL import Image

    (d / "images").mkdir(parents=True, exist_ok=True)
    (d / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    h, w = size
    for i in range(n):
        m = np.zeros((h, w), np.uint8)
        y, x = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
        m[y : y + h // 3, x : x + w // 3] = 1
        img = (rng.integers(0, 60, (h, w, 3)) + m[..., None] * 150).astype(np.uint8)
        Image.fromarray(img).save(d / "images" / f"t{i}.png")
        Image.fromarray(m).save(d / "masks" / f"t{i}.png")


def train_config(run_dir: Path):
    from fcnstudio.train.config import TrainConfig

    return TrainConfig(max_steps=None, max_minutes=10.0, width=2, depth=1, crop_size=32, batch_size=2,
                       eval_every_steps=2, eval_every_s=0.0, device="cpu", num_threads=1, preflight=False,
                       out_dir=str(run_dir), step_event_every=1, augment=False, seed=0, cache_mb=16)


def _writer_train_run(d: Path, seed: int) -> None:
    """A real training run (events.jsonl, config.json, best.pt, last.pt) into ``d/run``."""
    from fcnstudio.train.trainer import Trainer

    t = Trainer(d / "dataset", train_config(d / "run"))
    t.prepare()
    _say(f"GO {os.getpid()}")
    t.run()
    _say(f"FINISHED {os.getpid()}")
    os._exit(0)


def _verify_run_folder(d: Path) -> tuple[str | None, dict]:
    """config.json parses; each checkpoint loads; every events.jsonl line parses except maybe a torn last one."""
    from fcnstudio.train.checkpoint import CheckpointError, load_checkpoint

    run = d / "run"
    info = {"events": 0, "torn_last_line": False, "checkpoints": 0}
    if not run.exists():
        return None, info  # killed before the folder was made: nothing to lose yet
    cfg = run / "config.json"
    if cfg.exists():
        try:
            json.loads(cfg.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            return f"config.json is damaged: {exc}", info
    ev = run / "events.jsonl"
    if ev.exists():
        lines = ev.read_bytes().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        elif lines:
            info["torn_last_line"] = True  # no newline at the end: an interrupted append
        for i, line in enumerate(lines):
            try:
                json.loads(line)
                info["events"] += 1
            except ValueError:
                if i == len(lines) - 1:
                    info["torn_last_line"] = True
                    continue
                return f"events.jsonl line {i + 1} of {len(lines)} is damaged: {line[:80]!r}", info
    for name in ("best.pt", "last.pt"):
        if (run / name).exists():
            try:
                load_checkpoint(run / name)
                info["checkpoints"] += 1
            except CheckpointError as exc:
                return f"{name} does not load: {exc}", info
    return None, info


WRITERS = {
    "mask_save": _writer_mask_save,
    "naive_mask_save": _writer_naive_mask_save,
    "project_file": _writer_project_file,
    "checkpoint": _writer_checkpoint,
    "fix": _writer_fix,
    "train_run": _writer_train_run,
}


def _warm(writer: str) -> None:
    """Work done once in the zygote so that each forked writer starts writing at once."""
    import io

    if writer in ("mask_save", "naive_mask_save"):
        from fcnstudio.core.io import encode_mask_png

        encode_mask_png(mask_content("A"), MASK_COLORS["A"])
        mask_content("B")
    elif writer == "project_file":
        project_content("A"), project_content("B")
    elif writer == "checkpoint":
        import torch

        torch.save(checkpoint_content("A"), io.BytesIO())
        checkpoint_content("B")
    elif writer == "train_run":  # one prepare + a step, so the forked runs skip torch's lazy start-up
        import tempfile

        import torch

        from fcnstudio.train.trainer import Trainer

        torch.set_num_threads(1)
        with tempfile.TemporaryDirectory() as tmp:
            make_train_dataset(Path(tmp) / "dataset")
            cfg = train_config(Path(tmp) / "run")
            cfg.max_steps, cfg.max_minutes = 3, None
            t = Trainer(Path(tmp) / "dataset", cfg)
            t.run()


def zygote_main(writer: str, preload: list[str]) -> None:
    """Read one JSON command per line on stdin; fork a writer for each; report GO/EXIT on stdout."""
    import importlib

    for mod in preload:
        try:
            importlib.import_module(mod)
        except ImportError:
            pass
    try:
        _warm(writer)
    except ImportError:
        pass
    _say("READY")
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["writer"] == "fix":
            try:
                fix_plan(Path(cmd["dir"]))
            except Exception as exc:  # noqa: BLE001 - reported like a writer failure
                _say(f"FAILED 0 {type(exc).__name__}: {' '.join(str(exc).split())[:500]}")
                continue
        pid = os.fork()
        if pid == 0:  # the writer
            try:
                os.setsid()
                WRITERS[cmd["writer"]](Path(cmd["dir"]), int(cmd.get("seed", 0)))
            except BaseException as exc:  # noqa: BLE001 - report and die, never return into the zygote loop
                _say(f"FAILED {os.getpid()} {type(exc).__name__}: {' '.join(str(exc).split())[:500]}")
                os._exit(3)
            os._exit(0)
        _say(f"PID {pid}")
        _, status = os.waitpid(pid, 0)
        _say(f"EXIT {pid} {status}")


# ================================================================ verifiers (run in the harness)


def _tmp_files(folder: Path) -> set[str]:
    try:
        return {n for n in os.listdir(folder) if n.startswith(".") and n.endswith(".tmp")}
    except OSError:
        return set()


def _verify_mask(d: Path, expected) -> str | None:
    import numpy as np

    from fcnstudio.core.io import ImageReadError, read_mask_file

    target = d / "masks" / "m.png"
    try:
        mf = read_mask_file(target)
    except ImageReadError as exc:
        return f"mask does not decode: {exc}"
    for k in "AB":
        if mf.array.shape == expected[k].shape and np.array_equal(mf.array, expected[k]):
            pal = [tuple(int(v) for v in c) for c in mf.palette[: len(MASK_COLORS[k])]]
            if pal != MASK_COLORS[k]:
                return f"pixels are {k} but the palette is not"
            return None
    return "mask is neither A nor B"


def _verify_project(d: Path, expected) -> str | None:
    from fcnstudio.core.dataset import open_dataset
    from fcnstudio.core.labels import load_project
    from fcnstudio.core.project import ProjectError

    try:
        got = load_project(open_dataset(d))
    except ProjectError as exc:
        return f"fcnstudio.json does not load: {exc}"
    if got.inferred:
        return "fcnstudio.json is missing (settings were inferred)"
    for k in "AB":
        if got.to_json() == expected[k].to_json():
            return None
    return "fcnstudio.json is neither A nor B"


def _verify_checkpoint(d: Path, expected) -> str | None:
    import torch

    target = d / "last.pt"
    try:
        got = torch.load(target, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to load is a lost checkpoint
        return f"checkpoint does not load: {type(exc).__name__}: {exc}"
    for k in "AB":
        exp = expected[k]
        if _same_ckpt(got, exp):
            return None
    return "checkpoint is neither A nor B"


def _same_ckpt(got, exp) -> bool:
    import torch

    model = got.get("model") if isinstance(got, dict) else None
    if model is None and isinstance(got, dict):
        model = got.get("model_state") or got.get("state_dict")
    if not isinstance(model, dict) or set(model) != set(exp["model"]):
        return False
    return all(torch.equal(model[n], exp["model"][n]) for n in exp["model"]) and got.get("step") == exp["step"]


# ---------------------------------------------------------------- fix dataset


def make_fix_dataset(d: Path, n: int = 8, size: tuple[int, int] = (192, 256)) -> dict[str, bytes]:
    """A dataset of ``n`` 0/255 masks (binary-255): ``{mask file name: original bytes}``."""
    import numpy as np
    from PIL import Image

    (d / "images").mkdir(parents=True, exist_ok=True)
    (d / "masks").mkdir(parents=True, exist_ok=True)
    originals = {}
    rng = np.random.default_rng(0)
    h, w = size
    for i in range(n):
        img = rng.integers(0, 256, (h, w), dtype=np.uint8)
        Image.fromarray(img).save(d / "images" / f"c{i:03d}.png", compress_level=1)
        m = np.zeros((h, w), np.uint8)
        side = min(60, h // 2, w // 2)
        y, x = int(rng.integers(0, h - side)), int(rng.integers(0, w - side))
        m[y : y + side, x : x + side] = 255
        m[rng.random((h, w)) < 0.02] = 255
        Image.fromarray(m).save(d / "masks" / f"c{i:03d}.png")
        originals[f"c{i:03d}.png"] = (d / "masks" / f"c{i:03d}.png").read_bytes()
    return originals


def _verify_fix(d: Path, originals: dict[str, bytes]) -> tuple[str | None, dict]:
    """Every mask is its original, or fixed with a complete backup of its original."""
    import numpy as np

    from fcnstudio.core.io import ImageReadError, read_mask_file

    backups: dict[str, list[bytes]] = {}
    broot = d / ".fcnstudio" / "backup"
    if broot.is_dir():
        for dirpath, _, files in os.walk(broot):
            for f in files:
                if not f.startswith("."):
                    backups.setdefault(f, []).append(Path(dirpath, f).read_bytes())
    changed = 0
    for name, orig in originals.items():
        path = d / "masks" / name
        if not path.exists():
            # a fix may rename (e.g. to .png); this dataset is PNG already, so a missing mask is a loss
            if not any(b == orig for b in backups.get(name, [])):
                return f"{name}: mask gone and no complete backup", {}
            return f"{name}: mask gone (a complete backup exists)", {}
        data = path.read_bytes()
        if data == orig:
            continue
        changed += 1
        if not any(b == orig for b in backups.get(name, [])):
            return f"{name}: rewritten but no complete backup of the original", {}
        try:
            arr = read_mask_file(path).array
        except ImageReadError as exc:
            return f"{name}: rewritten mask does not decode: {exc}", {}
        if not set(np.unique(arr).tolist()) <= {0, 1}:
            return f"{name}: rewritten mask holds {sorted(np.unique(arr).tolist())[:6]}, not 0/1", {}
    return None, {"changed": changed}


# ================================================================ the harness


@dataclass
class KillStats:
    writer: str
    rounds: int = 0
    survived: int = 0
    mid_write: int = 0
    finished_before_kill: int = 0
    failures: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def survival(self) -> float:
        return self.survived / self.rounds if self.rounds else 0.0


class Zygote:
    """The writer factory process (see the module doc)."""

    def __init__(self, writer: str, preload: list[str], timeout: float = 120.0):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env["OPENCV_LOG_LEVEL"] = "OFF"
        env.setdefault("OMP_NUM_THREADS", "1")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "zygote", writer, *preload],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(REPO),
        )
        self._buf = b""
        self._ready = False
        self.live_pid: int | None = None
        self._timeout = timeout

    def wait_ready(self) -> None:
        """Block until the zygote has imported everything (started in the background by __init__)."""
        if not self._ready:
            line = self._line(self._timeout)
            if line != "READY":
                raise RuntimeError(f"zygote did not start: {line!r} {self._stderr()}")
            self._ready = True

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read().decode(errors="replace")[-2000:]

    def _line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the writer zygote")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError(f"the writer zygote died: {self._stderr()}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def round(self, writer: str, d: Path, seed: int, delay_s: float | None, timeout: float = 60.0) -> tuple[str, bool]:
        """Start a writer, kill it ``delay_s`` after it says GO (None: let it finish). Returns (how it ended, killed?)."""
        self.wait_ready()
        self.proc.stdin.write((json.dumps({"writer": writer, "dir": str(d), "seed": seed}) + "\n").encode())
        self.proc.stdin.flush()
        pid = None
        killed = False
        while True:
            line = self._line(timeout)
            word, _, rest = line.partition(" ")
            if word == "PID":
                pid = self.live_pid = int(rest)
            elif word == "GO":
                self.go_at = time.monotonic()
                if delay_s is None:
                    continue
                time.sleep(delay_s)
                try:
                    os.kill(int(rest), signal.SIGKILL)
                    killed = True
                except ProcessLookupError:
                    pass
            elif word == "FAILED":  # noqa: SIM114
                raise RuntimeError(f"writer {writer} failed before the kill: {rest}")
            elif word == "EXIT" and pid is not None and rest.startswith(str(pid)):
                self.exit_at = time.monotonic()
                self.live_pid = None
                status = int(rest.split()[1])
                return ("killed" if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
                        else f"exit {os.waitstatus_to_exitcode(status)}"), killed

    def close(self) -> None:
        if self.live_pid is not None:  # the harness failed mid-round: never leave a writer looping
            try:
                os.kill(self.live_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.live_pid = None
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


PRELOAD = {
    "train_run": ["torch", "fcnstudio.train.trainer", "fcnstudio.train.checkpoint", "fcnstudio.train.data"],
    "mask_save": ["numpy", "cv2", "PIL.Image", "fcnstudio.core.io"],
    "naive_mask_save": ["numpy", "cv2", "PIL.Image", "PIL.PngImagePlugin", "fcnstudio.core.io"],
    "project_file": ["fcnstudio.core.project", "fcnstudio.core.labels", "fcnstudio.core.dataset"],
    "checkpoint": ["torch", "fcnstudio.train.checkpoint"],
    "fix": ["fcnstudio.core.checker.run", "fcnstudio.core.fixes", "fcnstudio.core.checker.pair_stats",
            "fcnstudio.core.checker.rules"],
}

#: Longest random delay before the kill, per writer (ms): a little over one write,
#: so kills land mid-write and between writes.
MAX_DELAY_MS = {"mask_save": 60, "naive_mask_save": 60, "project_file": 15, "checkpoint": 60, "fix": None, "train_run": None}  # calibrated


def _expected(writer: str):
    if writer in ("mask_save", "naive_mask_save"):
        return {k: mask_content(k) for k in "AB"}
    if writer == "project_file":
        return {k: project_content(k) for k in "AB"}
    if writer == "checkpoint":
        return {k: checkpoint_content(k) for k in "AB"}
    return None


def _prepare(writer: str, d: Path, expected) -> object:
    """Initial state before the first round: a complete A (so 'old version' exists from the start)."""
    if writer in ("mask_save", "naive_mask_save"):
        from fcnstudio.core.io import write_mask

        (d / "images").mkdir(parents=True, exist_ok=True)
        (d / "masks").mkdir(parents=True, exist_ok=True)
        import numpy as np
        from PIL import Image

        Image.fromarray(np.zeros(MASK_SHAPE, np.uint8)).save(d / "images" / "m.png")
        write_mask(d / "masks" / "m.png", expected["A"], MASK_COLORS["A"])
    elif writer == "project_file":
        import numpy as np
        from PIL import Image

        from fcnstudio.core.project import save_project

        for sub in ("images", "masks"):
            (d / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(d / sub / "a.png")
        save_project(d, expected["A"])
    elif writer == "checkpoint":
        d.mkdir(parents=True, exist_ok=True)
        checkpoint_saver()(d / "last.pt", expected["A"])
    return None


def run_kills(writer: str, rounds: int, workdir: Path, seed: int = 0, max_delay_ms: float | None = None,
              fix_masks: int = 8) -> KillStats:
    """``rounds`` kill rounds of ``writer``; see the module doc for what is checked."""
    rng = random.Random(seed)
    stats = KillStats(writer)
    max_delay = (max_delay_ms if max_delay_ms is not None else MAX_DELAY_MS[writer] or 0) / 1000.0
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with Zygote(writer, PRELOAD[writer]) as z:  # imports in the background while we prepare
        expected = _expected(writer)
        d = workdir / writer
        if writer != "fix":
            _prepare(writer, d, expected)
        template = None
        if writer == "fix":
            template = workdir / "fix-template"
            originals = make_fix_dataset(template, n=fix_masks)
        if writer == "train_run":
            d = workdir / "train"
            make_train_dataset(d / "dataset")
            if max_delay_ms is None:
                max_delay = 2.0  # a run makes its folder, then evaluates (best/last.pt) every 2 steps
        if writer == "fix":
            # one fix run to the end (it must fix every mask), timed: kills then land within its duration
            d = workdir / "fix"
            durations = []
            for _ in range(2):
                _restore(template, d)
                how, _ = z.round(writer, d, 0, None)
                problem, info = _verify_fix(d, originals)
                if how != "exit 0" or problem or info.get("changed") != len(originals):
                    raise RuntimeError(f"the fix does not work without a kill ({how}): {problem} {info}")
                durations.append(z.exit_at - z.go_at)
            stats.extra["fix_seconds"] = round(min(durations), 3)
            if max_delay_ms is None:
                max_delay = 0.9 * min(durations)  # later runs are a little faster than these first two
        for r in range(rounds):
            if writer == "fix":
                _restore(template, d)
            if writer == "train_run":
                shutil.rmtree(d / "run", ignore_errors=True)
            folder = {"mask_save": d / "masks", "naive_mask_save": d / "masks", "fix": d / "masks",
                      "train_run": d / "run"}.get(writer, d)
            before = _tmp_files(folder)
            delay = rng.random() * max_delay
            how, killed = z.round(writer, d, seed * 100_000 + r, delay)
            stats.rounds += 1
            if not killed or how != "killed":
                stats.finished_before_kill += 1
            if _tmp_files(folder) - before:
                stats.mid_write += 1
            if writer == "fix":
                problem, info = _verify_fix(d, originals)
                stats.extra.setdefault("changed", []).append(info.get("changed", -1))
            elif writer == "train_run":
                problem, info = _verify_run_folder(d)
                stats.extra["torn_event_lines"] = stats.extra.get("torn_event_lines", 0) + int(info["torn_last_line"])
                stats.extra["checkpoints_checked"] = stats.extra.get("checkpoints_checked", 0) + info["checkpoints"]
            else:
                problem = {"mask_save": _verify_mask, "naive_mask_save": _verify_mask, "project_file": _verify_project,
                           "checkpoint": _verify_checkpoint}[writer](d, expected)
            if problem is None and writer in ("mask_save", "fix"):
                problem = _dotfiles_listed(d)
            if problem is None:
                stats.survived += 1
            else:
                stats.failures.append(f"round {r} (kill after {delay * 1000:.1f} ms, {how}): {problem}")
    return stats


def _restore(template: Path, d: Path) -> None:
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(template, d)


def _dotfiles_listed(d: Path) -> str | None:
    from fcnstudio.core.dataset import DatasetError, open_dataset

    try:
        ds = open_dataset(d)
    except DatasetError as exc:
        return f"dataset does not open: {exc}"
    for pair in ds.pairs:
        for p in (pair.image, pair.mask):
            if p is not None and p.name.startswith("."):
                return f"a leftover temp file was listed as data: {p.name}"
    return None


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "zygote":
        sys.path.insert(0, str(REPO))
        zygote_main(sys.argv[2], sys.argv[3:])
    else:
        import tempfile

        which = sys.argv[1] if len(sys.argv) > 1 else "mask_save"
        n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            s = run_kills(which, n, Path(tmp))
            print(f"{which}: {s.survived}/{s.rounds} survived, {s.mid_write} landed mid-write, "
                  f"{s.finished_before_kill} finished first, {time.perf_counter() - t0:.1f} s")
            for f in s.failures[:10]:
                print("  ", f)
