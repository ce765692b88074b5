"""The simulated hand: a hand-held camera path whose shake comes in bursts, and what it does to one exposure.

The camera pose (x, y shift in output pixels, roll angle) is sampled on a fine time grid
(:data:`SUBSTEPS` per frame). Its velocity is a random walk (smoothed white noise: a hand's tremor)
whose strength follows a burst envelope — calm stretches where the hand is still (frames nearly
sharp) alternate with shaky bursts. Wander slower than about half a second is removed so the camera
stays on the scene; still scenes add a slow straight pan.

Example:
    >>> rng = np.random.default_rng(0)
    >>> path, env = camera_path(rng, 30, (320, 240), ShakeConfig(), pan=True)
    >>> centre, worst = blur_lengths(path, (320, 240), 30, exposure=0.8)
    >>> len(worst), min(worst) < max(worst)
    (30, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUBSTEPS = 64  #: camera path samples per frame time


@dataclass
class ShakeConfig:
    """Strength and timing of the simulated hand.

    Attributes:
        burst_px: blur path length per frame time in a full burst, in pixels at 320 px width (scaled with width).
        calm: strength in calm stretches, as a fraction of a burst.
        calm_frames: range of lengths of calm stretches (frames).
        burst_frames: range of lengths of shaky bursts (frames).
        tremor_frames: correlation time of the velocity random walk (frames).
        roll: roll speed as the fraction of the translation speed it adds at the frame's corners.
        pan_px: range of pan speed for still scenes (pixels per frame at 320 px width).
        exposure: range of exposure as a fraction of the frame time.
        crf: range of H.264 crf of the blurry clip.
        shot, read: log-uniform ranges of linear-light shot-noise variance per unit and read-noise σ.
    """

    burst_px: tuple[float, float] = (8.0, 20.0)
    calm: tuple[float, float] = (0.02, 0.08)
    calm_frames: tuple[int, int] = (6, 18)
    burst_frames: tuple[int, int] = (6, 16)
    tremor_frames: float = 0.35
    roll: float = 0.35
    pan_px: tuple[float, float] = (0.15, 0.5)
    exposure: tuple[float, float] = (0.6, 1.0)
    crf: tuple[int, int] = (18, 28)
    shot: tuple[float, float] = (2e-5, 4e-4)
    read: tuple[float, float] = (5e-4, 2.5e-3)


@dataclass
class CameraPath:
    """Camera pose on a fine time grid: ``t`` in frame times, shift ``x``, ``y`` (output px), roll ``a`` (rad)."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    a: np.ndarray

    def at(self, t: float) -> tuple[float, float, float]:
        return (float(np.interp(t, self.t, self.x)), float(np.interp(t, self.t, self.y)), float(np.interp(t, self.t, self.a)))


def burst_envelope(rng: np.random.Generator, n_frames: int, cfg: ShakeConfig) -> np.ndarray:
    """Per-frame shake strength in [calm, 1]: alternating calm stretches and bursts, softly joined.

    Returns:
        ``n_frames + 2`` strengths (one spare frame each side for the exposure overhang).
    """
    out = np.empty(n_frames + 2, np.float64)
    i, shaky = 0, bool(rng.uniform() < 0.5)
    while i < len(out):
        lo, hi = cfg.burst_frames if shaky else cfg.calm_frames
        n = int(rng.integers(lo, hi + 1))
        out[i : i + n] = rng.uniform(0.6, 1.0) if shaky else rng.uniform(*cfg.calm)
        i, shaky = i + n, not shaky
    # short ramps (a hand does not jump from still to shaking within one frame)
    k = np.array([0.25, 0.5, 0.25])
    return np.convolve(np.pad(out, 1, mode="edge"), k, mode="valid")


