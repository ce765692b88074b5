"""The GPU burst path, run on the CPU: training pack, PyAV-free training, time-fitted schedule,
compact resume state and its restore."""

from __future__ import annotations

import json
import sys
import time

import cv2
import pytest
import torch

from streamdeblur.train import trainer as trainer_mod
from streamdeblur.train.pack import build_pack
from streamdeblur.train.state import MAX_BYTES, restore_state
from streamdeblur.train.trainer import TrainConfig, Trainer


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


def _cfg(pack, out, **kw) -> TrainConfig:
    base = dict(
        model="fdikp",  # the burst's mechanics do not depend on the model; the smallest keeps this quick
        task="motion",
        data=str(pack),
        out=str(out),
        steps=0,
        batch=2,
        crop_schedule=[[0, 64]],
        lr=1e-4,
        min_lr=1e-6,
        warmup=2,
        eval_set=str(pack / "val_motion.pt"),
        eval_count=1,
        eval_every=10**6,
        threads=2,
    )
    return TrainConfig(**{**base, **kw})


class _Clock:
    """``time`` whose monotonic clock advances 0.25 s per reading: the time budget becomes a number
    of loop turns, the same on a loaded machine as on an idle one."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 0.25
        return self.now

    def __getattr__(self, name: str):
        return getattr(time, name)


def test_burst_trains_without_pyav_fits_its_schedule_and_resumes(built, tmp_path, monkeypatch):
    pack = tmp_path / "pack"
    build_pack(built, pack, max_mib=3.0, crop=192, log=lambda _m: None)
    monkeypatch.setitem(sys.modules, "av", None)  # the GPU machine has no PyAV
    monkeypatch.setattr(trainer_mod, "FIT_AFTER_S", 2.0)
    monkeypatch.setattr(trainer_mod, "FIT_MIN_STEPS", 2)
    monkeypatch.setattr(trainer_mod, "time", _Clock())
    cfg = _cfg(pack, tmp_path / "run")
    logs: list[str] = []
    t = Trainer(cfg, log=logs.append, minutes=0.2)
    t.run()
    session = t.runlog["sessions"][-1]
    assert session["h264"] != "libx264" and any("JPEG" in m for m in logs)
    assert "steps_fitted" in session, logs
    assert session["steps_fitted"] >= t.step >= 2 and any("fitted to the budget" in m for m in logs)
    assert t.cfg.lr_at(session["steps_fitted"]) == pytest.approx(cfg.min_lr)  # the cosine ends inside the budget
    assert t.history["eval_step"] == [0]  # the init's validation, before any step
    weights = t.export(tmp_path / "w.pt")
    state = tmp_path / "w.state"
    assert state.exists() and weights.stat().st_size <= MAX_BYTES and state.stat().st_size <= MAX_BYTES
    st = torch.load(state, weights_only=True)
    assert st["opt"]["state"][0]["exp_avg_sq"].dtype == torch.bfloat16
    # a fresh machine: restore the committed pair, and the ordinary trainer continues at the same step
    ckpt = restore_state(weights, tmp_path / "fresh")
    again = Trainer(_cfg(pack, ckpt.parent, steps=t.step + 1), log=logs.append)
    assert again.step == t.step and again.runlog["resumes"][-1]["changed"] == []
    assert "compact state" in again.runlog["notes"][-1]
    for a, b in zip(again.ema.state_dict().values(), t.ema.state_dict().values()):
        assert torch.equal(a, b.half().float())


def test_synthesis_workers_deliver_batches(built, tmp_path):
    """``workers``: batches come from spawned processes (a GPU needs them; forking can deadlock)."""
    pack = tmp_path / "pack"
    build_pack(built, pack, max_mib=3.0, crop=192, log=lambda _m: None)
    t = Trainer(_cfg(pack, tmp_path / "run", steps=1, workers=1), log=lambda _m: None)
    a, b = t._next_batch()
    assert a.shape == b.shape == (2, 3, 64, 64) and not torch.equal(a, b)
