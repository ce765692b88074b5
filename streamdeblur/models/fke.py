"""The Fourier Kernel Estimator (FKE) of DeepRFTv2 (official class ``KernelEstimator``).

Given a decoder feature ``F`` (``N×C×H×W``) and the blurry image ``I`` at that scale:

1. two 1×1 projections ``X = intro_inp(F)``, ``Y = intro_deconv(F)``;
2. ``R = rfft2(X)``; its real and imaginary parts, stacked, are mapped by ``intro.ending`` to a
   real ``C``-channel map on the half-spectrum grid ``H×(W/2+1)``;
3. ``subnets_ker`` (selective-scan blocks) runs *on that spectrum map* — the nonlinearity acts in
   Fourier space;
4. ``end_ker1`` turns its last state into a complex transfer function ``K`` per channel and
   frequency (first ``C`` channels real part, last ``C`` imaginary part);
5. ``D = irfft2(rfft2(Y) · K)`` — each channel of ``Y`` circularly convolved with its own
   estimated kernel;
6. ``F' = deblur_feature1(cat[D, F])`` is the estimator's feature, and
   ``end_feature1(F') + I`` its image.

The FFTs run in float32 (``rfft2`` refuses bf16, and fp16 cuFFT wants power-of-two sizes).
Widths must be even at every scale the estimator runs on (``irfft2`` without ``s=`` returns
``2·(W/2+1-1)`` columns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .blocks import LayerNorm2d, conv1x1
from .columns import KernelEncoder


@dataclass
class FKEOutput:
    """What one kernel estimator produces."""

    image: torch.Tensor  #: ``N×3×H×W`` residual image head (already plus the blurry input)
    feature: torch.Tensor  #: ``N×C×H×W`` feature passed on to the next column / scale
    states: list[torch.Tensor]  #: kernel-encoder level states, carried to the next column
    otf: torch.Tensor  #: ``N×C×H×(W/2+1)`` complex64 per-channel transfer function


def _fp32_rows(x: torch.Tensor) -> torch.Tensor:
    """``x`` as contiguous float32 rows (one copy), the layout the FFT reads fastest."""
    return x.to(torch.float32, memory_format=torch.contiguous_format)


class FeatureExtract(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.intro_inp = nn.Sequential(conv1x1(dim, dim, bias=False))
        self.intro_deconv = nn.Sequential(conv1x1(dim, dim, bias=False))


class SpectrumIntro(nn.Module):
    """Official ``GetPSF``: ``cat[Re, Im]`` of the spectrum → real map (``ending``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.ending = nn.Sequential(conv1x1(2 * dim, dim, bias=False))

    def forward(self, spectrum: torch.Tensor) -> torch.Tensor:
        z = torch.cat([spectrum.real, spectrum.imag], dim=1)
        return self.ending(z.to(self.ending[0].weight.dtype))


class TransferHead(nn.Module):
    """Official ``EstOTF``: LayerNorm2d, 1×1 conv to ``2C``, read as ``complex(first C, last C)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = LayerNorm2d(dim)
        self.ending = nn.Sequential(conv1x1(dim, 2 * dim, bias=True))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        re, im = self.ending(self.norm(z)).float().chunk(2, dim=1)
        return torch.complex(re, im)


class KernelEstimator(nn.Module):
    """Fourier Kernel Estimator for one column at one scale.

    Args:
        dim: feature channels.
        levels: selective-scan levels on the spectrum (4 in the official model).
        first: True in the first column (no cross-column fusion parameters).
        d_state: SSM state size.
    """

    def __init__(self, dim: int = 48, levels: int = 4, first: bool = True, d_state: int = 8) -> None:
        super().__init__()
        self.feature_extract = FeatureExtract(dim)
        self.intro = SpectrumIntro(dim)
        self.end_ker1 = TransferHead(dim)
        self.deblur_feature1 = nn.Sequential(conv1x1(2 * dim, dim, bias=False))
        self.end_feature1 = nn.Sequential(nn.Conv2d(dim, 3, 3, padding=1, bias=True))
        self.subnets_ker = KernelEncoder(dim, levels, first=first, d_state=d_state)

    def forward(self, feat: torch.Tensor, image: torch.Tensor, prev: Sequence[torch.Tensor] | None = None) -> FKEOutput:
        if feat.shape[-1] % 2:
            raise ValueError(f"kernel estimator needs an even width, got {feat.shape[-1]} (pad the frame to a multiple of 8)")
        x = self.feature_extract.intro_inp(feat)
        y = self.feature_extract.intro_deconv(feat)
        z = self.intro(torch.fft.rfft2(_fp32_rows(x)))
        states = self.subnets_ker(z.to(feat.dtype), prev)
        otf = self.end_ker1(states[-1])
        # back in the feature's layout, so the concatenation below is a plain block copy
        fmt = torch.channels_last if feat.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        d = torch.fft.irfft2(torch.fft.rfft2(_fp32_rows(y)) * otf).to(feat.dtype, memory_format=fmt)
        out_feat = self.deblur_feature1(torch.cat([d, feat], dim=1))
        return FKEOutput(self.end_feature1(out_feat) + image, out_feat, states, otf)
