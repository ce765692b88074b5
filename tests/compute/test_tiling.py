"""Tiled inference: exact identity, seams with trained weights, geometry."""

from __future__ import annotations

import av
import pytest
import torch

from streamdeblur.compute.tiling import TileSpec, grid, pad_to_multiple, plan, run_tiled, tile_weight
from streamdeblur.models import create_model
from streamdeblur.train.metrics import psnr


@pytest.mark.parametrize(
    "tile,overlap,feather", [(64, 16, "linear"), (96, 32, "gaussian"), (128, 0, "linear"), (None, 32, "linear")]
)
@pytest.mark.parametrize("size", [(100, 150), (256, 384), (72, 64)])
def test_identity_through_tiles_is_exact(tile, overlap, feather, size):
    x = torch.randint(0, 256, (2, 3, *size)).float() / 255  # 8-bit frames, as decoded
    y = run_tiled(lambda t: t, x, tile=tile, overlap=overlap, feather=feather)
    assert y.shape == x.shape
    assert torch.equal((x * 255).round(), (y * 255).round())  # the frame comes back exactly
    assert (x - y).abs().max() < 1e-5


def test_tiles_of_several_frames_are_batched_and_pyramid_built_once():
    calls = {"pyramid": 0, "forward": []}

    class Probe:
        def pyramid(self, x):
            calls["pyramid"] += 1
            return [x, x[..., ::2, ::2]]

        def forward_pyramid(self, levels):
            assert levels[1].shape[-1] * 2 == levels[0].shape[-1]
            calls["forward"].append(levels[0].shape[0])
            return levels[0]

    x = torch.rand(3, 3, 128, 192)
    run_tiled(Probe(), x, tile=64, overlap=16, max_tiles=8)
    rows, cols = plan(128, 192, TileSpec(tile=64, overlap=16))
    assert calls["pyramid"] == 1  # whole batch of frames, once, before tiling
    assert sum(calls["forward"]) == 3 * rows * cols and max(calls["forward"]) == 8


def test_seams_with_trained_weights_psnr_above_40db():
    frame = next(av.open("samples/shaky_boats.mp4").decode(video=0)).to_ndarray(format="rgb24")
    x = torch.from_numpy(frame[16:272, 64:448].copy()).permute(2, 0, 1)[None].float() / 255  # 256×384
    m = create_model("deeprftv2-t", weights="default")
    with torch.inference_mode():
        whole = m.deblur(x)
        tiled = run_tiled(m, x, tile=128, overlap=32)
    assert psnr(whole, tiled) >= 40.0


def test_grid_and_weights():
    assert grid(100, 64, 16) == [0, 36]
    assert grid(64, 64, 16) == [0]
    assert grid(300, 128, 32) == [0, 96, 172]
    w = tile_weight(8, 8, 4, 0, 0, 4)
    assert w[0, 2] < w[3, 2] < w[4, 2] == 1.0 and w[4, 7] < w[4, 3]
    x, pad = pad_to_multiple(torch.rand(1, 3, 30, 33), 8)
    assert x.shape[-2:] == (32, 40) and pad == (2, 7)
