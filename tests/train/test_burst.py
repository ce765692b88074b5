"""The GPU burst path, run on the CPU: training pack, PyAV-free training, time-fitted schedule,
compact resume state and its restore."""

from __future__ import annotations

import json
import sys

import cv2
import media
import pytest
import torch

from streamdeblur.cli import main
from streamdeblur.train import trainer as trainer_mod
from streamdeblur.train.pack import build_pack
from streamdeblur.train.state import MAX_BYTES, restore_state
from streamdeblur.train.trainer import TrainConfig, Trainer


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A small built dataset from a user folder (14 photographs and a clip)."""
    tmp = tmp_path_factory.mktemp("burst")
    src = tmp / "mine"
    src.mkdir()
    for i in range(14):
        cv2.imwrite(str(src / f"p{i:02d}.png"), media.pattern(i * 5, 320, 320)[..., ::-1])
    media.write_video(src / "clip.mp4", frames=20, size=(320, 240))
    out = tmp / "ds"
    assert main(["data", "build", "--no-debian", "--source", str(src), "--out", str(out), "--eval-crops", "1"]) == 0
    return out


def test_pack_holds_training_crops_only_within_budget(built, tmp_path):
    pack = tmp_path / "pack"
    manifest = build_pack(built, pack, max_mib=3.0, crop=192, log=lambda _m: None)
    total = sum(p.stat().st_size for p in pack.rglob("*") if p.is_file())
    assert total <= 3 * 2**20
    train_ids = {e["id"] for e in json.loads((built / "manifest.json").read_text())["files"] if e.get("split") == "train"}
    crops = list((pack / "images" / "train").glob("*.png"))
    assert crops and manifest["pack"]["photo_crops"] == len(crops)
    assert {c.name.rsplit("_", 1)[0] for c in crops} <= train_ids  # no validation or test photograph
    assert all(cv2.imread(str(c)).shape[:2] == (192, 192) for c in crops)
    val = torch.load(pack / "val_motion.pt", weights_only=True)
    assert val["split"] == "val" and not (pack / "test_motion.pt").exists()


def test_burst_trains_without_pyav_fits_its_schedule_and_resumes(built, tmp_path, monkeypatch):
    pack = tmp_path / "pack"
    build_pack(built, pack, max_mib=3.0, crop=192, log=lambda _m: None)
    monkeypatch.setitem(sys.modules, "av", None)  # the GPU machine has no PyAV
    monkeypatch.setattr(trainer_mod, "FIT_AFTER_S", 2.0)
    monkeypatch.setattr(trainer_mod, "FIT_MIN_STEPS", 2)
    cfg = TrainConfig(
        model="deeprftv2-t",
        data=str(pack),
        out=str(tmp_path / "run"),
        steps=0,
        batch=2,
        crop_schedule=[[0, 64]],
        lr=1e-4,
        min_lr=1e-6,
        warmup=2,
        eval_set=str(pack / "val_motion.pt"),
        eval_count=1,
        eval_every=10**6,
        workers=1,
        threads=2,
    )
    logs: list[str] = []
    t = Trainer(cfg, log=logs.append, minutes=0.3)
    t.run()
    session = t.runlog["sessions"][-1]
    assert session["h264"] != "libx264" and any("JPEG" in m for m in logs)
    assert session["steps_fitted"] >= t.step >= 1 and any("fitted to the budget" in m for m in logs)
    assert len(t.history["eval_step"]) == 1 and t.history["eval_step"][0] == 0  # the init's validation
    weights = t.export(tmp_path / "w.pt")
    state = tmp_path / "w.state"
    assert state.exists() and weights.stat().st_size <= MAX_BYTES and state.stat().st_size <= MAX_BYTES
    st = torch.load(state, weights_only=True)
    assert st["opt"]["state"][0]["exp_avg_sq"].dtype == torch.bfloat16
    # a fresh machine: restore the committed pair, and the ordinary trainer continues at the same step
    ckpt = restore_state(weights, tmp_path / "fresh")
    again = Trainer(TrainConfig(**{**cfg.__dict__, "out": str(ckpt.parent), "steps": t.step + 1}), log=logs.append)
    assert again.step == t.step and again.runlog["resumes"][-1]["changed"] == []
    assert "compact state" in again.runlog["notes"][-1]
    for a, b in zip(again.ema.state_dict().values(), t.ema.state_dict().values()):
        assert torch.allclose(a, b.half().float())
