"""Writing video files: what each container can hold, judged by ffprobe/ffmpeg on the files written."""

from __future__ import annotations

import subprocess
from fractions import Fraction

import media
import numpy as np
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


def _stripes(i: int, w: int, h: int) -> np.ndarray:
    """Red and blue columns one pixel wide: colour detail that only 4:4:4 holds (4:2:0 makes it purple)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, 0::2, 0] = 220
    img[:, 1::2, 2] = 220
    img[: h // 2] //= 2  # two brightness levels, so it is not one flat colour pair
    return img


def _chroma_error(path, reference: np.ndarray) -> float:
    got = media.ffmpeg_rgb(path, "bt709").astype(np.float32)
    return float(np.abs(got[0] - reference).mean())


def test_a_444_source_keeps_its_colour_detail_and_420_is_asked_for_by_name(tmp_path, identity_yaml, capsys):
    # A screen recording's one-pixel colour detail went through the tool as 4:2:0 without a word.
    src = media.write_video(tmp_path / "screen.mkv", frames=4, size=(96, 64), pix_fmt="yuv444p", crf=0, content=_stripes)
    assert _video(src)["pix_fmt"] == "yuv444p"
    ref = _stripes(0, 96, 64).astype(np.float32)
    assert _chroma_error(src, ref) < 3  # the source holds the stripes

    kept = tmp_path / "kept.mp4"
    assert main(["run", str(src), "-o", str(kept), "--pipeline", str(identity_yaml), "--crf", "4"]) == 0
    err = capsys.readouterr().err
    assert "4:4:4 as the source" in err and "--chroma 420" in err, err
    assert _video(kept)["pix_fmt"] == "yuv444p"
    assert _chroma_error(kept, ref) < 4

    small = tmp_path / "small.mp4"
    assert main(["run", str(src), "-o", str(small), "--pipeline", str(identity_yaml), "--crf", "4", "--chroma", "420"]) == 0
    assert "4:4:4" not in capsys.readouterr().err
    assert _video(small)["pix_fmt"] == "yuv420p"
    assert _chroma_error(small, ref) > 30  # what 4:2:0 does to it: the reason the source's is kept


def test_a_422_source_stays_422_and_an_encoder_without_it_says_so(tmp_path, identity_yaml, capsys):
    src = media.write_video(tmp_path / "cam.mkv", frames=3, size=(96, 64), pix_fmt="yuv422p")
    out = tmp_path / "out.mkv"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert _video(out)["pix_fmt"] == "yuv422p" and "4:2:2 as the source" in capsys.readouterr().err
    # SVT-AV1 writes 4:2:0 only: the run goes on and says what it lost
    av1 = tmp_path / "out_av1.mkv"
    assert main(["run", str(src), "-o", str(av1), "--pipeline", str(identity_yaml), "--codec", "libsvtav1"]) == 0
    assert "the source's chroma is 4:2:2 but libsvtav1 cannot write it: written 4:2:0" in capsys.readouterr().err
    assert _video(av1)["pix_fmt"] == "yuv420p"


def test_a_chroma_the_encoder_cannot_write_is_refused_before_anything_runs(tmp_path, identity_yaml, capsys):
    src = media.write_video(tmp_path / "in.mp4", frames=2, size=(64, 48))
    out = tmp_path / "out.mkv"
    argv = ["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml), "--codec", "libsvtav1", "--chroma", "444"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["streamdeblur: error: libsvtav1 cannot write 4:4:4 chroma; try --codec libx265"], err
    assert not out.exists() and not list(tmp_path.glob("*partial*"))
    yaml = tmp_path / "bad.yaml"
    yaml.write_text("output:\n  chroma: 411\nstages:\n  - identity\n")
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(yaml)]) == 2
    assert "bad.yaml:2: output: chroma must be one of auto, 420, 422, 444, got '411'" in capsys.readouterr().err


def test_choosing_x265_prints_no_encoder_banner(tmp_path, identity_yaml, capfd):
    # The check that MP4 takes x265 opened an encoder with x265's default logging: ~25 lines on stderr.
    src = media.write_video(tmp_path / "in.mp4", frames=2, size=(64, 48))
    argv = ["run", str(src), "-o", str(tmp_path / "out.mp4"), "--pipeline", str(identity_yaml), "--codec", "libx265"]
    assert main(argv) == 0, capfd.readouterr()
    err = capfd.readouterr().err
    assert "x265 [info]" not in err and "encoded 0 frames" not in err, err


@pytest.mark.parametrize("garbage", [-8444378152304670, 8391460049216894069, -309237645384])
def test_a_first_packet_with_an_unset_decode_time_is_written_as_a_playable_file(tmp_path, garbage):
    # libx265 left the first packet's dts uninitialised in clips of one or two frames (the values
    # here were seen): MP4's muxer refused the file in about one run of five. The encoder's packets
    # are passed through with that dts, as the encoder gave them.
    from streamdeblur.io.color import ColorInfo
    from streamdeblur.io.frames import Frame, SourceInfo
    from streamdeblur.io.sinks import VideoSink

    info = SourceInfo("two", 64, 48, Fraction(30), Fraction(1, 15360), ColorInfo())
    out = tmp_path / "two.mp4"
    sink = VideoSink(out, info, codec="libx265", crf=16, preset="veryfast", audio=False)

    class Garbling:  # the stream, with the first packet's dts set to what x265 left there
        def __init__(self, stream):
            self.stream, self.first = stream, True

        def encode(self, frame):
            for pkt in self.stream.encode(frame):
                if self.first:
                    pkt.dts, self.first = garbage, False
                yield pkt

        def __getattr__(self, name):
            return getattr(self.stream, name)

    sink.stream = Garbling(sink.stream)
    for i in range(2):
        sink.write(Frame(_stripes(i, 64, 48), i, i * 512, Fraction(1, 15360)))
    assert sink.close() == out
    assert media.count_frames(out) == 2
    assert _packet_times(out, "v") == pytest.approx([0.0, 1 / 30], abs=1e-6)
