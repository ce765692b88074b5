"""``streamdeblur data build`` removes the previous build only once nothing can fail before the new one is
written, and says in one line (exit 4) when ``--out`` or ``--cache`` cannot be a folder."""

from __future__ import annotations

import shutil

import media
import pytest

from streamdeblur.cli import main
from streamdeblur.train import data as data_mod


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    """A small finished build (the user's folder only) and its source folder."""
    tmp = tmp_path_factory.mktemp("prev")
    src = media.sharp_folder(tmp / "mine")
    out = tmp / "ds"
    assert main(["data", "build", "-q", "--no-debian", "--source", str(src), "--out", str(out), "--eval-crops", "1"]) == 0
    return src, out


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_a_failed_debian_fetch_leaves_the_previous_build(previous, tmp_path, monkeypatch, capsys):
    # the previous build's images and manifest were removed first, then the fetch failed: no dataset left
    src, built = previous
    out = tmp_path / "ds"
    shutil.copytree(built, out)
    before = _files(out)

    def offline(packages, cache, log=print):
        raise data_mod.ProvenanceError("apt-get download fonts-x=1: Unable to locate package")

    monkeypatch.setattr(data_mod, "fetch_debs", offline)
    assert main(["data", "build", "--source", str(src), "--out", str(out), "--cache", str(tmp_path / "debs")]) == 1
    assert "Unable to locate package" in capsys.readouterr().err
    assert _files(out) == before


@pytest.mark.parametrize("flag", ["--cache", "--out"])
def test_a_cache_or_out_that_is_a_file_is_one_line_and_the_previous_build_stays(previous, tmp_path, capsys, flag):
    # --cache afile: "[Errno 17] File exists: 'afile'", exit 1, after the previous build was removed
    src, built = previous
    out = tmp_path / "ds"
    shutil.copytree(built, out)
    before = _files(out)
    (tmp_path / "afile").write_text("mine")
    given = {"--out": str(out), "--cache": str(tmp_path / "debs"), flag: str(tmp_path / "afile")}
    assert main(["data", "build", "--source", str(src), "--out", given["--out"], "--cache", given["--cache"]]) == 4
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"error: {flag} {tmp_path / 'afile'} is a file, not a folder") and len(err.splitlines()) == 1, err
    assert _files(out) == before and (tmp_path / "afile").read_text() == "mine"
    assert main(["data", "build", "--source", str(src), "--out", str(out), "--cache", str(tmp_path / "afile" / "debs")]) == 4
    assert f"--cache {tmp_path / 'afile' / 'debs'}: {tmp_path / 'afile'} is a file, not a folder" in capsys.readouterr().err
    assert _files(out) == before
