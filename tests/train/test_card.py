"""The shipped weights: their card's subset numbers recompute from a fresh clone (± 0.05 dB)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from streamdeblur.models import list_models, model_info
from streamdeblur.models.registry import bundled_weights_path
from streamdeblur.train.evaluate import evaluate

ROOT = Path(__file__).parents[2]
SHIPPED = [n for n in list_models() if model_info(n).default_weights]


@pytest.mark.parametrize("name", SHIPPED)
def test_card_numbers_recompute(name):
    info = model_info(name)
    weights = bundled_weights_path(info.default_weights)
    assert weights.exists(), f"{weights} is missing"
    assert weights.stat().st_size <= 25 * 2**20
    card = json.loads(weights.with_suffix(".json").read_text())
    assert weights.with_suffix(".md").exists()
    sub = card["subset"]
    data = torch.load(ROOT / sub["file"], weights_only=True)
    res = evaluate(data, [f"{name}:{weights}"], with_rl=False)
    got = {("model" if k.endswith(str(weights)) else k): v for k, v in res["results"].items()}
    for method in ("blurry input", "model"):
        assert abs(got[method]["psnr"] - sub["results"][method]["psnr"]) <= 0.05, method
    # and the shipped weights do help on held-out content
    held = card["heldout"]["results"]
    assert held["model"]["psnr"] > held["blurry input"]["psnr"]
    assert held["model"]["psnr"] > held["unsharp masking"]["psnr"]
