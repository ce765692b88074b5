"""Blur synthesis: kernels, linear light, defocus, degradations."""

from __future__ import annotations

import numpy as np
import pytest

from streamdeblur.train.blur import (
    BlurConfig,
    line_kernel,
    linear_to_srgb,
    shake_kernel,
    srgb_to_linear,
    synthesize,
)
from streamdeblur.train.defocus import disc_kernel, synthesize_defocus


@pytest.mark.parametrize("size", [7, 15, 33, 65])
def test_shake_kernels_are_normalised_and_span_their_size(size):
    rng = np.random.default_rng(size)
    for _ in range(5):
        k = shake_kernel(rng, size)
        assert k.shape == (size, size) and abs(k.sum() - 1) < 1e-5 and k.min() >= 0
        ys, xs = np.nonzero(k > 1e-4)
        extent = max(np.ptp(ys), np.ptp(xs)) + 1
        assert 0.4 * size <= extent <= size


def test_srgb_transfer_round_trip():
    x = np.linspace(0, 1, 1001)
    assert np.abs(linear_to_srgb(srgb_to_linear(x)) - x).max() < 1e-6
    assert abs(srgb_to_linear(np.array(0.5)) - 0.214) < 1e-3


def test_blur_is_applied_in_linear_light():
    # a black/white edge blurred in linear light is brighter at the midpoint than in sRGB
    img = np.zeros((64, 96, 3), np.uint8)
    img[:, 48:] = 255
    cfg = BlurConfig(p_spatially_varying=0, p_noise=0, p_jpeg=0, p_h264=0, kernel_sizes=(9, 9))
    s = synthesize(np.random.default_rng(0), img, cfg, margin=0)
    k = s.kernels[0]
    row = s.blurry[32].astype(float)[:, 0]
    # the true kernel reproduces the output when applied to linear values
    from streamdeblur.train.blur import convolve

    lin = convolve(srgb_to_linear(img.astype(np.float32) / 255), k)
    expect = (linear_to_srgb(lin) * 255 + 0.5).astype(np.uint8)[32, :, 0]
    assert np.abs(row - expect).max() <= 1
    naive = convolve(img.astype(np.float32), k)[32, :, 0]
    assert np.abs(row - naive).max() > 20  # differs from blurring sRGB values


def test_synthesize_keeps_true_kernels_and_trims_margin():
    rng = np.random.default_rng(1)
    img = (np.random.default_rng(2).random((160, 160, 3)) * 255).astype(np.uint8)
    s = synthesize(rng, img, BlurConfig(p_spatially_varying=1.0), margin=32)
    assert s.blurry.shape == s.sharp.shape == (96, 96, 3)
    assert len(s.kernels) == 2 and s.weights.shape == (2, 96, 96)
    assert np.allclose(s.weights.sum(0), 1, atol=1e-5)


def test_line_kernel_orientation():
    k = line_kernel(15, 0)
    assert k[7].sum() > 0.95  # horizontal
    k = line_kernel(15, 90)
    assert k[:, 7].sum() > 0.95


def test_defocus_disc_and_radius_map():
    d = disc_kernel(3.0)
    assert d.shape == (7, 7) and abs(d.sum() - 1) < 1e-6 and d[3, 3] > d[0, 0]
    rng = np.random.default_rng(0)
    img = (np.random.default_rng(3).random((128, 128, 3)) * 255).astype(np.uint8)
    s = synthesize_defocus(rng, img, degrade_cfg=BlurConfig(p_noise=0, p_jpeg=0, p_h264=0), margin=16)
    assert s.blurry.shape == (96, 96, 3) and s.radius.shape == (96, 96)
    # where the radius is ~0 the image is (almost) untouched; where large, it is smoothed
    sharp_px = s.radius < 0.05
    if sharp_px.any():
        assert np.abs(s.blurry[sharp_px].astype(int) - s.sharp[sharp_px].astype(int)).mean() < 3
    blurred_px = s.radius > 0.8 * s.radius.max()
    assert s.blurry[blurred_px].std() < s.sharp[blurred_px].std()


def test_a_clean_camera_share_has_no_sensor_noise_and_light_compression():
    """``p_clean``: the share of samples a clean camera gives (no sensor noise, H.264 at crf 8–12),
    where every other sample is noisy and compressed at crf 17–28; the model must see both to tell them apart."""
    import cv2

    grey = cv2.GaussianBlur((np.random.default_rng(5).random((96, 96)) * 255).astype(np.uint8), (0, 0), 1.5)
    img = np.repeat(grey[..., None], 3, -1)  # no colour: 4:2:0 loses nothing, the noise and crf tell
    sharp_only = dict(p_sharp=1.0, p_identity=1.0)

    def psnr(cfg: BlurConfig, seed: int) -> tuple[float, dict]:
        s = synthesize(np.random.default_rng(seed), img, cfg, margin=0)
        return float(10 * np.log10(255**2 / np.mean((s.blurry.astype(float) - s.sharp) ** 2))), s.info

    clean = [psnr(BlurConfig(**sharp_only, p_clean=1.0), i) for i in range(4)]
    noisy = [psnr(BlurConfig(**sharp_only, p_noise=1.0, read=(3e-3, 3e-3), p_jpeg=0.0, p_h264=1.0), i) for i in range(4)]
    assert all(info.get("clean") and 8 <= info["h264"] <= 12 and "read" not in info for _, info in clean), clean
    assert min(p for p, _ in clean) > max(p for p, _ in noisy) + 3, (clean, noisy)
    assert "clean" not in noisy[0][1]
