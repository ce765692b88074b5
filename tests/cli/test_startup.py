"""The command line starts without loading PyTorch, PyAV or OpenCV: ``streamdeblur --help``,
``--version``, a sub-command's ``--help`` and a usage error answer in a fraction of a second, where
building the parser used to import all three (1.7 s of every such call on 2 cores, 1.2 s of it
PyTorch). Each check runs in a fresh interpreter: this test process has them loaded already."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "av", "cv2", "numpy")


def _loaded_after(code: str) -> tuple[list[str], str]:
    probe = f"import sys\n{code}\nprint('loaded:', *(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    (last,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("loaded:")]
    return last.split()[1:], proc.stdout + proc.stderr


def test_building_the_parser_loads_no_heavy_library():
    loaded, output = _loaded_after("from streamdeblur.cli import build_parser\nbuild_parser()")
    assert loaded == [], output


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--help"], ["run", "--help"], ["batch", "--help"], ["bench", "--help"], ["run"], ["info", "--nope"]],
)
def test_help_version_and_usage_errors_load_no_heavy_library(argv):
    code = f"from streamdeblur.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    loaded, output = _loaded_after(code)
    assert loaded == [], output
    assert "Traceback" not in output


def test_the_commands_still_find_what_they_load_late(capsys):
    """``info`` (the registries, PyTorch, PyAV) and ``models --quick`` import at run time what the
    parser no longer imports for them."""
    from streamdeblur.cli import main

    assert main(["info"]) == 0
    text = capsys.readouterr().out
    for row in ("torch", "PyAV / FFmpeg", "OpenCV", "models", "stages", "pipelines", "executors", "benchmarks"):
        assert row in text
    assert "throughput" in text and "live" in text  # the benchmarks registered by bench.reports
    assert main(["models", "--quick"]) == 0
    assert "deeprftv2-t" in capsys.readouterr().out
