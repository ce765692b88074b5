"""Reversible-column ("RevCol") sub-networks of DeepRFTv2: encoders, decoders, kernel encoder.

Each sub-network is one *column*: it keeps one state per level and computes, level by level::

    c_k  <-  alpha_k * c_k(previous column)  +  level_k(input_k)

so information flows both up the levels and across columns. In the first column the previous
states are absent and the ``alpha`` term vanishes. ``alpha_k`` are per-channel gains that the
official model clamps in place to ``|alpha| >= 1e-3`` at every forward (the column is only
invertible while they are non-zero); :func:`clamp_gains` does the same.

Class names follow the official code's roles; parameter names (``alphaK``, ``levelK.blocks``,
``levelK.fusion.{down,up,concat_conv}``) are the checkpoint interface.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .blocks import DownSample, NAFBlock, UpSample, conv1x1
from .evss import EVSS, NAFEVSBlock, undo_orientation

#: ``(block kind, count)`` for one level; kinds: ``naf``, ``nafevs``, ``evss``.
LevelSpec = tuple[str, int]

ALPHA_MIN = 1e-3


def clamp_gains(*gains: nn.Parameter) -> None:
    """Clamp gains in place to ``|g| >= 1e-3``, keeping the sign (an exact 0 stays 0)."""
    with torch.no_grad():
        for g in gains:
            g.copy_(torch.sign(g) * g.abs().clamp_min(ALPHA_MIN))


def make_blocks(kind: str, channels: int, count: int, d_state: int = 8) -> nn.Sequential:
    """A level's chain of ``count`` blocks of one kind."""
    if kind == "naf":
        return nn.Sequential(*[NAFBlock(channels) for _ in range(count)])
    if kind == "nafevs":
        return nn.Sequential(*[NAFEVSBlock(channels, idx=i, d_state=d_state) for i in range(count)])
    if kind == "evss":
        return nn.Sequential(*[EVSS(channels, d_state=d_state) for _ in range(count)])
    raise ValueError(f"unknown block kind {kind!r}; allowed: naf, nafevs, evss")


class Fusion(nn.Module):
    """Container for a level's input adapters (``down``, ``up``, ``concat_conv``), by official name."""

    def __init__(self, **parts: nn.Module) -> None:
        super().__init__()
        for name, module in parts.items():
            self.add_module(name, module)


class Level(nn.Module):
    """One level of a column: optional fusion, then blocks (re-oriented back at the end)."""

    def __init__(self, spec: LevelSpec, channels: int, d_state: int = 8, fusion: Fusion | None = None) -> None:
        super().__init__()
        kind, count = spec
        if fusion is not None:
            self.fusion = fusion
        self.blocks = make_blocks(kind, channels, count, d_state)
        self._reorient = count if kind == "nafevs" else 0

    def run_blocks(self, x: torch.Tensor) -> torch.Tensor:
        return undo_orientation(self.blocks(x), self._reorient)


def _mix(alpha: torch.Tensor, prev: torch.Tensor | None, new: torch.Tensor) -> torch.Tensor:
    return new if prev is None else alpha * prev + new


class _Column(nn.Module):
    def _gains(self, n: int) -> list[nn.Parameter]:
        return [getattr(self, f"alpha{k}") for k in range(n)]

    def _add_gains(self, channels: Sequence[int]) -> None:
        for k, c in enumerate(channels):
            self.register_parameter(f"alpha{k}", nn.Parameter(torch.full((1, c, 1, 1), 0.5)))


class Encoder(_Column):
    """Three-level encoder column (official ``UniSimpleEncoder3Level``); widths ``dim·(1, 2, 4)``.

    Level 0 runs at the input resolution; levels 1 and 2 first halve it (``fusion.down``).
    """

    def __init__(self, dim: int, levels: Sequence[LevelSpec], d_state: int = 8) -> None:
        super().__init__()
        widths = [dim * 2**k for k in range(len(levels))]
        self._add_gains(widths)
        for k, (spec, c) in enumerate(zip(levels, widths)):
            fusion = None if k == 0 else Fusion(down=nn.Sequential(DownSample(widths[k - 1], c)))
            self.add_module(f"level{k}", Level(spec, c, d_state, fusion))
        self.depth = len(levels)

    def forward(self, x: torch.Tensor, prev: Sequence[torch.Tensor] | None = None) -> list[torch.Tensor]:
        gains = self._gains(self.depth)
        clamp_gains(*gains)
        out: list[torch.Tensor] = []
        for k in range(self.depth):
            level = getattr(self, f"level{k}")
            inp = x if k == 0 else level.fusion.down(out[-1])
            out.append(_mix(gains[k], None if prev is None else prev[k], level.run_blocks(inp)))
        return out


