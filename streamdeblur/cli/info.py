"""``streamdeblur info`` and ``streamdeblur models``: what this installation can do."""

from __future__ import annotations

import copy
import platform
import time

import av
import cv2
import numpy as np
import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import __version__
from ..models import create_model, list_models, model_info
from ..models.scan import mamba_available
from ..stages import list_stages, stage_class

VIDEO_ENCODERS = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "libaom-av1", "mpeg4", "mjpeg", "ffv1")
AUDIO_ENCODERS = ("aac", "libopus", "libmp3lame", "flac")


def _has(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:  # noqa: BLE001
        return False


def print_info(out: Console) -> None:
    from ..compute.runtime import auto_bf16
    from ..engine.config import list_pipelines

    t = Table(title=f"streamdeblur {__version__}", show_header=False)
    t.add_row("python", platform.python_version())
    t.add_row("torch", f"{torch.__version__} (threads {torch.get_num_threads()})")
    t.add_row("CPU", escape(cpu_line()))
    ffmpeg = av.ffmpeg_version_info
    t.add_row("PyAV / FFmpeg", f"{av.__version__} / {'.'.join(map(str, ffmpeg)) if isinstance(ffmpeg, tuple) else ffmpeg}")
    t.add_row("OpenCV", cv2.__version__)
    t.add_row("numpy", np.__version__)
    devs = ["cpu"] + [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
    t.add_row("devices", ", ".join(devs))
    t.add_row(
        "selective scan",
        "mamba_ssm CUDA kernel on GPUs; " * mamba_available() + "PyTorch inference scan (chunked, no autograd) on CPU",
    )
    cpu_bf16 = "on (native bf16)" if auto_bf16(torch.device("cpu")) else "off (no AMX / AVX-512 BF16: slower than fp32 here)"
    gpus = [f"cuda:{i} {'on' if auto_bf16(torch.device('cuda', i)) else 'off'}" for i in range(torch.cuda.device_count())]
    t.add_row("bf16 (auto)", ", ".join([f"cpu {cpu_bf16}", *gpus]) + "  (--bf16 / --no-bf16 to choose)")
    t.add_row("video encoders", ", ".join(c for c in VIDEO_ENCODERS if _has(c)))
    t.add_row("audio encoders", ", ".join(c for c in AUDIO_ENCODERS if _has(c)))
    t.add_row("models", ", ".join(list_models()))
    t.add_row(
        "stages", ", ".join(f"{s}{'*' if stage_class(s).needs_model else ''}" for s in list_stages()) + "  (* uses a model)"
    )
    t.add_row("pipelines", ", ".join(list_pipelines()))
    t.add_row("executors", escape("local, " + _ray_line()))
    out.print(t)


def _ray_line() -> str:
    from importlib import metadata

    try:
        return f"ray {metadata.version('ray')}"
    except metadata.PackageNotFoundError:
        return 'ray (not installed: pip install "streamdeblur[ray]")'


def cpu_line() -> str:
    """``AMD EPYC 7B13, 2 usable cores, AVX2`` (model name, cores this process may use, PyTorch's kernel ISA)."""
    import os

    from ..compute.runtime import cpu_model

    name = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {cores} usable cores, {torch.backends.cpu.get_cpu_capability()}"


def count_macs(model: torch.nn.Module, h: int, w: int) -> float:
    """Multiply-accumulates of one forward pass at ``h×w`` (convolutions, linear layers, einsums
    and matmuls; FFTs, norms, elementwise ops and the scan recurrence excluded), in GMACs."""
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
        yield (name, info.task, f"{params:,}", g256, g720, ms, info.default_weights or "—")


def model_table(timing: bool = True, quick: bool = False) -> Table:
    """The whole table at once (see :func:`model_rows`)."""
    t = Table(title="models")
    for col in MODEL_COLUMNS:
        t.add_column(col, justify="left" if col in ("name", "task", "bundled weights") else "right", no_wrap=col == "name")
    for row in model_rows(timing, quick):
        t.add_row(*row)
    return t


def print_models(out: Console, timing: bool = True, quick: bool = False) -> None:
    """Print the model table row by row as each model is measured: tab-separated lines when not on a
    terminal (whole names, easy to ``cut``), a rich row per model on a terminal."""
    if not out.is_terminal:
        print("\t".join(MODEL_COLUMNS), flush=True)
        for row in model_rows(timing, quick):
            print("\t".join(row), flush=True)
        return
    widths = (14, 8, 12, 11, 19, 12, 24)
    out.print("  ".join(f"{c:<{w}}" for c, w in zip(MODEL_COLUMNS, widths)), style="bold", soft_wrap=True)
    for row in model_rows(timing, quick):
        out.print(escape("  ".join(f"{c:<{w}}" for c, w in zip(row, widths))), soft_wrap=True)
