"""Writing video files: what each container can hold, judged by ffprobe/ffmpeg on the files written."""

from __future__ import annotations

import os
import subprocess
from fractions import Fraction

import cv2
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


def _planes_420(path, w: int, h: int) -> list[np.ndarray]:
    """The first frame's Y, U, V planes as FFmpeg's decoder gives them (no conversion)."""
    raw = subprocess.run(
        [media.FFMPEG, "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
        capture_output=True,
        check=True,
    ).stdout
    a = np.frombuffer(raw, np.uint8).astype(np.float64)
    q = w * h // 4
    return [a[: w * h].reshape(h, w), a[w * h : w * h + q].reshape(h // 2, w // 2), a[w * h + q :].reshape(h // 2, w // 2)]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a[2:-2, 2:-2] - b[2:-2, 2:-2]) ** 2)))


@pytest.mark.parametrize("codec", ["libx264", "libx265", "h264", "hevc", "ffv1", "libvpx-vp9", "libsvtav1"])
def test_an_identity_run_keeps_the_chroma_where_it_was(tmp_path, identity_yaml, codec, capsys):
    # (h264, hevc: FFmpeg's codec names, as ffmpeg -c:v takes them)
    # H.264/H.265 decoders read 4:2:0 chroma left-sited; we wrote it centred (swscale's default for a
    # frame made from RGB), so each run moved the colours half a pixel left: U/V 29.6/26.3 dB after
    # one lossless identity run (FFmpeg's own RGB round trip: 39.9/39.0), worse after two. FFV1, VP9 and
    # AV1 were still written centred, untagged, and read left by FFmpeg: 30.1/27.0 into lossless FFV1
    # (audit 12); they are written left and tagged so.
    w, h = 160, 96
    src = tmp_path / "in.mp4"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate=10", "-frames:v", "2"]
        + ["-pix_fmt", "yuv420p", "-c:v", "libx264", "-qp", "0", str(src)],
        check=True,
    )
    first, second = tmp_path / "once.mkv", tmp_path / "twice.mkv"
    for a, b in ((src, first), (first, second)):
        argv = ["run", str(a), "-o", str(b), "--pipeline", str(identity_yaml), "--codec", codec, "--crf", "0"]
        assert main(argv) == 0, capsys.readouterr().err
    ref = _planes_420(src, w, h)
    assert _video(first)["chroma_location"] == "left"
    for out, floor in ((first, 36.0), (second, 33.0)):
        got = _planes_420(out, w, h)
        for name, r, g in zip("YUV", ref, got):
            as_is = _psnr(r, g)
            assert as_is >= floor, (out.name, name, as_is)
            # and nothing moved: a quarter chroma sample either way (half a pixel) fits worse than none
            for dx in (-0.25, 0.25):
                shifted = cv2.warpAffine(r.astype(np.float32), np.float32([[1, 0, dx], [0, 1, 0]]), r.shape[::-1])
                assert _psnr(shifted, g) < as_is, (out.name, name, dx)


def _raw_planes(path, pix_fmt: str, w: int, h: int) -> list[np.ndarray]:
    """The first frame's planes as stored (``pix_fmt``: the file's own, so FFmpeg converts nothing), 16-bit words."""
    raw = subprocess.run(
        [media.FFMPEG, "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"],
        capture_output=True,
        check=True,
    ).stdout
    a = np.frombuffer(raw, np.uint16).astype(int)
    cw, ch = (w, h) if "444" in pix_fmt else (w // 2, h // 2)
    return [a[: w * h].reshape(h, w), a[w * h : w * h + cw * ch].reshape(ch, cw), a[w * h + cw * ch :].reshape(ch, cw)]


@pytest.mark.parametrize("chroma", ["444", "420"])
def test_a_full_range_10_bit_video_keeps_its_levels(tmp_path, identity_yaml, chroma, capsys):
    # swscale maps RGB 65280, not 65535, to full-range white: a lossless identity run of a 10-bit full-range
    # ramp came back brighter (512 → 514, 900 → 904, 1019–1023 all 1023) with grey's chroma 512 → 511
    w, h = 1024, 16
    src = tmp_path / "ramp.mkv"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", f"nullsrc=s={w}x{h}:r=10:d=0.2,format=yuv{chroma}p10le"]
        + ["-vf", "geq=lum='X':cb='512':cr='512'", "-c:v", "ffv1", "-color_range", "pc", "-colorspace", "bt709"]
        + ["-color_primaries", "bt709", "-color_trc", "bt709", str(src)],
        check=True,
    )
    out = tmp_path / "out.mkv"
    assert main(["run", str(src), "-o", str(out), "--codec", "ffv1", "--pipeline", str(identity_yaml)]) == 0, (
        capsys.readouterr().err
    )
    assert _video(out)["color_range"] == "pc" and _video(out)["pix_fmt"] == f"yuv{chroma}p10le"
    ref, got = _raw_planes(src, f"yuv{chroma}p10le", w, h), _raw_planes(out, f"yuv{chroma}p10le", w, h)
    assert np.array_equal(ref[0][0], np.arange(w)), ref[0][0, :8]  # the ramp as made
    assert np.abs(got[0] - ref[0]).max() <= 1, np.abs(got[0] - ref[0]).max()  # each level where it was
    for c in got[1:]:  # grey stays grey
        assert np.abs(c - 512).max() <= 1 and abs(float(c.mean()) - 512) < 0.1, (c.min(), c.mean())


@pytest.mark.parametrize(
    "primaries,transfer,matrix",
    [
        ("smpte432", "iec61966-2-1", "bt709"),  # Display P3 (an iPhone's screen recording, an editor's P3 export)
        ("smpte431", "smpte428", "bt709"),  # DCI-P3 (cinema)
        ("film", "log100", "smpte240m"),
        ("bt470bg", "gamma28", "bt470bg"),  # PAL SD: its matrix tag was rewritten smpte170m
    ],
)
def test_colour_tags_are_carried_as_they_came(tmp_path, identity_yaml, primaries, transfer, matrix, capsys):
    # tags the tables did not list were replaced with the matrix's defaults without a word (a P3 clip
    # written BT.709 plays desaturated); they are only tags, never converted
    src, out = tmp_path / "in.mkv", tmp_path / "out.mkv"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10", "-frames:v", "2", "-pix_fmt", "yuv420p"]
        + ["-c:v", "libx264", "-color_primaries", primaries, "-color_trc", transfer, "-colorspace", matrix, str(src)],
        check=True,
    )
    tags = {k: _video(src)[k] for k in ("color_primaries", "color_transfer", "color_space")}
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0, capsys.readouterr().err
    assert {k: _video(out)[k] for k in tags} == tags


def test_a_colour_matrix_that_cannot_be_read_is_one_line_before_the_model_loads(tmp_path, identity_yaml, capsys):
    # a YCgCo-tagged clip ended "[Errno 95] Operation not supported; last error log: [swscaler] Unsupported input"
    # (exit 1) after the model had loaded, and info called it "bt601 (untagged: assumed from the size)"
    src = tmp_path / "ycgco.mkv"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10", "-frames:v", "2", "-pix_fmt", "yuv420p"]
        + ["-c:v", "libx264", "-colorspace", "ycgco", str(src)],
        check=True,
    )
    assert main(["run", str(src), "-o", str(tmp_path / "out.mkv"), "--pipeline", str(identity_yaml)]) == 3
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "streamdeblur: error: ycgco.mkv's colour matrix (ycgco) cannot be read: streamdeblur reads the BT.601, BT.709, "
        "BT.2020, SMPTE 240M and FCC matrices"
    ], err
    assert not list(tmp_path.glob("out*"))
    assert main(["info", str(src)]) == 0
    assert "ycgco matrix" in " ".join(capsys.readouterr().out.split())


