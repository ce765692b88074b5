"""Device choice and compute policy (threads, autocast, denormals)."""

from __future__ import annotations

import os

import torch


def choose_device(spec: str = "auto") -> torch.device:
    """``auto`` → first CUDA device if available, else CPU; ``cpu``; ``cuda``; ``cuda:N``."""
    spec = (spec or "auto").lower()
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {spec}: no CUDA device is available (use cpu or auto)")
        dev = torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s)")
        return dev
    if spec == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown device {spec!r}; allowed: auto, cpu, cuda, cuda:N")


def configure(device: torch.device, threads: int = 0) -> None:
    """Process-wide settings for inference on ``device``.

    On CPU, denormal floats are flushed (random-ish or decayed activations otherwise slow every
    op by 10×) and the intra-op thread count is set when asked (0 keeps PyTorch's default: the
    cores minus nothing; the decoder and encoder threads get the rest through the OS).
    """
    torch.set_flush_denormal(True)
    if threads and threads > 0:
        torch.set_num_threads(threads)
    elif device.type == "cpu" and os.environ.get("OMP_NUM_THREADS") is None:
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
