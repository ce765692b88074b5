"""The Ray executor (issue 7): a local Ray instance, three clips, one corrupt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import media
import pytest

from streamdeblur.cli import main
from streamdeblur.engine.config import load_pipeline
from streamdeblur.scaleout.ray import run_ray, start_ray

pytestmark = pytest.mark.usefixtures("require_ffmpeg")

SLOW = "batch: 1\nstages:\n  - deblur:\n      model: deeprftv2-t\n      weights: none\n"  #: a model with random weights


def _zeroed_video(clip: Path, dest: Path) -> Path:
    """Every video packet's payload zeroed; the container is intact, so it demuxes and cuts, but
    nothing in it decodes (the failure happens on the worker, not on the driver)."""
    with av.open(str(clip)) as c:
        pkts = [(p.pos, p.size) for p in c.demux(video=0) if p.pos is not None and p.size > 0]
    data = bytearray(clip.read_bytes())
    for pos, size in pkts:
        data[pos : pos + size] = bytes(size)
    dest.write_bytes(bytes(data))
    return dest


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="the test extras install Ray")  # make test always has it
    yield start_ray(None, worker_nice=0, num_cpus=2)  # as the command starts it, on 2 CPUs
    ray.shutdown()


def _processes_below(root: int) -> dict[int, tuple[str, int]]:
    """``pid → (command line, niceness)`` of every process descending from ``root`` (ours only)."""
    table = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(d.name)] = (int(fields[1]), cmd, int(fields[16]))
    below = {}
    for pid in table:
        up = table[pid][0]
        while up in table and up != root:
            up = table[up][0]
        if up == root:
            below[pid] = table[pid][1:]
    return below


def test_worker_killed_mid_segment_is_replaced_and_the_file_completes(tmp_path, ray_local):
    clip = media.write_video(tmp_path / "a.mp4", frames=48, size=(160, 96), gop=12, audio=True)
    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW)
    out = tmp_path / "out.mp4"
    killed: list[tuple[int, int]] = []

    def on_progress(done: int, total: int, files_done: int, files: int) -> None:
        if killed or done == 0:  # wait until a worker reported frames of a segment it is still processing
            return
        for pid, (cmd, nice) in _processes_below(os.getpid()).items():
            if cmd.startswith("ray::SegmentWorker.process"):
                killed.append((pid, nice))
                os.kill(pid, signal.SIGKILL)
                return

    warnings: list[str] = []
    (oc,) = run_ray([(clip, out)], load_pipeline(str(slow)), segments=2, retries=1, warn=warnings.append, on_progress=on_progress)
    assert killed, "no worker was found processing a segment"
    assert killed[0][1] == os.nice(0)  # workers run at the command's niceness, not Ray's default 15
    assert oc.ok, (oc.error, warnings)
    assert any("worker lost" in w and "retrying (1/1)" in w for w in warnings), warnings
    assert media.count_frames(out) == 48 and media.frame_times(out) == media.frame_times(clip)


def test_ray_batch_two_good_one_corrupt(tmp_path, identity_yaml, ray_local, capsys):
    src = tmp_path / "in"
    src.mkdir()
    a = media.write_video(src / "a.mp4", frames=90, size=(192, 108), audio=True, gop=30)
    b = media.write_video(src / "b.mkv", frames=60, size=(160, 96), gop=20)
    _zeroed_video(media.write_video(tmp_path / "c.mp4", frames=60, size=(160, 96)), src / "c.mp4")
    # a photo named beside them is one image, never cut: the cluster's segment planning failed it
    # ("unknown output container '.jpg'") with or without --segments (audit 26)
    shot = tmp_path / "shot.jpg"
    assert cv2.imwrite(str(shot), media.pattern(1, 64, 48)[..., ::-1])
    out = tmp_path / "out"
    args = ["batch", str(src), str(shot), "--out-dir", str(out), "--pipeline", str(identity_yaml)]
    args += ["--executor", "ray", "--segments", "2", "--retries", "1"]
    code = main(args)
    captured = capsys.readouterr()
    assert code == 1  # one failure
    ledger = out / ".streamdeblur-batch.json"  # the batch's resume ledger (issue 18): it made exactly the three outputs
    made = ["a.mp4", "b.mkv", "shot.jpg"]
    assert sorted(p.name for p in out.iterdir() if p.is_file() and not p.name.startswith(".")) == made
    entries = json.loads(ledger.read_text())  # c.mp4 is noted as the batch's, not as done
    assert sorted(n for n, e in entries.items() if not e.get("pending")) == made and entries["c.mp4"]["pending"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["c.mp4.segments"]  # kept: a re-run resumes
    for inp, res in ((a, out / "a.mp4"), (b, out / "b.mkv")):
        assert media.count_frames(res) == media.count_frames(inp)
        assert media.frame_times(res) == media.frame_times(inp)
    assert abs(media.audio_duration(out / "a.mp4") - media.audio_duration(a)) <= 1 / 30
    assert "retrying (1/1)" in captured.err  # the corrupt clip's segment was retried once …
    table = captured.out
    assert "c.mp4" in table and "failed" in table  # … then reported, and the others finished
    assert table.count("done") == 3


def test_ray_missing_is_one_line(tmp_path, identity_yaml, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    clip = media.write_video(tmp_path / "a.mp4", frames=10, size=(128, 96))
    code = main(["run", str(clip), "-o", str(tmp_path / "o.mp4"), "--executor", "ray"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and 'pip install "streamdeblur[ray]"' in err[0]


def test_more_workers_than_the_cluster_can_start_are_cut_to_what_it_has(tmp_path, ray_local):
    # --workers 6 on 2 CPUs: 4 actors never started, the driver waited 300 s for them, then gave them
    # segments that waited forever: nothing written, no progress (audit 20)
    import threading

    clip = media.write_video(tmp_path / "a.mp4", frames=24, size=(96, 64), gop=6)
    yaml = tmp_path / "id.yaml"
    yaml.write_text("batch: 1\nstages:\n  - identity\n")
    out = tmp_path / "out.mp4"
    warnings: list[str] = []
    result: dict = {}
    cfg = load_pipeline(str(yaml))
    run = threading.Thread(
        target=lambda: result.setdefault("oc", run_ray([(clip, out)], cfg, segments=4, workers=6, warn=warnings.append)),
        daemon=True,
    )
    run.start()
    run.join(timeout=240)
    assert not run.is_alive(), f"the run hung; warnings: {warnings}"
    (oc,) = result["oc"]
    assert oc.ok, (oc.error, warnings)
    assert any("--workers 6: this Ray cluster has 2 CPUs; using 2 workers (one per CPU)" in w for w in warnings), warnings
    assert media.count_frames(out) == 24


def terminate_when(cmd: list[str], ready: Path) -> tuple[subprocess.Popen, str, str]:
    """Run ``cmd``; once ``ready`` exists (≤ 240 s) send it SIGTERM; its process, stdout and stderr."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        start = time.monotonic()
        while not ready.exists() and proc.poll() is None:
            assert time.monotonic() - start < 240, f"{ready.name} did not appear"
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc, out, err


