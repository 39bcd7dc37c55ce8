"""Where a training step's time goes: data, forward, backward, optimiser, and one evaluation.

    python bench/step_profile.py ../shared/datasets/ccp8 [--steps 20] [-- TRAIN OPTIONS]
    python bench/step_profile.py DATASET -- --model unet --width 16 --depth 4 --crop 128

The trainer is prepared exactly as ``fcnstudio train DATASET OPTIONS`` would
prepare it (same config parsing, same data plan, network, loss and
optimiser), then its parts are timed one by one for ``--steps`` steps after
two warm-up steps, and one full evaluation is timed. Prints one JSON object
(medians in milliseconds) and a table; the report in
``docs/adr/0007-learning-per-cpu-minute.md`` quotes it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def profile(dataset: str, train_args: list[str], steps: int = 20) -> dict:
    import torch

    from fcnstudio.cli import build_parser
    from fcnstudio.commands.train import _config
    from fcnstudio.train import build
    from fcnstudio.train.trainer import Trainer

    args = build_parser().parse_args(["train", dataset, *train_args])
    cfg = _config(args)
    trainer = Trainer(dataset, cfg)
    trainer.prepare(make_run_dir=False)
    torch.set_num_threads(cfg.num_threads or build.default_threads())
    parts = {"data": [], "forward": [], "backward": [], "optimiser": []}
    model, opt, rng = trainer.model, trainer.optimizer, trainer.rng
    model.train()
    for i in range(steps + 2):
        t0 = time.perf_counter()
        images, masks = trainer.sampler.batch(rng, cfg.batch_size)
        x, y = torch.from_numpy(images), torch.from_numpy(masks)
        t1 = time.perf_counter()
        with trainer.precision.autocast(trainer.device):
            out = model(x)
        loss = trainer.loss_fn(out.float(), y)
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        if i >= 2:
            for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                parts[k].append(1000 * v)
    t0 = time.perf_counter()
    trainer.evaluate()
    eval_ms = 1000 * (time.perf_counter() - t0)
    med = {k: round(statistics.median(v), 1) for k, v in parts.items()}
    step_ms = sum(med.values())
    return {"dataset": dataset, "args": train_args, "threads": torch.get_num_threads(), "steps": steps,
            "median_ms": med, "step_ms": round(step_ms, 1), "eval_ms": round(eval_ms, 1),
            "val_images": len(trainer.val_eval), "pixels_per_step": cfg.batch_size * cfg.crop_size ** 2,
            "setup": build.describe_setup(trainer)}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args(own)
    out = profile(a.dataset, train_args, a.steps)
    print(json.dumps(out))
    for k, v in out["median_ms"].items():
        print(f"  {k:10s} {v:8.1f} ms  {100 * v / out['step_ms']:5.1f} %", file=sys.stderr)
    print(f"  step       {out['step_ms']:8.1f} ms; one evaluation of {out['val_images']} images: "
          f"{out['eval_ms'] / 1000:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
