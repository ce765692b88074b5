"""Everyday habits (issue 18): default output name, --debug anywhere, help for every flag,
--start/--duration/--frames on files, progress without a terminal."""

from __future__ import annotations

import argparse
import subprocess
import sys
from fractions import Fraction

import media
import pytest

from streamdeblur.cli import build_parser, main


def _all_parsers(p: argparse.ArgumentParser, name="streamdeblur"):
    yield name, p
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sub_name, sub in a.choices.items():
                yield from _all_parsers(sub, f"{name} {sub_name}")


def test_every_flag_and_argument_has_help():
    missing = [
        f"{name}: {a.dest}"
        for name, p in _all_parsers(build_parser())
        for a in p._actions
        if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) and not a.help
    ]
    assert not missing, missing


def test_debug_works_after_the_subcommand(tmp_path, capsys):
    code = main(["run", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o.mp4"), "--debug"])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" in err


def test_default_output_name(tmp_path, identity_yaml, capsys):
    src = media.write_video(tmp_path / "holiday.mkv", frames=4, size=(96, 64))
    assert main(["run", str(src), "--pipeline", str(identity_yaml)]) == 0
    out = tmp_path / "holiday_deblurred.mkv"
    assert media.count_frames(out) == 4
    assert str(out) in capsys.readouterr().out


def test_a_video_file_without_a_suffix_gets_a_video_not_a_folder_of_frames(tmp_path, identity_yaml, capsys):
    # A dash cam's REC0042 or a download without a suffix: the default output, REC0042_deblurred, was a
    # name without a suffix, which the writer takes for an image folder: a PNG per frame (a 10-minute
    # 1080p clip, some 50 GB of them) instead of a video
    src = media.write_video(tmp_path / "clip.mp4", frames=4, size=(96, 64)).rename(tmp_path / "REC0042")
    assert main(["info", str(src)]) == 0
    assert "output .mp4" in capsys.readouterr().out
    assert main(["run", str(src), "--pipeline", str(identity_yaml)]) == 0
    out = tmp_path / "REC0042_deblurred.mp4"
    assert out.is_file() and media.count_frames(out) == 4
    assert not (tmp_path / "REC0042_deblurred").exists()


def test_a_camcorder_or_phone_container_that_is_read_but_not_written_gets_an_mp4(tmp_path, identity_yaml, capsys):
    # "streamdeblur run 00012.MTS" (AVCHD), a phone's .3gp, a .gif: the default output kept the suffix and the
    # run ended "unknown output container '.mts'" (exit 2), while info said "output .mp4" and batch wrote one
    src = media.write_video(tmp_path / "clip.mp4", frames=4, size=(96, 64))
    mts = tmp_path / "00012.MTS"
    subprocess.run([media.FFMPEG, "-v", "error", "-i", str(src), "-c", "copy", "-f", "mpegts", str(mts)], check=True)
    assert main(["info", str(mts)]) == 0
    assert "output .mp4" in capsys.readouterr().out
    assert main(["run", str(mts), "--pipeline", str(identity_yaml)]) == 0
    assert media.count_frames(tmp_path / "00012_deblurred.mp4") == 4


def test_names_with_brackets_or_question_marks_are_files_not_patterns(tmp_path, identity_yaml, capsys):
    # yt-dlp saves "Title [id].mkv", editors "take[1].mp4": any name with *, ? or [ was taken for a glob,
    # so run said "give the output with -o (no default name for ... a glob)", and with -o "no images
    # found in My clip [dQw4].mkv" (exit 3); info and batch the same. A name that exists is that file.
    import cv2

    src = media.write_video(tmp_path / "My clip [dQw4].mkv", frames=4, size=(96, 64), audio=True)
    assert main(["info", str(src)]) == 0
    assert "h264" in capsys.readouterr().out
    assert main(["run", str(src), "--pipeline", str(identity_yaml)]) == 0
    out = tmp_path / "My clip [dQw4]_deblurred.mkv"
    assert media.count_frames(out) == 4 and media.frame_times(out) == media.frame_times(src)
    photo = tmp_path / "photo [1]?.png"
    cv2.imwrite(str(photo), media.pattern(5, 64, 48)[..., ::-1])
    assert main(["run", str(photo), "--pipeline", str(identity_yaml)]) == 0
    assert cv2.imread(str(tmp_path / "photo [1]?_deblurred.png")).shape == (48, 64, 3)
    assert main(["batch", str(src), "--out-dir", str(tmp_path / "b"), "--pipeline", str(identity_yaml)]) == 0
    assert media.count_frames(tmp_path / "b" / src.name) == 4
    # a pattern is still a pattern: it matches the file whose name has the brackets in it
    pattern = str(tmp_path / "My clip*.mkv")
    assert main(["batch", pattern, "--out-dir", str(tmp_path / "g"), "--pipeline", str(identity_yaml)]) == 0
    assert media.count_frames(tmp_path / "g" / src.name) == 4


def test_start_and_duration_cut_by_timestamps_and_keep_pts(tmp_path, identity_yaml):
    src = media.write_video(tmp_path / "in.mp4", frames=60, size=(96, 64), fps=30, audio=True)
    out = tmp_path / "cut.mp4"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml), "--start", "0.5", "--duration", "1"]) == 0
    times = [Fraction(t) for t in media.frame_times(out)]
    src_times = [Fraction(t) for t in media.frame_times(src)]
    want = [t for t in src_times if Fraction(1, 2) <= t < Fraction(3, 2)]
    assert times == want  # the same frames, with their own timestamps
    assert abs(media.audio_duration(out) - 1.0) < 0.1


