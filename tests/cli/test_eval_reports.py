"""``streamdeblur eval`` replaces a report only with ``--overwrite`` (as the README says), writes it whole, and
a dev set with a clip it cannot read measures the others, names the one skipped and exits 3."""

from __future__ import annotations

import json
import shutil

import media
import pytest
import torch

from streamdeblur.cli import main


def _set(path):
    """A tiny evaluation set: two 64-px crops."""
    g = torch.Generator().manual_seed(0)
    sharp = torch.randint(0, 256, (2, 3, 64, 64), generator=g, dtype=torch.uint8)
    torch.save({"blurry": sharp.flip(-1).clone(), "sharp": sharp, "sources": ["a", "b"], "task": "motion"}, path)
    return path


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return " ".join(err.split())


@pytest.mark.parametrize("kept", ["eval.md", "eval.json", "examples.png"])
def test_a_photographs_report_is_replaced_only_with_overwrite(tmp_path, capsys, kept):
    # eval.md, eval.json and examples.png of an earlier evaluation were replaced without a word
    s, out = _set(tmp_path / "s.pt"), tmp_path / "rep"
    out.mkdir()
    (out / kept).write_text("my earlier report")
    args = ["eval", "--eval-set", str(s), "--out", str(out)]
    assert main(args) == 2
    assert f"--out {out}: {out / kept} exists (an earlier report); pass --overwrite to replace it" in _one_line(capsys)
    assert (out / kept).read_text() == "my earlier report" and sorted(p.name for p in out.iterdir()) == [kept]
    assert main([*args, "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["eval.json", "eval.md", "examples.png"]  # no .partial left
    assert json.loads((out / "eval.json").read_text())["n"] == 2


@pytest.fixture(scope="module")
def devset(tmp_path_factory):
    """A dev set of one readable clip, ``tiny``."""
    return media.tiny_devset(tmp_path_factory.mktemp("dev") / "clips", frames=6)


def test_a_dev_set_reports_json_beside_it_is_replaced_only_with_overwrite(devset, tmp_path, capsys):
    # --out rep.md replaced an existing rep.json; --out new.json wrote the Markdown, then the JSON over it
    (tmp_path / "rep.json").write_text("my numbers")
    run = ["eval", "--clips", str(devset), "--pipeline", "identity", "--out"]
    assert main([*run, str(tmp_path / "rep.md")]) == 2
    assert f"{tmp_path / 'rep.json'} (its numbers, written beside it) exists; pass --overwrite" in _one_line(capsys)
    assert (tmp_path / "rep.json").read_text() == "my numbers" and not (tmp_path / "rep.md").exists()
    assert main([*run, str(tmp_path / "new.json")]) == 2
    assert "the report is Markdown and its .json goes beside it; give e.g." in _one_line(capsys)
    assert not (tmp_path / "new.json").exists()
    assert main([*run, str(tmp_path / "rep.md"), "--overwrite"]) == 0
    assert json.loads((tmp_path / "rep.json").read_text())[0]["clip"] == "tiny"


def test_a_dev_set_clip_that_cannot_be_read_is_skipped_and_named(devset, tmp_path, capsys):
    # one damaged clip ended the whole run with "[Errno 1094995529] Invalid data found …", exit 2
    clips = tmp_path / "clips"
    shutil.copytree(devset, clips)
    (clips / "broken.blurry.mp4").write_bytes(b"not a video" * 100)
    shutil.copy(clips / "tiny.sharp.mkv", clips / "broken.sharp.mkv")
    report = tmp_path / "dev.md"
    assert main(["eval", "--clips", str(clips), "--pipeline", "identity", "--out", str(report)]) == 3
    cap = capsys.readouterr()
    assert f"skipped broken: cannot read {clips / 'broken.blurry.mp4'}" in cap.out
    err = cap.err.strip()
    assert len(err.splitlines()) == 1 and "1 of 2 clips could not be read and were skipped: broken" in err, err
    assert [r["clip"] for r in json.loads(report.with_suffix(".json").read_text())] == ["tiny"]  # the other was measured
