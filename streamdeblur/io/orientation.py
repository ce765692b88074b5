"""Display orientation of video: a phone held upright records landscape pixels and a rotation to show them.

Phones store a portrait clip as landscape pictures plus a *display matrix* (MP4/MOV ``tkhd``
matrix, FFmpeg's ``AV_PKT_DATA_DISPLAYMATRIX``) telling players to turn it. A tool that re-encodes
the pixels and drops that matrix turns every portrait clip on its side. streamdeblur does what the
``ffmpeg`` command line does by default (``-autorotate``): the decoder's pictures are turned upright
once, at the source, and everything after it (stages, previews, image folders, side-by-side
comparisons with their labels, the encoder) sees the picture the user sees; the output carries no
rotation, because its pixels are already upright.

The matrix is nine int32 in FFmpeg's layout ``[a, b, u, c, d, v, x, y, w]`` (``a``–``d``, ``x``, ``y``
16.16 fixed point; ``u``, ``v``, ``w`` 2.30). A source pixel ``(p, q)`` (column, row) goes to
``(a·p + c·q + x, b·p + d·q + y)``. Only the eight right-angle orientations exist in practice
(rotations by multiples of 90°, optionally mirrored); others are ignored with a warning.

Example:
    >>> m = (0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30)   # what `ffprobe` shows as "rotation=90"
    >>> o = Orientation.from_matrix(m)
    >>> o.describe()
    'rotated 90° counter-clockwise'
    >>> img = np.arange(6).reshape(2, 3)
    >>> bool((o.apply(img) == np.rot90(img)).all())
    True
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_ONE = 1 << 16  # 1.0 in 16.16 fixed point


@dataclass(frozen=True)
class Orientation:
    """How to turn a decoded picture upright: transpose first, then flip rows and/or columns.

    Attributes:
        transpose: swap rows and columns (a quarter turn, with the flips below).
        flip_rows: reverse the row order (upside down) after the transpose.
        flip_cols: reverse the column order (mirror) after the transpose.
    """

    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False

    @classmethod
    def from_matrix(cls, matrix: Sequence[int]) -> Orientation | None:
        """The orientation a display matrix asks for; None for the identity.

        Args:
            matrix: nine ints in FFmpeg's layout (see the module docstring).

        Returns:
            the orientation, or None when the matrix leaves pictures as they are.

        Raises:
            ValueError: a matrix that is not nine numbers, or not a right-angle turn or mirror.
        """
        if len(matrix) != 9:
            raise ValueError(f"a display matrix has 9 entries, got {len(matrix)}")
        a, b, c, d = (round(matrix[i] / _ONE) for i in (0, 1, 3, 4))
        if {abs(a), abs(d)} == {1} and b == c == 0:
            o = cls(False, flip_rows=d < 0, flip_cols=a < 0)
        elif {abs(b), abs(c)} == {1} and a == d == 0:
            # display column p' = c·q (source row), display row q' = b·p (source column): a transpose
            o = cls(True, flip_rows=b < 0, flip_cols=c < 0)
        else:
            raise ValueError(f"display matrix {list(matrix)} is not a right-angle rotation or mirror")
        return None if o == cls() else o

    @property
    def degrees_ccw(self) -> int:
        """The turn, counter-clockwise, in degrees (0, 90, 180, 270), applied before any mirror."""
        # mirrors are left-right, after the turn (EXIF's convention): an upside-down flip is a
        # half turn and a mirror, a plain transpose a clockwise quarter turn and a mirror
        if not self.transpose:
            return 180 if self.flip_rows else 0
        return 90 if self.flip_rows else 270

    @property
    def mirrored(self) -> bool:
        """True when the picture is mirrored left-right after the turn."""
        return self.flip_rows == self.flip_cols if self.transpose else self.flip_rows != self.flip_cols

    def describe(self) -> str:
        """In words, e.g. ``rotated 90° clockwise`` or ``mirrored``."""
        turn = {0: "", 90: "rotated 90° counter-clockwise", 180: "rotated 180°", 270: "rotated 90° clockwise"}[self.degrees_ccw]
        return " and ".join(x for x in (turn, "mirrored" if self.mirrored else "") if x)

    def size(self, width: int, height: int) -> tuple[int, int]:
        """The upright picture's ``(width, height)`` for a decoded ``width × height``."""
        return (height, width) if self.transpose else (width, height)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The upright picture (a contiguous copy) of ``H×W[×C]`` ``image``.

        Args:
            image: a decoded picture, rows first.

        Returns:
            ``W×H[×C]`` when the orientation transposes, else ``H×W[×C]``; same dtype.
        """
        if image.ndim < 2:
            raise ValueError(f"expected an H×W[×C] picture, got shape {image.shape}")
        out = image.swapaxes(0, 1) if self.transpose else image
        if self.flip_rows:
            out = out[::-1]
        if self.flip_cols:
            out = out[:, ::-1]
        return np.ascontiguousarray(out)


def frame_display_matrix(frame) -> tuple[int, ...] | None:
    """The display matrix a decoded PyAV frame carries (FFmpeg attaches the stream's to every frame), or None."""
    try:
        from av.sidedata.sidedata import Type

        sd = frame.side_data.get(Type.DISPLAYMATRIX)
    except Exception:  # noqa: BLE001 - an old PyAV or an odd frame: no rotation known
        return None
    if sd is None:
        return None
    raw = bytes(sd)
    if len(raw) != 36:
        return None
    return struct.unpack("<9i", raw)
