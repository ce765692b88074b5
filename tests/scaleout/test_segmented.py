"""Long videos in segments (issue 7): same frames and pts as one run, audio once, resume after a kill."""

from __future__ import annotations

import os
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

import streamdeblur.cli.scale as cli  # where segmented runs call run_job
from streamdeblur.cli import main
from streamdeblur.io.segments import clean_keyframes, plan_cuts, split
from streamdeblur.scaleout.plan import work_dir

pytestmark = pytest.mark.usefixtures("require_ffmpeg")


ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """30 s, 30 fps, 320×180 h264 (B-frames, keyframes every 2 s) + AAC, of real footage: the
    bundled sharp sample played back and forth."""
    with av.open(str(ROOT / "samples" / "shaky_boats_sharp.mp4")) as c:
        base = [cv2.resize(f.to_ndarray(format="rgb24"), (320, 180), interpolation=cv2.INTER_AREA) for f in c.decode(video=0)]
    n = len(base)

    def content(i: int, w: int, h: int) -> np.ndarray:
        k = i % (2 * n - 2)
        return base[k if k < n else 2 * n - 2 - k]

    path = tmp_path_factory.mktemp("long") / "long.mp4"
    media.write_video(path, frames=900, size=(320, 180), fps=30, audio=True, gop=60, content=content)
    return path


def decoded(path: Path) -> tuple[list[int], list[np.ndarray]]:
    with av.open(str(path)) as c:
        frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    return [p for p, _ in frames], [a for _, a in frames]


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = np.mean([np.mean((x.astype(np.float64) - y) ** 2) for x, y in zip(a, b)])
    return float(10 * np.log10(255**2 / max(mse, 1e-12)))


def test_clean_keyframes_refuse_open_gop_cuts():
    # decode order (pts, key): a closed GOP cut at index 3; at index 6 an open-GOP keyframe whose
    # leading B-frames (pts 7, 8) come after it in decode order but show before it
    rows = [(0, True), (2, False), (1, False), (3, True), (5, False), (4, False), (9, True), (7, False), (8, False)]
    assert clean_keyframes(rows) == [3]


def test_split_partitions_every_frame_exactly_once(long_clip, tmp_path):
    specs = plan_cuts(long_clip, segments=4)
    assert len(specs) == 4
    assert sum(s.frames for s in specs) == 900
    files = split(long_clip, specs, tmp_path)
    src_pts, _ = decoded(long_clip)
    got = []
    for s, f in zip(specs, files):
        pts, _ = decoded(f)
        assert len(pts) == s.frames
        assert min(pts) == s.start and (s.end is None or max(pts) < s.end)
        got += pts
    assert got == src_pts  # every frame in exactly one segment, in order, with its own pts


def test_four_segments_equal_one_run(long_clip, tmp_path, identity_yaml, capsys):
    # crf 4 (near-lossless): the two outputs are separate x264 encodes, and at crf 16 x264's own
    # noise between two encodes of this clip is ~40 dB (each is ~38 dB from the source) — that
    # would measure the encoder, not the segmentation
    one, seg = tmp_path / "one.mp4", tmp_path / "seg.mp4"
    flags = ["--pipeline", str(identity_yaml), "--crf", "4"]
    assert main(["run", str(long_clip), "-o", str(one), *flags]) == 0
    capsys.readouterr()
    assert main(["run", str(long_clip), "-o", str(seg), *flags, "--segments", "4"]) == 0
    assert re.search(rf"{long_clip.name}: 900 frames in 4 segments; 900 processed in [\d.]+ s", capsys.readouterr().err)
    assert not work_dir(seg).exists()  # removed after the join
    assert media.count_frames(seg) == media.count_frames(one) == 900
    assert media.frame_times(seg) == media.frame_times(one)
    pa, fa = decoded(one)
    pb, fb = decoded(seg)
    assert pa == pb
    assert psnr(fa, fb) >= 45.0
    _, fs = decoded(long_clip)
    assert abs(psnr(fb, fs) - psnr(fa, fs)) <= 0.1  # and as faithful to the source as one run
    assert abs(media.audio_duration(seg) - media.audio_duration(long_clip)) <= 1 / 30
    audio = [s for s in media.probe(seg)["streams"] if s["codec_type"] == "audio"]
    assert len(audio) == 1  # copied once from the source, not per segment


