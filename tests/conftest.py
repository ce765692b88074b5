"""Shared fixtures. Test media is encoded for real (PyAV) and judged with ffprobe/ffmpeg."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

# rich reads COLUMNS / LINES / FORCE_COLOR once, when a console is made (streamdeblur.cli.console, at
# import): an exported COLUMNS (a CI runner's, pytest-xdist's) would fix the width of every table the tests
# read, whatever a test's own monkeypatch.setenv("COLUMNS", ...) says, and FORCE_COLOR would put colour codes
# in every message they compare. Unset here, before anything imports streamdeblur.
for _name in ("COLUMNS", "LINES", "FORCE_COLOR"):
    os.environ.pop(_name, None)

import media  # noqa: E402

from streamdeblur.compute.cpus import cpu_description  # noqa: E402

DATA = Path(__file__).parent / "data"


def pytest_configure(config):
    torch.set_flush_denormal(True)
    # A shell without job control starts background commands with SIGINT ignored (`make test &` in a
    # script), and children inherit that: every Ctrl-C test would then wait for an interrupt that cannot
    # come. Handled signals are reset to their default in a child, ignored ones are not.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_report_header(config):
    return [cpu_description(), f"torch {torch.__version__}, threads {torch.get_num_threads()}"]


@pytest.fixture(scope="session")
def require_ffmpeg():
    if media.FFMPEG is None or media.FFPROBE is None:
        pytest.fail("ffmpeg/ffprobe are needed as independent judges: apt-get install ffmpeg")


@pytest.fixture
def identity_yaml(tmp_path) -> Path:
    p = tmp_path / "identity.yaml"
    p.write_text("stages:\n  - identity\noutput:\n  crf: 16\n  preset: veryfast\n")
    return p


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"ran on {cpu_description()}")  # shown with -q too (make test)
