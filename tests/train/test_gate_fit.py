"""Fitting the do-no-harm gate: the pieces that decide what the gate learns from."""

from __future__ import annotations

import numpy as np
import torch

from streamdeblur.train.gate import camera_frames, gains, psnr_per_image


def test_camera_frames_are_jpeg_decoded_like_a_camera_delivers_them():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:96, 0:128]
    img = (127 + 100 * np.stack([np.sin(x / 5), np.cos(y / 7), np.sin((x + y) / 9)], 0)).astype(np.uint8)
    frames = torch.from_numpy(np.stack([img, np.roll(img, 5, 2)])) + torch.from_numpy(rng.integers(0, 2, (2, 3, 96, 128))).byte()
    out = camera_frames(frames, quality=92)
    assert out.shape == frames.shape and out.dtype == torch.uint8
    p = psnr_per_image(out.float() / 255, frames.float() / 255)
    assert (p > 30).all() and (p < 60).all()  # changed (JPEG), but a good camera's quality
    assert (psnr_per_image(camera_frames(frames, quality=60).float() / 255, frames.float() / 255) < p).all()


def test_gains_report_the_mean_and_the_worst_crop_against_the_input():
    gt = torch.rand(3, 3, 16, 16)
    x = (gt + 0.05 * torch.randn_like(gt)).clamp(0, 1)
    y = torch.stack([gt[0], x[1], (x[2] + 0.1).clamp(0, 1)])  # perfect, unchanged, harmed
    g = gains(None, {"s": {"x": x, "y": y, "gt": gt}})["s"]
    assert g["worst"] < 0 and g["harm"] > 0 and g["mean"] > g["worst"]
