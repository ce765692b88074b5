"""Interlaced video (camcorders' 1080i, AVCHD ``.MTS``, DV, broadcast captures) made progressive at decode.

An interlaced frame holds two fields shot 1/50 or 1/60 s apart on alternate lines. Deblurring it
as one picture treats the comb on every moving edge as detail, registration sees two poses at once,
and the progressive file written at the end keeps the comb where every player shows it. So the
decoder's frames go through FFmpeg's ``bwdif`` (Bob Weaver: motion-adaptive, the deinterlacer FFmpeg
recommends; a well-kept library filter, not hand-written) before anything else sees them, in
``send_frame`` mode: one progressive frame per interlaced frame, so frame count, order and timestamps
stay the source's (``send_field``, twice the frames, would change every one of them). Frames the
decoder flags progressive pass through untouched (``deint=interlaced``).

Example:
    >>> import av
    >>> d = Deinterlacer()
    >>> vf = av.VideoFrame(64, 48, "yuv420p")
    >>> vf.pts, vf.time_base = 0, Fraction(1, 25)
    >>> d.push(vf) + d.flush()   # one frame in, one frame out (after the flush: bwdif looks one ahead)
    [<av.VideoFrame, pts=0 yuv420p 64x48 at ...>]
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction

import av

#: FFmpeg filter and options: one output frame per input frame; progressive frames untouched.
FILTER = ("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
#: Colour tags carried from each input frame to its output (the buffer source does not pass them all).
COLOUR_TAGS = ("colorspace", "color_range", "color_primaries", "color_trc")


class Deinterlacer:
    """FFmpeg's ``bwdif`` over decoded PyAV frames, one frame out per frame in, order kept.

    The graph is built on the first frame (its size, pixel format and time base); ``bwdif`` needs
    the next frame to finish one, so :meth:`push` returns frames one behind and :meth:`flush`
    returns the last.
    """

    def __init__(self) -> None:
        self._graph: av.filter.Graph | None = None
        self._time_base = Fraction(1, 1000)
        self._shape: tuple[int, int, str] | None = None
        self._tags: deque[tuple] = deque()  # colour tags of the frames pushed and not yet returned

    def _build(self, vf: av.VideoFrame) -> None:
        g = av.filter.Graph()
        self._time_base = vf.time_base or Fraction(1, 1000)
        src = g.add_buffer(width=vf.width, height=vf.height, format=vf.format.name, time_base=self._time_base)
        flt = g.add(*FILTER)
        sink = g.add("buffersink")
        src.link_to(flt)
        flt.link_to(sink)
        g.configure()
        self._graph = g

    def _drain(self) -> list[av.VideoFrame]:
        out = []
        while True:
            try:
                vf = self._graph.vpull()
            except (BlockingIOError, av.error.BlockingIOError, EOFError, av.error.EOFError):
                return out
            if vf.time_base and vf.time_base != self._time_base:  # bwdif halves the time base (for send_field)
                if vf.pts is not None:
                    vf.pts = round(vf.pts * vf.time_base / self._time_base)
                vf.time_base = self._time_base
            if self._tags:
                for name, value in zip(COLOUR_TAGS, self._tags.popleft()):
                    try:
                        setattr(vf, name, value)
                    except (AttributeError, TypeError, ValueError):  # a PyAV without that setter
                        pass
            out.append(vf)

    def push(self, vf: av.VideoFrame) -> list[av.VideoFrame]:
        """Feed one decoded frame; returns the progressive frames now complete (0 or 1, in order).

        A stream that changes size or pixel format midway gets a new graph (the old one flushed first).
        """
        shape = (vf.width, vf.height, vf.format.name)
        done: list[av.VideoFrame] = []
        if self._graph is not None and shape != self._shape:
            done = self.flush()
            self._graph = None
        if self._graph is None:
            self._build(vf)
            self._shape = shape
        self._tags.append(tuple(getattr(vf, name, None) for name in COLOUR_TAGS))
        self._graph.vpush(vf)
        return done + self._drain()

    def flush(self) -> list[av.VideoFrame]:
        """End of stream: the frames still held (the last one)."""
        if self._graph is None:
            return []
        self._graph.vpush(None)
        return self._drain()
