"""Shared fixtures of the training tests."""

from __future__ import annotations

import media
import pytest

from streamdeblur.cli import main


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """A small built dataset from a user folder (14 photographs and a clip), built once per run."""
    tmp = tmp_path_factory.mktemp("built")
    src = media.sharp_folder(tmp / "mine")
    out = tmp / "ds"
    assert main(["data", "build", "--no-debian", "--source", str(src), "--out", str(out), "--eval-crops", "1"]) == 0
    return out
