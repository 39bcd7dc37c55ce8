"""Small segmentation networks for CPU training: a residual-encoder U-Net, a U-Net and a plain FCN.

All take ``N x in_channels x H x W`` float images of any H, W and return
``N x num_classes x H x W`` logits. Inside, the input is padded (edge
replication) to a multiple of the network's total down-sampling (``2**depth``;
``2**(depth+1)`` for ``resunet``) and the output cropped back, so no size is
rejected and every output pixel lines up with its input pixel.

``resunet`` (:mod:`.resunet`, a ResNet-18-style encoder) is the default of
new runs; ``unet`` was the default before and every checkpoint that names it
still loads.

Checkpoints are self-describing: ``model.model_config`` is a plain dict that
:func:`build_model` turns back into the same architecture::

    model = build_model({"arch": "resunet", "in_channels": 1, "num_classes": 3})
    torch.save({"model_config": model.model_config, "model": model.state_dict()}, path)
    again = build_model(ckpt["model_config"]); again.load_state_dict(ckpt["model"])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .resunet import ResUNet, norm_layer

__all__ = ["ARCHS", "DEFAULT_MODEL_CONFIG", "NORMS", "FCN", "ResidualUNet", "UNet", "build_model"]

ARCHS = ("resunet", "unet", "fcn")
NORMS = ("batch", "group", "none")

#: Every key a model config may hold, with its default. ``in_channels`` and
#: ``num_classes`` come from the dataset and have no sensible default. The
#: ``arch`` default stays ``unet``: a checkpoint written before ``resunet``
#: existed holds a complete config, but a hand-written partial one meant a U-Net.
DEFAULT_MODEL_CONFIG: dict[str, Any] = {
    "arch": "unet",
    "in_channels": None,
    "num_classes": None,
    "base_width": 16,
    "depth": 4,
    "norm": "batch",
}


def _conv_block(cin: int, cout: int, norm: str) -> nn.Sequential:
    """Two 3x3 conv → norm → ReLU layers (bias only when there is no norm)."""
    bias = norm == "none"
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=bias), norm_layer(norm, cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=bias), norm_layer(norm, cout), nn.ReLU(inplace=True),
    )


class _PadToMultiple(nn.Module):
    """Base: pad H, W up to a multiple of :attr:`multiple`, run ``_forward``, crop back."""

    depth: int

    @property
    def multiple(self) -> int:
        return 2 ** self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"expected an N x C x H x W tensor, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return self._forward(x)[..., :h, :w]

    def _forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class UNet(_PadToMultiple):
    """U-Net with ``depth`` 2x down-samplings; widths ``base_width * 2**level``.

    Defaults (base 16, depth 4, 1 input channel, 2 classes) give ~1.9 M
    parameters: trainable on a CPU on 128-256 px crops.
    """

    def __init__(self, in_channels: int, num_classes: int, base_width: int = 16,
                 depth: int = 4, norm: str = "batch") -> None:
        super().__init__()
        self.depth = depth
        widths = [base_width * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        cin = in_channels
        for w in widths:
            self.down.append(_conv_block(cin, w, norm))
            cin = w
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for w_low, w_high in zip(reversed(widths[1:]), reversed(widths[:-1])):
            self.up.append(nn.ConvTranspose2d(w_low, w_high, 2, stride=2))
            self.dec.append(_conv_block(2 * w_high, w_high, norm))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.up, self.dec):
            x = dec(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


class FCN(_PadToMultiple):
    """Plain FCN: a strided conv encoder, a 1x1 classifier, bilinear up-sampling.

    Coarser than the U-Net (no skip connections); a baseline and the fastest
    option. Widths ``base_width * 2**level`` for ``depth`` stride-2 stages.
    """

    def __init__(self, in_channels: int, num_classes: int, base_width: int = 16,
                 depth: int = 4, norm: str = "batch") -> None:
        super().__init__()
        self.depth = depth
        layers: list[nn.Module] = [_conv_block(in_channels, base_width, norm)]
        cin = base_width
        for i in range(1, depth + 1):
            w = base_width * 2 ** i
            layers += [nn.MaxPool2d(2), _conv_block(cin, w, norm)]
            cin = w
        self.encoder = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, num_classes, 1)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        return F.interpolate(self.head(self.encoder(x)), size=size, mode="bilinear",
                             align_corners=False)


class ResidualUNet(_PadToMultiple):
    """:class:`~.resunet.ResUNet` (a stride-2 stem and ``depth`` residual stages) with the padding of the others."""

    def __init__(self, in_channels: int, num_classes: int, base_width: int = 32,
                 depth: int = 4, norm: str = "batch") -> None:
        super().__init__()
        self.depth = depth
        self.body = ResUNet(in_channels, num_classes, base_width, depth, norm)

    @property
    def multiple(self) -> int:
        return 2 ** (self.depth + 1)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


#: Upper bounds for a model config: a small FCN for a desktop, and a crafted
#: checkpoint must not make us allocate gigabytes before failing.
MAX_CONFIG = {"in_channels": 16, "base_width": 256, "depth": 8, "num_classes": 4096}


def _positive_int(cfg: dict, key: str, minimum: int = 1) -> int:
    v = cfg[key]
    maximum = MAX_CONFIG.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum or (maximum is not None and v > maximum):
        raise ValueError(f"model config {key!r} must be an integer from {minimum} to {maximum}, got {v!r}")
    return v


def build_model(config: dict) -> nn.Module:
    """Build a model from a config dict (keys of :data:`DEFAULT_MODEL_CONFIG`).

    ``in_channels`` and ``num_classes`` are required; the rest default. The
    returned module carries ``model_config``: the complete dict (defaults
    filled in) that rebuilds the same architecture. Unknown keys or values
    raise ValueError.
    """
    unknown = sorted(set(config) - set(DEFAULT_MODEL_CONFIG))
    if unknown:
        raise ValueError(f"unknown model config keys {unknown}; known: {sorted(DEFAULT_MODEL_CONFIG)}")
    cfg = {**DEFAULT_MODEL_CONFIG, **config}
    if cfg["arch"] not in ARCHS:
        raise ValueError(f"unknown model arch {cfg['arch']!r}; choose one of {', '.join(ARCHS)}")
    if cfg["norm"] not in NORMS:
        raise ValueError(f"unknown norm {cfg['norm']!r}; choose one of {', '.join(NORMS)}")
    for key in ("in_channels", "base_width"):
        _positive_int(cfg, key)
    _positive_int(cfg, "num_classes", 2)
    _positive_int(cfg, "depth", 0)
    if cfg["arch"] == "resunet" and not 1 <= cfg["depth"] <= 6:
        raise ValueError(f"model config 'depth' must be from 1 to 6 for resunet, got {cfg['depth']!r}")
    cls = {"resunet": ResidualUNet, "unet": UNet, "fcn": FCN}[cfg["arch"]]
    model = cls(cfg["in_channels"], cfg["num_classes"], base_width=cfg["base_width"],
                depth=cfg["depth"], norm=cfg["norm"])
    model.model_config = dict(cfg)
    return model
