"""DeepRFTv2 ("Kernel-level Learning for Image Deblurring", arXiv 2511.21132), re-implemented.

Layout of one column ``i`` (two columns in the official ``deeprftv2-b``), after a Gaussian
pyramid gives the full-scale image ``I0`` and the half-scale ``I1``::

    x   = patch_embed_maxs(I0)           (+ previous full-scale FKE feature, via patch_embed_maxs2)
    e1, e2, lat = subnets_max(x)                         full-scale encoder, 3 levels
    xm  = patch_embed_mids(I1)           (+ previous half-scale FKE feature, via patch_embed_mids2)
    e1m, e2m, latm = subnets_mid(xm, skips=down_max1/2/3(e1, e2, lat))
    e2m, e1m, d1m = subdenets_mid(latm, skips=(e2m, e1m, d1m))     half-scale decoder
    O_mid = output_mids(d1m) + I1;  K_mid, F_mid = mid_kernel_estimator(d1m, I1)
    lat = fusd_max_2(cat[down_mid2max(F_mid), lat])
    e2, e1, d1 = subdenets_max(lat, skips=(e2, e1, d1))             full-scale decoder
    O_max = output_maxs(d1) + I0;   K_max, F_max = kernel_estimator(d1, I0)

All states persist from column to column (RevCol). Heads: ``img = [O_max, K_max]`` per column
(the last one is the result), ``img_mid = [O_mid, K_mid]`` per column. Every head is residual on
the blurry input at its scale.

Inputs are RGB in [0, 1], ``N×3×H×W`` with ``H`` and ``W`` multiples of 8 (see
:func:`streamdeblur.compute.tiling` for padding and tiles). Module and parameter names under
``global_model`` are those of the official checkpoints (``state_dict_keys.txt``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .blocks import DownSample, PatchEmbed, conv1x1, gaussian_pyramid
from .columns import Decoder, Encoder, LevelSpec, SkipEncoder
from .fke import KernelEstimator
from .kernels import KernelReadout, centre_crop, kernels_from_otf

#: Input height and width must be multiples of this.
MULTIPLE = 8


@dataclass(frozen=True)
class DeepRFTv2Config:
    """Architecture of a DeepRFTv2 variant. Defaults are the official ``DeepRFTv2-B``."""

    dim: int = 48
    columns: int = 2
    max_encoder: tuple[LevelSpec, ...] = (("naf", 1), ("nafevs", 4), ("nafevs", 8))
    max_decoder: tuple[LevelSpec, ...] = (("nafevs", 8), ("nafevs", 4), ("naf", 1))
    mid_encoder: tuple[LevelSpec, ...] = (("naf", 1), ("naf", 4), ("naf", 8))
    mid_decoder: tuple[LevelSpec, ...] = (("naf", 8), ("naf", 4), ("naf", 1))
    kernel_levels: int = 4
    d_state: int = 8


@dataclass
class DeepRFTv2Output:
    """Heads of a forward pass; ``result`` is the deblurred image."""

    img: list[torch.Tensor]
    img_mid: list[torch.Tensor]
    otf: list[torch.Tensor]  #: full-scale FKE transfer functions, one per column
    otf_mid: list[torch.Tensor]

    @property
    def result(self) -> torch.Tensor:
        return self.img[-1]


class DMSUNet(nn.Module):
    """Decoupled multi-scale U-Net columns with Fourier kernel estimators (official ``BaseGoKModel``)."""

    def __init__(self, cfg: DeepRFTv2Config) -> None:
        super().__init__()
        d, n = cfg.dim, cfg.columns
        depth = len(cfg.max_encoder)
        top = d * 2 ** (depth - 1)
        self.cfg = cfg
        self.kernel_estimator = nn.ModuleList(
            KernelEstimator(d, cfg.kernel_levels, first=i == 0, d_state=cfg.d_state) for i in range(n)
        )
        self.mid_kernel_estimator = nn.ModuleList(
            KernelEstimator(d, cfg.kernel_levels, first=i == 0, d_state=cfg.d_state) for i in range(n)
        )
        self.subnets_mid = nn.ModuleList(SkipEncoder(d, cfg.mid_encoder, cfg.d_state) for _ in range(n))
        self.subdenets_mid = nn.ModuleList(Decoder(d, cfg.mid_decoder, cfg.d_state) for _ in range(n))
        self.subnets_max = nn.ModuleList(Encoder(d, cfg.max_encoder, cfg.d_state) for _ in range(n))
        self.subdenets_max = nn.ModuleList(Decoder(d, cfg.max_decoder, cfg.d_state) for _ in range(n))
        for k in range(depth):
            w = d * 2**k
            self.add_module(f"down_max{k + 1}", nn.ModuleList(DownSample(w, w) for _ in range(n)))
        self.down_mid2max = nn.ModuleList(DownSample(d, top) for _ in range(n))
        self.output_mids = nn.ModuleList(nn.Conv2d(d, 3, 3, padding=1) for _ in range(n))
        self.output_maxs = nn.ModuleList(nn.Conv2d(d, 3, 3, padding=1) for _ in range(n))
        self.patch_embed_mids = nn.ModuleList(PatchEmbed(3, d) for _ in range(n))
        self.patch_embed_maxs = nn.ModuleList(PatchEmbed(3, d) for _ in range(n))
        self.patch_embed_mids2 = nn.ModuleList(nn.Identity() if i == 0 else conv1x1(2 * d, d) for i in range(n))
        self.patch_embed_maxs2 = nn.ModuleList(nn.Identity() if i == 0 else conv1x1(2 * d, d) for i in range(n))
        self.fusd_max_2 = nn.ModuleList(conv1x1(2 * top, top) for _ in range(n))
        self.depth = depth
        #: recompute each sub-network's activations in backward instead of storing them
        self.save_memory = False

    def _call(self, module: nn.Module, *args):
        if self.save_memory and self.training and torch.is_grad_enabled():
            return checkpoint(module, *args, use_reentrant=False)
        return module(*args)

    def forward(self, i0: torch.Tensor, i1: torch.Tensor) -> DeepRFTv2Output:
        enc = enc_m = dec_skip = dec_skip_m = ker = ker_m = None
        f_max = f_mid = None
        out = DeepRFTv2Output([], [], [], [])
        for i in range(self.cfg.columns):
            x = self.patch_embed_maxs[i](i0)
            if f_max is not None:
                x = self.patch_embed_maxs2[i](torch.cat([x, f_max], dim=1))
            enc = self._call(self.subnets_max[i], x, enc)
            xm = self.patch_embed_mids[i](i1)
            if f_mid is not None:
                xm = self.patch_embed_mids2[i](torch.cat([xm, f_mid], dim=1))
            skips = [getattr(self, f"down_max{k + 1}")[i](e) for k, e in enumerate(enc)]
            enc_m = self._call(self.subnets_mid[i], xm, skips, enc_m)
            dec_m = self._call(self.subdenets_mid[i], enc_m[-1], _decoder_skips(enc_m, dec_skip_m))
            enc_m = _replace_skips(enc_m, dec_m)
            dec_skip_m = dec_m[-1]
            out.img_mid.append(self.output_mids[i](dec_m[-1]) + i1)
            kmid = self._call(self.mid_kernel_estimator[i], dec_m[-1], i1, ker_m)
            out.img_mid.append(kmid.image)
            out.otf_mid.append(kmid.otf)
            f_mid, ker_m = kmid.feature, kmid.states
            lat = self.fusd_max_2[i](torch.cat([self.down_mid2max[i](f_mid), enc[-1]], dim=1))
            enc = enc[:-1] + [lat]
            dec = self._call(self.subdenets_max[i], lat, _decoder_skips(enc, dec_skip))
            enc = _replace_skips(enc, dec)
            dec_skip = dec[-1]
            out.img.append(self.output_maxs[i](dec[-1]) + i0)
            kmax = self._call(self.kernel_estimator[i], dec[-1], i0, ker)
            out.img.append(kmax.image)
            out.otf.append(kmax.otf)
            f_max, ker = kmax.feature, kmax.states
        return out


def _decoder_skips(enc: Sequence[torch.Tensor], prev_out: torch.Tensor | None) -> list[torch.Tensor | None]:
    """Decoder states in decoder order: encoder levels from the second-deepest up, then its own last output."""
    return [*reversed(enc[:-1]), prev_out]


def _replace_skips(enc: list[torch.Tensor], dec: list[torch.Tensor]) -> list[torch.Tensor]:
    """The decoder's level outputs overwrite the encoder's skip states (latent kept)."""
    n = len(enc)
    return [dec[n - 2 - k] for k in range(n - 1)] + [enc[-1]]


class DeepRFTv2(nn.Module):
    """DeepRFTv2 deblurring network (official top-level class; parameters live in ``global_model``).

    Args:
        cfg: architecture; default is the official ``DeepRFTv2-B`` (30,117,560 parameters).

    Example:
        >>> net = DeepRFTv2(DeepRFTv2Config(dim=8, columns=1, max_encoder=(("naf", 1),) * 3,
        ...     max_decoder=(("naf", 1),) * 3, mid_encoder=(("naf", 1),) * 3,
        ...     mid_decoder=(("naf", 1),) * 3, kernel_levels=1)).eval()
        >>> net.deblur(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 3, 32, 32])
    """

    def __init__(self, cfg: DeepRFTv2Config | None = None) -> None:
        super().__init__()
        self.cfg = cfg or DeepRFTv2Config()
        self.global_model = DMSUNet(self.cfg)

    @property
    def multiple(self) -> int:
        return MULTIPLE

    def check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"DeepRFTv2 expects N×3×H×W RGB, got shape {tuple(x.shape)}")
        if x.shape[-1] % MULTIPLE or x.shape[-2] % MULTIPLE:
            raise ValueError(f"DeepRFTv2 needs H and W multiples of {MULTIPLE}, got {tuple(x.shape[-2:])}; pad first")

    def heads(self, x: torch.Tensor) -> DeepRFTv2Output:
        """Run the network and return every head (training and diagnostics)."""
        self.check_input(x)
        i0, i1 = gaussian_pyramid(x, 2)
        return self.global_model(i0, i1)

    def forward(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """Official-style output: ``{'img': [heads…]}``, the last head being the result."""
        out = self.heads(x)
        return {"img": out.img, "img_mid": out.img_mid}

    def deblur(self, x: torch.Tensor) -> torch.Tensor:
        """Deblurred image (the last full-scale head), not clamped."""
        return self.heads(x).result

    # -- tiled inference hooks (see streamdeblur.compute.tiling) --------------------------------------

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The full- and half-scale inputs, built once per whole frame before tiling."""
        return gaussian_pyramid(x, 2)

    def forward_pyramid(self, levels: list[torch.Tensor], kernel_size: int = 0):
        """Deblur from pyramid levels (tiles cut from :meth:`pyramid`).

        With ``kernel_size > 0`` also returns the channel-averaged FKE kernel of the last column,
        centre-cropped to ``kernel_size`` (``N×k×k``), for the kernel overlay.
        """
        self.check_input(levels[0])
        out = self.global_model(levels[0], levels[1])
        if not kernel_size:
            return out.result
        return out.result, centre_crop(kernels_from_otf(out.otf[-1]).mean, kernel_size)

    def estimate_kernels(self, x: torch.Tensor) -> KernelReadout:
        """Run the network on ``x`` (a frame or tile) and read out the last column's full-scale
        FKE transfer functions and spatial kernels."""
        return kernels_from_otf(self.heads(x).otf[-1])
