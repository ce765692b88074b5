"""The compare view on a rendered frame (issue 18): labels sized to the frame, readable on bright
and dark footage, and a divider between before and after."""

from __future__ import annotations

import pytest
import torch

from streamdeblur.stages import create_stage
from streamdeblur.stages.base import Batch


def _render(mode: str, level: float, h: int = 180, w: int = 320) -> torch.Tensor:
    img = torch.full((1, 3, h, w), level)
    stage = create_stage("compare", {"mode": mode})
    return stage(Batch(images=img.clone(), frames=[], original=img.clone())).images[0].mean(0)  # H×W grey


@pytest.mark.parametrize("mode, at", [("side_by_side", 320), ("wipe", 160)])
def test_a_divider_separates_before_and_after(mode, at):
    dark, bright = _render(mode, 0.0), _render(mode, 1.0)
    assert (dark[:, at - 1 : at + 1] > 0.9).all()  # a light line on dark footage, full height
    assert (bright[:, at - 3 : at + 3] < 0.1).any(dim=1).all()  # with dark edges that show on bright footage


@pytest.mark.parametrize("level", [0.0, 1.0])
def test_labels_are_legible_at_180p_on_dark_and_bright_frames(level):
    out = _render("side_by_side", level)
    for x0, x1 in ((0, 160), (480, 640)):  # "before" top-left, "after" top-right
        region = out[:60, x0:x1]
        text_rows = (region > 0.9).any(dim=1) if level == 0.0 else ((region > 0.9).any(dim=1) & (region < 0.5).any(dim=1))
        rows = text_rows.nonzero().flatten()
        assert len(rows) and rows.max() - rows.min() + 1 >= 11, (x0, rows)  # text at least 11 px tall at 180p
        assert region.min() < 0.45 and region.max() > 0.9  # dark box behind white text, on any footage


def test_a_reused_stage_sizes_its_labels_to_each_frame():
    """A stage serves many runs (the Python API, a Ray worker, segments) and a stream may change
    size: labels were cached by their text alone, so a 180p frame after a 720p clip got a 76-px label
    box (42 % of its height). A reused stage must draw what a fresh one draws."""

    def run(stage, h: int, w: int) -> torch.Tensor:
        img = torch.full((1, 3, h, w), 0.3)
        return stage(Batch(images=img.clone(), frames=[], original=img.clone())).images

    reused = create_stage("compare", {"mode": "side_by_side"})
    run(reused, 720, 1280)
    assert torch.equal(run(reused, 180, 320), run(create_stage("compare", {"mode": "side_by_side"}), 180, 320))


@pytest.mark.parametrize("mode, h, w", [("side_by_side", 48, 64), ("side_by_side", 47, 33), ("wipe", 320, 48)])
def test_a_label_stays_in_its_half_of_a_small_or_narrow_frame(mode, h, w):
    """Labels were sized by the frame height alone: at 64×48 "before" ran across the divider under "after"
    (its box about 70 px wide). A label is drawn smaller to fit its half, or not at all."""
    out = _render(mode, 1.0, h=h, w=w)  # white footage: the label boxes are the only dark pixels
    cut = w if mode == "side_by_side" else w // 2
    dark = (out < 0.5).any(dim=0)
    dark[max(0, cut - 3) : cut + 3] = False  # the divider's own dark edges
    m = max(6, h // 40)
    assert not dark[max(0, cut - m + 1) : cut - 2].any() and not dark[cut + 3 : cut + m].any(), dark.nonzero().flatten()
    assert not dark[: m - 1].any() and not dark[out.shape[1] - m + 1 :].any()  # nor past the frame's edges