def test_highlights_above_white_are_said_to_come_out_white(tmp_path, identity_yaml, capsys):
    # a camcorder's limited-range video with highlights up to 255 (white is 235) lost them on every pass, unsaid
    ramp, plain = tmp_path / "ramp.mp4", tmp_path / "plain.mp4"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "nullsrc=s=256x16:r=10:d=0.3,format=yuv420p"]
        + ["-vf", "geq=lum='X':cb='128':cr='128'", "-c:v", "libx264", "-qp", "0", "-color_range", "tv", str(ramp)],
        check=True,
    )
    media.write_video(plain, frames=3, size=(96, 64))
    for src, said in ((ramp, True), (plain, False)):
        assert main(["run", str(src), "-o", str(tmp_path / f"o_{src.name}"), "--pipeline", str(identity_yaml)]) == 0
        err = capsys.readouterr().err
        warned = f"{src.name} records highlights above white (luma up to 255, white is 235" in err
        assert warned == said and ("above white" in err) == said, err


def _late_sound(path, seconds: float, audio_codec: str):
    """A 96x64 clip of ``seconds`` whose sound (a tone, 48 kHz, ``audio_codec``) starts 0.5 s in; encoded by FFmpeg."""
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size=96x64:rate=30:duration={seconds}", "-itsoffset", "0.5"]
        + ["-f", "lavfi", "-i", f"sine=duration={seconds - 0.5}:sample_rate=48000", "-map", "0:v", "-map", "1:a"]
        + ["-c:v", "libx264", "-preset", "veryfast", "-c:a", audio_codec, str(path)],
        check=True,
    )
    return path


def _start_times(path) -> dict[str, float]:
    return {s["codec_type"]: float(s["start_time"]) for s in media.probe(path)["streams"]}


