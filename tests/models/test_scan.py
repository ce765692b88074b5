"""Selective scan: chunked, inference, parallel and sequential implementations agree, values and gradients."""

from __future__ import annotations

import pytest
import torch

from streamdeblur.models import scan as scan_module
from streamdeblur.models.scan import (
    auto_impl,
    inference_chunk_length,
    selective_scan,
    selective_scan_chunked,
    selective_scan_inference,
    selective_scan_parallel,
    selective_scan_sequential,
)


def inputs(n=2, d=5, length=300, s=8, seed=0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(n, d, length, generator=g)
    delta = torch.randn(n, d, length, generator=g) * 0.5 - 1
    A = -torch.rand(d, s, generator=g) * 7 - 1
    B = torch.randn(n, s, length, generator=g)
    C = torch.randn(n, s, length, generator=g)
    D = torch.randn(d, generator=g)
    bias = torch.randn(d, generator=g) * 0.1
    t = [u, delta, A, B, C, D, bias]
    return [x.requires_grad_(requires_grad) for x in t]


@pytest.mark.parametrize("length,chunk", [(1, None), (7, None), (300, None), (300, 7), (1025, 64)])
def test_chunked_equals_sequential(length, chunk):
    args = inputs(length=length)
    ref = selective_scan_sequential(*args)
    got = selective_scan_chunked(*args, chunk=chunk)
    assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("length,chunk", [(1, None), (7, None), (300, None), (1031, None), (300, 7), (1025, 64)])
def test_inference_equals_sequential(length, chunk):
    args = inputs(length=length)
    ref = selective_scan_sequential(*args)
    got = selective_scan_inference(*args, chunk=chunk)
    assert got.shape == ref.shape
    assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("length", [1, 2, 16, 17, 300, 1031])
def test_parallel_equals_sequential(length):
    # lengths below, at and past one chunk (16), and with a padded last chunk
    args = inputs(length=length)
    ref = selective_scan_sequential(*args)
    got = selective_scan_parallel(*args)
    assert got.shape == ref.shape
    assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5)


def test_parallel_gradients_agree_and_keep_long_decays():
    # slow decays (A near 0) over 700 positions: the state carries across many chunks
    a = inputs(length=700, requires_grad=False)
    a[2] = -torch.rand(a[2].shape, generator=torch.Generator().manual_seed(1)) * 0.01
    a = [x.requires_grad_() for x in a]
    b = [x.detach().clone().requires_grad_() for x in a]
    ya, yb = selective_scan_sequential(*a), selective_scan_parallel(*b)
    assert torch.allclose(yb, ya, atol=1e-4, rtol=1e-4)
    g = torch.randn_like(ya)
    for name, x, y in zip("u delta A B C D bias".split(), torch.autograd.grad(ya, a, g), torch.autograd.grad(yb, b, g)):
        assert torch.allclose(y, x, atol=2e-3, rtol=1e-4), name


def test_auto_runs_the_parallel_scan_on_cuda_and_the_chunked_ones_on_a_cpu():
    long = scan_module.CHUNKED_MIN_LENGTH
    if not scan_module.mamba_available():
        assert auto_impl("cuda", long, True) == auto_impl("cuda", 10, False) == "parallel"
    assert auto_impl("cpu", long, True) == "chunked"
    assert auto_impl("cpu", long, False) == "inference"
    assert auto_impl("cpu", long - 1, True) == "sequential"


def test_inference_reads_position_major_inputs_and_ignores_autocast():
    u, delta, A, B, C, D, bias = inputs(length=640)
    ref = selective_scan_sequential(u, delta, A, B, C, D, bias)
    # N×L×D in memory, seen as N×D×L (what a channels-last feature map gives), under bf16 autocast
    u_pm, delta_pm = (x.transpose(1, 2).contiguous().transpose(1, 2) for x in (u, delta))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = selective_scan_inference(u_pm, delta_pm, A, B, C, D, bias)
    assert got.dtype == torch.float32
    assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5)


def test_inference_chunk_length_divides_when_it_can():
    assert inference_chunk_length(14720) == 115  # 128 chunks, no padding copy
    assert 14720 % inference_chunk_length(14720) == 0
    assert inference_chunk_length(1031) == 33  # prime: ceil(√L), padded


def test_auto_uses_the_inference_scan_only_without_gradients(monkeypatch):
    calls = []
    monkeypatch.setattr(scan_module, "selective_scan_inference", lambda *a, **k: calls.append("inference") or a[0])
    monkeypatch.setattr(scan_module, "selective_scan_chunked", lambda *a, **k: calls.append("chunked") or a[0])
    args = inputs(length=scan_module.CHUNKED_MIN_LENGTH)
    with torch.no_grad():
        selective_scan(*args)
    selective_scan(*inputs(length=scan_module.CHUNKED_MIN_LENGTH, requires_grad=True))
    selective_scan(*args)  # grad mode on, but nothing requires grad
    assert calls == ["inference", "chunked", "inference"]


def test_gradients_agree():
    a = inputs(length=120, requires_grad=True)
    b = [x.detach().clone().requires_grad_() for x in a]
    ya = selective_scan_sequential(*a)
    yb = selective_scan_chunked(*b)
    g = torch.randn_like(ya)
    ga = torch.autograd.grad(ya, a, g)
    gb = torch.autograd.grad(yb, b, g)
    for x, y in zip(ga, gb):
        assert torch.allclose(x, y, atol=1e-4, rtol=1e-4)


def test_state_is_fp32_even_for_half_inputs():
    args = inputs(length=64)
    half = [x.to(torch.bfloat16) for x in args]
    y = selective_scan(*half, impl="chunked")
    assert y.dtype == torch.float32
    assert torch.allclose(y, selective_scan_sequential(*[x.float() for x in half]), atol=1e-4)


def test_bad_shapes_are_reported():
    u, delta, A, B, C, D, bias = inputs()
    with pytest.raises(ValueError, match="B must be"):
        selective_scan_sequential(u, delta, A, B[:, :3], C, D, bias)
    with pytest.raises(ValueError, match="unknown scan implementation"):
        selective_scan(u, delta, A, B, C, D, bias, impl="magic")
