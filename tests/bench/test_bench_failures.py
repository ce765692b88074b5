"""``streamdeblur bench`` says what it could not measure: train-memory's impossible settings are refused
before any child process starts, a child that fails is an error (not a table of "killed", exit 0), and
``--what live --clips`` skips a clip it cannot read, names it and exits 3."""

from __future__ import annotations

import queue
import shutil

import media
import pytest

from streamdeblur.cli import main


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "args, says",
    [
        (["--crop", "95"], "--crop 95: train-memory's crops must be a multiple of 8"),
        (["--model", "fdikp"], "--model fdikp: train-memory compares recomputation in backward (save_memory)"),
        (["--model", "nosuch"], "unknown model 'nosuch'"),
    ],
)
def test_train_memory_refuses_what_it_cannot_measure_up_front(capsys, args, says):
    assert main(["bench", "--what", "train-memory", *args]) == 2
    err = _err(capsys)
    assert says in err and err.count("error:") == 1, err


def test_train_memory_measures_a_real_batch_by_default(capsys):
    # --batch 0 (the default) ran the step on an empty batch: both children failed, the table said "killed", exit 0
    assert main(["bench", "--what", "train-memory", "--crop", "64"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "batch 2 × 64²" in out and "killed" not in out and "failed" not in out, out


def test_a_failed_training_step_child_says_why_and_the_command_exits_1(monkeypatch, capsys):
    from streamdeblur.bench import benchmarks

    q: queue.Queue = queue.Queue()
    benchmarks._train_step_child("deeprftv2-t", False, 0, 64, q)  # an empty batch: the child's own error, one line
    got = q.get_nowait()
    assert set(got) == {"error"} and got["error"].startswith("store: ") and "\n" not in got["error"], got
    failed = {"peak_mib": "failed", "increase_mib": 0, "step_s": ""}
    result = {"batch": 2, "crop": 64, "store": failed, "recompute": failed, "ratio": float("nan"), "errors": [got["error"]]}
    monkeypatch.setattr(benchmarks, "train_memory_bench", lambda args: result)
    assert main(["bench", "--what", "train-memory", "--crop", "64"]) == 1
    cap = capsys.readouterr()
    assert "failed" in cap.out and cap.err.strip().endswith(f"error: {got['error']}"), cap


def test_a_live_clip_that_cannot_be_read_is_skipped_and_named(tmp_path, capsys):
    # one damaged clip ended the benchmark with a raw "[Errno 1094995529] Invalid data …"
    from streamdeblur.bench.live import _clips

    clips = media.tiny_devset(tmp_path / "clips", frames=4)
    (clips / "broken.blurry.mp4").write_bytes(b"not a video" * 100)
    shutil.copy(clips / "tiny.sharp.mkv", clips / "broken.sharp.mkv")
    skipped: list[str] = []
    found = _clips(str(clips), "640x360", skipped)
    assert [name for name, *_ in found] == ["tiny"] and len(found[0][1]) == 4
    assert skipped == [f"broken: cannot read {clips / 'broken.blurry.mp4'}: " + skipped[0].split(": ", 2)[2]], skipped
    (clips / "tiny.blurry.mp4").unlink()  # only the damaged clip left: nothing is streamed, the error is said
    assert main(["bench", "--what", "live", "--clips", str(clips)]) == 3
    err = _err(capsys)
    assert err.endswith("error: 1 of 1 clips could not be read and were skipped: broken") and err.count("error:") == 1, err
