"""Weight cards: what a shipped weight file was trained on, how, for how long, and how well it does.

Each ``streamdeblur/weights/<name>.pt`` has ``<name>.md`` (for people) and ``<name>.json``
(numbers; a test recomputes the ``subset`` numbers from a fresh clone and must match within
0.05 dB). The subset is a small fixed slice of the held-out evaluation set committed under
``tests/data`` (128-px centre crops), so the check needs no dataset build.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import torch

from ..models import load_weights, model_info
from ..models.registry import bundled_weights_path
from .evaluate import evaluate

SUBSET_SIZE = 128


def make_subset(data: dict, n: int = 8, size: int = SUBSET_SIZE) -> dict:
    """Centre crops of the first ``n`` samples of an evaluation set (kernels/radius kept)."""
    h = data["blurry"].shape[-1]
    o = (h - size) // 2
    sl = (slice(None), slice(None), slice(o, o + size), slice(o, o + size))
    sub = {
        "blurry": data["blurry"][:n][sl].clone(),
        "sharp": data["sharp"][:n][sl].clone(),
        "sources": data["sources"][:n],
        "seed": data["seed"],
        "size": size,
        "task": data.get("task", "motion"),
    }
    if "kernels" in data:
        sub["kernels"] = data["kernels"][:n].clone()
        sub["weights"] = data["weights"][:n][sl].clone()
    if "radius" in data:
        sub["radius"] = data["radius"][:n][:, o : o + size, o : o + size].clone()
    return sub


def write_card(name: str, weights_file: str, eval_set: str | Path, subset_file: str | Path, curve: str | None = None) -> Path:
    """Evaluate the bundled ``weights_file`` of model ``name`` and write its ``.json`` and ``.md`` card."""
    path = bundled_weights_path(weights_file)
    meta = load_weights(model_info(name).builder(), path)
    full = evaluate(torch.load(eval_set, weights_only=True), [f"{name}:{path}"])
    subset = evaluate(torch.load(subset_file, weights_only=True), [f"{name}:{path}"])

    def table(res: dict) -> dict:
        return {("model" if k.endswith(str(path)) else k): v for k, v in res["results"].items()}

    cfg = json.loads(meta.get("config", "{}"))
    card = {
        "model": name,
        "file": weights_file,
        "date": date.today().isoformat(),
        "step": meta.get("step"),
        "task": model_info(name).task,
        "train_config": cfg,
        "heldout": {"n": full["n"], "results": table(full)},
        "subset": {"file": str(subset_file), "n": subset["n"], "results": table(subset)},
    }
    jpath = path.with_suffix(".json")
    jpath.write_text(json.dumps(card, indent=1) + "\n")
    base = card["heldout"]["results"]["blurry input"]["psnr"]
    rows = "\n".join(
        f"| {k} | {v['psnr']:.2f} | {v['psnr'] - base:+.2f} | {v['ssim']:.4f} |" for k, v in card["heldout"]["results"].items()
    )
    md = f"""# {weights_file}

Model `{name}` ({card["task"]} deblurring), fp16, trained by the streamdeblur developers.

- **Data**: sharp photographs and video frames from Debian's plasma-workspace-wallpapers, mate-backgrounds
  and opencv-doc (training split only; see `streamdeblur/train/debian_sources.json` and the README's
  data recipe), with synthetic {"camera-shake motion" if card["task"] == "motion" else "defocus"} blur,
  sensor noise and JPEG/H.264 compression synthesised on the fly.
- **Recipe**: `{cfg.get("model")}` trained with `streamdeblur train` — batch {cfg.get("batch")}, crops
  {cfg.get("crop_schedule")}, AdamW lr {cfg.get("lr")}, cosine over {cfg.get("steps")} steps,
  L1 + {cfg.get("fft_weight")} × Fourier loss, EMA {cfg.get("ema")}, bf16 {cfg.get("bf16")}.
- **Steps**: {card["step"]} (CPU, 2 cores shared{"; curve: " + curve if curve else ""}).
- **Held-out evaluation** ({card["heldout"]["n"]} crops of 256², evaluation split, {card["date"]}):

| method | PSNR (dB) | gain | SSIM |
|---|---|---|---|
{rows}

The `subset` numbers in `{jpath.name}` are recomputed by `tests/train/test_card.py` from a fresh clone.
"""
    path.with_suffix(".md").write_text(md)
    return jpath
