"""Image quality metrics on ``N×3×H×W`` tensors in [0, 1]: PSNR and SSIM (on RGB, 8-bit scale)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

#: PSNR of identical pictures, in dB: one number, not ``inf`` (which made a clip's mean ``inf`` and its gain
#: ``nan``) and not an arbitrary floor (148 dB before); the video evaluator uses it too. One level in one
#: pixel scores 93.8 dB in a 128×96 picture, 101.8 dB in 320×240 (capped: as good as identical there).
PSNR_CAP = 100.0


def psnr(pred: torch.Tensor, target: torch.Tensor, crop: int = 0) -> float:
    """Mean PSNR in dB over the batch, after quantising both to 8 bits (as saved images would be);
    an identical pair counts :data:`PSNR_CAP`.

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
    mse = (p - t).pow(2).flatten(1).mean(1).clamp_min(255.0**2 / 10 ** (PSNR_CAP / 10))  # identical: the cap
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


def bootstrap_ci(
    values: Sequence[float], groups: Sequence[str], level: float = 0.95, draws: int = 10000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of a mean, resampling whole groups (images), not items (crops).

    Crops of one photograph are not independent (same scene, same content): resampling crops would
    make the interval too narrow. Each draw picks ``len(set(groups))`` images with replacement and
    takes the mean over all their crops.

    Args:
        values: one value per crop (e.g. PSNR gain in dB).
        groups: the image each crop came from (same length as ``values``).
        level: coverage of the interval.
        draws: bootstrap resamples.
        seed: random seed (the interval is reproducible).

    Returns:
        ``(low, high)``.

    Example:
        >>> bootstrap_ci([1.0, 1.2, 3.0, 2.8], ["a", "a", "b", "b"])[0] >= 1.0
        True
    """
    if len(values) != len(groups) or not len(values):
        raise ValueError(f"bootstrap_ci: {len(values)} values for {len(groups)} group labels")
    names = sorted(set(groups))
    index = {g: i for i, g in enumerate(names)}
    gi = np.array([index[g] for g in groups])
    sums = np.bincount(gi, weights=np.asarray(values, dtype=np.float64), minlength=len(names))
    counts = np.bincount(gi, minlength=len(names)).astype(np.float64)
    pick = np.random.default_rng(seed).integers(0, len(names), size=(draws, len(names)))
    means = sums[pick].sum(1) / counts[pick].sum(1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)