def test_re_encoded_audio_keeps_its_start_time(tmp_path, identity_yaml, capsys):
    # Audio the container cannot hold is re-encoded (AAC into WebM: Opus). The new track started at 0
    # whatever the source's first sound time, while the picture kept its times: sound starting 0.5 s
    # late came out 0.5 s early, and a cut from 0.5 s had its sound half a second ahead.
    src = _late_sound(tmp_path / "late.mp4", 2.0, "aac")
    assert _start_times(src)["audio"] == pytest.approx(0.5, abs=0.03)
    whole, cut = tmp_path / "whole.webm", tmp_path / "cut.webm"
    assert main(["run", str(src), "-o", str(whole), "--pipeline", str(identity_yaml)]) == 0
    said = "audio track 1 (aac) cannot be copied into webm; re-encoding it to libopus"
    assert said + "\n" in capsys.readouterr().err  # 48 kHz already: no rate said
    t = _start_times(whole)
    assert t["video"] == pytest.approx(0.0, abs=0.01) and t["audio"] == pytest.approx(0.5, abs=0.03), t
    assert main(["run", str(src), "-o", str(cut), "--pipeline", str(identity_yaml), "--start", "1"]) == 0
    t = _start_times(cut)
    assert t["video"] == pytest.approx(1.0, abs=0.04) and t["audio"] == pytest.approx(1.0, abs=0.04), t


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_screen_recording_with_a_pause_keeps_its_length(tmp_path, identity_yaml, suffix, capsys):
    # 30 fps while the screen moves, one 10 s pause: 0.59 fps on average. The encoder gave the last
    # frame one frame at the average rate (1.7 s): 11.87 s written for 10.2 s of recording.
    ticks = [0, 512, 1024, 155136, 155648, 156160]  # 1/15360 s: 0, 1/30, 2/30, 10.1, 10.133, 10.167 s
    src = media.write_video(tmp_path / "screen.mp4", frames=6, size=(96, 64), fps=30, pts=ticks, time_base=Fraction(1, 15360))
    out = tmp_path / f"out{suffix}"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0, capsys.readouterr().err
    length = float(media.probe(out)["format"]["duration"])
    assert length == pytest.approx(10.2, abs=0.02), length
    assert max(_packet_times(out, "v")) == pytest.approx(10.1667, abs=1e-3)


def test_a_camera_movs_pcm_sound_becomes_aac_in_mp4_and_stays_pcm_in_mov(tmp_path, identity_yaml, capsys):
    # Copied into MP4, PCM became ISO 23003-5 'ipcm', which QuickTime, browsers and phones do not play
    # (FFmpeg 5's own command line refuses to write it); MOV holds PCM as cameras write it.
    src = _late_sound(tmp_path / "camera.mov", 1.0, "pcm_s16le")
    mp4, mov = tmp_path / "out.mp4", tmp_path / "out.mov"
    assert main(["run", str(src), "-o", str(mp4), "--pipeline", str(identity_yaml)]) == 0
    assert "audio track 1 (pcm_s16le) is not played from MP4 by most players" in capsys.readouterr().err
    audio = next(s for s in media.probe(mp4)["streams"] if s["codec_type"] == "audio")
    assert audio["codec_name"] == "aac"
    assert float(audio["start_time"]) == pytest.approx(0.5, abs=0.03)  # AAC's priming: 1024 samples before
    assert media.audio_duration(mp4) == pytest.approx(0.5, abs=0.05)
    assert main(["run", str(src), "-o", str(mov), "--pipeline", str(identity_yaml)]) == 0
    assert "re-encoding" not in capsys.readouterr().err
    assert next(s for s in media.probe(mov)["streams"] if s["codec_type"] == "audio")["codec_name"] == "pcm_s16le"


def test_the_picture_is_the_default_track_in_matroska_as_in_the_source(tmp_path, identity_yaml):
    # Matroska's FlagDefault: the written video track said "not default" (disposition default=0), while
    # the copied sound kept its flag
    src = media.write_video(tmp_path / "in.mkv", frames=3, size=(96, 64), audio=True)
    out = tmp_path / "out.mkv"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    flags = {s["codec_type"]: s["disposition"]["default"] for s in media.probe(out)["streams"]}
    source = {s["codec_type"]: s["disposition"]["default"] for s in media.probe(src)["streams"]}
    assert flags == {"video": 1, "audio": source["audio"]}  # the sound's flag copied as it was


def test_sound_track_languages_avi_cannot_hold_are_said_to_be_left_out(tmp_path, identity_yaml, capsys):
    # an English and a French track into AVI came out as two unnamed tracks without a word, while the
    # chapters and tags AVI cannot hold were named
    src = tmp_path / "two.mp4"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=0.4"]
        + ["-f", "lavfi", "-i", "sine=duration=0.4", "-f", "lavfi", "-i", "sine=frequency=880:duration=0.4"]
        + ["-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-c:a", "aac"]
        + ["-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra", str(src)],
        check=True,
    )
    out = tmp_path / "out.avi"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert "avi cannot hold the sound tracks' languages (eng, fra): left out" in capsys.readouterr().err
    assert sum(s["codec_type"] == "audio" for s in media.probe(out)["streams"]) == 2  # both tracks kept, unnamed
    assert main(["run", str(src), "-o", str(tmp_path / "out.mkv"), "--pipeline", str(identity_yaml)]) == 0
    assert "cannot hold the sound tracks" not in capsys.readouterr().err


