"""Stages: registry, unsharp, compare, kernel overlay (the OOM fallback: tests/compute/test_oom.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from streamdeblur.io.frames import Frame
from streamdeblur.stages import Batch, StageContext, create_stage, list_stages


def batch_of(images: torch.Tensor) -> Batch:
    frames = [Frame(np.zeros((4, 4, 3), np.uint8), i, i, None) for i in range(len(images))]
    return Batch(images=images.clone(), frames=frames, original=images.clone())


def test_registry_lists_the_stages():
    assert {"identity", "unsharp", "deblur", "kernel_overlay", "compare"} <= set(list_stages())
    with pytest.raises(KeyError, match="unknown stage"):
        create_stage("nope")


def test_unsharp_sharpens_an_edge_and_keeps_flat_areas():
    x = torch.zeros(1, 3, 32, 32)
    x[..., 16:] = 0.5
    x[..., :16] = 0.25
    y = create_stage("unsharp", {"sigma": 1.5, "amount": 1.0})(batch_of(x)).images
    assert y[0, 0, 5, 15] < 0.25 < 0.5 < y[0, 0, 5, 16]  # overshoot on both sides of the edge
    assert torch.allclose(y[..., :, :8], x[..., :, :8], atol=1e-6)


def test_compare_side_by_side_and_wipe():
    before = torch.zeros(2, 3, 40, 60)
    b = batch_of(before)
    b.images = torch.ones(2, 3, 40, 60)
    sbs = create_stage("compare", {"mode": "side_by_side", "labels": False})
    assert sbs.output_size(40, 60) == (40, 120)
    out = sbs(b).images
    assert out.shape == (2, 3, 40, 120) and out[..., :58].max() == 0 and out[..., 62:].min() == 1  # divider at 60
    b = batch_of(before)
    b.images = torch.ones(2, 3, 40, 60)
    out = create_stage("compare", {"mode": "wipe", "position": 0.25, "labels": True})(b).images
    assert out.shape == (2, 3, 40, 60)
    assert out[..., 30:, 2:10].max() == 0 and out[..., 30:, 40:].min() == 1
    assert out[..., :20, :].max() > 0  # a label was drawn on the "before" side
    with pytest.raises(ValueError, match="mode must be"):
        create_stage("compare", {"mode": "diagonal"})


def test_kernel_overlay_draws_one_corner_panel_and_leaves_other_pixels():
    img = torch.full((1, 3, 128, 192), 0.3)
    b = batch_of(img)
    k = torch.zeros(17, 17)
    k[8, 4:13] = 1.0  # a horizontal line kernel
    b.side["kernels"] = [[(0, 0, 64, 96, k), (0, 96, 64, 96, k), (64, 0, 64, 96, k), (64, 96, 64, 96, k)]]
    out = create_stage("kernel_overlay", {"grid": True, "size": 32, "opacity": 1.0})(b).images
    changed = (out != 0.3).any(1)[0]
    ys, xs = changed.nonzero(as_tuple=True)
    assert ys.min() >= 8 and xs.max() <= 192 - 8  # one panel in the top-right corner, margins kept
    assert not changed[:, :40].any() and not changed[96:].any()  # the rest of the picture untouched


def test_deblur_provides_kernels_when_asked():
    x = torch.rand(2, 3, 64, 96)
    stage = create_stage(
        "deblur",
        {"model": "deeprftv2-t", "weights": "default", "tile": 32, "overlap": 8, "kernel_size": 9},
        StageContext(provide=frozenset({"kernels"})),
    )
    out = stage(batch_of(x))
    assert out.images.shape == x.shape
    entries = out.side["kernels"]
    assert len(entries) == 2 and all(len(e) > 1 for e in entries)
    assert entries[0][0][4].shape == (9, 9)


def test_a_defocus_stage_asked_for_a_blur_map_of_a_motion_model_says_so(tmp_path, capsys):
    # defocus {model: deeprftv2-t} then kernel_overlay drew nothing (frames byte-identical to those without the
    # overlay), exit 0; the reverse (deblur with fdikp) was refused
    with pytest.raises(ValueError, match=r"^deeprftv2-t is a motion model and gives no blur map to draw"):
        create_stage("defocus", {"model": "deeprftv2-t"}, StageContext(provide=frozenset({"blurmap"})))
    from streamdeblur.cli import main

    yaml = tmp_path / "p.yaml"
    yaml.write_text("stages:\n  - defocus: {model: deeprftv2-t}\n  - kernel_overlay\n")
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), np.full((48, 64, 3), 128, np.uint8))
    assert main(["run", str(src), "-o", str(tmp_path / "out.png"), "--pipeline", str(yaml)]) == 2
    assert "gives no blur map to draw" in capsys.readouterr().err and not (tmp_path / "out.png").exists()


def test_a_stage_asked_for_kernels_of_a_defocus_model_says_so_before_loading_it(tmp_path):
    # `--pipeline overlay --model fdikp` loaded the model, then died in the first frame with Python's
    # "FDIKP.forward_pyramid() got an unexpected keyword argument 'kernel_size'" (exit 1; audit 32)
    with pytest.raises(ValueError, match=r"^fdikp is a defocus model and estimates no blur kernels to draw"):
        create_stage("deblur", {"model": "fdikp"}, StageContext(provide=frozenset({"kernels"})))
    from streamdeblur.cli import main

    src = tmp_path / "in.png"
    cv2.imwrite(str(src), np.full((48, 64, 3), 128, np.uint8))
    assert main(["run", str(src), "-o", str(tmp_path / "out.png"), "--pipeline", "overlay", "--model", "fdikp"]) == 2
    assert not (tmp_path / "out.png").exists()


def test_a_model_whose_bundled_weights_learnt_the_other_blur_is_said():
    # `--pipeline defocus --model deeprftv2-t` ran the motion weights on defocus blur without a word (audit 32);
    # any model may run in either stage (weights trained for that blur: --weights), so it is said, not refused
    said: list[str] = []
    create_stage("defocus", {"model": "deeprftv2-t"}, StageContext(warn=said.append))
    assert len(said) == 1 and said[0].startswith("deeprftv2-t is a motion model and its bundled weights were trained")
    create_stage("defocus", {"model": "deeprftv2-t", "weights": "none"}, StageContext(warn=said.append))
    create_stage("deblur", {"model": "deeprftv2-rt"}, StageContext(warn=said.append))
    assert not any("bundled weights" in m for m in said[1:]), said  # (weights: none is said as untrained)


def test_a_tiled_frame_runs_one_tile_per_pass_on_cpu_and_gives_the_same_pixels():
    # several tiles per pass were slower and four times larger on a CPU (1080p: 35.8 s, 4.6 GB at 8;
    # 19.8 s, 1.1 GB at 1: README, Speed); the pixels must not depend on it
    ctx = StageContext(device=torch.device("cpu"), bf16=False)
    auto = create_stage("deblur", {"model": "deeprftv2-t", "weights": "none", "tile": 64, "overlap": 16}, ctx)
    eight = create_stage("deblur", {"model": "deeprftv2-t", "weights": "none", "tile": 64, "overlap": 16, "max_tiles": 8}, ctx)
    eight.model.load_state_dict(auto.model.state_dict())
    assert auto.passes.max_tiles == 1 and eight.passes.max_tiles == 8
    calls = []
    real = auto.model.forward_pyramid  # what the tiler calls, one pyramid per pass
    auto.model.forward_pyramid = lambda levels, *a, **k: calls.append(levels[0].shape[0]) or real(levels, *a, **k)
    x = torch.rand(1, 3, 120, 160, generator=torch.Generator().manual_seed(0))
    a, b = auto(Batch(x, [], x)).images, eight(Batch(x, [], x)).images
    assert len(calls) > 1 and set(calls) == {1}
    assert torch.allclose(a, b, atol=1e-5)


class _Adds(torch.nn.Module):
    """Stands in for the model: the input plus a fixed change (``N×3×H×W`` at the size it is called on)."""

    def __init__(self, change) -> None:
        super().__init__()
        self.change = change

    def forward(self, x):
        return x + self.change(x)


def _deblur_with(change, **options):
    opts = {"model": "deeprftv2-t", "weights": "none", "guard": "off", "keep_low": 0, **options}
    stage = create_stage("deblur", opts)
    stage.model = _Adds(change)
    return stage


def test_floor_drops_changes_below_it_where_the_model_works_at_a_reduced_size():
    """``floor``: at a reduced work size the frame is cleaner than the model's own output (a 1080p
    frame at 640×360: 55 dB against ~39), and the model's small changes everywhere were a loss
    (sharp 1080p footage −0.94 dB). Changes under the floor vanish, larger ones shrink by it; a frame
    the model works on at its own size keeps every change (``floor_on: scaled``)."""
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 45, 80, generator=g), size=(360, 640), mode="bilinear") * 0.8 + 0.1
    junk = lambda t: (torch.rand(t.shape, generator=torch.Generator().manual_seed(1)) - 0.5) * 3 / 255  # noqa: E731
    big = lambda t: torch.where(torch.arange(t.shape[-1]) < t.shape[-1] // 2, 12 / 255, 0.0).expand_as(t)  # noqa: E731
    small = dict(work_pixels=160 * 90)  # 640×360 worked on at 160×90

    def run(stage, frame):
        return stage(Batch(images=frame.clone(), frames=[], original=frame.clone())).images

    assert (run(_deblur_with(junk, **small), x) - x).abs().max() > 1 / 255  # off: the junk comes through
    assert torch.equal(run(_deblur_with(junk, floor=2, **small), x), x)  # under 1.5 levels: nothing changes
    out = run(_deblur_with(big, floor=2, **small), x)
    left, right = (out - x)[..., 40:-40, 40:280], (out - x)[..., 40:-40, 360:-40]
    assert torch.allclose(left, torch.full_like(left, 10 / 255), atol=1e-5) and right.abs().max() < 1e-6  # 12 − 2 levels
    # at the model's own size (no reduction) every change stays, unless floor_on: all
    assert torch.allclose(run(_deblur_with(junk, floor=2), x), x + junk(x), atol=1e-6)
    assert torch.equal(run(_deblur_with(junk, floor=2, floor_on="all"), x), x)


@pytest.mark.parametrize("word", ["random", "none"])
def test_random_weights_are_said_to_be_untrained(word):
    # weights: random (or none) ran an untrained network without a word: frames at 28 dB, colours shifted
    said: list[str] = []
    create_stage("deblur", {"model": "deeprftv2-t", "weights": word}, StageContext(warn=said.append))
    assert any(f"deeprftv2-t runs with random weights ('{word}'): it is untrained" in m for m in said), said
    said.clear()
    create_stage("deblur", {"model": "deeprftv2-t"}, StageContext(warn=said.append))
    assert not any("random weights" in m for m in said), said


def test_a_reduced_working_size_that_kernel_overlay_overrides_is_said():
    # adding kernel_overlay made deblur ignore work_pixels, scale and floor: the run took 55 s instead of 35 s
    # and the pictures differed (up to 34 levels) outside the overlay, without a word
    said: list[str] = []
    ctx = StageContext(provide=frozenset({"kernels"}), warn=said.append)
    create_stage("deblur", {"model": "deeprftv2-t", "weights": "none", "work_pixels": 230400, "floor": 2}, ctx)
    assert any("deblur: work_pixels ignored, and floor with them: kernel_overlay draws" in m for m in said), said
    said.clear()
    create_stage("deblur", {"model": "deeprftv2-t", "weights": "none", "work_pixels": 230400}, StageContext(warn=said.append))
    assert not any("kernel_overlay" in m for m in said), said
