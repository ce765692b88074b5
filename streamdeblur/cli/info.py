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
from rich.table import Table

from .. import __version__
from ..compute.runtime import cpu_threads_line
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
    from ..engine.config import list_pipelines

    t = Table(title=f"streamdeblur {__version__}", show_header=False)
    t.add_row("python", platform.python_version())
    t.add_row("torch", torch.__version__)
    t.add_row("CPU threads", cpu_threads_line())
    ffmpeg = av.ffmpeg_version_info
    t.add_row("PyAV / FFmpeg", f"{av.__version__} / {'.'.join(map(str, ffmpeg)) if isinstance(ffmpeg, tuple) else ffmpeg}")
    t.add_row("OpenCV", cv2.__version__)
    t.add_row("numpy", np.__version__)
    devs = ["cpu"] + [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
    t.add_row("devices", ", ".join(devs))
    t.add_row("selective scan", "mamba_ssm CUDA kernel" if mamba_available() else "pure PyTorch (chunked)")
    t.add_row("video encoders", ", ".join(c for c in VIDEO_ENCODERS if _has(c)))
    t.add_row("audio encoders", ", ".join(c for c in AUDIO_ENCODERS if _has(c)))
    t.add_row("models", ", ".join(list_models()))
    t.add_row(
        "stages", ", ".join(f"{s}{'*' if stage_class(s).needs_model else ''}" for s in list_stages()) + "  (* uses a model)"
    )
    t.add_row("pipelines", ", ".join(list_pipelines()))
    t.add_row("executors", "local, " + _ray_line())
    out.print(t)


def _ray_line() -> str:
    from importlib import metadata

    try:
        return f"ray {metadata.version('ray')}"
    except metadata.PackageNotFoundError:
        return 'ray (not installed: pip install "streamdeblur[ray]")'


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
