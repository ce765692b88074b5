"""Tiled inference: split frames into overlapping tiles, run them batched, blend them back.

Large frames do not fit a network's memory, and DeepRFTv2 was trained and tested on tiles (512 px
with 128 px overlap officially). :func:`run_tiled`:

1. pads every frame (reflect) to a multiple of the model's stride (8 for DeepRFTv2);
2. runs the frame whole when it fits ``max_pixels``; otherwise cuts tiles on a regular grid whose
   last row/column is shifted to end at the border (so no tile is padded);
3. builds the model's image pyramid **once per frame** and cuts matching tiles from every level
   (a model that exposes ``pyramid``/``forward_pyramid``), as the official code does;
4. runs tiles of several frames together, ``max_tiles`` per forward pass;
5. blends with weights that ramp (linear or Gaussian) across overlaps and are flat elsewhere,
   normalised by their sum — the identity function comes back exactly.

Example:
    >>> x = torch.rand(2, 3, 100, 150)
    >>> y = run_tiled(lambda t: t, x, tile=64, overlap=16)
    >>> bool(torch.allclose(x, y, atol=1e-6))
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ..errors import UsageError

FEATHERS = ("linear", "gaussian")  #: blending ramps across tile overlaps


@dataclass(frozen=True)
class TileSpec:
    """Tiling parameters. ``tile=None`` means whole frames (when they fit ``max_pixels``)."""

    tile: int | None = None
    overlap: int = 32
    feather: str = "linear"  #: ``linear`` or ``gaussian``
    max_pixels: int = 1280 * 736  #: largest frame run whole when ``tile`` is None
    max_tiles: int = 8  #: tiles per forward pass


def grid(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets along one axis: stride ``tile - overlap``, the last one flush with the end."""
    if tile >= size:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return sorted(set(starts))


def check_feather(kind: str) -> str:
    """``kind`` if it is a known blending ramp (:data:`FEATHERS`), else a one-line :class:`UsageError`."""
    if kind not in FEATHERS:
        raise UsageError(f"unknown feather {kind!r}; allowed: {', '.join(FEATHERS)}")
    return kind


def _ramp(n: int, kind: str) -> torch.Tensor:
    t = (torch.arange(n, dtype=torch.float32) + 0.5) / n
    if check_feather(kind) == "gaussian":
        return torch.exp(-0.5 * ((1 - t) / 0.4) ** 2)
    return t


def tile_weight(h: int, w: int, top: int, bottom: int, left: int, right: int, kind: str = "linear") -> torch.Tensor:
    """``h×w`` blending weight that rises over ``top``/``left`` pixels and falls over ``bottom``/``right``."""
    wy = torch.ones(h)
    wx = torch.ones(w)
    if top:
        wy[:top] = torch.minimum(wy[:top], _ramp(top, kind))
    if bottom:
        wy[h - bottom :] = torch.minimum(wy[h - bottom :], _ramp(bottom, kind).flip(0))
    if left:
        wx[:left] = torch.minimum(wx[:left], _ramp(left, kind))
    if right:
        wx[w - right :] = torch.minimum(wx[w - right :], _ramp(right, kind).flip(0))
    return wy[:, None] * wx[None, :]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad bottom/right so H and W are multiples of ``multiple``; returns the padding."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (ph, pw)


@dataclass(frozen=True)
class Layout:
    """Where the tiles of a padded ``hp×wp`` frame go: ``th×tw`` tiles at rows ``ys`` and columns ``xs``."""

    hp: int
    wp: int
    th: int
    tw: int
    overlap: int
    ys: list[int]
    xs: list[int]

    @property
    def whole(self) -> bool:
        """One tile covers the frame: run it whole."""
        return len(self.ys) == 1 and len(self.xs) == 1


def layout(h: int, w: int, tile: int | None, overlap: int, multiple: int = 8, max_pixels: int = 1280 * 736) -> Layout:
    """The tiling geometry :func:`run_tiled` uses (and :func:`plan` reports): one place for it.

    Args:
        h, w: frame size before padding.
        tile: tile side (rounded down to ``multiple``), or None for whole frames that fit ``max_pixels``.
        overlap: wanted overlap; clamped to the tile and rounded down to even.
        multiple: the model's size constraint (frames are padded to it).
        max_pixels: whole-frame limit when ``tile`` is None (larger frames use 512-px tiles).

    Returns:
        The :class:`Layout`.

    Example:
        >>> lay = layout(128, 192, 64, 16)
        >>> len(lay.ys), len(lay.xs), lay.overlap
        (3, 4, 16)
    """
    hp, wp = math.ceil(h / multiple) * multiple, math.ceil(w / multiple) * multiple
    if tile is None:
        if hp * wp <= max_pixels:
            return Layout(hp, wp, hp, wp, 0, [0], [0])
        tile = 512
    tile = max(multiple, tile - tile % multiple)
    th, tw = min(tile, hp), min(tile, wp)
    overlap = max(0, min(overlap, th - multiple, tw - multiple))
    overlap -= overlap % 2
    return Layout(hp, wp, th, tw, overlap, grid(hp, th, overlap), grid(wp, tw, overlap))


