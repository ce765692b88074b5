"""Fit the do-no-harm gate (:class:`~streamdeblur.models.gate.HarmGate`) for shipped weights.

The model is frozen; its outputs on training crops are computed once through the product's stage
(without a gate) and the gate learns, from ``(input, output)``, how much of the change to keep.
The loss is on the PSNR gain of the blend over the input, per crop (so a sharp crop, with a small
error, counts as much as a blurry one): ``−mean(gain) + HARM_WEIGHT · mean(max(0, −gain))`` — a
decibel lost weighs three times a decibel won.
Half of the crops are blurred (the task's degradations), half sharp with only sensor noise and
compression (the do-no-harm case), all from the **train** split; the checkpoint with the best mean
gain on the **validation** sets (``val_<task>.pt`` and ``val_noblur.pt``, worst crop as tie-break)
is kept. The test sets are not read here (the weight card reads them once).

Example:
    python -m streamdeblur.train.gate --task motion --data data/sharp --out runs/gate-motion
    cp runs/gate-motion/gate.pt streamdeblur/weights/deeprftv2-t-motion.gate.pt
    cp runs/gate-motion/gate.json streamdeblur/weights/deeprftv2-t-motion.gate.json
    python -m streamdeblur.train.card streamdeblur/weights/deeprftv2-t-motion.pt --data data/sharp
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from ..models.gate import HarmGate
from .dataset import make_eval_set
from .evaluate import product_stage, through_stage

MODELS = {"motion": "deeprftv2-t", "defocus": "fdikp"}
#: a dB lost on a crop weighs 1 + HARM_WEIGHT times a dB gained (do no harm first)
HARM_WEIGHT = 2.0
#: (kind, no_blur, crops per training photo, seed)
TRAIN_SETS = [("blur", False, 6, 7001), ("noblur", True, 4, 7002)]


def model_outputs(task: str, data: Path, cache: Path, log=print) -> dict:
    """Train-split crops and the frozen model's outputs on them (cached in ``cache``)."""
    if cache.exists():
        return torch.load(cache, weights_only=True)
    stage = product_stage(MODELS[task], task, gate=False)
    res = {}
    for kind, no_blur, cpi, seed in TRAIN_SETS:
        # the no-blur crops are the same for every task (sharp + noise + compression, as test_noblur.pt)
        d = make_eval_set(
            data,
            cache.parent / f"train_{task}_{kind}.pt",
            crops_per_image=cpi,
            task="motion" if no_blur else task,
            split="train",
            no_blur=no_blur,
            seed=seed + (0 if task == "motion" or no_blur else 100),
        )
        x = d["blurry"].float() / 255
        t = time.time()
        y = through_stage(stage, x)
        log(f"{task} {kind}: {len(x)} crops through the model in {time.time() - t:.0f} s")
        res[kind] = {"x": d["blurry"], "y": (y * 255).round().byte(), "gt": d["sharp"], "src": list(d["sources"])}
    torch.save(res, cache)
    return res


def val_outputs(task: str, data: Path, log=print) -> dict:
    """The validation sets of ``task`` (blurred and no-blur) with the frozen model's outputs."""
    stage = product_stage(MODELS[task], task, gate=False)
    out = {}
    for name in (f"val_{task}", "val_noblur"):
        d = torch.load(data / f"{name}.pt", weights_only=True)
        x = d["blurry"].float() / 255
        out[name] = {"x": x, "y": through_stage(stage, x), "gt": d["sharp"].float() / 255}
        log(f"{name}: {len(x)} crops through the model")
    return out


