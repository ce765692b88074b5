"""Registration: DIS + homography, and ECC's refinement of a far frame's placement."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from streamdeblur.temporal.registration import fit_homography, homography_flow, refine_homography, register_pair, warp


def _texture(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    tex = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.5)
    return ((tex - tex.min()) / (tex.max() - tex.min()) * 255).astype(np.float32)


def test_ecc_places_a_frame_closer_than_dis_on_a_small_image():
    # frame n is frame t seen through a known homography (a shift of a fraction of a pixel and a
    # slight roll); DIS runs on quarter-size images, ECC refines on the full ones
    h, w = 240, 320
    t = _texture(h, w)
    ang = np.deg2rad(0.4)
    truth = np.array([[np.cos(ang), -np.sin(ang), 3.37], [np.sin(ang), np.cos(ang), -2.61], [0, 0, 1]])
    # n(x) = t(truth⁻¹ x): pixel x of t is seen at truth·x in n
    n = cv2.warpPerspective(t, truth, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    small = [cv2.resize(a, (w // 4, h // 4), interpolation=cv2.INTER_AREA).astype(np.uint8) for a in (t, n)]
    flow, moving = register_pair(*small, return_moving=True)
    refined, ok = refine_homography(t.astype(np.uint8), n.astype(np.uint8), flow, moving)
    assert ok
    want = homography_flow(truth, (h, w))[::4, ::4] / 4  # the true flow at the small flow's scale
    inner = (slice(6, -6), slice(6, -6))
    err_dis = np.abs(flow - want)[inner].max() * 4  # in full-size pixels
    err_ecc = np.abs(refined - want)[inner].max() * 4
    assert err_ecc < 0.1, err_ecc
    assert err_ecc < err_dis / 2, (err_ecc, err_dis)


def test_ecc_leaves_the_moving_part_to_the_flow():
    h, w = 120, 160
    flow = np.zeros((h, w, 2), np.float32)
    flow[40:80, 60:100] = (5.0, 0.0)  # a subject moving 5 px
    moving = np.zeros((h, w), np.float32)
    moving[40:80, 60:100] = 1
    t = _texture(h, w).astype(np.uint8)
    refined, ok = refine_homography(t, t, flow, moving)
    assert ok
    assert np.allclose(refined[40:80, 60:100], (5.0, 0.0))
    assert np.abs(refined[:30]).max() < 0.05  # the static scene: identity


def test_the_static_scene_is_found_when_most_of_the_frame_moves():
    # most of the frame is marked moving (a big subject, or a flat sky where DIS wanders): the
    # camera's homography comes from the rest; before the fix the moving points were handed to RANSAC
    # with one placeholder flow, a translation that outvoted the static scene, and ECC never ran
    h, w = 120, 160
    t = _texture(h, w)
    truth = np.array([[1, 0, 1.25], [0, 1, -0.5], [0, 0, 1.0]])
    n = cv2.warpPerspective(t, truth, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    flow = homography_flow(truth, (h, w)).copy()
    moving = np.zeros((h, w), np.float32)
    moving[:, 50:] = 1  # 69 % of the frame
    flow[:, 50:] = (-4.0, 3.0)
    assert fit_homography(flow, exclude=moving) is not None
    assert np.allclose(fit_homography(flow, exclude=moving), truth, atol=1e-3)
    refined, ok = refine_homography(t.astype(np.uint8), n.astype(np.uint8), flow, moving)
    assert ok
    assert np.abs(refined[:, 5:45] - flow[:, 5:45]).max() < 0.1  # ECC on a 50-px strip


def test_a_large_pan_over_a_flat_lake_is_registered_as_the_camera_moved():
    """The bundled sample's sharp clip (a still photograph; the camera pans ~13 px a frame at 512 px):
    frame 10 and frame 5 at the fusion's flow width (320). DIS from scratch lost its way over the
    lake (half of the frame tens of pixels off, self-consistent both ways) and the fusion pasted a
    boat into the water; the residual pass, started from the homography, finds the camera's motion
    nearly everywhere: nothing in a photograph moves."""
    import av

    from streamdeblur.temporal.registration import small_grey

    with av.open(str(Path(__file__).parents[2] / "samples" / "shaky_boats_sharp.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for i, f in zip(range(11), c.decode(video=0))]
    t, n = (torch.from_numpy(frames[i]).permute(2, 0, 1).float()[None] / 255 for i in (10, 5))
    gt, gn = small_grey(t, 320 / 512)[0], small_grey(n, 320 / 512)[0]
    flow, moving = register_pair(gt, gn, return_moving=True)
    assert np.abs(np.median(flow[..., 0])) > 30  # a large move (at 320 px)
    assert (moving > 0.5).mean() < 0.1, (moving > 0.5).mean()
    h = fit_homography(flow)
    assert (np.hypot(*np.moveaxis(flow - homography_flow(h, flow.shape[:2]), -1, 0)) > 2).mean() < 0.1


def test_a_pair_registers_the_same_whatever_was_registered_before():
    """OpenCV's DIS object carries state from a call given an initial flow into its later calls: with
    one shared instance, the residual pass made a pair's flow depend on the call history (up to 22 px
    here), so neither a run nor a segmented run was reproducible. All pairs of a shaky clip within ±2
    frames, registered in order and in reverse order, must agree exactly."""
    rng = np.random.default_rng(7)
    base = cv2.GaussianBlur(rng.random((120, 152)).astype(np.float32), (0, 0), 1.2)
    base = ((base - base.min()) / (base.max() - base.min()) * 255).astype(np.float32)
    frames = []
    for i in range(10):
        m = np.float32([[1, 0, -(6 + 5 * np.sin(i * 1.3))], [0, 1, -(6 + 5 * np.cos(i * 0.7))]])
        frames.append(cv2.warpAffine(base, m, (128, 96), flags=cv2.INTER_CUBIC).astype(np.uint8))
    pairs = [(i, j) for i in range(10) for j in range(max(0, i - 2), min(10, i + 3)) if i != j]
    forward = {k: register_pair(frames[k[0]], frames[k[1]]) for k in pairs}
    backward = {k: register_pair(frames[k[0]], frames[k[1]]) for k in pairs[::-1]}
    assert all(np.array_equal(forward[k], backward[k]) for k in pairs)


CONCURRENT = """
import sys, threading
import numpy as np
sys.path.insert(0, sys.argv[1])
from test_registration import _shaken
from streamdeblur.temporal.registration import register_pair

