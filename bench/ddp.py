"""Training in two processes under torchrun against one process: the same steps, the same curves?

    python bench/ddp.py                     # prints a table

On a repaired copy of the bundled sample (as in ``training_cli.py``), the same
``fcnstudio train`` command runs under
``torchrun --standalone --nproc-per-node 2`` (gloo, two CPU processes, each
making and training on half of each batch of 8) and as one process, from the
same seed, in float32 with ``--loss ce --norm group``: the settings under
which each step's gradient is the whole batch's.

Rows (``run() -> list[dict]``):

- ``ddp_2proc_vs_1proc_weights_maxdiff``: the largest absolute difference
  between the two runs' ``last.pt`` weights after :data:`EXACT_STEPS` steps.
  Target <= :data:`WEIGHTS_TARGET`; without the loss scaling of
  ``distributed_loop`` it is about 2e-3 (AdamW's first steps turn a gradient
  error into a sign flip of a whole step).
- ``ddp_2proc_vs_1proc_grad_rel_maxdiff``: the same runs' AdamW first moments
  (the average of those steps' gradients): the largest difference, relative
  to the largest moment. Target <= :data:`GRAD_TARGET`; without
  the loss scaling about 1e-2.
- ``ddp_2proc_vs_1proc_val_loss_rel_maxdiff``: for reference, the largest
  relative difference of the validation losses over :data:`CURVE_STEPS`
  steps. Longer runs do not keep equal digits: the two add the same numbers
  in different orders (about 1e-7 apart) and training amplifies that, as it
  amplifies any rounding — the next row shows one process drifting as far
  from itself. ``weights_maxdiff`` and ``weights_off_1e-4`` say how far.
- ``1proc_vs_1proc_nudged_weights_maxdiff``: for reference, one process
  against itself over the same :data:`CURVE_STEPS` steps, started from
  weights scaled by 1 + 1e-7 (about one float32 rounding).
- ``ddp_2proc_vs_1proc_default_val_loss_maxdiff``: for reference, the same
  with the default loss and norm (Dice + CE, batch norm), which are not
  equivalent: the Dice terms of two halves are not the Dice of the batch, and
  batch norm on the CPU normalises each half by its own statistics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

EXACT_STEPS = 2
WEIGHTS_TARGET = 1e-5
GRAD_TARGET = 1e-4
CURVE_STEPS = 30
#: float32 (bf16 autocast, the default where the processor has it, rounds to 3 digits); a small network
COMMON = ["--json-log", "--batch", "8", "--crop", "64", "--width", "8", "--depth", "3", "--seed", "0",
          "--precision", "fp32"]
EXACT = ["--loss", "ce", "--norm", "group"]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _train(data: Path, out: Path, extra: list[str], processes: int) -> list[dict]:
    """Run ``fcnstudio train`` (under torchrun when ``processes`` > 1); its JSON events."""
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)] \
        if processes > 1 else [sys.executable]
    argv = [*launch, "-m", "fcnstudio", "train", str(data), *COMMON, *extra, "--out", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[-8:])} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def _weight_diffs(a: Path, b: Path) -> tuple[float, int]:
    """The largest absolute weight difference, and how many weights differ by more than 1e-4."""
    from fcnstudio.train.checkpoint import load_checkpoint

    wa, wb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    diffs = [(wa[k].double() - wb[k].double()).abs() for k in wa]
    return max(float(d.max()) for d in diffs), sum(int((d > 1e-4).sum()) for d in diffs)


def _moments_rel_diff(a: Path, b: Path) -> float:
    """The largest difference of the AdamW first moments, relative to the largest moment."""
    from fcnstudio.train.checkpoint import load_checkpoint

    sa, sb = load_checkpoint(a)["optimizer"]["state"], load_checkpoint(b)["optimizer"]["state"]
    diff = max(float((sa[k]["exp_avg"].double() - sb[k]["exp_avg"].double()).abs().max()) for k in sa)
    return diff / max(float(sa[k]["exp_avg"].double().abs().max()) for k in sa)


def _nudged_run_diffs(data: Path, out: Path, reference: Path) -> tuple[float, int]:
    """Train in this process as the one-process "curve" run did, from starting weights nudged by 1e-7."""
    import torch

    from fcnstudio.train.trainer import TrainConfig, Trainer

    from fcnstudio.train.config import available_cores

    cfg = TrainConfig(loss="ce", norm="group", batch_size=8, crop_size=64, width=8, depth=3, seed=0, precision="fp32",
                      num_threads=available_cores(), max_steps=CURVE_STEPS, eval_every_steps=5, out_dir=str(out))
    trainer = Trainer(data, cfg)
    trainer.prepare()
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.mul_(1 + 1e-7)
    trainer.run()
    return _weight_diffs(out / "last.pt", reference)


def _val_losses(events: list[dict]) -> dict[int, float]:
    return {e["step"]: e["val_loss"] for e in events if e["event"] == "eval"}


def _row(name, value, unit, target, ok, **extra) -> dict:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok), **extra}


def _pair(data: Path, tmp: Path, name: str, extra: list[str]) -> tuple[dict, dict]:
    """The validation losses by step of the two-process and the one-process run (folders ``name-2``, ``name-1``)."""
    two = _val_losses(_train(data, tmp / f"{name}-2", extra, 2))
    one = _val_losses(_train(data, tmp / f"{name}-1", extra, 1))
    return two, one


def run() -> list[dict]:
    from training_cli import repaired_sample

    rows = []
    with tempfile.TemporaryDirectory(prefix="fcn-bench-ddp-") as tmp:
        tmp = Path(tmp)
        data = repaired_sample(tmp / "sample")
        _pair(data, tmp, "exact", [*EXACT, "--max-steps", str(EXACT_STEPS)])
        two, one = tmp / "exact-2" / "last.pt", tmp / "exact-1" / "last.pt"
        diff, _ = _weight_diffs(two, one)
        rows.append(_row("ddp_2proc_vs_1proc_weights_maxdiff", diff, "abs",
                         f"<= {WEIGHTS_TARGET:g} after {EXACT_STEPS} steps", diff <= WEIGHTS_TARGET,
                         settings="ce, group norm, float32, batch 8 = 2 x 4"))
        grad = _moments_rel_diff(two, one)
        rows.append(_row("ddp_2proc_vs_1proc_grad_rel_maxdiff", grad, "rel",
                         f"<= {GRAD_TARGET:g} after {EXACT_STEPS} steps", grad <= GRAD_TARGET))

        two, one = _pair(data, tmp, "curve", [*EXACT, "--max-steps", str(CURVE_STEPS), "--eval-every", "5"])
        steps = sorted(set(two) & set(one))
        gap = max(abs(two[s] - one[s]) / abs(one[s]) for s in steps) if steps else float("nan")
        diff, off = _weight_diffs(tmp / "curve-2" / "last.pt", tmp / "curve-1" / "last.pt")
        rows.append(_row("ddp_2proc_vs_1proc_val_loss_rel_maxdiff", gap, "rel",
                         f"reference ({CURVE_STEPS} steps; see the next row)", bool(steps),
                         evaluations=len(steps), weights_maxdiff=diff, **{"weights_off_1e-4": off}))

        diff, off = _nudged_run_diffs(data, tmp / "nudged", tmp / "curve-1" / "last.pt")
        rows.append(_row("1proc_vs_1proc_nudged_weights_maxdiff", diff, "abs",
                         "reference (starting weights x (1 + 1e-7))", True, **{"weights_off_1e-4": off}))

        two, one = _pair(data, tmp, "default", ["--max-steps", str(CURVE_STEPS), "--eval-every", "5"])
        steps = sorted(set(two) & set(one))
        gap = max(abs(two[s] - one[s]) for s in steps) if steps else float("nan")
        rows.append(_row("ddp_2proc_vs_1proc_default_val_loss_maxdiff", gap, "loss",
                         "reference (dice+ce, batch norm: not equivalent)", bool(steps),
                         val_loss_one_process=[round(one[s], 4) for s in steps]))
    return rows


def main() -> int:
    rows = run()
    for r in rows:
        extra = {k: v for k, v in r.items() if k not in ("name", "value", "unit", "target", "ok")}
        print(f"{'ok ' if r['ok'] else 'MISS'} {r['name']:<42} {r['value']:.3g} {r['unit']:<5} "
              f"target {r['target']}  {json.dumps(extra) if extra else ''}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
