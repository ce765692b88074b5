"""The streaming pipeline: reader → worker (batching + stages) → writer, joined by bounded queues.

::

    Source ──frames──▶ [frames queue] ──▶ worker: batch, run stages ──▶ [results queue] ──▶ Sink
    (reader thread)      bounded            (one thread, owns device)      bounded       (writer thread)

* **Back-pressure**: both queues are bounded, so a slow stage makes the reader wait; memory does
  not grow with video length.
* **Live sources** never queue stale frames: the reader replaces a waiting frame with a newer one
  (counted as dropped), and the worker forms each batch from frames available *when it is ready*,
  so a displayed frame is at most one batch behind the newest. When a windowed stage looks at R
  past frames, the last R replaced frames travel with the newest one as context (``Frame.context``:
  they enter its ring as neighbours and are never processed or written), so a live frame is fused
  with the camera frames just before it, 1/30 s apart, not with the last frames the pipeline had
  time to process.
* **Order** is kept by frame index (one worker; the writer checks it).
* **Shutdown**: the first exception in any thread stops all of them and is reported once, as one
  line. :meth:`Pipeline.request_stop` (Ctrl-C) stops reading, lets the batch in flight finish,
  flushes the encoder and closes the file so it plays. A file's frames already read but not yet
  processed (the queue, and the frames the windows hold for their neighbours: up to a dozen with the
  default pipeline, minutes at 1080p on a CPU) are left: SIGTERM from Docker or systemd is followed
  by SIGKILL after 10–90 s. A live source's stop is its normal end: its few frames are finished.

The worker builds batches itself rather than a separate batcher thread: batching on demand is what
keeps live batches fresh, and one thread owning the device keeps CUDA streams and autocast simple.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from ..compute.runtime import configure
from ..compute.transfer import images_to_tensor, tensor_to_images
from ..errors import STOP_SIGNALS, SourceError, one_line
from ..io.frames import Frame, SourceInfo, cut_short
from ..stages.base import Batch, Stage
from ..stages.window import WindowedStage
from .latency import LatencyMeter, LatencyStats

_END = object()


#: seconds over which the ETA's rate is measured
RATE_WINDOW_S = 30.0


def recent_rate(written: deque[tuple[float, int]], now: float, done: int, window: float = RATE_WINDOW_S) -> float | None:
    """Frames per second over the last ``window`` seconds, from ``(time, frames done)`` at each write.

    ``written`` is pruned: its oldest entry is kept the last write at least ``window`` ago, and one
    write after it always stays. The rate runs to the last write (the time since then is taken off the
    ETA: :attr:`Progress.eta`). None while the writes seen span less than half a window (the average
    since the start says more then).

    Frames slower than the window (a 4K frame through the defocus model on 2 cores: 2.4 min) had a
    lone reference left, a rate of 0 and no ETA for the whole run; a rate measured up to ``now``
    then fell while each frame was worked on, and the ETA counted up (audit 31) — at the end of a
    run, while the fusion windows' last frames went through the model with nothing written, from
    00:28 to 19:19 for a run that ended a minute later (audit 34).

    Example:
        >>> w = deque([(0.0, 1), (10.0, 100), (40.0, 130), (60.0, 150)])  # 10 fps, then 1 fps
        >>> recent_rate(w, now=61.0, done=150), len(w)
        (1.0, 3)
        >>> recent_rate(deque([(105.0, 1), (250.0, 2)]), now=400.0, done=2)  # 145 s a frame
        0.006896551724137931
    """
    while len(written) > 2 and now - written[1][0] >= window:
        written.popleft()
    if not written or now - written[0][0] < window / 2:
        return None
    (t, d), last = written[0], written[-1][0]
    span = last - t
    return (done - d) / span if span > 0 else None


@dataclass
class Progress:
    """A snapshot of a running (or finished) pipeline."""

    done: int = 0
    total: int | None = None
    elapsed: float = 0.0
    fps: float = 0.0
    dropped: int = 0
    skipped: int = 0  #: undecodable packets skipped
    damaged: int = 0  #: places where the file's demuxer skipped damaged data (or a packet came flagged corrupt)
    skipped_images: int = 0  #: unreadable images of a folder skipped
    repaired: int = 0  #: non-increasing timestamps moved forward
    reconnects: int = 0  #: live sources: reopen attempts after a disconnect
    lost: bool = False  #: live sources: gone for good (no reopen attempt worked)
    lost_at_end: bool = False  #: … or still gone when the session ended (``DecodeStats.lost_at_end``)
    lost_why: str | None = None  #: … and why, where known (``DecodeStats.lost_why``)
    offline: float = 0.0  #: live sources: seconds the camera was gone (``DecodeStats.offline``)
    live: bool = False
    latency: float | None = None  #: live: seconds from capture to hand-over (sink), last frame
    recent: LatencyStats | None = None  #: live: delivered fps and latency percentiles, last few seconds
    run_latency: LatencyStats | None = None  #: live: the same over the whole run
    busy: dict[str, float] = field(default_factory=dict)  #: busy seconds per part (decode, stages, encode)
    total_exact: bool = False  #: ``total`` is the container's index count, not an estimate from duration × rate
    #: frames per second over the last :data:`RATE_WINDOW_S` (None until that much of the run has passed)
    recent_fps: float | None = None
    #: seconds since the last frame was written (None before the first)
    since_write: float | None = None
    #: frames per second since the first frame was written (0.0 until a second write; None before the
    #: first): the start-up (model load, the first window's look-ahead) left out of the rate
    steady_fps: float | None = None
    #: a file without a frame index (Matroska): where it says its video starts and ends, s
    #: (:attr:`~streamdeblur.io.frames.SourceInfo.video_span`), and where the frames written reached
    declared: tuple[float, float] | None = None
    reached: float | None = None
    #: a file with a frame index: frames written reaching this time (s; half a frame before where its index
    #: says the video ends) reached its end: frames missing were lost in the middle, not at an early end
    index_end: float | None = None

    @property
    def eta(self) -> float | None:
        """Seconds left at the recent rate; early on, at the rate since the first frame was written
        (None until a second write).

        The average since the start kept a first frame's warm-up and window filling, and a machine
        that got busier half way (at 13 % of a run it said 2:31 to go; it took 5:48); with the
        motion pipeline's look-ahead, one frame out after 12 s said 11:43 to go where 51 s were left."""
        rate = self.recent_fps if self.recent_fps is not None else self.steady_fps if self.steady_fps is not None else self.fps
        if self.total and rate > 0 and self.done <= self.total:
            if self.recent_fps is None or self.done == self.total:  # early: a rate measured up to now
                return (self.total - self.done) / rate
            # the frames left at the rate measured up to the last write, less the time since it: the
            # count runs down between writes; past it (a slow tail, a stall) the time left is not known
            left = (self.total - self.done) / rate - (self.since_write or 0.0)
            return left if left > 0 else None
        return None

    @property
    def ended_early(self) -> bool:
        """The input held fewer frames than its index lists (a truncated file); meaningful once the run ended.

        Frames the index lists whose packets were read but could not be decoded are not missing:
        they are counted and said on their own (``skipped N corrupt packets``). Nor are the frames
        that depended on them, which a decoder drops without a word: a file whose frames written reach
        the end its index gives did not end early (two corrupt packets in the middle of a 20-frame clip
        cost 3 frames and read "input ended early (17 of the 20 frames …)" with its last frame there)."""
        if self.index_end is not None and self.reached is not None and self.reached >= self.index_end:
            return False
        return bool(self.total_exact and self.total and self.done + self.skipped < self.total)

    @property
    def early_note(self) -> str | None:
        """``input ended early (…)`` when the input held less than it said: fewer frames than its index
        lists, or (a file without an index: a Matroska file cut short by a full card or an interrupted
        copy) a last frame more than a second (and 2 %) before where the file says its video ends.
        None otherwise; meaningful once the run ended."""
        if self.ended_early:
            return f"input ended early ({self.done} of the {self.total} frames its index lists)"
        if self.declared is not None and self.reached is not None:
            return cut_short(self.declared[0], self.reached, self.declared[1])
        return None

    def shares(self) -> dict[str, float]:
        """Each part's busy time as a fraction of the elapsed time."""
        return {k: v / self.elapsed for k, v in self.busy.items()} if self.elapsed > 0 else {}


