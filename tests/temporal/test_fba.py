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
