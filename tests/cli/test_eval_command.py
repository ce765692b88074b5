"""``streamdeblur eval`` on what a user may give it by mistake: one line, the right exit code, no work done."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from streamdeblur.cli import main


@pytest.mark.parametrize(
    "case, code, words",
    [
        ("missing", 3, "streamdeblur: error: no evaluation set at {p} ('streamdeblur data build' makes them under data/sharp/)"),
        ("not a set", 3, "streamdeblur: error: {p} is not an evaluation set (a .pt file from 'streamdeblur data build')"),
        ("limit 0", 2, "streamdeblur: error: --limit must be at least 1, got 0"),
        ("out is a file", 2, "streamdeblur: error: --out {o} is a file; it names the folder the table and examples go to"),
        ("a folder", 3, "streamdeblur: error: {p} is a folder, not an evaluation set: give one of its sets (val_motion.pt)"),
    ],
)
def test_eval_mistakes_are_one_line(tmp_path, capsys, case, code, words):
    """Each had ended in a raw errno, PyTorch's advice to load with ``weights_only=False`` (unsafe on a
    file from anywhere), numpy warnings then a bootstrap error, or a whole evaluation before
    ``[Errno 17] File exists``."""
    p = tmp_path / "set.pt"
    o = tmp_path / "report"
    if case == "a folder":  # "no evaluation set at sets/" of a folder that is there
        p = tmp_path / "sets"
        p.mkdir()
        (p / "val_motion.pt").write_bytes(b"")
    elif case != "missing":
        p.write_text("my notes\n")
    args = ["eval", "--eval-set", str(p), "--out", str(o)]
    if case == "limit 0":
        args += ["--limit", "0"]
    if case == "out is a file":
        o.write_text("not a folder\n")
    assert main(args) == code
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [words.format(p=p, o=o)]
    assert "weights_only" not in err


def test_the_table_says_when_there_is_no_interval_and_when_crops_equal_their_reference(tmp_path, capsys):
    # Two photographs gave a "95 % interval" that was their two means; the terminal's copy of the table
    # showed "[n/a: 1 photograph]" as nothing (read as markup); a crop equal to its reference was 148 dB.
    rng = np.random.default_rng(0)
    sharp = torch.from_numpy(rng.integers(0, 256, (4, 3, 48, 48), dtype=np.uint8))
    blurry = sharp.clone()
    blurry[2:] = (
        torch.from_numpy(cv2.blur(sharp[2:].permute(0, 2, 3, 1).reshape(96, 48, 3).numpy(), (5, 5)))
        .reshape(2, 48, 48, 3)
        .permute(0, 3, 1, 2)
    )
    p = tmp_path / "two.pt"
    torch.save({"blurry": blurry, "sharp": sharp, "sources": ["a", "a", "b", "b"], "task": "motion"}, p)
    assert main(["eval", "--eval-set", str(p), "--out", str(tmp_path / "r")]) == 0
    shown = capsys.readouterr().out
    assert "| blurry input | 55.46 [n/a: 2 photographs] | +0.00 [n/a] |" in shown, shown  # (100 + 10.9) / 2
    assert "Crops equal to their reference count 100 dB (the cap): blurry input 2 of 4" in shown
    assert (tmp_path / "r" / "eval.md").read_text() in shown
