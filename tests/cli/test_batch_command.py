"""Batch as a video person expects (issue 18): reasons on failed rows, resume keyed by input and
pipeline, truncated inputs flagged, full paths, stable row order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import media
import pytest

from streamdeblur.cli import main
from streamdeblur.stages import register_stage
from streamdeblur.stages.base import Stage


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt in this process for the test, as from a terminal (a shell's
    background job without job control, `make test &`, starts with SIGINT ignored)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def _table(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if "│" in ln or "|" in ln]


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    media.write_video(d / "a.mp4", frames=4, size=(96, 64))
    (d / "b_notes.mp4").write_text("these are my notes, not a video\n")
    media.write_video(d / "c.mp4", frames=4, size=(96, 64))
    return d


def test_failed_row_gives_ffmpegs_reason_once(tmp_path, folder, identity_yaml, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "out"
    code = main(["batch", str(folder), "--out-dir", str(out), "--pipeline", str(identity_yaml)])
    text = capsys.readouterr()
    assert code == 1
    every = text.out + text.err
    assert "Errno" not in every and "see above" not in every
    row = [ln for ln in _table(text.out) if "b_notes.mp4" in ln]
    assert len(row) == 1 and "Invalid data found when processing input" in row[0], row
    assert row[0].count("b_notes.mp4") == 1


def test_resume_is_keyed_by_input_and_pipeline_and_rows_keep_their_order(tmp_path, folder, identity_yaml, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    (folder / "b_notes.mp4").unlink()
    out = tmp_path / "out"
    args = ["batch", str(folder), "--out-dir", str(out)]
    assert main([*args, "--pipeline", str(identity_yaml)]) == 0
    capsys.readouterr()
    (out / "a.mp4").unlink()  # one output lost: redone; the other reused
    assert main([*args, "--pipeline", str(identity_yaml)]) == 0
    rows = _table(capsys.readouterr().out)
    names = [r for r in rows if "a.mp4" in r or "c.mp4" in r]
    assert "a.mp4" in names[0] and "done" in names[0] and "skipped" not in names[0]
    assert "c.mp4" in names[1] and "skipped" in names[1]
    other = tmp_path / "other.yaml"
    other.write_text("stages:\n  - unsharp\noutput:\n  crf: 16\n  preset: veryfast\n")
    assert main([*args, "--pipeline", str(other)]) == 0
    rows = _table(capsys.readouterr().out)
    assert not any("skipped" in r for r in rows), rows


def test_truncated_input_is_flagged_and_paths_are_whole(tmp_path, identity_yaml, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    d = tmp_path / "a_rather_long_folder_name_for_the_inputs"
    d.mkdir()
    src = media.write_video(tmp_path / "src.mp4", frames=30, size=(96, 64))
    fast = d / "cut.mp4"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-i", str(src), "-c", "copy", "-movflags", "+faststart", str(tmp_path / "f.mp4")],
        check=True,
    )
    data = (tmp_path / "f.mp4").read_bytes()
    fast.write_bytes(data[: len(data) * 6 // 10])
    out = tmp_path / "an_output_folder_whose_name_is_long_enough_to_need_care" / "deblurred"
    assert main(["batch", str(d), "--out-dir", str(out), "--pipeline", str(identity_yaml)]) == 0
    text = capsys.readouterr().out
    assert "input ended early" in text
    assert str(out) in text and "…" not in text


def test_photos_given_by_name_come_out_as_photos(tmp_path, identity_yaml, capsys):
    # a shell glob of photos hands batch each file by name: each comes out as one image of its own
    # name and format (it used to be a one-frame .mp4)
    import cv2
    import numpy as np

    shots = tmp_path / "shots"
    shots.mkdir()
    for i, name in enumerate(("a.png", "b.jpg")):
        assert cv2.imwrite(str(shots / name), media.pattern(i, 64, 48)[..., ::-1])
    out = tmp_path / "out"
    photos = [str(shots / "a.png"), str(shots / "b.jpg")]
    assert main(["batch", *photos, "--out-dir", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a.png", "b.jpg"]
    # --suffix .mp4 (for the videos among them) turned each photo into a one-frame H.264 video
    clip = media.write_video(shots / "c.mov", frames=3, size=(64, 48))
    out2 = tmp_path / "out2"
    capsys.readouterr()
    assert main(["batch", *photos, str(clip), "--out-dir", str(out2), "--pipeline", str(identity_yaml), "--suffix", ".mp4"]) == 0
    assert sorted(p.name for p in out2.iterdir() if not p.name.startswith(".")) == ["a.png", "b.jpg", "c.mp4"]
    assert "--suffix .mp4 is for videos: photos keep their own format (a.png and 1 more)" in capsys.readouterr().err
    assert cv2.imread(str(out2 / "a.png")).shape == (48, 64, 3)
    # and --suffix .jpg (for the photos) made the video fail: "c.jpg is one image file, but the input is not one image"
    out3 = tmp_path / "out3"
    assert main(["batch", *photos, str(clip), "--out-dir", str(out3), "--pipeline", str(identity_yaml), "--suffix", ".jpg"]) == 0
    assert sorted(p.name for p in out3.iterdir() if not p.name.startswith(".")) == ["a.jpg", "b.jpg", "c.mov"]
    assert "--suffix .jpg is for photos: videos keep their own container (c.mov)" in capsys.readouterr().err
    assert media.count_frames(out3 / "c.mov") == 3
    assert np.array_equal(cv2.imread(str(out / "a.png")), cv2.imread(str(shots / "a.png")))


def test_same_names_from_two_cards_never_share_an_output(tmp_path, identity_yaml, capsys, monkeypatch):
    """GoPro and phone names repeat across cards and days: each input gets its own output, and a re-run resumes both."""
    monkeypatch.setenv("COLUMNS", "200")
    sizes = {"card1": (96, 64), "card2": (128, 96)}
    for card, size in sizes.items():
        (tmp_path / card).mkdir()
        media.write_video(tmp_path / card / "GX010001.MP4", frames=3, size=size)
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "card*" / "GX010001.MP4"), "--out-dir", str(out), "--pipeline", str(identity_yaml)]
    assert main(args) == 0
    capsys.readouterr()
    for card, (w, h) in sizes.items():
        stream = next(s for s in media.probe(out / card / "GX010001.mp4")["streams"] if s["codec_type"] == "video")
        assert (int(stream["width"]), int(stream["height"])) == (w, h), card
    assert not (out / "GX010001.mp4").exists()
    assert main(args) == 0
    rows = _table(capsys.readouterr().out)
    assert sum("skipped" in r for r in rows) == 2, rows


def test_the_next_cards_clip_of_a_name_never_replaces_an_earlier_batchs_output(tmp_path, identity_yaml, capsys, monkeypatch):
    """Card 1 today, card 2 tomorrow, one --out-dir: the names repeat. The second batch took the first
    one's record of GX010001.mp4 as "the input changed" and replaced the output, hours of work, silently."""
    monkeypatch.setenv("COLUMNS", "250")
    for card, frames in (("card1", 3), ("card2", 5)):
        (tmp_path / card).mkdir()
        media.write_video(tmp_path / card / "GX010001.MP4", frames=frames, size=(96, 64))
    out = tmp_path / "out"
    one = ["batch", str(tmp_path / "card1" / "GX010001.MP4"), "--out-dir", str(out), "--pipeline", str(identity_yaml)]
    two = ["batch", str(tmp_path / "card2" / "GX010001.MP4"), "--out-dir", str(out), "--pipeline", str(identity_yaml)]
    assert main(one) == 0
    capsys.readouterr()
    assert main(two) == 1
    text = " ".join(capsys.readouterr().out.split())
    assert f"GX010001.mp4 exists, made from {(tmp_path / 'card1' / 'GX010001.MP4').resolve()}; pass --overwrite" in text, text
    assert media.count_frames(out / "GX010001.mp4") == 3  # card 1's clip, kept
    assert main(one) == 0 and "skipped" in capsys.readouterr().out  # the first card still resumes
    assert main([*two, "--overwrite"]) == 0
    assert media.count_frames(out / "GX010001.mp4") == 5


