"""Everyday use of the command line (issue 18): webcam without a display, exit codes by class,
range checks before the model loads, the encoder chosen from the container."""

from __future__ import annotations

import os
import random

import media
import numpy as np
import pytest
from streams import MJPEGServer

from streamdeblur.cli import main


@pytest.fixture
def no_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return media.write_video(tmp_path_factory.mktemp("clip") / "in.mp4", frames=6, size=(96, 64))


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def test_webcam_with_output_and_no_display_records_and_says_so(tmp_path, no_display, capsys):
    server = MJPEGServer(fps=30, max_seconds=30)
    out = tmp_path / "rec.mp4"
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\npreview: true\nstages:\n  - identity\n")
    try:
        code = main(["webcam", "--camera", server.url, "-o", str(out), "--pipeline", str(yaml), "--duration", "2"])
    finally:
        server.close()
    err = capsys.readouterr().err
    assert code == 0, err
    assert media.count_frames(out) >= 3  # it recorded (the count depends on the machine's load)
    assert "no display" in err and "recording" in err and str(out) in err
    # recorded fragmented (crash-safe), finished as a regular MP4 with one index: what editors expect
    data = out.read_bytes()
    assert b"moov" in data and b"moof" not in data and not list(tmp_path.glob("rec.partial*"))


def test_webcam_previews_only_when_asked(capsys):
    from streamdeblur.cli import build_parser
    from streamdeblur.engine.config import load_pipeline

    assert load_pipeline("webcam").preview is False
    with pytest.raises(SystemExit):
        build_parser().parse_args(["webcam", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "off by default" in help_text


def test_preview_asked_without_display_and_nothing_to_record_is_a_usage_error(no_display, capsys):
    code = main(["webcam", "--camera", "http://127.0.0.1:9/none.mjpg", "--preview"])
    err = capsys.readouterr().err
    assert code == 2 and len(_lines(err)) == 1 and "display" in err


def test_a_display_that_cannot_be_reached_is_said_before_the_camera_opens(monkeypatch, tmp_path, capsys):
    """``DISPLAY=:77`` (a stale SSH session's, a stopped Xvfb): the window process was started eleven
    times, each printing Qt's ten lines ("Reinstalling the application may fix this problem"), and a
    session with nothing to record ran to its end showing nothing, exit 0."""
    number = next(n for n in range(77, 200) if not os.path.exists(f"/tmp/.X11-unix/X{n}"))
    monkeypatch.setenv("DISPLAY", f":{number}")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code = main(["webcam", "--camera", "http://127.0.0.1:9/none.mjpg", "--preview"])
    err = capsys.readouterr().err
    assert code == 2 and _lines(err) == [
        f"streamdeblur: error: no display for the preview window (cannot connect to display :{number}): "
        "record with -o FILE, or run under a desktop/Xvfb"
    ]


def test_exit_codes_by_class(tmp_path, clip, no_display, capsys, identity_yaml):
    ident = ["--pipeline", str(identity_yaml)]
    junk = tmp_path / "junk.pth"
    junk.write_bytes(random.Random(0).randbytes(4096))
    cases = [
        (["run", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "a.mp4"), *ident], 3),
        (["run", str(clip), "-o", str(tmp_path / "no" / "dir" / "a.mp4"), *ident], 4),
        (["run", str(clip), "-o", str(tmp_path / "b.mp4"), "--weights", str(junk)], 5),
        (["run", str(clip), "-o", str(tmp_path / "c.mp4"), "--crf", "99", *ident], 2),
        (["webcam", "--camera", "http://127.0.0.1:9/none.mjpg", "-o", str(tmp_path / "r.mp4"), "--reconnect", "0"], 3),
    ]
    for argv, want in cases:
        code = main(argv)
        err = capsys.readouterr().err
        assert code == want, (argv, err)
        assert len(_lines(err)) == 1 and "Traceback" not in err, err


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--tile", "7"], "tile"),
        (["--tile", "-5"], "tile"),
        (["--tile", "64", "--overlap", "64"], "overlap"),
        (["--overlap", "-1"], "overlap"),
        (["--batch", "-1"], "batch"),
        (["--threads", "-2"], "threads"),
        (["--crf", "99"], "crf"),
        (["--preset", "bogus"], "preset"),
        (["--codec", "nosuchcodec"], "encoder"),
        (["--codec", "libx264", "-o", "OUT.webm"], "libx264"),
        # FFmpeg's list of codecs for .mov includes these, its muxer refuses them at the header
        (["--codec", "libsvtav1", "-o", "OUT.mov"], "libsvtav1 cannot go in a .mov"),
        (["--codec", "libvpx-vp9", "-o", "OUT.mov"], "libvpx-vp9 cannot go in a .mov"),
        (["--codec", "prores_ks", "-o", "OUT.mp4"], "prores_ks cannot go in a .mp4"),
    ],
)
def test_out_of_range_values_are_refused_before_the_model_loads(tmp_path, clip, flags, words, capsys, monkeypatch):
    import torch

    def no_model(*a, **k):
        raise AssertionError("the weights were loaded before the options were checked")

    monkeypatch.setattr(torch, "load", no_model)
    out = str(tmp_path / "o.mp4")
    flags = [str(tmp_path / f"o{f[3:]}") if f.startswith("OUT.") else f for f in flags]
    argv = ["run", str(clip), *flags] + ([] if "-o" in flags else ["-o", out])
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = _lines(err)
    assert len(lines) == 1 and words in lines[0], lines
    assert not any(tmp_path.glob("o.*"))


