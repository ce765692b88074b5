"""What flows through the pipeline: frames with their untouched metadata, and source descriptions.

Timestamps: a frame keeps the ``pts`` and ``time_base`` its demuxer gave it, all the way to the
muxer. ``pts × time_base`` is its presentation time in seconds (PyAV's ``docs/api/time.rst``
explains the convention). Nothing downstream recomputes them from the frame index, which is what
keeps variable-frame-rate footage and audio in sync.

Example:
    >>> from fractions import Fraction
    >>> f = Frame(np.zeros((4, 4, 3), np.uint8), index=0, pts=3003, time_base=Fraction(1, 90000))
    >>> round(f.time, 4)
    0.0334
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .color import ColorInfo
from .hdr import HdrMetadata
from .orientation import Orientation


@dataclass
class Frame:
    """One decoded picture.

    Attributes:
        image: ``H×W×3`` RGB, uint8 (8-bit sources) or uint16 (full 16-bit scale, deeper sources).
        index: position in the source's decode order, from 0.
        pts: presentation timestamp in ``time_base`` units (None only if the container had none).
        time_base: seconds per ``pts`` unit.
        color: colour description (matrix, range, primaries, transfer, bit depth).
        source: name of the source it came from.
        captured: ``time.monotonic()`` when a live source grabbed it (0 for files).
        context: decoded only as temporal context for windowed stages (segmented runs decode a
            few frames beyond each cut); never written.
    """

    image: np.ndarray
    index: int
    pts: int | None
    time_base: Fraction | None
    color: ColorInfo = field(default_factory=ColorInfo)
    source: str = ""
    captured: float = 0.0
    context: bool = False

    @property
    def time(self) -> float | None:
        """Presentation time in seconds, or None."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)


@dataclass
class SourceInfo:
    """What a source knows before the first frame (used to set up sinks and progress)."""

    name: str
    width: int
    height: int
    fps: Fraction | None
    time_base: Fraction | None
    color: ColorInfo
    live: bool = False
    frames: int | None = None  #: expected frame count (estimate) or None
    frames_exact: bool = False  #: ``frames`` is the container's index count (so fewer frames means the input ended early)
    duration: float | None = None  #: seconds, or None
    #: presentation times (s) where the file's video starts and where the file says it ends, for a file
    #: without a frame index (Matroska's per-track ``DURATION``): one cut short is known by its last frame
    video_span: tuple[float, float] | None = None
    #: a file with a frame index (``frames_exact``): where its video ends by the index, s (its first frame's
    #: time plus the stream's duration): a run whose frames reach it did not end early, whatever was skipped
    video_end: float | None = None
    path: Path | None = None  #: local file (audio is copied from it)
    url: str | None = None  #: a video file read over the network (http/https), audio and tags copied from it
    has_audio: bool = False
    has_subtitles: bool = False  #: subtitle streams (copied with the audio)
    covers: int = 0  #: cover pictures (attached pictures) and attached files (copied with the audio where they fit)
    codec: str = ""
    cut: bool = False  #: only a part of the file is read (``--start``/``--duration``/``--frames``)
    cut_start: float = 0.0  #: presentation time the part starts at (audio is copied from there)
    #: where a part given by time ends (``--duration``; ``inf`` for ``--start`` alone): its sound is kept to
    #: there, as ``ffmpeg -ss -t`` keeps it, also past the last picture; None: at the last frame (``--frames``)
    cut_end: float | None = None
    start_time: float | None = None  #: the file's first presentation time, s (negative after an MPEG-TS clock wrap)
    #: where the file's own clock starts, s: its first presentation time for an MPEG transport or program
    #: stream (a camcorder's ``.mts``, a broadcast ``.ts``, a DVD's ``.vob``), whose timestamps are the
    #: recorder's clock (1.4 s, 10 h …), not a place in the recording; 0 for every other file. The
    #: output starts that much earlier (at 0, as FFmpeg's own does), ``--start`` counts from it.
    origin: float = 0.0
    orientation: Orientation | None = None  #: display turn applied to every decoded picture (``width``, ``height``: upright)
    interlaced: bool = False  #: interlaced source: every decoded frame is deinterlaced (``io/deinterlace.py``)
    sample_aspect: Fraction | None = None  #: pixel shape (``width/height`` of one pixel) when not square: anamorphic HDV, DV
    hdr: HdrMetadata | None = None  #: HDR10 mastering display and light levels, passed to the encoder


def cut_short(start: float, reached: float, end: float) -> str | None:
    """``input ended early (…)`` when a file's video stops more than a second (and 2 %) before the
    ``end`` it declares (:attr:`SourceInfo.video_span`), having started at ``start`` and ``reached`` its last
    frame's end; None when it holds what it says.

    Example:
        >>> cut_short(0.0, 1.58, 3.02)
        'input ended early (its video stops at 1.58 s of the 3.02 s the file declares: cut short?)'
        >>> cut_short(0.0, 2.96, 3.0) is None
        True
    """
    if end - reached > max(1.0, 0.02 * (end - start)):
        stops, length = reached - start, end - start
        return f"input ended early (its video stops at {stops:.2f} s of the {length:.2f} s the file declares: cut short?)"
    return None