@pytest.mark.parametrize("channels", [1, 2])
def test_a_digital_cameras_avi_sound_with_no_channel_layout_is_re_encoded(tmp_path, identity_yaml, capsys, channels):
    # A camera's MJPEG + PCM AVI: PCM in AVI has a channel count but no layout ("1 channels"), which the
    # AAC encoder refused: "audio track 1 (pcm_s16le), 1 channels, cannot be re-encoded to aac for mp4:
    # Invalid argument", exit 4, nothing written (.mp4 and .ts; .mkv and .mov copy PCM).
    src = tmp_path / "camera.avi"
    pan = "|".join(f"c{i}=c0" for i in range(channels))
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=0.8"]
        + ["-f", "lavfi", "-i", "sine=duration=0.8:sample_rate=44100", "-filter_complex", f"[1:a]pan={channels}c|{pan}[a]"]
        + ["-map", "0:v", "-map", "[a]", "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-c:a", "pcm_s16le", str(src)],
        check=True,
    )
    (sound,) = [s for s in media.probe(src)["streams"] if s["codec_type"] == "audio"]
    assert sound["channels"] == channels
    for suffix in (".mp4", ".ts"):
        out = tmp_path / f"out{suffix}"
        assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0, capsys.readouterr().err
        (audio,) = [s for s in media.probe(out)["streams"] if s["codec_type"] == "audio"]
        assert audio["codec_name"] == "aac" and audio["channels"] == channels
        assert media.audio_duration(out) == pytest.approx(0.8, abs=0.06)
        assert len(media.frame_times(out)) == 20


