"""The progress line says what the source repaired and how often a live stream came back."""

from __future__ import annotations

from streamdeblur.cli.progress import progress_line
from streamdeblur.engine.pipeline import Progress


def test_progress_line_reports_repaired_timestamps_and_reconnects():
    p = Progress(done=10, total=20, elapsed=2.0, fps=5.0, repaired=3, reconnects=2, live=True, dropped=1)
    line = progress_line(p)
    assert "repaired-pts 3" in line and "reconnects 2" in line and "dropped 1" in line
    quiet = progress_line(Progress(done=10, total=20, elapsed=2.0, fps=5.0))
    assert "repaired" not in quiet and "reconnects" not in quiet
