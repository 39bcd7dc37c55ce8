"""Fit the review's region and image scores on planted errors, from a kept calibration run, without retraining.

    python bench/review.py --calibration --keep /tmp/cal      # fold models, probabilities (once, ~30 min)
    python bench/review.py --keep /tmp/test                   # the same on the test set (the bench's rows)
    python bench/review_calibrate.py /tmp/cal --test /tmp/test # features, fits, figures (a minute)

A kept folder holds dataset copies, each beside its ``<name>-planted.npz``;
several runs of one dataset (fold models of two versions, say) can sit side by
side under other names (links to the copies and their ``-planted.npz``): the
fit pools every run it finds.

For every ranked image of each kept review it extracts the regions again with
:func:`fcnstudio.core.review.regions.extract_regions` (so features added since
the review ran are there), marks each region planted or not (a region that
holds a quarter of a planted error's pixels, or is a quarter planted), fits a
logistic regression of "planted" on the region terms (L2, plain numpy), and
prints the bench's figures for: the scores as they are in the code, the fitted
weights, each run scored with the weights fitted on each other run, and, with
``--test``, the test set scored with the weights fitted on all the calibration
runs (the honest figure: those weights never saw those images). The weights to put
into ``core/review/scores.py`` and the figures go to
``docs/adr/0008-review-scores.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

BENCH = Path(__file__).resolve().parent
for p in (str(BENCH.parent), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

from review import figures, hits, load_planted  # noqa: E402

from fcnstudio.core.review import scores  # noqa: E402
from fcnstudio.core.review.features import gradient_map  # noqa: E402
from fcnstudio.core.review.regions import extract_regions  # noqa: E402


def regions_of(root: Path) -> tuple[list[dict], dict]:
    """[{stem, fold, softmin, regions: [{box, kind, label, predicted, area, features, planted}]}], planted."""
    planted = load_planted(root.parent / f"{root.name}-planted.npz")
    folder = sorted(p.parent for p in (root / ".fcnstudio" / "reviews").glob("2*/review.json"))[-1]
    review = json.loads((folder / "review.json").read_text())
    thresholds = {q["fold"]: [math.nan if v is None else v for v in q["thresholds"]] for q in review["fold_quality"]}
    found = []
    for im in review["images"]:
        probs = np.load(folder / im["probs"])["probs"].astype(np.float32)
        label = np.array(Image.open(root / im["mask"])).astype(np.int64)
        image = np.array(Image.open(root / im["image"]))
        found.append(extract_regions(probs, label, thresholds[im["fold"]], gradient=gradient_map(image)))
    for fold in {im["fold"] for im in review["images"]}:  # pair_share over each fold, as score_fold takes it
        at = [i for i, im in enumerate(review["images"]) if im["fold"] == fold]
        for i, regions in zip(at, scores.with_pair_share([found[i] for i in at])):
            found[i] = regions
    out = []
    for im, regions in zip(review["images"], found):
        p = planted.get(im["stem"])
        out.append({"stem": im["stem"], "fold": im["fold"], "softmin": im["softmin"],
                    "regions": [{"box": list(r.box), "kind": r.kind, "region": r,
                                 "planted": bool(p is not None and hits(r.box, p))} for r in regions]})
    return out, planted


#: The terms fitted: all of the code's but ``neighbour_support`` (no near-duplicate frames in these datasets).
NAMES = [n for n in scores.REGION_WEIGHTS if n != "neighbour_support"]


def terms(r: dict) -> np.ndarray:
    t = scores.region_terms(r["region"])
    return np.array([t[n] for n in NAMES])


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 3000) -> np.ndarray:
    """Logistic regression with an intercept (column 0 of the result), L2 on the weights, plain gradient descent
    on standardised columns; returns weights for the raw columns."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([np.ones((len(x), 1)), (x - mu) / sd])
    w = np.zeros(z.shape[1])
    pos = max(y.mean(), 1e-3)
    sample_w = np.where(y > 0, 0.5 / pos, 0.5 / (1 - pos))  # both classes count alike
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        g = z.T @ (sample_w * (p - y)) / len(y) + l2 * np.r_[0, w[1:]] / len(y)
        w -= 0.5 * g
    raw = w[1:] / sd
    return np.r_[w[0] - (raw * mu).sum(), raw]


