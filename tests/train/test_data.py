"""Data build from the user's own folder: manifest, fixed split by source, evaluation set."""

from __future__ import annotations

import json

import media
import numpy as np
import torch

from streamdeblur.cli import main
from streamdeblur.train.dataset import BlurPairs, SharpPool


def test_data_build_from_user_folder(tmp_path):
    src = media.sharp_folder(tmp_path / "mine")
    out = tmp_path / "ds"
    assert main(["data", "build", "--no-debian", "--source", str(src), "--out", str(out), "--eval-crops", "1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    files = manifest["files"]
    assert len(files) == 15 and all(len(f["sha256"]) == 64 and f["licence"] for f in files)
    splits = {f["split"] for f in files}
    assert splits == {"train", "val", "test"}  # some of each: validation is not test
    for split in ("val", "test"):
        n_held = sum(f["split"] == split and f["kind"] == "photo" for f in files)
        ev = torch.load(out / f"{split}_motion.pt", weights_only=True)
        assert len(ev["blurry"]) >= n_held > 0 and ev["kernels"].shape[1:] == (2, 65, 65)  # held-out video frames add crops
    # rebuilding gives the same split (fixed by source, not random)
    main(["data", "build", "--no-debian", "--source", str(src), "--out", str(tmp_path / "ds2"), "--eval-crops", "1"])
    again = json.loads((tmp_path / "ds2" / "manifest.json").read_text())
    assert [f["split"] for f in again["files"]] == [f["split"] for f in files]
    pool = SharpPool.load(out, "train")
    pairs = BlurPairs(pool, crop=64, seed=0, task="motion")
    b, s = pairs.batch(3)
    assert b.shape == s.shape == (3, 3, 64, 64)
    d, s2 = BlurPairs(pool, crop=64, seed=0, task="defocus").batch(2)
    assert d.shape == (2, 3, 64, 64) and not torch.equal(d, s2)
    assert np.isfinite(b.numpy()).all()
