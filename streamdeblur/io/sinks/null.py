"""Sinks that hold no file of their own: nothing (benchmarks) and a tee to several sinks."""

from __future__ import annotations

from ..frames import Frame


class NullSink:
    """Discards frames (benchmarks)."""

    busy_label = "output"  #: the progress line's name for the time spent in :meth:`write`

    def __init__(self) -> None:
        self.frames_written = 0

    def write(self, frame: Frame) -> None:
        self.frames_written += 1

    def close(self, complete: bool = True) -> None:
        return None


class TeeSink:
    """Writes every frame to several sinks (e.g. a preview and a recording)."""

    def __init__(self, *sinks) -> None:
        self.sinks = list(sinks)
        #: "encode+preview" for a recording shown live
        self.busy_label = "+".join(dict.fromkeys(getattr(s, "busy_label", "encode") for s in self.sinks))

    @property
    def frames_written(self) -> int:
        return min(s.frames_written for s in self.sinks)

    def write(self, frame: Frame) -> None:
        for s in self.sinks:
            s.write(frame)

    def close(self, complete: bool = True):
        out = None
        for s in self.sinks:
            r = s.close(complete)
            out = out or r
        return out
