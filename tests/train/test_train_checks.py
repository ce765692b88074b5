"""``streamdeblur train`` refuses at start-up, in one line, what failed later or silently: recipe values out of
range, bad ``--device``/``--minutes``/``--threads``, a second session on a busy run folder, a ``.state`` export,
card files it would replace, unreadable sets, another model's checkpoint."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import yaml

from streamdeblur.cli import main
from streamdeblur.train.trainer import TrainConfig, Trainer

BASE = "model: deeprftv2-t\ndata: {data}\nout: {out}\nsteps: 2\nbatch: 1\ncrop_schedule: [[0, 64]]\n"


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return " ".join(err.split())


@pytest.mark.parametrize(
    "line, message",
    [
        ('blur: {p_noise: "x"}', "blur: p_noise: expected a number, got 'x'"),
        ("blur: {jpeg_quality: [75, 500]}", "blur: jpeg_quality: must be at least 1 and at most 100, got 500"),
        ("blur: {jpeg_quality: 500}", "blur: jpeg_quality: expected a [low, high] pair, got 500"),
        ("blur: {p_sharp: 5}", "blur: p_sharp: must be at least 0.0 and at most 1.0, got 5"),
        ("blur: {kernel_sizes: [7, 200]}", "blur: kernel_sizes: must be at least 3 and at most 65, got 200"),
        ("blur: {kernel_sizes: [45, 7]}", "blur: kernel_sizes: expected [low, high] with low <= high"),
        ("blur: {h264_presets: [bogus]}", "blur: h264_presets: unknown x264 preset 'bogus'; allowed: ultrafast,"),
        ("defocus: {max_radius: [1, 100]}", "defocus: max_radius: must be at least 0.0 and at most 32.0, got 100"),
        ("crop_schedule: [[0, 63]]", "crop_schedule: a crop must be a positive multiple of 8, got 63"),
        ("crop_schedule: [[0, 64], [5, 0]]", "crop_schedule: a crop must be a positive multiple of 8, got 0"),
        ("out: null", "out: expected a non-empty name, got None"),
        ('out: ""', "out: expected a non-empty name, got ''"),
        ("data: [a, b]", "data: expected a non-empty name, got ['a', 'b']"),
        ("betas: null", "betas: expected two numbers in [0, 1)"),
        ("betas: [2, 0.9]", "betas: each must be less than 1, got [2.0, 0.9]"),
        ("lr: .nan", "lr: expected a finite number, got nan"),
        ("min_lr: 1.0", "min_lr: must be at most lr (0.001), got 1.0"),
        ('bf16: "yes"', "bf16: expected true or false, got 'yes'"),
        ("threads: 10000", "threads: must be at least 1 and at most 1024, got 10000"),
        ("eval_set: [a]", "eval_set: expected a file's name (or nothing), got ['a']"),
    ],
)
def test_a_recipe_value_of_the_wrong_kind_or_range_is_one_line_at_start_up(tmp_path, capsys, line, message):
    # each failed at a later step (hours in: a 63-px crop, an unknown x264 preset drawn at random), froze the
    # machine (threads: 10000 started 20,001 threads), wrote into the current folder (out: "") or was taken
    # as something it did not say (bf16: "yes", min_lr above lr: a cosine that climbs)
    cfg = tmp_path / "c.yaml"
    text = BASE.format(data=tmp_path / "none", out=tmp_path / "run")
    key = line.split(":")[0] + ":"
    cfg.write_text("\n".join(x for x in text.splitlines() if not x.startswith(key)) + f"\nlr: 1.0e-3\n{line}\n")
    assert main(["train", str(cfg)]) == 2
    err = _one_line(capsys)
    assert message in err and str(cfg) in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--threads", "5000"], "--threads: must be at least 1 and at most 1024, got 5000"),
        (["--device", "tpu"], "unknown device 'tpu'; allowed: auto, cpu, cuda, cuda:N"),
        (["--device", ""], "--device '': give one of auto, cpu, cuda, cuda:N"),
        (["--minutes", "0"], "--minutes 0.0: expected a positive, finite number of minutes"),
        (["--minutes", "-5"], "--minutes -5.0: expected a positive"),
        (["--minutes", "nan"], "--minutes nan: expected a positive"),
        (["--minutes", "inf", "--steps", "0"], "--minutes inf: expected a positive"),
        (["--steps", "0"], "steps: 0 (as many as fit) needs a time budget (--minutes M)"),
        (["--export", "W.state"], "--export W.state: a .state name is the resume state's"),
        (["--card-subset", "s.pt"], "--card-subset needs --export PATH"),
    ],
)
def test_bad_training_flags_are_one_line_before_anything_runs(tmp_path, monkeypatch, capsys, args, message):
    # --device tpu/"" were PyTorch's words (exit 1); --minutes 0/-5/nan trained nothing and exited 0, inf with
    # steps 0 failed after 45 s; --export W.state wrote the weights, then the resume state over them, "exported"
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE.format(data=tmp_path / "none", out=tmp_path / "run"))
    assert main(["train", str(cfg), *args]) == 2
    assert message in _one_line(capsys)
    assert not (tmp_path / "run").exists() and not (tmp_path / "W.state").exists()


def test_cuda_without_cuda_is_one_line(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE.format(data=tmp_path / "none", out=tmp_path / "run"))
    assert main(["train", str(cfg), "--device", "cuda"]) == 2
    assert "device cuda: no CUDA device is available" in _one_line(capsys)


def test_a_second_training_of_a_busy_run_folder_is_refused(tmp_path, capsys):
    """Two ``train`` commands on one ``out:``: the second started again from step 0 while the first ran,
    and each overwrote the other's checkpoint. Now the second is told who holds the folder, exit 4."""
    import os

    from streamdeblur.train.trainer import hold_run

    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE.format(data=tmp_path / "none", out=tmp_path / "run"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"the first session's checkpoint")
    with hold_run(tmp_path / "run"):  # the first session (an flock: another open file is refused, even here)
        assert main(["train", str(cfg)]) == 4
        assert _one_line(capsys).endswith(f"error: {tmp_path / 'run'} is being trained by process {os.getpid()}")
    assert (tmp_path / "run" / "last.pt").read_bytes() == b"the first session's checkpoint"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["last.pt"]  # the lock file goes with the session


