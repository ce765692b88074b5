"""The do-no-harm video measurement: a clean clip made noisy, each pipeline against the identity."""

from __future__ import annotations

import json

import av
import cv2
import media
import numpy as np
import pytest

from streamdeblur.train.noharm import main, measure, noisy_copy
from streamdeblur.train.video_metrics import psnr_frames, read_frames


@pytest.fixture
def sharp(tmp_path):
    """A lossless 12-frame 96×64 clip of a textured still scene panning by one pixel a frame."""
    path = tmp_path / "scene.sharp.mkv"
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:64, 0:140].astype(np.float32)
    colour = np.stack([0.5 + 0.3 * np.sin(x / 23), 0.5 + 0.3 * np.cos(y / 17), 0.5 + 0.3 * np.sin((x + y) / 31)], -1)
    luma = cv2.GaussianBlur(rng.normal(0, 0.12, (64, 140)).astype(np.float32), (0, 0), 0.8)  # fine grey texture
    tex = (np.clip(colour + luma[..., None], 0, 1) * 255 + 0.5).astype(np.uint8)
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=30)
        s.width, s.height, s.pix_fmt = 96, 64, "bgr0"
        for i in range(12):
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(tex[:, i : i + 96]), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def test_the_noisy_copy_is_noisy_compressed_and_reproducible(sharp, tmp_path):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    assert noisy_copy(sharp, a) == noisy_copy(sharp, b) == 12
    fa, fb, clean = read_frames(a), read_frames(b), read_frames(sharp)
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb))
    p = psnr_frames(fa, clean)
    assert 25 < p.min() and p.max() < 48  # changed by noise and the codec, by a camera's amount
    noisy_copy(sharp, tmp_path / "c.mp4", sigma=8 / 255)
    assert psnr_frames(read_frames(tmp_path / "c.mp4"), clean).mean() < p.mean() - 3


def test_the_noisy_copy_is_the_same_file_on_every_run_at_dev_set_size(tmp_path):
    # PyAV's x264 with MB-tree encoded the same frames differently from run to run at this size (up to
    # 0.18 dB on a frame; the 96×64 clip above hid it), so each run measured a different noisy clip
    sharp = media.write_video(tmp_path / "s.mkv", frames=60, size=(320, 240), codec="ffv1", pix_fmt="yuv444p")
    copies = []
    for i in range(3):
        noisy_copy(sharp, tmp_path / f"n{i}.mp4")
        copies.append(read_frames(tmp_path / f"n{i}.mp4"))
    assert all(np.array_equal(x, y) for other in copies[1:] for x, y in zip(copies[0], other))


def test_identity_does_no_harm_and_sharpening_does(sharp, tmp_path):
    yaml = tmp_path / "sharpen.yaml"
    yaml.write_text("stages:\n  - unsharp:\n      amount: 2.0\n")
    res = measure(sharp, ["identity", str(yaml)], log=lambda s: None)
    ident, sharpen = res["pipelines"]["identity"], res["pipelines"]["sharpen"]
    assert ident["mean"] == ident["worst"] == 0.0 and len(ident["per_frame"]) == 12
    assert sharpen["worst"] <= sharpen["mean"] < -0.5  # sharpening a sharp noisy frame harms it


def test_command_line(sharp, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["--clip", str(sharp), "--pipeline", "identity", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["pipelines"]["identity"]["mean"] == 0.0
    assert main(["--clip", str(tmp_path / "missing.mkv")]) == 2
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("error: ")
