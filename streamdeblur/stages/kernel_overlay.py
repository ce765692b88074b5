"""``kernel_overlay``: draw the blur the model estimated on the video.

For motion (DeepRFTv2) it draws the Fourier Kernel Estimator's channel-averaged kernel (its
magnitude, normalised) as an inset — one per tile in a grid over the frame, or one in a corner.
For defocus (FDIKP) it draws the predicted blur-size map as a small picture-in-picture. Pixels
outside the insets are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ..models.kernels import normalise_for_display
from .base import Batch, Stage, register_stage

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


def inset_image(kernel: torch.Tensor, size: int) -> torch.Tensor:
    """``3×size×size`` picture of a kernel: warm colour map of its normalised magnitude, with a frame."""
    k = normalise_for_display(kernel.float())[None, None]
    k = F.interpolate(k, size=(size, size), mode="nearest")[0, 0].sqrt()  # sqrt: faint tails visible
    img = torch.stack([k.clamp(0, 1), (k * 1.4 - 0.3).clamp(0, 1), (k * 2 - 1.2).clamp(0, 1)])
    img[:, :2, :] = img[:, -2:, :] = img[:, :, :2] = img[:, :, -2:] = 1.0
    return img


def corner_origin(position: str, h: int, w: int, size: int, margin: int = 8) -> tuple[int, int]:
    y = margin if position.startswith("top") else max(0, h - size - margin)
    x = margin if position.endswith("left") else max(0, w - size - margin)
    return y, x


@register_stage("kernel_overlay")
class KernelOverlay(Stage):
    """Draw estimated kernels (motion) or the blur map (defocus) as insets."""

    requires = frozenset({"kernels", "blurmap"})

    @dataclass
    class Options:
        grid: bool = True  #: one inset per tile (when the frame was tiled), else one in a corner
        position: str = "top-right"  #: corner of the single inset
        size: int = 96  #: inset side in pixels
        opacity: float = 0.85

    def __init__(self, options=None, ctx=None) -> None:
        super().__init__(options, ctx)
        if self.options.position not in CORNERS:
            raise ValueError(f"kernel_overlay: position must be one of {', '.join(CORNERS)}")
        if not 0.0 <= self.options.opacity <= 1.0:
            raise ValueError("kernel_overlay: opacity must be in [0, 1]")

    def _blend(self, img: torch.Tensor, inset: torch.Tensor, y: int, x: int) -> None:
        h, w = inset.shape[-2:]
        H, W = img.shape[-2:]
        y, x = max(0, min(y, H - h)), max(0, min(x, W - w))
        h, w = min(h, H), min(w, W)
        a = self.options.opacity
        region = img[:, y : y + h, x : x + w]
        region.mul_(1 - a).add_(inset[:, :h, :w].to(img) * a)

    def __call__(self, batch: Batch) -> Batch:
        kernels = batch.side.get("kernels")
        blurmap = batch.side.get("blurmap")
        o = self.options
        for i in range(batch.images.shape[0]):
            img = batch.images[i]
            H, W = img.shape[-2:]
            if kernels is not None:
                entries = kernels[i]
                if o.grid and len(entries) > 1:
                    for y, x, h, w, k in entries:
                        s = max(16, min(o.size, h // 2, w // 2))
                        self._blend(img, inset_image(k, s), y + (h - s) // 2, x + (w - s) // 2)
                elif entries:
                    k = torch.stack([e[4] for e in entries]).mean(0)
                    s = max(16, min(o.size, H // 2, W // 2))
                    self._blend(img, inset_image(k, s), *corner_origin(o.position, H, W, s))
            if blurmap is not None:
                m = blurmap[i].float()
                m = (m / m.max().clamp_min(1e-6))[None, None]
                s = max(16, min(o.size * 2, H // 3, W // 3))
                hh = max(8, round(s * H / W))
                small = F.interpolate(m, size=(hh, s), mode="bilinear", align_corners=False)[0, 0]
                pic = torch.stack([small, small * 0.6, 1 - small]).clamp(0, 1)
                self._blend(img, pic, *corner_origin(o.position, H, W, max(s, hh)))
        return batch