def test_a_run_folder_that_is_a_file_is_one_line_and_left_alone(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE.format(data=tmp_path / "none", out=tmp_path / "afile"))
    (tmp_path / "afile").write_text("mine")
    assert main(["train", str(cfg)]) == 4  # was "[Errno 17] File exists: 'afile'", exit 1
    assert _one_line(capsys).endswith(f"error: out: {tmp_path / 'afile'} is a file, not a run folder")
    assert (tmp_path / "afile").read_text() == "mine"


def _recipe(built, tmp_path, **kw):
    """A one-step recipe on the small built dataset (fdikp, the smallest model)."""
    base = dict(model="fdikp", data=str(built), out=str(tmp_path / "run"), steps=1, batch=1, crop_schedule=[[0, 64]], threads=1)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(dataclasses.asdict(TrainConfig(**{**base, **kw}))))
    return recipe


def test_a_validation_set_that_is_not_a_torch_file_is_one_line(built, tmp_path, capsys):
    # PyTorch's "Weights only load failed ... weights_only=False will likely succeed" paragraph, exit 1
    (tmp_path / "val.pt").write_text("not a set\n")
    recipe = _recipe(built, tmp_path, eval_set=str(tmp_path / "val.pt"))
    assert main(["train", str(recipe)]) == 3
    err = _one_line(capsys)
    assert f"validation set {tmp_path / 'val.pt'} is not a PyTorch checkpoint" in err and "weights_only" not in err, err
    assert not (tmp_path / "run").exists()


def test_resuming_another_models_run_says_the_first_keys_not_all_of_them(built, tmp_path, capsys):
    """``--resume-anyway`` onto another model's checkpoint: a 5,940-character line listing every key."""
    Trainer(TrainConfig.from_yaml(_recipe(built, tmp_path)), log=lambda _m: None).run()  # fdikp
    other = _recipe(built, tmp_path, model="deeprftv2-t")
    assert main(["train", str(other), "--resume-anyway"]) == 5
    err = _one_line(capsys)
    assert f"{tmp_path / 'run' / 'last.pt'} does not fit deeprftv2-t" in err and "missing (first: " in err, err
    assert len(err) < 400, len(err)


def test_card_subset_and_card_files_are_checked_before_the_export(built, tmp_path, capsys):
    """``--card-subset`` naming a text file failed after the export and minutes of evaluation (PyTorch's
    paragraph); an existing ``W.md``/``W.json`` was replaced without ``--overwrite``."""
    recipe = _recipe(built, tmp_path)
    (tmp_path / "s.txt").write_text("not a subset\n")
    w = tmp_path / "W.pt"
    assert main(["train", str(recipe), "--export", str(w), "--card-subset", str(tmp_path / "s.txt")]) == 3
    assert f"card subset {tmp_path / 's.txt'} is not a PyTorch checkpoint" in _one_line(capsys)
    assert not w.exists() and not (tmp_path / "run").exists()
    for kept in ("W.md", "W.json"):
        (tmp_path / kept).write_text("my card")
        assert main(["train", str(recipe), "--export", str(w), "--card-subset", str(tmp_path / "s.pt")]) == 2
        assert f"--export {tmp_path / kept} exists; pass --overwrite" in _one_line(capsys)
        assert (tmp_path / kept).read_text() == "my card" and not w.exists()
        (tmp_path / kept).unlink()


