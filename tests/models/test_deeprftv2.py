"""DeepRFTv2-B against the golden vectors (official architecture, synthetic weights)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from streamdeblur.models import create_model, list_models
from streamdeblur.models.blocks import gaussian_pyramid

GOLDEN = Path(__file__).parents[1] / "data" / "golden"
sys.path.insert(0, str(GOLDEN))
import golden_weights as GW  # noqa: E402

FINGERPRINT = "fc36f9cc90d797cd10951eea43d7da3b6be2a360a91eba5feed4ebc2185c88c2"


def load(name: str) -> torch.Tensor:
    return torch.load(GOLDEN / name, weights_only=True)


@pytest.fixture(scope="module")
def golden_model():
    torch.set_num_threads(1)
    m = create_model("deeprftv2-b")
    assert GW.fill_params(m.state_dict(), seed=0) == 3124
    assert GW.fingerprint(m.state_dict()) == FINGERPRINT
    yield m
    torch.set_num_threads(max(1, torch.get_num_threads()))


def test_parameter_count_and_state_dict_keys_match_official():
    m = create_model("deeprftv2-b")
    assert sum(p.numel() for p in m.parameters()) == 30_117_560
    expected = {}
    for line in (GOLDEN / "state_dict_keys.txt").read_text().splitlines():
        if line.startswith("#"):
            continue
        key, shape = line.split("\t")
        expected[key] = shape
    own = {k: str(tuple(v.shape)) for k, v in m.state_dict().items()}
    assert own == expected


@pytest.mark.parametrize("tag", ["a", "b"])
def test_golden_vectors_all_heads(golden_model, tag):
    x = load(f"input_{tag}.pt")
    with torch.no_grad():
        out = golden_model.heads(x)
    heads = torch.stack(out.img)
    mids = torch.stack(out.img_mid)
    for got, ref in ((heads, load(f"expected_{tag}.pt")), (mids, load(f"expected_mid_{tag}.pt"))):
        d = (got - ref).abs()
        assert d.max() <= 1e-4, d.max()
        assert d.pow(2).mean().sqrt() <= 2e-6
    assert GW.fingerprint(golden_model.state_dict()) == FINGERPRINT  # the alpha clamp changed nothing


def test_golden_kernel_and_pyramid(golden_model):
    x = load("input_a.pt")
    assert torch.allclose(gaussian_pyramid(x, 2)[1], load("pyramid1_a.pt"), atol=1e-6)
    with torch.no_grad():
        readout = golden_model.estimate_kernels(x)
    d = (readout.otf - load("expected_kernel_a.pt")).abs()
    assert d.max() <= 1e-3 and d.pow(2).mean().sqrt() <= 1e-4
    assert readout.per_channel.shape == (1, 48, 64, 64) and readout.mean.shape == (1, 64, 64)


def test_official_forward_returns_four_heads_last_is_result(golden_model):
    x = load("input_b.pt")
    with torch.no_grad():
        out = golden_model(x)
        result = golden_model.deblur(x)
    assert len(out["img"]) == 4 and torch.equal(out["img"][-1], result)


def test_variants_registered_and_keep_the_fke():
    names = list_models("deeprftv2*")
    assert names == ["deeprftv2-b", "deeprftv2-s", "deeprftv2-t"]
    for n in names:
        m = create_model(n)
        assert any("kernel_estimator" in k for k in m.state_dict())
        x = torch.rand(1, 3, 32, 48)
        with torch.no_grad():
            assert m.deblur(x).shape == x.shape


def test_input_size_is_checked():
    m = create_model("deeprftv2-t")
    with pytest.raises(ValueError, match="multiples of 8"):
        m.deblur(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match="N×3×H×W"):
        m.deblur(torch.rand(3, 32, 32))
