"""The GPU burst path, run on the CPU: training pack, PyAV-free training, time-fitted schedule,
compact resume state and its restore."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
import pytest
import torch

from streamdeblur.train import trainer as trainer_mod
from streamdeblur.train.dataset import SharpPool
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


def test_pack_in_jpeg_holds_more_crops_that_training_reads(built, tmp_path):
    png = build_pack(built, tmp_path / "png", max_mib=3.0, crop=192, log=lambda _m: None)
    jpg = build_pack(built, tmp_path / "jpg", max_mib=3.0, crop=192, log=lambda _m: None, jpeg_quality=97)
    crops = sorted((tmp_path / "jpg" / "images" / "train").glob("*.jpg"))
    assert len(crops) == jpg["pack"]["photo_crops"] > 1.5 * png["pack"]["photo_crops"]
    assert not list((tmp_path / "jpg" / "images" / "train").glob("*.png"))
    assert jpg["pack"]["format"] == "jpeg q97 4:4:4"
    pool = SharpPool.load(tmp_path / "jpg", "train")
    assert len(pool.images) == len(crops) and all(im.shape == (192, 192, 3) for im in pool.images)
    with pytest.raises(ValueError, match="JPEG quality"):
        build_pack(built, tmp_path / "bad", max_mib=3.0, crop=192, log=lambda _m: None, jpeg_quality=60)


def _fitted_rate(pack, out, monkeypatch, slow_start: float) -> float:
    """The steps/min a ``steps: 0`` run fits its schedule on, when its first three steps take ``slow_start``
    seconds more each (a GPU's first steps: kernel selection, workers starting). The run stops once fitted."""
    clock = _Clock()
    monkeypatch.setattr(trainer_mod, "time", clock)
    monkeypatch.setattr(trainer_mod, "FIT_AFTER_S", 12.0)
    monkeypatch.setattr(trainer_mod, "FIT_MIN_STEPS", 2)
    logs: list[str] = []

    def log(msg: str) -> None:
        logs.append(msg)
        if "fitted to the budget" in msg:
            t._stop = True

    t = Trainer(_cfg(pack, out, eval_set=None), log=log, minutes=1.0)
    step = t.train_step

    def train_step() -> float:
        if t.step < 3:
            clock.now += slow_start
        return step()

    t.train_step = train_step
    t.run()
    line = next(m for m in logs if "fitted to the budget" in m)
    return float(line.split("budget: ")[1].split(" steps/min")[0])


def test_schedule_fit_leaves_out_a_slow_start(built, tmp_path, monkeypatch):
    pack = tmp_path / "pack"
    build_pack(built, pack, max_mib=3.0, crop=192, log=lambda _m: None)
    monkeypatch.setitem(sys.modules, "av", None)
    steady = _fitted_rate(pack, tmp_path / "a", monkeypatch, slow_start=0.0)
    slow_start = _fitted_rate(pack, tmp_path / "b", monkeypatch, slow_start=1.5)
    assert slow_start == pytest.approx(steady, rel=0.2), (steady, slow_start)


def _wheel(folder, version: str):
    """A minimal wheel of a stand-in ``av`` package (a module that says its version)."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "av-0.0-py3-none-any.whl"
    files = {
        "av/__init__.py": f"__version__ = {version!r}\n",
        "av-0.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: av\nVersion: 0.0\n",
        "av-0.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files["av-0.0.dist-info/RECORD"] = "".join(f"{name},,\n" for name in [*files, "av-0.0.dist-info/RECORD"])
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


def test_burst_installs_carried_wheels_where_its_jobs_find_them(tmp_path):
    # the device has no PyAV and no network: a first call carries the wheel and installs it into a
    # git-ignored folder of the tree; the jobs' Python must import that copy, not its own (here the
    # venv has a real PyAV, so a stand-in with its own version tells which one was imported)
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    wheels, site, out = tmp_path / "wheels", tmp_path / "site", tmp_path / "out"
    _wheel(wheels, "0.0-carried")
    env = {"PATH": "/usr/bin:/bin", "OUT": str(out), "PYTHON": sys.executable, "WHEELS": str(wheels), "SITE": str(site)}
    run = subprocess.run(
        ["bash", "streamdeblur/train/gpu_burst.sh"], cwd=root, env={**env, "INSTALL_ONLY": "1"}, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"PyAV 0.0-carried from {site}/av/__init__.py" in run.stdout
    assert "PyAV 0.0-carried" in (out / "burst.log").read_text()


@pytest.mark.parametrize("sig,code", [(2, 130), (15, 143)])
def test_an_interrupted_training_exits_130_or_143_and_exports_nothing(built, tmp_path, sig, code):
    """Ctrl-C or SIGTERM during ``streamdeblur train CONFIG --export W.pt``: the checkpoint is saved (the
    same command continues), the exit code says interrupted, and the half-trained model is not exported
    (it exited 0 and exported it: ``train X --export W.pt && deploy W.pt`` shipped an unfinished model)."""
    import os
    import subprocess

    import yaml

    run = tmp_path / "run"
    cfg = dict(_cfg(built, run, steps=100000, eval_set=None, threads=1).__dict__)
    cfg.update(log_every=1, save_every_s=3600.0)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    weights = tmp_path / "w.pt"
    p = subprocess.Popen(
        [sys.executable, "-m", "streamdeblur", "train", str(tmp_path / "c.yaml"), "--export", str(weights)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in p.stderr:  # wait for the training to be under way, then send the real signal
        lines.append(line)
        if line.startswith("step 2/"):
            os.kill(p.pid, sig)
            break
    rest = p.communicate(timeout=120)[1]
    assert p.returncode == code, (p.returncode, "".join(lines) + (rest or ""))
    assert "interrupted at step" in rest and "not exported" in rest, rest
    assert not weights.exists() and not weights.with_suffix(".state").exists()
    assert (run / "last.pt").exists()


def test_init_is_said_to_be_unused_when_the_run_folder_holds_a_run(built, tmp_path):
    """``init:`` starts a run; a folder that already holds one is resumed, and the recipe's init was
    ignored without a word (a user expecting a fresh start from new weights got the old run)."""
    first = Trainer(_cfg(built, tmp_path / "run", steps=1, eval_set=None), log=lambda _m: None)
    first.run()
    weights = first.export(tmp_path / "w.pt")
    logs: list[str] = []
    again = Trainer(_cfg(built, tmp_path / "run", steps=2, eval_set=None, init=str(weights)), log=logs.append)
    assert again.step == 1 and again.runlog["init"] is None
    assert any(m.startswith(f"init {weights} is not used") for m in logs), logs


def test_a_crop_the_sources_cannot_give_is_refused_at_start_up(built, tmp_path):
    """The built photos are 320 px: a schedule that reaches 300-px crops (300 + 2 × 32 margins) failed
    when it got there, hours into a real run; now before the first step."""
    from streamdeblur.errors import ConfigError

    with pytest.raises(ConfigError, match=r"crop_schedule reaches 300-px crops, but the largest training photo .* is 320 px"):
        Trainer(_cfg(built, tmp_path / "run", steps=10, eval_set=None, crop_schedule=[[0, 64], [5, 300]]), log=lambda _m: None)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_a_resume_with_a_changed_recipe_uses_its_optimizer_settings(built, tmp_path):
    """``--resume-anyway`` after changing betas / weight decay: the optimizer kept the saved ones while the
    checkpoint and the card recorded the new recipe."""
    first = Trainer(_cfg(built, tmp_path / "run", steps=1, eval_set=None), log=lambda _m: None)
    first.run()
    changed = _cfg(built, tmp_path / "run", steps=2, eval_set=None, betas=[0.5, 0.6], weight_decay=0.25)
    again = Trainer(changed, log=lambda _m: None, resume_anyway=True)
    assert again.step == 1 and again.runlog["resumes"][-1]["changed"] == ["recipe"]
    assert all(g["betas"] == (0.5, 0.6) and g["weight_decay"] == 0.25 for g in again.opt.param_groups)


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.getcwd, ())


def test_restoring_a_state_reads_both_files_as_untrusted_weights(tmp_path, capsys):
    """``python -m streamdeblur.train.state restore``: a pickle that asks for code printed PyTorch's
    traceback (with its advice to load it unsafely); a damaged file gave ``error: 101``; a missing
    weights file was reported as a missing ``.state``. One line each, exit 2, nothing written."""
    from streamdeblur.train.state import main as state_main

    torch.save({"params": {}, "x": _RunsCode()}, tmp_path / "evil.pt")
    (tmp_path / "evil.state").write_bytes(b"")
    (tmp_path / "junk.pt").write_text("not a checkpoint\n")
    (tmp_path / "junk.state").write_text("not a checkpoint\n")
    for name, says in (
        ("evil.pt", "evil.pt refused: it would run code (it asks for "),
        ("junk.pt", "junk.pt is not a PyTorch checkpoint"),
        ("nope.pt", "weights file not found: "),
    ):
        assert state_main(["restore", str(tmp_path / name), "--out", str(tmp_path / "run")]) == 2
        out = capsys.readouterr().out.strip()
        assert len(out.splitlines()) == 1 and out.startswith("error: ") and says in out, out
    assert not (tmp_path / "run").exists()


def test_weights_larger_than_this_repositorys_commit_limit_export_for_a_user(tmp_path):
    """Exporting a deeprftv2-s run (31 MiB fp16) wrote both files, then failed with exit 2 over the 25 MiB
    this repository allows a commit: a user's script took the export for failed."""
    from streamdeblur.models import create_model
    from streamdeblur.train.state import export_state

    model = create_model("deeprftv2-s")
    sd = model.state_dict()
    opt = torch.optim.AdamW(model.parameters()).state_dict()
    ckpt = {"step": 1, "config": json.dumps({"model": "deeprftv2-s"}), "history": {}, "ema": sd, "model": sd, "opt": opt}
    torch.save(ckpt, tmp_path / "last.pt")
    weights, state = export_state(tmp_path / "last.pt", tmp_path / "W.pt")
    assert weights.stat().st_size > MAX_BYTES and state.exists()
    restored = create_model("deeprftv2-s", weights=weights)
    assert all(torch.equal(v.half().float(), restored.state_dict()[k].float()) for k, v in sd.items() if v.is_floating_point())


def test_a_refused_resume_names_what_changed_and_a_moved_fused_set_is_no_change(built, tmp_path):
    """A refusal named two recipe hashes only (finding the key meant diffing JSON by hand), and moving the
    dataset (``fused_set: data/sharp/fused.pt`` → an absolute path) was refused as another recipe: a
    committed state could not be continued on a fresh machine's paths."""
    from streamdeblur.train.trainer import ResumeRefused

    frames = torch.randint(0, 256, (4, 3, 120, 160), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    (tmp_path / "a").mkdir()
    torch.save({"x": frames, "gt": frames.clone(), "meta": {"sha256": "f" * 64}}, tmp_path / "a" / "fused.pt")
    kw = dict(steps=1, eval_set=None, p_fused=0.5)
    Trainer(_cfg(built, tmp_path / "run", fused_set=str(tmp_path / "a" / "fused.pt"), **kw), log=lambda _m: None).run()
    with pytest.raises(ResumeRefused, match=r"different recipe \(changed: lr, p_fused\)"):
        Trainer(_cfg(built, tmp_path / "run", fused_set=str(tmp_path / "a" / "fused.pt"), **{**kw, "lr": 5e-4, "p_fused": 0.3}))
    (tmp_path / "a").rename(tmp_path / "b")  # the dataset moved
    logs: list[str] = []
    moved = Trainer(_cfg(built, tmp_path / "run", fused_set=str(tmp_path / "b" / "fused.pt"), **kw), log=logs.append)
    assert moved.step == 1 and moved.runlog["resumes"][-1]["changed"] == []
    assert any("fused set" in m and "moved" in m for m in logs), logs
    torch.save({"x": frames, "gt": frames.clone(), "meta": {"sha256": "0" * 64}}, tmp_path / "b" / "other.pt")
    with pytest.raises(ResumeRefused, match=r"changed: fused_set"):  # another fused set is another recipe
        Trainer(_cfg(built, tmp_path / "run", fused_set=str(tmp_path / "b" / "other.pt"), **kw), log=lambda _m: None)


def test_an_export_target_that_cannot_be_written_is_refused_before_training(built, tmp_path, capsys):
    """``--export`` naming a folder failed after the training ("[Errno 21] Is a directory") and left
    ``NAME.partial`` behind; ``--export-only`` for a run that never trained gave a raw errno."""
    import dataclasses

    import yaml

    from streamdeblur.cli import main

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(dataclasses.asdict(_cfg(built, tmp_path / "run", steps=1, eval_set=None))))
    (tmp_path / "w").mkdir()
    (tmp_path / "theirs.pt").write_bytes(b"a colleague's weights")  # replaced without a word (audit 28)
    for args, says in (
        (["--export", str(tmp_path / "w")], f"--export {tmp_path / 'w'} is a folder: give the weights file's name"),
        (["--export", str(tmp_path / "no" / "w.pt")], f"the folder {tmp_path / 'no'} does not exist"),
        (["--export", str(recipe / "w.pt")], f"{recipe} is a file, not a folder"),
        (["--export-only", "--export", str(tmp_path / "w.pt")], f"no checkpoint in {tmp_path / 'run'} to export (train first"),
        (["--export", str(tmp_path / "theirs.pt")], f"--export {tmp_path / 'theirs.pt'} exists; pass --overwrite to replace it"),
        # with --overwrite the target is taken (here the run has nothing to export yet)
        (["--export-only", "--overwrite", "--export", str(tmp_path / "theirs.pt")], f"no checkpoint in {tmp_path / 'run'}"),
    ):
        assert main(["train", str(recipe), *args]) == 2
        err = capsys.readouterr().err
        assert says in " ".join(err.split()) and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists() and list((tmp_path / "w").iterdir()) == [] and not list(tmp_path.glob("*.partial"))
    assert (tmp_path / "theirs.pt").read_bytes() == b"a colleague's weights"
    # --export runs/X/last.pt overwrote the training checkpoint it was exporting, even asked to
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"the run")
    own = ["--export-only", "--overwrite", "--export", str(tmp_path / "run" / "last.pt")]
    assert main(["train", str(recipe), *own]) == 2
    assert "is the run's own checkpoint" in capsys.readouterr().err
    assert (tmp_path / "run" / "last.pt").read_bytes() == b"the run"


