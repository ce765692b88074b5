"""The README's two commands start with ``make`` making ``.venv``: on a machine whose ``python3`` is too
old for this package (Ubuntu 22.04's is 3.10; PyAV 18 and pillow-heif need 3.11), ``make demo`` ended in
pip's resolver ("No matching distribution found for av<20,>=18"), which says nothing of Python.

The recipes run for real under ``make`` with a PATH that holds only what each case needs; the old
Python is a stand-in script (CI's machines have no Python older than 3.11), the newer one is the
interpreter running the suite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is one of the README's two prerequisites")

OLD_PYTHON = """#!/bin/sh
# Python 3.10 as the Makefile sees it: its version, a failing version check, a venv that would be made
case "$1" in
  --version) echo "Python 3.10.12" ;;
  -c) exit 1 ;;
  *) echo "unexpected: $*" >&2; exit 99 ;;
esac
"""

NO_ENSUREPIP = """#!/bin/sh
# a new enough Python whose venv module fails half-way, as Debian's does without python3-venv
case "$1" in
  -c) exit 0 ;;
  -m) mkdir -p "$3/bin" && : > "$3/bin/python"
      echo "The virtual environment was not created successfully because ensurepip is not available."
      exit 1 ;;
esac
"""


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def _tree(tmp_path: Path, pythons: dict[str, Path | str]) -> tuple[Path, dict[str, str]]:
    """A copy of the Makefile (and the files its rules name) and a PATH of only the tools its recipes
    use and the given ``python3…`` names (a script's text or a file to link)."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy2(ROOT / name, work / name)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in ("sh", "head", "rm", "mkdir"):
        (bin_ / tool).symlink_to(shutil.which(tool))
    for name, what in pythons.items():
        if isinstance(what, Path):
            (bin_ / name).symlink_to(what)
        else:
            _script(bin_ / name, what)
    return work, {"PATH": str(bin_), "HOME": os.environ.get("HOME", "/tmp")}


def _make(work: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MAKE, "-s", *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)


def test_an_old_python3_and_no_newer_one_is_one_line_saying_what_to_install(tmp_path):
    work, env = _tree(tmp_path, {"python3": OLD_PYTHON})
    proc = _make(work, env, "demo")
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "needs Python 3.11 or newer" in line and "Python 3.10.12" in line, line
    assert "PY=" in line and "make demo" in line, line
    assert not (work / ".venv").exists(), "nothing half-made is left behind"


def test_a_newer_python3_x_on_path_is_taken_when_python3_is_too_old(tmp_path):
    work, env = _tree(tmp_path, {"python3": OLD_PYTHON, "python3.12": Path(sys.executable)})
    proc = _make(work, env, ".venv/bin/python")
    assert proc.returncode == 0, proc.stderr
    code = "import sys; print(sys.version_info[:2])"
    made = subprocess.run([work / ".venv/bin/python", "-c", code], capture_output=True, text=True)
    assert made.stdout.strip() == str(tuple(sys.version_info[:2])), made


def test_a_python_named_on_the_command_line_that_is_too_old_is_refused_by_name(tmp_path):
    work, env = _tree(tmp_path, {"python3": Path(sys.executable)})
    old = _script(tmp_path / "python3.10", OLD_PYTHON)
    proc = _make(work, env, "demo", f"PY={old}")
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert str(old) in line and "Python 3.10.12" in line and "3.11 or newer" in line, line
    assert not (work / ".venv").exists()


def test_a_venv_that_failed_half_way_is_removed_so_the_next_make_tries_again(tmp_path):
    work, env = _tree(tmp_path, {"python3": NO_ENSUREPIP})
    proc = _make(work, env, ".venv/bin/python")
    assert proc.returncode != 0 and "ensurepip is not available" in proc.stdout + proc.stderr
    assert not (work / ".venv").exists(), "a .venv without pip made every later make fail at pip"


def test_a_venv_made_earlier_by_a_too_old_python_is_said_before_pip_runs(tmp_path):
    work, env = _tree(tmp_path, {"python3": Path(sys.executable)})
    (work / ".venv" / "bin").mkdir(parents=True)
    _script(work / ".venv" / "bin" / "python", OLD_PYTHON)
    proc = _make(work, env, "demo")
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert ".venv was made with Python 3.10.12" in line and "make clean" in line, line


def test_the_package_and_the_makefile_agree_on_the_oldest_python():
    floor = re.search(r'requires-python = ">=(3\.\d+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    makefile = (ROOT / "Makefile").read_text()
    assert f"PY_MIN := {floor}" in makefile and f"(3, {floor.split('.')[1]})" in makefile, floor
