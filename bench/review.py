"""Does the review find planted label errors, and better than the soft-minimum baseline on the same probabilities?

    python bench/review.py                    # ccp8 (100 pairs) and DRIVE, errors in 18 % of the masks
    python bench/review.py --dataset drive --minutes-per-fold 2

Each dataset from ``../shared/datasets`` is copied to a temp folder (CCP-8:
every 5th pair, resized to about 480 x 360 pixels' worth, the size the
target names; DRIVE: the ``binary-255`` fix), label errors are planted in
18 % of its masks with a fixed seed (:mod:`review_plant`: erased, wrong-class,
dilated, pasted), and ``fcnstudio review DATASET --json`` runs with its
defaults. Then, from ``review.json`` and the ``probs/*.npz`` files:

- image AUROC, planted vs untouched; precision at k (k = masks planted);
- the share of planted errors among the top 3 regions of their image;
- the share found in the first 100 regions of the whole-dataset queue;

for the review's scores and for the baseline on the same probabilities: the
soft-minimum (T = 0.1) of each image's pixel self-confidences (what
``cleanlab.segmentation.rank.get_label_quality_scores`` computes; written
here, cleanlab is not a dependency), whose regions are the connected
components of pixels the model gives their label under 0.5, ranked by their
missing confidence. A planted error counts as found by a region whose box
holds at least a quarter of its changed pixels (and is at most 16 times its
box), or is half changed pixels. Figures by kind of error go to stderr.
Targets: AUROC ≥ 0.75, precision@k ≥ 0.4, top-3 ≥ 0.8, queue@100 ≥ 0.6, each
≥ the baseline; the review of ~100 images ≤ 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for p in (str(REPO), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

from quality import SHARED, cli  # noqa: E402
from review_plant import KINDS, plant  # noqa: E402

SHARE = 0.18
SEED = 0
#: a region's box may be at most this many times the planted error's box to count as finding it
MAX_BOX_RATIO = 16
#: CCP-8 pairs taken: every STRIDE-th from OFFSET (a calibration uses another OFFSET: other images)
STRIDE, OFFSET = 5, 0
#: CCP-8's pixels per image brought to about 480 x 360
CCP8_PIXELS = 480 * 360


def _copy(src: Path, dest: Path, stems: list[str], scale: float) -> None:
    for sub in ("images", "masks"):
        (dest / sub).mkdir(parents=True)
    for stem in stems:
        img_path = next((src / "images").glob(stem + ".*"))
        mask_path = next((src / "masks").glob(stem + ".*"))
        if scale == 1.0:
            shutil.copyfile(img_path, dest / "images" / img_path.name)
            shutil.copyfile(mask_path, dest / "masks" / mask_path.name)
            continue
        img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        size = (round(img.shape[1] * scale), round(img.shape[0] * scale))
        cv2.imwrite(str(dest / "images" / (stem + ".png")), cv2.resize(img, size, interpolation=cv2.INTER_AREA))
        mask = np.array(Image.open(mask_path))
        Image.fromarray(cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)).save(dest / "masks" / (stem + ".png"))


def prepared(name: str, tmp: Path, offset: int = OFFSET) -> tuple[Path, int, bool]:
    """The dataset copy with errors still to plant: (root, classes, binary)."""
    root = tmp / name
    if name == "ccp8":
        src = SHARED / "ccp8"
        stems = sorted(p.stem for p in (src / "masks").iterdir())[offset::STRIDE]
        h, w = np.array(Image.open(next((src / "masks").glob(stems[0] + ".*")))).shape
        _copy(src, root, stems, math.sqrt(CCP8_PIXELS / (h * w)))
        shutil.copyfile(src / "fcnstudio.json", root / "fcnstudio.json")
        return root, 8, False
    src = SHARED / "drive_vessels"
    _copy(src, root, sorted(p.stem for p in (src / "masks").iterdir()), 1.0)
    done = cli(["fix", str(root), "--code", "binary-255", "--no-backup"], 900)
    if done.returncode != 0:
        raise RuntimeError(f"binary-255 fix failed: {(done.stdout + done.stderr)[-600:]}")
    return root, 2, True


def plant_into(root: Path, classes: int, binary: bool, share: float = SHARE, seed: int = SEED) -> dict:
    """Plant the errors into the copy's masks (saved as PNG, class indices); returns {stem: Planted}.

    The record goes to ``root.parent / f"{root.name}-planted.npz"`` too (kind, before, after and the changed
    pixels of each), so a kept run can be scored again (:func:`load_planted`)."""
    paths = {p.stem: p for p in (root / "masks").iterdir()}
    masks = {s: np.array(Image.open(p)).astype(np.uint8) for s, p in paths.items()}
    planted = plant(masks, np.random.default_rng(seed), share, classes, binary)
    for stem in planted:
        paths[stem].unlink()
        Image.fromarray(masks[stem]).save(root / "masks" / (stem + ".png"))
    np.savez_compressed(root.parent / f"{root.name}-planted.npz",
                        **{f"{p.stem}|{p.kind}|{p.before}|{p.after}": p.changed for p in planted.values()})
    return planted


def load_planted(path: Path) -> dict:
    from review_plant import Planted

    out = {}
    with np.load(path) as z:
        for key in z.files:
            stem, kind, before, after = key.split("|")
            out[stem] = Planted(stem, kind, z[key], int(before), int(after))
    return out


# ---------------------------------------------------------------------------- scoring


def auroc(scores: list[float], positive: list[bool]) -> float:
    """Probability that a planted image scores above an untouched one (ties count half)."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    if not pos or not neg:
        return math.nan
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def hits(box, planted) -> bool:
    """A region (box) finds a planted error when it holds a quarter of its pixels without being more than
    :data:`MAX_BOX_RATIO` times its box (a box over half the image holds everything), or is half planted."""
    x, y, w, h = (int(v) for v in box)
    inside = int(planted.changed[max(0, y):y + h, max(0, x):x + w].sum())
    px, py, pw, ph = planted.box
    return (inside >= 0.25 * planted.area and w * h <= MAX_BOX_RATIO * pw * ph) or inside >= 0.5 * max(1, w * h)