def test_a_recording_across_the_mpeg_ts_clock_wrap_plays_whole_from_mp4(tmp_path, identity_yaml, capsys):
    # After FFmpeg unwraps a 33-bit PTS wrap, the first timestamps are negative; MP4's edit list then
    # hid them: 44 of 60 frames (and 65 of 88 audio frames) played, while the run said 60.
    gop = tmp_path / "gop.mp4"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=30:duration=2"]
        + ["-f", "lavfi", "-i", "sine=duration=2", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(gop)],
        check=True,
    )
    wrap = media.across_clock_wrap(gop, tmp_path / "wrap.ts")
    out = tmp_path / "out.mp4"
    assert main(["run", str(wrap), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0, capsys.readouterr().err
    counted = subprocess.run(
        [media.FFPROBE, "-v", "error", "-count_frames", "-show_entries", "stream=codec_type,nb_read_frames", "-of", "csv=p=0"]
        + [str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    played = {t: int(n) for t, n in (x.split(",") for x in counted)}
    assert played["video"] == 60, played
    assert played["audio"] >= 85, played  # the sound's first frames too


def test_an_odd_sized_444_source_is_not_padded(tmp_path, identity_yaml, capsys):
    # 4:2:0 needs even sides (padded, said); 4:4:4 does not, and was padded all the same
    src = media.write_video(tmp_path / "odd.mkv", frames=2, size=(161, 97), pix_fmt="yuv444p", codec="libx264")
    assert (_video(src)["width"], _video(src)["height"]) == (161, 97)
    out = tmp_path / "out.mkv"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert "odd side" not in capsys.readouterr().err
    v = _video(out)
    assert (v["width"], v["height"], v["pix_fmt"]) == (161, 97, "yuv444p")
    small = tmp_path / "small.mkv"
    assert main(["run", str(src), "-o", str(small), "--pipeline", str(identity_yaml), "--chroma", "420"]) == 0
    assert "161x97 has an odd side; the output is padded to 162x98" in capsys.readouterr().err
    assert (_video(small)["width"], _video(small)["height"]) == (162, 98)


def test_codec_names_choose_their_encoder_with_its_quality_preset_and_tag(tmp_path, identity_yaml, capsys):
    # `--codec h264` / `--codec hevc` (what `ffmpeg -c:v` takes) ran FFmpeg's default encoder without
    # --crf and --preset (crf 0 and crf 51 made the same file) and tagged H.265 hev1 (Apple refuses it)
    src = media.write_video(tmp_path / "in.mp4", frames=4, size=(96, 64))
    sizes = {}
    for codec, crf in (("h264", "0"), ("h264", "51"), ("hevc", "20")):
        out = tmp_path / f"{codec}_{crf}.mp4"
        argv = ["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml), "--codec", codec, "--crf", crf]
        assert main(argv) == 0
        sizes[codec, crf] = out.stat().st_size
        assert f"(crf {crf}, preset veryfast)" in capsys.readouterr().err
    assert sizes["h264", "0"] > 3 * sizes["h264", "51"], sizes
    assert _video(tmp_path / "hevc_20.mp4")["codec_tag_string"] == "hvc1"


def test_an_rgb_encoder_is_tagged_rgb(tmp_path, identity_yaml):
    # libx264rgb writes RGB planes; tagged with the source's YUV matrix they played in other colours
    # everywhere (11.8 dB against the input)
    src = media.write_video(tmp_path / "in.mp4", frames=3, size=(96, 64))
    rgb, yuv = tmp_path / "rgb.mp4", tmp_path / "yuv444.mkv"
    base = ["--pipeline", str(identity_yaml), "--crf", "0"]
    assert main(["run", str(src), "-o", str(rgb), *base, "--codec", "libx264rgb"]) == 0
    assert main(["run", str(src), "-o", str(yuv), *base, "--codec", "libx264", "--chroma", "444"]) == 0
    v = _video(rgb)
    assert (v["pix_fmt"], v["color_space"], v["color_range"]) == ("gbrp", "gbr", "pc"), v
    a = media.ffmpeg_rgb(rgb, "bt709", every_frame=True).astype(int)
    b = media.ffmpeg_rgb(yuv, "bt709", every_frame=True).astype(int)
    assert np.abs(a - b).max() <= 3, np.abs(a - b).max()


def test_a_preset_asked_for_is_checked_or_said_to_be_ignored(tmp_path, identity_yaml, capsys):
    # VP9 has no presets: --preset foo ran (exit 0) and --preset ultrafast was dropped without a word
    src = media.write_video(tmp_path / "in.mp4", frames=2, size=(64, 48))
    base = ["run", str(src), "--pipeline", str(identity_yaml)]
    assert main([*base, "-o", str(tmp_path / "a.webm"), "--preset", "foo"]) == 2
    assert capsys.readouterr().err.strip() == "streamdeblur: error: preset 'foo' is not a preset of libvpx-vp9"
    assert main([*base, "-o", str(tmp_path / "b.webm"), "--preset", "ultrafast"]) == 0
    assert "--preset ultrafast does not apply to libvpx-vp9; ignored" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "c.webm")]) == 0  # the pipeline file's own preset: not said
    assert "--preset" not in capsys.readouterr().err


def test_an_output_inside_a_file_says_it_is_a_file(tmp_path, identity_yaml, capsys):
    # -o photo.jpg/x.mp4 said "output folder does not exist: photo.jpg" of a file that exists
    src = media.write_video(tmp_path / "in.mp4", frames=2, size=(64, 48))
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"x")
    assert main(["run", str(src), "-o", str(photo / "x.mp4"), "--pipeline", str(identity_yaml)]) == 4
    said = capsys.readouterr().err.strip()
    assert said == f"streamdeblur: error: {photo} is a file, not a folder: cannot write x.mp4 inside it"


def test_two_sinks_writing_one_output_never_mix_it_and_the_later_one_does_not_replace_the_first(tmp_path):
    # Each writer of out.mp4 wrote out.partial.mp4: two runs at once truncated each other's file and
    # both said "wrote" over one mixed file (audit 9). Now each writes a new file of its own; the one
    # that finishes second, without --overwrite, finds the name taken and keeps its file under its own name.
    from streamdeblur.io.color import ColorInfo
    from streamdeblur.io.frames import Frame, SourceInfo
    from streamdeblur.io.sinks import SinkError, VideoSink

    info = SourceInfo("two", 64, 48, Fraction(30), Fraction(1, 15360), ColorInfo())
    out = tmp_path / "out.mp4"
    first = VideoSink(out, info, crf=16, preset="veryfast", audio=False, overwrite=False)
    second = VideoSink(out, info, crf=40, preset="veryfast", audio=False, overwrite=False)
    assert first.tmp != second.tmp and first.tmp.exists() and second.tmp.exists()
    for i in range(6):
        first.write(Frame(_stripes(i, 64, 48), i, i * 512, Fraction(1, 15360)))
        second.write(Frame(_stripes(i + 3, 64, 48), i, i * 512, Fraction(1, 15360)))
    assert second.close() == out
    made = out.read_bytes()
    with pytest.raises(SinkError, match=r"appeared while this run was writing it.*kept as .*\.partial\.mp4"):
        first.close()
    assert out.read_bytes() == made  # the finished file of the other writer, whole
    assert media.count_frames(first.tmp) == 6 and media.count_frames(out) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.mp4", first.tmp.name])
    # its temporary file deleted during the run (an over-eager clean-up): "kept as X" named a file that
    # was not there (audit 30)
    third = VideoSink(tmp_path / "third.mp4", info, crf=16, preset="veryfast", audio=False, overwrite=True)
    third.write(Frame(_stripes(0, 64, 48), 0, 0, Fraction(1, 15360)))
    third.tmp.unlink()
    with pytest.raises(SinkError, match=r"the file it was written to, is gone \(deleted during the run\?\)$") as gone:
        third.close()
    # every frame was processed: the run says "processed N frames", not "stopped after N frames"
    assert gone.value.finished and gone.value.kept is None


def test_an_output_name_of_251_bytes_is_written(tmp_path):
    # Its temporary name was NAME.partial.mp4, 259 bytes: "[Errno 36] File name too long" naming a
    # file the user never gave, exit 1, after decoding had started (audit 9).
    from streamdeblur.io.color import ColorInfo
    from streamdeblur.io.frames import Frame, SourceInfo
    from streamdeblur.io.sinks import VideoSink

    info = SourceInfo("long", 64, 48, Fraction(30), Fraction(1, 15360), ColorInfo())
    out = tmp_path / ("é" * 123 + "b.mp4")  # 251 bytes in UTF-8: a name is cut in bytes, never inside a character
    sink = VideoSink(out, info, crf=16, preset="veryfast", audio=False)
    assert len(sink.tmp.name.encode()) <= 255
    sink.write(Frame(_stripes(0, 64, 48), 0, 0, Fraction(1, 15360)))
    assert sink.close() == out and media.count_frames(out) == 1


@pytest.mark.parametrize("command", ["run", "batch"])
def test_a_file_whose_name_is_not_utf8_is_deblurred_beside_itself(tmp_path, identity_yaml, require_ffmpeg, command):
    # A card from an old camera or a Latin-1 archive unpacked on Linux: the name is the bytes b"caf\xe9.mp4",
    # which Python holds as "caf\udce9.mp4". Naming the temporary output encoded it as UTF-8: "error:
    # 'utf-8' codec can't encode character '\udce9' … surrogates not allowed", exit 2, nothing written.
    name = os.fsdecode(b"caf\xe9.mp4")
    (tmp_path / "in").mkdir()
    src = media.write_video(tmp_path / "in" / name, frames=6, size=(64, 48))
    if command == "run":
        assert main(["run", str(src), "--pipeline", str(identity_yaml)]) == 0
        out = src.with_name(os.fsdecode(b"caf\xe9_deblurred.mp4"))
    else:
        assert main(["batch", str(src.parent), "--out-dir", str(tmp_path / "out"), "--pipeline", str(identity_yaml)]) == 0
        out = tmp_path / "out" / name
    assert os.fsencode(out.name) in os.listdir(os.fsencode(out.parent)), os.listdir(out.parent)
    assert media.count_frames(out) == 6
    assert not [p for p in out.parent.iterdir() if "partial" in p.name]


def test_a_default_output_name_too_long_for_the_file_system_is_one_line_before_any_work(tmp_path, identity_yaml, capsys):
    # A 252-byte input name (the longest a name may be is 255) gets NAME_deblurred.mp4, 262 bytes: the run
    # ended "error: [Errno 36] File name too long: 'aaaa…_deblurred.mp4'" with exit 1 (processing failed).
    (tmp_path / "in").mkdir()
    src = media.write_video(tmp_path / "in" / ("a" * 248 + ".mp4"), frames=3, size=(64, 48))
    assert main(["run", str(src), "--pipeline", str(identity_yaml)]) == 4  # the output cannot be written
    err = capsys.readouterr().err
    assert "the output's name is 262 bytes long, more than the 255" in err and "-o" in err, err
    assert sorted(p.name for p in src.parent.iterdir()) == [src.name]


def test_a_recording_whose_name_was_taken_meanwhile_keeps_one_whole_file_and_names_it(tmp_path):
    # A live recording is written fragmented, then copied into a regular MP4: when rec.mp4 appeared
    # meanwhile, both copies stayed (100 frames each) and the fragmented one was named nowhere, under
    # a name (…partial.regular.mp4) a batch's clean-up did not know (audit 11).
    import dataclasses

    from streamdeblur.io.color import ColorInfo
    from streamdeblur.io.frames import Frame, SourceInfo
    from streamdeblur.io.sinks import SinkError, VideoSink, partials_of

    info = dataclasses.replace(SourceInfo("cam", 64, 48, Fraction(30), Fraction(1, 15360), ColorInfo()), live=True)
    out = tmp_path / "rec.mp4"
    sink = VideoSink(out, info, crf=16, preset="veryfast", audio=False, overwrite=False)
    for i in range(5):
        sink.write(Frame(_stripes(i, 64, 48), i, i * 512, Fraction(1, 15360)))
    out.write_bytes(b"another program's file")
    with pytest.raises(SinkError, match="appeared while this run was writing it") as caught:
        sink.close()
    kept = partials_of(out)
    assert len(kept) == 1 and str(kept[0]) in str(caught.value) and media.count_frames(kept[0]) == 5
    assert out.read_bytes() == b"another program's file"


def _ts_with_a_damaged_sound_packet(tmp_path) -> tuple:
    """A 2 s MPEG-TS (H.264 + ADTS AAC) whose 40th sound packet's ADTS header names no sampling rate."""
    good, bad = tmp_path / "good.ts", tmp_path / "damaged.ts"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=30:duration=2"]
        + ["-f", "lavfi", "-i", "sine=duration=2", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(good)],
        check=True,
    )
    import av

    sounds = 0
    with av.open(str(good)) as src, av.open(str(bad), "w") as dst:
        outs = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for pkt in src.demux():
            if pkt.size == 0:
                continue
            out = outs[pkt.stream.index]
            if pkt.stream.type == "audio":
                sounds += 1
                if sounds == 40:
                    data = bytearray(bytes(pkt))
                    assert data[0] == 0xFF and data[1] >> 4 == 0xF  # an ADTS header
                    data[2] |= 0x3C  # sampling-frequency index 15: reserved
                    damaged = av.Packet(bytes(data))
                    damaged.pts, damaged.dts, damaged.time_base = pkt.pts, pkt.dts, pkt.time_base
                    pkt = damaged
            pkt.stream = out
            dst.mux(pkt)
    return bad, sounds


