"""``streamdeblur models``: the model table (parameters, GMACs, CPU speed, bundled weights)."""

from __future__ import annotations

import argparse
import copy
import time

import torch
from rich.table import Table

from ..errors import EXIT_OK
from ..models import create_model, list_models, model_info
from .console import out

NAME = "models"
HELP = "model table: parameters, GMACs, CPU speed"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-timing", action="store_true", help="skip the CPU timing column")


def run(args) -> int:
    out.print(model_table(timing=not args.no_timing))
    return EXIT_OK


def count_macs(model: torch.nn.Module, h: int, w: int) -> float:
    """Multiply-accumulates of one forward pass at ``h×w`` (convolutions, linear layers, einsums
    and matmuls; FFTs, norms, elementwise ops and the scan recurrence excluded), in GMACs."""
    from torch.utils.flop_counter import FlopCounterMode

    meta = copy.deepcopy(model).to("meta")  # shapes only: nothing is computed, any size is instant
    x = torch.zeros(1, 3, h, w, device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        meta.deblur(x) if hasattr(meta, "deblur") else meta(x)
    return fc.get_total_flops() / 2 / 1e9


def model_table(timing: bool = True) -> Table:
    """One row per registered model; ``timing``: also the CPU milliseconds at 256²."""
    t = Table(title="models")
    for col in ("name", "task", "parameters", "GMACs 256²", "GMACs 1280×720 (≈)", "CPU ms 256²", "bundled weights"):
        t.add_column(col, justify="right" if col not in ("name", "task", "bundled weights") else "left")
    torch.set_flush_denormal(True)
    for name in list_models():
        info = model_info(name)
        m = create_model(name)
        params = sum(p.numel() for p in m.parameters())
        g256 = count_macs(m, 256, 256)
        g720 = g256 * (1280 * 720) / (256 * 256)  # convolutions/linears scale with pixels (1728.0 measured for -b)
        ms = ""
        if timing:
            x = torch.rand(1, 3, 256, 256)
            with torch.inference_mode():
                (m.deblur if hasattr(m, "deblur") else m)(x)
                t0 = time.perf_counter()
                reps = 2
                for _ in range(reps):
                    (m.deblur if hasattr(m, "deblur") else m)(x)
                ms = f"{(time.perf_counter() - t0) / reps * 1000:.0f}"
        t.add_row(name, info.task, f"{params:,}", f"{g256:.1f}", f"{g720:.1f}", ms, info.default_weights or "—")
    return t