def scored(images: list[dict], weights: np.ndarray | None, mix: float = 0.3, agg: str = "max") -> list[dict]:
    """The images with region scores from ``weights`` (None: the code's) and image scores from them."""
    out = []
    for im in images:
        regs = []
        for r in im["regions"]:
            s = scores.region_score(r["region"]) if weights is None else \
                float(1 / (1 + np.exp(-(weights[0] + terms(r) @ weights[1:]))))
            regs.append({"box": r["box"], "score": s})
        regs.sort(key=lambda r: -r["score"])
        if agg == "noisy-or":
            top = 1.0 - float(np.prod([1.0 - r["score"] for r in regs[:3]])) if regs else 0.0
        else:
            top = regs[0]["score"] if regs else 0.0
        out.append({"stem": im["stem"], "score": (1 - mix) * top + mix * (1 - im["softmin"]), "regions": regs})
    return out


def report(name: str, images: list[dict], planted: dict, weights, mix: float, agg: str = "max") -> dict:
    f = figures(scored(images, weights, mix, agg), planted)
    print(f"  {name:34s} AUROC {f['auroc']:.3f}  P@k {f['precision_at_k']:.3f}  top3 {f['top3']:.3f}  "
          f"queue100 {f['queue100']:.3f}  " + " ".join(f"{k}:{v['top3']:.2f}/{v['queue100']:.2f}"
                                                       for k, v in f["by_kind"].items()))
    return f


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kept", help="the --keep folder of a bench/review.py --calibration run")
    ap.add_argument("--test", default=None, metavar="DIR",
                    help="the --keep folder of a bench/review.py run on the test set: scored with the weights "
                         "fitted on all of the calibration set (images the weights never saw)")
    ap.add_argument("--mix", type=float, default=scores.IMAGE_WEIGHTS["softmin"],
                    help="weight of (1 - soft-min) in the image score")
    a = ap.parse_args(argv)
    data = {}
    for root in sorted(Path(a.kept).iterdir()):
        if root.is_dir() and list((root / ".fcnstudio" / "reviews").glob("2*/review.json")):
            data[root.name] = regions_of(root)
    xs = {n: np.array([terms(r) for im in d[0] for r in im["regions"]]) for n, d in data.items()}
    ys = {n: np.array([float(r["planted"]) for im in d[0] for r in im["regions"]]) for n, d in data.items()}
    fitted = {}
    for n in data:
        print(f"{n}: {len(xs[n])} regions, {int(ys[n].sum())} on planted errors, {len(data[n][1])} planted")
        fitted[n] = fit(xs[n], ys[n])
    both = fit(np.vstack(list(xs.values())), np.concatenate(list(ys.values())))
    print("weights fitted on all: " + json.dumps({k: round(float(v), 3) for k, v in zip(["bias", *NAMES], both)}))
    for n, (images, planted) in data.items():
        print(n)
        report("softmin only (mix 1)", images, planted, None, 1.0)
        report("code's weights", images, planted, None, a.mix)
        for m, w in fitted.items():
            report(f"fitted on {m}" + (" (same data)" if m == n else ""), images, planted, w, a.mix)
        report("fitted on all", images, planted, both, a.mix)
        other = [w for m, w in fitted.items() if m != n]
        for mix in (0.0, 0.05, 0.3):
            for agg in ("max", "noisy-or"):
                for w in other:
                    report(f"other's weights, mix {mix}, {agg}", images, planted, w, mix, agg)
    if a.test:
        for root in sorted(Path(a.test).iterdir()):
            if root.is_dir() and list((root / ".fcnstudio" / "reviews").glob("2*/review.json")):
                images, planted = regions_of(root)
                print(f"test set {root.name}")
                report("softmin only (mix 1)", images, planted, None, 1.0)
                report("code's weights", images, planted, None, a.mix)
                report("fitted on all the calibration set", images, planted, both, a.mix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
