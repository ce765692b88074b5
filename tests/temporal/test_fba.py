"""``fba_fuse`` in bands of block rows: the same frame as fusing every block at once, in bounded memory."""

from __future__ import annotations

import pytest
import torch

from streamdeblur.temporal import fba
from streamdeblur.temporal.fba import FBAParams, fba_fuse

MODES = {
    "lucky blocks": FBAParams(p=0, q=24),
    "per frequency": FBAParams(),
    "merge": FBAParams(p=0, q=24, merge=2),
    "q_noise": FBAParams(p=0, q=24, q_noise=True),
    "q_hard": FBAParams(p=0, q=24, q_hard=True),
    "pixel gate": FBAParams(p=0, q=24, pixel_tol=0.12, block=32),
}


def _copies(k: int, h: int, w: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    cur = torch.rand(3, h, w, generator=g)
    nb = (cur[None] + 0.05 * torch.randn(k, 3, h, w, generator=g)).clamp(0, 1)
    conf = torch.rand(k, 1, h, w, generator=g)
    compare = (nb + 0.02 * torch.randn(k, 3, h, w, generator=g)).clamp(0, 1)
    return cur, nb, conf, compare


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("with_compare", [False, True])
def test_bands_of_blocks_give_the_frame_that_all_blocks_at_once_give(monkeypatch, mode, with_compare):
    p = MODES[mode]
    cur, nb, conf, compare = _copies(4, 200, 264)  # 200 rows: bands of 2 block rows end with a short one
    kw = {"return_gate": True, "compare": compare if with_compare else None}
    if p.p == 0 and p.merge == 0:
        kw["return_weights"] = True
    monkeypatch.setattr(fba, "BAND_VALUES", 1 << 40)  # one band: every block at once
    whole = fba_fuse(cur, nb, conf, p, **kw)
    rows = []
    real = fba._fuse_band
    monkeypatch.setattr(fba, "_fuse_band", lambda blocks, *a: rows.append(blocks.shape[2]) or real(blocks, *a))
    monkeypatch.setattr(fba, "BAND_VALUES", 5 * 3 * 2 * (264 // (p.block // 2)) * p.block**2)  # two block rows
    banded = fba_fuse(cur, nb, conf, p, **kw)
    assert len(rows) > 2  # it really went in bands
    for a, b in zip(whole, banded, strict=True):
        assert a.shape == b.shape
        assert float((a - b).abs().max()) < 1e-5


def test_a_band_holds_no_more_than_its_budget(monkeypatch):
    cur, nb, conf, _ = _copies(10, 360, 640)
    seen = []
    real = fba._fuse_band
    monkeypatch.setattr(fba, "_fuse_band", lambda blocks, *a: seen.append(blocks.numel()) or real(blocks, *a))
    fba_fuse(cur, nb, conf, FBAParams(p=0, q=24))
    assert len(seen) > 1 and max(seen) <= fba.BAND_VALUES


@pytest.mark.parametrize("h, w", [(16, 16), (40, 20), (97, 131), (200, 264)])
@pytest.mark.parametrize("block", [32, 64])
def test_a_band_is_padded_as_the_whole_frame_would_be(h, w, block):
    # reflect padding at the frame's edges (replicate where the frame is smaller than the padding)
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(1))
    whole, geo = fba._pad_for_blocks(x, block)
    assert fba._block_geometry(tuple(x.shape), block) == geo
    step, nh = block // 2, geo[8]
    for r0 in range(nh):
        for r1 in range(r0 + 1, nh + 1):
            band = fba._padded_rows(x, geo, block, r0, r1)
            assert torch.equal(band, whole[..., r0 * step : (r1 - 1) * step + block, :])


def _overlay_case() -> tuple[torch.Tensor, ...]:
    """A textured scene moved 3 px right between two frames, a striped bar (text-like: 2-px strokes)
    fixed on the screen in both."""
    g = torch.Generator().manual_seed(1)
    world = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 70, 100, generator=g), 3, 1, 1)[0]
    cur, nb = world[:, :, 3:99].clone(), world[:, :, 0:96].clone()  # nb(x) = cur(x + 3): the camera moved
    strokes = (torch.arange(40) // 2 % 2).float()  # 1, 1, 0, 0, …
    for img in (cur, nb):
        img[:, 20:26, 30:70] = strokes  # the overlay, at the same pixels in both
    flow = torch.zeros(1, 2, 70, 96)
    flow[:, 0] = 3.0
    warped = torch.roll(nb, -3, dims=-1)[None]  # nb sampled at x + 3: the scene lines up, the bar does not
    return cur, nb[None], warped, flow


def test_screen_static_finds_the_overlay_and_only_it():
    cur, raw, warped, flow = _overlay_case()
    s = fba.screen_static(cur, raw, warped, flow)[0, 0]
    assert s.shape == (70, 96)
    assert float(s[21:25, 35:65].min()) == 1.0  # the bar (and the pixels it was moved to): distrusted
    assert float(s[45:65, 10:85].max()) == 0.0  # the scene that lines up: trusted
    assert float(fba.screen_static(cur, raw, warped, torch.zeros_like(flow)).max()) == 0.0  # no motion, no overlay
    torch_s = fba._screen_static_torch(cur, raw, warped, flow)[0, 0]  # the GPU path agrees (inside the borders)
    assert torch.allclose(torch_s[8:-8, 8:-8], s[8:-8, 8:-8], atol=1e-4)


def test_a_frequency_smoothing_wider_than_the_block_is_flat_not_a_failure(tmp_path, identity_yaml):
    # sigma is allowed 0.1…100, but two sigmas each way wrapped past a 64-px block: a pipeline with
    # temporal_fusion {p: 11, sigma: 40} stopped after 0 frames, "size of tensor a (64) must match … (63)", exit 1
    import media

    from streamdeblur.cli import main
    from streamdeblur.temporal.fba import _smooth_freq

    for block, sigma in ((64, 40.0), (8, 5.0), (8, 100.0)):
        mag = torch.rand(2, block, block // 2 + 1)
        out = _smooth_freq(mag, sigma)
        assert out.shape == mag.shape and float(out.std()) < 0.5 * float(mag.std()), (block, sigma)
    clip = media.write_video(tmp_path / "in.mp4", frames=4, size=(96, 64))
    yaml = tmp_path / "wide.yaml"
    yaml.write_text("stages:\n  - temporal_fusion: {radius: 1, p: 11, sigma: 40}\n")
    assert main(["run", str(clip), "-o", str(tmp_path / "out.mp4"), "--pipeline", str(yaml)]) == 0
    assert media.count_frames(tmp_path / "out.mp4") == 4
