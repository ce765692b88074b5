"""Shared fixtures. Test media is encoded for real (PyAV) and judged with ffprobe/ffmpeg."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

import media  # noqa: E402

from streamdeblur.compute.cpus import cpu_description  # noqa: E402

DATA = Path(__file__).parent / "data"


def pytest_configure(config):
    torch.set_flush_denormal(True)


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
