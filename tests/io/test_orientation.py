"""Portrait phone clips: the display matrix is honoured, the output is upright (judged by ffmpeg's own autorotate)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import cv2
import media
import numpy as np
import pytest

from streamdeblur.cli import main
from streamdeblur.io.orientation import Orientation, frame_display_matrix
from streamdeblur.io.sources.video import VideoSource


def _first_frame_matrix(path: Path):
    with av.open(str(path)) as c:
        return frame_display_matrix(next(c.decode(video=0)))


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
@pytest.mark.parametrize("hflip", [False, True])
def test_the_eight_orientations_a_muxer_writes_read_back_as_written(tmp_path, degrees, hflip):
    """PyAV's writer (FFmpeg's av_display_rotation_set + mirror) → the matrix a decoded frame carries → the same turn."""
    clip = media.write_video(tmp_path / "c.mp4", frames=2, size=(64, 48), rotation=degrees, hflip=hflip)
    matrix = _first_frame_matrix(clip)
    o = Orientation.from_matrix(matrix) if matrix is not None else None
    if degrees == 0 and not hflip:
        assert o is None
        return
    assert o is not None, matrix
    assert (o.degrees_ccw, o.mirrored) == (degrees, hflip), (matrix, o)


def test_a_matrix_that_is_not_a_right_angle_is_refused():
    c, s = int(65536 * 0.7071), int(65536 * 0.7071)  # 45°
    with pytest.raises(ValueError, match="right-angle"):
        Orientation.from_matrix((c, -s, 0, s, c, 0, 0, 0, 1 << 30))
    assert Orientation.from_matrix((65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30)) is None


def _ffmpeg_frames(path: Path, folder: Path) -> list[np.ndarray]:
    """Every frame as Debian's ffmpeg shows it: autorotate on (its default), RGB."""
    folder.mkdir()
    vf = "scale=in_color_matrix=bt709:in_range=tv:flags=accurate_rnd+full_chroma_int,format=rgb24"
    subprocess.run([media.FFMPEG, "-v", "error", "-i", str(path), "-vf", vf, str(folder / "%04d.png")], check=True)
    return [cv2.imread(str(p))[..., ::-1] for p in sorted(folder.glob("*.png"))]


def _png_frames(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p))[..., ::-1] for p in sorted(folder.glob("*.png"))]


def _close(a: list[np.ndarray], b: list[np.ndarray], tol: float) -> None:
    """Frame by frame within ``tol`` levels (mean): a re-encode moves ~4, a wrong turn or mirror 50 and more."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == y.shape, (x.shape, y.shape)
        assert np.abs(x.astype(np.int16) - y).mean() < tol


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_a_rotated_clip_comes_out_upright_in_a_video_a_folder_and_segments(
    tmp_path, degrees, require_ffmpeg, identity_yaml, capsys
):
    w, h = 96, 64
    clip = media.write_video(tmp_path / "portrait.mp4", frames=8, size=(w, h), rotation=degrees, audio=True)
    shown = _ffmpeg_frames(clip, tmp_path / "shown")  # what a player shows: upright
    assert shown[0].shape[:2] == ((w, h) if degrees != 180 else (h, w))

    src = VideoSource(str(clip))
    try:
        assert (src.info.width, src.info.height) == (shown[0].shape[1], shown[0].shape[0])
        first = next(src.frames()).image
    finally:
        src.close()
    assert np.abs(first.astype(np.int16) - shown[0]).mean() < 3.0  # a wrong turn or mirror is 50+ levels off

    ident = ["--pipeline", str(identity_yaml)]
    out = tmp_path / "out.mp4"
    assert main(["run", str(clip), "-o", str(out), *ident]) == 0
    said = capsys.readouterr()
    assert f"rotated {'180°' if degrees == 180 else '90°'}" in said.out + said.err
    assert ("portrait clip" in said.err) == (degrees != 180)  # upside down is not portrait
    stream = next(s for s in media.probe(out)["streams"] if s["codec_type"] == "video")
    assert (int(stream["width"]), int(stream["height"])) == (shown[0].shape[1], shown[0].shape[0])
    assert not stream.get("side_data_list"), stream.get("side_data_list")  # upright pixels: nothing left to turn
    assert media.audio_duration(out) == pytest.approx(media.audio_duration(clip), abs=0.05)
    _close(_ffmpeg_frames(out, tmp_path / "out_shown"), shown, tol=8.0)

    folder = tmp_path / "frames"
    assert main(["run", str(clip), "-o", str(folder), *ident]) == 0
    _close(_png_frames(folder), shown, tol=3.0)

    seg = tmp_path / "seg.mp4"
    assert main(["run", str(clip), "-o", str(seg), *ident, "--segments", "2"]) == 0
    _close(_ffmpeg_frames(seg, tmp_path / "seg_shown"), shown, tol=8.0)
