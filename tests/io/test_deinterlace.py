"""Interlaced camcorder video comes out progressive: no comb on moving edges, every frame and timestamp kept."""

from __future__ import annotations

import subprocess

import cv2
import media
import numpy as np
import pytest

from streamdeblur.cli import main


def _bars(i: int, w: int, h: int) -> np.ndarray:
    """Vertical bars sweeping sideways 6 px per 1/60 s: interlacing combs every edge."""
    x = np.arange(w)[None, :, None]
    img = np.where(((x + 6 * i) // 12) % 2 == 0, 220, 30) * np.ones((h, 1, 3))
    return img.astype(np.uint8)


@pytest.fixture(scope="module")
def interlaced(tmp_path_factory, require_ffmpeg):
    """1080i-style H.264: 60 progressive pictures woven into 30 top-field-first frames by Debian's ffmpeg."""
    d = tmp_path_factory.mktemp("interlaced")
    src = media.write_video(d / "p60.mkv", frames=24, size=(160, 96), fps=60, crf=4, content=_bars)
    out = d / "i30.mp4"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-i", str(src), "-vf", "tinterlace=interleave_top,setfield=tff"]
        + ["-c:v", "libx264", "-flags", "+ildct+ilme", "-x264opts", "tff=1", "-crf", "10", str(out)],
        check=True,
    )
    return out


def _comb(img: np.ndarray) -> float:
    """Mean distance of each line from the average of its neighbours (a comb is large, a smooth picture small)."""
    g = img.astype(np.float32).mean(-1)
    return float(np.abs(g[1:-1] - (g[:-2] + g[2:]) / 2).mean())


def _frames(path, folder) -> list[np.ndarray]:
    folder.mkdir()
    subprocess.run([media.FFMPEG, "-v", "error", "-i", str(path), str(folder / "%03d.png")], check=True)
    return [cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))]


def test_interlaced_video_is_deinterlaced_frame_for_frame(tmp_path, interlaced, identity_yaml, capsys):
    stream = next(s for s in media.probe(interlaced)["streams"] if s["codec_type"] == "video")
    assert stream["field_order"] in ("tt", "tb")
    out = tmp_path / "out.mp4"
    assert main(["run", str(interlaced), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    said = capsys.readouterr().err
    assert media.frame_times(out) == media.frame_times(interlaced)  # every frame, its own timestamp
    raw = _frames(interlaced, tmp_path / "raw")
    ours = _frames(out, tmp_path / "ours")
    ref = tmp_path / "ref.mkv"  # the independent judge: ffmpeg's own bwdif, lossless
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-i", str(interlaced), "-vf", "bwdif=mode=send_frame:parity=auto:deint=interlaced"]
        + ["-c:v", "ffv1", str(ref)],
        check=True,
    )
    judged = _frames(ref, tmp_path / "judged")
    assert len(ours) == len(raw) == len(judged)
    combed = np.mean([_comb(f) for f in raw])
    assert np.mean([_comb(f) for f in ours]) < 0.5 * combed
    assert max(np.abs(o.astype(np.int16) - j).mean() for o, j in zip(ours, judged)) < 2.0  # measured 0.5-0.7; combed: 47
    assert min(np.abs(o.astype(np.int16) - r).mean() for o, r in zip(ours[1:], raw[1:])) > 8.0
    assert "interlaced video: deinterlaced" in said


def test_progressive_video_is_not_touched(tmp_path, identity_yaml, capsys):
    src = media.write_video(tmp_path / "p.mp4", frames=6, size=(96, 64))
    assert main(["run", str(src), "-o", str(tmp_path / "o.mp4"), "--pipeline", str(identity_yaml)]) == 0
    assert "interlaced" not in capsys.readouterr().err


def test_a_stream_that_changes_size_midway_keeps_one_frame_per_frame_in_order():
    from fractions import Fraction

    import av

    from streamdeblur.io.deinterlace import Deinterlacer

    d, out = Deinterlacer(), []
    for i, (w, h) in enumerate([(64, 48)] * 3 + [(96, 64)] * 3):
        vf = av.VideoFrame(w, h, "yuv420p")
        vf.pts, vf.time_base = i, Fraction(1, 25)
        out += d.push(vf)
    out += d.flush()
    assert [(f.pts, f.width, f.time_base) for f in out] == [(i, 64 if i < 3 else 96, Fraction(1, 25)) for i in range(6)]
