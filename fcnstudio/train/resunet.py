"""A U-Net whose encoder is a ResNet-18-style stack of residual blocks (plain torch, random init).

    stem   7x7 conv, stride 2 ─► 3x3 max-pool, stride 2           widths  w
    stages 2 basic blocks each; the first stage keeps the size,      w, 2w, 4w, 8w (``depth`` stages)
           every later one halves it (stride-2 first block)
    decoder per level: nearest 2x up-sampling, concatenate the skip, two 3x3 conv-norm-ReLU;
           widths 4w, 2w, w, w/2, w/2 (the last level has no skip and brings 1/2 to full size)

With ``base_width`` 64 and ``depth`` 4 the encoder is ResNet-18's (the layout
of ``segmentation_models_pytorch``'s ``Unet("resnet18")``, which cannot be a
dependency here: it needs torchvision). The default, ``base_width`` 32, has a
quarter of its weights (3.6 M) and trains about 2.5x faster on a CPU: the
measurements are in ``docs/adr/0007-learning-per-cpu-minute.md``.

Most of the work happens at 1/4 of the input size and below, which is why a
residual encoder learns more per CPU second than a plain U-Net whose first
level runs two convolutions at full size. The model pads its input to a
multiple of ``2 ** (depth + 1)`` (see :class:`~.models.PadToMultiple`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ResUNet", "norm_layer"]


def norm_layer(kind: str, ch: int) -> nn.Module:
    """The normalisation layer of ``kind`` (batch, group of up to 8 channels, none) for ``ch`` channels."""
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "group":
        return nn.GroupNorm(min(8, ch), ch)
    return nn.Identity()


def _conv_norm(cin: int, cout: int, norm: str, stride: int = 1, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=norm == "none"), norm_layer(norm, cout))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut (a strided 1x1 projection when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int, norm: str) -> None:
        super().__init__()
        self.a = _conv_norm(cin, cout, norm, stride)
        self.b = _conv_norm(cout, cout, norm)
        self.shortcut = _conv_norm(cin, cout, norm, stride, 1) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.b(F.relu(self.a(x), inplace=True)) + self.shortcut(x), inplace=True)


def _decoder_block(cin: int, cout: int, norm: str) -> nn.Sequential:
    return nn.Sequential(_conv_norm(cin, cout, norm), nn.ReLU(inplace=True),
                         _conv_norm(cout, cout, norm), nn.ReLU(inplace=True))


class ResUNet(nn.Module):
    """Residual-encoder U-Net; ``forward`` expects H, W divisible by ``2 ** (depth + 1)``."""

    def __init__(self, in_channels: int, num_classes: int, base_width: int = 32, depth: int = 4,
                 norm: str = "batch") -> None:
        super().__init__()
        if not 1 <= depth <= 6:
            raise ValueError(f"a residual U-Net has 1 to 6 encoder stages, got depth {depth}")
        w = base_width
        self.stem = nn.Sequential(_conv_norm(in_channels, w, norm, stride=2, k=7), nn.ReLU(inplace=True))
        widths = [w * 2 ** i for i in range(depth)]            # stage outputs: w, 2w, 4w, 8w …
        self.stages = nn.ModuleList()
        cin = w
        for i, cout in enumerate(widths):
            stride = 1 if i == 0 else 2
            self.stages.append(nn.Sequential(BasicBlock(cin, cout, stride, norm), BasicBlock(cout, cout, 1, norm)))
            cin = cout
        # skips, deepest first: the stages' outputs below the last, then the stem's (1/2 size), then none
        skips = widths[-2::-1] + [w, 0]
        dec_widths = [max(8, w * 2 ** (depth - 2 - i)) for i in range(depth - 1)] + [max(8, w // 2)] * 2
        self.decoder = nn.ModuleList()
        for skip, cout in zip(skips, dec_widths):
            self.decoder.append(_decoder_block(cin + skip, cout, norm))
            cin = cout
        self.head = nn.Conv2d(cin, num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        y = F.max_pool2d(stem, 3, 2, 1)
        feats = []
        for stage in self.stages:
            y = stage(y)
            feats.append(y)
        skips = feats[-2::-1] + [stem, None]
        y = feats[-1]
        for block, skip in zip(self.decoder, skips):
            y = F.interpolate(y, scale_factor=2.0, mode="nearest")
            y = block(y if skip is None else torch.cat([y, skip], dim=1))
        return self.head(y)
