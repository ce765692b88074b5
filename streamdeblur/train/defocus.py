"""Synthetic defocus blur: spatially varying disc and Gaussian PSFs from smooth random depth, in
linear light, then sensor noise and compression (shared with the motion pipeline).

A thin lens focused at depth ``f`` images a point at depth ``d`` as a disc whose radius grows with
``|d − f|`` (the circle of confusion). We draw a smooth random depth map (low-frequency noise plus
a tilted plane, like a scene receding from the camera), pick a focus depth and a maximum radius,
blur the linear image with a ladder of PSFs of increasing radius and pick, per pixel, between the
two ladder rungs around its own radius (linear interpolation). The PSF is an anti-aliased disc
(real apertures) or a Gaussian (soft, apodised optics). Occlusion at depth edges is ignored — a
standard simplification for training data. Each sample keeps its true radius map.

Example:
    >>> rng = np.random.default_rng(0)
    >>> s = synthesize_defocus(rng, np.full((96, 96, 3), 128, np.uint8), margin=16)
    >>> s.blurry.shape, s.radius.shape
    ((64, 64, 3), (64, 64))
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .blur import BlurConfig, BlurSample, convolve, degrade, srgb_to_linear


def disc_kernel(radius: float, oversample: int = 8) -> np.ndarray:
    """Anti-aliased uniform disc of ``radius`` pixels (a delta below 0.5 px), sum 1."""
    if radius < 0.5:
        return np.ones((1, 1), np.float32)
    r = int(np.ceil(radius))
    n = (2 * r + 1) * oversample
    c = (np.arange(n) + 0.5) / oversample - (r + 0.5)
    yy, xx = np.meshgrid(c, c, indexing="ij")
    fine = (xx**2 + yy**2 <= radius**2).astype(np.float32)
    k = fine.reshape(2 * r + 1, oversample, 2 * r + 1, oversample).mean((1, 3))
    return k / k.sum()


def gaussian_kernel(sigma: float) -> np.ndarray:
    if sigma < 0.3:
        return np.ones((1, 1), np.float32)
    r = int(np.ceil(3 * sigma))
    x = np.arange(-r, r + 1, dtype=np.float32)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    k = np.outer(g, g)
    return (k / k.sum()).astype(np.float32)


def depth_map(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth random depth in [0, 1]: low-frequency noise plus a random tilted plane."""
    grid = rng.normal(size=(int(rng.integers(2, 6)), int(rng.integers(2, 6)))).astype(np.float32)
    noise = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 2 * np.pi)
    plane = (np.cos(a) * xx / w + np.sin(a) * yy / h) * rng.uniform(0, 3)
    d = noise * rng.uniform(0.3, 1.0) + plane
    d -= d.min()
    return d / max(float(d.max()), 1e-6)


@dataclass
class DefocusConfig:
    """Strength of the synthetic defocus (radii in pixels at the training resolution)."""

    max_radius: tuple[float, float] = (1.5, 10.0)
    p_gaussian: float = 0.3
    step: float = 0.75  #: radius spacing of the PSF ladder
    p_in_focus_region: float = 0.7  #: focus inside the depth range (part of the frame sharp)
    p_sharp: float = 0.25  #: do-no-harm share: in focus everywhere or nearly (max radius < sharp_radius)
    sharp_radius: float = 1.0


def synthesize_defocus(
    rng: np.random.Generator,
    sharp_u8: np.ndarray,
    cfg: DefocusConfig | None = None,
    degrade_cfg: BlurConfig | None = None,
    margin: int | None = None,
) -> BlurSample:
    """Defocus a sharp sRGB crop; ``margin`` pixels are trimmed per side (default: largest radius).

    Returns:
        :class:`~streamdeblur.train.blur.BlurSample` with ``radius`` (per-pixel disc radius or
        Gaussian sigma) and ``info`` (``psf``, ``max_radius``).
    """
    cfg = cfg or DefocusConfig()
    lin = srgb_to_linear(sharp_u8.astype(np.float32) / 255.0).astype(np.float32)
    h, w = lin.shape[:2]
    depth = depth_map(rng, h, w)
    focus = rng.uniform(0, 1) if rng.uniform() < cfg.p_in_focus_region else rng.choice([-0.3, 1.3])
    sharp = rng.uniform() < cfg.p_sharp
    rmax = rng.uniform(0.0, cfg.sharp_radius) if sharp else rng.uniform(*cfg.max_radius)
    coc = np.abs(depth - focus)
    radius = (coc / max(float(coc.max()), 1e-6) * rmax).astype(np.float32)
    gaussian = rng.uniform() < cfg.p_gaussian
    make = (lambda r: gaussian_kernel(r / 2)) if gaussian else disc_kernel
    ladder = np.arange(0, rmax + cfg.step, cfg.step, dtype=np.float32)
    layers = [lin if r < 0.5 else convolve(lin, make(float(r))) for r in ladder]
    pos = np.clip(radius / cfg.step, 0, len(ladder) - 1)
    lo = np.floor(pos).astype(np.int32)
    hi = np.minimum(lo + 1, len(ladder) - 1)
    t = (pos - lo)[..., None]
    stack = np.stack(layers)
    yy, xx = np.mgrid[0:h, 0:w]
    blurred = stack[lo, yy, xx] * (1 - t) + stack[hi, yy, xx] * t
    info = {"psf": "gaussian" if gaussian else "disc", "max_radius": float(rmax), "sharp_share": bool(sharp)}
    out = degrade(rng, blurred, degrade_cfg or BlurConfig(), info)
    m = int(np.ceil(rmax)) + 1 if margin is None else margin
    sl = (slice(m, h - m), slice(m, w - m))
    return BlurSample(out[sl], sharp_u8[sl].copy(), [], None, info, radius=radius[sl])
