"""The reference a knowledgeable user would write instead of FCN Studio: a plain training loop.

    python bench/plain_loop.py DATA TRAIN_STEMS TEST_STEMS OUT_DIR --minutes 5 --scale 0.5

A U-Net with a ResNet-18-style residual encoder (written here in plain torch:
torchvision and segmentation_models_pytorch do not load against this
machine's CPU build of torch, see README "Dependencies"), random
initialisation, 256-px random crops with horizontal flips, batch 8, plain
cross-entropy, AdamW at 1e-3 with a 5 % warm-up and a cosine decay over the
wall-clock budget, torch's default threads, float32. It reads ``DATA/images``
and ``DATA/masks`` (class-index masks) itself, trains on the stems listed in
the TRAIN_STEMS file and writes the predicted class-index masks of the TEST_STEMS images, at
full resolution, as PNG into OUT_DIR (the bench scores them). ``--scale``
trains and predicts at that fraction of the input size (logits upsampled to
full size). It prints one JSON line: steps, seconds.

It imports nothing from FCN Studio on purpose: it is the loop to beat.
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn


def conv_bn(cin, cout, stride=1, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a, self.b = conv_bn(cin, cout, stride), conv_bn(cout, cout)
        self.skip = conv_bn(cin, cout, stride, 1) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        return F.relu(self.b(F.relu(self.a(x))) + self.skip(x))


class ResNet18UNet(nn.Module):
    """smp.Unet('resnet18') in shape: encoder 64-64-128-256-512, decoder 256-128-64-32-16, nearest up-sampling."""

    def __init__(self, cin, classes):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(cin, 64, 2, 7), nn.ReLU())
        w = [64, 64, 128, 256, 512]
        self.stages = nn.ModuleList(nn.Sequential(Basic(w[i], w[i + 1], 1 if i == 0 else 2), Basic(w[i + 1], w[i + 1], 1))
                                    for i in range(4))
        skips, c, self.dec = [256, 128, 64, 64, 0], 512, nn.ModuleList()
        for d, s in zip([256, 128, 64, 32, 16], skips):
            self.dec.append(nn.Sequential(conv_bn(c + s, d), nn.ReLU(), conv_bn(d, d), nn.ReLU()))
            c = d
        self.head = nn.Conv2d(16, classes, 3, padding=1)

    def forward(self, x):
        feats = [self.stem(x)]
        y = F.max_pool2d(feats[0], 3, 2, 1)
        for stage in self.stages:
            y = stage(y)
            feats.append(y)
        y, skips = feats[-1], [feats[3], feats[2], feats[1], feats[0], None]
        for dec, s in zip(self.dec, skips):
            y = F.interpolate(y, scale_factor=2, mode="nearest")
            y = dec(y if s is None else torch.cat([y, s], 1))
        return self.head(y)


def load(data, stem, scale):
    img = np.array(Image.open(next((data / "images").glob(stem + ".*"))).convert("RGB"))
    mask = np.array(Image.open(next((data / "masks").glob(stem + ".*"))))
    h, w = mask.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return (np.array(Image.fromarray(img).resize(size, Image.BILINEAR)),
            np.array(Image.fromarray(mask).resize(size, Image.NEAREST)), (h, w))


MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def to_input(img):
    return torch.from_numpy(((img / 255.0 - MEAN) / STD).astype(np.float32).transpose(2, 0, 1))


def batch(pairs, rng, n=8, size=256):
    xs, ys = [], []
    for _ in range(n):
        img, mask, _ = pairs[rng.integers(len(pairs))]
        ph, pw = max(0, size - mask.shape[0]), max(0, size - mask.shape[1])
        img = np.pad(img, ((0, ph), (0, pw), (0, 0)))
        mask = np.pad(mask, ((0, ph), (0, pw)), constant_values=255)
        y0, x0 = rng.integers(mask.shape[0] - size + 1), rng.integers(mask.shape[1] - size + 1)
        img, mask = img[y0:y0 + size, x0:x0 + size], mask[y0:y0 + size, x0:x0 + size]
        if rng.random() < 0.5:
            img, mask = img[:, ::-1], mask[:, ::-1]
        xs.append(to_input(np.ascontiguousarray(img)))
        ys.append(torch.from_numpy(mask.astype(np.int64)))
    return torch.stack(xs), torch.stack(ys)


def main():
    ap = argparse.ArgumentParser()
    for name in ("data", "train", "test", "out"):
        ap.add_argument(name)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--classes", type=int, required=True)
    a = ap.parse_args()
    data, out = Path(a.data), Path(a.out)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    pairs = [load(data, s, a.scale) for s in Path(a.train).read_text().split()]
    model = ResNet18UNet(3, a.classes)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    budget, t0, steps = 60 * a.minutes, time.monotonic(), 0
    while (elapsed := time.monotonic() - t0) < budget:
        p = elapsed / budget
        for g in opt.param_groups:
            g["lr"] = 1e-3 * (p / 0.05 if p < 0.05 else 0.5 * (1 + math.cos(math.pi * (p - 0.05) / 0.95)))
        x, y = batch(pairs, rng)
        loss = F.cross_entropy(model(x), y, ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    seconds = time.monotonic() - t0
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        for stem in Path(a.test).read_text().split():
            img, _, (h, w) = load(data, stem, a.scale)
            x = to_input(img)[None]
            ph, pw = (-x.shape[2]) % 32, (-x.shape[3]) % 32
            logits = model(F.pad(x, (0, pw, 0, ph), mode="replicate"))[:, :, :x.shape[2], :x.shape[3]]
            pred = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False).argmax(1)[0]
            Image.fromarray(pred.numpy().astype(np.uint8)).save(out / f"{stem}.png")
    print(json.dumps({"steps": steps, "seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main()
