"""Fitting the current frame's motion blur to a sharp registered copy."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from streamdeblur.temporal.blur_match import fit_motion_blur, line_kernel, match_blur


def _texture(h: int = 120, w: int = 200, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.2)


@pytest.mark.parametrize("length,angle", [(0.0, 0.0), (3.0, math.pi / 4), (8.0, math.pi / 2), (11.0, 3 * math.pi / 8)])
def test_the_blur_is_recovered(length, angle):
    sharp = _texture()
    blurred = cv2.filter2D(sharp, -1, line_kernel(length, angle), borderType=cv2.BORDER_REFLECT)
    got = fit_motion_blur(blurred, sharp)
    assert got[0] == length
    if length:
        assert got[1] == pytest.approx(angle)


def test_the_kernel_is_a_normalised_line():
    k = line_kernel(9.0, 0.0)
    assert k.sum() == pytest.approx(1.0)
    rows = np.nonzero(k.sum(1) > 1e-6)[0]
    cols = np.nonzero(k.sum(0) > 1e-6)[0]
    assert len(rows) == 1 and 9 <= len(cols) <= 11


def test_matched_copy_agrees_with_the_blurred_frame_and_a_moved_subject_does_not():
    sharp = _texture(240, 320)
    img = np.stack([sharp, 0.5 * sharp + 0.2, 1 - sharp])
    cur = cv2.filter2D(img.transpose(1, 2, 0), -1, line_kernel(24.0, math.pi / 8), borderType=cv2.BORDER_REFLECT)
    cur_t = torch.from_numpy(cur.transpose(2, 0, 1).copy())
    copy = torch.from_numpy(img.copy())
    matched, length = match_blur(cur_t, copy, torch.ones(1, 240, 320))
    assert length == pytest.approx(24.0, abs=4.0)
    inner = (slice(None), slice(16, -16), slice(16, -16))
    assert (matched - cur_t)[inner].abs().mean() < 0.3 * (copy - cur_t)[inner].abs().mean()
    moved = copy.clone()
    moved[:, 100:160, 100:160] = 1.0  # a white subject where the current frame shows the scene
    diff = (match_blur(cur_t, moved, torch.ones(1, 240, 320))[0] - cur_t)[:, 110:150, 110:150].abs().mean()
    assert diff > 0.2


def test_a_frame_as_sharp_as_the_copy_fits_no_blur():
    sharp = torch.from_numpy(np.stack([_texture(120, 200, s) for s in (1, 2, 3)]))
    noisy = (sharp + 0.01 * torch.randn(sharp.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    _, length = match_blur(noisy, sharp, torch.ones(1, 120, 200))
    assert length == 0
