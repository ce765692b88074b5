"""The kernel overlay on a rendered frame (issue 18): one panel in a corner, kernels at a legible
scale, a legend, the picture elsewhere untouched."""

from __future__ import annotations

import pytest
import torch

from streamdeblur.engine.config import ConfigError, parse_pipeline
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


def test_on_a_tiny_frame_the_panel_stays_in_its_corner():
    # 64×48: the panel (24-px cells, a legend drawn for 224 px) covered the whole picture, top-left (audit 19)
    h, w = 48, 64
    img = torch.full((1, 3, h, w), 0.5)
    stage = create_stage("kernel_overlay", {"position": "top-right", "opacity": 1.0})
    out = stage(Batch(images=img.clone(), frames=[], original=img.clone(), side={"kernels": [[(0, 0, h, w, _streak())]]}))
    changed = (out.images[0] - img[0]).abs().amax(0) > 1e-6
    ys, xs = changed.nonzero(as_tuple=True)
    assert changed.any() and changed.float().mean() < 0.25, changed.float().mean()
    assert xs.min() >= w // 2 and xs.max() <= w - 8 and ys.min() >= 8 and ys.max() < h // 2, (xs, ys)


@pytest.mark.parametrize("size", [(180, 320), (320, 180)])
@pytest.mark.parametrize("position", ["bottom-right", "top-right", "bottom-left"])
def test_the_blur_map_sits_in_its_corner_with_the_same_margin_on_both_sides(size, position):
    # the flat blur map was placed as a square: 34 px above the bottom on a landscape frame, 55 px in
    # from the right on a portrait one (audit 19)
    h, w = size
    img = torch.full((1, 3, h, w), 0.5)
    blurmap = torch.linspace(0, 1, w).expand(h, w)[None]
    stage = create_stage("kernel_overlay", {"position": position, "opacity": 1.0})
    out = stage(Batch(images=img.clone(), frames=[], original=img.clone(), side={"blurmap": blurmap}))
    changed = (out.images[0] - img[0]).abs().amax(0) > 1e-6
    ys, xs = changed.nonzero(as_tuple=True)
    top, bottom, left, right = int(ys.min()), h - 1 - int(ys.max()), int(xs.min()), w - 1 - int(xs.max())
    assert (top if position.startswith("top") else bottom) == 8, (top, bottom)
    assert (left if position.endswith("left") else right) == 8, (left, right)


def test_an_overlay_with_nothing_to_draw_is_refused_at_its_line():
    # [identity, kernel_overlay] ran, drew nothing and said nothing (audit 19)
    with pytest.raises(ConfigError, match=r"p.yaml:3: stage 'kernel_overlay' draws what a deblur or defocus stage"):
        parse_pipeline("stages:\n  - identity\n  - kernel_overlay\n", "p.yaml")
    with pytest.raises(ConfigError, match="put one before it"):
        parse_pipeline("stages:\n  - kernel_overlay\n  - deblur\n", "p.yaml")
    assert [s.name for s in parse_pipeline("stages:\n  - deblur\n  - kernel_overlay\n").stages] == ["deblur", "kernel_overlay"]