def run_tiled(
    model: Callable | torch.nn.Module,
    x: torch.Tensor,
    tile: int | None = None,
    overlap: int = 32,
    multiple: int = 8,
    feather: str = "linear",
    max_pixels: int = 1280 * 736,
    max_tiles: int = 8,
    aux: list | None = None,
    **kwargs,
) -> torch.Tensor:
    """Apply an image-to-image ``model`` to ``N×3×H×W`` frames through tiles (see module docstring).

    Args:
        model: callable on ``n×3×h×w``; if it has ``pyramid(x) -> list`` and
            ``forward_pyramid(levels) -> image``, tiles are cut from every pyramid level.
        x: frames.
        tile: tile side (rounded down to ``multiple``), or None for whole frames that fit.
        overlap: pixels shared by neighbouring tiles.
        multiple: the model's size constraint.
        feather: ``linear`` or ``gaussian`` blending.
        max_pixels: whole-frame limit when ``tile`` is None (larger frames use 512-px tiles).
        max_tiles: tiles per forward pass.
        aux: if given, and the model returns ``(image, extra)``, one ``(frame, y, x, h, w, extra_i)``
            per tile (or per whole frame) is appended to it.
        kwargs: passed to the model's ``forward_pyramid``.

    Returns:
        ``N×3×H×W`` output.
    """
    if x.dim() != 4:
        raise ValueError(f"run_tiled expects N×C×H×W, got {tuple(x.shape)}")
    n, _, h, w = x.shape
    xp, _ = pad_to_multiple(x, multiple)
    hp, wp = xp.shape[-2:]

    def whole() -> torch.Tensor:
        res = _forward(model, xp, None, kwargs)
        if isinstance(res, tuple):
            res, extra = res
            if aux is not None:
                aux.extend((i, 0, 0, hp, wp, extra[i]) for i in range(n))
        return res[..., :h, :w]

    check_feather(feather)
    lay = layout(h, w, tile, overlap, multiple, max_pixels)
    if lay.whole:
        return whole()
    th, tw, ys, xs = lay.th, lay.tw, lay.ys, lay.xs
    levels = model.pyramid(xp) if hasattr(model, "pyramid") else [xp]
    boxes = [(i, y, x0) for i in range(n) for y in ys for x0 in xs]
    out = torch.zeros((n, 3, hp, wp), dtype=torch.float32, device=x.device)
    acc = torch.zeros((1, 1, hp, wp), dtype=torch.float32, device=x.device)
    weights = {}
    for start in range(0, len(boxes), max_tiles):
        chunk = boxes[start : start + max_tiles]
        tiles = [
            torch.stack([lv[i, :, (y >> k) : (y + th) >> k, (x0 >> k) : (x0 + tw) >> k] for i, y, x0 in chunk])
            for k, lv in enumerate(levels)
        ]
        res = _forward(model, tiles[0], tiles, kwargs)
        if isinstance(res, tuple):
            res, extra = res
            if aux is not None:
                aux.extend((i, y, x0, th, tw, e) for (i, y, x0), e in zip(chunk, extra))
        for (i, y, x0), r in zip(chunk, res.float()):
            key = (y, x0)
            if key not in weights:
                top = overlap_with(ys, y, th, before=True)
                bottom = overlap_with(ys, y, th, before=False)
                left = overlap_with(xs, x0, tw, before=True)
                right = overlap_with(xs, x0, tw, before=False)
                weights[key] = tile_weight(th, tw, top, bottom, left, right, feather).to(x.device)
                acc[..., y : y + th, x0 : x0 + tw] += weights[key]
            out[i, :, y : y + th, x0 : x0 + tw] += r * weights[key]
    return (out / acc)[..., :h, :w].to(x.dtype)


def overlap_with(starts: list[int], s: int, size: int, before: bool) -> int:
    """Pixels the tile at ``s`` shares with its neighbour before/after it on this axis."""
    i = starts.index(s)
    if before:
        return 0 if i == 0 else max(0, starts[i - 1] + size - s)
    return 0 if i == len(starts) - 1 else max(0, s + size - starts[i + 1])


def _forward(model, x: torch.Tensor, levels: list[torch.Tensor] | None, kwargs: dict):
    if hasattr(model, "forward_pyramid"):
        return model.forward_pyramid(levels if levels is not None else model.pyramid(x), **kwargs)
    return model(x, **kwargs)


def plan(h: int, w: int, spec: TileSpec, multiple: int = 8) -> tuple[int, int]:
    """Number of tiles per frame (rows, cols) that :func:`run_tiled` will use (same :func:`layout`)."""
    lay = layout(h, w, spec.tile, spec.overlap, multiple, spec.max_pixels)
    return len(lay.ys), len(lay.xs)