clips = [_shaken(96, 128, 7), _shaken(180, 240, 11)]
pairs = [(i, j) for i in range(8) for j in range(8) if 0 < abs(i - j) <= 2]
alone = [[register_pair(c[i], c[j]) for i, j in pairs] for c in clips]
together = [None, None]

def work(k):
    together[k] = [register_pair(clips[k][i], clips[k][j]) for _ in range(4) for i, j in pairs]

threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
for t in threads:
    t.start()
for t in threads:
    t.join()
bad = sum(not np.array_equal(f, alone[k][n % len(pairs)]) for k in (0, 1) for n, f in enumerate(together[k]))
print("differing flows:", bad)
sys.exit(1 if bad else 0)
"""


def _shaken(h: int, w: int, seed: int) -> list[np.ndarray]:
    """Eight uint8 frames of one textured scene under a camera shake of a few pixels."""
    base = _texture(h + 24, w + 24)
    m = lambda i: np.float32([[1, 0, -(12 + 5 * np.sin(i * 1.3 + seed))], [0, 1, -(12 + 5 * np.cos(i * 0.7))]])  # noqa: E731
    return [cv2.warpAffine(base, m(i), (w, h), flags=cv2.INTER_CUBIC).astype(np.uint8) for i in range(8)]


def test_two_threads_registering_at_once_get_what_each_gets_alone(tmp_path):
    """Two pipelines in one process (two ``Deblurrer`` users in two threads) register frames at the
    same time. A DIS instance keeps its pyramids and fields between calls and ``calc`` releases the
    GIL: with one instance per process the threads overwrote each other's fields, and two motion
    pipelines in two threads ended in a segmentation fault. In a child process, so that a crash is a
    failure of this test (exit code) rather than the end of the suite: every flow computed while the
    other thread works must equal the one computed alone."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", CONCURRENT, str(Path(__file__).parent)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, (run.returncode, run.stdout[-300:], run.stderr[-300:])


def _fine_colour_texture(h: int = 60, w: int = 80) -> torch.Tensor:
    """Fine colour texture (blurred noise, σ 0.7 px): detail up to near the Nyquist frequency."""
    rng = np.random.default_rng(0)
    img = np.stack([cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 0.7) for _ in range(3)])
    return torch.from_numpy(img)[None]


def test_lanczos_warp_keeps_more_detail_than_bicubic_and_is_the_same_off_the_cpu():
    img = _fine_colour_texture()
    shift = torch.tensor([0.5, 0.3]).view(1, 2, 1, 1).expand(1, 2, *img.shape[-2:]).contiguous()

    def round_trip(mode: str, x: torch.Tensor) -> float:
        back = warp(warp(x, shift, mode), -shift, mode)
        err = (back - x)[..., 8:-8, 8:-8].double().pow(2).mean()
        return float(10 * torch.log10(err.reciprocal() * (x.max() - x.min()) ** 2))

    cubic, lanczos = round_trip("bicubic", img), round_trip("lanczos", img)
    assert lanczos > cubic + 2.5, (cubic, lanczos)
    # the gathered-taps path (CUDA, or any dtype but float32) is OpenCV's remap, whose positions are
    # quantised to 1/32 px: on such positions the two agree
    g = torch.Generator().manual_seed(1)
    flow = ((3 * torch.randn(2, 2, 1, 1, generator=g) + 0.7 * torch.randn(2, 2, 60, 80, generator=g)) * 32).round() / 32
    two = img.expand(2, -1, -1, -1).contiguous()
    assert torch.allclose(warp(two, flow, "lanczos"), warp(two.double(), flow.double(), "lanczos").float(), atol=1e-5)
    with pytest.raises(ValueError, match="mode must be one of"):
        warp(two, flow, "nearest")