def test_start_counts_from_the_start_of_a_file_that_starts_late(tmp_path, identity_yaml):
    # An MP4 whose clock starts 10 s in (made with -itsoffset; a clip cut out by stream copy): --start 0.5
    # --duration 0.5 was read as 0.5 s of the clock, before the first frame, and ended "the input has no
    # video frames from --start 0.5 s on", exit 3; --start 0.5 --frames 3 began at the first frame.
    # ffmpeg -ss, and a player's position, count from the file's start: 10.5 s here.
    plain = media.write_video(tmp_path / "plain.mp4", frames=30, size=(96, 64), fps=30, audio=True)
    src = tmp_path / "late.mp4"
    subprocess.run([media.FFMPEG, "-v", "error", "-itsoffset", "10", "-i", str(plain), "-c", "copy", str(src)], check=True)
    first = float(media.probe(src)["format"]["start_time"])
    assert first >= 9.9
    src_times = [float(t) for t in media.frame_times(src)]
    out = tmp_path / "cut.mp4"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml), "--start", "0.5", "--duration", "0.5"]) == 0
    want = [t for t in src_times if first + 0.5 - 1e-6 <= t < first + 1.0 - 1e-6]
    assert len(want) >= 14 and [float(t) for t in media.frame_times(out)] == pytest.approx(want, abs=1e-4)
    three = tmp_path / "three.mp4"
    assert main(["run", str(src), "-o", str(three), "--pipeline", str(identity_yaml), "--start", "0.5", "--frames", "3"]) == 0
    assert [float(t) for t in media.frame_times(three)] == pytest.approx(want[:3], abs=1e-4)


def test_a_cut_keeps_the_sound_of_the_span_asked_for_past_the_last_picture(tmp_path, identity_yaml):
    # 1 s of picture, 2 s of sound: a whole run keeps the 2 s, but a cut stopped the sound at the last
    # frame (--duration 1.5: 1.0 s; --start 0.5: 0.5 s), where ``ffmpeg -ss -t`` keeps the span (audit 26)
    src = tmp_path / "talk.mp4"
    lavfi = ["-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=1", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=2"]
    subprocess.run([media.FFMPEG, "-v", "error", *lavfi, "-c:v", "libx264", "-c:a", "aac", str(src)], check=True)
    cases = ((["--duration", "1.5"], (0.0, 1.5)), (["--start", "0.5"], (0.5, 2.0)), (["--frames", "5"], (0.0, 0.5)))
    for i, (cut, sound) in enumerate(cases):
        out = tmp_path / f"cut{i}.mp4"
        assert main(["-q", "run", str(src), "-o", str(out), "--pipeline", str(identity_yaml), *cut]) == 0
        a = [st for st in media.probe(out)["streams"] if st["codec_type"] == "audio"][0]
        start, end = float(a["start_time"]), float(a["start_time"]) + float(a["duration"])
        assert abs(start - sound[0]) < 0.03 and abs(end - sound[1]) < 0.03, (cut, start, end)


def test_start_past_the_end_is_an_error_that_writes_nothing(tmp_path, identity_yaml, capsys):
    """``--start`` beyond the clip: it said "wrote out.partial.mp4" (a file it had removed) and
    exited 0. A run that wrote nothing is the input's error, in one line."""
    src = media.write_video(tmp_path / "in.mp4", frames=6, size=(96, 64), fps=30)
    out = tmp_path / "out.mp4"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml), "--start", "5"]) == 3
    cap = capsys.readouterr()
    assert "wrote" not in cap.out + cap.err
    assert "error: the input has no video frames from --start 5 s on; nothing written" in cap.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["identity.yaml", "in.mp4"]


