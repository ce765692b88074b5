"""Writing video files: what each container can hold, judged by ffprobe/ffmpeg on the files written."""

from __future__ import annotations

import subprocess
from fractions import Fraction

import media
import pytest

from streamdeblur.cli import main

pytestmark = pytest.mark.usefixtures("require_ffmpeg")


def _video(path) -> dict:
    info = media.probe(path)
    return next(s for s in info["streams"] if s["codec_type"] == "video")


def _packet_times(path, stream: str) -> list[float]:
    out = subprocess.run(
        [media.FFPROBE, "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time"]
        + ["-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [float(x) for x in out.split()]


def test_an_avi_from_an_mp4_plays_at_the_source_rate_with_one_entry_per_frame(tmp_path, identity_yaml, capsys):
    # An MP4's 1/15360 time base written into AVI made a "600 fps" file of mostly empty frames:
    # AVI counts frames at one rate, every tick of the time base is a frame.
    pts = [i * 512 for i in range(24)]  # 30 fps counted in 1/15360 s, as FFmpeg's MP4 muxer does
    src = media.write_video(tmp_path / "in.mp4", frames=24, size=(96, 64), fps=30, pts=pts, time_base=Fraction(1, 15360))
    assert _video(src)["time_base"] == "1/15360"
    out = tmp_path / "out.avi"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml), "--codec", "mpeg4"]) == 0, capsys.readouterr()
    v = _video(out)
    assert v["r_frame_rate"] == "30/1"
    assert int(v["nb_frames"]) == 24  # the index: no empty entries
    assert media.count_frames(out) == 24
    assert _packet_times(out, "v")[:3] == pytest.approx([0.0, 1 / 30, 2 / 30], abs=1e-6)


def test_a_cut_into_avi_starts_with_its_first_frame_and_its_sound(tmp_path, identity_yaml, capsys):
    # AVI stores audio without times: it plays from the start. The video of a cut from 1 s must start
    # there too (it began with a second of empty frames: sound a second ahead of the picture).
    src = media.write_video(tmp_path / "in.mp4", frames=90, size=(96, 64), fps=30, audio=True)
    out = tmp_path / "cut.avi"
    argv = ["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml), "--codec", "mpeg4", "--start", "1"]
    assert main(argv) == 0, capsys.readouterr()
    v = _video(out)
    assert int(v["nb_frames"]) == media.count_frames(out) == 60
    video, audio = _packet_times(out, "v"), _packet_times(out, "a")
    assert video[0] == 0.0 and audio[0] == 0.0
    assert video[-1] == pytest.approx(59 / 30, abs=1e-6)
    assert audio[-1] == pytest.approx(2.0, abs=0.05)  # the cut's two seconds of sound, not three


def _y_psnr(a, b) -> float:
    out = subprocess.run(
        [media.FFMPEG, "-v", "info", "-i", str(a), "-i", str(b), "-lavfi", "psnr", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    return float(out.split("PSNR y:")[1].split()[0])


def test_mpeg4_and_mjpeg_take_their_quality_from_crf(tmp_path, identity_yaml, capsys):
    # Left alone they got FFmpeg's default 200 kb/s at any size. --crf (x264's scale) now picks a fixed
    # quantiser: at the default crf an AVI is about as faithful as the H.264 file is.
    src = media.write_video(tmp_path / "in.mp4", frames=30, size=(320, 240), crf=8)

    def run(out, *flags):
        assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml), *flags]) == 0, capsys.readouterr()
        return _y_psnr(out, src)

    h264 = run(tmp_path / "h264.mp4", "--crf", "18")
    for codec in ("mpeg4", "mjpeg"):
        good = run(tmp_path / f"{codec}18.avi", "--codec", codec, "--crf", "18")
        rough = run(tmp_path / f"{codec}40.avi", "--codec", codec, "--crf", "40")
        assert good > h264 - 4, (codec, good, h264)
        assert rough < good - 1
        assert (tmp_path / f"{codec}40.avi").stat().st_size < (tmp_path / f"{codec}18.avi").stat().st_size


def test_ffmpeg_log_level_comes_back_when_two_encoders_open_at_once():
    """FFmpeg's log level is one per process; each encoder lowers it to ERROR while it opens (so
    FFmpeg's reason reaches the error message) and puts back what it found. Two pipelines opening
    encoders in two threads at once (A in, B in, A out, B out) left it at ERROR for good: PyAV's log
    callback then stayed on for every FFmpeg call in every thread. The first in saves it, the last
    out restores it."""
    import av

    from streamdeblur.io.sinks.video import ffmpeg_log

    before = av.logging.get_level()
    a, b = ffmpeg_log(), ffmpeg_log()
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)
    assert av.logging.get_level() == av.logging.ERROR  # B is still opening its encoder
    b.__exit__(None, None, None)
    assert av.logging.get_level() == before