def test_killed_run_resumes_only_unfinished_segments(long_clip, tmp_path, identity_yaml, monkeypatch, capsys):
    out = tmp_path / "resumed.mp4"
    work = work_dir(out)
    cmd = [sys.executable, "-m", "streamdeblur", "run", str(long_clip), "-o", str(out)]
    cmd += ["--pipeline", str(identity_yaml), "--segments", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (work / "seg-0001.mp4").exists():
        assert proc.poll() is None, "the run ended before two segments were done"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # a crash: nothing gets to clean up
    proc.wait()
    assert not out.exists()
    finished = sorted(p.name for p in work.glob("seg-000?.mp4"))
    assert finished[:2] == ["seg-0000.mp4", "seg-0001.mp4"]

    labels = []
    real = cli.run_job

    def spy(job, label, *a, **kw):
        labels.append(label)
        return real(job, label, *a, **kw)

    monkeypatch.setattr(cli, "run_job", spy)
    capsys.readouterr()
    assert main(cmd[3:]) == 0
    err = capsys.readouterr().err
    assert f"reusing {len(finished)} finished, processing {4 - len(finished)}" in err
    # the whole run in one line after the segments' own (there was no total)
    total = re.search(rf"{long_clip.name}: 900 frames in 4 segments, (\d+) of them reused; (\d+) processed in [\d.]+ s", err)
    assert total and int(total[1]) + int(total[2]) == 900 and int(total[1]) > 0 and int(total[2]) > 0, err
    assert len(labels) == 4 - len(finished)
    assert all("segment 1/4" not in s and "segment 2/4" not in s for s in labels)
    assert media.count_frames(out) == 900
    assert media.frame_times(out) == media.frame_times(long_clip)
    assert not work.exists()


def test_changed_input_invalidates_the_plan(tmp_path, identity_yaml, capsys):
    src = media.write_video(tmp_path / "a.mp4", frames=90, size=(160, 96), gop=30)
    out = tmp_path / "o.mp4"
    work = work_dir(out)
    work.mkdir()
    (work / "plan.json").write_text('{"version": 1, "input": {"path": "elsewhere"}}')
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml), "--segments", "3"]) == 0
    assert "starting over" in capsys.readouterr().err
    assert media.frame_times(out) == media.frame_times(src)


def test_a_join_that_fails_names_only_what_is_left(tmp_path, identity_yaml, capsys, monkeypatch):
    # A join that failed (a full disk here: its file is a link to /dev/full) said FFmpeg's message naming
    # the join's partial file, which had just been removed (audit 11).
    from streamdeblur.cli import main
    from streamdeblur.io import segments

    def full(path):
        link = path.with_name(f"{path.stem}.full.partial{path.suffix}")
        link.symlink_to("/dev/full")
        return link

    monkeypatch.setattr(segments, "temporary_path", full)
    clip = media.write_video(tmp_path / "a.mp4", frames=30, size=(96, 64), audio=True, gop=10)
    code = main(["run", str(clip), "-o", str(tmp_path / "o.mp4"), "--segments", "2", "--pipeline", str(identity_yaml)])
    err = capsys.readouterr().err
    line = [ln for ln in err.splitlines() if "error:" in ln][-1]
    assert code == 4 and "joining segments into" in line and "No space left on device" in line, line
    assert ".partial." not in line and not list(tmp_path.glob("*.partial.*")), line
    assert f"the segments are kept in {tmp_path / 'o.mp4.segments'}" in line and (tmp_path / "o.mp4.segments").is_dir()


def test_a_damaged_sound_packet_is_left_out_at_the_join_and_stops_it_under_strict(tmp_path, identity_yaml, capsys):
    # The sound is copied once, at the join: an AAC packet whose ADTS header is damaged failed the whole
    # join (exit 4, "joining segments ... failed"); it is left out and said, as in a single run.
    from streamdeblur.cli import main

    clip = media.write_video(tmp_path / "a.ts", frames=30, size=(96, 64), audio=True)
    data = bytearray(clip.read_bytes())
    with av.open(str(clip)) as c:
        pos = [p.pos for p in c.demux(c.streams.audio[0]) if p.size][3]
    at = data.index(b"\xff\xf1", pos)  # the ADTS sync word of the fourth audio packet
    data[at : at + 2] = b"\x00\x00"
    bad = tmp_path / "bad.ts"
    bad.write_bytes(bytes(data))
    out = tmp_path / "o.mp4"
    assert main(["run", str(bad), "-o", str(out), "--segments", "2", "--pipeline", str(identity_yaml)]) == 0
    assert "audio stream #1 has a damaged packet" in capsys.readouterr().err
    assert media.count_frames(out) == 30 and media.audio_duration(out) > 0.8
    strict = tmp_path / "s.mp4"
    code = main(["run", str(bad), "-o", str(strict), "--segments", "2", "--strict", "--pipeline", str(identity_yaml)])
    err = capsys.readouterr().err
    assert code == 3 and "damaged packet" in err and "(--strict); the segments are kept in" in err and not strict.exists(), err


def test_a_variable_rate_clip_joins_like_a_single_run(tmp_path, identity_yaml, capsys):
    # 30, then 15, then 60 fps: each part's encoder was given the part's own average rate, so x264
    # wrote levels 1.1 / 1.0 / 1.2 and the join refused ("encoded with different settings"), every
    # rerun again after reusing the parts (audit 20). Every part is now encoded at the input's rate
    steps = [2] * 40 + [4] * 40 + [1] * 40
    pts = [sum(steps[:i]) for i in range(len(steps))]
    clip = media.write_video(tmp_path / "vfr.mp4", frames=120, size=(160, 120), pts=pts, time_base=Fraction(1, 60), gop=20)
    one, seg = tmp_path / "one.mp4", tmp_path / "seg.mp4"
    flags = ["--pipeline", str(identity_yaml), "--crf", "4"]
    assert main(["run", str(clip), "-o", str(one), *flags]) == 0
    assert main(["run", str(clip), "-o", str(seg), *flags, "--segments", "3"]) == 0, capsys.readouterr().err
    assert "3 segments" in capsys.readouterr().err
    assert media.count_frames(seg) == media.count_frames(one) == 120
    assert media.frame_times(seg) == media.frame_times(one)  # the rate's changes kept, as a single run keeps them


