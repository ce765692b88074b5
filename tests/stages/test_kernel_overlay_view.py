"""The kernel overlay on a rendered frame (issue 18): one panel in a corner, kernels at a legible
scale, a legend, the picture elsewhere untouched."""

from __future__ import annotations

import torch

from streamdeblur.stages import create_stage
from streamdeblur.stages.base import Batch


def _streak(n: int = 33, length: int = 4) -> torch.Tensor:
    k = torch.zeros(n, n)
    c = n // 2
    k[c, c - length // 2 : c - length // 2 + length] = 1.0 / length  # a faint 4-px horizontal streak
    return k


def test_kernels_are_drawn_large_in_one_corner_panel_with_a_legend():
    h, w = 288, 512
    img = torch.full((1, 3, h, w), 0.5)
    tiles = [(y, x, 144, 256, _streak()) for y in (0, 144) for x in (0, 256)]
    stage = create_stage("kernel_overlay", {"position": "top-right"})
    out = stage(Batch(images=img.clone(), frames=[], original=img.clone(), side={"kernels": [tiles]})).images[0]
    changed = (out - img[0]).abs().amax(0) > 1e-6
    ys, xs = changed.nonzero(as_tuple=True)
    # one panel in the top-right corner: the centre and the other corners of the picture are untouched
    assert xs.min() >= w // 2 and ys.max() < h // 2 + 20, (xs.min(), ys.max())
    assert not changed[h // 2 - 20 : h // 2 + 20, w // 2 - 40 : w // 2 + 40].any()
    # a 4-px streak becomes a bar a sizeable share of its cell wide (cells are ≥ 24 px)
    bright = out.mean(0) > 0.8
    row_runs = bright.sum(1)
    assert row_runs.max() >= 20, row_runs.max()  # two cells in a row, each streak ≥ 10 px (it is 4 px in the kernel)
    # a legend: light text on the panel's last rows, below the cells
    assert (out.mean(0)[ys.max() - 12 : ys.max() + 1, xs.min() : xs.max() + 1] > 0.85).sum() > 30
