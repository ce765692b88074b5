"""``kernel_overlay``: draw the blur the model estimated on the video.

For motion (DeepRFTv2) it draws the Fourier Kernel Estimator's channel-averaged kernels in one
panel in a corner, readable at a glance: one cell per tile laid out like the tiles, each kernel
cropped to where its energy is (a 4-px streak in a 33-px kernel fills its cell instead of being a
speck), normalised per kernel (brightest = most energy), with a legend naming the crop. With
``grid: false`` one averaged kernel is drawn the same way. For defocus (FDIKP) it draws the
predicted blur-size map as a small picture-in-picture. The picture outside the panel is unchanged.
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


def crop_support(kernel: torch.Tensor, floor: float = 0.05, margin: int = 2) -> torch.Tensor:
    """The square around a kernel's energy: magnitude above ``floor`` × peak, plus ``margin`` pixels, centred."""
    a = normalise_for_display(kernel.float())
    ys, xs = torch.nonzero(a > floor, as_tuple=True)
    n = a.shape[-1]
    if len(ys) == 0:
        return kernel
    c = n // 2
    half = int(max((ys - c).abs().max(), (xs - c).abs().max())) + margin
    half = min(max(half, 2), c)
    return kernel[..., c - half : c + half + 1, c - half : c + half + 1]


def kernel_panel(entries: list, height: int, width: int, max_cell: int = 96) -> torch.Tensor:
    """``3×h×w`` panel: one cell per tile (same layout as the tiles), each kernel cropped to its
    support, normalised and drawn large, plus a legend; ``height``/``width`` are the frame's.

    The cells take at most a third of the frame's height and a quarter of its width (24 px or more
    where the frame has room, 8 at least); the legend is drawn at a fixed, legible size, smaller on a
    narrow frame, and left out where it would not fit half the frame's width: on a 64×48 frame the
    panel covered the whole picture."""
    from .compare import label_overlay

    ys, xs = sorted({e[0] for e in entries}), sorted({e[1] for e in entries})
    rows, cols = len(ys), len(xs)
    crops = [crop_support(e[4]) for e in entries]
    side = max(c.shape[-1] for c in crops)
    room = min(height // 3 // rows, width // 4 // cols)
    cell = max(24, min(max_cell, room))  # large enough to read where the frame has room
    cell = max(8, min(cell, room))  # and never beyond it (a 64×48 frame)
    grid = torch.zeros(3, rows * cell, cols * cell)
    for (y, x, *_), k in zip(entries, crops):
        r, q = ys.index(y), xs.index(x)
        pad = (side - k.shape[-1]) // 2
        k = F.pad(k.float(), (pad, pad, pad, pad))  # the same scale in every cell
        grid[:, r * cell : (r + 1) * cell, q * cell : (q + 1) * cell] = inset_image(k, cell)
    legend = label_overlay(f"kernels {side}x{side}px", 224, max_width=width // 2)
    if legend is None:
        return grid
    legend_c, legend_a = legend
    lw = legend_c.shape[-1]
    panel_w = max(grid.shape[-1], lw)
    panel = torch.zeros(3, grid.shape[-2] + legend_c.shape[-2], panel_w)
    panel[:, : grid.shape[-2], : grid.shape[-1]] = grid
    panel[:, grid.shape[-2] :, :lw] = legend_c * legend_a
    return panel


def corner_origin(position: str, h: int, w: int, inset_h: int, inset_w: int, margin: int = 8) -> tuple[int, int]:
    """Top-left ``(y, x)`` of an ``inset_h×inset_w`` inset in corner ``position`` of an ``h×w`` frame,
    ``margin`` px from both edges (a square's origin put a flat blur map 34 px above the bottom).

    Example:
        >>> corner_origin("bottom-right", 180, 320, 34, 60)
        (138, 252)
    """
    y = margin if position.startswith("top") else max(0, h - inset_h - margin)
    x = margin if position.endswith("left") else max(0, w - inset_w - margin)
    return y, x


@register_stage("kernel_overlay")
class KernelOverlay(Stage):
    """Draw estimated kernels (motion) or the blur map (defocus) as insets."""

    requires = frozenset({"kernels", "blurmap"})

    @dataclass
    class Options:
        grid: bool = True  #: one inset per tile (when the frame was tiled), else one in a corner
        position: str = "top-right"  #: corner of the single inset
        size: int = 96  #: largest cell of the kernel panel, in pixels
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
                if entries and not (o.grid and len(entries) > 1):
                    entries = [(0, 0, H, W, torch.stack([e[4] for e in entries]).mean(0))]
                if entries:
                    panel = kernel_panel(entries, H, W, o.size)
                    self._blend(img, panel, *corner_origin(o.position, H, W, *panel.shape[-2:]))
            if blurmap is not None:
                m = blurmap[i].float()
                m = (m / m.max().clamp_min(1e-6))[None, None]
                s = max(16, min(o.size * 2, H // 3, W // 3))
                hh = max(8, round(s * H / W))
                small = F.interpolate(m, size=(hh, s), mode="bilinear", align_corners=False)[0, 0]
                pic = torch.stack([small, small * 0.6, 1 - small]).clamp(0, 1)
                self._blend(img, pic, *corner_origin(o.position, H, W, hh, s))
        return batch
