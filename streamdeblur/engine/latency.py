"""Live statistics: delivered frames per second and the latency from capture to hand-over.

A live frame carries ``captured`` (``time.monotonic()`` when the camera source read it). When the
pipeline hands the frame to its sink (the preview window, the encoder), the latency is
``now − captured``: the time a gesture takes to reach the screen or the recording, all queues and
stages included. Two views are kept, both in bounded memory:

* **recent** (the last ``window_s`` seconds): what the progress line and the preview overlay show;
* **whole run** (a 1-ms histogram up to ``max_s``): what the final line and ``bench --what live``
  report as median and 95th percentile.

Example:
    >>> m = LatencyMeter()
    >>> for i in range(10):
    ...     m.record(now=100.0 + i / 10, latency=0.050 + i / 1000)
    >>> s = m.recent(now=101.0)
    >>> round(s.p50 * 1000), round(s.fps)
    (55, 10)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Latency percentiles (seconds) and the delivered rate over some span; None where no frame was seen."""

    count: int = 0
    fps: float | None = None  #: frames handed over per second
    p50: float | None = None
    p95: float | None = None
    max: float | None = None

    def describe(self) -> str:
        """``10.2 fps, latency 88/140 ms (median/p95)`` ('' before any frame)."""
        if not self.count or self.p50 is None:
            return ""
        rate = f"{self.fps:.1f} fps, " if self.fps is not None else ""
        return f"{rate}latency {self.p50 * 1000:.0f}/{self.p95 * 1000:.0f} ms (median/p95)"


class LatencyMeter:
    """Collects ``(hand-over time, latency)`` of live frames; thread-safe enough for one writer and
    readers that take snapshots (``deque`` appends and copies are atomic in CPython).

    Args:
        window_s: span of the recent view (seconds).
        max_s: the whole-run histogram's range; longer latencies count in its last bin.
        bin_s: histogram bin width (seconds).
    """

    def __init__(self, window_s: float = 5.0, max_s: float = 30.0, bin_s: float = 0.001) -> None:
        self.window_s, self.bin_s = window_s, bin_s
        self._recent: deque[tuple[float, float]] = deque()
        self._hist = np.zeros(int(max_s / bin_s) + 1, np.int64)
        self._first: float | None = None
        self._last: float | None = None
        self._count = 0
        self._max = 0.0

    def record(self, now: float, latency: float) -> None:
        """One frame handed over at ``now`` (monotonic seconds), ``latency`` seconds after its capture."""
        latency = max(0.0, latency)
        self._recent.append((now, latency))
        while self._recent and self._recent[0][0] < now - self.window_s:
            self._recent.popleft()
        self._hist[min(len(self._hist) - 1, int(latency / self.bin_s))] += 1
        self._first = now if self._first is None else self._first
        self._last = now
        self._count += 1
        self._max = max(self._max, latency)

    def recent(self, now: float) -> LatencyStats:
        """The last ``window_s`` seconds before ``now``."""
        rows = [r for r in list(self._recent) if r[0] >= now - self.window_s]
        if not rows:
            return LatencyStats()
        lat = np.array([r[1] for r in rows])
        span = now - rows[0][0]
        fps = len(rows) / max(span, 1e-9) if len(rows) > 1 else None
        return LatencyStats(len(rows), fps, float(np.median(lat)), float(np.percentile(lat, 95)), float(lat.max()))

    def total(self) -> LatencyStats:
        """The whole run: percentiles from the histogram (bin centres), rate between first and last frame."""
        if not self._count:
            return LatencyStats()
        cum = np.cumsum(self._hist)

        def pct(q: float) -> float:
            return (int(np.searchsorted(cum, q * self._count)) + 0.5) * self.bin_s

        span = (self._last or 0.0) - (self._first or 0.0)
        fps = (self._count - 1) / span if self._count > 1 and span > 0 else None
        return LatencyStats(self._count, fps, pct(0.5), pct(0.95), self._max)
