"""Checkpoint loading: official layouts, prefixes, strictness, and hostile files."""

from __future__ import annotations

import os
import pickle
import random
import re
from pathlib import Path

import pytest
import torch

from streamdeblur.models import WeightsError, create_model, load_weights, save_weights


@pytest.fixture
def model():
    return create_model("deeprftv2-t")


@pytest.mark.parametrize("wrap", ["params", "params_ema", "state_dict", None])
def test_accepts_official_layouts_and_module_prefix(tmp_path, model, wrap):
    src = create_model("deeprftv2-t")
    sd = {f"module.{k}": v for k, v in src.state_dict().items()}
    path = tmp_path / "ckpt.pth"
    torch.save(sd if wrap is None else {wrap: sd}, path)
    load_weights(model, path)
    for k, v in src.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)


def test_params_ema_preferred_over_params(tmp_path, model):
    a, b = create_model("deeprftv2-t"), create_model("deeprftv2-t")
    torch.save({"params": a.state_dict(), "params_ema": b.state_dict()}, tmp_path / "c.pth")
    load_weights(model, tmp_path / "c.pth")
    k = next(iter(b.state_dict()))
    assert torch.equal(model.state_dict()[k], b.state_dict()[k])


def test_a_training_checkpoint_gives_its_ema_and_a_resume_state_is_refused(tmp_path, model):
    # --weights runs/X/last.pt ran the raw weights ("model"), not the EMA the trainer validates and exports
    # ("ema"); its compact .state (raw weights fp16 and the optimizer) ran as weights too (audit 28)
    raw, ema = create_model("deeprftv2-t"), create_model("deeprftv2-t")
    torch.save({"model": raw.state_dict(), "ema": ema.state_dict(), "opt": {}, "step": 3}, tmp_path / "last.pt")
    load_weights(model, tmp_path / "last.pt")
    k = next(iter(ema.state_dict()))
    assert torch.equal(model.state_dict()[k], ema.state_dict()[k]) and not torch.equal(ema.state_dict()[k], raw.state_dict()[k])
    torch.save({"model": raw.state_dict(), "opt": {}, "step": 3}, tmp_path / "last.state")
    with pytest.raises(WeightsError, match=r"last\.state: a training resume state .*give the weights file beside it"):
        load_weights(model, tmp_path / "last.state")
    torch.save({"meta": {"model": "deeprftv2-t"}}, tmp_path / "empty.pt")
    with pytest.raises(WeightsError, match=r"empty\.pt: checkpoint holds no tensors"):  # it named no file
        load_weights(model, tmp_path / "empty.pt")


def test_mismatch_names_first_missing_unexpected_misshaped(tmp_path, model):
    sd = dict(create_model("deeprftv2-t").state_dict())
    first = next(iter(sd))
    sd.pop(first)
    sd["global_model.bogus.weight"] = torch.zeros(1)
    k2 = [k for k in sd if k.endswith("output_maxs.0.weight")][0]
    sd[k2] = torch.zeros(2, 2)
    torch.save({"params": sd}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError) as e:
        load_weights(model, tmp_path / "bad.pth")
    msg = str(e.value)
    assert first in msg and "global_model.bogus.weight" in msg and k2 in msg


def test_wrong_architecture(tmp_path, model):
    torch.save({"params": create_model("deeprftv2-s").state_dict()}, tmp_path / "s.pth")
    with pytest.raises(WeightsError, match="does not fit"):
        load_weights(model, tmp_path / "s.pth")


def test_missing_and_truncated_files(tmp_path, model):
    with pytest.raises(WeightsError, match="not found"):
        load_weights(model, tmp_path / "nope.pth")
    path = tmp_path / "t.pth"
    save_weights(model, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="cannot read"):
        load_weights(model, path)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/streamdeblur_pwned",))