def _smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Unit-RMS Gaussian-filtered white noise of length ``n`` (``sigma`` in samples)."""
    pad = int(4 * sigma) + 1
    w = rng.normal(size=n + 2 * pad)
    x = np.arange(-pad, pad + 1)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    s = np.convolve(w, g / g.sum(), mode="valid")[:n]
    return s / (np.sqrt(np.mean(s**2)) + 1e-12)


def _highpass(x: np.ndarray, sigma: float) -> np.ndarray:
    """Remove the slow drift of a path (subtract its Gaussian-smoothed self, ``sigma`` in samples)."""
    pad = int(3 * sigma) + 1
    k = np.arange(-pad, pad + 1)
    g = np.exp(-0.5 * (k / sigma) ** 2)
    low = np.convolve(np.pad(x, pad, mode="reflect"), g / g.sum(), mode="valid")
    return x - low


def camera_path(
    rng: np.random.Generator, n_frames: int, size: tuple[int, int], cfg: ShakeConfig, pan: bool
) -> tuple[CameraPath, np.ndarray]:
    """Random hand-held camera path over ``n_frames`` (+1 frame of overhang).

    Args:
        rng: random generator.
        n_frames: number of frames.
        size: output ``(width, height)``; speeds scale with the width.
        cfg: shake configuration.
        pan: add a slow straight pan (still scenes).

    Returns:
        the path, and the per-frame burst envelope.
    """
    w, h = size
    scale = w / 320.0
    env = burst_envelope(rng, n_frames, cfg)
    n = (n_frames + 2) * SUBSTEPS
    t = np.arange(n) / SUBSTEPS - 1.0  # frame times from -1 to n_frames + 1
    strength = np.interp(t, np.arange(-1, n_frames + 1) + 0.5, env)
    speed = rng.uniform(*cfg.burst_px) * scale  # px per frame in a full burst
    sig = cfg.tremor_frames * SUBSTEPS
    vx, vy = _smooth_noise(rng, n, sig), _smooth_noise(rng, n, sig)
    # |v| has RMS sqrt(2) for two unit components: normalise so a full burst moves `speed` px per frame
    vx, vy = vx * strength * speed / np.sqrt(2), vy * strength * speed / np.sqrt(2)
    half_diag = 0.5 * np.hypot(w, h)
    va = _smooth_noise(rng, n, sig) * strength * speed * cfg.roll / half_diag
    x, y, a = (np.cumsum(v) / SUBSTEPS for v in (vx, vy, va))
    drift = 12 * SUBSTEPS  # keep the camera on the scene: remove wander slower than ~half a second
    x, y, a = _highpass(x, drift), _highpass(y, drift), _highpass(a, drift)
    if pan:
        ang = rng.uniform(0, 2 * np.pi)
        p = rng.uniform(*cfg.pan_px) * scale
        x, y = x + np.cos(ang) * p * t, y + np.sin(ang) * p * t
    return CameraPath(t, x, y, a), env


def _corners(size: tuple[int, int]) -> np.ndarray:
    w, h = size
    return np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1], [(w - 1) / 2, (h - 1) / 2]], np.float64)


def view_points(path: CameraPath, size: tuple[int, int], sel: np.ndarray) -> np.ndarray:
    """Scene positions (relative to the scene centre) of the frame's corners and centre at the samples ``sel``."""
    w, h = size
    c = _corners(size) - [(w - 1) / 2, (h - 1) / 2]
    ca, sa = np.cos(path.a[sel]), np.sin(path.a[sel])
    px = ca[:, None] * c[:, 0] - sa[:, None] * c[:, 1] + path.x[sel, None]
    py = sa[:, None] * c[:, 0] + ca[:, None] * c[:, 1] + path.y[sel, None]
    return np.stack([px, py], -1)  # samples × 5 × 2


def blur_lengths(path: CameraPath, size: tuple[int, int], n_frames: int, exposure: float) -> tuple[list[float], list[float]]:
    """Per frame: blur path length (px) over the exposure at the frame centre, and the largest over corners and centre."""
    centre, worst = [], []
    for f in range(n_frames):
        sel = (path.t >= f) & (path.t <= f + exposure)
        pts = view_points(path, size, np.nonzero(sel)[0])
        seg = np.linalg.norm(np.diff(pts, axis=0), axis=-1).sum(0)  # length per point
        centre.append(float(seg[4]))
        worst.append(float(seg.max()))
    return centre, worst


def exposure_samples(path: CameraPath, size: tuple[int, int], f: int, exposure: float) -> np.ndarray:
    """Times at which frame ``f`` is sampled: uniform over the exposure, ≤ 0.5 px apart anywhere in the frame."""
    sel = np.nonzero((path.t >= f) & (path.t <= f + exposure))[0]
    pts = view_points(path, size, sel)
    length = float(np.linalg.norm(np.diff(pts, axis=0), axis=-1).sum(0).max())
    n = int(np.clip(np.ceil(2 * length) + 1, 4, 160))
    return f + (np.arange(n) + 0.5) / n * exposure
