"""The ``ray`` executor: segments of many files on a Ray cluster.

It works on the same :class:`~streamdeblur.scaleout.plan.SegmentPlan`\\ s, so a run
started on one machine can be resumed on a cluster and the other way round.

**Ray.** One actor per worker holds one model instance (the stages are built once and reused for
every segment it gets). Segment bytes travel through Ray's object store — the input segment to the
worker, the processed segment back — so workers need no shared filesystem; the driver cuts, keeps
the work folders and joins. A failing segment is retried (``retries`` times, on any worker), then
its file is reported as failed while the other files go on. A worker that dies (killed, out of
memory, its machine gone) is replaced by a new actor and the segment counts one failed attempt, so
a retry always goes to a live worker; replacements are bounded (:data:`REPLACEMENTS_PER_WORKER`).
Workers report frame counts to a small progress actor that the driver polls for the rich display.
GPU workers ask for ``num_gpus=1`` when the cluster has GPUs.

**Niceness.** Ray starts its workers at nice 15 by default. On a busy machine that starves the very
job the user asked for (Linux gives a nice-15 thread 1/28 of a nice-0 thread's share), while the
local executor runs segments at the command's own niceness. Here workers run at the driver's
niceness plus ``worker_nice`` (default 0: the same as the local executor); ``nice -n 10 streamdeblur
…`` or ``--worker-nice 10`` make the whole job yield. A Ray started here gets it through Ray's
``RAY_worker_niceness``; on an existing cluster each worker raises its niceness itself, and if the
cluster's workers are already nicer than asked (lowering needs privileges), the driver says so once.

Example (shell)::

    ray start --head   # then on other machines: ray start --address HEAD:6379
    streamdeblur batch footage/ --out-dir out/ --executor ray --address auto
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ExecutorError, one_line
from .registry import Executor, register_executor

if TYPE_CHECKING:  # the engine (PyTorch, PyAV) loads when segments run, not when executors register
    from ..engine.config import PipelineConfig
    from .plan import SegmentPlan

RAY_MISSING = 'the Ray executor needs Ray: pip install "streamdeblur[ray]"'
#: A run replaces dead workers at most this many times per worker it started with.
REPLACEMENTS_PER_WORKER = 3


@dataclass
class FileOutcome:
    """What happened to one input file."""

    input: Path
    output: Path
    ok: bool = False
    frames: int = 0
    reused: int = 0  #: segments found finished from an earlier run
    segments: int = 0
    error: str = ""
    attempts: dict[int, int] = field(default_factory=dict)


def import_ray():
    """The ``ray`` module, or a one-line :class:`ExecutorError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ExecutorError(RAY_MISSING) from None
    return ray


# -- Ray -------------------------------------------------------------------------------------------


def start_ray(address: str | None = None, worker_nice: int = 0, num_cpus: int | None = None):
    """Join the Ray cluster at ``address``, or start a local one, unless Ray is already running here.

    Args:
        address: ``auto``, ``ray://host:10001``, or None for a local Ray on this machine.
        worker_nice: niceness the workers add to this process's (a local Ray gets it as
            ``RAY_worker_niceness``; Ray's own default is 15).
        num_cpus: CPUs a local Ray may use (default: the CPUs this process may use, affinity mask
            and cgroup quota included, not every core of the machine).

    Returns:
        the ``ray`` module.
    """
    from ..compute.cpus import usable_cpus

    ray = import_ray()
    if ray.is_initialized():
        return ray
    kwargs = {} if address else {"num_cpus": num_cpus or usable_cpus().count}
    old = os.environ.get("RAY_worker_niceness")
    os.environ["RAY_worker_niceness"] = str(max(0, worker_nice))  # read by the raylet a local start launches
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR", **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise ExecutorError(one_line(f"cannot start or reach Ray ({address or 'local'}): {exc}")) from None
    finally:
        if old is None:
            os.environ.pop("RAY_worker_niceness", None)
        else:
            os.environ["RAY_worker_niceness"] = old
    return ray


def set_niceness(target: int) -> int:
    """Move this process to niceness ``target`` where allowed (raising always is; lowering needs
    privileges); returns the niceness it runs at."""
    now = os.nice(0)
    try:
        if target > now:
            os.nice(target - now)
        elif target < now:
            os.setpriority(os.PRIO_PROCESS, 0, target)
    except OSError:
        pass
    return os.nice(0)


def _worker_class(ray):
    from .plan import process_segment

    @ray.remote
    class SegmentWorker:
        """Holds one set of built stages per pipeline config; processes segment bytes."""

        def __init__(self, nice: int | None = None) -> None:
            self._stages: dict[str, list] = {}
            self.nice = set_niceness(nice) if nice is not None else os.nice(0)

        def niceness(self) -> int:
            return self.nice

        def process(
            self,
            key,
            data: bytes,
            suffix: str,
            cfg: PipelineConfig,
            fingerprint: str,
            board=None,
            context=None,
            encode_as=None,
            out_suffix: str = ".mp4",
        ):
            from ..engine.build import build_stages

            warnings: list[str] = []
            if fingerprint not in self._stages:
                self._stages = {fingerprint: build_stages(cfg, warn=warnings.append)}  # one model per worker
            with tempfile.TemporaryDirectory(prefix="streamdeblur-seg-") as d:
                src, dst = Path(d) / f"in{suffix}", Path(d) / f"out{out_suffix}"
                src.write_bytes(data)
                last = [0.0]

                def on_progress(p) -> None:
                    if board is not None and time.monotonic() - last[0] > 0.5:
                        last[0] = time.monotonic()
                        board.update.remote(key, p.done)

                try:
                    res = process_segment(
                        src,
                        dst,
                        cfg,
                        stages=self._stages[fingerprint],
                        warn=warnings.append,
                        on_progress=on_progress,
                        context=context,
                        encode_as=encode_as,
                    )
                except Exception as exc:  # noqa: BLE001 - returned to the driver as one line
                    return key, False, one_line(f"{type(exc).__name__}: {exc}"), 0
                if not res.ok or not dst.exists():
                    return key, False, res.error or "interrupted", res.progress.done
                if board is not None:
                    board.update.remote(key, res.progress.done)
                return key, True, dst.read_bytes(), res.progress.done

    @ray.remote(num_cpus=0)
    class ProgressBoard:
        def __init__(self) -> None:
            self.done: dict = {}

        def update(self, key, n: int) -> None:
            self.done[key] = n

        def snapshot(self) -> dict:
            return dict(self.done)

    return SegmentWorker, ProgressBoard


def run_ray(
    jobs: list[tuple[Path, Path]],
    cfg: PipelineConfig,
    segments: int | None = None,
    seconds: float | None = None,
    address: str | None = None,
    workers: int | None = None,
    retries: int = 2,
    overwrite: bool | Collection[Path] = False,
    warn: Callable[[str], None] = print,
    on_progress: Callable[[int, int, int, int], None] | None = None,
    worker_nice: int = 0,
    on_file: Callable[[FileOutcome], None] | None = None,
) -> list[FileOutcome]:
    """Process ``(input, output)`` pairs as segments on Ray; returns one outcome per pair.

    Args:
        jobs: input and output file pairs.
        cfg: the pipeline config.
        segments: segments per file (default 1: whole files are the unit of work); or
        seconds: about this many seconds per segment.
        address: Ray cluster address (``auto``, ``ray://host:10001``); None starts or joins a local one.
        workers: actors (default: one per GPU, else one per 2 CPUs of the cluster).
        retries: extra attempts for a failing segment.
        overwrite: replace existing final outputs: all (True), none (False), or the outputs named (a
            batch redoing its own; its new outputs are not replaced if a file appears there meanwhile).
        on_progress: ``(frames done, frames total, files finished, files)``, a few times per second.
        worker_nice: niceness the workers run at above this process's (module docstring).
        on_file: hears of each file as soon as it is joined (a batch notes it done then: a Ctrl-C later
            in the run left finished files noted as pending, and the next run made them again).
    """
    from .plan import config_fingerprint, prepare

    ray = start_ray(address, worker_nice)
    res = ray.cluster_resources()
    gpus = int(res.get("GPU", 0))
    n = workers or (gpus if gpus else max(1, int(res.get("CPU", 1)) // 2))
    room, unit = (gpus, "GPU") if gpus else (max(1, int(res.get("CPU", 1))), "CPU")
    if n > room:  # each worker takes one: the others never started, and segments given to them waited forever
        plural = "s" if room > 1 else ""
        warn(f"--workers {n}: this Ray cluster has {room} {unit}{plural}; using {room} worker{plural} (one per {unit})")
        n = room
    cpus = max(1, int(res.get("CPU", 1)) // n) if not gpus else 1
    if not cfg.threads:
        cfg.threads = cpus
    SegmentWorker, ProgressBoard = _worker_class(ray)
    board = ProgressBoard.remote()
    nice = os.nice(0) + max(0, worker_nice)

    def new_worker():
        return SegmentWorker.options(num_cpus=cpus, num_gpus=1 if gpus else 0).remote(nice)

    actors = [new_worker() for _ in range(n)]
    replacements = REPLACEMENTS_PER_WORKER * n
    try:
        ran_at = max(ray.get([a.niceness.remote() for a in actors], timeout=300))
        if ran_at > nice:
            warn(f"Ray workers run at nice {ran_at}, not {nice}: the cluster sets it (start it with RAY_worker_niceness=0)")
    except Exception:  # noqa: BLE001 - a worker that cannot start fails its first segment below, with the reason
        pass

    outcomes: list[FileOutcome] = []
    plans: dict[int, SegmentPlan] = {}
    queue: list[tuple[int, int]] = []
    for fi, (inp, out) in enumerate(jobs):
        oc = FileOutcome(Path(inp), Path(out))
        outcomes.append(oc)
        try:
            plan = prepare(
                inp,
                out,
                cfg,
                segments=segments or (None if seconds else 1),
                seconds=seconds,
                overwrite=overwrite if isinstance(overwrite, bool) else Path(out) in overwrite,
                warn=warn,
            )
        except Exception as exc:  # noqa: BLE001 - this file fails, the others go on
            oc.error = one_line(exc)
            continue
        plans[fi] = plan
        oc.segments, oc.reused = len(plan.specs), plan.reused
        oc.frames = sum(s.frames for s in plan.specs if s.index in plan.done)
        queue += [(fi, i) for i in plan.todo]
        if not plan.todo:
            _finish(plan, oc, cfg, warn, on_file)
    total = sum(s.frames for p in plans.values() for s in p.specs)
    base = sum(oc.frames for oc in outcomes)
    fp = config_fingerprint(cfg)
    idle = list(actors)
    running: dict = {}  # ObjectRef → (actor, key)
    failed: set[int] = set()
    try:
        while queue or running:
            while queue and idle:
                fi, i = queue.pop(0)
                if fi in failed:
                    continue
                plan, actor = plans[fi], idle.pop()
                src = plan.src(i)
                data, ctx = src.read_bytes(), plan.job_context(i)
                ref = actor.process.remote((fi, i), data, src.suffix, cfg, fp, board, ctx, plan.encode_as, plan.dst(i).suffix)
                running[ref] = (actor, (fi, i))
            if not running:
                break
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
            for ref in ready:
                actor, (fi, i) = running.pop(ref)
                oc, plan = outcomes[fi], plans[fi]
                try:
                    _, ok, payload, _n = ray.get(ref)
                    idle.append(actor)
                except ray.exceptions.RayActorError as exc:  # the worker died: a failed attempt, and a new worker
                    ok, payload = False, one_line(f"worker lost: {exc}")
                    actors.remove(actor)
                    if replacements > 0:
                        replacements -= 1
                        fresh = new_worker()
                        actors.append(fresh)
                        idle.append(fresh)
                except Exception as exc:  # noqa: BLE001 - Ray lost the result, the worker lives on
                    ok, payload = False, one_line(f"result lost: {exc}")
                    idle.append(actor)
                if ok:
                    dst = plan.dst(i)
                    tmp = dst.with_name(dst.name + ".tmp")
                    tmp.write_bytes(payload)
                    tmp.replace(dst)
                    plan.mark_done(i)
                    oc.frames += plan.specs[i].frames
                    if not plan.todo:
                        _finish(plan, oc, cfg, warn, on_file)
                elif fi not in failed:
                    oc.attempts[i] = oc.attempts.get(i, 1) + 1
                    if oc.attempts[i] <= retries + 1:
                        warn(f"{oc.input.name} segment {i}: {payload}; retrying ({oc.attempts[i] - 1}/{retries})")
                        queue.append((fi, i))
                    else:
                        failed.add(fi)
                        oc.error = f"segment {i} failed {retries + 1} times: {payload}"
            if on_progress is not None:
                live = ray.get(board.snapshot.remote())
                in_flight = sum(live.get(k, 0) for _, k in running.values())
                done_files = sum(1 for oc in outcomes if oc.ok or oc.error)
                on_progress(sum(oc.frames for oc in outcomes) - base + in_flight, total - base, done_files, len(outcomes))
        for fi in plans:  # work left with no live worker to run it (replacements used up)
            if not outcomes[fi].ok and not outcomes[fi].error:
                outcomes[fi].error = "no live Ray worker left (each died; replacements used up)"
    finally:
        for a in actors:
            ray.kill(a)
        ray.kill(board)
        for plan in plans.values():  # the work folders' locks (a joined file's went with its join)
            plan.release()
    return outcomes


def _finish(plan: SegmentPlan, oc: FileOutcome, cfg: PipelineConfig, warn, on_file=None) -> None:
    # the output joined, published and heard of (a batch notes it done) together: a stream copy, seconds
    from .plan import finish, joining

    with joining(plan):
        try:
            finish(plan, audio=cfg.output.audio, warn=warn, strict=cfg.strict)
            oc.ok = True
        except Exception as exc:  # noqa: BLE001
            oc.error = one_line(f"join failed: {exc}")
            return
        if on_file is not None:
            on_file(oc)


@register_executor("ray")
class RayExecutor(Executor):
    help = "a Ray cluster (--address); files and segments spread over its workers"
    whole_batch = True  #: the command hands it all its files at once

    @classmethod
    def check(cls) -> None:
        import_ray()

    run = staticmethod(run_ray)
