"""DeepRFTv2-RT: a real-time member of the DeepRFTv2 family for live video on a CPU.

What it keeps of DeepRFTv2 is what makes it DeepRFTv2: *kernel-level learning* — a Fourier Kernel
Estimator (:class:`~streamdeblur.models.fke.KernelEstimator`'s parts: 1×1 projections, the
spectrum map, a selective-scan level on the spectrum, a complex transfer function per channel)
convolves the decoder feature with the kernels it estimated, and the image head is residual on
the blurry input. What it cuts is where the cost is cheapest to cut:

* the whole network runs at a quarter of the resolution after a 4× pixel-unshuffle (the 48
  unshuffled channels keep every input pixel; the head pixel-shuffles the correction back);
* one column, one scale, a two-level NAF U-Net (no scanned blocks in the U-Net at all);
* the estimator's spectrum network is two NAF blocks on the quarter-resolution spectrum
  instead of a selective-scan level (see :class:`QuarterKernelEstimator`).

Layout (``c`` = ``dim``)::

    s   = pixel_unshuffle(x, 4)                               48 × H/4 × W/4
    e1  = enc1(embed(s))                                      c  at 1/4
    e2  = enc2(down(e1))                                      2c at 1/8
    d1  = dec1(up(e2) + e1)                                   c  at 1/4
    f   = FKE(d1): irfft2(rfft2(Y) · K) fused with d1
    out = x + pixel_shuffle(head(f), 4)

Inputs are RGB in [0, 1], ``N×3×H×W`` with ``H`` and ``W`` multiples of 8.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .blocks import DownSample, NAFBlock, UpSample, conv1x1
from .columns import make_blocks
from .deeprftv2 import DeepRFTv2Output
from .fke import FeatureExtract, SpectrumIntro, TransferHead, _fp32_rows
from .kernels import centre_crop, kernels_from_otf

#: Input height and width must be multiples of this (4× unshuffle, one halving, even FFT width).
MULTIPLE = 8
#: Pixel-unshuffle factor.
SHUFFLE = 4


@dataclass(frozen=True)
class DeepRFTv2RTConfig:
    """Architecture of the real-time variant."""

    dim: int = 32
    enc1: int = 2  #: NAF blocks at 1/4 resolution (encoder)
    enc2: int = 4  #: NAF blocks at 1/8 resolution
    dec1: int = 2  #: NAF blocks at 1/4 resolution (decoder)
    spectrum: str = "naf"  #: blocks on the FKE's spectrum map: ``naf`` (convolutional) or ``evss`` (scan)
    spectrum_blocks: int = 2
    d_state: int = 8


class QuarterKernelEstimator(nn.Module):
    """The FKE of the real-time model: the same parts as the full model's estimator, with an
    image head that predicts the 4×4 pixel-unshuffled correction (48 channels).

    The spectrum network is, by default, NAF blocks rather than the full model's selective-scan
    level: a 3×3 neighbourhood on the spectrum grid is a smooth function of frequency, which is
    what the transfer function of a compact blur kernel is, and it costs a fraction of the scan
    (at 640×360 the scan alone took ~5× the rest of the network on 2 CPU cores).

    Args:
        dim: feature channels.
        spectrum: ``naf`` or ``evss`` blocks on the spectrum map.
        blocks: how many.
        d_state: SSM state size (``evss`` only).
    """

    def __init__(self, dim: int, spectrum: str = "naf", blocks: int = 2, d_state: int = 8) -> None:
        super().__init__()
        self.feature_extract = FeatureExtract(dim)
        self.intro = SpectrumIntro(dim)
        self.subnets_ker = make_blocks(spectrum, dim, blocks, d_state)
        self.end_ker1 = TransferHead(dim)
        self.deblur_feature1 = nn.Sequential(conv1x1(2 * dim, dim, bias=False))

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the filtered feature (``N×C×h×w``) and the transfer function (complex64)."""
        if feat.shape[-1] % 2:
            raise ValueError(f"kernel estimator needs an even width, got {feat.shape[-1]}")
        x = self.feature_extract.intro_inp(feat)
        y = self.feature_extract.intro_deconv(feat)
        z = self.intro(torch.fft.rfft2(_fp32_rows(x)))
        otf = self.end_ker1(self.subnets_ker(z.to(feat.dtype)))
        fmt = torch.channels_last if feat.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        d = torch.fft.irfft2(torch.fft.rfft2(_fp32_rows(y)) * otf).to(feat.dtype, memory_format=fmt)
        return self.deblur_feature1(torch.cat([d, feat], dim=1)), otf


