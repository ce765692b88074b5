"""Reduced internal resolution (issue 15): the correction is upscaled, never the image; ``auto``
picks the largest scale whose measured time fits the budget and says what it chose."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from streamdeblur.compute.scale import choose_scale, correct_at_scale, work_size
from streamdeblur.io.frames import Frame
from streamdeblur.stages import Batch, StageContext, create_stage


def test_work_size_rounds_to_the_multiple():
    assert work_size(360, 640, 0.5, 8) == (184, 320)
    assert work_size(360, 640, 1.0, 8) == (360, 640)
    with pytest.raises(ValueError):
        work_size(360, 640, 1.5)


def test_identity_at_half_scale_keeps_every_detail():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 96)  # full of detail above the half-scale Nyquist frequency
    assert torch.allclose(correct_at_scale(lambda s: s, x, 0.5), x, atol=1e-6)


def test_only_the_low_band_is_corrected():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 96)
    out = correct_at_scale(lambda s: s + 0.1, x, 0.5)  # a stage that brightens
    assert torch.allclose(out, x + 0.1, atol=1e-5)  # the correction reaches every pixel, the detail stays


def test_choose_scale_takes_the_largest_that_fits():
    cost = {1.0: 0.2, 0.75: 0.12, 0.5: 0.05, 0.375: 0.03, 0.25: 0.01}
    assert choose_scale(cost.__getitem__, 0.06) == (0.5, 0.05)
    assert choose_scale(cost.__getitem__, 1.0) == (1.0, 0.2)
    assert choose_scale(cost.__getitem__, 0.001) == (0.25, 0.01)  # nothing fits: the smallest


def _batch(h: int = 72, w: int = 128) -> Batch:
    torch.manual_seed(1)
    x = torch.rand(1, 3, h, w)
    f = Frame(np.zeros((h, w, 3), np.uint8), 0, 0, Fraction(1, 30))
    return Batch(images=x, frames=[f], original=x.clone())


@pytest.mark.parametrize(("budget_ms", "want"), [(1e-6, "scale 0.25"), (1e6, "scale 1")])
def test_auto_scale_is_measured_and_said(budget_ms, want):
    said = []
    ctx = StageContext(say=said.append)
    stage = create_stage("deblur", {"model": "deeprftv2-rt", "weights": "random", "scale": "auto", "budget_ms": budget_ms}, ctx)
    out = stage(_batch())
    assert out.images.shape == (1, 3, 72, 128)
    assert len(said) == 1 and want in said[0] and "128×72 frames" in said[0]
    stage(_batch())
    assert len(said) == 1  # said once per frame size


@pytest.mark.parametrize(("work_pixels", "seen"), [(72 * 128 // 4, (36, 64)), (72 * 128, (72, 128)), (0, (72, 128))])
def test_work_pixels_caps_the_resolution_the_model_sees(work_pixels, seen):
    said = []
    opts = {"model": "deeprftv2-rt", "weights": "random", "work_pixels": work_pixels}
    stage = create_stage("deblur", opts, StageContext(say=said.append))
    sizes = []
    full = stage._restore_full
    stage._restore_full = lambda x, *a, **k: sizes.append(tuple(x.shape[-2:])) or full(x, *a, **k)
    out = stage(_batch())
    assert out.images.shape == (1, 3, 72, 128)  # the frame keeps its size: only the model works smaller
    m = stage.passes.multiple
    assert sizes == [(-(-seen[0] // m) * m, -(-seen[1] // m) * m)]
    note = f"deblur: working at {sizes[0][1]}×{sizes[0][0]} for 128×72 frames (work_pixels {work_pixels})"
    assert said == ([note] if seen[0] < 72 else [])


def test_bad_scale_is_refused():
    with pytest.raises(ValueError, match="work_pixels"):
        create_stage("deblur", {"model": "deeprftv2-rt", "weights": "random", "work_pixels": -1})
    with pytest.raises(ValueError, match="scale"):
        create_stage("deblur", {"model": "deeprftv2-rt", "weights": "random", "scale": "2"})
    with pytest.raises(ValueError, match="scale"):
        create_stage("deblur", {"model": "deeprftv2-rt", "weights": "random", "scale": "fast"})


def test_fusion_at_reduced_width_leaves_a_static_scene_untouched():
    said = []
    stage = create_stage(
        "temporal_fusion", {"radius": 2, "causal": True, "max_width": 64, "block": 16}, StageContext(say=said.append)
    )
    stage.start_stream(live=True)
    b = _batch()
    outs = [
        stage(Batch(images=b.images.clone(), frames=[Frame(f.image, i, i, f.time_base) for f in b.frames], original=b.original))
        for i in range(3)
    ]
    assert all(torch.allclose(o.images, b.images, atol=1e-5) for o in outs)  # identical frames: nothing to fuse
    assert any("fusing at 64×36 for 128×72 frames" in s for s in said), said


def test_two_fusions_at_one_working_size_say_it_once(tmp_path, capsys):
    # motion's two fusions each said "temporal_fusion: fusing at 640×360 …": the same line twice a run (audit 10)
    import media

    from streamdeblur.cli import main

    clip = media.write_video(tmp_path / "c.mp4", frames=3, size=(128, 72))
    yaml = tmp_path / "two.yaml"
    fusion = "  - temporal_fusion:\n      radius: 1\n      max_width: 64\n      block: 16\n"
    yaml.write_text(f"stages:\n{fusion}{fusion}output:\n  preset: veryfast\n")
    assert main(["run", str(clip), "-o", str(tmp_path / "o.mp4"), "--pipeline", str(yaml)]) == 0
    err = capsys.readouterr().err
    assert err.count("fusing at 64×36 for 128×72 frames") == 1, err
