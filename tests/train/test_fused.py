"""Fused training frames: shaky clips of the training split, fused by the product's own stage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamdeblur.train.fused import build_fused_set, clip_specs


def test_fused_set_pairs_each_fused_frame_with_its_sharp_reference(built, tmp_path):
    specs = clip_specs(built, clips=4, seed=3, frames=6, size=(96, 64))
    assert [s.kind for s in specs] == ["still", "still", "still", "object"]
    assert all("/train/" in s.source for s in specs)  # the training split only: the dev set stays a judge
    out = tmp_path / "fused.pt"
    res = build_fused_set(built, out, clips=2, seed=3, frames=6, size=(96, 64), log=lambda m: None)
    assert out.exists() and not out.with_name(out.name + ".part").exists()
    x, gt = res["x"], res["gt"]
    assert x.dtype == gt.dtype == torch.uint8 and x.shape == gt.shape == (12, 3, 64, 96)
    # the fused frames are the blurry clip after fusion: near the reference, not equal to it
    err = (x.float() - gt.float()).abs().mean((1, 2, 3))
    assert bool((err > 0).all()) and float(err.mean()) < 40
    assert res["meta"]["pipeline"] == "motion" and len(res["meta"]["clips"]) == 2
    assert torch.load(out, weights_only=True)["meta"]["sha256"] == res["meta"]["sha256"]


def test_a_pipeline_without_fusion_is_refused(built, tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text("stages:\n  - identity\n")
    with pytest.raises(ValueError, match="no temporal_fusion"):
        build_fused_set(built, tmp_path / "f.pt", clips=1, pipeline=str(plain), frames=4, size=(96, 64))
    assert not (tmp_path / "f.pt").exists()


def test_specs_are_reproducible(built):
    a = clip_specs(built, clips=4, seed=9)
    b = clip_specs(built, clips=4, seed=9)
    assert [(s.source, s.seed) for s in a] == [(s.source, s.seed) for s in b]
    assert np.all([s.size == (320, 240) for s in a])