@dataclass
class RunResult:
    """What a run did."""

    progress: Progress
    output: Path | None = None
    interrupted: bool = False
    error: str | None = None
    error_kind: str | None = None  #: class name of the first exception
    exception: BaseException | None = field(default=None, repr=False)  #: the first exception (for its exit code)
    warnings: list[str] = field(default_factory=list)  #: the run's warnings (skipped packets, padded sizes …), in order

    @property
    def ok(self) -> bool:
        return self.error is None and not self.interrupted


def output_info(info: SourceInfo, stages: list[Stage]) -> SourceInfo:
    """The sink's view of the stream: the source's, with the size the stages produce."""
    h, w = info.height, info.width
    for s in stages:
        if hasattr(s, "output_size"):
            h, w = s.output_size(h, w)
    return replace(info, height=h, width=w)


#: one pipeline's stages compute at a time in a process (batch by batch; pipelines in other threads
#: wait their turn; decode and encode still overlap). In a CI run, two Deblurrers computing at once in
#: two threads sat for minutes with both threads at 100 % inside PyTorch's rfft2 (two OpenMP teams on
#: 2 cores), and OpenCV's DIS had crashed the process the same way. Cost, measured idle on 2 cores
#: (AMD EPYC): 2 Deblurrers × 2 runs of 14 frames took 25 s taking turns, 13 s at once.
_COMPUTE = threading.RLock()