class SkipEncoder(_Column):
    """Half-scale encoder column that also takes the full-scale encoder's states, brought down to
    its resolution (official ``UniSimpleMEncoder3Level`` with ``downsample: concat``).

    Level ``k`` input: ``concat_conv(cat[x_k, skip_k])`` where ``x_0`` is the embedded image and
    ``x_k`` (k>0) the previous level's state halved by ``fusion.down``.
    """

    def __init__(self, dim: int, levels: Sequence[LevelSpec], d_state: int = 8) -> None:
        super().__init__()
        widths = [dim * 2**k for k in range(len(levels))]
        self._add_gains(widths)
        for k, (spec, c) in enumerate(zip(levels, widths)):
            parts: dict[str, nn.Module] = {}
            if k > 0:
                parts["down"] = nn.Sequential(DownSample(widths[k - 1], c))
            parts["concat_conv"] = nn.Sequential(conv1x1(2 * c, c))
            self.add_module(f"level{k}", Level(spec, c, d_state, Fusion(**parts)))
        self.depth = len(levels)

    def forward(
        self, x: torch.Tensor, skips: Sequence[torch.Tensor], prev: Sequence[torch.Tensor] | None = None
    ) -> list[torch.Tensor]:
        gains = self._gains(self.depth)
        clamp_gains(*gains)
        out: list[torch.Tensor] = []
        for k in range(self.depth):
            level = getattr(self, f"level{k}")
            inp = x if k == 0 else level.fusion.down(out[-1])
            inp = level.fusion.concat_conv(torch.cat([inp, skips[k]], dim=1))
            out.append(_mix(gains[k], None if prev is None else prev[k], level.run_blocks(inp)))
        return out


class Decoder(_Column):
    """Three-level decoder column (official ``UniSimpleDecoder3Level``), widths ``dim·(4, 2, 1)``.

    ``forward(latent, skips)`` with ``skips = (s0, s1, s2)`` at widths ``(2·dim, dim, dim)``::

        c0 = alpha0·s0 + up(blocks0(latent))      # to 2·dim, ×2 resolution
        c1 = alpha1·s1 + up(blocks1(c0))          # to dim,   ×2 resolution
        c2 = alpha2·s2 + blocks2(c1)              # dim, same resolution

    ``s0, s1`` are the encoder's level-1 and level-0 states (the U-Net skips), ``s2`` the previous
    column's decoder output (absent in the first column). The returned ``(c0, c1, c2)`` replace
    them as the states the next column sees.
    """

    def __init__(self, dim: int, levels: Sequence[LevelSpec], d_state: int = 8) -> None:
        super().__init__()
        n = len(levels)
        widths = [dim * 2 ** (n - 1 - k) for k in range(n)]
        out_widths = [max(w // 2, dim) for w in widths]
        self._add_gains(out_widths)
        for k, (spec, c) in enumerate(zip(levels, widths)):
            fusion = Fusion(up=nn.Sequential(UpSample(c, c // 2))) if k < n - 1 else None
            self.add_module(f"level{k}", Level(spec, c, d_state, fusion))
        self.depth = n

    def forward(self, latent: torch.Tensor, skips: Sequence[torch.Tensor | None]) -> list[torch.Tensor]:
        gains = self._gains(self.depth)
        clamp_gains(*gains)
        out: list[torch.Tensor] = []
        x = latent
        for k in range(self.depth):
            level = getattr(self, f"level{k}")
            y = level.run_blocks(x)
            if k < self.depth - 1:
                y = level.fusion.up(y)
            x = _mix(gains[k], skips[k], y)
            out.append(x)
        return out


class KernelEncoder(_Column):
    """Four same-width levels of :class:`EVSS` blocks run on the spectrum map inside the kernel
    estimator (official ``UniSimpleResEncoder4Level``); no resampling.

    In later columns, levels ``0..n-2`` first fuse their input with the previous column's state of
    the level above (RevCol's cross-column path): ``fusion.down(cat[input, prev_{k+1}])``.
    """

    def __init__(self, dim: int, levels: int = 4, blocks_per_level: int = 1, first: bool = True, d_state: int = 8) -> None:
        super().__init__()
        self._add_gains([dim] * levels)
        for k in range(levels):
            fusion = None if first or k == levels - 1 else Fusion(down=nn.Sequential(conv1x1(2 * dim, dim)))
            self.add_module(f"level{k}", Level(("evss", blocks_per_level), dim, d_state, fusion))
        self.depth = levels
        self.first = first

    def forward(self, x: torch.Tensor, prev: Sequence[torch.Tensor] | None = None) -> list[torch.Tensor]:
        gains = self._gains(self.depth)
        clamp_gains(*gains)
        out: list[torch.Tensor] = []
        for k in range(self.depth):
            level = getattr(self, f"level{k}")
            inp = x if k == 0 else out[-1]
            if prev is not None and hasattr(level, "fusion"):
                inp = level.fusion.down(torch.cat([inp, prev[k + 1]], dim=1))
            out.append(_mix(gains[k], None if prev is None else prev[k], level.run_blocks(inp)))
        return out
