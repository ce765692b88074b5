"""Segmented runs of windowed stages (issue 13): each segment gets its neighbours across the cuts,
so a segmented run equals a single run, frames at the cuts included."""

from __future__ import annotations

import re
from pathlib import Path

import av
import cv2
import media
import numpy as np
import pytest

import streamdeblur.scaleout.plan as plan_mod
from streamdeblur.cli import main
from streamdeblur.io.segments import plan_cuts

pytestmark = pytest.mark.usefixtures("require_ffmpeg")


def shaky(i: int, w: int, h: int) -> np.ndarray:
    """A textured still scene under hand-held shake, every third frame motion-blurred."""
    rng = np.random.default_rng(7)
    base = cv2.GaussianBlur(rng.random((h + 24, w + 24, 3)).astype(np.float32), (0, 0), 1.2)
    base = (base - base.min()) / (base.max() - base.min())
    dx, dy = 6 + 5 * np.sin(i * 1.3), 6 + 5 * np.cos(i * 0.7)
    m = np.float32([[1, 0, -dx], [0, 1, -dy]])
    img = cv2.warpAffine(base, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    if i % 3 == 1:
        k = np.zeros((9, 9), np.float32)
        k[4, :] = 1 / 9
        img = cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def decoded(path: Path) -> tuple[list[int], np.ndarray]:
    with av.open(str(path)) as c:
        frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    return [p for p, _ in frames], np.stack([a for _, a in frames])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("segctx")
    src = media.write_video(d / "in.mp4", frames=30, size=(128, 96), fps=30, gop=10, crf=14, content=shaky)
    yaml = d / "tf.yaml"
    yaml.write_text(
        "batch: 2\nstages:\n  - temporal_fusion:\n      radius: 2\n      block: 32\noutput:\n  crf: 0\n  preset: veryfast\n"
    )
    single, seg = d / "single.mp4", d / "seg.mp4"
    assert main(["run", str(src), "-o", str(single), "--pipeline", str(yaml)]) == 0
    assert main(["run", str(src), "-o", str(seg), "--pipeline", str(yaml), "--segments", "3"]) == 0
    return d, src, yaml, single, seg


def test_segmented_run_equals_single_run_at_the_cuts(runs):
    d, src, _, single, seg = runs
    specs = plan_cuts(src, segments=3)
    assert len(specs) == 3  # there are cuts to test
    pts_a, a = decoded(single)
    pts_b, b = decoded(seg)
    assert pts_a == pts_b and len(a) == 30
    _, inp = decoded(src)
    # the stage did change the frames: by 9-20 levels in places of some (the RGB round trip's own
    # rounding: 3-4 at most; this was a mean > 0.5 level, which the writer's chroma shift met alone)
    change = np.abs(a.astype(int) - inp).max(axis=(1, 2, 3))
    assert change.max() >= 9, change
    assert np.array_equal(a, b), np.abs(a.astype(int) - b).max(axis=(1, 2, 3))


def test_without_context_the_cuts_differ(runs, monkeypatch):
    # the same segmented run with the context switched off: frames next to the cuts change, so the
    # equality above is the context's doing
    d, src, yaml, single, _ = runs
    monkeypatch.setattr(plan_mod, "temporal_context", lambda cfg: (0, 0))
    out = d / "nocontext.mp4"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(yaml), "--segments", "3"]) == 0
    _, a = decoded(single)
    _, c = decoded(out)
    diff = np.abs(a.astype(int) - c).max(axis=(1, 2, 3))
    cut_frames = [s.frames for s in plan_cuts(src, segments=3)]
    first_cut = cut_frames[0]
    assert diff[first_cut - 1] > 0 or diff[first_cut] > 0
    assert diff[first_cut + 3 : first_cut + 5].max() == 0  # far from the cuts nothing changes