def test_a_damaged_sound_packet_is_left_out_not_blamed_on_the_output(tmp_path, identity_yaml, capsys):
    # A TS recording with one damaged AAC packet (an ADTS header MP4's aac_adtstoasc cannot parse) failed
    # as "writing out.mp4 failed: Invalid data found" (exit 4, the output blamed, the rest not written); FFmpeg
    # rejects that one packet only: it is left out, said, and the rest written. --strict stops (exit 3).
    src, sounds = _ts_with_a_damaged_sound_packet(tmp_path)
    out = tmp_path / "out.mp4"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    err = capsys.readouterr().err
    assert "the input's audio stream #1 has a damaged packet at 0.9" in err and "left out" in err, err
    assert media.count_frames(out) == 60
    counted = subprocess.run(
        [media.FFPROBE, "-v", "error", "-select_streams", "a", "-count_packets", "-show_entries", "stream=nb_read_packets"]
        + ["-of", "csv=p=0", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert int(counted) == sounds - 1, (counted, sounds)
    strict = tmp_path / "strict.mp4"
    assert main(["run", str(src), "-o", str(strict), "--pipeline", str(identity_yaml), "--strict"]) == 3
    err = capsys.readouterr().err
    assert "damaged packet at 0.9" in err and "(--strict)" in err and "writing" not in err, err
    assert not strict.exists()


def test_a_camcorder_clip_starts_at_zero_not_at_its_recorders_clock(tmp_path, identity_yaml, capsys, monkeypatch):
    # An MPEG-TS's timestamps are the recorder's clock: a 0.4 s .mts whose clock read 1 h came out as a
    # 3601.8 s MP4 (3601.4 s of empty edit before the picture), segmented runs too. The output starts
    # at 0, as FFmpeg's own does, and the sound keeps its place against the picture.
    mts = tmp_path / "cam.mts"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-f", "lavfi", "-i", "sine=r=48000"]
        + ["-t", "2", "-c:v", "libx264", "-preset", "veryfast", "-g", "10", "-c:a", "aac", "-output_ts_offset", "3600", str(mts)],
        check=True,
    )
    src = _start_times(mts)
    assert src["video"] > 3600
    for out, extra in ((tmp_path / "o.mp4", []), (tmp_path / "seg.mp4", ["--segments", "2"])):
        assert main(["run", str(mts), "-o", str(out), "--pipeline", str(identity_yaml), *extra]) == 0, capsys.readouterr().err
        assert float(media.probe(out)["format"]["duration"]) == pytest.approx(2.0, abs=0.1)
        t = _start_times(out)
        assert min(t.values()) == pytest.approx(0.0, abs=1e-3), t
        assert t["video"] - t["audio"] == pytest.approx(src["video"] - src["audio"], abs=1e-3), (t, src)
    assert sorted(_packet_times(tmp_path / "o.mp4", "v")) == sorted(_packet_times(tmp_path / "seg.mp4", "v"))
    monkeypatch.setenv("COLUMNS", "250")
    capsys.readouterr()
    assert main(["info", str(mts)]) == 0
    assert "its clock starts at 3601." in capsys.readouterr().out  # 3600 s + the muxer's 1.4 s


def test_a_transport_stream_output_gets_sound_it_can_play(tmp_path, identity_yaml, capsys):
    # MPEG-TS's muxer takes any stream, but writes one it has no stream type for as private data: a camera
    # MOV's PCM sound into .ts came out as `bin_data`, no audio stream at all, exit 0 and not a word (its
    # mov_text subtitles too). It is re-encoded to AAC and said; the subtitles are left out and said.
    src = _late_sound(tmp_path / "camera.mov", 1.0, "pcm_s16le")
    out = tmp_path / "out.ts"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert "audio track 1 (pcm_s16le) cannot be copied into mpegts; re-encoding it to aac" in capsys.readouterr().err
    kinds = [(s["codec_type"], s["codec_name"]) for s in media.probe(out)["streams"]]
    assert sorted(kinds) == [("audio", "aac"), ("video", "h264")], kinds
    assert media.audio_duration(out) == pytest.approx(0.5, abs=0.06)


def test_surround_sound_from_a_film_goes_into_webm(tmp_path, identity_yaml, capsys):
    # AC-3 / E-AC-3 5.1 is laid out 5.1(side); Opus takes the Vorbis layouts only, so a WebM of a film
    # failed (exit 4) with a message blaming the video encoder. Its six channels become Opus 5.1.
    src = tmp_path / "film.mkv"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=1", "-f", "lavfi"]
        + ["-i", "sine=duration=1:sample_rate=48000"]
        + ["-filter_complex", "[1:a]pan=5.1(side)|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0[a]"]
        + ["-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "ac3", str(src)],
        check=True,
    )
    assert next(s for s in media.probe(src)["streams"] if s["codec_type"] == "audio")["channel_layout"] == "5.1(side)"
    out = tmp_path / "out.webm"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0, capsys.readouterr().err
    a = next(s for s in media.probe(out)["streams"] if s["codec_type"] == "audio")
    assert (a["codec_name"], a["channels"], a["sample_rate"]) == ("opus", 6, "48000"), a
    import av

    with av.open(str(out)) as c:  # the sound decodes whole (WebM keeps no stream duration to read)
        seconds = sum(f.samples for f in c.decode(audio=0)) / 48000
    assert seconds == pytest.approx(1.0, abs=0.06)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_the_default_track_stays_the_default_and_flags_are_kept(tmp_path, identity_yaml, suffix, capsys):
    # A film whose default sound is its second track (French, the English dub first) came out with the
    # English one default in MP4 and no default at all in MKV; forced subtitles and a commentary lost their
    # flags. MOV lost the language itself: its list spells French `fra`, Matroska's tag said `fre`.
    src = tmp_path / "film.mkv"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=1"]
        + ["-f", "lavfi", "-i", "sine=duration=1", "-f", "lavfi", "-i", "sine=duration=1:frequency=880"]
        + ["-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac"]
        + ["-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fre"]
        + ["-disposition:a:0", "comment", "-disposition:a:1", "default", str(src)],
        check=True,
    )
    out = tmp_path / f"out{suffix}"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0, capsys.readouterr().err
    sounds = [s for s in media.probe(out)["streams"] if s["codec_type"] == "audio"]
    got = [(s["tags"].get("language"), s["disposition"]["default"], s["disposition"]["comment"]) for s in sounds]
    mov = suffix == ".mov"  # MOV has no place for a commentary flag (MP4's `kind` box)
    assert got == [("eng", 0, 0 if mov else 1), ("fra" if mov else "fre", 1, 0)], got


