"""Hostile input and faults (issue 5): every bad input gets one clear line and a documented exit
code, outputs are never half-finished under their final name, the input is never touched."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import media
import numpy as np
import pytest
from procs import interrupt_after_first_write, start_cli
from streams import EmptyPartServer, MJPEGServer, SilentServer, read_stamp

from streamdeblur.models import create_model, save_weights

pytestmark = pytest.mark.usefixtures("require_ffmpeg")
DOCUMENTED = {0, 1, 2, 3, 4, 5, 130, 143}
HERE = Path(__file__).parent


def run_cli(args, tmp_path, env=None, timeout=120):
    proc = subprocess.run(
        [sys.executable, "-m", "streamdeblur", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=tmp_path,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def one_error_line(stderr: str) -> str:
    errors = [ln for ln in stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1, stderr
    return errors[0]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def clip(tmp_path):
    return media.write_video(tmp_path / "clip.mp4", frames=24, size=(128, 96), audio=True)


# -- inputs ---------------------------------------------------------------------------------------


def _audio_only(tmp_path):
    p = tmp_path / "audio.mp4"
    subprocess.run([media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", str(p)], check=True)
    return p


def _unknown_codec(tmp_path):
    src = media.write_video(tmp_path / "v.mkv", frames=6, size=(64, 48))
    data = src.read_bytes().replace(b"V_MPEG4/ISO/AVC", b"V_QQQQQ/ISO/QQQ")
    p = tmp_path / "unknown_codec.mkv"
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(
    "case,expect",
    [
        ("empty", "empty"),
        ("random", "cannot open"),
        ("truncated", "nothing decodable|cannot open"),
        ("audio_only", "no video stream"),
        ("unknown_codec", "unsupported video codec"),
        ("missing", "not found"),
        ("fifo", "is a pipe or a device, not a file"),  # "input is empty (0 bytes)", the writer left blocked
        ("stdin", "standard input"),
    ],
)
def test_bad_inputs_one_line_exit_3(tmp_path, clip, case, expect):
    if case == "fifo":
        inp = tmp_path / "stream.mkv"
        os.mkfifo(inp)
    elif case == "stdin":
        inp = "-"
    elif case == "empty":
        inp = tmp_path / "empty.mp4"
        inp.write_bytes(b"")
    elif case == "random":
        inp = tmp_path / "random.mp4"
        # fixed bytes: a few random draws happen to probe as a stream and fail later, with a
        # different (also one-line, exit 3) message; this test is about unreadable garbage
        inp.write_bytes(random.Random(0).randbytes(50_000))
    elif case == "truncated":
        inp = tmp_path / "truncated.mp4"
        inp.write_bytes(clip.read_bytes()[:1500])
    elif case == "audio_only":
        inp = _audio_only(tmp_path)
    elif case == "unknown_codec":
        inp = _unknown_codec(tmp_path)
    else:
        inp = tmp_path / "missing.mp4"
    out = tmp_path / "out.mp4"
    before = sha(inp) if Path(inp).is_file() else None
    (tmp_path / "id.yaml").write_text("stages: [identity]\n")
    proc = run_cli(["run", inp, "-o", out, "--pipeline", tmp_path / "id.yaml"], tmp_path)
    assert proc.returncode == 3

    assert re.search(expect, one_error_line(proc.stderr))
    assert not out.exists() and media.partial_of(out) is None
    if before:
        assert sha(inp) == before


def _break_nal_lengths(clip: Path, tmp_path: Path, packets: slice) -> Path:
    """Give a few H.264 packets in the middle an impossible first NAL length (MP4 stores each NAL
    behind a 4-byte length): the container stays intact, and the decoder refuses those packets
    every time (``Invalid data found when processing input``) instead of concealing the damage."""
    import av

    with av.open(str(clip)) as c:
        pkts = [p.pos for p in c.demux(video=0) if p.pos is not None and p.size > 0]
    data = bytearray(clip.read_bytes())
    for pos in pkts[packets]:
        data[pos : pos + 4] = b"\xff\xff\xff\xf0"
    p = tmp_path / "corrupt.mp4"
    p.write_bytes(bytes(data))
    return p


def test_corrupt_packets_skipped_by_default_and_strict_stops(tmp_path, identity_yaml):
    clip = media.write_video(tmp_path / "c.mp4", frames=30, size=(128, 96))
    bad = _break_nal_lengths(clip, tmp_path, slice(10, 13))
    out = tmp_path / "out.mp4"
    proc = run_cli(["run", bad, "-o", out, "--pipeline", identity_yaml], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "skipped an undecodable packet" in proc.stderr and "skipped 3 corrupt packets" in proc.stderr  # the final line
    assert media.count_frames(out) == 27  # the 3 refused packets are missing, every other frame is there
    # --strict stops at the first bad packet, with every frame before it kept: a run through a windowed stage
    # kept 15 of the 35 good frames before a corrupt packet at 3.5 s (those in its queues and windows, and the
    # decoder's), one at 1.5 s none of 15; the place was said in the stream's ticks, "at pts 35840" (audit 26)
    windowed = tmp_path / "fusion.yaml"
    windowed.write_text("stages:\n  - temporal_fusion: {radius: 2}\n")
    strict = run_cli(["run", bad, "-o", tmp_path / "strict.mp4", "--pipeline", windowed, "--strict"], tmp_path)
    assert re.search(r"warning: skipped an undecodable packet", proc.stderr)  # the warning itself, not the tmp path's name
    assert strict.returncode == 3 and "--strict" in one_error_line(strict.stderr)
    assert re.search(r"undecodable packet in \S*corrupt\.mp4 at 0\.30 s: ", one_error_line(strict.stderr)), strict.stderr
    assert not (tmp_path / "strict.mp4").exists()
    kept = media.partial_of(tmp_path / "strict.mp4")
    # the ten frames decoded before the refused packet (its own, at 0.300 s, is not among them)
    times = media.frame_times(kept)
    assert len(times) == 10 and times[:9] == media.frame_times(clip)[:9] and set(times) < set(media.frame_times(clip))
    kept.unlink()
    # --debug: the failing thread's traceback before the line (errors inside a run showed the line only)
    args = [sys.executable, "-m", "streamdeblur", "run", bad, "-o", tmp_path / "strict.mp4", "--pipeline", identity_yaml]
    debug = subprocess.run([*map(str, args), "--strict", "--debug"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert debug.returncode == 3 and "reader: Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.index("Traceback") < debug.stderr.index("error: ") and "--strict" in debug.stderr.split("error: ")[-1]


def _garbled(clip: Path, tmp_path: Path, suffix: str) -> Path:
    """``clip`` copied by stream copy into ``suffix``'s container, then 3000 bytes of its middle overwritten
    with fixed noise: a download or a card read that went wrong (the demuxer skips to what it can read)."""
    remuxed = tmp_path / f"whole{suffix}"
    subprocess.run([media.FFMPEG, "-v", "error", "-i", str(clip), "-c", "copy", str(remuxed)], check=True)
    data = bytearray(remuxed.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = random.Random(7).randbytes(3000)
    bad = tmp_path / f"damaged{suffix}"
    bad.write_bytes(bytes(data))
    return bad


@pytest.mark.parametrize("suffix", [".mkv", ".ts"])
def test_damage_a_demuxer_skips_over_is_said_counted_and_stops_a_strict_run(tmp_path, identity_yaml, suffix):
    # A Matroska file or transport stream with garbage in its middle: the demuxer skipped to the next
    # part it could read and said so only in FFmpeg's log. 10 of 30 frames (.mkv) or 3 (.ts, and some
    # kept frames concealed garbage) went missing without a word, exit 0, and exit 0 with --strict too;
    # the same damage in an MP4 was said and counted ("skipped 6 corrupt packets").
    clip = media.write_video(tmp_path / "c.mp4", frames=30, size=(96, 64), gop=6, audio=True)
    bad = _garbled(clip, tmp_path, suffix)
    out = tmp_path / f"out{suffix}"
    proc = run_cli(["run", bad, "-o", out, "--pipeline", identity_yaml], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"warning: damaged data in \S*damaged\{suffix} (between|at) [0-9.]+ s", proc.stderr), proc.stderr
    assert re.search(r"damaged data at [1-9]\d* point\(s\) of the input", proc.stderr)  # the final line counts them
    assert "Traceback" not in proc.stderr
    assert len(media.frame_times(out)) < 30  # what was lost is lost: the warning is the point
    strict = run_cli(["run", bad, "-o", tmp_path / f"strict{suffix}", "--pipeline", identity_yaml, "--strict"], tmp_path)
    assert strict.returncode == 3 and "--strict" in one_error_line(strict.stderr) and "damaged data" in strict.stderr
    # the same file undamaged: not a word (healthy Matroska and transport streams say nothing)
    ok = tmp_path / f"ok{suffix}"
    whole = run_cli(["run", tmp_path / f"whole{suffix}", "-o", ok, "--pipeline", identity_yaml, "--strict"], tmp_path)
    assert whole.returncode == 0 and "damaged" not in whole.stderr, whole.stderr
    assert len(media.frame_times(ok)) == 30


def test_two_recordings_joined_end_to_end_are_refused_and_their_remux_is_processed(tmp_path, identity_yaml):
    # `cat a.ts b.ts`: the second recording's clock starts 40 s before the first's ended. Its frames were
    # squashed into a millisecond after the first's ("non-increasing timestamps repaired") and the run
    # ended "finishing out.mp4 failed: Invalid argument", exit 4. Now one line at the jump, exit 3, and
    # the remux it names (ffmpeg joins the two timelines) goes through: that remux repeats one sound
    # packet's decode time, which the sound copy passed to the muxer as it was (exit 4 again).
    parts = []
    for name, offset, src in (("a", 50, "testsrc2"), ("b", 10, "testsrc")):
        part = tmp_path / f"{name}.ts"
        subprocess.run(
            [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", f"{src}=size=96x64:rate=25:duration=0.4"]
            + ["-f", "lavfi", "-i", "sine=duration=0.4", "-c:v", "libx264", "-c:a", "aac"]
            + ["-output_ts_offset", str(offset), str(part)],
            check=True,
        )
        parts.append(part.read_bytes())
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    proc = run_cli(["run", joined, "-o", tmp_path / "out.mp4", "--pipeline", identity_yaml], tmp_path)
    assert proc.returncode == 3, proc.stderr
    line = one_error_line(proc.stderr)
    assert "its clock jumps back from" in line and "ffmpeg -i IN -c copy joined.mkv" in line and "Traceback" not in proc.stderr
    remuxed = tmp_path / "remuxed.mkv"
    subprocess.run([media.FFMPEG, "-v", "error", "-i", str(joined), "-c", "copy", str(remuxed)], check=True)
    out = tmp_path / "remuxed.mp4"
    proc = run_cli(["run", remuxed, "-o", out, "--pipeline", identity_yaml], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(media.frame_times(out)) == 20
    assert media.audio_duration(out) == pytest.approx(0.8, abs=0.1)


# -- outputs ----------------------------------------------------------------------------------------


def test_output_same_as_input_refused(tmp_path, clip, identity_yaml):
    before = sha(clip)
    proc = run_cli(["run", clip, "-o", clip, "--pipeline", identity_yaml, "--overwrite"], tmp_path)
    assert proc.returncode == 4 and "is the input file" in one_error_line(proc.stderr)
    assert sha(clip) == before


def test_existing_output_refused_unless_overwrite(tmp_path, clip, identity_yaml):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    proc = run_cli(["run", clip, "-o", out, "--pipeline", identity_yaml], tmp_path)
    assert proc.returncode == 4 and "--overwrite" in one_error_line(proc.stderr)
    assert out.read_bytes() == b"precious"
    assert run_cli(["run", clip, "-o", out, "--pipeline", identity_yaml, "--overwrite"], tmp_path).returncode == 0
    assert media.count_frames(out) == 24


def test_an_input_named_like_the_outputs_temporary_file_is_read_not_written_over(tmp_path, clip, identity_yaml):
    # The temporary file of out.mp4 was out.partial.mp4, whatever was there: an input of that name was
    # truncated by the encoder while it was read, then renamed onto out.mp4 (33 of 75 frames, exit 0,
    # the input gone), a photo too; a file of the user's of that name was written over (audit 9).
    video = tmp_path / "out.partial.mp4"
    video.write_bytes(clip.read_bytes())
    photo = tmp_path / "a.partial.png"
    cv2.imwrite(str(photo), media.pattern(3, 96, 64))
    before = sha(video), sha(photo)
    assert run_cli(["run", video, "-o", tmp_path / "out.mp4", "--pipeline", identity_yaml], tmp_path).returncode == 0
    assert run_cli(["run", photo, "-o", tmp_path / "a.png", "--pipeline", identity_yaml], tmp_path).returncode == 0
    assert (sha(video), sha(photo)) == before
    assert media.count_frames(tmp_path / "out.mp4") == 24
    assert np.array_equal(cv2.imread(str(tmp_path / "a.png")), cv2.imread(str(photo)))
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".mp4", ".png")) == [
        "a.partial.png",
        "a.png",
        "clip.mp4",
        "out.mp4",
        "out.partial.mp4",
    ]


def test_an_output_that_is_a_folder_is_refused_before_decoding(tmp_path, clip, identity_yaml):
    # With --overwrite the whole job ran, then "[Errno 21] Is a directory", exit 1, its file left behind.
    (tmp_path / "isdir.mp4").mkdir()
    proc = run_cli(["run", clip, "-o", "isdir.mp4", "--pipeline", identity_yaml, "--overwrite"], tmp_path)
    assert proc.returncode == 4 and "isdir.mp4 is a folder; give a file name" in one_error_line(proc.stderr)
    assert "frames" not in proc.stderr and sorted(p.name for p in tmp_path.iterdir() if "isdir" in p.name) == ["isdir.mp4"]


@pytest.mark.parametrize("where", ["/proc/streamdeblur-test/out.mp4", "/proc/out.mp4", "file/out.mp4"])
def test_unwritable_output_reported_before_decoding(tmp_path, clip, identity_yaml, where):
    (tmp_path / "file").write_text("not a folder")
    proc = run_cli(["run", clip, "-o", where, "--pipeline", identity_yaml], tmp_path)
    assert proc.returncode == 4
    line = one_error_line(proc.stderr)
    assert "not writable" in line or "does not exist" in line or "is a file, not a folder" in line
    assert "frames" not in proc.stderr  # nothing was decoded


def _limited_fsize(limit: int):
    def pre():
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return pre


@pytest.mark.parametrize("remove,suffix", [(False, ".mkv"), (True, ".mkv"), (False, ".mp4")])
def test_write_error_mid_run_keeps_input_and_names_or_removes_partial(tmp_path, identity_yaml, remove, suffix):
    # A partial file is kept where it plays (Matroska); an MP4 cut off by a write error has no index
    # and did not play, yet was kept and named ("partial output kept"), holding a full disk full.
    clip = media.write_video(tmp_path / "big.mp4", frames=90, size=(320, 240), crf=10)
    out = tmp_path / f"out{suffix}"
    before = sha(clip)
    args = [sys.executable, "-m", "streamdeblur", "run", clip, "-o", out, "--pipeline", identity_yaml]
    args += ["--crf", "0"] + (["--remove-partial"] if remove else [])
    limit = clip.stat().st_size // 3  # the output outgrows the "disk" partway
    proc = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=120, preexec_fn=_limited_fsize(limit))
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 4, proc.stderr
    line = one_error_line(proc.stderr)
    assert "failed" in line
    assert sha(clip) == before and not out.exists()
    partial = media.partial_of(out)
    if remove or suffix == ".mp4":
        assert partial is None and "partial output kept" not in line
    else:
        assert partial is not None and str(partial) in line and media.count_frames(partial) > 0


def test_a_write_that_fails_while_finishing_is_an_error_not_a_finished_file(tmp_path, clip, identity_yaml):
    # x264 at preset medium holds 40+ frames: all 24 of this clip reach the file while it is finished.
    # That failure was a warning, then "wrote out.partial.mp4" and exit 0.
    out = tmp_path / "out.mp4"
    args = [sys.executable, "-m", "streamdeblur", "run", clip, "-o", out, "--pipeline", identity_yaml, "--preset", "medium"]
    proc = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=120, preexec_fn=_limited_fsize(4096))
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 4, proc.stderr
    line = one_error_line(proc.stderr)
    assert "finishing out.mp4 failed" in line and "partial output kept" not in line  # an MP4 without its index: removed
    assert "wrote" not in proc.stdout + proc.stderr
    assert not out.exists() and media.partial_of(out) is None


def test_disk_full_from_the_start_is_one_line(tmp_path, clip, identity_yaml):
    before = sha(clip)
    child = Path(__file__).parents[1] / "cli_child.py"  # its temporary file is a link to /dev/full: ENOSPC
    args = [sys.executable, child, "--disk-full", "--", "run", clip, "-o", tmp_path / "out.mp4", "--pipeline", identity_yaml]
    proc = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 4 and "No space left on device" in one_error_line(proc.stderr)
    assert sha(clip) == before and not (tmp_path / "out.mp4").exists()


# -- signals ----------------------------------------------------------------------------------------


def test_sigterm_finishes_batch_and_leaves_playable_file(tmp_path):
    src = media.write_video(tmp_path / "long.mp4", frames=90, size=(192, 128), audio=True)
    slow = tmp_path / "slow.yaml"
    slow.write_text("batch: 1\nstages:\n  - deblur:\n      model: deeprftv2-t\n      weights: none\n")
    out = tmp_path / "out.mp4"
    code, err = interrupt_after_first_write(["run", src, "-o", out, "--pipeline", slow], signal.SIGTERM)
    partial = media.partial_of(out)
    assert code == 143, err
    assert "Traceback" not in err and partial is not None and not out.exists()
    done = int(re.search(r"interrupted after (\d+) frames", err).group(1))  # the final count, not a progress line
    assert 0 < done < 90 and media.count_frames(partial) == done
    assert "input ended early" not in err  # the user stopped it; the input did not end
    assert "warning: stopping: finishing the frame in progress (SIGTERM)" in err  # said when the signal came


def test_a_signal_stops_a_file_after_the_frame_in_progress_not_after_every_frame_read(tmp_path):
    # The frames already read were all finished first: the queue and the frames the windows hold for
    # their neighbours, a dozen with the default pipeline, 57 s to 103 s at 1080p on two cores before
    # the process exited (Docker and systemd send SIGKILL after 10 s to 90 s) (audit 10).
    src = media.write_video(tmp_path / "long.mp4", frames=60, size=(128, 96))
    slow = tmp_path / "slow.yaml"
    slow.write_text(
        "batch: 1\nstages:\n  - temporal_fusion:\n      radius: 5\n  - deblur:\n      model: deeprftv2-t\n      weights: none\n"
    )
    out = tmp_path / "out.mp4"
    code, err = interrupt_after_first_write(["run", src, "-o", out, "--pipeline", slow], signal.SIGTERM)
    assert code == 143, err
    assert "warning: stopping: finishing the frame in progress (SIGTERM)" in err
    done = int(re.search(r"interrupted after (\d+) frames", err).group(1))
    # frame 0 written when the signal came; at most the two batches waiting for the writer and the one
    # in progress follow (it was 1 + the 8 queued + the 5 the window held, and more)
    assert 1 <= done <= 4 and media.count_frames(media.partial_of(out)) == done, err


def test_sigterm_with_remove_partial_says_nothing_was_kept(tmp_path):
    """With ``--remove-partial`` the partial file is deleted: the last line named it as a playable
    partial output anyway."""
    src = media.write_video(tmp_path / "long.mp4", frames=90, size=(192, 128))
    slow = tmp_path / "slow.yaml"
    slow.write_text("batch: 1\nstages:\n  - deblur:\n      model: deeprftv2-t\n      weights: none\n")
    out = tmp_path / "out.mp4"
    args = ["run", src, "-o", out, "--pipeline", slow, "--remove-partial"]
    code, err = interrupt_after_first_write(args, signal.SIGTERM)
    assert code == 143, err
    assert "Traceback" not in err and media.partial_of(out) is None and not out.exists()
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted after ") and last.endswith("; no partial output kept"), last


# -- live sources -------------------------------------------------------------------------------------


def _live_session(tmp_path, extra: list, unplug) -> tuple[int, str, Path]:
    """A webcam recording of a served MJPEG camera: after 30 frames are written, ``unplug(server)``
    (which may return the camera that replaces it); returns the exit code, stderr and the recording."""
    server = MJPEGServer(fps=30, max_seconds=60)
    out = tmp_path / "rec.mp4"
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages: [identity]\n")
    args = ["webcam", "--camera", server.url, "--no-preview", "-o", out, "--pipeline", yaml, *extra]
    proc, stdout, stderr = start_cli(args, ["--announce-writes"])
    try:
        stdout.wait_for(r"^written 29$", timeout=120)  # 30 frames recorded
        server = unplug(server, stderr) or server
        proc.wait(timeout=120)
    finally:
        server.close()
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, stderr.rest(), out


def test_live_disconnect_reconnects_then_finalises(tmp_path):
    def unplug(server, stderr):
        server.close()  # camera unplugged
        stderr.wait_for("reconnecting", timeout=60)
        return MJPEGServer(fps=30, max_seconds=3, port=server.port)  # back for a moment, then gone for good

    code, err, out = _live_session(tmp_path, ["--reconnect", "3"], unplug)
    # the recording is kept under its name, but the session did not end as asked: a script can tell
    assert code == 3, err
    assert re.search(r"camera \S+ back \(\d+\.\d s without it\)", err), err  # said when it came back, not only when lost
    assert "no reconnection after 3 attempts" in err
    assert f"the camera was lost before the end and no reconnection worked; the recording so far is kept: {out}" in err
    assert "Traceback" not in err
    assert out.exists() and media.count_frames(out) >= 30


def test_a_session_that_ends_while_the_camera_is_still_lost_is_cut_short_not_finished(tmp_path):
    """``--duration`` running out during the reconnection backoff (0 + 0.5 + 1 + 2 + 4 s at the default
    ``--reconnect 5``): the camera never came back, so the session was cut short, exit 3 as when the
    attempts run out. It exited 0 with ``wrote``: any camera lost in the last ~16 s of a session was a success."""
    # camera unplugged for good, long before the 6 s are up
    code, err, out = _live_session(tmp_path, ["--duration", "6"], lambda server, _stderr: server.close())
    assert code == 3, err
    assert "still lost when the session ended" in err and "the recording so far is kept" in err, err
    assert "error: the camera was still lost when the session ended" in err and "no reconnection worked" not in err
    assert "Traceback" not in err and out.exists() and media.count_frames(out) >= 30
    # the final rate over 6 s said ~5 fps for a camera delivered at ~30 while it was there (audit 25)
    rates = re.search(r"\(([\d.]+) fps; ([\d.]+) fps in the \d\d:\d\d the camera was there\)", err)
    assert rates and float(rates[2]) > 2 * float(rates[1]), err


def test_a_camera_that_sends_empty_parts_keeps_most_of_its_frames(tmp_path):
    """An empty part (``Content-Length: 0``) of an MJPEG stream breaks OpenCV's read as a lost camera
    does. Every reopen waited out a backoff first (0.5 s): with one such part in five at 10 fps, a 6 s
    session recorded 16 frames and ended in "no reconnection worked" (exit 3) though six had worked
    (this 5 s one: 21 frames). The first reopen now comes at once (41 frames)."""
    server = EmptyPartServer(fps=10, every=5)
    out = tmp_path / "rec.mp4"
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages: [identity]\n")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "streamdeblur", "webcam", "--camera", server.url, "--no-preview", "-o", str(out)]
            + ["--pipeline", str(yaml), "--duration", "5"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.close()
    assert proc.returncode in (0, 3), proc.stderr[-800:]
    assert server.connections >= 3  # the empty parts did break the reads: this is the case under test
    assert media.count_frames(out) >= 30, proc.stderr[-800:]  # 41 of 50 sent (10 empty); 21 before
    assert "no reconnection worked" not in proc.stderr  # said of a session in which every one worked


def test_a_stalled_camera_is_said_and_a_session_ending_during_it_is_cut_short(tmp_path):
    """A camera that hangs with its connection open (no frame, no error): OpenCV's read waited its default
    30 s, during which ``--duration``, Ctrl-C and SIGTERM went unheard and nothing was said. Now a read gives
    up after 5 s, the stall is said, and the session ends when asked, as cut short (exit 3)."""

    def hang(server, stderr):
        server.freeze()
        stderr.wait_for(r"stalled \(no frame for 5 s\); reconnecting", timeout=20)  # within 30 s it said nothing

    code, err, out = _live_session(tmp_path, ["--duration", "12"], hang)
    assert code == 3, err
    assert "still lost when the session ended" in err and "the recording so far is kept" in err, err
    assert "Traceback" not in err and "WARN" not in err  # OpenCV's own "Stream timeout triggered" line
    assert media.count_frames(out) >= 30


def test_ctrl_c_while_a_camera_url_does_not_answer_stops_at_once(tmp_path):
    """Opening a URL that accepts the connection and never answers held Ctrl-C for OpenCV's 30 s and
    then exited 130 with nothing said."""
    server = SilentServer()
    out = tmp_path / "rec.mp4"
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages: [identity]\n")
    args = ["webcam", "--camera", server.url, "--no-preview", "-o", out, "--pipeline", yaml]
    proc, _stdout, stderr = start_cli(args)
    try:
        assert server.connected.wait(120), "the camera was never opened"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=8)  # the open gives up only after 10 s: the interrupt must not wait for it
    finally:
        server.close()
        if proc.poll() is None:
            proc.kill()
    err = stderr.rest()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [f"interrupted before the first frame (camera {server.url}); nothing written"]
    assert not list(tmp_path.glob("rec*.mp4"))


def test_corrupt_camera_frames_are_skipped_counted_and_stop_a_strict_session(tmp_path):
    """JPEGs cut short in transit (every third frame here): OpenCV handed them over as good frames, their
    lower half grey, and the recording kept them without a word; ``--strict`` changed nothing."""
    server = MJPEGServer(fps=30, max_seconds=60, damage=lambda seq, jpeg: jpeg[: len(jpeg) // 2] if seq % 3 == 1 else jpeg)
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages: [identity]\n")
    out, strict_out = tmp_path / "rec.mp4", tmp_path / "strict.mp4"
    try:
        args = ["webcam", "--camera", server.url, "--no-preview", "--pipeline", yaml, "--duration", "3"]
        done = run_cli([*args, "-o", out], tmp_path)
        strict = run_cli([*args, "-o", strict_out, "--strict"], tmp_path)
    finally:
        server.close()
    assert done.returncode == 0, done.stderr
    assert "a corrupt JPEG frame skipped (cut short in transit)" in done.stderr
    assert re.search(r"skipped \d+ corrupt packets", done.stderr), done.stderr
    with av.open(str(out)) as c:
        seqs = [read_stamp(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    assert len(seqs) >= 10 and not [s for s in seqs if s % 3 == 1], seqs  # no damaged frame recorded
    assert strict.returncode == 3 and "a corrupt JPEG frame (--strict stops at the first)" in one_error_line(strict.stderr)


def test_run_on_a_live_mjpeg_url_keeps_real_time_and_skips_corrupt_frames(tmp_path):
    """``run http://camera/stream.mjpg`` (not ``webcam``) read the stream through PyAV, which numbers MJPEG-over-HTTP
    frames at 25 fps: a 15 fps camera's recording played 1.67 times fast. And a JPEG cut short in transit was
    written with another frame's rows in its lower half, without a word. Read now as the webcam command reads it."""
    server = MJPEGServer(fps=15, max_seconds=60, damage=lambda seq, jpeg: jpeg[: len(jpeg) // 2] if seq % 5 == 2 else jpeg)
    out = tmp_path / "rec.mkv"
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages: [identity]\n")
    proc, stdout, stderr = start_cli(["run", server.url, "-o", out, "--pipeline", yaml], ["--announce-writes"])
    try:
        stdout.wait_for(r"^written 0$", timeout=120)
        t0 = time.monotonic()
        stdout.wait_for(r"^written 29$", timeout=120)  # 30 frames handed to the encoder: about 2.5 s of the camera
        seconds = time.monotonic() - t0
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        server.close()
        if proc.poll() is None:
            proc.kill()
    err = stderr.rest()
    assert proc.returncode == 130, err
    assert "a corrupt JPEG frame skipped (cut short in transit)" in err, err
    times = [float(t) for t in media.frame_times(out)]
    assert len(times) >= 30
    span = times[29] - times[0]  # 29 intervals of a 15 fps camera, as they came (25 fps numbering: 1.16 s)
    assert abs(span - seconds) < 0.4 and span > 1.6, (span, seconds)
    with av.open(str(out)) as c:
        seqs = [read_stamp(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    assert not [s for s in seqs if s % 5 == 2], seqs  # no damaged frame recorded


def test_a_camera_whose_frames_come_bunched_is_recorded_at_its_own_rate(tmp_path):
    """Frames handed over a few at once (a busy machine, a server's buffer; six every 0.2 s here): the rate
    measured as the median interval of twelve frames was ~1900 fps, a Matroska recording declared it and an
    AVI wrote 1700 empty frames for 90 real ones. Measured now as frames over a span."""
    server = EmptyPartServer(fps=30, every=0, group=6, max_seconds=60)
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages: [identity]\n")
    try:
        for ext in (".mkv",):  # (an AVI takes the same rate: its empty frames fill the declared one)
            out = tmp_path / f"rec{ext}"
            args = ["webcam", "--camera", server.url, "--no-preview", "-o", out, "--pipeline", yaml, "--duration", "2"]
            done = run_cli(args, tmp_path)
            assert done.returncode == 0, done.stderr
            video = next(s for s in media.probe(out)["streams"] if s["codec_type"] == "video")
            declared = float(Fraction(video["r_frame_rate"]))  # within a group of the 30 a second counted
            assert 24 <= declared <= 36, (ext, video["r_frame_rate"], video.get("avg_frame_rate"))
            assert media.count_frames(out) <= 2.5 * 30, ext  # no empty frames to fill a faster rate
    finally:
        server.close()


def test_a_killed_recording_still_plays_up_to_its_last_second(tmp_path):
    """kill -9 (or an out-of-memory kill, a power cut) during a recording: the partial MP4 had no index
    (written at the end) and FFmpeg's buffer held its first seconds: nothing played. Live footage cannot
    be made again: it is written fragmented, each packet handed to the disk."""
    server = MJPEGServer(fps=30, max_seconds=60)
    out = tmp_path / "rec.mp4"
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages: [identity]\n")
    args = ["webcam", "--camera", server.url, "--no-preview", "-o", out, "--pipeline", yaml]
    proc, stdout, _stderr = start_cli(args, ["--announce-writes"])
    try:
        stdout.wait_for(r"^written 149$", timeout=120)  # 150 frames (5 s) handed to the encoder
        proc.kill()
        proc.wait(timeout=60)
    finally:
        server.close()
        if proc.poll() is None:
            proc.kill()
    partial = media.partial_of(out)
    assert not out.exists() and partial is not None
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(partial), "-f", "null", "-"], capture_output=True, text=True)
    assert decoded.returncode == 0 and decoded.stderr == "", decoded.stderr
    # all but what x264's look-ahead and the last fragment held: 122 of 150 frames measured
    assert media.count_frames(partial) >= 90


# -- configuration and weights --------------------------------------------------------------------------


def test_bad_config_via_cli(tmp_path, clip):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - deblur:\n      tile: huge\n")
    proc = run_cli(["run", clip, "-o", tmp_path / "o.mp4", "--pipeline", bad], tmp_path)
    assert proc.returncode == 2
    assert "bad.yaml:3" in one_error_line(proc.stderr) and "expected an integer" in proc.stderr


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/streamdeblur_cli_pwned",))


@pytest.mark.parametrize("kind", ["missing", "wrong", "truncated", "pickle"])
def test_bad_weights_via_cli(tmp_path, clip, kind):
    import torch

    w = tmp_path / "w.pt"
    if kind == "wrong":  # a user's exported deeprftv2-s weights (their meta names the model)
        save_weights(create_model("deeprftv2-s"), w, meta={"model": "deeprftv2-s"})
    elif kind == "truncated":
        save_weights(create_model("deeprftv2-t"), w)
        w.write_bytes(w.read_bytes()[:1000])
    elif kind == "pickle":
        torch.save({"params": {}, "x": Evil()}, w)
    marker = Path("/tmp/streamdeblur_cli_pwned")
    marker.unlink(missing_ok=True)
    proc = run_cli(["run", clip, "-o", tmp_path / "o.mp4", "--weights", w], tmp_path)
    assert proc.returncode == 5
    line = one_error_line(proc.stderr)
    if kind == "wrong":  # it said only how many keys did not fit
        assert line.endswith("; these weights are for deeprftv2-s: add --model deeprftv2-s"), line
    assert not marker.exists() and not (tmp_path / "o.mp4").exists()


# -- batch -----------------------------------------------------------------------------------------------


def test_batch_continues_after_failure_and_resumes(tmp_path, identity_yaml):
    d = tmp_path / "in"
    d.mkdir()
    media.write_video(d / "a.mp4", frames=8, size=(96, 64))
    (d / "b.mp4").write_bytes(os.urandom(10_000))
    media.write_video(d / "c.mp4", frames=8, size=(96, 64))
    out = tmp_path / "out"
    proc = run_cli(["batch", d, "--out-dir", out, "--pipeline", identity_yaml], tmp_path)
    assert proc.returncode == 1
    assert "failed" in proc.stdout and "b.mp4" in proc.stdout
    assert media.count_frames(out / "a.mp4") == 8 and media.count_frames(out / "c.mp4") == 8
    assert not (out / "b.mp4").exists()
    again = run_cli(["batch", d, "--out-dir", out, "--pipeline", identity_yaml], tmp_path)
    assert again.stdout.count("skipped (done before)") == 2


# -- fuzzing ---------------------------------------------------------------------------------------------


FAMILIES = ["video", "yaml", "weights", "images", "argv"]


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_fuzz_200_cases_one_line_and_documented_exit_never_traceback_or_hang(tmp_path, family):
    """200 seeded hostile cases per family (see ``fuzz_driver.py``) through ``main(argv)`` in one process."""
    proc = subprocess.run(
        [sys.executable, str(HERE / "fuzz_driver.py"), family, str(tmp_path), "200", "1234"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 200
    for r in rows:
        assert r["code"] in DOCUMENTED, r
        assert "Traceback" not in r["stderr"], r
        if r["code"] != 0:
            one_error_line(r["stderr"])
    assert sum(r["code"] != 0 for r in rows) >= 100, "most cases must be refused, or the fuzzer is not hostile"


@pytest.mark.parametrize("family,expected", [("yaml", 2), ("weights", 5), ("images", 3), ("argv", 2)])
def test_one_case_per_family_through_the_real_command(tmp_path, family, expected):
    """One refused case of each family in a real ``streamdeblur`` process: the exit status and the one line the user sees."""
    sys.path.insert(0, str(HERE))
    import fuzz_driver

    fam = fuzz_driver.FAMILIES[family](tmp_path, random.Random(0))
    out = tmp_path / "out.mp4"
    if family == "yaml":
        bad = tmp_path / "bad.yaml"
        bad.write_text("stages:\n  - deblur:\n      tile: [1\n")
        argv = ["run", fam.clip, "-o", out, "--pipeline", bad]
    elif family == "weights":
        import torch

        torch.save(fam.structured("shape"), tmp_path / "w.pt")
        argv = ["run", fam.clip, "-o", out, "--pipeline", fam.pipeline, "--weights", tmp_path / "w.pt"]
    elif family == "images":
        frames = tmp_path / "frames"
        frames.mkdir()
        for i in range(3):
            cv2.imwrite(str(frames / f"f{i}.png"), np.full((24, 32, 3), 50 * i, np.uint8))
        (frames / "f1.png").write_bytes((frames / "f1.png").read_bytes()[:40])
        # a damaged image among good ones is skipped and said (exit 0, test_image_folders.py); --strict refuses it
        argv = ["run", frames, "-o", out, "--pipeline", fam.identity, "--strict"]
    else:
        argv = ["run", fam.clip, "-o", out, "--tile", "x"]
    proc = run_cli(argv, tmp_path)
    assert proc.returncode == expected, proc.stderr
    one_error_line(proc.stderr)
    assert not out.exists()
