"""``streamdeblur bench`` as a user reads it: each table as soon as it is measured, whole in a log,
with the machine's load beside the timings, and no option silently ignored."""

from __future__ import annotations

import argparse

import pytest
import torch

from streamdeblur.bench import benchmarks, registry, reports
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
    for _, subset in benchmarks.BF16_TASKS.values():
        assert benchmarks.subset_path(subset, given=False).is_file()
    for task, (_, subset) in benchmarks.BF16_TASKS.items():  # each task's table, on two of its crops
        data = torch.load(benchmarks.REPOSITORY / subset, weights_only=True)
        torch.save({k: v[:2] if torch.is_tensor(v) else v for k, v in data.items()}, tmp_path / f"{task}.pt")
        assert main(["bench", "--what", "bf16", "--subset", str(tmp_path / f"{task}.pt")]) == 0
        out = capsys.readouterr().out
        assert f"bf16 vs fp32, {task}: 2 crops of 128²" in out and "PSNR fp32" in out
    assert main(["bench", "--what", "bf16", "--subset", str(tmp_path / "mine.pt")]) == 1
    assert capsys.readouterr().err.strip().endswith(f"eval subset {tmp_path / 'mine.pt'} not found")


def test_an_installed_package_measures_all_but_bf16_and_says_why(tmp_path, monkeypatch):
    """Installed from a wheel there is no tests/data: ``bench`` (all) ran its other benchmarks for
    minutes, then failed at bf16 with exit 1 and never reached the temporal one."""
    monkeypatch.setattr(benchmarks, "REPOSITORY", tmp_path)
    monkeypatch.chdir(tmp_path)
    (rep,) = reports.bf16_report(argparse.Namespace(what="all", subset=None))
    assert "not measured" in rep.rows[0][1] and "--subset FILE" in rep.rows[0][1]
    with pytest.raises(FileNotFoundError, match="not found"):  # asked for by name: the error, as before
        reports.bf16_report(argparse.Namespace(what="bf16", subset=None, device="cpu", threads=0))


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


def test_the_naive_loop_pads_frames_to_the_models_multiple(tmp_path):
    # `bench --model fdikp` at its default 640×360 ran the model-only and end-to-end contenders, then the
    # naive loop failed: "FDIKP needs H and W multiples of 16, got (360, 640); pad first" (audit 32).
    # The loop padded to 8 whatever the model; it pads to the model's multiple, as the pipeline does.
    import media

    from streamdeblur.bench.benchmarks import naive_loop

    clip = media.write_video(tmp_path / "c.mp4", frames=2, size=(40, 24))
    assert naive_loop(clip, tmp_path / "out.mp4", "fdikp", torch.device("cpu")) > 0
    assert media.count_frames(tmp_path / "out.mp4") == 2


def test_the_pipeline_rungs_run_a_defocus_model_in_the_defocus_stage():
    # `bench --model fdikp` printed "fdikp is a defocus model … use --pipeline defocus" between its tables:
    # its pipeline contender ran FDIKP in the deblur stage (audit 35)
    from streamdeblur.bench.ladder import model_stage

    assert model_stage("fdikp") == "defocus" and model_stage("deeprftv2-t") == "deblur"
    assert model_stage("deeprftv2-rt") == "deblur"
