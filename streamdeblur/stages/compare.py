"""``compare``: before and after in one picture — side by side, or a vertical wipe — with labels."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .base import Batch, Stage, register_stage


def label_overlay(text: str, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """White text with a dark outline as (``3×h×w`` colour, ``1×h×w`` alpha), sized to ``height``."""
    scale = max(0.4, height / 360 * 0.8)
    thick = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = thick * 3
    w, h = tw + 2 * pad, th + base + 2 * pad
    alpha = np.zeros((h, w), np.uint8)
    colour = np.zeros((h, w), np.uint8)
    org = (pad, pad + th)
    cv2.putText(alpha, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick + 3, cv2.LINE_AA)
    cv2.putText(colour, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)
    a = torch.from_numpy(alpha).float().div(255)[None]
    c = torch.from_numpy(colour).float().div(255)[None].expand(3, -1, -1)
    return c, a


def paste(img: torch.Tensor, colour: torch.Tensor, alpha: torch.Tensor, y: int, x: int) -> None:
    """Alpha-blend ``colour`` onto ``img`` (``N×3×H×W``) at (y, x), clipped to the frame, in place."""
    h, w = colour.shape[-2:]
    H, W = img.shape[-2:]
    h, w = min(h, H - y), min(w, W - x)
    if h <= 0 or w <= 0:
        return
    region = img[..., y : y + h, x : x + w]
    a = alpha[..., :h, :w].to(img)
    region.mul_(1 - a).add_(colour[..., :h, :w].to(img) * a)


@register_stage("compare")
class Compare(Stage):
    """Before/after view: ``side_by_side`` (twice as wide) or ``wipe`` (left of the line before,
    right after, a thin line between)."""

    requires = frozenset()

    @dataclass
    class Options:
        mode: str = "side_by_side"  #: side_by_side | wipe
        position: float = 0.5  #: wipe line, fraction of the width
        labels: bool = True
        before: str = "before"
        after: str = "after"

    def __init__(self, options=None, ctx=None) -> None:
        super().__init__(options, ctx)
        if self.options.mode not in ("side_by_side", "wipe"):
            raise ValueError(f"compare: mode must be side_by_side or wipe, got {self.options.mode!r}")
        self._labels: dict[int, tuple] = {}

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return (height, 2 * width) if self.options.mode == "side_by_side" else (height, width)

    def __call__(self, batch: Batch) -> Batch:
        before, after = batch.original.to(batch.images), batch.images
        h, w = after.shape[-2:]
        if self.options.mode == "side_by_side":
            out = torch.cat([before, after], dim=-1)
            starts = (0, w)
        else:
            cut = int(round(self.options.position * w))
            out = torch.cat([before[..., :cut], after[..., cut:]], dim=-1).clone()
            if 0 < cut < w:
                out[..., max(0, cut - 1) : cut + 1] = 1.0
            starts = (0, cut)
        if self.options.labels:
            for text, x0, right in ((self.options.before, starts[0], False), (self.options.after, starts[1], True)):
                if text not in self._labels:
                    self._labels[text] = label_overlay(text, h)
                colour, alpha = self._labels[text]
                lw = colour.shape[-1]
                x = (x0 + 4) if not right else max(x0 + 4, (w if self.options.mode == "wipe" else x0 + w) - lw - 4)
                paste(out, colour, alpha, 4, x)
        batch.images = out
        return batch
