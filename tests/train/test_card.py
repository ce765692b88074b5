"""The shipped weights against their cards, recomputed from a fresh clone through the product's stage.

Each card (``streamdeblur/weights/<name>.json``) carries the numbers of a committed subset of its
test split (``tests/data/card_subset_<task>.pt``: one 128-px crop per test photograph, blurred and
no-blur). Here they are recomputed through the stage the product runs (shipped pipeline, its
defaults) and must match within 0.05 dB; the model must beat the blurry input and lose at most
0.1 dB on the no-blur crops (the stage includes the do-no-harm gate shipped with the weights,
``<name>.gate.pt``, whose hash the card records). Swapping the weights file for another (an older
one), or the gate, fails this test.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from streamdeblur.models import list_models, model_info
from streamdeblur.models.registry import bundled_weights_path
from streamdeblur.train.card import subset_numbers

ROOT = Path(__file__).parents[2]
SHIPPED = [n for n in list_models() if model_info(n).default_weights]
TOLERANCE_DB = 0.05
NO_HARM_DB = 0.1


def _recompute(name):
    weights = bundled_weights_path(model_info(name).default_weights)
    card = json.loads(weights.with_suffix(".json").read_text())
    return weights, card, subset_numbers(ROOT / card["subset"]["file"], f"{name}:{weights}")


@pytest.mark.parametrize("name", SHIPPED)
def test_card_numbers_recompute(name):
    weights, card, got = _recompute(name)
    assert weights.stat().st_size <= 25 * 2**20
    assert weights.with_suffix(".md").exists()
    want = card["subset"]["results"]
    assert set(want) == set(got), f"subset parts {sorted(got)}, card {sorted(want)}"
    for part in want:
        for method in ("blurry input", "model"):
            diff = got[part][method] - want[part][method]
            assert abs(diff) <= TOLERANCE_DB, (
                f"{part} subset, {method}: recomputed {got[part][method]:.3f} dB, card {want[part][method]:.3f} dB ({diff:+.3f})"
            )
    blur = got["blur"]
    assert blur["model"] > blur["blurry input"], f"model {blur['model']:.2f} dB ≤ blurry input {blur['blurry input']:.2f} dB"
    assert card["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest(), "the card describes another weights file"
    gate = weights.with_name(weights.stem + ".gate.pt")
    if card.get("gate"):  # the numbers were measured with this do-no-harm gate; another one is another product
        assert gate.is_file() and card["gate"]["sha256"] == hashlib.sha256(gate.read_bytes()).hexdigest(), (
            "the card was measured with another do-no-harm gate"
        )
    else:
        assert not gate.is_file(), "a gate ships with these weights but the card was measured without it"


@pytest.mark.parametrize("name", SHIPPED)
def test_no_harm_on_sharp_input(name):
    """Sharp + noise + compression in: the model loses at most 0.1 dB (subset and the card's test table)."""
    _, card, got = _recompute(name)
    loss = got["noblur"]["blurry input"] - got["noblur"]["model"]
    assert loss <= NO_HARM_DB, f"no-blur subset: the model loses {loss:.2f} dB (allowed {NO_HARM_DB})"
    assert card["noblur"]["results"]["model"]["gain"] >= -NO_HARM_DB, "no-blur test split (card)"


CLEAN_XFAIL = {
    "fdikp": "defocus on clean sharp input: -0.16 dB [-0.51, +0.13] on the test split with the gate refitted on clean "
    "crops (2026-12-06; -0.72 [-1.15, -0.31] with the gate before); the subset passes"
}


CLEAN_CASES = [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=CLEAN_XFAIL[n])) if n in CLEAN_XFAIL else n for n in SHIPPED
]


@pytest.mark.parametrize("name", CLEAN_CASES)
def test_no_harm_on_clean_sharp_input(name):
    """Sharp, clean input (no sensor noise, H.264 crf 8–12: screen recordings, downscaled 4K, high-bitrate
    files): the model loses at most 0.1 dB on the card's clean test table and on the subset. The noisy
    no-blur set above cannot see this: a gate fitted only on noisy sharp crops passed the defocus model's
    changes of clean crops (test split −0.72 dB [−1.15, −0.31]; refitted with clean crops −0.16)."""
    _, card, got = _recompute(name)
    assert "clean" in card, "the card has no clean no-blur test (python -m streamdeblur.train.card W --add clean)"
    loss = got["clean"]["blurry input"] - got["clean"]["model"]
    assert loss <= NO_HARM_DB, f"clean no-blur subset: the model loses {loss:.2f} dB (allowed {NO_HARM_DB})"
    gain = card["clean"]["results"]["model"]["gain"]
    assert gain >= -NO_HARM_DB, f"clean no-blur test split (card): {gain:+.2f} dB"


@pytest.mark.parametrize("name", SHIPPED)
def test_card_test_table_is_the_test_split(name):
    """The card reports the test split (not validation), with intervals over photographs."""
    card = json.loads(bundled_weights_path(model_info(name).default_weights).with_suffix(".json").read_text())
    for part in ("test", "noblur", "clean"):
        model = card[part]["results"]["model"]
        lo, hi = model["gain_ci"]
        assert lo <= model["gain"] <= hi
        assert card[part]["images"] >= 5 and card[part]["n"] >= card[part]["images"]
    assert all(Path(s["file"]).name.startswith("test_") for s in card["data"]["test_sets"].values())


def test_a_card_for_your_own_weights_says_what_they_are(built, tmp_path):
    """The card written by ``train --export W --card-subset S`` for a user's weights said "trained by the
    streamdeblur developers", "Debian packages None", "`id` None: path", pointed at this repository's card
    test, and gave zero-width intervals over one photograph; a shipped card still renders as committed."""
    from streamdeblur.train.card import card_markdown, write_card
    from streamdeblur.train.evaluate import table_row
    from streamdeblur.train.trainer import TrainConfig, Trainer

    cfg = TrainConfig(model="fdikp", task="defocus", data=str(built), out=str(tmp_path / "run"), steps=1, batch=2)
    cfg.crop_schedule, cfg.eval_set, cfg.threads = [[0, 64]], None, 2
    trainer = Trainer(cfg, log=lambda _m: None)
    trainer.run()
    weights = trainer.export(tmp_path / "mine.pt")
    write_card(weights, built, tmp_path / "subset.pt", log=lambda _m: None)
    md = weights.with_suffix(".md").read_text()
    assert "trained with `streamdeblur train`" in md and "streamdeblur developers" not in md
    assert "Sharp content: your own folders (15 files)" in md and "packages None" not in md and "` None: `" not in md
    assert "your folder: `" in md and "tests/train/test_card.py" not in md
    assert "the recipe named no validation set" in md
    assert "[n/a: 1 photograph]" in table_row("model", {"psnr": 30.0, "psnr_ci": (30.0, 30.0), "ssim": 0.9}, 29.0, images=1)
    for name in SHIPPED:  # the project's own cards are unchanged by this
        card = bundled_weights_path(model_info(name).default_weights).with_suffix(".json")
        assert card_markdown(json.loads(card.read_text())) == card.with_suffix(".md").read_text()
