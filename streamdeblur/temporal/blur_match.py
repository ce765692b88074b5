"""Blur a sharp registered frame as the current frame is blurred, so that gates compare like with like.

A gate that compares a blurred frame with a sharp copy of the same scene sees their low frequencies
differ (a long blur attenuates them too) and takes the copy for a misplaced one: the frames that
need the sharp copy most are the ones it is kept out of. Blurring the copy with the current frame's
blur first makes the comparison blur-blind, while a subject that moved still differs.

The blur is fitted per frame as one linear motion blur (length and direction from a small bank) that,
applied to the registered copy, best explains the current frame on small grey images; camera shake
within one exposure is close to a short straight path.

Example:
    >>> rng = np.random.default_rng(0)
    >>> sharp = cv2.GaussianBlur(rng.random((90, 160)).astype(np.float32), (0, 0), 1.0)
    >>> blurred = cv2.filter2D(sharp, -1, line_kernel(6.0, 0.0))
    >>> length, angle = fit_motion_blur(blurred, sharp)
    >>> (length, angle)
    (6.0, 0.0)
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from .registration import luma

#: blur lengths tried (pixels at the fitting scale) and number of directions over 180°
LENGTHS = (0.0, 1.0, 2.0, 3.0, 4.5, 6.0, 8.0, 11.0, 15.0)
ANGLES = 8


@functools.lru_cache(maxsize=256)
def line_kernel(length: float, angle: float) -> np.ndarray:
    """A normalised straight motion-blur kernel ``length`` px long at ``angle`` radians (odd size; δ for 0).

    Cached (the fit tries the same bank every frame): the array is read-only.
    """
    if length < 0.5:
        k = np.ones((1, 1), np.float32)
        k.flags.writeable = False
        return k
    r = int(math.ceil(length / 2)) + 1
    k = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
    n = max(2, int(math.ceil(length * 3)))
    for s in np.linspace(-length / 2, length / 2, n):  # bilinear splats along the segment
        x, y = r + s * math.cos(angle), r + s * math.sin(angle)
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - x0, y - y0
        k[y0, x0] += (1 - fx) * (1 - fy)
        k[y0, x0 + 1] += fx * (1 - fy)
        k[y0 + 1, x0] += (1 - fx) * fy
        k[y0 + 1, x0 + 1] += fx * fy
    k /= k.sum()
    k.flags.writeable = False
    return k


def fit_motion_blur(target: np.ndarray, source: np.ndarray, weight: np.ndarray | None = None) -> tuple[float, float]:
    """The linear motion blur (length px, angle rad) that makes ``source`` look most like ``target``.

    Args:
        target: ``h×w`` float32 grey (the blurred current frame).
        source: ``h×w`` float32 grey (the sharp copy, registered onto ``target``).
        weight: ``h×w`` in [0, 1], where the comparison counts (None: everywhere).

    Returns:
        ``(length, angle)`` from :data:`LENGTHS` × :data:`ANGLES` directions (smallest error; a
        margin of 8 px is left out).
    """
    if target.shape != source.shape or target.ndim != 2:
        raise ValueError(f"fit_motion_blur: two h×w images, got {target.shape} and {source.shape}")
    m = np.zeros(target.shape, np.float32)
    m[8:-8, 8:-8] = 1
    if weight is not None:
        m *= weight.astype(np.float32)
    best, best_err = (0.0, 0.0), math.inf
    for length in LENGTHS:
        for a in range(ANGLES if length > 0 else 1):
            angle = math.pi * a / ANGLES
            b = cv2.filter2D(source, -1, line_kernel(length, angle), borderType=cv2.BORDER_REFLECT)
            err = float((m * (b - target) ** 2).sum())
            if err < best_err - 1e-9:
                best, best_err = (length, angle), err
    return best


def blur_like(images: torch.Tensor, length: float, angle: float) -> torch.Tensor:
    """``N×C×H×W`` blurred by the linear kernel (:func:`line_kernel`), reflect-padded."""
    kern = line_kernel(length, angle)
    if kern.size == 1:
        return images
    if images.device.type == "cpu" and images.dtype == torch.float32:  # OpenCV: a DFT for long kernels
        hwc = images.permute(0, 2, 3, 1).contiguous().numpy()
        out = np.stack([cv2.filter2D(x, -1, kern, borderType=cv2.BORDER_REFLECT_101) for x in hwc])
        return torch.from_numpy(out).permute(0, 3, 1, 2).reshape(images.shape)
    k = torch.tensor(kern).to(images)
    c = images.shape[1]
    r = k.shape[0] // 2
    x = F.pad(images, (r, r, r, r), mode="reflect" if min(images.shape[-2:]) > r else "replicate")
    return F.conv2d(x, k.expand(c, 1, -1, -1), groups=c)


def fit_blur(current: torch.Tensor, copy: torch.Tensor, weight: torch.Tensor, width: int = 160) -> tuple[float, float]:
    """The linear motion blur that makes ``copy`` (registered onto ``current``) look like ``current``.

    Args:
        current: ``3×H×W`` in [0, 1].
        copy: ``3×H×W``, the registered sharp copy.
        weight: ``1×H×W`` in [0, 1], where the copy is trusted (static scene, inside the frame).
        width: width of the grey images the blur is fitted on (a placement a fraction of a pixel off
            at full size does not change the fit there).

    Returns:
        ``(length, angle)``: the length in pixels of ``current`` (0 when ``current`` is no blurrier
        than the copy, as far as ``width``-px images tell) and the direction in radians.
    """
    h, w = current.shape[-2:]
    s = min(1.0, width / w)
    size = (max(8, round(h * s)), max(8, round(w * s)))
    pair = luma(torch.stack([current.float(), copy.float()]))
    small = F.interpolate(pair, size=size, mode="area") if s < 1 else pair
    wt = F.interpolate(weight.float()[None], size=size, mode="area")[0, 0] if s < 1 else weight.float()[0]
    small, wt = small.cpu(), wt.cpu()  # the fit runs in OpenCV on the small images (any device in)
    length, angle = fit_motion_blur(small[0, 0].numpy(), small[1, 0].numpy(), wt.numpy())
    return length / s, angle


def match_blur(current: torch.Tensor, copy: torch.Tensor, weight: torch.Tensor, width: int = 160) -> tuple[torch.Tensor, float]:
    """``copy`` (``3×H×W``, registered onto ``current``) blurred as ``current`` is (:func:`fit_blur`).

    Returns:
        ``(matched, length)``: ``3×H×W``, and the fitted blur's length in pixels of ``current``.
    """
    length, angle = fit_blur(current, copy, weight, width)
    return blur_like(copy.float()[None], length, angle)[0], length