def test_with_memory_a_segmented_run_still_equals_a_single_run(tmp_path, monkeypatch):
    # `memory` keeps the sharpest of the last 8 frames, further back than the window (radius 1): the
    # context across a cut covers it too, and with only the window's context the frames after a cut differ
    src = media.write_video(tmp_path / "in.mp4", frames=30, size=(128, 96), fps=30, gop=10, crf=14, content=shaky)
    yaml = tmp_path / "mem.yaml"
    yaml.write_text(
        "batch: 2\nstages:\n  - temporal_fusion:\n      radius: 1\n      memory: 8\n      block: 32\n"
        "output:\n  crf: 0\n  preset: veryfast\n"
    )
    single, seg, short = tmp_path / "single.mp4", tmp_path / "seg.mp4", tmp_path / "short.mp4"
    assert main(["run", str(src), "-o", str(single), "--pipeline", str(yaml)]) == 0
    assert main(["run", str(src), "-o", str(seg), "--pipeline", str(yaml), "--segments", "3"]) == 0
    _, a = decoded(single)
    _, b = decoded(seg)
    assert np.array_equal(a, b), np.abs(a.astype(int) - b).max(axis=(1, 2, 3))
    monkeypatch.setattr(plan_mod, "temporal_context", lambda cfg: (1, 1))
    assert main(["run", str(src), "-o", str(short), "--pipeline", str(yaml), "--segments", "3"]) == 0
    _, c = decoded(short)
    assert (np.abs(a.astype(int) - c).max(axis=(1, 2, 3)) > 0).any()


def test_a_recording_across_the_clock_wrap_segments_like_a_single_run(runs):
    # An MPEG-TS recording that crosses the 26.5-hour clock wrap starts before 0: its MP4 segment
    # files got every decode time written as 0, and the first segment decoded nothing ("nothing
    # decodable in …seg-0000.src.mp4"). Now the segment files run late and the join moves them back:
    # every frame, each at the single run's time, equal at the cuts (windowed stage, context used).
    d, src, yaml, _, _ = runs
    wrap = media.across_clock_wrap(src, d / "wrap.ts")
    specs = plan_cuts(wrap, segments=3)
    assert len(specs) == 3 and specs[0].start < 0 and specs[0].shift > 0
    single, seg = d / "wrap_single.mp4", d / "wrap_seg.mp4"
    assert main(["-q", "run", str(wrap), "-o", str(single), "--pipeline", str(yaml)]) == 0
    assert main(["-q", "run", str(wrap), "-o", str(seg), "--pipeline", str(yaml), "--segments", "3"]) == 0
    pts_a, a = decoded(single)
    pts_b, b = decoded(seg)
    assert len(a) == 30 and pts_a == pts_b
    assert np.array_equal(a, b), np.abs(a.astype(int) - b).max(axis=(1, 2, 3))


def test_a_segments_progress_counts_its_own_frames_not_its_context(runs, capsys):
    # The segment file holds its context frames too (a window's neighbours beyond its cuts), which are never
    # written: a segment of 10 frames showed "4/13 frames" and an ETA for 13 (audit 11).
    d, src, yaml, _, _ = runs
    out = d / "progress.mp4"
    capsys.readouterr()
    argv = ["--progress-interval", "0.01", "run", str(src), "-o", str(out), "--pipeline", str(yaml), "--segments", "3"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    totals = {int(k): int(t) for k, t in re.findall(r"segment (\d)/3: \d+/(\d+) frames", err)}
    own = {s.index + 1: s.frames for s in plan_cuts(src, segments=3)}
    assert totals and all(totals[k] == own[k] for k in totals), (totals, own)


def test_the_resume_key_follows_the_content_of_the_weights_and_gate_files(tmp_path):
    # a batch keyed its outputs by the options' text: new weights exported to the same path, or a gate put
    # beside them, left every output "skipped (done before)" (audit 28); segment plans share the key
    from streamdeblur.engine.config import parse_pipeline
    from streamdeblur.scaleout.plan import config_fingerprint

    w = tmp_path / "mine.pt"
    w.write_bytes(b"weights, first training")
    cfg = parse_pipeline(f"stages:\n  - deblur:\n      model: deeprftv2-rt\n      weights: {w}\n")
    first = config_fingerprint(cfg)
    assert config_fingerprint(cfg) == first  # nothing changed: the same key
    w.write_bytes(b"weights, trained longer")
    second = config_fingerprint(cfg)
    assert second != first
    (tmp_path / "mine.gate.pt").write_bytes(b"a gate")
    assert config_fingerprint(cfg) not in (first, second)
