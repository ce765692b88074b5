"""Time the scanned blocks' two training scans on a device: the chunked one against the parallel one.

On a CPU the chunked scan is the faster; on a GPU it issues ``≈3·√L`` tiny steps and is
launch-bound, which the parallel scan (a few dozen whole-tensor operations) is built to avoid. This
module needs only PyTorch (no PyAV), so a lent GPU machine can run it before a training burst
(``gpu_burst.sh`` does); ``streamdeblur bench --what scan`` reports the same measurement.

Command line::

    python -m streamdeblur.train.scan_check --device cuda
"""

from __future__ import annotations

import argparse
import time

import torch

from ..models.scan import selective_scan_chunked, selective_scan_parallel


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_scan_times(device: torch.device, length: int = 16384, d: int = 64, n: int = 8, batch: int = 8) -> dict:
    """One training use of a scanned block (forward and backward), chunked against parallel, on ``device``.

    Args:
        device: where to run.
        length, d, n, batch: sequence length, channels, state size, batch (default: a 128² map).

    Returns:
        ``chunked_s`` and ``parallel_s`` (best of 3 after a warm-up), ``max_grad_rel_diff``
        (gradients of u, Δ and A), and the shape.

    Example:
        >>> r = training_scan_times(torch.device("cpu"), length=64, d=4, batch=1)
        >>> r["max_grad_rel_diff"] < 1e-4
        True
    """
    g = torch.Generator().manual_seed(0)
    shapes = {"u": (batch, d, length), "delta": (batch, d, length), "B": (batch, n, length), "C": (batch, n, length)}
    base = {k: torch.randn(v, generator=g) for k, v in shapes.items()}
    base["delta"] = base["delta"] * 0.5 - 4  # slow decay: the carries between chunks matter
    base["A"] = -torch.rand(d, n, generator=g) * 0.9 - 0.1
    out: dict = {"L": length, "channels": d, "state": n, "batch": batch, "device": str(device)}
    grads = {}
    for name, fn in (("chunked", selective_scan_chunked), ("parallel", selective_scan_parallel)):
        t = {k: v.to(device).requires_grad_() for k, v in base.items()}
        times = []
        for _ in range(4):  # the first run warms up (allocator, kernels)
            _sync(device)
            t0 = time.perf_counter()
            y = fn(t["u"], t["delta"], t["A"], t["B"], t["C"], None, None)
            gs = torch.autograd.grad(y.square().mean(), [t["u"], t["delta"], t["A"]])
            _sync(device)
            times.append(time.perf_counter() - t0)
        out[f"{name}_s"] = min(times[1:])
        grads[name] = [x.float().cpu() for x in gs]
    out["max_grad_rel_diff"] = max(
        float((a - b).abs().max() / (a.abs().max() + 1e-30)) for a, b in zip(grads["chunked"], grads["parallel"])
    )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m streamdeblur.train.scan_check", description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--length", type=int, default=16384, help="sequence length (default 16384: a 128² map)")
    a = ap.parse_args(argv)
    r = training_scan_times(torch.device(a.device), length=a.length)
    shape = f"{r['batch']}x{r['channels']}x{r['L']}"
    for name in ("chunked", "parallel"):
        print(f"scan {name}: forward+backward {shape} on {r['device']}: {r[name + '_s'] * 1e3:.1f} ms")
    print(f"scan max relative gradient difference {r['max_grad_rel_diff']:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
