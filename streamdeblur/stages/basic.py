"""Model-free stages: ``identity`` (pass-through) and ``unsharp`` (classical unsharp masking)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .base import Batch, Stage, register_stage


@register_stage("identity")
class Identity(Stage):
    """Pass frames through unchanged (tests the decode → encode path)."""

    def __call__(self, batch: Batch) -> Batch:
        return batch


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``N×C×H×W`` with reflect borders.

    Example:
        >>> round(gaussian_blur(torch.ones(1, 3, 8, 8), 1.0).mean().item(), 5)
        1.0
    """
    if x.dim() != 4:
        raise ValueError(f"gaussian_blur expects N×C×H×W, got {tuple(x.shape)}")
    r = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    c = x.shape[1]
    pad = min(r, x.shape[-1] - 1, x.shape[-2] - 1)
    mode = "reflect" if pad == r else "replicate"
    y = F.conv2d(F.pad(x, (r, r, 0, 0), mode=mode), g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(y, (0, 0, r, r), mode=mode), g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def unsharp_mask(x: torch.Tensor, sigma: float = 1.5, amount: float = 1.0) -> torch.Tensor:
    """``x + amount·(x − blur(x))``, clamped to [0, 1]."""
    return (x + amount * (x - gaussian_blur(x, sigma))).clamp(0, 1)


@register_stage("unsharp")
class Unsharp(Stage):
    """Classical unsharp masking: a baseline and a stand-in when no model is wanted."""

    @dataclass
    class Options:
        sigma: float = 1.5
        amount: float = 1.0

    def __call__(self, batch: Batch) -> Batch:
        batch.images = unsharp_mask(batch.images, self.options.sigma, self.options.amount)
        return batch