def test_sound_that_avi_cannot_keep_in_sync_is_said(tmp_path, identity_yaml, capsys):
    # AVI has no start times: sound starting 0.48 s after the picture (0.5 s less AAC's priming) plays from the start
    # that much early, and the run said nothing (MKV and MP4 keep the offset).
    src = _late_sound(tmp_path / "late.mp4", 1.5, "aac")
    assert main(["run", str(src), "-o", str(tmp_path / "out.avi"), "--pipeline", str(identity_yaml)]) == 0
    said = "audio track 1 starts 0.48 s after the picture, and AVI keeps no start times: it will play that much out of sync"
    assert said in capsys.readouterr().err
    assert main(["run", str(src), "-o", str(tmp_path / "out.mkv"), "--pipeline", str(identity_yaml)]) == 0
    assert "out of sync" not in capsys.readouterr().err


def test_a_sound_resampled_on_the_way_says_so(tmp_path, identity_yaml, capsys):
    # A 96 kHz recording re-encoded to Opus for WebM comes out at 48 kHz (Opus's rate): it was not said.
    src = tmp_path / "hires.mkv"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=0.4", "-f", "lavfi"]
        + ["-i", "sine=duration=0.4:sample_rate=96000", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "flac", str(src)],
        check=True,
    )
    assert main(["run", str(src), "-o", str(tmp_path / "out.webm"), "--pipeline", str(identity_yaml)]) == 0
    said = "audio track 1 (flac) cannot be copied into webm; re-encoding it to libopus at 48 kHz (it is 96 kHz)"
    assert said in capsys.readouterr().err


