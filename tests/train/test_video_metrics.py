"""Video metrics on real encoded clips: PSNR/SSIM per frame, tPSNR (flicker), warping error (Lai et al. 2018)."""

from __future__ import annotations

import subprocess

import cv2
import media
import numpy as np

from streamdeblur.train import video_metrics as vm

SIZE = (128, 96)
N = 12


def _panning(i: int, w: int, h: int) -> np.ndarray:
    """Textured content moving 2 px right per frame (a real, trackable motion)."""
    big = media.pattern(0, w + 2 * N + 8, h)
    return np.ascontiguousarray(big[:, 2 * N - 2 * i : 2 * N - 2 * i + w])


def _encode(path, content, crf: int = 4):
    media.write_video(path, frames=N, size=SIZE, crf=crf, content=content, colorspace="bt601")
    return vm.read_frames(path)


def test_identical_frames_count_at_the_cap_so_a_clip_mean_stays_a_number(tmp_path):
    # An identical frame was inf dB: a clip two thirds of which was misaligned (14.7 dB) reported
    # "PSNR in inf, gain +nan"; the image evaluator floored it at 148 dB instead. Both now say 100.
    ref = _encode(tmp_path / "ref.mp4", _panning)
    again = vm.read_frames(tmp_path / "ref.mp4")
    assert len(ref) == N  # decoded through the final flush
    assert np.all(vm.psnr_frames(again, ref) == 100.0) and vm.tpsnr(again, ref) == 100.0
    assert np.allclose(vm.ssim_frames(again, ref), 1.0)
    assert vm.worst_frame_delta(vm.psnr_frames(again, ref), vm.psnr_frames(ref, ref)) == 0.0
    shifted = [np.roll(f, 3, axis=1) for f in ref]
    mixed = vm.psnr_frames(again[:4] + shifted[4:], ref)
    assert np.all(mixed[:4] == 100.0) and np.all(mixed[4:] < 40) and np.isfinite(mixed.mean())
    one_level = [f.copy() for f in ref]
    one_level[0][0, 0, 0] ^= 1  # the smallest real difference in a 128×96 frame: 93.8 dB, under the cap
    assert abs(vm.psnr_frames(one_level[:1], ref[:1])[0] - 10 * np.log10(255.0**2 * ref[0].size)) < 1e-9
    import torch

    from streamdeblur.train.metrics import psnr

    t = torch.from_numpy(ref[0]).permute(2, 0, 1)[None].float() / 255
    assert psnr(t, t) == 100.0  # the image evaluator's rule is the same


def test_a_10_bit_clip_is_judged_on_the_8_bit_scale(tmp_path, require_ffmpeg):
    # A 10-bit clip decoded to 16-bit RGB: a lossless copy scored −45 dB against its 8-bit reference and
    # the warping error's flow refused it (an OpenCV assertion that stopped the whole evaluation).
    ref = _encode(tmp_path / "ref.mp4", _panning)
    deep = tmp_path / "deep.mkv"
    cmd = [media.FFMPEG, "-v", "error", "-i", str(tmp_path / "ref.mp4"), "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p10le"]
    subprocess.run([*cmd, str(deep)], check=True)
    frames = vm.read_frames(deep)
    assert frames[0].dtype == np.uint8 and len(frames) == N
    assert vm.psnr_frames(frames, ref).mean() > 40
    assert vm.warping_error(frames, frames) < 1e-3


def test_flicker_lowers_tpsnr_not_psnr(tmp_path):
    ref = _encode(tmp_path / "ref.mp4", _panning)

    def offset(sign_of):
        return lambda i, w, h: np.clip(_panning(i, w, h).astype(int) + 8 * sign_of(i), 0, 255).astype(np.uint8)

    steady = _encode(tmp_path / "steady.mp4", offset(lambda i: 1))
    flicker = _encode(tmp_path / "flicker.mp4", offset(lambda i: 1 if i % 2 else -1))
    p_steady, p_flicker = vm.psnr_frames(steady, ref).mean(), vm.psnr_frames(flicker, ref).mean()
    assert abs(p_steady - p_flicker) < 1.0 and 25 < p_flicker < 35
    t_steady, t_flicker = vm.tpsnr(steady, ref), vm.tpsnr(flicker, ref)
    assert t_flicker < 28  # ±8 alternating: differences off by 16 levels
    assert t_steady > t_flicker + 10


def test_warping_error_zero_when_static_small_when_moving_steadily_large_with_flicker(tmp_path):
    static = _encode(tmp_path / "static.mp4", lambda i, w, h: _panning(0, w, h))
    assert vm.warping_error(static, static) < 1e-6

    moving = _encode(tmp_path / "moving.mp4", _panning)
    flicker = _encode(
        tmp_path / "flicker.mp4",
        lambda i, w, h: np.clip(_panning(i, w, h).astype(int) + (12 if i % 2 else -12), 0, 255).astype(np.uint8),
    )
    steady = vm.warping_error(moving, moving)
    assert steady < 2e-3
    # judged with the flow of the steady input, the flickering output is far less consistent
    assert vm.warping_error(flicker, moving) > 5 * steady + 5e-3


def test_worst_frame_delta_finds_the_frame_that_lost():
    assert vm.worst_frame_delta(np.array([30.0, 31.0, 25.0]), np.array([28.0, 30.0, 26.0])) == -1.0


def test_aligned_psnr_forgives_a_global_shift_and_nothing_else(tmp_path):
    # real encoded frames: a copy shifted by a fraction of a pixel loses much PSNR, and gets it back
    # aligned; a blurred copy stays blurred (alignment is not a second chance for lost detail)
    ref = _encode(tmp_path / "ref.mp4", _panning)[:3]
    moved = [vm._shift(r, 0.75, -1.25) for r in ref]
    soft = [cv2.GaussianBlur(r, (0, 0), 1.5) for r in ref]
    plain, aligned = vm.psnr_frames(moved, ref), vm.aligned_psnr_frames(moved, ref)
    assert np.all(aligned > plain + 8)
    dx, dy, _ = vm.best_shift(moved[0], ref[0])
    assert abs(dx + 0.75) <= 0.125 and abs(dy - 1.25) <= 0.125
    assert np.all(vm.aligned_psnr_frames(soft, ref) < aligned - 3)


def test_lucky_ceiling_finds_the_one_sharp_frame_its_window_reaches(tmp_path):
    # a panning clip (real H.264) in which every frame but frame 5 is motion-blurred: the ceiling of a
    # blurred frame is the sharp frame registered onto it when the window reaches frame 5, and its own
    # input otherwise; registration comes from the references, so a 2 px/frame pan costs nothing
    ref = _encode(tmp_path / "ref.mp4", _panning)

    def blurred(i: int, w: int, h: int) -> np.ndarray:
        return _panning(i, w, h) if i == 5 else cv2.blur(_panning(i, w, h), (9, 1))

    inp = _encode(tmp_path / "inp.mp4", blurred, crf=18)
    plain = vm.psnr_frames(inp, ref)
    best, src = vm.lucky_ceiling_frames(inp, ref, back=3, ahead=1)
    assert np.all(best >= plain - 1e-4)  # float32 here, float64 in psnr_frames
    for t in range(N):
        if 4 <= t <= 8 and t != 5:  # frame 5 is within 3 back or 1 ahead
            assert src[t] == 5 and best[t] > plain[t] + 4, (t, best[t], plain[t])  # +5.6 … +6.2 dB
        elif t != 5:
            assert best[t] < plain[t] + 2, (t, best[t], plain[t])  # only blurred copies within reach
