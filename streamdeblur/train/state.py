"""Compact training state: what a fresh machine needs to continue a run, small enough to commit.

A run's ``last.pt`` holds fp32 model, EMA and AdamW moments (~33 MB for ``deeprftv2-t``). For a
commit (each file ≤ 25 MiB) and for a GPU burst's return trip (≤ 16 MiB per file) it is split into:

- ``<name>.pt``: the EMA weights, fp16 — the shipped weights format (what the product loads);
- ``<name>.state``: the raw (non-EMA) model in fp16, the AdamW moments in bf16 (the second moment
  of gradients clipped to 0.01 underflows fp16; bf16 keeps fp32's range), step, random state,
  history and the run's log. Not ``*.pt``, so it never ships in the package.

A pair that is not (yet) the shipped weights is committed as ``streamdeblur/train/states/<name>.ema``
and ``<name>.state`` (outside the package data); :func:`restore_state` takes any suffix.

Restoring upcasts everything to fp32 (one rounding of the raw model and moments — recorded in the
run's log as a resume from a compact state) and writes ``<out>/last.pt``; the ordinary
``streamdeblur train CONFIG`` then continues (refused if recipe or code changed, unless
``--resume-anyway``).

Example:
    python -m streamdeblur.train.state export runs/motion-t-cpu14/last.pt streamdeblur/weights/deeprftv2-t-motion.pt
    python -m streamdeblur.train.state restore streamdeblur/weights/deeprftv2-t-motion.pt --out runs/motion-t-cpu14
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..errors import WeightsError
from ..models.weights import read_checkpoint, save_weights

#: Largest file a commit of this repository may hold (DEVELOPERS.md; the burst brings back at most 16 MiB).
MAX_BYTES = 25 * 2**20
STATE_SUFFIX = ".state"


def _compact_opt(opt: dict) -> dict:
    state = {}
    for idx, s in opt["state"].items():
        state[idx] = {k: (v.to(torch.bfloat16) if k in ("exp_avg", "exp_avg_sq") else v) for k, v in s.items()}
    return {"state": state, "param_groups": opt["param_groups"]}


def _full_opt(opt: dict) -> dict:
    state = {}
    for idx, s in opt["state"].items():
        state[idx] = {k: (v.float() if k in ("exp_avg", "exp_avg_sq") else v) for k, v in s.items()}
    return {"state": state, "param_groups": opt["param_groups"]}


#: what a run's ``last.pt`` holds (:class:`~streamdeblur.train.trainer.Trainer`'s checkpoint)
RUN_KEYS = ("model", "ema", "opt", "step", "config")


def read_run(path: str | Path) -> dict:
    """A run's checkpoint (``runs/NAME/last.pt``), read safely, or :class:`WeightsError` in one line.

    A damaged or foreign file there gave PyTorch's own words ("error: 101", "EOFError", a paragraph
    advising ``weights_only=False``) and exit 1 or 2; the weights loader's checks now say what it is.
    """
    st = read_checkpoint(path)
    missing = [k for k in RUN_KEYS if k not in st]
    if missing:
        what = "weights, not a training checkpoint" if "params" in st or "params_ema" in st else "not a training checkpoint"
        raise WeightsError(f"{path} holds {what} (no {missing[0]!r}): move it aside, or give the recipe another 'out'")
    return st


def export_state(ckpt: str | Path, weights: str | Path, extra: dict | None = None) -> tuple[Path, Path]:
    """Split a run's ``last.pt`` into the fp16 EMA weights file and its compact ``.state`` beside it.

    Args:
        ckpt: the run's checkpoint (``<out>/last.pt``).
        weights: the weights file to write (``.state`` goes beside it).
        extra: more meta for the weights file.

    Returns:
        ``(weights, state)`` paths.
    """
    st = read_run(ckpt)
    cfg = json.loads(st["config"])
    meta = {
        "model": cfg["model"],
        "step": int(st["step"]),
        "config": st["config"],
        "runlog": st.get("runlog", "null"),
        "history": json.dumps({k: v for k, v in st["history"].items() if k.startswith("eval")}),
        **(extra or {}),
    }
    weights = save_weights(st["ema"], Path(weights), meta)
    compact = {
        "model": {k: (v.half() if v.is_floating_point() else v) for k, v in st["model"].items()},
        "opt": _compact_opt(st["opt"]),
        **{k: st[k] for k in ("step", "history", "config", "rng", "runlog") if k in st},
    }
    state = weights.with_name(weights.stem + STATE_SUFFIX)
    tmp = state.with_name(state.name + ".partial")
    torch.save(compact, tmp)
    tmp.replace(state)
    # no size check here: MAX_BYTES is this repository's rule for committed files (tests/train/test_card.py
    # holds the shipped weights to it); a user's deeprftv2-s export (31 MiB) failed with exit 2 after writing
    return weights, state


def restore_state(weights: str | Path, out: str | Path) -> Path:
    """Rebuild ``<out>/last.pt`` from a weights file and its ``.state`` (see :func:`export_state`)."""
    weights = Path(weights)
    state_file = weights.with_name(weights.stem + STATE_SUFFIX)
    if not weights.is_file():
        raise FileNotFoundError(f"weights file not found: {weights}")
    if not state_file.exists():
        raise FileNotFoundError(f"{state_file} does not exist (export it with 'python -m streamdeblur.train.state export')")
    out = Path(out)
    ckpt = out / "last.pt"
    if ckpt.exists():
        raise FileExistsError(f"{ckpt} exists: the run is already there (move it away to restore the committed state)")
    # untrusted files: read as the product reads weights (refused if they would run code, one line if damaged)
    w, st = read_checkpoint(weights), read_checkpoint(state_file)
    for path, d, keys in ((weights, w, ("meta", "params")), (state_file, st, ("step", "model", "opt"))):
        missing = [k for k in keys if k not in d]
        if missing:
            raise ValueError(f"{path} is not an exported {'weights' if d is w else 'state'} file (no {missing[0]!r} in it)")
    if int(w["meta"].get("step", -1)) != int(st["step"]):
        raise ValueError(f"{weights} is step {w['meta'].get('step')} but {state_file} is step {st['step']}: not one export")
    runlog = json.loads(st.get("runlog", "null") or "null") or {}
    runlog.setdefault("notes", []).append(
        f"restored at step {st['step']} from compact state {state_file.name} (fp16 model, bf16 moments)"
    )
    full = {
        "model": {k: (v.float() if v.is_floating_point() else v) for k, v in st["model"].items()},
        "ema": {k: (v.float() if v.is_floating_point() else v) for k, v in w["params"].items()},
        "opt": _full_opt(st["opt"]),
        "step": st["step"],
        "history": st["history"],
        "config": st["config"],
        "rng": st["rng"],
        "runlog": json.dumps(runlog),
    }
    out.mkdir(parents=True, exist_ok=True)
    tmp = ckpt.with_suffix(".partial")
    torch.save(full, tmp)
    tmp.replace(ckpt)
    return ckpt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m streamdeblur.train.state", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="last.pt → fp16 EMA weights + compact .state beside them")
    e.add_argument("ckpt")
    e.add_argument("weights")
    r = sub.add_parser("restore", help="weights + .state → <out>/last.pt (then 'streamdeblur train CONFIG' continues)")
    r.add_argument("weights")
    r.add_argument("--out", required=True, help="the recipe's 'out' folder")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "export":
            for p in export_state(args.ckpt, args.weights):
                print(f"wrote {p} ({p.stat().st_size / 2**20:.1f} MiB)")
        else:
            print(f"wrote {restore_state(args.weights, args.out)}")
    except (FileNotFoundError, FileExistsError, ValueError, KeyError, WeightsError) as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
