"""Shared fixtures. Test media is encoded for real (PyAV) and judged with ffprobe/ffmpeg."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

import media  # noqa: E402

DATA = Path(__file__).parent / "data"


def pytest_configure(config):
    torch.set_flush_denormal(True)


def cpu_description() -> str:
    """Which CPU and vector ISA this run computed on (float results differ in the last bits between
    e.g. AVX-512 and AVX2 machines, and speed by ~4x): model name, PyTorch's kernel ISA, native bf16."""
    from streamdeblur.compute.runtime import cpu_model

    name = cpu_model()
    isa = torch.backends.cpu.get_cpu_capability()
    amx = bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
    avx512_bf16 = bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    yes = {True: "yes", False: "no"}
    return f"cpu: {name}; torch ISA {isa}; AMX {yes[amx]}; AVX-512 BF16 {yes[avx512_bf16]}; {cores} usable cores"


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
