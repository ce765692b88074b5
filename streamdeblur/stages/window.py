"""Stages with temporal context: a bounded ring of recent frames, frames out when their window is full.

A :class:`WindowedStage` declares ``window = (past, future)``. It receives batches like any stage,
keeps its own ring of the last frames (pixels, decoded original, metadata, per-frame side outputs
and whatever it caches per frame — e.g. small grey images and optical flows), and returns only the
frames whose future context has arrived — possibly fewer than it got, possibly none, always in
order and each with its own ``pts`` and metadata. At end of stream the pipeline calls
:meth:`WindowedStage.flush_parts`, which returns the tail in the run's batch size: the last frames use the neighbours they have
(as do the first). Later stages then receive those frames as usual.

* **Memory** is bounded: the ring holds at most ``past + future + batch`` frames.
* **Live sources** are causal: :meth:`start_stream` with ``live=True`` sets ``future = 0``, so each
  frame leaves as soon as it arrives and latency does not grow.
* **Context-only frames** (``Frame.context``; segmented runs decode frames beyond each cut) enter
  the ring as neighbours but are never returned, unless ``emit_context`` is set (the pipeline sets
  it on every windowed stage but the last, so a later windowed stage sees them too).

::

    ring:   [t-3  t-2  t-1] [t] [t+1 t+2 t+3]        window = (3, 3)
             past, kept       ▲   future: t leaves when t+3 has arrived
                           centre

Example:
    >>> class Mean3(WindowedStage):
    ...     window = (1, 1)
    ...     def process(self, ring, centres):
    ...         return torch.stack([torch.stack([it.image for it in self.neighbourhood(ring, c)]).mean(0) for c in centres])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .base import Batch, Stage


@dataclass
class WindowItem:
    """One frame in the ring: its current pixels, the decoded original, metadata and caches."""

    frame: Any  #: :class:`~streamdeblur.io.frames.Frame` (metadata; ``image`` is the decoded array)
    image: torch.Tensor  #: ``3×H×W``, the stage's input
    original: torch.Tensor  #: ``3×H×W``, the decoded input
    side: dict[str, Any] = field(default_factory=dict)  #: per-frame side outputs of earlier stages
    cache: dict[str, Any] = field(default_factory=dict)  #: the stage's per-frame data

    @property
    def context(self) -> bool:
        return bool(getattr(self.frame, "context", False))


class WindowedStage(Stage):
    """Base class of stages that look at neighbouring frames; subclasses implement :meth:`process`."""

    window: tuple[int, int] = (0, 0)  #: (past, future) frames a centre frame uses

    def __init__(self, options=None, ctx=None) -> None:
        super().__init__(options, ctx)
        self.emit_context = False
        self.start_stream(live=False)

    @property
    def live_context(self) -> int:
        """Live sources: how many of the camera frames replaced before this one (dropped because the
        pipeline was busy) the stage wants to see, as context frames (by default its past window)."""
        return int(self.window[0])

    @classmethod
    def context_of(cls, options) -> tuple[int, int]:
        """The (past, future) window a stage built with ``options`` will have (no model loaded)."""
        return cls.window

    # -- the pipeline's side --------------------------------------------------------------------

    def start_stream(self, live: bool) -> None:
        """Forget the ring (a new stream starts); live streams get a causal window (no future)."""
        past, future = self.window
        self.live = live
        self.past, self.future = int(past), 0 if live else int(future)
        self.ring: list[WindowItem] = []
        self.next = 0  #: ring position of the next centre to emit

    def __call__(self, batch: Batch) -> Batch | None:
        n = len(batch)
        per_frame = _split_side(batch.side, n)
        for i in range(n):
            self.ring.append(WindowItem(batch.frames[i], batch.images[i], batch.original[i], per_frame[i]))
        ready = [i for i in range(self.next, len(self.ring)) if i + self.future < len(self.ring)]
        return self._emit(ready)

    def flush(self) -> Batch | None:
        """End of stream: every frame still waiting for its future, with the neighbours it has (one batch)."""
        parts = list(self.flush_parts())  # one at most: no size
        return parts[0] if parts else None

    def flush_parts(self, size: int | None = None) -> Iterator[Batch]:
        """End of stream, as :meth:`flush`, in batches of at most ``size`` frames (None: one batch).

        The pipeline passes its batch size: the tail of a ±5-frame window came out as one batch of 5
        frames, which the model after it ran as one call, and a run's memory peaked at its end (a
        640×360 clip through the default pipeline: ~1 GB while it ran, 2.8 GB as it ended).
        """
        step = max(1, int(size)) if size else None
        try:
            while self.next < len(self.ring):
                end = len(self.ring) if step is None else min(self.next + step, len(self.ring))
                out = self._emit(list(range(self.next, end)))
                if out is not None:
                    yield out
        finally:
            self.start_stream(self.live)

    # -- for subclasses -------------------------------------------------------------------------

    def process(self, ring: Sequence[WindowItem], centres: list[int]) -> torch.Tensor:
        """Compute the output of the frames at ring positions ``centres``.

        Args:
            ring: the frames held now, oldest first (at least ``past`` before the first centre when
                the stream has them, and ``future`` after the last one unless flushing).
            centres: ring positions to produce, increasing.

        Returns:
            ``len(centres)×3×H×W``.
        """
        raise NotImplementedError

    def neighbourhood(self, ring: Sequence[WindowItem], c: int) -> list[WindowItem]:
        """The frames of centre ``c``'s window that the ring holds (the centre included), in order."""
        return list(ring[max(0, c - self.past) : c + self.future + 1])

    def forget(self, item: WindowItem) -> None:
        """Called when ``item`` leaves the ring (drop caches keyed by it)."""

    # -- internals ------------------------------------------------------------------------------

    def _emit(self, positions: list[int]) -> Batch | None:
        if not positions:
            return None
        keep = [c for c in positions if self.emit_context or not self.ring[c].context]
        out = None
        if keep:
            images = self.process(self.ring, keep)
            items = [self.ring[c] for c in keep]
            out = Batch(
                images=images,
                frames=[it.frame for it in items],
                original=torch.stack([it.original for it in items]),
                side=_join_side([it.side for it in items]),
            )
        self.next = positions[-1] + 1
        drop = max(0, self.next - self.past)
        for it in self.ring[:drop]:
            self.forget(it)
        del self.ring[:drop]
        self.next -= drop
        return out


def _split_side(side: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """Per-frame side outputs (values that are sequences of length ``n``) → one dict per frame."""
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for k, v in side.items():
        if isinstance(v, (list, tuple, torch.Tensor)) and len(v) == n:
            for i in range(n):
                out[i][k] = v[i]
    return out


def _join_side(items: list[dict[str, Any]]) -> dict[str, Any]:
    keys = set().union(*items) if items else set()
    out: dict[str, Any] = {}
    for k in keys:
        vals = [d.get(k) for d in items]
        out[k] = torch.stack(vals) if all(isinstance(v, torch.Tensor) for v in vals) else vals
    return out