def test_a_budgeted_run_resumed_goes_on_with_the_schedule_it_fitted(built, tmp_path, monkeypatch):
    """``steps: 0 --minutes M`` fits a cosine to the session's budget. Resumed, each session fitted a new
    one from where it stood: the learning rate went back to its peak every time, without a word."""
    monkeypatch.setattr(trainer_mod, "time", _Clock())
    monkeypatch.setattr(trainer_mod, "FIT_AFTER_S", 2.0)
    monkeypatch.setattr(trainer_mod, "FIT_MIN_STEPS", 2)
    logs: list[str] = []

    def stop_once_fitted(msg: str) -> None:  # the session ends early (a shutdown, Ctrl-C): its cosine is not over
        logs.append(msg)
        if "fitted to the budget" in msg:
            first._stop = True

    first = Trainer(_cfg(built, tmp_path / "run", eval_set=None), log=stop_once_fitted, minutes=0.2)
    first.run()
    fitted = first.runlog["sessions"][-1]["steps_fitted"]
    assert 0 < first.step < fitted
    again = Trainer(_cfg(built, tmp_path / "run", eval_set=None), log=logs.append, minutes=0.2)
    assert again.cfg.steps == fitted and again.cfg.lr_at(again.step) < 0.9 * again.cfg.lr  # not back at the peak
    assert logs[-1] == f"continuing the schedule an earlier session fitted to its budget: step {first.step} of {fitted}"
    again.run()
    assert again.step == fitted
    third = Trainer(_cfg(built, tmp_path / "run", eval_set=None), log=logs.append, minutes=0.2)
    assert third.cfg.steps == 0 and "(a warm restart: the learning rate goes back to 1.00e-04)" in logs[-1], logs[-1]