def test_pickle_payload_is_refused_and_never_runs(tmp_path, model):
    marker = "/tmp/streamdeblur_pwned"
    if os.path.exists(marker):
        os.remove(marker)
    path = tmp_path / "evil.pth"
    torch.save({"params": model.state_dict(), "x": Evil()}, path)
    with pytest.raises(WeightsError, match="refused"):
        load_weights(model, path)
    assert not os.path.exists(marker)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(WeightsError):
        load_weights(model, raw)
    assert not os.path.exists(marker)


def test_fp16_round_trip_keeps_meta(tmp_path, model):
    path = save_weights(model, tmp_path / "w.pt", meta={"step": 7, "model": "deeprftv2-t"})
    other = create_model("deeprftv2-t")
    meta = load_weights(other, path)
    assert meta["step"] == 7
    k = "global_model.output_maxs.0.weight"
    assert torch.allclose(other.state_dict()[k], model.state_dict()[k].half().float())


def test_bundled_default_weights_load():
    m = create_model("deeprftv2-t", weights="default")
    assert not m.training
    with pytest.raises(WeightsError, match="ships no trained weights"):
        create_model("deeprftv2-b", weights="default")


def test_random_bytes_are_not_a_pytorch_checkpoint(tmp_path, model):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(random.Random(0).randbytes(4096))
    with pytest.raises(WeightsError) as e:
        load_weights(model, junk)
    msg = str(e.value)
    assert "not a PyTorch checkpoint" in msg
    assert "weights_only" not in msg and "False" not in msg  # never torch's invitation to load it unsafely


class Harmless:
    def __reduce__(self):
        return (print, ("this would have run",))


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
def test_a_checkpoint_that_needs_code_is_refused_without_the_unsafe_advice(tmp_path, model, zipped):
    path = tmp_path / "code.pth"
    torch.save({"params": {"w": torch.zeros(1)}, "x": Harmless()}, path, _use_new_zipfile_serialization=zipped)
    with pytest.raises(WeightsError) as e:
        load_weights(model, path)
    msg = str(e.value)
    assert "refused: it would run code" in msg and re.search(r"asks for (builtins\.)?print\b", msg)
    assert "weights_only" not in msg and "arbitrary code" not in msg and "False" not in msg


def test_a_plain_pickle_is_not_a_pytorch_checkpoint(tmp_path, model):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        load_weights(model, path)


def test_a_folder_an_empty_name_and_an_unwritable_place_are_one_line(tmp_path, model):
    # a folder read "weights file not found", an unset variable "not found: ." (the current folder), and
    # an export into /proc PyTorch's "[enforce fail at inline_container.cc:747] …", exit 1 (audit 28)
    from streamdeblur.errors import SinkError

    (tmp_path / "dir.pt").mkdir()
    with pytest.raises(WeightsError, match=r"dir\.pt is a folder, not a weights file$"):
        load_weights(model, tmp_path / "dir.pt")
    with pytest.raises(WeightsError, match=r"^no weights file given \(an empty name\)$"):
        load_weights(model, "")
    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)  # a pipe or a device is there, but is no file: it read "weights file not found"
    for odd in (fifo, Path("/dev/zero")):
        with pytest.raises(WeightsError, match=rf"^{re.escape(str(odd))} is not a regular file$"):
            load_weights(model, odd)
    with pytest.raises(SinkError, match=r"^cannot write /proc/w\.pt: ") as e:
        save_weights(model, "/proc/w.pt")
    assert e.value.exit_code == 4 and "enforce" not in str(e.value)


def test_weights_of_the_other_task_point_to_its_pipeline(tmp_path):
    # motion weights given to the defocus pipeline said "add --model deeprftv2-t", which then ran the motion
    # model inside the defocus stage without a word (audit 28)
    w = tmp_path / "mine.pt"
    save_weights(create_model("deeprftv2-rt"), w, meta={"model": "deeprftv2-rt"})
    with pytest.raises(WeightsError, match=r"; these weights are for deeprftv2-rt, a motion model: use --pipeline motion$"):
        create_model("fdikp", weights=w)
    with pytest.raises(WeightsError, match=r"; these weights are for deeprftv2-rt: add --model deeprftv2-rt$"):
        create_model("deeprftv2-t", weights=w)  # the same task: the model flag is the fix
