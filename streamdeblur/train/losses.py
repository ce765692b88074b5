"""Training losses of the DeepRFTv2 recipe: L1 plus a Fourier-magnitude term, on every head."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..models.blocks import gaussian_pyramid


def fourier_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the (unnormalised) 2-D real spectra, computed in float32."""
    return (torch.fft.rfft2(pred.float()) - torch.fft.rfft2(target.float())).abs().mean()


def head_loss(pred: torch.Tensor, target: torch.Tensor, fft_weight: float = 0.01) -> torch.Tensor:
    """L1 + ``fft_weight`` × Fourier loss for one output head."""
    return F.l1_loss(pred.float(), target.float()) + fft_weight * fourier_loss(pred, target)


def deblur_loss(
    heads: list[torch.Tensor],
    mid_heads: list[torch.Tensor],
    sharp: torch.Tensor,
    fft_weight: float = 0.01,
    mid_weight: float = 1.0,
) -> torch.Tensor:
    """Average head loss over the full-scale heads, plus ``mid_weight`` × the same over the
    half-scale heads against the sharp image's pyramid level 1 (the auxiliary loss)."""
    loss = sum(head_loss(h, sharp, fft_weight) for h in heads) / len(heads)
    if mid_heads and mid_weight:
        sharp_mid = gaussian_pyramid(sharp, 2)[1]
        loss = loss + mid_weight * sum(head_loss(h, sharp_mid, fft_weight) for h in mid_heads) / len(mid_heads)
    return loss


def model_loss(out, sharp: torch.Tensor, fft_weight: float = 0.01, mid_weight: float = 1.0) -> torch.Tensor:
    """Training loss for any of our models' ``heads()`` output.

    DeepRFTv2: :func:`deblur_loss`. FDIKP: the head loss on every scale's estimate against the
    sharp image resized to that scale (area), averaged (every Ŝ_s supervised).
    """
    if hasattr(out, "img_mid"):
        return deblur_loss(out.img, out.img_mid, sharp, fft_weight, mid_weight)
    losses = []
    for img in out.images:
        target = sharp if img.shape[-2:] == sharp.shape[-2:] else F.interpolate(sharp, size=img.shape[-2:], mode="area")
        losses.append(head_loss(img, target, fft_weight))
    return sum(losses) / len(losses)
