"""Kernel read-out: what the Fourier Kernel Estimator believes the blur is.

The FKE predicts, per feature channel, a transfer function ``K`` on the half-spectrum grid
(``C×H×(W/2+1)``, complex). Its inverse real FFT is the spatial kernel the estimator convolves
that channel with; centred (``fftshift``) it can be drawn. Averaged over channels it is the
model's overall picture of the blur in that tile.

Example:
    >>> otf = torch.ones(1, 4, 16, 9, dtype=torch.complex64)        # identity transfer function
    >>> r = kernels_from_otf(otf)
    >>> r.mean.shape, float(r.mean[0, 8, 8])                         # a centred delta
    (torch.Size([1, 16, 16]), 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class KernelReadout:
    """Transfer functions and spatial kernels for a batch of frames or tiles."""

    otf: torch.Tensor  #: ``N×C×H×(W/2+1)`` complex transfer functions
    per_channel: torch.Tensor  #: ``N×C×H×W`` centred spatial kernels
    mean: torch.Tensor  #: ``N×H×W`` channel-averaged centred kernel


def kernels_from_otf(otf: torch.Tensor, width: int | None = None) -> KernelReadout:
    """Spatial kernels from transfer functions (``irfft2`` then centre).

    Args:
        otf: ``N×C×H×Wr`` complex, ``Wr = W/2+1``.
        width: spatial width ``W`` (default ``2·(Wr−1)``, as the FKE uses).
    """
    if otf.dim() != 4 or not otf.is_complex():
        raise ValueError(f"kernels_from_otf expects N×C×H×Wr complex, got {tuple(otf.shape)} {otf.dtype}")
    h = otf.shape[-2]
    w = width or 2 * (otf.shape[-1] - 1)
    k = torch.fft.irfft2(otf, s=(h, w))
    k = torch.fft.fftshift(k, dim=(-2, -1))
    return KernelReadout(otf, k, k.mean(1))


def centre_crop(k: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size×size`` of ``…×H×W`` centred kernels (smaller sides kept whole)."""
    h, w = k.shape[-2:]
    sh, sw = min(size, h), min(size, w)
    y0, x0 = h // 2 - sh // 2, w // 2 - sw // 2
    return k[..., y0 : y0 + sh, x0 : x0 + sw]


def normalise_for_display(k: torch.Tensor) -> torch.Tensor:
    """Magnitude scaled to [0, 1] per kernel (``…×H×W``), for drawing."""
    a = k.abs()
    peak = a.flatten(-2).amax(-1).clamp_min(1e-12)
    return a / peak[..., None, None]
