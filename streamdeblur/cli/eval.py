"""``streamdeblur eval``: PSNR/SSIM of baselines and models on a held-out evaluation set."""

from __future__ import annotations

import argparse

from .console import out

NAME = "eval"
HELP = "PSNR/SSIM on the held-out split: baselines and models"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--eval-set",
        default="data/sharp/val_motion.pt",
        help="evaluation set (.pt) from 'data build' (default data/sharp/val_motion.pt, the validation split)",
    )
    p.add_argument("--model", action="append", default=[], help="model[:weights] to evaluate (repeatable)")
    p.add_argument("--out", default="runs/eval", help="folder for the Markdown table and the example strip")
    p.add_argument("--limit", type=int, help="only the first N samples")


def run(args) -> int:
    from ..train.evaluate import run_eval

    return run_eval(args, out)