def test_a_folder_is_read_recursively_and_mirrored_but_never_its_own_outputs(tmp_path, identity_yaml, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    src = tmp_path / "footage"
    (src / "day1").mkdir(parents=True)
    (src / "day2").mkdir()
    media.write_video(src / "top.mp4", frames=3, size=(96, 64))
    media.write_video(src / "day1" / "clip.mp4", frames=3, size=(96, 64))
    media.write_video(src / "day1" / "clip.avi", frames=5, size=(96, 64), codec="mpeg4")  # same stem: clip.avi.mp4
    media.write_video(src / "day2" / "clip.mp4", frames=4, size=(96, 64))
    out = src / "deblurred"  # inside the folder it reads
    args = ["batch", str(src), "--out-dir", str(out), "--pipeline", str(identity_yaml)]
    assert main(args) == 0
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert made == ["day1/clip.avi.mp4", "day1/clip.mp4", "day2/clip.mp4", "top.mp4"]
    assert media.count_frames(out / "day1" / "clip.avi.mp4") == 5 and media.count_frames(out / "day2" / "clip.mp4") == 4
    capsys.readouterr()
    assert main(args) == 0  # the outputs, now inside footage/, are not inputs
    rows = _table(capsys.readouterr().out)
    assert sum("skipped" in r for r in rows) == 4 and not any("deblurred" in r.split("│")[1] for r in rows if "│" in r), rows
    # a glob that matches folders reads them the same way (and never the output folder)
    assert main(["batch", str(src / "*"), "--out-dir", str(out), "--pipeline", str(identity_yaml)]) == 0
    rows = _table(capsys.readouterr().out)
    assert sum("skipped" in r for r in rows) == 4 and len([r for r in rows if "clip" in r or "top" in r]) == 4, rows
    # nor an earlier batch's output folder, when a later one writes elsewhere (it deblurred them again)
    other = tmp_path / "elsewhere"
    assert main(["batch", str(src), "--out-dir", str(other), "--pipeline", str(identity_yaml)]) == 0
    made = sorted(p.relative_to(other).as_posix() for p in other.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert made == ["day1/clip.avi.mp4", "day1/clip.mp4", "day2/clip.mp4", "top.mp4"], made


def test_out_dir_the_inputs_own_folder_is_refused_in_plain_words(tmp_path, identity_yaml, capsys, monkeypatch):
    """``--out-dir`` the folder the inputs are in, with ``--overwrite``: every output path is its
    input's. The refusal is right; its row read "output the input is the input file"."""
    monkeypatch.setenv("COLUMNS", "200")
    d = tmp_path / "clips"
    d.mkdir()
    clip = media.write_video(d / "s.mp4", frames=3, size=(96, 64))
    before = clip.read_bytes()
    code = main(["batch", str(d), "--out-dir", str(d), "--overwrite", "--suffix", "", "--pipeline", str(identity_yaml)])
    text = capsys.readouterr()
    assert code != 0 and clip.read_bytes() == before
    every = text.out + text.err
    assert "output the input" not in every
    assert "its output would be the input file itself; refusing to overwrite it" in every
    # the same without --overwrite: it suggested --overwrite, which was then refused as above
    code = main(["batch", str(d), "--out-dir", str(d), "--suffix", "", "--pipeline", str(identity_yaml)])
    text = capsys.readouterr()
    assert code != 0 and clip.read_bytes() == before
    assert "refusing to overwrite it (choose another --out-dir)" in text.out and "pass --overwrite" not in text.out


def test_photos_in_a_folder_are_said_not_taken(tmp_path, identity_yaml, capsys, monkeypatch):
    """A folder gives its videos; its photos were left out without a word (not processed, not in
    the table). They are named in one warning, and a photo named itself is still taken."""
    import cv2
    import numpy as np

    monkeypatch.setenv("COLUMNS", "200")
    d = tmp_path / "card"
    d.mkdir()
    media.write_video(d / "a.mp4", frames=3, size=(96, 64))
    for n in ("img1.png", "img2.jpg"):
        cv2.imwrite(str(d / n), np.full((64, 96, 3), 128, np.uint8))
    assert main(["batch", str(d), "--out-dir", str(tmp_path / "out"), "--pipeline", str(identity_yaml)]) == 0
    err = capsys.readouterr().err
    first = (d / "img1.png").as_posix()
    assert f"warning: not taken: 2 photo(s) ({first} and 1 more): folders and globs give their videos" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == ["a.mp4"]
    (d / "a.mp4").unlink()  # a folder of photos only (an iPhone's HEICs): what to do instead is said
    assert main(["batch", str(d), "--out-dir", str(tmp_path / "out2"), "--pipeline", str(identity_yaml)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "or process a folder of photos with 'streamdeblur run FOLDER -o OUT/'" in err
    assert err.endswith("error: no input files found (no videos; the photos were not taken: see above)")


def test_an_unknown_suffix_is_a_usage_error_before_any_file(tmp_path, folder, identity_yaml, capsys):
    """``--suffix .gif`` failed file after file (exit 1 each) where ``run -o x.gif`` refuses at once."""
    from streamdeblur.io.sinks.base import FORMAT_BY_SUFFIX

    out = tmp_path / "out"
    assert main(["batch", str(folder), "--out-dir", str(out), "--suffix", ".gif", "--pipeline", str(identity_yaml)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "streamdeblur: error: --suffix .gif: unknown output container; use one of "
        + ", ".join(FORMAT_BY_SUFFIX)
        + " (for photos: .bmp, .heic, .heif, .jfif, .jpe, .jpeg, .jpg, .png, .tif, .tiff, .webp)"
    ]
    assert not out.exists()


def test_an_emptied_output_is_redone_and_an_out_dir_that_is_a_file_is_one_line(tmp_path, identity_yaml, capsys):
    # a 0-byte output (a full disk, a sync tool) was skipped as done; --out-dir naming a file gave
    # "[Errno 17]" and exit 1
    src = media.write_video(tmp_path / "a.mp4", frames=3, size=(64, 48))
    out = tmp_path / "out"
    args = ["batch", str(src), "--out-dir", str(out), "--pipeline", str(identity_yaml)]
    assert main(args) == 0
    (out / "a.mp4").write_bytes(b"")
    capsys.readouterr()
    assert main(args) == 0
    assert "skipped" not in capsys.readouterr().out and media.count_frames(out / "a.mp4") == 3
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    assert main(["batch", str(src), "--out-dir", str(blocker), "--pipeline", str(identity_yaml)]) == 4
    assert capsys.readouterr().err.strip() == f"streamdeblur: error: --out-dir {blocker} is a file, not a folder"


def test_a_logged_summary_keeps_each_file_name_on_one_line(tmp_path, identity_yaml, capsys, monkeypatch):
    # piped into a log, the table was wrapped at 80 columns: "…/GX010001_a_long_clip_na" / "me.mp4",
    # and grep for a file name found nothing
    monkeypatch.setenv("COLUMNS", "80")
    name = "GX010001_a_long_clip_name_from_an_action_camera_card_of_last_summer.mp4"
    src = media.write_video(tmp_path / name, frames=2, size=(64, 48))
    out = tmp_path / "deblurred_outputs_of_the_whole_summer"
    assert main(["batch", str(src), "--out-dir", str(out), "--pipeline", str(identity_yaml)]) == 0
    rows = [r for r in _table(capsys.readouterr().out) if name in r]
    assert len(rows) == 1 and "done" in rows[0] and rows[0].count(name) == 2, rows


def test_an_interrupted_segmented_file_points_at_its_kept_segments(tmp_path):
    # Ctrl-C during a segmented file: the output column named "seg-0001.partial.mp4", a file that is
    # not in --out-dir (it is in OUT/clip.mp4.segments/)
    (tmp_path / "in").mkdir()
    src = media.write_video(tmp_path / "in" / "clip.mp4", frames=40, size=(64, 48), gop=10)
    slow = tmp_path / "slow.yaml"  # an unweighted model: slow enough to be stopped in the second segment
    slow.write_text("batch: 1\nstages:\n  - deblur:\n      model: deeprftv2-t\n      weights: none\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "streamdeblur", "batch", str(src), "--out-dir", str(out), "--pipeline", str(slow)]
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen([*cmd, "--segments", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 240
    while not (out / "clip.mp4.segments" / "seg-0000.mp4").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    row = [r for r in _table(stdout) if "clip.mp4" in r]
    assert len(row) == 1 and "interrupted" in row[0], stdout
    assert "clip.mp4.segments/" in row[0] and "the same command resumes" in row[0] and "partial" not in row[0], row
    assert (out / "clip.mp4.segments" / "seg-0000.mp4").exists()


def test_ctrl_c_between_two_segments_still_ends_with_the_summary(tmp_path, identity_yaml, capsys, monkeypatch, ctrl_c_raises):
    # Ctrl-C that came after one segment was finished and before the next one started was not the
    # pipeline's to handle: the batch died with "interrupted" and no summary at all (exit 130)
    from streamdeblur.scaleout.plan import SegmentPlan

    real = SegmentPlan.mark_done

    def then_ctrl_c(self, i):
        real(self, i)
        if i == 0:
            os.kill(os.getpid(), signal.SIGINT)  # the real signal, delivered between segments

    monkeypatch.setattr(SegmentPlan, "mark_done", then_ctrl_c)
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "in").mkdir()
    src = media.write_video(tmp_path / "in" / "clip.mp4", frames=40, size=(64, 48), gop=10)
    out = tmp_path / "out"
    code = main(["batch", str(src), "--out-dir", str(out), "--pipeline", str(identity_yaml), "--segments", "4"])
    assert code == 130
    row = [r for r in _table(capsys.readouterr().out) if "clip.mp4" in r]
    assert len(row) == 1 and "interrupted" in row[0] and "clip.mp4.segments/" in row[0], row


def test_ctrl_c_as_a_segmented_file_is_published_leaves_it_done(tmp_path, identity_yaml, capsys, monkeypatch, ctrl_c_raises):
    # A stop between publishing the joined output and noting it in the ledger (SIGTERM as the file
    # appeared: a flaky Ray test caught it) left a whole output the ledger called unfinished; the next
    # run refused it as "not made by this batch". The join and the note now happen before the stop.
    from streamdeblur.scaleout import plan as local  # the local executor imports finish from plan when it joins

    real = local.finish

    def then_ctrl_c(plan, **kw):
        joined = real(plan, **kw)
        os.kill(os.getpid(), signal.SIGINT)  # the real signal, the moment the output has its name
        return joined

    monkeypatch.setattr(local, "finish", then_ctrl_c)
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "in").mkdir()
    src = media.write_video(tmp_path / "in" / "clip.mp4", frames=20, size=(64, 48), gop=10)
    out = tmp_path / "out"
    args = ["batch", str(src), "--out-dir", str(out), "--pipeline", str(identity_yaml), "--segments", "2"]
    assert main(args) == 130
    capsys.readouterr()
    assert media.count_frames(out / "clip.mp4") == 20
    monkeypatch.setattr(local, "finish", real)
    assert main(args) == 0  # not "clip.mp4 exists and was not made by this batch"
    row = [r for r in _table(capsys.readouterr().out) if "clip.mp4" in r]
    assert len(row) == 1 and "skipped (done before)" in row[0], row


class ReachedTheDefault(Exception):
    """SIGTERM found no handler of the batch's: from a shell, the batch would have died on the spot."""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_as_a_file_is_published_leaves_it_done_and_the_rest_not_started(
    tmp_path, folder, identity_yaml, capsys, monkeypatch, ctrl_c_raises, sig
):
    # The same for a file run whole: the pipeline named its output, then a stop came before the ledger
    # noted it. SIGTERM (and SIGHUP) there, between the files' own handling, killed the batch on the spot:
    # no summary, exit -15 (audit 35); it stops as Ctrl-C does, exit 143.
    from streamdeblur.cli import batch

    real = batch.run_job

    def then_stop(job, label, **kw):
        result = real(job, label, **kw)
        os.kill(os.getpid(), sig)
        return result

    def default(signum, frame):
        raise ReachedTheDefault

    monkeypatch.setattr(batch, "run_job", then_stop)
    monkeypatch.setenv("COLUMNS", "200")
    (folder / "b_notes.mp4").unlink()
    out = tmp_path / "out"
    args = ["batch", str(folder), "--out-dir", str(out), "--pipeline", str(identity_yaml)]
    before = signal.signal(signal.SIGTERM, default)  # what the batch found: the default, made visible
    try:
        assert main(args) == 128 + sig
    finally:
        signal.signal(signal.SIGTERM, before)
    rows = _table(capsys.readouterr().out)
    first, second = (next(r for r in rows if name in r) for name in ("a.mp4", "c.mp4"))
    assert " done " in first and "not started" in second, rows
    monkeypatch.setattr(batch, "run_job", real)
    assert main(args) == 0
    rows = _table(capsys.readouterr().out)
    assert "skipped (done before)" in next(r for r in rows if "a.mp4" in r), rows


def test_a_second_batch_into_a_folder_another_batch_is_writing_is_refused(tmp_path, folder, identity_yaml, capsys):
    # Two batches into one --out-dir wrote each other's files (one output: crf 18's size, crf 35's
    # header) and each rewrote the ledger from its own copy, dropping the other's entries: every output
    # of the other batch then failed "not made by this batch" (audit 9).
    from streamdeblur.cli.batch import Ledger

    (folder / "b_notes.mp4").unlink()
    out = tmp_path / "out"
    out.mkdir()
    held = Ledger.lock(out)  # what a running batch holds (an flock, another open file: it conflicts here too)
    try:
        code = main(["batch", str(folder), "--out-dir", str(out), "--pipeline", str(identity_yaml)])
    finally:
        os.close(held)
    text = capsys.readouterr()
    assert code == 4 and f"another streamdeblur batch (process {os.getpid()}) is writing into {out}" in text.err
    assert sorted(p.name for p in out.iterdir()) == [Ledger.LOCK]  # nothing written
    assert main(["batch", str(folder), "--out-dir", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert media.count_frames(out / "a.mp4") == 4 and media.count_frames(out / "c.mp4") == 4
    assert not (out / Ledger.LOCK).exists()  # a finished batch leaves its outputs and ledger only (audit 25)
    held = Ledger.lock(out)  # and the folder can be held again
    Ledger.unlock(out, held)


def test_the_same_batch_into_the_inputs_own_folder_twice_never_takes_its_own_outputs(
    tmp_path, identity_yaml, capsys, monkeypatch
):
    # Run 2 took its own a.mp4 as an input, then redid a.mkv into a new a.mkv.mp4 (the names now
    # clashed); run 3 refused everything (audit 9).
    monkeypatch.setenv("COLUMNS", "200")
    d = tmp_path / "clips"
    d.mkdir()
    media.write_video(d / "a.mkv", frames=3, size=(96, 64))
    args = ["batch", str(d), "--out-dir", str(d), "--suffix", ".mp4", "--pipeline", str(identity_yaml)]
    assert main(args) == 0
    made = (d / "a.mp4").read_bytes()
    capsys.readouterr()
    for _ in range(2):
        assert main(args) == 0
        rows = _table(capsys.readouterr().out)
        assert len([r for r in rows if ".mkv" in r or ".mp4" in r]) == 1 and "skipped (done before)" in rows[-1], rows
    assert (d / "a.mp4").read_bytes() == made
    assert sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) == ["a.mkv", "a.mp4"]


def test_a_glob_gives_the_videos_it_matches_not_notes_nor_an_earlier_batchs_outputs(tmp_path, identity_yaml, capsys, monkeypatch):
    # 'src/*' took readme.txt as a video (the batch failed) and deblurred an earlier batch's output
    # folder again, which a folder argument skips (audit 9).
    monkeypatch.setenv("COLUMNS", "200")
    src = tmp_path / "src"
    src.mkdir()
    media.write_video(src / "a.mp4", frames=3, size=(96, 64))
    (src / "readme.txt").write_text("shot on the pier\n")
    assert main(["batch", str(src / "a.mp4"), "--out-dir", str(src / "out"), "--pipeline", str(identity_yaml)]) == 0
    capsys.readouterr()
    assert main(["batch", str(src / "*"), "--out-dir", str(tmp_path / "out2"), "--pipeline", str(identity_yaml)]) == 0
    rows = [r for r in _table(capsys.readouterr().out) if ".mp4" in r or ".txt" in r]
    assert len(rows) == 1 and "a.mp4" in rows[0] and "done" in rows[0], rows
    assert sorted(p.name for p in (tmp_path / "out2").iterdir() if not p.name.startswith(".")) == ["a.mp4"]
    notes = tmp_path / "notes"  # a glob that names its kind takes what it names, as before
    notes.mkdir()
    (notes / "x.vid").write_text("not a video\n")
    assert main(["batch", str(notes / "*.vid"), "--out-dir", str(tmp_path / "out3"), "--pipeline", str(identity_yaml)]) == 1


def test_a_ledger_that_cannot_be_written_fails_its_files_before_they_run_and_the_summary_comes(
    tmp_path, folder, identity_yaml, capsys, monkeypatch
):
    # A ledger write that failed (a full disk) stopped the whole batch with a bare "[Errno 28]", no
    # summary, the other files never tried; the output just finished then counted as "not made by
    # this batch" for good (audit 9). Each file is now noted before it runs: a failing ledger fails
    # it there, the summary says why, the next run does it.
    from streamdeblur.cli.batch import Ledger

    monkeypatch.setenv("COLUMNS", "200")
    (folder / "b_notes.mp4").unlink()
    out = tmp_path / "out"
    out.mkdir()
    blocker = out / (Ledger.NAME + ".partial")
    blocker.mkdir()  # the ledger's temporary file cannot be written: a real OSError (Is a directory)
    code = main(["batch", str(folder), "--out-dir", str(out), "--pipeline", str(identity_yaml)])
    text = capsys.readouterr()
    assert code == 1 and "Errno" not in text.out + text.err
    rows = [r for r in _table(text.out) if ".mp4" in r]
    assert len(rows) == 2 and all("cannot write the batch's ledger" in r and "Is a directory" in r for r in rows), rows
    assert not (out / "a.mp4").exists() and not (out / "c.mp4").exists()  # nothing processed for nothing
    blocker.rmdir()
    assert main(["batch", str(folder), "--out-dir", str(out), "--pipeline", str(identity_yaml)]) == 0
    (out / Ledger.NAME).write_text('{"a.mp4": {"input": ')  # cut short
    code = main(["batch", str(folder), "--out-dir", str(out), "--pipeline", str(identity_yaml)])
    text = capsys.readouterr()
    assert code == 1 and "cannot be read: cut short or damaged" in text.err and "--overwrite redoes them" in text.err


def test_an_interrupted_batch_lists_the_files_it_never_started(
    tmp_path, folder, identity_yaml, capsys, monkeypatch, ctrl_c_raises
):
    # The summary after Ctrl-C listed only the files done and the one interrupted (audit 9).
    from streamdeblur.cli import batch

    monkeypatch.setenv("COLUMNS", "200")
    (folder / "b_notes.mp4").unlink()
    for name in ("d.mp4", "e.mp4"):
        media.write_video(folder / name, frames=3, size=(96, 64))
    real, calls = batch.run_job, []

    def ctrl_c_on_the_second(job, label, **kw):
        calls.append(label)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # the real signal, while the second file starts
        return real(job, label, **kw)

    monkeypatch.setattr(batch, "run_job", ctrl_c_on_the_second)
    code = main(["batch", str(folder), "--out-dir", str(tmp_path / "out"), "--pipeline", str(identity_yaml)])
    assert code == 130
    rows = {r.split("│")[1].strip(): r for r in _table(capsys.readouterr().out) if ".mp4" in r}
    assert "done" in rows["a.mp4"] and "interrupted" in rows["c.mp4"], rows
    assert all("not started" in rows[n] for n in ("d.mp4", "e.mp4")), rows


def test_a_file_redone_by_a_batch_leaves_no_partial_of_an_earlier_interrupted_run(tmp_path, folder, identity_yaml, capsys):
    # Each run writes a new temporary file: an interrupted run's kept partial would stay beside the
    # finished output for good; the batch removes its own (that name pattern only) once the file is done.
    (folder / "b_notes.mp4").unlink()
    out = tmp_path / "out"
    out.mkdir()
    media.write_video(out / "c.0a1b2c.partial.mp4", frames=2, size=(96, 64))  # what Ctrl-C on an earlier run kept
    (out / "c.partial.mp4").write_bytes(b"a file of the user's")
    assert main(["batch", str(folder), "--out-dir", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a.mp4", "c.mp4", "c.partial.mp4"]


def test_a_folder_of_camcorder_and_phone_clips_is_found(tmp_path, identity_yaml, capsys, monkeypatch):
    # AVCHD camcorders write .m2ts, old phones .3gp: a folder of them was "no input files found".
    monkeypatch.setenv("COLUMNS", "200")
    src = tmp_path / "card"
    src.mkdir()
    for name, fmt in (("00001.m2ts", "mpegts"), ("VID_0001.3gp", "3gp")):
        cmd = [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=96x64:r=25:d=0.2", "-c:v", "libx264"]
        subprocess.run([*cmd, "-pix_fmt", "yuv420p", "-f", fmt, str(src / name)], check=True)
    assert main(["batch", str(src), "--out-dir", str(tmp_path / "out"), "--pipeline", str(identity_yaml)]) == 0
    assert media.count_frames(tmp_path / "out" / "00001.mp4") == 5 and media.count_frames(tmp_path / "out" / "VID_0001.mp4") == 5


def test_a_file_that_fails_again_leaves_no_pile_of_partials(tmp_path, folder, identity_yaml, capsys):
    # Each rerun of a file that kept failing added one more NAME.<hex>.partial.mp4 (audit 11): a failed
    # file keeps at most the partial of its last run, the one its row names.
    out = tmp_path / "out"
    out.mkdir()
    media.write_video(out / "b_notes.0a1b2c.partial.mp4", frames=2, size=(96, 64))  # an earlier run's
    assert main(["batch", str(folder), "--out-dir", str(out), "--pipeline", str(identity_yaml)]) == 1
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a.mp4", "c.mp4"]


def test_an_unreadable_photo_is_said_in_its_row_in_plain_words(tmp_path, identity_yaml, capsys, monkeypatch):
    # the row read "cannot read image the input (HEIF: …)": the path taken out of the middle of the sentence
    monkeypatch.setenv("COLUMNS", "250")
    bad = tmp_path / "IMG_0001.HEIC"
    bad.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 40)
    assert main(["batch", str(bad), "--out-dir", str(tmp_path / "out"), "--pipeline", str(identity_yaml)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "cannot read the image (HEIF: " in out and "image the input" not in out, out


def test_a_lock_file_removed_while_it_was_being_taken_is_taken_afresh(tmp_path, monkeypatch):
    # a finishing batch removes its lock file while it still holds it: a batch that had opened that file
    # just before would hold a lock on nothing, and a third one could take the folder beside it
    import fcntl

    from streamdeblur.cli.batch import Ledger

    real, taken = fcntl.flock, []

    def flock(fd, op):
        real(fd, op)
        if not taken:  # the other batch's unlink, between our open and our lock
            taken.append(fd)
            os.unlink(tmp_path / Ledger.LOCK)

    monkeypatch.setattr(fcntl, "flock", flock)
    fd = Ledger.lock(tmp_path)
    try:
        assert taken and os.fstat(fd).st_ino == os.stat(tmp_path / Ledger.LOCK).st_ino
    finally:
        Ledger.unlock(tmp_path, fd)
    assert not (tmp_path / Ledger.LOCK).exists()


def test_a_segmented_batch_redoes_its_own_output_when_a_setting_changes_and_takes_photos_whole(tmp_path, identity_yaml, capsys):
    # --segments: a re-run with another --crf failed "output out/the input exists; pass --overwrite" and
    # left the ledger pending, so even the first command failed from then on; a photo named beside the
    # video failed "unknown output container '.jpg'" (audit 26)
    import cv2

    (tmp_path / "in").mkdir()
    src = media.write_video(tmp_path / "in" / "clip.mp4", frames=20, size=(64, 48), gop=5)
    shot = tmp_path / "in" / "shot.jpg"
    assert cv2.imwrite(str(shot), media.pattern(2, 64, 48)[..., ::-1])
    out = tmp_path / "out"
    cmd = ["-q", "batch", str(src), str(shot), "--out-dir", str(out), "--pipeline", str(identity_yaml), "--segments", "2"]
    assert main(cmd) == 0, capsys.readouterr()
    first = (out / "clip.mp4").stat().st_size
    assert cv2.imread(str(out / "shot.jpg")).shape == (48, 64, 3)
    capsys.readouterr()
    assert main([*cmd, "--crf", "40"]) == 0, capsys.readouterr()
    rows = _table(capsys.readouterr().out)
    assert [r for r in rows if "clip.mp4" in r and "done" in r and "segmented" in r], rows
    assert (out / "clip.mp4").stat().st_size < first and media.count_frames(out / "clip.mp4") == 20  # redone at crf 40
    assert main([*cmd, "--crf", "40"]) == 0
    assert "skipped (done before)" in capsys.readouterr().out


def test_a_failure_reason_names_the_input_but_keeps_an_output_path_of_the_same_name():
    from streamdeblur.cli.batch import _reason

    inp = Path("/cards/day1/a2.mp4")
    assert _reason("output /out/a2.mp4 exists; pass --overwrite", inp) == "output /out/a2.mp4 exists; pass --overwrite"
    assert _reason("cannot decode /cards/day1/a2.mp4: bad data", inp) == "cannot decode the input: bad data"
    assert _reason("a2.mp4: no video stream", inp) == "the input: no video stream"
    # the output's own failure, by its name (the input's): "finishing the input failed" blamed the input
    assert _reason("finishing a2.mp4 failed: No space left on device", inp) == "finishing a2.mp4 failed: No space left on device"
    # an input deleted before its turn read "input not found: the input" (audit 30)
    assert _reason("input not found: /cards/day1/a2.mp4", inp) == "not found (moved or deleted since the batch started?)"


@register_stage("test_plant_outputs")
class Plant(Stage):
    """Test stage: while a file is processed, "another run" writes ``a.mp4`` and ``c.mp4`` into ``folder``."""

    @dataclass
    class Options:
        folder: str = ""

    def __call__(self, batch):
        for name in ("a.mp4", "c.mp4"):
            path = Path(self.options.folder) / name
            if not path.exists():
                path.write_bytes(b"another run's output")
        return batch


@pytest.mark.parametrize("segments", [None, "2"])
def test_a_file_that_appears_at_an_output_name_during_a_batch_is_never_replaced(tmp_path, capsys, monkeypatch, segments):
    """A batch replaced, without --overwrite, a file that another run wrote at one of its output names
    while the batch ran (audit 30: `run x -o out/c3.mp4` beside a `batch in --out-dir out`, both exit 0,
    the run's output gone). Files found when the batch planned are checked then (refused unless its own
    or --overwrite); one that appears later is kept, and the batch's output is named beside it."""
    out = tmp_path / "out"

    src = tmp_path / "in"
    src.mkdir()
    media.write_video(src / "a.mp4", frames=6, size=(64, 48), gop=3)
    media.write_video(src / "c.mp4", frames=6, size=(64, 48), gop=3)
    yaml = tmp_path / "plant.yaml"
    yaml.write_text(f"stages:\n  - test_plant_outputs:\n      folder: {out}\n")
    monkeypatch.setenv("COLUMNS", "250")
    args = ["batch", str(src), "--out-dir", str(out), "--pipeline", str(yaml)] + (["--segments", segments] if segments else [])
    assert main(args) != 0
    assert (out / "a.mp4").read_bytes() == b"another run's output"
    assert (out / "c.mp4").read_bytes() == b"another run's output"
    text = capsys.readouterr()
    rows = _table(text.out)
    row_a = [r for r in rows if "a.mp4" in r and "failed" in r]
    assert row_a and "appeared while this run was writing it" in text.err + text.out, text
    kept = [p for p in out.iterdir() if p.name.startswith("a.") and "partial" in p.name]
    assert kept and media.frame_times(kept[0]), list(out.iterdir())  # the batch's own output, whole, beside it
    assert [r for r in rows if "c.mp4" in r and "failed" in r], rows  # it was there when c's turn came
    # the plain re-run: the batch's claims on the two names made it "redo" them over the other run's files
    # (audit 31); they are not its own
    identity = tmp_path / "id.yaml"
    identity.write_text("stages:\n  - identity\n")
    rerun = ["batch", str(src), "--out-dir", str(out), "--pipeline", str(identity)]
    assert main(rerun + (["--segments", segments] if segments else [])) != 0
    assert (out / "a.mp4").read_bytes() == b"another run's output" and kept[0].exists()
    assert (out / "c.mp4").read_bytes() == b"another run's output"
    assert "was not made by this batch" in capsys.readouterr().out


def test_an_input_that_does_not_exist_is_its_own_rows_failure_not_the_ledgers(tmp_path, folder, identity_yaml, capsys):
    # a typo among the inputs: its row said "cannot write the batch's ledger in out: No such file or
    # directory" (the ledger looks up the input's size), with no exit code, while the same run wrote a.mp4
    # into that folder
    out = tmp_path / "out"
    missing = tmp_path / "nothere.mp4"
    args = ["batch", str(missing), str(folder / "a.mp4"), "--out-dir", str(out), "--pipeline", str(identity_yaml)]
    assert main(args) == 1
    rows = _table(capsys.readouterr().out)
    (row,) = [r for r in rows if "nothere.mp4" in r]
    assert "failed (exit 3)" in row and "not found" in row and "ledger" not in row, rows
    assert media.count_frames(out / "a.mp4") == 4
