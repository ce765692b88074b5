"""The wheel a user installs holds what the source tree runs with.

``make`` installs the checkout in editable mode, so the suite imports the source tree itself and
never saw that ``pyproject.toml``'s package list had left out ``streamdeblur.temporal``: the built
wheel (and the sdist) failed on every command, ``--version`` included (``No module named
'streamdeblur.temporal'``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _build_wheel(tmp_path: Path) -> set[str]:
    """Build the wheel from a copy of the sources (the checkout gets no build/ or egg-info from a test)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "states")  # training states are not shipped
    shutil.copytree(ROOT / "streamdeblur", src / "streamdeblur", ignore=junk)
    shutil.copytree(ROOT / "pipelines", src / "pipelines", ignore=junk)
    dist = tmp_path / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src), "-w", str(dist)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("streamdeblur-*.whl")
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


def test_the_wheel_holds_every_module_weight_and_pipeline_of_the_source_tree(tmp_path):
    files = _build_wheel(tmp_path)
    pkg = ROOT / "streamdeblur"
    wanted = {p.relative_to(ROOT).as_posix() for p in pkg.rglob("*.py") if "states" not in p.parts}
    wanted |= {p.relative_to(ROOT).as_posix() for p in (pkg / "weights").glob("*") if p.suffix in (".pt", ".json", ".md")}
    wanted |= {f"streamdeblur/pipelines/{p.name}" for p in (ROOT / "pipelines").glob("*.yaml")}
    wanted |= {"streamdeblur/py.typed", "streamdeblur/train/debian_sources.json"}
    wanted |= {p.relative_to(ROOT).as_posix() for p in (pkg / "train" / "configs").glob("*.yaml")}
    missing = sorted(wanted - files)
    assert not missing, f"left out of the wheel: {missing[:10]}"
    assert "streamdeblur/temporal/registration.py" in files
    assert not any("/states/" in f for f in files), "training states (tens of MB) do not ship"
