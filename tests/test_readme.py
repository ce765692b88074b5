"""README claims say what was measured (issue 17, item 7): the golden tolerance is the test's, the
reference is called a transcription, and every speed table names the CPU it was measured on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def test_golden_claim_matches_the_test_and_names_the_reference():
    test = (ROOT / "tests/models/test_deeprftv2.py").read_text()
    max_abs, rms = re.search(r"^MAX_ABS, RMS = (\S+), (\S+)", test, re.M).groups()
    claim = re.search(r"max \|diff\| ≤ (\S+) and rms ≤ (\S+)\*\*", README)
    assert claim, "the README states the golden tolerance"
    assert float(claim.group(1)) == float(max_abs) and float(claim.group(2)) == float(rms)
    assert "< 1e-5" not in README
    assert "transcription of the official code" in README


@pytest.mark.parametrize("title", ["Speed", "Models"])
def test_every_measured_table_names_its_cpu(title):
    """A table with speed numbers must have a CPU named in the paragraph just before or after it."""
    blocks = [b.strip() for b in _section(title).split("\n\n") if b.strip()]
    tables = [i for i, b in enumerate(blocks) if b.startswith("|") and re.search(r"fps|CPU ms", b)]
    assert tables
    for i in tables:
        around = " ".join(blocks[max(0, i - 1) : i + 2])
        assert re.search(r"EPYC|Xeon", around), blocks[i][:200]
