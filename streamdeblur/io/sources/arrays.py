"""Frames a script already holds: an iterable of NumPy images (its own capture loop, a decoder of its
own, frames generated in memory).

The iterable is read on the pipeline's reader thread, one image at a time, so a generator that
captures or decodes lazily keeps memory bounded; nothing is dropped (file semantics). The first
image is read at construction: its shape fixes the stream's size and is checked there, in the
caller's thread.

Example:
    >>> import numpy as np
    >>> src = ArraySource(np.zeros((4, 48, 64, 3), np.uint8), fps=30)
    >>> (src.info.width, src.info.height, len(list(src.frames())))
    (64, 48, 4)
"""

from __future__ import annotations

import itertools
import math
import numbers
import threading
from collections.abc import Iterable, Iterator
from fractions import Fraction

import numpy as np

from ..color import ColorInfo
from ..frames import Frame, SourceInfo
from .base import DecodeStats


def check_image(image, index: int) -> np.ndarray:
    """``image`` as a contiguous ``H×W×3`` uint8/uint16 array, or a ``ValueError`` naming frame ``index``.

    Args:
        image: an ``H×W×3`` array (RGB or BGR), uint8 or uint16 (full 16-bit scale).
        index: its position in the stream (for the message).

    Returns:
        The same pixels, contiguous.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"frame {index}: expected a NumPy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"frame {index}: expected an H×W×3 colour image, got shape {tuple(image.shape)}")
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"frame {index}: expected uint8 or uint16 pixels, got {image.dtype}")
    if min(image.shape[:2]) < 2:
        raise ValueError(f"frame {index}: {image.shape[1]}x{image.shape[0]} is too small")
    return np.ascontiguousarray(image)


class ArraySource:
    """A source of in-memory images.

    Args:
        images: ``H×W×3`` uint8 or uint16 arrays (an array of shape ``N×H×W×3`` works too). Sizes may
            change along the stream (windows restart at a change, as for any video).
        fps: their frame rate: timestamps are ``index / fps``.
        bgr: the arrays are BGR (OpenCV's order); frames flow as RGB inside.
        name: what progress lines and errors call the stream.
    """

    live = False

    def __init__(self, images: Iterable[np.ndarray], fps: float = 30.0, bgr: bool = False, name: str = "frames") -> None:
        # any real number: NumPy's scalars and an exact Fraction(30000, 1001) were refused; NaN said "cannot convert
        # NaN to integer ratio" (the range, the command line's, is the API's to check: engine/limits.py)
        if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not math.isfinite(float(fps)) or fps <= 0:
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        fps = fps if isinstance(fps, Fraction) else float(fps)
        self._it = iter(images)
        self.bgr = bgr
        self.stats = DecodeStats()
        self._stop = threading.Event()
        try:
            first = next(self._it)
        except StopIteration:
            raise ValueError("no frames given") from None
        first = check_image(first, 0)
        self._first: np.ndarray | None = first
        self._dtype = first.dtype  #: every frame's: the stream's bit depth is the first frame's
        rate = Fraction(fps).limit_denominator(1001)
        h, w = first.shape[:2]
        self.info = SourceInfo(
            name=name,
            width=w,
            height=h,
            fps=rate,
            time_base=1 / rate,
            color=ColorInfo(bit_depth=16 if first.dtype == np.uint16 else 8),
        )

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()

    def frames(self) -> Iterator[Frame]:
        first, self._first = self._first, None
        start = 0 if first is None else 1  # the first image was checked when the source was made
        images = itertools.chain([first], self._it) if first is not None else self._it
        for i, image in enumerate(images):
            if self._stop.is_set():
                return
            image = image if i < start else check_image(image, i)
            if image.dtype != self._dtype:  # the stages give back the stream's depth: a uint16 frame came back uint8
                raise ValueError(f"frame {i}: {image.dtype} pixels in a stream of {self._dtype} ones (one bit depth per run)")
            rgb = np.ascontiguousarray(image[..., ::-1]) if self.bgr else image
            yield Frame(rgb, i, i, self.info.time_base, self.info.color, self.info.name)
