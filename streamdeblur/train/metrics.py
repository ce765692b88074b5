"""Image quality metrics on ``N×3×H×W`` tensors in [0, 1]: PSNR and SSIM (on RGB, 8-bit scale)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def psnr(pred: torch.Tensor, target: torch.Tensor, crop: int = 0) -> float:
    """Mean PSNR in dB over the batch, after quantising both to 8 bits (as saved images would be).

    Args:
        pred, target: ``N×3×H×W`` in [0, 1].
        crop: pixels ignored at every border.
    """
    if pred.shape != target.shape:
        raise ValueError(f"psnr: shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if crop:
        pred, target = pred[..., crop:-crop, crop:-crop], target[..., crop:-crop, crop:-crop]
    p = (pred.clamp(0, 1) * 255).round()
    t = (target.clamp(0, 1) * 255).round()
    mse = (p - t).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(255.0**2 / mse)).mean())


def _gauss(window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(window, dtype=torch.float64) - window // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def ssim(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean SSIM (Wang et al. 2004: 11×11 Gaussian σ=1.5, K1 0.01, K2 0.03), per channel, on 8-bit values."""
    p = (pred.clamp(0, 1) * 255).round().double()
    t = (target.clamp(0, 1) * 255).round().double()
    c = p.shape[1]
    w = _gauss().double().expand(c, 1, 11, 11)

    def f(x):
        return F.conv2d(x, w, groups=c)

    mu_p, mu_t = f(p), f(t)
    s_pp = f(p * p) - mu_p**2
    s_tt = f(t * t) - mu_t**2
    s_pt = f(p * t) - mu_p * mu_t
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    m = ((2 * mu_p * mu_t + c1) * (2 * s_pt + c2)) / ((mu_p**2 + mu_t**2 + c1) * (s_pp + s_tt + c2))
    return float(m.mean())
