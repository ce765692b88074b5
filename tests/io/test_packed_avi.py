"""Real DivX/Xvid-style AVI (MPEG-4 Part 2, packed B-frames, AC-3): every frame keeps its presentation
time as FFmpeg's best-effort timestamp defines it, none is lost, duplicated or moved."""

from __future__ import annotations

import subprocess
import sys

import av
import media
import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("require_ffmpeg")
FPS = 24


@pytest.fixture(scope="module")
def packed_avi(tmp_path_factory):
    return media.write_packed_avi(tmp_path_factory.mktemp("avi") / "divx.avi", frames=24, fps=FPS)


def test_fixture_really_has_packed_b_frames(packed_avi):
    """The precondition that lets the timestamp test fail: FFmpeg detects packed B-frames and PyAV
    hands out the frames' pts out of order, the last one without a dts."""
    log = subprocess.run([media.FFMPEG, "-v", "info", "-i", str(packed_avi), "-f", "null", "-"], capture_output=True, text=True)
    assert "packed B-frames" in log.stderr
    with av.open(str(packed_avi)) as c:
        frames = [(f.pts, f.dts) for f in c.decode(video=0)]
        assert c.streams.audio[0].codec_context.name == "ac3"
    pts = [p for p, _ in frames]
    assert len(frames) == 24 and pts != sorted(pts)
    assert frames[-1][1] is None


def test_output_keeps_the_best_effort_timestamps(tmp_path, packed_avi, identity_yaml):
    out = tmp_path / "out.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "streamdeblur", "run", str(packed_avi), "-o", str(out), "--pipeline", str(identity_yaml)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "repaired" not in proc.stderr  # nothing in this file is corrupt
    # ffprobe is the judge: its best-effort times of the input (an older ffprobe gives the flushed
    # last frame none; by FFmpeg's rule it is its reordered pts, one frame after the previous)
    ref = media.best_effort_times(packed_avi)
    assert len(ref) == 24 and all(t is not None for t in ref[:-1])
    if ref[-1] is None:
        ref[-1] = ref[-2] + 1 / FPS
    np.testing.assert_allclose(np.diff(ref), 1 / FPS, atol=1e-6)  # evenly spaced, as the file was made
    got = [float(t) for t in media.frame_times(out)]
    assert len(got) == 24
    np.testing.assert_allclose(got, ref, atol=1e-3)
    # each output frame is the input frame at that position (ffmpeg decodes both, independently)
    a = media.ffmpeg_rgb(packed_avi, "bt601", every_frame=True).astype(np.float32)
    b = media.ffmpeg_rgb(out, "bt601", every_frame=True).astype(np.float32)
    assert len(a) == len(b) == 24
    err = np.abs(a[:, None] - b[None]).mean(axis=(2, 3, 4))  # input i × output j
    assert (err.argmin(axis=0) == np.arange(24)).all(), err.argmin(axis=0)
    assert abs(media.audio_duration(out) - 1.0) < 0.1