def baseline(probs: np.ndarray, label: np.ndarray) -> tuple[float, list[tuple[float, list]]]:
    """Soft-min suspicion (1 - quality) and the baseline's regions [(score, box)] of one image."""
    sc = np.take_along_axis(probs, label[:, :, None].astype(np.int64), axis=2)[:, :, 0].astype(np.float64)
    v = sc.ravel()
    w = np.exp(-(v - v.min()) / 0.1)
    quality = float((v * w).sum() / w.sum())
    n, lab, stats, _ = cv2.connectedComponentsWithStats((sc < 0.5).astype(np.uint8), connectivity=8)
    missing = np.bincount(lab.ravel(), weights=(1 - sc).ravel(), minlength=n)
    regions = [(float(missing[i]), [int(stats[i, 0]), int(stats[i, 1]), int(stats[i, 2]), int(stats[i, 3])])
               for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= 20]
    return 1.0 - quality, sorted(regions, key=lambda r: -r[0])


def figures(images: list[dict], planted: dict, k_queue: int = 100) -> dict:
    """AUROC, precision@k, top-3 and queue shares (overall and by kind) of images [{stem, score, regions}]."""
    stems = [im["stem"] for im in images]
    positive = [s in planted for s in stems]
    order = sorted(range(len(images)), key=lambda i: -images[i]["score"])
    k = sum(positive)
    top3 = {s: any(hits(r["box"], planted[s]) for r in im["regions"][:3]) for s, im in zip(stems, images)
            if s in planted}
    queue = sorted(((r["score"], s, r["box"]) for s, im in zip(stems, images) for r in im["regions"]),
                   key=lambda t: -t[0])[:k_queue]
    found = {s for _, s, box in queue if s in planted and hits(box, planted[s])}
    out = {"auroc": auroc([im["score"] for im in images], positive),
           "precision_at_k": sum(positive[i] for i in order[:k]) / max(k, 1),
           "top3": sum(top3.values()) / max(len(top3), 1), "queue100": len(found) / max(len(planted), 1),
           "by_kind": {}}
    for kind in KINDS:
        of = [s for s, p in planted.items() if p.kind == kind and s in top3]
        if of:
            out["by_kind"][kind] = {"n": len(of), "top3": sum(top3[s] for s in of) / len(of),
                                    "queue100": sum(s in found for s in of) / len(of)}
    return out


def evaluate(root: Path, review: dict, planted: dict) -> tuple[dict, dict]:
    """The review's figures and the baseline's, on the ranked images."""
    ours, base = [], []
    for im in review["images"]:
        stem = im["stem"]
        probs = np.load(root / ".fcnstudio" / "reviews" / review["folder"] / im["probs"])["probs"].astype(np.float32)
        label = np.array(Image.open(root / im["mask"])).astype(np.int64)
        ours.append({"stem": stem, "score": im["score"], "regions": im["regions"]})
        s, regions = baseline(probs, label)
        base.append({"stem": stem, "score": s, "regions": [{"score": r, "box": b} for r, b in regions]})
    ranked = {im["stem"] for im in review["images"]}
    kept = {s: p for s, p in planted.items() if s in ranked}
    return figures(ours, kept), figures(base, kept)


