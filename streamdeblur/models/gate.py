"""The do-no-harm gate: how much of a restoration model's change to keep, region by region.

A blind deblurring model cannot always tell a blurred region from one that is smooth by nature; on
sharp input it may "restore" blur that is not there and soften or over-sharpen the frame (measured
on the validation no-blur set: −5.4 dB on the worst crop through the motion model, −7.0 dB through
the defocus model). The gate looks at the input ``x`` and the model's output ``y`` together and
predicts a map ``α ∈ [0, 1]`` at 1/16 of the resolution, smoothly upsampled; the stage returns::

    x + α · (y − x)

so ``α = 0`` gives the input back unchanged and ``α = 1`` the model's output. It is fitted, with the
model frozen, to maximise the mean PSNR of that blend on training crops, half of them blurred and
half sharp with only sensor noise and compression (:mod:`streamdeblur.train.gate`). A gate belongs
to the weights it was fitted for: it is shipped next to them (``<weights>.gate.pt``) and only used
with them.

It is small (65 k parameters; 66 ms per 640×360 frame on one loaded EPYC core, where the model takes
seconds) and built from plain
blocks: a 4×4 patchify stem that sees every pixel of ``[x, y, y − x]``, two stride-2 stages, and a
global-context term (the frame's mean features), then a 1×1 head.

Example:
    >>> gate = HarmGate()
    >>> x = torch.rand(1, 3, 64, 96)
    >>> gate(x, x).shape
    torch.Size([1, 3, 64, 96])
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F


class GateBlock(nn.Module):
    """Depth-wise 3×3, point-wise expansion, GELU, projection; a residual with a learnt scale."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(width, width, 3, padding=1, groups=width)
        self.pw1 = nn.Conv2d(width, 2 * width, 1)
        self.pw2 = nn.Conv2d(2 * width, width, 1)
        self.scale = nn.Parameter(torch.zeros(1, width, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.pw2(F.gelu(self.pw1(self.dw(x))))


class HarmGate(nn.Module):
    """Predicts the share ``α`` of a model's change to keep and applies it.

    Args:
        width: channels after the stem (doubled after the first downsampling).
    """

    #: the map is predicted at 1/FACTOR of the frame size
    FACTOR = 16

    def __init__(self, width: int = 24) -> None:
        super().__init__()
        self.stem = nn.Conv2d(9, width, 4, stride=4)
        self.stage1 = nn.Sequential(GateBlock(width), GateBlock(width))
        self.down1 = nn.Conv2d(width, 2 * width, 2, stride=2)
        self.stage2 = nn.Sequential(GateBlock(2 * width), GateBlock(2 * width))
        self.down2 = nn.Conv2d(2 * width, 2 * width, 2, stride=2)
        self.stage3 = nn.Sequential(GateBlock(2 * width), GateBlock(2 * width))
        self.context = nn.Conv2d(2 * width, 2 * width, 1)
        self.head = nn.Conv2d(2 * width, 1, 1)

    def alpha(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``α``, ``N×1×H×W`` in [0, 1], for input ``x`` and model output ``y`` (both ``N×3×H×W``)."""
        if x.dim() != 4 or x.shape != y.shape or x.shape[1] != 3:
            raise ValueError(f"HarmGate: x and y must both be N×3×H×W, got {tuple(x.shape)} and {tuple(y.shape)}")
        h, w = x.shape[-2:]
        m = self.FACTOR
        ph, pw = (-h) % m, (-w) % m
        inp = torch.cat([x, y, 4 * (y - x)], 1)  # the change is small: scaled to the range of the others
        if ph or pw:
            inp = F.pad(inp, (0, pw, 0, ph), mode="replicate")
        f = self.stage1(self.stem(inp))
        f = self.stage2(self.down1(f))
        f = self.stage3(self.down2(f))
        f = f + self.context(f.mean((-2, -1), keepdim=True))
        logit = self.head(f)
        a = torch.sigmoid(F.interpolate(logit, scale_factor=m, mode="bilinear", align_corners=False))
        return a[..., :h, :w]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x + α·(y − x)``: the input where the model would harm it, the model's output where it helps."""
        return x + self.alpha(x, y) * (y - x)


def _beside(path: str | object, suffix: str) -> str:
    """``foo.pt`` → ``foo`` + ``suffix`` (a name without ``.pt`` keeps it whole)."""
    s = str(path)
    return (s[:-3] if s.endswith(".pt") else s) + suffix


def gate_path(weights: str | object) -> str:
    """Where the gate fitted for ``weights`` lives: ``foo.pt`` → ``foo.gate.pt``."""
    return _beside(weights, ".gate.pt")


def fitted_for(gate_file: str | Path) -> dict | None:
    """What a gate was fitted for, from the card written beside it (``foo.gate.pt`` → ``foo.gate.json``:
    ``model``, ``task``, ``weights_sha256``), or None where there is no readable card.

    Example:
        >>> fitted_for("no/such.gate.pt") is None
        True
    """
    card = Path(_beside(gate_file, ".json"))
    try:
        record = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
