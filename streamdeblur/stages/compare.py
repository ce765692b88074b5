"""``compare``: before and after in one picture — side by side, or a vertical wipe — with labels."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .base import Batch, Stage, register_stage

#: the smallest capital-letter height a label is drawn at (smaller: no label)
MIN_CAP = 8


def label_overlay(text: str, height: int, max_width: int | None = None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """White text on a dark translucent box as (``3×h×w`` colour, ``1×h×w`` alpha).

    The capital letters are about 1/16 of the frame height (at least 14 px): readable on a phone at
    360p and not shouting at 4K; the box keeps the contrast on bright and dark footage alike. A label
    wider than ``max_width`` (the half of a small or narrow frame it belongs to) is drawn smaller; none
    (None) when it would need capitals under :data:`MIN_CAP` px: "before" ran across the divider into
    "after" on a 64×48 frame.
    """
    (_, th0), _ = cv2.getTextSize("H", cv2.FONT_HERSHEY_SIMPLEX, 1.0, 1)
    cap = max(14, round(height / 16))
    if max_width is not None:
        (tw0, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, cap / th0, max(1, round(cap / 10)))
        fit = cap * max_width / (tw0 + 2 * max(4, cap // 3))
        if fit < cap:
            cap = int(fit)
        if cap < MIN_CAP:
            return None
    scale = cap / th0
    thick = max(1, round(cap / 10))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(4, cap // 3)
    w, h = tw + 2 * pad, th + base + 2 * pad
    text_mask = np.zeros((h, w), np.uint8)
    cv2.putText(text_mask, text, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)
    t = torch.from_numpy(text_mask).float().div(255)[None]
    box = 0.65  # opacity of the dark box behind the text
    alpha = box + (1 - box) * t
    colour = (t / alpha).expand(3, -1, -1)  # white where the text is, black box elsewhere
    return colour, alpha


def divider(img: torch.Tensor, x: int) -> None:
    """A light line with dark edges at column ``x`` of ``img`` (``N×3×H×W``), width ~1/400 of the frame, in place."""
    W = img.shape[-1]
    half = max(1, round(W / 800))
    img[..., max(0, x - half - 1) : min(W, x + half + 1)] = 0.0
    img[..., max(0, x - half) : min(W, x + half)] = 1.0


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
    right after); a divider line between the two and labels sized to the frame on dark boxes."""

    requires = frozenset()
    once = True  #: a second one joined the original to the first's side-by-side: the wrong size, black bars

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
        #: (text, frame height, room) → label sized to the frame and its half (None: no room)
        self._labels: dict[tuple[str, int, int], tuple | None] = {}

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return (height, 2 * width) if self.options.mode == "side_by_side" else (height, width)

    def __call__(self, batch: Batch) -> Batch:
        before, after = batch.original.to(batch.images), batch.images
        h, w = after.shape[-2:]
        if self.options.mode == "side_by_side":
            out = torch.cat([before, after], dim=-1)
            divider(out, w)
            starts = (0, w)
        else:
            cut = int(round(self.options.position * w))
            out = torch.cat([before[..., :cut], after[..., cut:]], dim=-1).clone()
            if 0 < cut < w:
                divider(out, cut)
            starts = (0, cut)
        if self.options.labels:
            m = max(6, h // 40)  # margin from the edges and the divider
            room = (w, w) if self.options.mode == "side_by_side" else (starts[1], w - starts[1])
            for text, x0, right, space in (
                (self.options.before, starts[0], False, room[0]),
                (self.options.after, starts[1], True, room[1]),
            ):
                key = (text, h, space)
                if key not in self._labels:
                    self._labels[key] = label_overlay(text, h, max_width=space - 2 * m)
                if self._labels[key] is None:  # no room for it in this half
                    continue
                colour, alpha = self._labels[key]
                lw = colour.shape[-1]
                x = (x0 + m) if not right else max(x0 + m, (w if self.options.mode == "wipe" else x0 + w) - lw - m)
                paste(out, colour, alpha, m, x)
        batch.images = out
        return batch
