"""A part of a file: ``--start``, ``--duration`` and ``--frames`` (try a few seconds of a long file first).

The cut is made by presentation time, like ``ffmpeg -ss START -t DURATION`` with re-encoding: the
file is seeked to the keyframe at or before ``start`` (fast, even hours in), the frames before
``start`` are decoded and dropped, and the frames kept **keep their own timestamps** — a frame at
12.480 s in the input is at 12.480 s in the output, so the cut lines up with the original and its
audio (which is cut to the same span by the sink). Times count from the file's start as a player
shows them: an MPEG transport stream's clock (``SourceInfo.origin``, 1.4 s or 10 h in), or the first
presentation time of a file that starts late (``SourceInfo.start_time``), is taken off.

Example:
    >>> src = CutSource(open_source("long.mp4"), Cut(start=60, duration=5))   # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ..frames import Frame


@dataclass(frozen=True)
class Cut:
    """Which part of a file to process.

    Attributes:
        start: first presentation time kept, in seconds.
        duration: seconds kept from ``start`` (None: to the end).
        frames: at most this many frames (None: no limit).
    """

    start: float = 0.0
    duration: float | None = None
    frames: int | None = None

    @property
    def end(self) -> float | None:
        """Presentation time where the cut stops (exclusive), or None."""
        return None if self.duration is None else self.start + self.duration

    def __bool__(self) -> bool:
        return bool(self.start) or self.duration is not None or self.frames is not None


class CutSource:
    """``source`` limited to a :class:`Cut` (same interface as the source it wraps).

    Args:
        source: a file source (``info``, ``frames()``, ``stop()``, ``close()``, ``stats``;
            ``seek(seconds)`` when it can seek).
        cut: the part to keep.
    """

    def __init__(self, source, cut: Cut) -> None:
        self.source, self.cut = source, cut
        info = source.info
        expected = None
        if info.fps:
            span = (info.duration - cut.start) if info.duration is not None else None
            if cut.duration is not None:
                span = cut.duration if span is None else min(span, cut.duration)
            expected = max(0, round(span * float(info.fps))) if span is not None else None
        if cut.frames is not None:
            expected = cut.frames if expected is None else min(expected, cut.frames)
        # --start counts from the file's start as a player shows it (as ffmpeg -ss does): a transport
        # stream's clock start, or the first presentation time of a file that starts late (an MP4 made
        # with -itsoffset, a clip trimmed by stream copy: 10 s in), where --start 0.5 meant 0.5 s of its clock
        self.origin = info.origin or max(0.0, info.start_time or 0.0)
        self.info = replace(
            info,
            frames=expected,
            frames_exact=False,
            video_span=None,
            video_end=None,
            cut_start=self.origin + cut.start,
            cut_end=None if cut.frames is not None else math.inf if cut.end is None else self.origin + cut.end,
            cut=True,
        )
        self.stats = source.stats

    def stop(self) -> None:
        self.source.stop()

    def close(self) -> None:
        self.source.close()

    def frames(self) -> Iterator[Frame]:
        if self.cut.start and hasattr(self.source, "seek"):
            self.source.seek(self.origin + self.cut.start)
        kept, end = 0, self.cut.end
        for frame in self.source.frames():
            t = frame.time - self.origin if frame.time is not None else None
            if t is not None and t < self.cut.start - 1e-9:
                continue
            if (end is not None and t is not None and t >= end - 1e-9) or (
                self.cut.frames is not None and kept >= self.cut.frames
            ):
                break
            kept += 1
            yield frame
