"""``streamdeblur models``: the model table (parameters, GMACs, CPU speed, bundled weights)."""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from ..errors import EXIT_OK
from .console import err, out

if TYPE_CHECKING:  # PyTorch and the models load when the table is made, not when the parser is built
    import torch

NAME = "models"
HELP = "model table: parameters, GMACs, CPU speed"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-timing", action="store_true", help="skip the CPU timing column")
    p.add_argument("--quick", action="store_true", help="names, tasks, parameters and weights only (no MACs, no timing): instant")


def run(args) -> int:
    if not args.no_timing and not args.quick:  # the largest model alone takes ~25 s on two cores: say why it waits
        err.print(
            "timing each model on this CPU (a 256² frame, twice after a warm-up; up to a minute): --no-timing or --quick to skip"
        )
    print_models(out, timing=not args.no_timing, quick=args.quick)
    return EXIT_OK


def count_macs(model: torch.nn.Module, h: int, w: int) -> float:
    """Multiply-accumulates of one forward pass at ``h×w`` (convolutions, linear layers, einsums
    and matmuls; FFTs, norms, elementwise ops and the scan recurrence excluded), in GMACs."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    meta = copy.deepcopy(model).to("meta")  # shapes only: nothing is computed, any size is instant
    x = torch.zeros(1, 3, h, w, device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        meta.deblur(x) if hasattr(meta, "deblur") else meta(x)
    return fc.get_total_flops() / 2 / 1e9


MODEL_COLUMNS = ("name", "task", "parameters", "GMACs 256²", "GMACs 1280×720 (≈)", "CPU ms 256²", "bundled weights")


def model_rows(timing: bool = True, quick: bool = False):
    """One row per registered model, as soon as it is measured (a generator: print as you go).

    Args:
        timing: measure the CPU time of one 256² forward pass (two runs after a warm-up).
        quick: names, tasks, parameters and weights only (no MAC count, no timing): instant.

    Yields:
        Tuples of strings in :data:`MODEL_COLUMNS` order.
    """
    import torch

    from ..models import create_model, list_models, model_info

    torch.set_flush_denormal(True)
    for name in list_models():
        info = model_info(name)
        m = create_model(name)
        params = sum(p.numel() for p in m.parameters())
        g256 = g720 = ms = ""
        if not quick:
            macs = count_macs(m, 256, 256)
            g256, g720 = f"{macs:.1f}", f"{macs * (1280 * 720) / (256 * 256):.1f}"  # convs/linears scale with pixels
        if timing and not quick:
            x = torch.rand(1, 3, 256, 256)
            fn = m.deblur if hasattr(m, "deblur") else m
            with torch.inference_mode():
                fn(x)
                t0 = time.perf_counter()
                reps = 2
                for _ in range(reps):
                    fn(x)
                ms = f"{(time.perf_counter() - t0) / reps * 1000:.0f}"
        yield (name, info.task, f"{params:,}", g256, g720, ms, _bundled(info.default_weights))


def _bundled(filename: str | None) -> str:
    """The bundled weights file, and whether its do-no-harm gate ships beside it."""
    from ..models.gate import gate_path
    from ..models.registry import bundled_weights_path

    if not filename:
        return "—"
    gate = Path(gate_path(bundled_weights_path(filename)))
    return f"{filename} + {gate.name}" if gate.is_file() else filename


def print_models(console: Console, timing: bool = True, quick: bool = False) -> None:
    """Print the model table row by row as each model is measured: tab-separated lines when not on a
    terminal (whole names, easy to ``cut``), a rich row per model on a terminal."""
    if not console.is_terminal:
        print("\t".join(MODEL_COLUMNS), flush=True)
        for row in model_rows(timing, quick):
            print("\t".join(row), flush=True)
        return
    widths = (14, 8, 12, 11, 19, 12, 24)
    console.print("  ".join(f"{c:<{w}}" for c, w in zip(MODEL_COLUMNS, widths)), style="bold", soft_wrap=True)
    for row in model_rows(timing, quick):
        console.print(escape("  ".join(f"{c:<{w}}" for c, w in zip(row, widths))), soft_wrap=True)
