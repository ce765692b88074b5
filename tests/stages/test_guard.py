"""The model stages' do-no-harm gate: used with the weights it belongs to, off on request, refused
with one line when its file is broken."""

from __future__ import annotations

import pytest
import torch

from streamdeblur.errors import WeightsError
from streamdeblur.models.registry import bundled_weights_path, model_info
from streamdeblur.stages import Batch, StageContext, create_stage


def _batch(x):
    return Batch(x.clone(), [], x.clone())


def _save_gate(path, bias):
    from streamdeblur.models.gate import HarmGate

    g = HarmGate()
    with torch.no_grad():
        g.head.weight.zero_()
        g.head.bias.fill_(bias)
    torch.save({k: v.half() for k, v in g.state_dict().items()}, path)


@pytest.mark.parametrize("stage,model", [("deblur", "deeprftv2-t"), ("defocus", "fdikp")])
def test_shipped_weights_come_with_their_gate(stage, model):
    weights = bundled_weights_path(model_info(model).default_weights)
    assert weights.with_name(weights.stem + ".gate.pt").is_file()
    s = create_stage(stage, {"model": model}, StageContext())
    assert s.gate is not None
    assert create_stage(stage, {"model": model, "guard": "off"}, StageContext()).gate is None


def test_closed_gate_gives_the_input_back_and_off_gives_the_model(tmp_path):
    x = torch.rand(1, 3, 64, 64)
    closed = tmp_path / "closed.gate.pt"
    _save_gate(closed, -30.0)
    opts = {"model": "deeprftv2-t", "weights": "default", "tile": 0}
    out = create_stage("deblur", {**opts, "guard": str(closed)}, StageContext())(_batch(x)).images
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)
    raw = create_stage("deblur", {**opts, "guard": "off"}, StageContext())(_batch(x)).images
    assert (raw - x).abs().mean() > 1e-3  # the model itself does change the frame


def test_a_broken_gate_file_is_one_line(tmp_path):
    """A file that is no checkpoint gave PyTorch's weights_only text cut at 160 characters ("Re-running
    `torch."), the model's own weights given as a gate "'dict' object has no attribute 'float'"."""
    bad = tmp_path / "bad.gate.pt"
    bad.write_bytes(b"not a checkpoint at all")
    weights = bundled_weights_path(model_info("deeprftv2-t").default_weights)
    for guard, says in (
        (bad, f"cannot load the do-no-harm gate: {bad} is not a PyTorch checkpoint (no torch.save data in it)"),
        (weights, f"{weights} holds model weights, not a do-no-harm gate (a gate file is <weights>.gate.pt)"),
        (tmp_path / "nope.pt", f"do-no-harm gate not found: {tmp_path / 'nope.pt'} (--guard takes auto, off or a gate file)"),
        (tmp_path, f"{tmp_path} is a folder, not a do-no-harm gate file"),
        # PyTorch's first line only, "Error(s) in loading state_dict for HarmGate:", said nothing (audit 28)
        (tmp_path / "empty.gate.pt", f"{tmp_path / 'empty.gate.pt'} is not a do-no-harm gate: Missing key(s) in state_dict: "),
    ):
        torch.save({}, tmp_path / "empty.gate.pt")
        with pytest.raises(WeightsError) as e:
            create_stage("deblur", {"model": "deeprftv2-t", "guard": str(guard)}, StageContext())
        assert str(e.value) == says or (says.endswith(": ") and str(e.value).startswith(says)), str(e.value)


def test_custom_weights_without_a_gate_run_ungated(tmp_path):
    import shutil

    w = tmp_path / "mine.pt"
    shutil.copy(bundled_weights_path(model_info("deeprftv2-t").default_weights), w)
    assert create_stage("deblur", {"model": "deeprftv2-t", "weights": str(w)}, StageContext()).gate is None


def test_cli_guard_flag_reaches_the_stage(tmp_path, capsys):
    import media

    from streamdeblur.cli import main

    src = tmp_path / "in.mp4"
    media.write_video(src, frames=3, size=(64, 48), fps=10)
    missing = tmp_path / "nowhere.gate.pt"
    code = main(["run", str(src), "-o", str(tmp_path / "out.mp4"), "--pipeline", "defocus", "--guard", str(missing)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 5 and len(err) == 1 and "do-no-harm gate" in err[0], err
    assert main(["run", str(src), "-o", str(tmp_path / "out.mp4"), "--pipeline", "defocus", "--guard", "off"]) == 0


def test_own_weights_without_a_gate_beside_them_are_said_to_run_raw(tmp_path):
    # a byte-identical copy of the shipped weights elsewhere gave other pixels (up to 59 levels): its gate,
    # <weights>.gate.pt, was not beside it, and nothing said so (audit 28)
    import shutil

    own = tmp_path / "mine.pt"
    shutil.copy(bundled_weights_path("deeprftv2-rt-motion.pt"), own)
    said: list[str] = []
    stage = create_stage("deblur", {"model": "deeprftv2-rt", "weights": str(own)}, StageContext(warn=said.append))
    assert stage.gate is None and any(f"no do-no-harm gate beside {own} (looked for mine.gate.pt)" in m for m in said), said
    shutil.copy(bundled_weights_path("deeprftv2-rt-motion.gate.pt"), tmp_path / "mine.gate.pt")
    said.clear()
    stage = create_stage("deblur", {"model": "deeprftv2-rt", "weights": str(own)}, StageContext(warn=said.append))
    assert stage.gate is not None and not said
    create_stage("deblur", {"model": "deeprftv2-rt", "weights": str(own), "guard": "off"}, StageContext(warn=said.append))
    assert not said  # --guard off: meant


@pytest.mark.parametrize("stage,model", [("deblur", "deeprftv2-t"), ("deblur", "deeprftv2-rt"), ("defocus", "fdikp")])
def test_a_gate_says_when_it_meets_weights_it_was_not_fitted_for(tmp_path, stage, model):
    """Any gate ran with any weights without a word: the defocus gate given to the motion model, or a
    gate beside weights it was not fitted for (audit 28). Its card (``<gate>.json``) names the model and
    the weights' SHA-256; the shipped pairs match."""
    import shutil

    said: list[str] = []
    create_stage(stage, {"model": model}, StageContext(warn=said.append))
    assert not said, said  # the shipped weights with their own gate
    other = "fdikp-defocus" if model != "fdikp" else "deeprftv2-t-motion"
    foreign = tmp_path / "foreign.gate.pt"
    for suffix in (".gate.pt", ".gate.json"):
        shutil.copy(bundled_weights_path(other + suffix), tmp_path / f"foreign{suffix}")
    create_stage(stage, {"model": model, "guard": str(foreign)}, StageContext(warn=said.append))
    fitted = other.split("-")[0] if model != "fdikp" else "deeprftv2-t"
    assert len(said) == 1 and f"foreign.gate.pt was fitted for the {fitted} model, not {model}" in said[0], said
    said.clear()
    own = tmp_path / "mine.pt"  # the right model's gate, beside changed weights
    weights = bundled_weights_path(model_info(model).default_weights)
    shutil.copy(weights, own)
    with open(own, "ab") as f:
        f.write(b"\0")  # other bytes, same tensors
    for suffix in (".gate.pt", ".gate.json"):
        shutil.copy(weights.with_name(weights.stem + suffix), tmp_path / f"mine{suffix}")
    create_stage(stage, {"model": model, "weights": str(own)}, StageContext(warn=said.append))
    assert len(said) == 1 and f"mine.gate.pt was fitted for other weights, not {model} (mine.pt)" in said[0], said
