"""Training recipes are checked when read: a clear one-line error naming the key, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamdeblur.cli import main
from streamdeblur.errors import ConfigError
from streamdeblur.train.trainer import TrainConfig

BASE = "model: deeprftv2-t\ndata: {data}\nout: {out}\nsteps: 2\nbatch: 1\ncrop_schedule: [[0, 64]]\n"


@pytest.mark.parametrize(
    "line, message",
    [
        ("lr: fast", "lr: expected a number, got 'fast'"),
        ("steps: ten", "steps: expected an integer, got 'ten'"),
        ("batch: 0", "batch: must be at least 1, got 0"),
        ("eval_every: 0", "eval_every: must be at least 1, got 0"),
        ("log_every: 0", "log_every: must be at least 1, got 0"),
        ("ema: 2", "ema: must be at least 0.0 and at most 1, got 2"),
        ("schedule: linear", "schedule: expected one of cosine, constant, got 'linear'"),
        ("crop_schedule: 64", "crop_schedule: expected a list of [step, crop] pairs"),
        ("blur: {foo: 1}", "blur: unknown key 'foo'; allowed:"),
        ("model: [unclosed", "invalid YAML"),
    ],
)
def test_a_bad_recipe_value_is_one_line_naming_the_key(tmp_path, capsys, line, message):
    # each was a Python error from deep inside the run ("'<=' not supported ...", "integer modulo by zero",
    # "stack expects a non-empty TensorList"), exit 1, or a silent fallback (schedule: linear trained a cosine)
    cfg = tmp_path / "c.yaml"
    text = BASE.format(data=tmp_path / "none", out=tmp_path / "run")
    key = line.split(":")[0] + ":"
    text = "\n".join(x for x in text.splitlines() if not x.startswith(key)) + f"\n{line}\n"
    cfg.write_text(text)
    assert main(["train", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and str(cfg) in err, err
    assert not (tmp_path / "run").exists()


def test_a_number_yaml_reads_as_text_is_the_number_it_says(tmp_path):
    # YAML 1.1 reads 1e-3 (no dot) as a string; the shipped recipes write 1.0e-3
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE.format(data=tmp_path, out=tmp_path / "run") + "lr: 1e-3\nmin_lr: 1e-7\n")
    c = TrainConfig.from_yaml(cfg)
    assert c.lr == 0.001 and c.min_lr == 1e-7


def test_a_shipped_recipe_is_found_by_name_or_checkout_path_from_any_folder(tmp_path, monkeypatch):
    """Installed from a wheel, ``streamdeblur train streamdeblur/train/configs/motion-t.yaml`` (the
    README's command) and ``train motion-t`` both said "[Errno 2] No such file or directory", and a
    recipe's ``init: streamdeblur/weights/…`` was read relative to the current folder."""
    from streamdeblur.train.trainer import recipe_path

    monkeypatch.chdir(tmp_path)
    assert recipe_path("motion-t") == recipe_path("streamdeblur/train/configs/motion-t.yaml")
    assert recipe_path("motion-t").is_file()
    init = Path(TrainConfig.from_yaml("motion-t-clean").init)
    assert init.is_file() and init.name == "deeprftv2-t-motion.pt"
    with pytest.raises(ConfigError, match=r"^training recipe not found: elsewhere/motion-t.yaml \(shipped: .*motion-t,"):
        recipe_path("elsewhere/motion-t.yaml")  # a path that is not the shipped one's is not quietly replaced
    own = tmp_path / "motion-t.yaml"  # the user's own file of a shipped recipe's name wins when it is there
    own.write_text("model: deeprftv2-t\nsteps: 3\n")
    assert recipe_path("motion-t.yaml").resolve() == own and TrainConfig.from_yaml("motion-t.yaml").steps == 3


def test_an_empty_or_folder_recipe_is_said_as_such(tmp_path, monkeypatch):
    from streamdeblur.train.trainer import recipe_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(ConfigError, match=r"^no training recipe given \(an empty name\)$"):
        recipe_path("")
    with pytest.raises(ConfigError, match=r"^runs is a folder, not a training recipe$"):
        recipe_path("runs")
    (tmp_path / "motion-t").mkdir()  # a folder of a shipped recipe's name: the shipped recipe, as for pipelines
    assert recipe_path("motion-t").parent.name == "configs"


@pytest.mark.parametrize("native_bf16", [True, False])
def test_a_recipe_whose_data_is_not_built_here_names_the_folder_it_looked_in(tmp_path, monkeypatch, capsys, native_bf16):
    # a shipped recipe named from another folder read its `data: data/sharp` there and said "data/sharp is
    # not a built dataset", exit 1: which data/sharp was not said (audit 25). On a CPU without native bf16
    # (an AVX2-only EPYC) the trainer's "bf16 autocast off" note came first, before the error.
    from streamdeblur.cli import main
    from streamdeblur.train import trainer

    monkeypatch.setattr(trainer, "auto_bf16", lambda device: native_bf16)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "motion-t", "--steps", "1"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"streamdeblur: error: data/sharp (in {tmp_path}) is not a built dataset (no manifest.json): run "
        "'streamdeblur data build' in that folder, or set the recipe's data: to where it was built"
    ], err
