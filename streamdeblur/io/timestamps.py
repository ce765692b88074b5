"""Presentation times of decoded frames, by FFmpeg's ``best_effort_timestamp`` rule."""

from __future__ import annotations

from collections import deque


class BestEffortTimestamps:
    """Choose each decoded frame's presentation time from its (reordered) pts and its packet's dts.

    FFmpeg's rule (``guess_correct_pts``, what ``ffmpeg``/``ffprobe`` call the best-effort
    timestamp): count how often the pts and the dts each failed to increase; take the pts unless it
    has failed more often than the dts (or there is no dts), else the dts. FFmpeg decides each frame
    with the counts up to that frame, so the first frame of a reordering is judged before the fault
    shows. AVI files with packed B-frames (DivX, Xvid) hand out pts 1, 3, 2, 5, 4, … with increasing
    dts 1, 2, 3, …: FFmpeg's own guess is then 1, 3, 3, 4, … (the timestamp 2 lost, 3 twice). With
    ``lookahead`` frames of hindsight the counts include the frames that follow, and every frame
    gets its dts: 1, 2, 3, 4, …. The last frame, flushed out of the decoder, has a pts and no dts.

    Args:
        lookahead: frames held back before deciding (0: FFmpeg's decision exactly; 1 for files).

    Example:
        >>> clock = BestEffortTimestamps(lookahead=1)
        >>> out = [t for p, d in [(1, 1), (3, 2), (2, 3), (5, 4), (4, 5), (6, None)] for t in clock.push(p, d)]
        >>> out + clock.flush()
        [1, 2, 3, 4, 5, 6]
    """

    def __init__(self, lookahead: int = 1) -> None:
        self.lookahead = lookahead
        self.faulty_pts = self.faulty_dts = 0
        self.last_pts: int | None = None
        self.last_dts: int | None = None
        self._pending: deque[tuple[int | None, int | None]] = deque()

    def push(self, pts: int | None, dts: int | None) -> list[int | None]:
        """Record the next decoded frame's pts and dts (either may be ``None``).

        Returns:
            the presentation times (stream time base; ``None`` where neither is known) of the frames
            now decided, oldest first: one per call once ``lookahead`` frames are held.
        """
        if dts is not None:
            self.faulty_dts += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        elif pts is not None:
            self.last_dts = pts
        if pts is not None:
            self.faulty_pts += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        elif dts is not None:
            self.last_pts = dts
        self._pending.append((pts, dts))
        out = []
        while len(self._pending) > self.lookahead:
            out.append(self._decide(*self._pending.popleft()))
        return out

    def flush(self) -> list[int | None]:
        """The presentation times of the frames still held back (at the end of the stream)."""
        out = [self._decide(*pd) for pd in self._pending]
        self._pending.clear()
        return out

    def _decide(self, pts: int | None, dts: int | None) -> int | None:
        if pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None):
            return pts
        return dts
