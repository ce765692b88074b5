"""``keep_low``: a model stage's output keeps the input's low frequencies (:func:`anchor_low`) — the
model's detail stays, a shift, a colour cast or an edge it moved does not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamdeblur.stages import Batch, StageContext, create_stage
from streamdeblur.stages.basic import gaussian_blur
from streamdeblur.stages.deblur import anchor_low


def _texture(seed: int, h: int = 96, w: int = 128) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g)


def test_detail_stays_and_a_colour_cast_goes():
    x = gaussian_blur(_texture(0), 2.0)  # a blurred frame
    detail = _texture(1) - gaussian_blur(_texture(1), 1.0)  # what a model adds: fine detail only
    cast = torch.tensor([0.06, -0.03, 0.02]).view(1, 3, 1, 1)  # and a colour cast
    out = anchor_low(x, x + detail + cast, 6.0)
    inner = (..., slice(20, -20), slice(20, -20))  # away from the borders
    assert float((out - x - detail)[inner].abs().mean()) < 0.1 * float(detail[inner].abs().mean())
    assert float((out - x).mean((0, 2, 3)).abs().max()) < 2e-3  # the cast is gone


def test_an_edge_the_model_moved_goes_back_towards_the_input():
    # the model redraws a soft edge sharp but 4 px from where the frame has it: the anchored output
    # is closer to a sharp edge at the frame's own place than the raw output is
    h, w = 64, 96
    col = torch.arange(w).view(1, 1, 1, w).expand(1, 3, h, w).float()
    sharp_here = (col >= 48).float()
    x = gaussian_blur(sharp_here, 3.0)
    moved = (col >= 52).float()
    out = anchor_low(x, moved, 4.0)
    err_raw = float((moved - sharp_here).pow(2).mean())
    err_anchored = float((out - sharp_here).pow(2).mean())
    assert err_anchored < 0.7 * err_raw


def test_shapes_and_sigma_are_checked():
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="N×C×H×W"):
        anchor_low(x, x[..., :8], 2.0)
    with pytest.raises(ValueError, match="sigma"):
        anchor_low(x, x, 0.0)


def _through(opts: dict, x: torch.Tensor, fused: bool | None) -> torch.Tensor:
    b = Batch(x.clone(), [], x.clone())
    if fused is not None:
        b.side["fused"] = [fused] * len(x)
    return create_stage("deblur", opts, StageContext())(b).images


def test_keep_low_anchors_fused_frames_and_leaves_single_images_alone():
    x = gaussian_blur(_texture(2, 64, 64), 1.5)
    opts = {"model": "deeprftv2-t", "weights": "default", "tile": 0, "guard": "off"}
    raw = _through(opts, x, None)
    low = lambda t: gaussian_blur(t, 12.0)  # noqa: E731 - well below what keep_low (σ 4) keeps
    kept = _through({**opts, "keep_low": 4}, x, True)
    # the model changes the frame's low frequencies; on a fused frame keep_low gives them back
    assert float((low(kept) - low(x)).abs().mean()) < 0.3 * float((low(raw) - low(x)).abs().mean())
    assert float((kept - x).abs().mean()) > 1e-3  # and the model still changes the frame
    # a single image (no fusion before the stage) keeps the model's output, unless asked for all
    torch.testing.assert_close(_through({**opts, "keep_low": 4}, x, None), raw, atol=1e-6, rtol=0)
    torch.testing.assert_close(_through({**opts, "keep_low": 4, "keep_low_on": "all"}, x, None), kept, atol=1e-6, rtol=0)


@pytest.mark.parametrize("bad", [{"keep_low": -1}, {"keep_low_on": "video"}])
def test_bad_keep_low_options_are_refused(bad):
    with pytest.raises(ValueError, match="keep_low"):
        create_stage("deblur", {"model": "deeprftv2-t", **bad}, StageContext())


@pytest.mark.usefixtures("require_ffmpeg")
def test_the_pipeline_anchors_video_frames_after_fusion(tmp_path):
    # the side output crosses the pipeline: temporal_fusion marks its frames, deblur's keep_low acts
    import cv2
    import media

    from streamdeblur.cli import main

    src = tmp_path / "in.mp4"
    media.write_video(src, frames=4, size=(96, 64), fps=10, crf=8)
    low = lambda a: np.stack([cv2.GaussianBlur(f, (0, 0), 12) for f in a])  # noqa: E731

    def run(name: str, stages: str) -> np.ndarray:
        yaml = tmp_path / f"{name}.yaml"
        yaml.write_text(f"stages:\n  - temporal_fusion:\n      radius: 1\n{stages}output:\n  crf: 0\n")
        out = tmp_path / f"{name}.mp4"
        assert main(["run", str(src), "-o", str(out), "--pipeline", str(yaml)]) == 0
        return media.ffmpeg_rgb(out, "bt709", every_frame=True).astype(np.float32)

    fused = run("fused", "")
    drift = {}
    for sigma in (0, 4):
        got = run(f"keep{sigma}", f"  - deblur:\n      guard: 'off'\n      keep_low: {sigma}\n")
        assert got.shape == fused.shape
        drift[sigma] = float(np.abs(low(got) - low(fused)).mean())
    assert drift[4] < 0.4 * drift[0], drift  # the model's low-frequency drift, given back


@pytest.mark.parametrize("name", ["deblur", "defocus"])
def test_a_grey_picture_comes_out_grey(name):
    # a black-and-white photo saved as RGB (R = G = B) came out of the motion model with colour speckles
    # at its edges, up to 6 levels between channels (a 320×240 texture); a colour frame keeps its colour
    grey = gaussian_blur(_texture(3)[:, :1], 1.5).expand(1, 3, -1, -1)
    colour = gaussian_blur(_texture(4), 1.5)
    x = torch.cat([grey, colour])
    out = create_stage(name, {}, StageContext())(Batch(x.clone(), [], x.clone())).images
    assert float((out[0] - out[0].mean(0, keepdim=True)).abs().max()) == 0.0
    assert float((out[0] - grey[0]).abs().mean()) > 1e-3  # the model did act on it
    chroma = lambda im: float((im - im.mean(0, keepdim=True)).abs().mean())  # noqa: E731
    assert chroma(out[1]) > 0.8 * chroma(colour[0])  # colour kept
