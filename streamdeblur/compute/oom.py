"""Out of memory in a model pass: recognise it, and find the next smaller pass that changes something.

A model stage runs ``N`` frames per call through :func:`~streamdeblur.compute.tiling.run_tiled`: whole
frames, or tiles with ``max_tiles`` per forward pass. When a pass does not fit (CUDA's
``OutOfMemoryError``, or on CPU ``RuntimeError: DefaultCPUAllocator: can't allocate memory``), the
stage retries the same frames with a smaller :class:`PassPlan`, in this order:

1. fewer tiles per pass (only on the tiled path, and only when the pass really holds more tiles than
   the new limit: halving ``max_tiles`` from 8 to 4 changes nothing when a frame has 3 tiles);
2. fewer frames per call;
3. tiles, then smaller tiles (512, 256, 128 px), only sizes that cut the frame into more tiles.

Nothing else changes, so every frame comes out once, in order. :func:`next_plan` returns None when
nothing smaller is left.

Example:
    >>> p = PassPlan(tile=None, max_pixels=1280 * 736, max_tiles=8)
    >>> smaller, what = next_plan(p, frames=1, height=360, width=640)
    >>> what, smaller.tile
    ('512-px tiles', 512)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from dataclasses import dataclass, replace

import torch

from .tiling import TileSpec, plan

#: Tile sides tried, largest first, when whole frames or bigger tiles do not fit.
TILE_SIDES = (512, 256, 128)
#: How an allocation failure reads: CUDA's and the caching allocators' "out of memory", PyTorch's CPU
#: allocator ("DefaultCPUAllocator: can't allocate memory"), and oneDNN, the CPU convolution library,
#: whose scratch-memory failure surfaces only as "could not create a primitive" (seen under RLIMIT_AS).
_CPU_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory", "could not create a primitive")


def is_oom(exc: BaseException) -> bool:
    """True for an allocation failure: CUDA out of memory, the CPU allocator's or oneDNN's failure, ``MemoryError``.

    Args:
        exc: the exception a model pass raised.

    Returns:
        whether retrying with a smaller pass can help.
    """
    if isinstance(exc, MemoryError):
        return True
    oom = getattr(torch, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _CPU_MESSAGES)


@dataclass(frozen=True)
class PassPlan:
    """How a model stage cuts its work into forward passes.

    Attributes:
        tile: tile side, or None for whole frames when they fit ``max_pixels``.
        max_pixels: largest frame run whole when ``tile`` is None.
        max_tiles: tiles per forward pass.
        max_frames: frames per call (None: the whole batch).
        overlap: tile overlap in pixels.
        multiple: the model's size constraint.
    """

    tile: int | None = None
    max_pixels: int = 1280 * 736
    max_tiles: int = 8
    max_frames: int | None = None
    overlap: int = 32
    multiple: int = 8

    def tiles_per_frame(self, height: int, width: int) -> int:
        """Tiles :func:`~streamdeblur.compute.tiling.run_tiled` cuts one ``height×width`` frame into."""
        spec = TileSpec(tile=self.tile, overlap=self.overlap, max_pixels=self.max_pixels, max_tiles=self.max_tiles)
        rows, cols = plan(height, width, spec, self.multiple)
        return rows * cols

    def describe(self, frames: int) -> str:
        """E.g. ``1 frame(s) per call, 128-px tiles, 1 tile(s) per pass`` for a batch of ``frames`` (for messages)."""
        frames = f"{self.frames_per_call(frames)} frame(s)"
        tiles = "whole frames" if self.tile is None else f"{self.tile}-px tiles, {self.max_tiles} tile(s) per pass"
        return f"{frames} per call, {tiles}"

    def frames_per_call(self, frames: int) -> int:
        """Frames of a batch of ``frames`` that go into one call."""
        return frames if self.max_frames is None else max(1, min(frames, self.max_frames))


def next_plan(p: PassPlan, frames: int, height: int, width: int) -> tuple[PassPlan, str] | None:
    """The first step of the ladder (module docstring) that makes the failed pass smaller.

    Args:
        p: the plan whose pass ran out of memory.
        frames: frames in the failed call.
        height: frame height.
        width: frame width.

    Returns:
        ``(smaller plan, what changed)`` for the warning, or None when nothing smaller is left.
    """
    per_frame = p.tiles_per_frame(height, width)
    if per_frame > 1:
        in_pass = min(p.max_tiles, frames * per_frame)
        if in_pass > 1:
            n = in_pass // 2
            return replace(p, max_tiles=n), f"{n} tile(s) per pass"
    if frames > 1:
        n = frames // 2
        return replace(p, max_frames=n), f"{n} frame(s) per call"
    for side in TILE_SIDES:
        smaller = replace(p, tile=side, max_pixels=0)
        if (p.tile is None or side < p.tile) and smaller.tiles_per_frame(height, width) > per_frame:
            return smaller, f"{side}-px tiles"
    return None


def release_memory(device: torch.device | str = "cpu") -> None:
    """Give what a failed pass freed back before the next attempt.

    Collects garbage, empties CUDA's cache on a CUDA device and, on CPU under glibc, calls
    ``malloc_trim(0)``: glibc keeps freed heap pages mapped, and under an address-space limit
    (``RLIMIT_AS``) those pages still count, so a smaller retry could fail for memory that nothing
    uses any more (seen: the ladder failing down to 128-px tiles under ``--address-space-mib``).
    """
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
        return
    trim_heap()


def trim_heap() -> None:
    """Hand the heap pages that freed memory left behind back to the system (glibc's
    ``malloc_trim(0)``; elsewhere nothing).

    A pass over a frame of a size not seen before allocates its intermediates at new sizes; glibc
    keeps the freed pages, and frames of ever new sizes (a folder of photos, :meth:`Deblurrer.image`
    in a loop) then grow the process by hundreds of MiB: 290 → 1610 MiB over 100 sizes of 100–200 px,
    where trimming after each new size keeps it near 400 MiB (oneDNN's cache of per-size kernels).
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:  # not glibc, or no libc to load: nothing to trim
        pass


class OutOfMemory(RuntimeError):
    """A pass did not fit even after every fallback; the message is one line."""
