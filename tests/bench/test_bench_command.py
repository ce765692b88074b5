"""``streamdeblur bench`` as a user reads it: each table as soon as it is measured, whole in a log,
with the machine's load beside the timings, and no option silently ignored."""

from __future__ import annotations

import pytest

from streamdeblur.bench import registry
from streamdeblur.bench.registry import BenchEntry, Report
from streamdeblur.cli import main


@pytest.fixture
def fake_benches(monkeypatch):
    """Two benchmarks of ``all``: the first measures a wide table, the second fails."""

    def wide(args):
        return [Report("first table", ("clip", "value"), [("synthetic_shaky_clip_" + "x" * 60, "640×360 78/90 dropped")])]

    def broken(args):
        raise RuntimeError("the second benchmark failed")

    benches = {"wide": BenchEntry("wide", wide, "a wide table", True), "broken": BenchEntry("broken", broken, "fails", True)}
    monkeypatch.setattr(registry, "_BENCHES", benches)


def test_a_table_is_shown_when_measured_whole_and_kept_when_a_later_benchmark_fails(fake_benches, capsys):
    # `bench` (all) printed its tables only at the end: a failing last benchmark lost minutes of
    # measurements; in a log (not a terminal) rich cut the cells to "syn…", "78/…".
    assert main(["bench"]) == 1
    cap = capsys.readouterr()
    assert "synthetic_shaky_clip_" + "x" * 60 in cap.out and "640×360 78/90 dropped" in cap.out
    assert "bench wide: a wide table …" in cap.err and "the second benchmark failed" in cap.err


def test_the_bf16_benchmark_finds_the_committed_subsets_from_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # "run from the repository root" was the only way
    assert main(["bench", "--what", "bf16"]) == 0
    out = capsys.readouterr().out
    assert "bf16 vs fp32, motion" in out and "bf16 vs fp32, defocus" in out and "PSNR fp32" in out
    assert main(["bench", "--what", "bf16", "--subset", str(tmp_path / "mine.pt")]) == 1
    assert capsys.readouterr().err.strip().endswith(f"eval subset {tmp_path / 'mine.pt'} not found")


def test_options_a_benchmark_would_ignore_are_refused_or_used(capsys):
    for what, frames in (("memory", "--size"), ("bf16", "--frames"), ("scan", "--size")):  # their own sizes, silently
        assert main(["bench", "--what", what, frames, "320x240" if frames == "--size" else "4"]) == 2
        assert f"--what {what} measures " in capsys.readouterr().err
    assert main(["bench", "--what", "temporal", "--size", "64x48", "--frames", "2"]) == 0  # printed "6 frames"
    assert "64x48, R = 3, 2 frames alternated" in capsys.readouterr().out


def test_throughput_says_the_load_and_the_cpu_beside_its_timings(capsys):
    # Three runs minutes apart said "speed-up over naive" 1.45×, 0.85× and 1.42×, with nothing to tell
    # the reader the machine was busy; the naive loop and the pipeline had no warm-up, model-only had one.
    assert main(["bench", "--what", "throughput", "--size", "64x48", "--frames", "2"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "load average" in out and "one timed run each, after a warm-up" in out and "--what ladder" in out
    assert "AMD" in out or "Intel" in out or "cpu" in out.lower()