def test_yaml_and_api_share_the_range_checks(tmp_path, clip):
    import streamdeblur
    from streamdeblur.engine.config import ConfigError, parse_pipeline

    with pytest.raises(ConfigError, match=r"x.yaml:4: .*tile"):
        parse_pipeline("stages:\n  - deblur:\n      model: deeprftv2-t\n      tile: 7\n", "x.yaml")
    with pytest.raises(ConfigError, match=r"x.yaml:3: .*crf"):
        parse_pipeline("stages: [identity]\noutput:\n  crf: 99\n", "x.yaml")
    with pytest.raises(ConfigError, match="tile"):
        streamdeblur.process(clip, tmp_path / "o.mp4", overrides={"tile": 7})
    with pytest.raises(ConfigError, match="tiles.*allowed"):
        streamdeblur.process(clip, tmp_path / "o.mp4", overrides={"tiles": 5})


@pytest.mark.parametrize("suffix, codecs", [(".webm", {"vp9", "av1"}), (".mkv", {"h264"}), (".mp4", {"h264"})])
def test_default_encoder_follows_the_container(tmp_path, suffix, codecs, capsys, identity_yaml):
    src = media.write_video(
        tmp_path / f"in{suffix}", frames=5, size=(96, 64), codec="libvpx-vp9" if suffix == ".webm" else "libx264"
    )
    out = tmp_path / f"out{suffix}"
    code = main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)])
    err = capsys.readouterr().err
    assert code == 0, err
    codec = media.probe(out)["streams"][0]["codec_name"]
    assert codec in codecs
    assert "encoder lib" in err.replace("encoder: ", "encoder ")


def test_mjpeg_output_is_full_range_and_keeps_the_colours(tmp_path, capsys, identity_yaml, clip):
    # FFmpeg refuses limited-range MJPEG: written as video usually is (tv range), it failed to open
    out = tmp_path / "out.avi"
    code = main(["run", str(clip), "-o", str(out), "--pipeline", str(identity_yaml), "--codec", "mjpeg"])
    assert code == 0, capsys.readouterr().err
    stream = media.probe(out)["streams"][0]
    assert stream["codec_name"] == "mjpeg" and stream["color_range"] == "pc"
    a = media.ffmpeg_rgb(clip, "bt601", "tv").astype(np.float32)  # ffmpeg decodes, each with its own range
    b = media.ffmpeg_rgb(out, "bt601", "pc").astype(np.float32)
    assert a.shape == b.shape
    # the same colours: a range mix-up scales the contrast by 219/255 (std off by 14 %)
    assert abs(float(b.std()) / float(a.std()) - 1) < 0.03
    assert abs(float(b.mean()) - float(a.mean())) < 2.0


def test_codec_flag_wins(tmp_path, capsys, identity_yaml, clip):
    out = tmp_path / "out.mkv"
    assert main(["run", str(clip), "-o", str(out), "--pipeline", str(identity_yaml), "--codec", "libx265"]) == 0
    assert media.probe(out)["streams"][0]["codec_name"] == "hevc"
