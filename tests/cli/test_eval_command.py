"""``streamdeblur eval`` on what a user may give it by mistake: one line, the right exit code, no work done."""

from __future__ import annotations

import pytest

from streamdeblur.cli import main


@pytest.mark.parametrize(
    "case, code, words",
    [
        ("missing", 3, "streamdeblur: error: no evaluation set at {p} ('streamdeblur data build' makes them under data/sharp/)"),
        ("not a set", 3, "streamdeblur: error: {p} is not an evaluation set (a .pt file from 'streamdeblur data build')"),
        ("limit 0", 2, "streamdeblur: error: --limit must be at least 1, got 0"),
        ("out is a file", 2, "streamdeblur: error: --out {o} is a file; it names the folder the table and examples go to"),
    ],
)
def test_eval_mistakes_are_one_line(tmp_path, capsys, case, code, words):
    """Each had ended in a raw errno, PyTorch's advice to load with ``weights_only=False`` (unsafe on a
    file from anywhere), numpy warnings then a bootstrap error, or a whole evaluation before
    ``[Errno 17] File exists``."""
    p = tmp_path / "set.pt"
    o = tmp_path / "report"
    if case != "missing":
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