class Pipeline:
    """Run ``stages`` over ``source`` into ``sink``.

    Args:
        source: an object with ``info``, ``frames()``, ``stop()`` and ``stats`` (see :mod:`streamdeblur.io.sources`).
        stages: built stages, applied in order.
        sink: an object with ``write(frame)`` and ``close(complete) -> path``.
        batch: frames per batch.
        device: where stages run.
        queue_size: frames held between reader and worker (files; live sources hold one).
        warn: receives warnings (one line each).
        threads: the model's CPU threads (0: the default, :func:`~streamdeblur.compute.runtime.configure`).
            Set on the thread that runs the stages when :meth:`run` starts: PyTorch's thread count
            and the flush of denormal floats belong to a thread, so another pipeline built in the
            same process, or a caller thread that never configured them, changes neither.
    """

    def __init__(
        self,
        source,
        stages: list[Stage],
        sink,
        batch: int = 4,
        device: torch.device | str = "cpu",
        queue_size: int | None = None,
        warn: Callable[[str], None] | None = None,
        threads: int = 0,
    ) -> None:
        self.source, self.stages, self.sink = source, stages, sink
        self.threads = threads
        self.batch = max(1, int(batch))
        self.device = torch.device(device)
        self.live = bool(source.info.live)
        self.frames_q: queue.Queue = queue.Queue(maxsize=1 if self.live else (queue_size or max(8, 2 * self.batch)))
        self.out_q: queue.Queue = queue.Queue(maxsize=2)
        self.warn = warn or (lambda m: None)
        self._stop = threading.Event()  # hard stop: error
        self._drain = threading.Event()  # graceful: stop reading, finish in flight
        self._cut = threading.Event()  # a file stopped by the user: nothing more is processed after the batch in flight
        self._error: tuple[str, str] | None = None
        self._exception: BaseException | None = None
        self._lock = threading.Lock()
        self._t0 = 0.0
        info = source.info
        self._progress = Progress(total=info.frames, live=self.live, total_exact=info.frames_exact)
        if info.video_span is not None and not self.live:
            self._progress.declared = info.video_span
        self._interval = float(1 / info.fps) if info.fps else 0.0  #: one frame's duration, s (where the last one ends)
        if info.frames_exact and info.video_end is not None and not self.live:
            self._progress.index_end = info.video_end - 0.5 * self._interval
        #: the writer's share is named after what it does: "encode", "preview" (a window only), ...
        self._out_label = getattr(sink, "busy_label", "encode")
        self._busy = {"decode": 0.0, **{s.name: 0.0 for s in stages}, self._out_label: 0.0}
        self._running: tuple[str, float] | None = None  #: the stage call in progress and when it started
        self._written: deque[tuple[float, int]] = deque(maxlen=100_000)  #: (time, frames done) at each write
        self._first_write: tuple[float, int] | None = None  #: (time, frames done) at the first write
        self._dropped_q = 0
        windowed = [i for i, s in enumerate(stages) if isinstance(s, WindowedStage)]
        for i in windowed:
            stages[i].emit_context = i != windowed[-1]  # only the last windowed stage drops context frames
        self._windowed = bool(windowed)
        #: live: how many replaced frames travel with the newest as context (what the windows ask for)
        self._live_past = max((stages[i].live_context for i in windowed), default=0) if self.live else 0
        self._shape: tuple | None = None
        #: live frames: capture → hand-over to the sink (:mod:`streamdeblur.engine.latency`)
        self.latency = LatencyMeter()

    # -- control ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Graceful stop (Ctrl-C): no more frames are read; the batch in flight is finished and written
        (a live source's frames already read too: its stop is its normal end)."""
        if not self.live:
            self._cut.set()
        self._drain.set()
        try:
            self.source.stop()
        except Exception:  # noqa: BLE001
            pass

    #: stopped by :meth:`cancel`: the run is interrupted (a file's output stays a partial), as by a signal
    _cancelled = False

    def cancel(self) -> None:
        """Stop as Ctrl-C does, from any thread (the API's ``on_progress`` raising): the batch in flight is
        finished and written, the result is interrupted and a file's output keeps its temporary name."""
        self._cancelled = True
        self.request_stop()

    def _record(self, exc: BaseException, where: str) -> None:
        """Note the run's first error (it fails the run) without stopping anything."""
        with self._lock:
            if self._error is None:
                msg = one_line(exc)
                self._error = (f"{msg}", type(exc).__name__)
                self._exception = exc
                self._trace = f"{where}: " + "".join(traceback.format_exception(exc))

    def _fail(self, exc: BaseException, where: str) -> None:
        self._record(exc, where)
        self._stop.set()
        self._drain.set()
        try:
            self.source.stop()
        except Exception:  # noqa: BLE001
            pass

    def _put(self, q: queue.Queue, item, give_up: threading.Event) -> bool:
        """Blocking put that gives up when ``give_up`` is set (returns False)."""
        while not give_up.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _put_end(self, q: queue.Queue, evict: threading.Event) -> None:
        """Always deliver the end marker; once ``evict`` is set nobody drains ``q``, so make room."""
        while True:
            try:
                q.put(_END, timeout=0.1)
                return
            except queue.Full:
                if evict.is_set():
                    try:
                        q.get_nowait()
                    except queue.Empty:
                        pass

    # -- threads ------------------------------------------------------------------------------

    def _reader(self) -> None:
        try:
            it = self.source.frames()
            while not self._drain.is_set():
                t = time.perf_counter()
                frame = next(it, None)
                self._busy["decode"] += time.perf_counter() - t
                if frame is None:
                    break
                item = frame
                if self.live:
                    context: list[Frame] = []
                    try:  # newest wins: replace a frame nobody took yet
                        old = self.frames_q.get_nowait()
                        self._dropped_q += 1
                        if self._live_past and old is not _END:
                            context = [replace(f, context=True) for f in (old if isinstance(old, list) else [old])]
                    except queue.Empty:
                        pass
                    if self._live_past:
                        item = [*context[-self._live_past :], frame]  # the replaced frames, as neighbours
                if not self._put(self.frames_q, item, self._drain):
                    break
        except SourceError as exc:
            # the input went bad half way (--strict's corrupt packet, a read error): the frames read before
            # it are good, and were lost with the run (15 of the 35 before a corrupt packet at 3.5 s were
            # kept): they are finished and written as at an end of stream, then the run fails with it
            self._record(exc, "reader")
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc, "reader")
        finally:
            self._put_end(self.frames_q, self._drain)

    def _next_batch(self, pending: Frame | None) -> tuple[list[Frame], bool, Frame | None]:
        """Up to ``batch`` frames of one size: (frames, source ended, first frame of the next batch)."""
        q = self.frames_q
        frames = [pending] if pending is not None else []
        while not frames:
            if self._stop.is_set() or self._cut.is_set() or (self._drain.is_set() and q.empty()):
                return [], True, None
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END:
                return [], True, None
            frames.extend(item) if isinstance(item, list) else frames.append(item)
        while (sum(not f.context for f in frames) if self.live else len(frames)) < self.batch:
            try:
                item = q.get_nowait() if self.live else q.get(timeout=0.1)
            except queue.Empty:
                if self.live or self._stop.is_set() or self._drain.is_set():
                    break
                continue
            if item is _END:
                return frames, True, None
            if isinstance(item, list):  # live, with context frames
                frames.extend(item)
                continue
            if item.image.shape != frames[0].image.shape:  # size change mid-stream: starts the next batch
                return frames, False, item
            frames.append(item)
        return frames, False, None

    def _worker(self) -> None:
        pending = None
        for s in self.stages:
            if isinstance(s, WindowedStage):
                s.start_stream(self.live)
        try:
            while not self._stop.is_set():
                frames, ended, pending = self._next_batch(pending)
                if frames and self._shape is not None and frames[0].image.shape != self._shape:
                    self._emit(self._flush())  # a size change ends the windows of the old size
                if frames:
                    self._shape = frames[0].image.shape
                    self._emit(self._process(frames))
                if ended or self._drain.is_set():
                    if not self._stop.is_set() and not self._cut.is_set():
                        self._emit(self._flush())  # end of stream: the frames still waiting for their future
                    break  # graceful stop: the batch in flight is done
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc, "worker")
        finally:
            self._put_end(self.out_q, self._stop)

    def _emit(self, frames: list[Frame]) -> None:
        if frames:
            self._put(self.out_q, frames, self._stop)

    def _run_stages(self, batch: Batch | None, start: int = 0) -> Batch | None:
        """Stages ``start…`` over ``batch``; None when a windowed stage holds every frame back."""
        with _COMPUTE:
            return self._run_stages_locked(batch, start)

    def _run_stages_locked(self, batch: Batch | None, start: int) -> Batch | None:
        for stage in self.stages[start:]:
            if batch is None or len(batch) == 0:
                return None
            t = time.perf_counter()
            self._running = (stage.name, t)
            # no stage needs gradients; and a tensor one stage made under inference mode (a model's
            # output) may only be changed in place by the next one inside it (the kernel overlay)
            with torch.inference_mode():
                batch = stage(batch)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self._stage_done(stage.name, t)
        return batch

    def _stage_done(self, name: str, start: float) -> None:
        with self._lock:  # with the snapshot in :meth:`progress`: the call is counted once, running or done
            self._busy[name] += time.perf_counter() - start
            self._running = None

    def _to_frames(self, batch: Batch | None) -> list[Frame]:
        if batch is None or len(batch) == 0:
            return []
        out = tensor_to_images(batch.images, batch.frames[0].image.dtype)
        return [replace(f, image=img) for f, img in zip(batch.frames, out)]

    def _process(self, frames: list[Frame]) -> list[Frame]:
        if not self._windowed:
            frames = [f for f in frames if not f.context]  # context frames only matter to windowed stages
            if not frames:
                return []
        images = images_to_tensor([f.image for f in frames], self.device)
        batch = Batch(images=images, frames=frames, original=images.clone())  # stages may work in place
        return self._to_frames(self._run_stages(batch))

    def _flush(self) -> list[Frame]:
        """Flush the windowed stages in order, each one's tail going through the stages after it."""
        out: list[Frame] = []
        for i, stage in enumerate(self.stages):
            if isinstance(stage, WindowedStage):
                parts = stage.flush_parts(self.batch)  # the tail in the run's batch size, not all at once
                while True:
                    t = time.perf_counter()
                    self._running = (stage.name, t)
                    with _COMPUTE:
                        tail = next(parts, None)
                    self._stage_done(stage.name, t)
                    if tail is None:
                        break
                    out += self._to_frames(self._run_stages(tail, i + 1))
        return out

    def _writer(self) -> None:
        last = -1
        try:
            while True:
                try:
                    item = self.out_q.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _END:
                    return
                for frame in item:
                    if frame.index <= last:
                        raise RuntimeError(f"frame order broken: {frame.index} after {last}")
                    last = frame.index
                    if frame.captured:  # live: the moment it is handed to the preview / the encoder
                        now = time.monotonic()
                        self.latency.record(now, now - frame.captured)
                        self._progress.latency = now - frame.captured
                    t = time.perf_counter()
                    self.sink.write(frame)
                    self._busy[self._out_label] += time.perf_counter() - t
                    with self._lock:
                        self._progress.done += 1
                        self._written.append((time.perf_counter(), self._progress.done))
                        if self._first_write is None:
                            self._first_write = self._written[-1]
                        if frame.time is not None:
                            self._progress.reached = frame.time + self._interval
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc, "writer")

    # -- run ----------------------------------------------------------------------------------

    def progress(self) -> Progress:
        """Current snapshot (thread-safe)."""
        with self._lock:
            p = replace(self._progress, busy=dict(self._busy))
            if self._running is not None:  # a call still running counts too: a 50-s model call at 1080p
                name, start = self._running  # was nowhere in the busy shares while the line looked stalled
                p.busy[name] += time.perf_counter() - start
            if self._t0:
                now = time.perf_counter()
                p.recent_fps = recent_rate(self._written, now, p.done)
                if self._first_write is not None:
                    t0, d0 = self._first_write
                    p.steady_fps = (p.done - d0) / (now - t0) if p.done > d0 and now > t0 else 0.0
                    p.since_write = now - self._written[-1][0] if self._written else None
        p.elapsed = time.perf_counter() - self._t0 if self._t0 else 0.0
        p.fps = p.done / p.elapsed if p.elapsed > 0 else 0.0
        stats = getattr(self.source, "stats", None)
        p.dropped = (stats.dropped if stats else 0) + self._dropped_q
        p.skipped = stats.skipped_packets if stats else 0
        p.damaged = getattr(stats, "damaged", 0)
        p.skipped_images = getattr(stats, "skipped_images", 0)
        p.repaired = getattr(stats, "repaired_pts", 0)
        p.reconnects = getattr(stats, "reconnects", 0)
        p.lost = bool(getattr(stats, "lost", False))
        p.lost_at_end = bool(getattr(stats, "lost_at_end", False))
        p.lost_why = getattr(stats, "lost_why", None)
        p.offline = float(getattr(stats, "offline", 0.0))
        if self.live:
            p.recent = self.latency.recent(time.monotonic())
            p.run_latency = self.latency.total()
        return p

    def live_status(self) -> list[str]:
        """The preview overlay's lines: delivered fps, latency median/p95, drops (live sources)."""
        p = self.progress()
        r = p.recent or LatencyStats()
        lines = [f"{r.fps:.1f} fps delivered" if r.fps is not None else "-- fps delivered"]
        if r.p50 is not None:
            lines.append(f"latency {r.p50 * 1000:.0f} ms median, {r.p95 * 1000:.0f} ms p95")
        lines.append(f"dropped {p.dropped} of {p.done + p.dropped}")
        return lines

    def run(self, on_progress: Callable[[Progress], None] | None = None, interval: float = 0.25) -> RunResult:
        """Run to the end (or a stop); returns a :class:`RunResult`.

        The stages run on the calling thread: PyTorch's CPU thread pool is fastest when one thread
        owns all compute (a second thread that has used it slows every op by ~30% on 2 cores,
        measured). When called from the main thread, SIGINT and SIGTERM become a graceful stop
        (the batch in flight is finished and written) and mark the result interrupted; a second
        signal stops at the next batch boundary without finishing queued work.
        """
        configure(self.device, self.threads)  # on this thread: the stages run here
        for s in self.stages:
            if hasattr(s, "start_run"):
                s.start_run()
        self._t0 = time.perf_counter()
        reader = threading.Thread(target=self._reader, name="reader", daemon=True)
        writer = threading.Thread(target=self._writer, name="writer", daemon=True)
        done = threading.Event()
        monitor = threading.Thread(target=self._monitor, args=(on_progress, interval, done), name="monitor", daemon=True)
        old = self._install_signals()
        try:
            for t in (reader, writer, monitor):
                t.start()
            self._worker()
            # poll, do not join: an interrupted Thread.join() can corrupt the thread's state on Python < 3.12
            while writer.is_alive() or reader.is_alive():
                time.sleep(0.02)
        finally:
            self._restore_signals(old)
            done.set()
        monitor.join(2.0)
        if self._error is not None:
            self._stop.set()
        interrupted = self.signal_received is not None or self._cancelled
        if self._error is None and not interrupted and getattr(self.source, "strict", False):
            # --strict: a file cut short (a truncated download) fails as a corrupt packet does, its
            # frames kept in the partial file; without it the run ends with a warning and exit 0
            note = self.progress().early_note
            if note:
                self._record(SourceError(f"{note}; --strict stops here"), "end")
        # a live recording ends when the user stops it (Ctrl-C, SIGTERM from a script): that is its
        # normal end, so it gets its real name; a file stopped half way stays a partial file
        complete = self._error is None and (not interrupted or self.live)
        output = None
        try:
            output = self.sink.close(complete)
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc, "close")
            output = getattr(exc, "kept", None)  # whole, under another name (its own was taken meanwhile)
        try:
            self.source.close()
        except Exception:  # noqa: BLE001
            pass
        for s in self.stages:
            s.close()
        result = RunResult(self.progress(), output, interrupted)
        if self._error is not None:
            result.error, result.error_kind = self._error
            result.exception = self._exception
        if on_progress:
            on_progress(result.progress)
        return result

    #: the signal that stopped the run (``signal.SIGINT``/``SIGTERM``), or None
    signal_received: int | None = None

    def _monitor(self, on_progress, interval: float, done: threading.Event) -> None:
        while not done.wait(interval):
            if on_progress:
                try:
                    on_progress(self.progress())
                except Exception:  # noqa: BLE001 - a display problem never stops the work
                    pass

    def _install_signals(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum, frame):
            if self.signal_received is not None:
                self._stop.set()  # second signal: stop at the next boundary
            else:  # said at once: a model call at 1080p on a CPU takes seconds
                what = "the frames already read" if self.live else "the frame in progress"
                how = {signal.SIGINT: "a second Ctrl-C stops sooner"}.get(signum, signal.Signals(signum).name)
                try:
                    self.warn(f"stopping: finishing {what} ({how})")
                except OSError:  # SIGHUP: the terminal it would be said on is gone (EIO); the stop goes on
                    pass
            self.signal_received = signum
            self.request_stop()

        # a signal the process ignores (SIGINT under nohup, a host that masks it) stays ignored
        return {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS if signal.getsignal(sig) != signal.SIG_IGN}

    def _restore_signals(self, old: dict) -> None:
        for sig, h in old.items():
            signal.signal(sig, h)

    @property
    def trace(self) -> str:
        """Full traceback of the first error (for ``--debug``)."""
        return getattr(self, "_trace", "")