def measure(name: str, tmp: Path, minutes: float | None, log=print, calibration: bool = False) -> dict:
    """One dataset; ``calibration``: other CCP-8 images, errors in 40 % of the masks, another seed."""
    root, classes, binary = prepared(name, tmp, offset=2 if calibration else OFFSET)
    planted = plant_into(root, classes, binary, *((0.4, 1) if calibration else (SHARE, SEED)))
    log(f"{name}: planted {len(planted)} errors in {len(list((root / 'masks').iterdir()))} masks: "
        + ", ".join(f"{k} {sum(p.kind == k for p in planted.values())}" for k in KINDS))
    args = ["review", str(root), "--json"] + (["--minutes-per-fold", str(minutes)] if minutes else [])
    t0 = time.monotonic()
    done = cli(args, 3 * 3600)
    seconds = time.monotonic() - t0
    if done.returncode not in (0, 1):
        raise RuntimeError(f"review failed ({done.returncode}): {done.stderr[-800:]}")
    review = json.loads(done.stdout)
    review["folder"] = review.get("folder") or sorted((root / ".fcnstudio" / "reviews").iterdir())[-1].name
    ours, base = evaluate(root, review, planted)
    keys = ("mean_fg_iou", "mean_iou", "pixel_accuracy")
    log(f"{name}: trusted {review.get('trusted')} ({review.get('reason', '')}); fold quality "
        + json.dumps([{k: round(f[k], 3) for k in keys if f.get(k) is not None}
                      for f in review.get("fold_quality", [])]))
    for q in review.get("fold_quality", []):  # the trust gate's evidence: each fold model's quality and ranking
        of = {im["stem"] for im in review["images"] if im["fold"] == q["fold"]}
        mine = [im for im in review["images"] if im["stem"] in of]
        f = figures([{"stem": im["stem"], "score": im["score"], "regions": im["regions"]} for im in mine],
                    {s: p for s, p in planted.items() if s in of})
        log(f"{name}: fold {q['fold']} mean foreground IoU {q.get('mean_fg_iou')} (all classes {q.get('mean_iou')}) "
            f"pixel accuracy {q.get('pixel_accuracy')}: "
            f"{len(mine)} images, AUROC {f['auroc']:.3f}, top3 {f['top3']:.3f}")
    log(f"{name}: review {json.dumps(ours)}")
    log(f"{name}: baseline {json.dumps(base)}")
    return {"ours": ours, "base": base, "seconds": seconds, "images": len(review["images"]),
            "trusted": review.get("trusted")}


TARGETS = {"auroc": 0.75, "precision_at_k": 0.4, "top3": 0.8, "queue100": 0.6}


def rows_for(name: str, r: dict) -> list[dict]:
    rows = []
    for key, need in TARGETS.items():
        v, b = r["ours"][key], r["base"][key]
        rows.append({"name": f"review_{name}_{key}", "value": round(v, 3), "unit": f"baseline {b:.3f}",
                     "target": f">= {need} and >= baseline", "ok": bool(v >= need and v >= b)})
    rows.append({"name": f"review_{name}_minutes", "value": round(r["seconds"] / 60, 1),
                 "unit": f"minutes for {r['images']} images", "target": "<= 15 (~100 images)",
                 "ok": r["seconds"] / 60 <= 15 * max(1.0, r["images"] / 100)})
    return rows


def run(datasets=("ccp8", "drive"), minutes: float | None = None, keep: str | None = None,
        calibration: bool = False) -> list[dict]:
    """The rows; ``keep``: work in that folder and leave it (datasets, planted records, reviews) for a rescoring."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="fcnbench-review-") as tmp:
        work = Path(keep) if keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in datasets:
            res = measure(name, work, minutes, log=lambda s: print(s, file=sys.stderr, flush=True),
                          calibration=calibration)
            rows += rows_for(name, res)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", action="append", choices=("ccp8", "drive"))
    ap.add_argument("--minutes-per-fold", type=float, default=None)
    ap.add_argument("--keep", default=None, metavar="DIR", help="work in DIR and keep it (to rescore later)")
    ap.add_argument("--calibration", action="store_true",
                    help="the calibration set: other CCP-8 images, errors in 40 %% of the masks, seed 1")
    a = ap.parse_args(argv)
    rows = run(tuple(a.dataset or ("ccp8", "drive")), a.minutes_per_fold, a.keep, a.calibration)
    for r in rows:
        print(f"{r['name']:30s} {r['value']!s:>8} {r['unit']:28s} {r['target']:28s} {'OK' if r['ok'] else 'MISS'}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
