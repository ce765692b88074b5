"""Device choice and compute policy (threads, autocast, denormals)."""

from __future__ import annotations

import os

import torch

from .cpus import usable_cpus


def choose_device(spec: str = "auto") -> torch.device:
    """``auto`` → first CUDA device if available, else CPU; ``cpu``; ``cuda``; ``cuda:N``."""
    spec = (spec or "auto").lower()
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec}: no CUDA device is available (use cpu or auto)")
        dev = torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {spec}: only {torch.cuda.device_count()} CUDA device(s)")
        return dev
    if spec == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown device {spec!r}; allowed: auto, cpu, cuda, cuda:N")


def default_threads() -> int:
    """Intra-op threads when neither ``--threads`` nor ``OMP_NUM_THREADS`` says: one per CPU this
    process may use (affinity mask and cgroup quota, :func:`~streamdeblur.compute.cpus.usable_cpus`),
    not per core of the machine — a pool wider than that oversubscribes (pinned jobs, containers)."""
    return usable_cpus().count


def cpu_threads_line() -> str:
    """What ``streamdeblur info`` says about CPU threads: usable CPUs and the model's thread count."""
    env = os.environ.get("OMP_NUM_THREADS")
    chosen = f"{env} (OMP_NUM_THREADS)" if env else f"{default_threads()} (default; --threads N to change)"
    return f"usable CPUs {usable_cpus().describe()}; model threads {chosen}"


def configure(device: torch.device, threads: int = 0) -> None:
    """Process-wide settings for inference on ``device``.

    On CPU, denormal floats are flushed (random-ish or decayed activations otherwise slow every
    op by 10×) and the intra-op thread count is set: ``threads`` when given, else
    ``OMP_NUM_THREADS`` when set (PyTorch read it), else :func:`default_threads`.
    """
    torch.set_flush_denormal(True)
    most = max(64, 4 * (os.cpu_count() or 1))
    if threads and threads > most:  # a pool of thousands of threads only thrashes (and may not start)
        raise ValueError(f"--threads {threads}: at most {most} on this machine ({os.cpu_count()} cores)")
    if threads and threads > 0:
        torch.set_num_threads(threads)
    elif device.type == "cpu" and os.environ.get("OMP_NUM_THREADS") is None:
        torch.set_num_threads(default_threads())
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def auto_bf16(device: torch.device) -> bool:
    """Whether bfloat16 autocast is on for ``device`` when neither the pipeline nor a flag sets it.

    On CPU only when the processor computes bf16 natively (AMX tiles or AVX-512 BF16): there the
    convolutions run ~2× faster and the eval-subset PSNR moves by < 0.01 dB (``streamdeblur bench
    --what bf16``); elsewhere bf16 is emulated and slower. On CUDA when the GPU supports bf16.
    """
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)
    return False


def auto_batch(device: torch.device) -> int:
    """Frames per model call for ``batch: 0`` (auto): 1 on CPU, where larger batches measured
    slower per frame (they fall out of cache), 2 on CUDA."""
    return 2 if device.type == "cuda" else 1


def compute_policy(device: torch.device, batch: int, bf16: bool | None) -> tuple[int, bool]:
    """The batch size and autocast choice a pipeline runs with: explicit values win, ``0`` /
    ``None`` mean auto (:func:`auto_batch`, :func:`auto_bf16`)."""
    return (batch if batch and batch > 0 else auto_batch(device)), (auto_bf16(device) if bf16 is None else bool(bf16))


def codec_threads(device: torch.device) -> int:
    """Decoder and encoder threads for a pipeline on ``device`` (0: the codec's own choice).

    On CPU the model keeps every core busy and its thread pool waits for its slowest thread, so
    codec threads that preempt it cost more than they give: one thread each (decoding and
    encoding 640×360 are < 2 % of the time). On CUDA the codecs may be the bottleneck: their choice.
    """
    return 1 if device.type == "cpu" else 0