def test_sigterm_stops_a_ray_run_with_its_segments_kept_and_says_how_to_resume(tmp_path):
    # SIGTERM (systemd, docker stop, timeout) reached Ray's own handler: a C++ stack dump, exit 134,
    # nothing from the command (audit 20); now it stops as the local executor does
    pytest.importorskip("ray", reason="the test extras install Ray")
    from streamdeblur.scaleout.plan import work_dir

    clip = media.write_video(tmp_path / "c.mp4", frames=60, size=(160, 96), gop=10)
    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW)
    out = tmp_path / "o.mp4"
    cmd = [sys.executable, "-m", "streamdeblur", "run", str(clip), "-o", str(out), "--pipeline", str(slow), "--segments", "6"]
    proc, _, err = terminate_when(cmd + ["--executor", "ray", "--workers", "1"], work_dir(out) / "seg-0000.mp4")
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM): the finished segments are kept" in err and "run the same command again to resume" in err
    assert "*** SIGTERM" not in err and "Traceback" not in err, err
    assert not out.exists() and (work_dir(out) / "seg-0000.mp4").exists()


def test_a_ray_batch_stopped_midway_keeps_its_finished_files_noted_done(tmp_path):
    # Ctrl-C/SIGTERM after a file was joined: the ledger still called it pending (the outcomes came only
    # at the end), the table was not printed, and the next run made it again (audit 20)
    pytest.importorskip("ray", reason="the test extras install Ray")
    src = tmp_path / "in"
    src.mkdir()
    media.write_video(src / "a.mp4", frames=6, size=(96, 64), gop=6)
    media.write_video(src / "b.mp4", frames=20, size=(96, 64), gop=5)
    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "streamdeblur", "batch", str(src), "--out-dir", str(out), "--pipeline", str(slow)]
    cmd += ["--executor", "ray", "--workers", "1", "--segments", "3"]
    proc, table, err = terminate_when(cmd, out / "a.mp4")
    assert proc.returncode == 143, err
    entries = json.loads((out / ".streamdeblur-batch.json").read_text())
    assert not entries["a.mp4"].get("pending") and entries["b.mp4"].get("pending"), entries
    assert "a.mp4" in table and "done" in table and "interrupted" in table, table  # the table, with what was kept
    rerun = subprocess.run(cmd, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert "skipped (done before)" in rerun.stdout and media.count_frames(out / "b.mp4") == 20
