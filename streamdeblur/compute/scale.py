"""Working at a reduced internal resolution: the *correction* is upscaled, never the image.

A live camera may be larger than a model can keep up with. Instead of processing every pixel,
a stage can work on a smaller copy ``s = down(x)``, compute its result ``y_s`` there, and add the
upscaled correction to the full-resolution input::

    out = x + up(y_s − s)

The input's own detail (everything above the small copy's Nyquist frequency) passes through
untouched; the correction restores what blur removed below it. An upscaled *image* would instead
throw away the fine detail of sharp frames — a do-no-harm violation.

Example:
    >>> x = torch.rand(1, 3, 64, 96)
    >>> out = correct_at_scale(lambda s: s, x, 0.5)   # an identity stage leaves x unchanged
    >>> bool(torch.allclose(out, x))
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
from torch.nn import functional as F

#: Internal scales an automatic choice picks from, largest first.
CANDIDATE_SCALES: tuple[float, ...] = (1.0, 0.75, 0.5, 0.375, 0.25)


def work_size(height: int, width: int, scale: float, multiple: int = 1) -> tuple[int, int]:
    """The internal size for ``scale``: rounded up to ``multiple`` (at least one ``multiple``).

    Args:
        height: full height.
        width: full width.
        scale: in (0, 1].
        multiple: the internal size's divisor (e.g. the model's input multiple).

    Returns:
        ``(h, w)``.
    """
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    m = max(1, multiple)
    return max(m, math.ceil(height * scale / m - 1e-9) * m), max(m, math.ceil(width * scale / m - 1e-9) * m)


def downscale(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``N×C×H×W`` → ``N×C×h×w`` with area averaging (anti-aliased); unchanged at the same size."""
    if x.dim() != 4:
        raise ValueError(f"downscale expects N×C×H×W, got {tuple(x.shape)}")
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def upscale(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``N×C×h×w`` → ``N×C×H×W`` (bilinear); unchanged at the same size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def correct_at_scale(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, scale: float, multiple: int = 1
) -> torch.Tensor:
    """Run ``fn`` on a ``scale``-sized copy of ``x`` and add its upscaled correction to ``x``.

    Args:
        fn: ``N×C×h×w`` → ``N×C×h×w`` (a stage's image function).
        x: ``N×C×H×W``.
        scale: internal scale in (0, 1]; 1 calls ``fn(x)`` directly.
        multiple: the internal size is rounded to this.

    Returns:
        ``N×C×H×W``: ``x + up(fn(s) − s)`` with ``s = down(x)``.
    """
    if scale >= 1:
        return fn(x)
    size = work_size(x.shape[-2], x.shape[-1], scale, multiple)
    s = downscale(x.float(), size)
    return x.float() + upscale(fn(s).float() - s, tuple(x.shape[-2:]))


def choose_scale(
    seconds_at: Callable[[float], float], budget_s: float, candidates: Sequence[float] = CANDIDATE_SCALES
) -> tuple[float, float]:
    """The largest candidate scale whose measured time fits ``budget_s`` (else the smallest).

    Args:
        seconds_at: measures one call at a scale (seconds).
        budget_s: the time one frame may take.
        candidates: scales, largest first.

    Returns:
        ``(scale, seconds measured at it)``.
    """
    best = (candidates[-1], float("inf"))
    for s in candidates:
        t = seconds_at(s)
        best = (s, t)
        if t <= budget_s:
            break
    return best


def time_call(fn: Callable[[], object], repeats: int = 2) -> float:
    """The fastest of ``repeats`` timed calls after one warm-up call (seconds)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best