def psnr_per_image(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return -10 * torch.log10(((a - b) ** 2).mean((1, 2, 3)).clamp_min(1e-10))


@torch.no_grad()
def gains(gate: HarmGate | None, sets: dict) -> dict:
    """Per set: mean and worst PSNR gain over the input, for the blend (``gate``) or the raw model (None)."""
    out = {}
    for name, d in sets.items():
        x, y, gt = d["x"], d["y"], d["gt"]
        pred = y if gate is None else gate(x, y).clamp(0, 1)
        g = psnr_per_image(pred, gt) - psnr_per_image(x, gt)
        out[name] = {"mean": float(g.mean()), "worst": float(g.min()), "harm": float(g.clamp_max(0).neg().mean())}
    return out


def fit(task: str, data: Path, out: Path, steps: int = 3000, batch: int = 32, crop: int = 128, seed: int = 0, log=print) -> dict:
    """Fit a gate and write ``out/gate.pt`` (fp16 state dict) and ``out/gate.json`` (the record)."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tr = model_outputs(task, data, out / f"cache_train_{task}.pt", log)
    x = torch.cat([tr[k]["x"] for k in ("blur", "noblur")])
    y = torch.cat([tr[k]["y"] for k in ("blur", "noblur")])
    gt = torch.cat([tr[k]["gt"] for k in ("blur", "noblur")])
    val = val_outputs(task, data, log)
    log(f"raw model on validation: {json.dumps(gains(None, val))}")
    gate = HarmGate()
    opt = torch.optim.AdamW(gate.parameters(), lr=1e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.05)
    n, size = len(x), x.shape[-1]
    best, best_state, curve = -math.inf, None, []
    t0 = time.time()
    for step in range(1, steps + 1):
        idx = torch.from_numpy(rng.integers(0, n, batch))
        oy, ox = (int(v) for v in rng.integers(0, size - crop + 1, 2))
        sl = (idx, slice(None), slice(oy, oy + crop), slice(ox, ox + crop))
        xb, yb, gb = (t[sl].float() / 255 for t in (x, y, gt))
        if rng.random() < 0.5:
            xb, yb, gb = (t.flip(-1) for t in (xb, yb, gb))
        gain = psnr_per_image(gate(xb, yb), gb) - psnr_per_image(xb, gb)
        loss = -gain.mean() + HARM_WEIGHT * gain.clamp_max(0).neg().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps:
            gate.eval()
            g = gains(gate, val)
            gate.train()
            score = float(np.mean([v["mean"] - HARM_WEIGHT * v["harm"] for v in g.values()]))
            curve.append({"step": step, "loss": float(loss.detach()), **{k: v for k, v in g.items()}})
            log(f"step {step}/{steps} loss {float(loss.detach()):.2f} val {json.dumps(g)} ({time.time() - t0:.0f} s)")
            if score > best:
                best, best_state = score, {k: v.detach().clone() for k, v in gate.state_dict().items()}
    gate.load_state_dict(best_state)
    torch.save({k: v.half() for k, v in best_state.items()}, out / "gate.pt")
    gate.eval()
    record = {
        "task": task,
        "model": MODELS[task],
        "steps": steps,
        "batch": batch,
        "crop": crop,
        "seed": seed,
        "train_crops": {k: len(tr[k]["x"]) for k in tr},
        "validation_raw_model": gains(None, val),
        "validation_gated": gains(gate.half().float(), val),
        "curve": curve,
        "minutes": round((time.time() - t0) / 60, 1),
    }
    (out / "gate.json").write_text(json.dumps(record, indent=1))
    return record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m streamdeblur.train.gate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", choices=sorted(MODELS), required=True, help="which shipped model the gate is for")
    ap.add_argument("--data", type=Path, default=Path("data/sharp"), help="a built dataset (streamdeblur data build)")
    ap.add_argument("--out", type=Path, required=True, help="run folder (gate.pt, gate.json, the cached model outputs)")
    ap.add_argument("--steps", type=int, default=3000, help="optimizer steps")
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    args = ap.parse_args(argv)
    rec = fit(args.task, args.data, args.out, steps=args.steps, seed=args.seed)
    print(json.dumps({k: rec[k] for k in ("validation_raw_model", "validation_gated")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