def test_a_webm_output_is_segmented_in_vp9_and_an_avi_one_refused_before_any_work(tmp_path, identity_yaml, capsys):
    # .webm: the parts were H.264 (chosen for their own .mp4 name), and the join into WebM failed
    # after all the work, on every rerun; .avi: the join wrote a file with no picture, exit 0 (audit 20)
    clip = media.write_video(tmp_path / "c.mp4", frames=40, size=(160, 120), audio=True, gop=10)
    webm = tmp_path / "out.webm"
    assert main(["run", str(clip), "-o", str(webm), "--pipeline", str(identity_yaml), "--segments", "2"]) == 0
    assert "2 segments" in capsys.readouterr().err
    video = [s for s in media.probe(webm)["streams"] if s["codec_type"] == "video"]
    assert [s["codec_name"] for s in video] == ["vp9"] and media.count_frames(webm) == 40
    avi = tmp_path / "out.avi"
    assert main(["run", str(clip), "-o", str(avi), "--pipeline", str(identity_yaml), "--segments", "2"]) == 2
    err = capsys.readouterr().err
    assert "segmented runs cannot write .avi" in err and "segments" not in err.split("cannot write")[0].replace("segmented", "")
    assert not avi.exists() and not work_dir(avi).exists()  # refused before any part was cut


def test_an_open_gop_clip_says_why_it_is_one_segment(tmp_path, identity_yaml, capsys):
    # --segments 4 became "1 segments", no reason given: no resume, no parallelism, no word why (audit 20)
    clip = tmp_path / "open.mp4"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x96:rate=30", "-t", "4", "-c:v", "libx264"]
        + ["-x264-params", "open-gop=1:keyint=30:bframes=3", "-pix_fmt", "yuv420p", str(clip)],
        check=True,
    )
    out = tmp_path / "o.mp4"
    assert main(["run", str(clip), "-o", str(out), "--pipeline", str(identity_yaml), "--segments", "4"]) == 0
    err = capsys.readouterr().err
    said = re.search(r"open\.mp4: (\d) segments? instead of 4: it has (\d) places? to cut \(keyframes that start a closed", err)
    assert said and int(said[1]) == int(said[2]) + 1 < 4, err
    assert f"120 frames in {said[1]} segment" in err
    assert media.count_frames(out) == 120


def test_a_clip_with_one_keyframe_is_not_called_open_gop(tmp_path, identity_yaml, capsys):
    # a closed-GOP clip whose only keyframe is its first frame (x264 -g 1000: a screen recording, an editor's export)
    # was said to be "open-GOP encoding"
    clip = tmp_path / "one.mp4"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=30", "-t", "2", "-c:v", "libx264"]
        + ["-g", "1000", "-pix_fmt", "yuv420p", str(clip)],
        check=True,
    )
    out = tmp_path / "o.mp4"
    assert main(["run", str(clip), "-o", str(out), "--pipeline", str(identity_yaml), "--segments", "4"]) == 0
    err = capsys.readouterr().err
    assert "one.mp4: 1 segment instead of 4: it has no place to cut: its only keyframe is its first frame" in err, err
    assert "open-GOP" not in err and media.count_frames(out) == 60


def test_a_second_segmented_run_to_the_same_output_leaves_the_first_ones_work_alone(tmp_path, identity_yaml, capsys):
    """Two segmented runs to one output: the second took the first's work folder for "a different
    input", deleted it while the first ran, and the first ended pointing at files that were gone
    (audit 30). The work folder is held by one run at a time; the next one is told, then runs when it
    is let go."""
    from streamdeblur.engine.config import load_pipeline
    from streamdeblur.scaleout.plan import prepare

    first = media.write_video(tmp_path / "first.mp4", frames=24, size=(64, 48), gop=6)
    second = media.write_video(tmp_path / "second.mp4", frames=18, size=(64, 48), gop=6)
    out = tmp_path / "out.mp4"
    plan = prepare(first, out, load_pipeline(str(identity_yaml)), segments=2, warn=lambda _m: None)  # "running"
    held = sorted(p.name for p in plan.work.iterdir())
    code = main(["run", str(second), "-o", str(out), "--segments", "2", "--pipeline", str(identity_yaml)])
    err = capsys.readouterr().err
    assert code == 4 and f"process {os.getpid()}) is writing {out} in segments" in err, err
    assert sorted(p.name for p in plan.work.iterdir()) == held and not out.exists()
    plan.release()
    assert main(["run", str(second), "-o", str(out), "--segments", "2", "--pipeline", str(identity_yaml)]) == 0
    assert media.count_frames(out) == 18 and not list(tmp_path.glob("*.lock"))