def test_an_existing_card_subset_is_read_not_rewritten(built, tmp_path):
    """``write_card(…, extend_subset=False)`` (``train --card-subset``): the user's subset gained parts,
    rewritten in place (not even atomically); now it is an input, read as it is."""
    from streamdeblur.train.card import make_subset, write_subset

    sub = tmp_path / "s.pt"
    torch.save({"blur": make_subset(torch.load(built / "test_motion.pt", weights_only=True))}, sub)
    before = sub.read_bytes()
    assert write_subset(built, "motion", sub, extend=False) == sub
    assert sub.read_bytes() == before and not list(tmp_path.glob("*.partial"))
    write_subset(built, "motion", sub)  # the project's committed subsets still gain the parts they lack
    assert "noblur" in torch.load(sub, weights_only=True)


def test_the_training_module_holds_the_run_folder_too(tmp_path, capsys):
    """``python -m streamdeblur.train.trainer`` (the GPU machines' entry) trained into a busy run folder."""
    import os

    from streamdeblur.train.trainer import hold_run
    from streamdeblur.train.trainer import main as trainer_main

    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE.format(data=tmp_path / "none", out=tmp_path / "run"))
    with hold_run(tmp_path / "run"):
        assert trainer_main([str(cfg)]) == 2
    assert capsys.readouterr().out.strip() == f"error: {tmp_path / 'run'} is being trained by process {os.getpid()}"
    assert not (tmp_path / "run").exists()


def test_a_bench_subset_that_is_not_a_torch_file_is_one_line(tmp_path, capsys):
    # bench --what bf16 --subset notes.txt: PyTorch's weights_only paragraph, exit 1
    (tmp_path / "notes.txt").write_text("not a subset\n")
    assert main(["bench", "-q", "--what", "bf16", "--device", "cpu", "--subset", str(tmp_path / "notes.txt")]) == 3
    err = _one_line(capsys)
    assert f"eval subset {tmp_path / 'notes.txt'} is not a PyTorch checkpoint" in err and "weights_only" not in err, err


def test_a_set_file_that_is_not_one_says_what_it_should_be(tmp_path):
    """A folder or a saved list where a validation set goes said "not a weights file" / "not a dict of tensors"."""
    from streamdeblur.errors import SourceError
    from streamdeblur.train.dataset import read_set

    torch.save([1, 2], tmp_path / "list.pt")
    for path, says in (
        (tmp_path, f"{tmp_path} is a folder, not a validation set"),
        (tmp_path / "list.pt", f"{tmp_path / 'list.pt'} holds a list, not a validation set"),
    ):
        with pytest.raises(SourceError) as e:
            read_set(path, "validation set")
        assert str(e.value) == says


def test_a_run_that_cannot_start_leaves_no_folder_it_made(tmp_path, capsys):
    # the run folder is made to hold it (its lock) before the data is read: a recipe whose data is not built
    # left runs/x (and runs/) behind, empty
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE.format(data=tmp_path / "none", out=tmp_path / "runs" / "deep" / "x"))
    assert main(["train", str(cfg)]) == 3
    assert "is not a built dataset" in _one_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_a_training_plot_is_written_whole_under_its_own_name(tmp_path):
    # loss.png was written in place at every checkpoint: a link there (to a user's picture) had its target overwritten
    from streamdeblur.train.plot import line_plot

    mine = tmp_path / "holiday.png"
    mine.write_bytes(b"my picture")
    (tmp_path / "loss.png").symlink_to(mine)
    assert line_plot(tmp_path / "loss.png", {"loss": ([1, 2], [0.5, 0.25])}) == tmp_path / "loss.png"
    assert mine.read_bytes() == b"my picture" and not (tmp_path / "loss.png").is_symlink()
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize(
    "args, says",
    [(["--device", "tpu"], "unknown device 'tpu'"), (["--minutes", "nan"], "--minutes nan: expected a positive, finite")],
)
def test_the_training_module_checks_device_and_budget_too(tmp_path, capsys, args, says):
    from streamdeblur.train.trainer import main as trainer_main

    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE.format(data=tmp_path / "none", out=tmp_path / "run"))
    assert trainer_main([str(cfg), *args]) == 2
    out = capsys.readouterr().out.strip()
    assert out.startswith("error: ") and says in out and len(out.splitlines()) == 1, out