def test_frames_limits_the_count(tmp_path, identity_yaml):
    src = media.write_video(tmp_path / "in.mp4", frames=20, size=(96, 64))
    out = tmp_path / "few.mp4"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml), "--frames", "5"]) == 0
    assert media.frame_times(out) == media.frame_times(src)[:5]


def test_progress_without_a_terminal_prints_plain_lines_and_an_honest_last_line(tmp_path, identity_yaml, capsys):
    src = media.write_video(tmp_path / "in.mp4", frames=30, size=(96, 64))
    fast = tmp_path / "fast.mp4"
    subprocess.run([media.FFMPEG, "-v", "error", "-i", str(src), "-c", "copy", "-movflags", "+faststart", str(fast)], check=True)
    data = fast.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])  # the index (at the front) promises 30 frames; the data holds fewer
    out = tmp_path / "o.mp4"
    code = main(["run", str(cut), "-o", str(out), "--pipeline", str(identity_yaml), "--progress-interval", "0.05"])
    err = capsys.readouterr().err
    assert code == 0, err
    last = [ln for ln in err.splitlines() if ln.strip()][-1]
    assert "input ended early" in last and "ETA" not in last, last
    done = media.count_frames(out)
    assert f"{done} frames" in last and "/30" not in last


def test_a_matroska_file_cut_short_is_said_to_have_ended_early(tmp_path, identity_yaml, capsys):
    # Matroska has no frame index: a file cut short (a full card, an interrupted copy) came out short
    # with exit 0 and not a word, in a single run and in a segmented one. Its per-track DURATION tag,
    # written up front, says where the video should end. A whole file whose sound outlasts its picture
    # by 2 s is not cut short.
    whole = tmp_path / "whole.mkv"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=3"]
        + ["-f", "lavfi", "-i", "sine=duration=5", "-c:v", "libx264", "-preset", "veryfast", "-g", "10", "-c:a", "aac"]
        + [str(whole)],
        check=True,
    )
    assert main(["run", str(whole), "-o", str(tmp_path / "w.mp4"), "--pipeline", str(identity_yaml)]) == 0
    err = capsys.readouterr().err
    assert "75 frames in" in err and "ended early" not in err, err
    cut = tmp_path / "cut.mkv"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 4 // 10])
    out = tmp_path / "o.mp4"
    assert main(["run", str(cut), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    last = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()][-1]
    done = media.count_frames(out)
    assert done < 50 and f"{done} frames in" in last, (done, last)
    assert f"input ended early (its video stops at {done / 25:.2f} s of the 3.00 s the file declares" in last, last
    # --strict: a file cut short fails (exit 3), its frames in the partial file, nothing under the name
    # asked (it said "input ended early" and exit 0, as without --strict; audit 30)
    strict = tmp_path / "strict.mp4"
    code = main(["run", str(cut), "-o", str(strict), "--pipeline", str(identity_yaml), "--strict"])
    err = capsys.readouterr().err
    assert code == 3 and "input ended early (its video stops at" in err and "--strict stops here" in err, err
    assert not strict.exists() and "partial output kept" in err
    (partial,) = tmp_path.glob("strict.*.partial.mp4")
    assert media.count_frames(partial) == done
    # segmented, --strict: exit 0 and "wrote" with only the warning (audit 31); refused before any work now
    code = main(["run", str(cut), "-o", str(strict), "--segments", "2", "--pipeline", str(identity_yaml), "--strict"])
    err = capsys.readouterr().err
    assert code == 3 and "input ended early (its video stops at" in err and "--strict stops here" in err, err
    assert not strict.exists()
    segmented = tmp_path / "s.mp4"
    assert main(["run", str(cut), "-o", str(segmented), "--segments", "2", "--pipeline", str(identity_yaml)]) == 0
    assert "cut.mkv: input ended early (its video stops at" in capsys.readouterr().err


def test_a_file_trimmed_without_re_encoding_is_not_called_truncated(tmp_path, identity_yaml, capsys):
    # A phone's Trim (or ``ffmpeg -ss … -c copy``) keeps the frames before the cut in the index and an
    # edit list that hides them: 45 listed, 42 shown. The run said "input ended early (42 of the 45
    # frames its index lists)" and batch flagged the file as truncated.
    src = tmp_path / "gop.mp4"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=30:duration=2"]
        + ["-c:v", "libx264", "-preset", "veryfast", "-g", "15", "-bf", "2", str(src)],
        check=True,
    )
    trimmed = tmp_path / "trimmed.mp4"
    subprocess.run([media.FFMPEG, "-v", "error", "-ss", "0.6", "-i", str(src), "-c", "copy", str(trimmed)], check=True)
    listed = int(next(s for s in media.probe(trimmed)["streams"] if s["codec_type"] == "video")["nb_frames"])
    shown = media.count_frames(trimmed)
    assert listed > shown  # the edit list hides frames the index lists
    out = tmp_path / "o.mp4"
    assert main(["run", str(trimmed), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    err = capsys.readouterr().err
    assert f"{shown} frames in" in err and "ended early" not in err, err
    assert media.count_frames(out) == shown


@pytest.mark.parametrize("before", [False, True])
def test_quiet_prints_nothing_but_errors_and_the_result(tmp_path, identity_yaml, capsys, before):
    """Before or after the command (``streamdeblur --quiet run …`` used to lose the flag to run's default).
    The result, ``wrote …``, stays on stdout as ``--help`` and the README say (a script reads the path
    there; it was dropped too)."""
    src = media.write_video(tmp_path / "in.mp4", frames=4, size=(96, 64))
    argv = ["run", str(src), "-o", str(tmp_path / "o.mp4"), "--pipeline", str(identity_yaml)]
    assert main(["--quiet", *argv] if before else [*argv, "--quiet"]) == 0
    cap = capsys.readouterr()
    assert cap.err.strip() == "" and cap.out.strip() == f"wrote {tmp_path / 'o.mp4'}"
    assert (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("side", [2, 8])
def test_frames_too_small_to_register_still_go_through_the_default_pipeline(tmp_path, side):
    """A thumbnail-sized clip: OpenCV's optical flow refuses images under 12 px ("The input image
    must have either width or height >= 12") and the run ended in that error. Too small to register,
    each frame keeps its own pixels in the fusion; the model still runs."""
    src = media.write_video(tmp_path / "tiny.mkv", frames=5, size=(side, side), codec="ffv1", pix_fmt="yuv444p")
    out = tmp_path / "out.mkv"
    assert main(["-q", "run", str(src), "-o", str(out)]) == 0
    assert media.count_frames(out) == 5


@pytest.mark.parametrize("size", [(200, 14), (64, 12)])
def test_a_strip_of_frames_12_to_15_px_high_is_fused_not_crashed_on(tmp_path, size):
    """OpenCV's DIS optical flow crashed the process (SIGSEGV, no message, only a partial file) on grey
    images 12–15 px high and wider than about 40 px: a 200×14 clip, a 1280×64 camera fused at 256×13.
    In a child process, so that a crash fails the test instead of ending the suite."""
    src = media.write_video(tmp_path / "strip.mkv", frames=4, size=size, codec="ffv1", pix_fmt="yuv444p")
    out = tmp_path / "out.mkv"
    args = [sys.executable, "-m", "streamdeblur", "-q", "run", str(src), "-o", str(out), "--pipeline", "motion-fast"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr[-500:])
    assert media.count_frames(out) == 4


def test_output_dev_null_processes_and_keeps_nothing(tmp_path, identity_yaml, capsys):
    """``-o /dev/null`` (ffmpeg's dry run) ended in "[Errno 17] File exists: '/dev/null'"; it now
    runs as ``-o -`` does: every frame processed, nothing written, /dev/null untouched."""
    import os
    import stat

    src = media.write_video(tmp_path / "in.mp4", frames=4, size=(96, 64))
    assert main(["-q", "run", str(src), "-o", os.devnull, "--overwrite", "--pipeline", str(identity_yaml)]) == 0
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["identity.yaml", "in.mp4"]
    assert main(["run", str(src), "-o", os.devnull, "--pipeline", str(identity_yaml)]) == 0
    assert "-o -:" not in capsys.readouterr().err  # it said "-o -: processed …" of what was typed as /dev/null


def test_output_dash_says_nothing_was_written(tmp_path, identity_yaml, capsys):
    """``-o -`` is the dry run, but a user who meant "to stdout" (``| ffplay -``) got every frame
    processed, an empty pipe and exit 0 without a word; the last line now says nothing was written."""
    src = media.write_video(tmp_path / "in.mp4", frames=3, size=(96, 64))
    assert main(["run", str(src), "-o", "-", "--pipeline", str(identity_yaml)]) == 0
    cap = capsys.readouterr()
    assert cap.out == ""  # no video (nor anything else) on stdout
    assert "processed, nothing written: no output file asked for (-o - or /dev/null)" in cap.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["identity.yaml", "in.mp4"]


def test_an_empty_output_or_camera_is_refused_before_any_work(tmp_path, identity_yaml, capsys, monkeypatch):
    """``-o "$OUT"`` with OUT unset: ``webcam`` recorded a whole session into nothing and exited 0
    ("-o -: processed, nothing written"); ``--camera ""`` said "camera not found: " and exit 3."""
    src = media.write_video(tmp_path / "in.mp4", frames=2, size=(64, 48))
    monkeypatch.chdir(tmp_path)  # where an empty --out-dir wrote
    for argv in (
        ["run", str(src), "-o", "", "--pipeline", str(identity_yaml)],
        ["webcam", "--camera", "http://127.0.0.1:9/stream.mjpg", "-o", " ", "--duration", "1"],
        ["webcam", "--camera", "", "-o", str(tmp_path / "rec.mp4"), "--duration", "1"],
        ["batch", str(src), "--out-dir", "", "--pipeline", str(identity_yaml)],  # wrote into the current folder
        ["batch", str(src), "--out-dir", " ", "--pipeline", str(identity_yaml)],  # made a folder named " "
    ):
        assert main(argv) == 2, argv
        assert "is empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["identity.yaml", "in.mp4"]


def test_input_ended_early_is_said_only_of_an_input_that_did(tmp_path, identity_yaml, capsys):
    # "input ended early (24 of the 30 frames its index lists)" was said of complete files: one with
    # corrupt packets skipped (counted on their own), a run --strict stopped, an AVI whose index lists
    # an empty entry for a dropped frame; and "partial output kept" of an empty image folder
    src = media.write_video(tmp_path / "in.mp4", frames=30, size=(96, 64))
    fast = tmp_path / "fast.mp4"
    subprocess.run([media.FFMPEG, "-v", "error", "-i", str(src), "-c", "copy", "-movflags", "+faststart", str(fast)], check=True)
    data = bytearray(fast.read_bytes())
    data[len(data) * 2 // 5 : len(data) * 3 // 5] = bytes(len(data) // 5)  # the index (at the front) intact
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    base = ["--pipeline", str(identity_yaml)]
    assert main(["run", str(broken), "-o", str(tmp_path / "a.mp4"), *base]) == 0
    err = capsys.readouterr().err
    assert "corrupt packets" in err and "ended early" not in err, err
    assert main(["run", str(broken), "-o", str(tmp_path / "b.mp4"), *base, "--strict"]) == 3
    err = capsys.readouterr().err
    assert "stopped after" in err and "ended early" not in err, err
    # a keyframe's packet damaged: refused, and the two frames that depend on it dropped by the decoder
    # without a word (17 written + 1 skipped of 20) — with the clip's last frame written (audit 26)
    import random

    import av

    clip = media.write_video(tmp_path / "gop.mp4", frames=20, size=(160, 120), fps=10, gop=5)
    with av.open(str(clip)) as c:
        _, pos, size = [(p.pts, p.pos, p.size) for p in c.demux(video=0) if p.size and p.is_keyframe][2]
    data, rng = bytearray(clip.read_bytes()), random.Random(0)
    for i in range(pos + 16, pos + size, 7):
        data[i] = rng.randrange(256)
    (tmp_path / "hole.mp4").write_bytes(bytes(data))
    assert main(["run", str(tmp_path / "hole.mp4"), "-o", str(tmp_path / "hole_out.mp4"), *base]) == 0
    err = capsys.readouterr().err
    written = media.frame_times(tmp_path / "hole_out.mp4")
    assert len(written) < 19 and written[-1] == media.frame_times(clip)[-1], written  # the case: frames lost in the middle
    assert "1 corrupt packets" in err and "ended early" not in err, err
    avi = tmp_path / "gap.avi"  # a gap in the timestamps: the AVI muxer lists an empty entry (31 listed, 30 pictures)
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=96x64:r=30:d=1", "-vf", "setpts='(N+gte(N,10))/30/TB'"]
        + ["-fps_mode", "passthrough", "-c:v", "mpeg4", str(avi)],
        check=True,
    )
    assert int(next(s for s in media.probe(avi)["streams"] if s["codec_type"] == "video")["nb_frames"]) == 31
    assert main(["run", str(avi), "-o", str(tmp_path / "c.mp4"), *base]) == 0
    err = capsys.readouterr().err
    assert "30 frames in" in err and "ended early" not in err, err
    photos = tmp_path / "card"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(b"\xff\xd8 not a whole picture")
    assert main(["run", str(photos), "-o", f"{tmp_path / 'out'}/", *base, "--strict"]) == 3
    assert "partial output kept" not in capsys.readouterr().err


def test_a_run_says_the_partial_output_an_earlier_run_left_beside_its_output(tmp_path, identity_yaml, capsys):
    # Ctrl-C keeps a playable partial (out.3f9a0c.partial.mp4); the run made again finished and said nothing
    # of it, which then sat beside the output for good (audit 11). Said, never removed (it may be the only copy).
    src = media.write_video(tmp_path / "in.mp4", frames=4, size=(96, 64))
    out = tmp_path / "out.mp4"
    earlier = tmp_path / "out.3f9a0c.partial.mp4"
    earlier.write_bytes(b"an interrupted run's frames")
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    said = "partial output of an earlier or running run still beside out.mp4, not removed: out.3f9a0c.partial.mp4"
    assert said in capsys.readouterr().err
    assert earlier.read_bytes() == b"an interrupted run's frames"
    out.unlink()
    earlier.unlink()
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert "partial output" not in capsys.readouterr().err


def test_a_mistyped_photo_name_is_not_found_and_a_folder_hint_never_names_the_input(tmp_path, identity_yaml, capsys):
    # "streamdeblur run nonexist.jpg" said "nonexist_deblurred.jpg is one image file, but nonexist.jpg is not
    # one image: give a folder (-o nonexist_deblurred/) or a video file" (exit 2), where a video's typo says
    # "input not found" (exit 3); and "-o photos.png" from photos/ suggested "-o photos/", the input itself
    import cv2

    missing = tmp_path / "nonexist.jpg"
    assert main(["run", str(missing), "--pipeline", str(identity_yaml)]) == 3
    assert capsys.readouterr().err.strip() == f"streamdeblur: error: input not found: {missing}"
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.png"), media.pattern(1, 64, 48))
    assert main(["run", str(photos), "-o", str(tmp_path / "photos.png"), "--pipeline", str(identity_yaml)]) == 2
    assert f"give a folder (-o {tmp_path / 'photos_deblurred'}/) or a video file" in capsys.readouterr().err
