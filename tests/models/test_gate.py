"""The do-no-harm gate: shapes, the blend it applies, its file next to the weights."""

from __future__ import annotations

import pytest
import torch

from streamdeblur.models.gate import HarmGate, gate_path


def _gate(bias: float) -> HarmGate:
    g = HarmGate().eval()
    with torch.no_grad():
        g.head.bias.fill_(bias)
        g.head.weight.zero_()
    return g


def test_alpha_is_a_map_in_unit_range_at_any_size():
    g = HarmGate().eval()
    x, y = torch.rand(2, 3, 37, 53), torch.rand(2, 3, 37, 53)  # not a multiple of 16
    with torch.no_grad():
        a = g.alpha(x, y)
    assert a.shape == (2, 1, 37, 53)
    assert 0 <= float(a.min()) and float(a.max()) <= 1


def test_closed_gate_returns_the_input_and_open_gate_the_model_output():
    x, y = torch.rand(1, 3, 48, 64), torch.rand(1, 3, 48, 64)
    torch.testing.assert_close(_gate(-30.0)(x, y), x, atol=1e-6, rtol=0)
    torch.testing.assert_close(_gate(30.0)(x, y), y, atol=1e-6, rtol=0)
    mid = _gate(0.0)(x, y)
    torch.testing.assert_close(mid, (x + y) / 2, atol=1e-6, rtol=0)


def test_shapes_are_checked_on_entry():
    with pytest.raises(ValueError, match="N×3×H×W"):
        HarmGate()(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 16))


def test_gate_file_sits_next_to_its_weights():
    assert gate_path("a/b/deeprftv2-t-motion.pt") == "a/b/deeprftv2-t-motion.gate.pt"
