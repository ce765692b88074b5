"""FDIKP: shapes, identity-preserving start, PAC maths, blur map."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from streamdeblur.models import create_model, model_info
from streamdeblur.models.fdikp import DIKP, pac


def test_registered_as_defocus_with_multiple_16():
    info = model_info("fdikp")
    assert info.task == "defocus" and info.multiple == 16


def test_heads_per_scale_and_blur_map():
    m = create_model("fdikp")
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        out = m.heads(x)
    assert [o.shape[-2:] for o in out.images] == [(16, 24), (32, 48), (64, 96)]
    assert out.result.shape == x.shape
    assert out.blur_map.shape == (2, 64, 96) and (out.blur_map >= 0).all() and (out.blur_map <= 1).all()


def test_pac_with_delta_kernel_and_unit_modulation_is_identity():
    x = torch.rand(1, 3, 20, 30)
    k = torch.zeros(1, 2, 5, 5)
    k[:, :, 2, 2] = 1
    out = pac(x, k, torch.ones(1, 25, 20, 30))
    assert torch.allclose(out[:, 0], x) and torch.allclose(out[:, 1], x)


def test_pac_equals_convolution_when_modulation_is_one():
    x = torch.rand(1, 3, 16, 16)
    k = torch.rand(1, 1, 3, 3)
    out = pac(x, k, torch.ones(1, 9, 16, 16))[:, 0]
    ref = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k[0].expand(3, 1, 3, 3), groups=3)
    assert torch.allclose(out, ref, atol=1e-6)


def test_inverse_kernels_keep_unit_dc_gain():
    d = DIKP(16, n=4, k=7, window=4)
    kern = d(torch.randn(2, 16, 12, 12))
    assert kern.shape == (2, 4, 7, 7)
    assert torch.allclose(kern.sum((-2, -1)), torch.ones(2, 4), atol=1e-5)