class DeepRFTv2RT(nn.Module):
    """Real-time DeepRFTv2 (see the module docstring).

    Args:
        cfg: architecture (default: 32 wide, 2/4/2 NAF blocks).

    Example:
        >>> net = DeepRFTv2RT(DeepRFTv2RTConfig(dim=8, enc1=1, enc2=1, dec1=1)).eval()
        >>> net.deblur(torch.rand(1, 3, 32, 48)).shape
        torch.Size([1, 3, 32, 48])
    """

    def __init__(self, cfg: DeepRFTv2RTConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or DeepRFTv2RTConfig()
        c, cin = cfg.dim, 3 * SHUFFLE * SHUFFLE
        self.embed = nn.Conv2d(cin, c, 3, padding=1, bias=True)
        self.enc1 = nn.Sequential(*[NAFBlock(c) for _ in range(cfg.enc1)])
        self.down = DownSample(c, 2 * c)
        self.enc2 = nn.Sequential(*[NAFBlock(2 * c) for _ in range(cfg.enc2)])
        self.up = UpSample(2 * c, c)
        self.dec1 = nn.Sequential(*[NAFBlock(c) for _ in range(cfg.dec1)])
        self.kernel_estimator = QuarterKernelEstimator(c, cfg.spectrum, cfg.spectrum_blocks, cfg.d_state)
        self.head = nn.Conv2d(c, cin, 3, padding=1, bias=True)
        nn.init.zeros_(self.head.weight)  # starts as the identity: do no harm before training
        nn.init.zeros_(self.head.bias)

    @property
    def multiple(self) -> int:
        return MULTIPLE

    def check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"DeepRFTv2-RT expects N×3×H×W RGB, got shape {tuple(x.shape)}")
        if x.shape[-1] % MULTIPLE or x.shape[-2] % MULTIPLE:
            raise ValueError(f"DeepRFTv2-RT needs H and W multiples of {MULTIPLE}, got {tuple(x.shape[-2:])}; pad first")

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_input(x)
        s = F.pixel_unshuffle(x, SHUFFLE)
        e1 = self.enc1(self.embed(s))
        e2 = self.enc2(self.down(e1))
        d1 = self.dec1(self.up(e2) + e1)
        f, otf = self.kernel_estimator(d1)
        return x + F.pixel_shuffle(self.head(f), SHUFFLE).to(x.dtype), otf

    def heads(self, x: torch.Tensor) -> DeepRFTv2Output:
        """Every head (one full-scale image head, no half-scale ones), for training and diagnostics."""
        out, otf = self._forward(x)
        return DeepRFTv2Output([out], [], [otf], [])

    def forward(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """Official-style output ``{'img': [result]}``."""
        return {"img": [self._forward(x)[0]], "img_mid": []}

    def deblur(self, x: torch.Tensor) -> torch.Tensor:
        """Deblurred image, not clamped."""
        return self._forward(x)[0]

    # -- tiled inference hooks (see streamdeblur.compute.tiling) --------------------------------------

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One level: the model makes no pyramid."""
        return [x]

    def forward_pyramid(self, levels: list[torch.Tensor], kernel_size: int = 0):
        """Deblur a tile; with ``kernel_size`` also the channel-averaged FKE kernel (``N×k×k``,
        at the quarter resolution the estimator works at)."""
        out, otf = self._forward(levels[0])
        if not kernel_size:
            return out
        return out, centre_crop(kernels_from_otf(otf).mean, kernel_size)
