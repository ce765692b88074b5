"""Temporal context across segment cuts: frames outside a segment's own range become context-only.

A segment file of a segmented run holds a few packets beyond each cut (see
:func:`streamdeblur.io.segments.context_ranges`). :class:`ContextRange` wraps its source: frames
with ``pts`` in ``[start, end)`` are the segment's own; of the others it keeps the ``past`` frames
just before ``start`` and the ``future`` frames from ``end`` on, marked ``context=True`` (windowed
stages use them as neighbours, nothing writes them), and drops the rest.

Example:
    >>> src = ContextRange(open_source("seg-0001.src.mp4"), start=9000, end=18000, past=3, future=3)  # doctest: +SKIP
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import replace

from .frames import Frame


class ContextRange:
    """A source whose frames outside ``[start, end)`` are context-only (at most ``past`` + ``future``)."""

    def __init__(self, source, start: int, end: int | None, past: int, future: int, frames: int | None = None) -> None:
        self.source, self.start, self.end = source, start, end
        self.past, self.future = max(0, past), max(0, future)
        self.own = frames  #: the frames of ``[start, end)``: what a segment writes (None: unknown)

    @property
    def info(self):
        # the file's index counts the context frames too, which are never written: the segment's own
        # count is the total (a segment of 24 frames showed 11/33 and an ETA for 33)
        info = self.source.info
        frames = self.own if self.own is not None else info.frames
        return replace(info, frames=frames, frames_exact=False, video_span=None, video_end=None)

    def frames(self) -> Iterator[Frame]:
        before: deque[Frame] = deque(maxlen=self.past)
        after = 0
        for f in self.source.frames():
            if f.pts is not None and f.pts < self.start:
                before.append(replace(f, context=True))
                continue
            if f.pts is not None and self.end is not None and f.pts >= self.end:
                if after >= self.future:
                    break
                after += 1
                yield replace(f, context=True)
                continue
            while before:
                yield before.popleft()
            yield f

    def __getattr__(self, name):  # stop, close, stats, … of the wrapped source
        return getattr(self.source, name)
