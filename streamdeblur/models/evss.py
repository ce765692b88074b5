"""State-space (selective-scan) blocks of DeepRFTv2: ``EVSS2D``, ``EVSS`` and ``NAFEVSBlock``.

``EVSS2D`` is a one-direction Mamba layer over the pixels of a feature map taken in raster
order. DeepRFTv2 gets the other scan directions for free by transposing or flipping the map
between consecutive blocks (:class:`NAFEVSBlock` with its ``idx``), so four blocks scan four ways.
Parameter names (``in_proj``, ``conv2d``, ``x_proj_weight``, ``x_conv``, ``dt_projs_weight``,
``dt_projs_bias``, ``A_logs``, ``Ds``, ``out_norm``, ``out_proj``) are those of the official
checkpoints.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .blocks import LayerNorm2d, channel_attention, conv1x1, simple_gate
from .scan import selective_scan


class EVSS2D(nn.Module):
    """Single-direction selective-scan mixer over an ``N×C×H×W`` map.

    Args:
        d_model: channels in and out.
        d_state: SSM state size per channel (8 in every official block).
        expand: inner width factor.
        d_conv: depthwise 2-D conv size before the scan.
        seq_conv: size of the 1-D depthwise conv along the sequence on the dt/B/C projections.
    """

    def __init__(self, d_model: int, d_state: int = 8, expand: int = 2, d_conv: int = 3, seq_conv: int = 7) -> None:
        super().__init__()
        d_inner = expand * d_model
        self.d_inner, self.d_state = d_inner, d_state
        self.dt_rank = math.ceil(d_model / 16)
        proj = self.dt_rank + 2 * d_state
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv2d = nn.Conv2d(d_inner, d_inner, d_conv, padding=d_conv // 2, groups=d_inner, bias=True)
        self.x_proj_weight = nn.Parameter(torch.randn(1, proj, d_inner) / math.sqrt(d_inner))
        self.x_conv = nn.Conv1d(proj, proj, seq_conv, padding=seq_conv // 2, groups=proj, bias=True)
        self.dt_projs_weight = nn.Parameter(torch.empty(1, d_inner, self.dt_rank).uniform_(-1, 1) * self.dt_rank**-0.5)
        dt = torch.exp(torch.rand(d_inner) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        self.dt_projs_bias = nn.Parameter((dt + torch.log(-torch.expm1(-dt))).view(1, d_inner))
        self.A_logs = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1))
        self.Ds = nn.Parameter(torch.ones(d_inner))
        self.out_norm = nn.LayerNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        xz = self.in_proj(x.permute(0, 2, 3, 1))
        xs, z = xz.chunk(2, dim=-1)
        # channels-last: the scan then reads u position-major without a transposing copy
        xs = F.gelu(self.conv2d(xs.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)))
        u = xs.flatten(2)  # N×D×L, raster order (N×L×D in memory when xs is channels-last)
        proj = self.x_conv(torch.matmul(u.transpose(1, 2), self.x_proj_weight[0].t()).transpose(1, 2))
        dts, bs, cs = torch.split(proj, [self.dt_rank, self.d_state, self.d_state], dim=1)
        # Δ position-major (N×L×D in memory), the layout the inference scan reads without a copy
        dts = torch.matmul(dts.transpose(1, 2), self.dt_projs_weight[0].t()).transpose(1, 2)
        y = selective_scan(
            u, dts, -torch.exp(self.A_logs.float()), bs, cs, self.Ds, self.dt_projs_bias.view(-1), delta_softplus=True
        ).to(x.dtype)
        y = self.out_norm(y.view(n, self.d_inner, h, w).permute(0, 2, 3, 1))
        return self.out_proj(y * F.gelu(z)).permute(0, 3, 1, 2)


class EVSS(nn.Module):
    """Pre-norm residual scan block: ``x + EVSS2D(LayerNorm2d(x))`` (used in the kernel estimator)."""

    def __init__(self, dim: int, d_state: int = 8) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(dim)
        self.attn = EVSS2D(dim, d_state=d_state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.attn(self.norm1(x))


def orient(x: torch.Tensor, idx: int) -> torch.Tensor:
    """The between-block re-orientation: even ``idx`` transposes H/W, odd ``idx`` flips both axes."""
    return x.transpose(-1, -2) if idx % 2 == 0 else x.flip(-1, -2)


def undo_orientation(x: torch.Tensor, n_blocks: int) -> torch.Tensor:
    """Undo the net re-orientation left by ``n_blocks`` consecutive :class:`NAFEVSBlock` (idx 0..n-1).

    Four blocks compose to the identity, so official levels (4 or 8 blocks) need nothing.
    """
    for idx in reversed(range(n_blocks % 4)):
        x = orient(x, idx)  # each step is its own inverse
    return x


class NAFEVSBlock(nn.Module):
    """NAF block whose token mixer adds a selective-scan branch to the local channel-attention one.

    The input is first re-oriented (:func:`orient`) and the output stays in that orientation.

    Args:
        c: channels.
        idx: position in the level; decides the re-orientation.
        d_state: SSM state size.
    """

    def __init__(self, c: int, idx: int = 0, d_state: int = 8) -> None:
        super().__init__()
        self.idx = idx
        self.lamb_l = nn.Parameter(torch.ones(1, c, 1, 1))
        self.lamb_g = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.alpha = nn.Parameter(torch.ones(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.conv1 = conv1x1(c, 2 * c)
        self.conv2 = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c, bias=True)
        self.conv3 = conv1x1(c, c)
        self.sca = channel_attention(c)
        self.norm_mamba = LayerNorm2d(c)
        self.attn = EVSS2D(c, d_state=d_state)
        self.conv4 = conv1x1(c, 2 * c)
        self.conv5 = conv1x1(c, c)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = orient(x, self.idx)
        u = simple_gate(self.conv2(self.conv1(self.norm1(x))))
        local = self.conv3(u * self.sca(u))
        glob = self.attn(self.norm_mamba(u)) * (1 + self.alpha)
        y = x + self.beta * (local * self.lamb_l + glob * self.lamb_g)
        return y + self.gamma * self.conv5(simple_gate(self.conv4(self.norm2(y))))