def test_a_damaged_or_foreign_run_checkpoint_is_one_line(built, tmp_path, capsys):
    """``runs/X/last.pt`` damaged, empty, or a weights file put there: PyTorch's own words ("error: 101",
    "EOFError", its paragraph on miniz) or "error: model" with --resume-anyway, exit 1 or 2 (audit 28)."""
    import dataclasses

    import yaml

    from streamdeblur.cli import main
    from streamdeblur.models.registry import bundled_weights_path

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(dataclasses.asdict(_cfg(built, tmp_path / "run", steps=1, eval_set=None))))
    (tmp_path / "run").mkdir()
    last = tmp_path / "run" / "last.pt"
    shipped = bundled_weights_path("deeprftv2-rt-motion.pt").read_bytes()
    for content, says in (
        (b"101\n", "is not a PyTorch checkpoint"),
        (b"", "is not a PyTorch checkpoint"),
        (shipped[: len(shipped) // 3], "not a PyTorch checkpoint as it is (truncated or damaged: PytorchStreamReader"),
        (shipped, "holds weights, not a training checkpoint (no 'model')"),
    ):
        last.write_bytes(content)
        for extra in ([], ["--resume-anyway"], ["--export-only", "--export", str(tmp_path / "w.pt")]):
            assert main(["train", str(recipe), *extra]) == 5, extra
            err = capsys.readouterr().err.strip()
            assert says in err and len(err.splitlines()) == 1 and "miniz" not in err, (extra, err)
    assert last.read_bytes() == shipped and not (tmp_path / "w.pt").exists()


def test_a_run_that_cannot_start_leaves_no_run_folder(built, tmp_path):
    """A missing ``init:``, fused set or validation set failed after the run folder was made: an empty
    folder stayed, and the missing sets were exit 1 without the folder they were looked for in."""
    from streamdeblur.errors import WeightsError
    from streamdeblur.train.dataset import DatasetMissing

    for kw, error in (
        ({"init": str(tmp_path / "nowhere.pt")}, WeightsError),
        ({"fused_set": "nowhere/fused.pt"}, DatasetMissing),
        ({"eval_set": "nowhere/val.pt"}, DatasetMissing),
    ):
        with pytest.raises(error) as e:
            Trainer(_cfg(built, tmp_path / "run", steps=1, **kw), log=lambda _m: None)
        assert not (tmp_path / "run").exists(), kw
        assert "nowhere" in str(e.value) and (error is WeightsError or f"(in {Path.cwd()})" in str(e.value)), str(e.value)
