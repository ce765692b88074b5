"""The video evaluation harness runs the real product on a generated clip and reports its numbers."""

from __future__ import annotations

import json
import subprocess

import media
import numpy as np
import pytest

from streamdeblur.train.video_eval import evaluate_clip, find_clips, main, resolve_pipeline


@pytest.fixture
def clips(tmp_path):
    return media.tiny_devset(tmp_path / "clips", frames=10)


def test_identity_through_the_product_gains_nothing(clips):
    (pair,) = find_clips(clips)
    (r,) = evaluate_clip(pair, [resolve_pipeline("identity")], log=lambda s: None)
    assert r.frames == 10
    assert r.gain == 0.0 and r.worst_delta == 0.0
    assert r.psnr_out == r.psnr_in < 40  # the clip is really degraded
    assert r.tpsnr_out == r.tpsnr_in and r.warp_out == r.warp_in and r.ssim_out == r.ssim_in
    assert r.sec_per_frame > 0


def test_a_real_stage_changes_the_numbers(clips, tmp_path):
    # the unsharp stage alters every frame: the harness must see output frames, not the input again
    yaml = tmp_path / "sharpen.yaml"
    yaml.write_text("stages:\n  - unsharp:\n      amount: 3.0\n")
    (pair,) = find_clips(clips)
    (r,) = evaluate_clip(pair, [resolve_pipeline(str(yaml))], log=lambda s: None)
    assert r.pipeline == "sharpen" and r.psnr_out != r.psnr_in
    assert np.isfinite(r.worst_delta) and r.worst_delta <= r.gain


def test_command_line_writes_report_and_json(clips, tmp_path, capsys):
    rep = tmp_path / "report.md"
    assert main(["--clips", str(clips), "--pipeline", "identity", "--out", str(rep)]) == 0
    text = rep.read_text()
    assert "| tiny | identity | 10 |" in text and "+0.00" in text
    rows = json.loads(rep.with_suffix(".json").read_text())
    assert rows[0]["clip"] == "tiny" and len(rows[0]["psnr_out_frames"]) == 10


def test_aligned_columns_are_reported_when_asked(clips, tmp_path):
    rep = tmp_path / "report.md"
    assert main(["--clips", str(clips), "--pipeline", "identity", "--aligned", "--out", str(rep)]) == 0
    assert "| tiny | identity | +0.00 | +0.00 | +0.00 | +0.00 |" in rep.read_text()
    (row,) = json.loads(rep.with_suffix(".json").read_text())
    assert row["aligned_gain"] == 0.0 and row["aligned_worst_delta"] == 0.0


def test_ceiling_shows_what_the_calm_frames_hold(clips, tmp_path):
    # the tiny clip's bursts of 30 px shake sit between calm frames: the best registered single frame
    # of each burst frame's window is a calm one, clearly above it (+0.95 dB on this clip); the identity gains nothing
    rep = tmp_path / "report.md"
    assert main(["--clips", str(clips), "--pipeline", "identity", "--ceiling", "--out", str(rep)]) == 0
    (row,) = json.loads(rep.with_suffix(".json").read_text())
    assert row["gain"] == 0.0 and row["ceiling_gain"] > 0.6, row["ceiling_gain"]
    assert f"| tiny | identity | +0.00 | {row['ceiling_gain']:+.2f} |" in rep.read_text()


def test_frames_equal_to_their_reference_are_counted_at_the_cap_and_said(clips, tmp_path, capsys, require_ffmpeg):
    # A clip whose input equals its reference reported "PSNR in inf, gain +nan", and one that did in some
    # frames an inf mean that hid every other frame: now 100 dB each, counted and said.
    same = tmp_path / "same"
    same.mkdir()
    sharp = clips / "tiny.sharp.mkv"
    (same / "tiny.sharp.mkv").write_bytes(sharp.read_bytes())
    lossless = ["-c:v", "libx264rgb", "-qp", "0", "-pix_fmt", "bgr24"]
    subprocess.run([media.FFMPEG, "-v", "error", "-i", str(sharp), *lossless, str(same / "tiny.blurry.mp4")], check=True)
    rep = tmp_path / "same.md"
    assert main(["--clips", str(same), "--pipeline", "identity", "--out", str(rep)]) == 0
    (row,) = json.loads(rep.with_suffix(".json").read_text())
    assert row["psnr_in"] == row["psnr_out"] == 100.0 and row["gain"] == 0.0
    assert "tiny (identity): 10 of 10 input, 10 of 10 output" in rep.read_text()
    assert "tiny (identity): 10 input and 10 output frames equal their reference (100 dB, the cap)" in capsys.readouterr().out


def test_bad_input_is_one_line_and_nonzero(tmp_path, capsys):
    assert main(["--clips", str(tmp_path / "nowhere"), "--pipeline", "identity"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
    assert main(["--clips", str(tmp_path), "--pipeline", "no-such-pipeline"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    # a report into a folder that is not there: said before any clip is evaluated (it failed after all of them)
    assert main(["--clips", str(tmp_path / "nowhere"), "--out", str(tmp_path / "no" / "r.md")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --out {tmp_path / 'no' / 'r.md'}: no folder {tmp_path / 'no'}"
