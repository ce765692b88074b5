"""Small convolutional building blocks shared by the models.

Parameter names follow the official DeepRFTv2 checkpoints (``norm1``, ``conv1`` … ``conv5``,
``sca.1``, ``beta``, ``gamma``, ``body.0``, ``proj``), because those names are the interface that
lets published checkpoints load. Every block takes and returns ``N×C×H×W`` tensors.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def layer_norm_2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Normalise each pixel over its channels (biased variance), then scale and shift.

    Args:
        x: ``N×C×H×W`` features.
        weight: ``C`` scale.
        bias: ``C`` shift.
        eps: added to the variance.

    Returns:
        ``N×C×H×W`` tensor.

    Example:
        >>> y = layer_norm_2d(torch.randn(1, 4, 2, 2), torch.ones(4), torch.zeros(4))
        >>> bool(y.mean(1).abs().max() < 1e-5)
        True
    """
    # one fused kernel over the channel axis (free of copies when x is channels_last)
    return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), weight, bias, eps).permute(0, 3, 1, 2)


class LayerNorm2d(nn.Module):
    """Channel LayerNorm for ``N×C×H×W`` maps (eps 1e-6, as in the official code)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm_2d(x, self.weight, self.bias, self.eps)


def simple_gate(x: torch.Tensor) -> torch.Tensor:
    """NAFNet's gate: split the channels in two halves and multiply them."""
    a, b = x.chunk(2, dim=1)
    return a * b


def channel_attention(channels: int) -> nn.Sequential:
    """Simplified channel attention: global average pool then a 1×1 conv (``sca.1``)."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, channels, 1, bias=True))


def conv1x1(cin: int, cout: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, bias=bias)


class NAFBlock(nn.Module):
    """The NAFNet block: gated depthwise token mixer plus a gated 1×1 feed-forward.

    Args:
        c: channels in and out.
    """

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = conv1x1(c, 2 * c)
        self.conv2 = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c, bias=True)
        self.conv3 = conv1x1(c, c)
        self.sca = channel_attention(c)
        self.conv4 = conv1x1(c, 2 * c)
        self.conv5 = conv1x1(c, c)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = simple_gate(self.conv2(self.conv1(self.norm1(x))))
        y = x + self.beta * self.conv3(u * self.sca(u))
        return y + self.gamma * self.conv5(simple_gate(self.conv4(self.norm2(y))))


class DownSample(nn.Module):
    """Halve the resolution with a 2×2 stride-2 convolution (no bias)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 2, stride=2, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class UpSample(nn.Module):
    """Double the resolution: 1×1 conv to ``4·cout`` channels, then pixel shuffle."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, 4 * cout, 1, bias=False), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class PatchEmbed(nn.Module):
    """3×3 convolution from RGB to features (official name ``OverlapPatchEmbed``, param ``proj``)."""

    def __init__(self, cin: int = 3, dim: int = 48) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def gaussian_pyramid(x: torch.Tensor, levels: int = 3) -> list[torch.Tensor]:
    """Gaussian image pyramid: 5×5 binomial blur (reflect border), then bilinear halving.

    Level ``k+1`` has size ``floor(H_k/2)×floor(W_k/2)``; this matches
    ``kornia.geometry.transform.build_pyramid`` (align_corners False), which the official model
    uses to make its half-scale input.

    Args:
        x: ``N×C×H×W`` images.
        levels: number of levels including the input.

    Returns:
        A list of ``levels`` tensors, finest first.
    """
    if x.dim() != 4:
        raise ValueError(f"gaussian_pyramid expects N×C×H×W, got shape {tuple(x.shape)}")
    taps = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype, device=x.device) / 16.0
    kernel = (taps[:, None] * taps[None, :]).expand(x.shape[1], 1, 5, 5)
    out = [x]
    for _ in range(levels - 1):
        cur = out[-1]
        h, w = cur.shape[-2:]
        blurred = F.conv2d(F.pad(cur, (2, 2, 2, 2), mode="reflect"), kernel, groups=cur.shape[1])
        out.append(F.interpolate(blurred, size=(h // 2, w // 2), mode="bilinear", align_corners=False))
    return out