def test_an_av1_encode_leaves_no_real_time_threads(tmp_path):
    # SVT-AV1 makes its ~40 threads SCHED_FIFO at priority 99 when run as root (Docker, CI): on 2 cores
    # their busy waiting outranked everything, a 2-frame encode hung 23 minutes, ignored SIGTERM and
    # starved another run on the machine (audit 26). (Not as root, SVT-AV1 makes none: nothing to move.)
    import os

    from streamdeblur.io.color import ColorInfo
    from streamdeblur.io.frames import Frame, SourceInfo
    from streamdeblur.io.sinks import VideoSink

    def realtime() -> int:
        return sum(os.sched_getscheduler(int(t)) != os.SCHED_OTHER for t in os.listdir("/proc/self/task"))

    info = SourceInfo("av1", 64, 48, Fraction(10), Fraction(1, 10), ColorInfo())
    sink = VideoSink(tmp_path / "a.mkv", info, codec="libsvtav1", crf=50, preset="12", audio=False)
    try:
        assert realtime() == 0
        for i in range(3):
            sink.write(Frame(media.pattern(i, 64, 48), i, i, Fraction(1, 10), ColorInfo(), "av1"))
        assert realtime() == 0
    finally:
        sink.close(True)
    assert media.count_frames(tmp_path / "a.mkv") == 3
