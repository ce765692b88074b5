"""Fitting the do-no-harm gate: the pieces that decide what the gate learns from."""

from __future__ import annotations

import numpy as np
import torch

from streamdeblur.train.gate import camera_frames, gains, psnr_per_image, psnr_per_tile


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


def test_per_tile_psnr_sees_a_local_harm_that_the_crop_average_hides():
    """``--harm-tile``: a blend that cleans most of a crop and damages one corner gains on the crop as a
    whole, but the damaged square shows as a loss (what the per-square harm term of the loss weighs)."""
    gen = torch.Generator().manual_seed(0)
    gt = torch.rand(1, 3, 64, 64, generator=gen)
    x = (gt + 0.04 * torch.randn(gt.shape, generator=gen)).clamp(0, 1)
    out = gt.clone()
    out[..., :16, :16] = (x[..., :16, :16] + 0.1).clamp(0, 1)  # one 16-px corner made worse than the input
    crop = psnr_per_image(out, gt) - psnr_per_image(x, gt)
    tiles = psnr_per_tile(out, gt, 16) - psnr_per_tile(x, gt, 16)
    assert crop.item() > 0 and tiles.shape == (1, 16)
    assert tiles[0, 0] < -1 and (tiles[0, 1:] > 0).all()
    assert torch.allclose(psnr_per_tile(out, gt, 0)[:, 0], psnr_per_image(out, gt))


def test_a_steady_hand_gives_nearly_sharp_noisy_compressed_frames(tmp_path):
    """The gate's do-no-harm video case (``--steady``): frames within 3 px of blur everywhere, most
    under a pixel, with the shaky clips' noise and H.264 compression (so neither clean nor blurred)."""
    import cv2
    import media

    from streamdeblur.train.devset import ClipSpec, render_clip
    from streamdeblur.train.gate import STEADY_SHAKE
    from streamdeblur.train.video_metrics import psnr_frames, read_frames

    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), media.pattern(3, 400, 300)[..., ::-1])
    info = render_clip(ClipSpec("s", "still", str(photo), (160, 120), 30, 3, shake=STEADY_SHAKE), tmp_path)
    blur = np.array(info["per_frame"]["blur_px_max"]) * 2  # lengths at 160 px; the config speaks of 320 px
    assert blur.max() <= 3.0 and np.median(blur) < 1.0
    assert 18 <= info["crf"] <= 28 and info["noise"]["read"] > 0
    p = psnr_frames(read_frames(tmp_path / "s.blurry.mp4"), read_frames(tmp_path / "s.sharp.mkv"))
    assert len(p) == 30 and 25 < np.min(p) and np.max(p) < 50  # changed by noise and codec, not by blur


def test_a_clean_camera_gives_the_steady_hand_without_its_noise_and_compression(tmp_path):
    """``--clean-clips``: the same steady hand on a clean camera (no sensor noise to speak of, crf 8–12):
    the same scene, seed and shake as :data:`STEADY_SHAKE` but frames much closer to the sharp ones (a
    smooth scene, so that what is measured is the noise and the codec, not the sub-pixel blur)."""
    import cv2
    import media

    from streamdeblur.train.devset import ClipSpec, render_clip
    from streamdeblur.train.gate import CLEAN_SHAKE, STEADY_SHAKE
    from streamdeblur.train.video_metrics import psnr_frames, read_frames

    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), cv2.GaussianBlur(media.pattern(3, 400, 300)[..., ::-1], (0, 0), 6))
    p = {}
    for name, shake in (("noisy", STEADY_SHAKE), ("clean", CLEAN_SHAKE)):
        info = render_clip(ClipSpec(name, "still", str(photo), (160, 120), 20, 3, shake=shake), tmp_path)
        p[name] = psnr_frames(read_frames(tmp_path / f"{name}.blurry.mp4"), read_frames(tmp_path / f"{name}.sharp.mkv"))
        assert np.array(info["per_frame"]["blur_px_max"]).max() * 2 <= 3.0
    assert 8 <= info["crf"] <= 12 and info["noise"]["read"] < 1e-5
    assert np.median(p["clean"]) > np.median(p["noisy"]) + 1.5  # 42.7 vs 40.8 dB here
