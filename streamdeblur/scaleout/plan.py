"""Long videos in segments: plan, resume, process, join.

A segmented run keeps its state in a work folder next to the output (``clip.mp4.segments/``):

* ``plan.json`` — the input's identity (path, size, mtime), a fingerprint of the pipeline config
  and the segments (:class:`~streamdeblur.io.segments.SegmentSpec`);
* ``seg-NNNN.src.mp4`` — the input's video packets of segment N (stream copy);
* ``seg-NNNN.mp4`` — segment N processed. It appears under that name only once complete (it is
  written as ``seg-NNNN.partial.mp4`` first), so its presence means "done".

Running the same command again after a crash, a kill or Ctrl-C reuses every finished segment and
processes only the rest; the folder is removed after a successful join. A changed input or config
invalidates the plan (the folder is cleared and the run starts over, with a warning).

The executors (:mod:`streamdeblur.scaleout.ray`) decide *where* :func:`process_segment` runs: here, one
after the other, or on Ray workers.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..engine.config import ConfigError, PipelineConfig
from ..errors import SinkError, stops_held
from ..io.digest import file_sha256
from ..io.lock import Busy, hold, release
from ..io.segments import SegmentSpec, count_frames, join, plan_cuts, split
from ..io.sinks import FORMAT_BY_SUFFIX, check_output
from ..io.sinks.encoders import fits
from ..io.sources import nominal_rate, open_video
from ..io.streams import video_stream
from ..models.gate import gate_path

PLAN_VERSION = 1
RUNTIME_KEYS = ("device", "threads", "preview", "source", "description", "overridden")  # do not change the output


def work_dir(output: Path) -> Path:
    """The work folder of a segmented run: ``clip.mp4`` → ``clip.mp4.segments``."""
    return output.with_name(output.name + ".segments")


def config_fingerprint(cfg: PipelineConfig) -> str:
    """A hash of everything in ``cfg`` that changes the output pixels or the encoding: its keys, and
    the content of the weights and gate files its stages name (:func:`model_files`)."""
    d = dataclasses.asdict(cfg)
    for k in RUNTIME_KEYS:
        d.pop(k, None)
    for s in d.get("stages", []):
        s.pop("line", None)
    files = model_files(cfg)
    if files:  # only then: a pipeline of shipped weights keeps the fingerprint it had
        d["files"] = files
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


_DIGESTS: dict[tuple, str] = {}


def _file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content (cached by path, size and time), ``missing`` where it cannot be read."""
    try:
        st = os.stat(path)
        key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
        if key not in _DIGESTS:
            _DIGESTS[key] = file_sha256(path)[:16]
        return _DIGESTS[key]
    except OSError:
        return "missing"


def model_files(cfg: PipelineConfig) -> dict[str, str]:
    """The content of the weights and do-no-harm gate files the stages name, by ``stage#:option``.

    A batch keyed its outputs by the options' text: new weights exported to the same path, or a gate
    put beside them, left every output "skipped (done before)" (audit 28). The shipped weights
    (``default``) change only with the package and are not read here.
    """
    out: dict[str, str] = {}
    for i, spec in enumerate(cfg.stages):
        weights, guard = spec.options.get("weights"), spec.options.get("guard", "auto")
        if isinstance(weights, (str, Path)) and str(weights) not in ("default", "random", ""):
            out[f"{i}:weights"] = _file_digest(weights)
            if guard == "auto":
                out[f"{i}:gate"] = _file_digest(gate_path(weights))
        if isinstance(guard, (str, Path)) and str(guard) not in ("auto", "off", ""):
            out[f"{i}:guard"] = _file_digest(guard)
    return out


def segment_config(cfg: PipelineConfig) -> PipelineConfig:
    """The config a segment is processed with: no audio (the join copies it once), no preview."""
    c = copy.deepcopy(cfg)
    c.output.audio = False
    c.preview = False
    return c


@dataclass
class SegmentPlan:
    """A segmented run's plan and its state on disk."""

    input: Path
    output: Path
    work: Path
    specs: list[SegmentSpec]
    fingerprint: str
    reused: int = 0  #: segments found finished when the run (re)started
    done: set[int] = field(default_factory=set)
    context: tuple[int, int] = (0, 0)  #: (past, future) frames decoded beyond each cut for windowed stages
    suffix: str = ".mp4"  #: the processed parts' container (:func:`segment_suffix`)
    rate: Fraction | None = None  #: the whole input's frame rate, which every part is encoded at
    #: replace a file found at ``output`` when joining: False, a file that appeared there during the run
    #: (another run, or a batch's output named by a run meanwhile) is kept and this run's output named beside it
    overwrite: bool = False
    #: the work folder's lock (:func:`~streamdeblur.io.lock.hold`), held from :func:`prepare` to :meth:`release`
    lock_fd: int | None = field(default=None, repr=False)

    @property
    def lock_path(self) -> Path:
        """``OUT.segments.lock``, beside the work folder (inside it, a plan started over would delete it)."""
        return work_lock(self.work)

    def release(self) -> None:
        """Let the work folder go (after :func:`finish`, or when the run stops); again: nothing."""
        if self.lock_fd is not None:
            fd, self.lock_fd = self.lock_fd, None
            release(self.lock_path, fd)

    @property
    def encode_as(self) -> tuple[str, Fraction | None]:
        """What :attr:`~streamdeblur.engine.build.Job.encode_as` needs: the parts are encoded as a single
        run would encode the output (its encoder, the input's rate), so that they join into it."""
        return str(self.output), self.rate

    def job_context(self, i: int) -> tuple[int, int | None, int, int, int] | None:
        """What :class:`~streamdeblur.engine.build.Job` needs to tell segment ``i``'s context frames apart
        (its start and end ticks, the context before and after, its own frame count)."""
        if not any(self.context):
            return None
        s = self.specs[i]  # the segment files run s.shift ticks late (a source that starts before 0)
        return (s.start + s.shift, None if s.end is None else s.end + s.shift, *self.context, s.frames)

    def src(self, i: int) -> Path:
        return next(self.work.glob(f"seg-{i:04d}.src.*"))

    def dst(self, i: int) -> Path:
        return self.work / f"seg-{i:04d}{self.suffix}"  # MP4/MOV keep the time base and absolute pts exactly

    @property
    def todo(self) -> list[int]:
        return [s.index for s in self.specs if s.index not in self.done]

    def mark_done(self, i: int) -> None:
        self.done.add(i)


def temporal_context(cfg: PipelineConfig) -> tuple[int, int]:
    """(past, future) frames of context the config's windowed stages need across a cut, together."""
    from ..stages import stage_class
    from ..stages.window import WindowedStage

    past = future = 0
    for spec in cfg.stages:
        cls = stage_class(spec.name)
        if issubclass(cls, WindowedStage):
            p, f = cls.context_of(cls.Options(**spec.options))
            past, future = past + p, future + f
    return past, future


def segment_suffix(output: Path, codec: str) -> str:
    """The container of the processed parts of ``output``: MOV for a .mov output (ProRes, which MP4
    cannot hold), else MP4 (it keeps the time base and absolute pts exactly), Matroska for a codec
    that MP4 cannot hold (FFV1 into .mkv)."""
    fmt = FORMAT_BY_SUFFIX.get(output.suffix.lower())
    if fmt == "mov":
        return ".mov"
    return ".mp4" if fits(codec, "mp4") else ".mkv"


def check_joinable(output: Path, cfg: PipelineConfig) -> str:
    """Refuse, before any work, an output that processed parts cannot be joined into; returns the
    container of the parts (:func:`segment_suffix`).

    Raises:
        ConfigError: AVI (it keeps no timestamps to join parts by: a segmented .avi came out without
            its picture), or an encoder the output cannot hold (it failed at the join, after all the work).
    """
    from ..engine.build import choose_output_encoder

    fmt = FORMAT_BY_SUFFIX.get(output.suffix.lower())
    if fmt == "avi":
        raise ConfigError(
            f"segmented runs cannot write {output.suffix} (AVI keeps no timestamps to join the parts by): "
            "write .mkv or .mp4, or run without --segments"
        )
    return segment_suffix(output, choose_output_encoder(cfg, str(output)).codec)


def input_rate(path: Path) -> Fraction | None:
    """The input's frame rate as a single run reads it (:func:`~streamdeblur.io.sources.nominal_rate`)."""
    with open_video(path) as c:  # it was cut already: it opens
        return nominal_rate(video_stream(c))


def _identity(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def prepare(
    input: str | Path,
    output: str | Path,
    cfg: PipelineConfig,
    segments: int | None = None,
    seconds: float | None = None,
    overwrite: bool = False,
    warn: Callable[[str], None] = print,
) -> SegmentPlan:
    """Check the output, load or make the plan, cut the segments still missing.

    Args:
        input: the source video (a local file).
        output: the final output file.
        cfg: the pipeline config (its fingerprint is part of the plan).
        segments: number of segments to aim for; or ``seconds`` per segment.
        overwrite: replace an existing final output.
        warn: receives warnings.
    """
    inp, out = Path(input), Path(output)
    if not inp.is_file():
        from ..io.sources import SourceError

        raise SourceError(f"segmented runs need a local video file; {input} is not one")
    check_output(out, [inp], overwrite)
    suffix = check_joinable(out, cfg)
    work = work_dir(out)
    # one segmented run per output at a time: a second one to the same output deleted the first's work
    # folder as "a different input" while it ran, and the first ended pointing at files gone (audit 30)
    try:
        fd = hold(work_lock(work))
    except Busy as exc:
        raise SinkError(
            f"another streamdeblur run{exc.by} is writing {out} in segments ({work}); run this one when it has "
            "finished, or choose another output"
        ) from None
    try:
        plan = _prepare_held(inp, out, work, cfg, segments, seconds, overwrite, suffix, warn)
    except BaseException:
        release(work_lock(work), fd)
        raise
    plan.lock_fd = fd
    return plan


def work_lock(work: Path) -> Path:
    """The lock file of a segmented run's work folder: ``OUT.segments.lock``."""
    return work.with_name(work.name + ".lock")


def _prepare_held(
    inp: Path,
    out: Path,
    work: Path,
    cfg: PipelineConfig,
    segments: int | None,
    seconds: float | None,
    overwrite: bool,
    suffix: str,
    warn: Callable[[str], None],
) -> SegmentPlan:
    """:func:`prepare` once the work folder is held: load or make the plan, cut the segments missing."""
    fp = config_fingerprint(cfg)
    ident = _identity(inp)
    ask = {"segments": segments, "seconds": seconds}
    plan_file = work / "plan.json"
    specs = None
    if plan_file.exists():
        try:
            saved = json.loads(plan_file.read_text())
            if (
                saved.get("version") == PLAN_VERSION
                and saved.get("input") == ident
                and saved.get("fingerprint") == fp
                and saved.get("ask") == ask
            ):
                specs = [SegmentSpec(**s) for s in saved["segments"]]
                if specs[0].start < 0 and not specs[0].shift:
                    specs = None  # cut before segments learnt to start at 0: its first segment decodes nothing
            else:
                warn(f"{work} belongs to a different input, config or segment count; starting over")
        except (ValueError, KeyError, TypeError):
            warn(f"{plan_file} is unreadable; starting over")
        if specs is None:
            shutil.rmtree(work)
    if specs is None:
        specs = plan_cuts(inp, segments=segments, seconds=seconds, warn=warn, strict=cfg.strict)
        work.mkdir(parents=True, exist_ok=True)
        tmp = plan_file.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "version": PLAN_VERSION,
                    "input": ident,
                    "fingerprint": fp,
                    "ask": ask,
                    "segments": [s.to_dict() for s in specs],
                },
                indent=1,
            )
        )
        tmp.replace(plan_file)
    plan = SegmentPlan(
        inp, out, work, specs, fp, context=temporal_context(cfg), suffix=suffix, rate=input_rate(inp), overwrite=overwrite
    )
    for s in specs:
        d = plan.dst(s.index)
        if d.exists() and count_frames(d) == s.frames:
            plan.done.add(s.index)
    plan.reused = len(plan.done)
    missing = {i for i in plan.todo if not list(work.glob(f"seg-{i:04d}.src.*"))}
    if missing:
        split(inp, specs, work, only=missing, context=plan.context)
    return plan


def joining(plan: SegmentPlan) -> AbstractContextManager[None]:
    """Stops (Ctrl-C, SIGTERM, SIGHUP) held while ``plan``'s output is joined and heard of: a batch notes
    it done in the same breath (:func:`~streamdeblur.errors.stops_held`)."""
    return stops_held(f"stopping once {plan.output.name} is joined (its segments are all done)")


def finish(plan: SegmentPlan, audio: bool = True, warn: Callable[[str], None] = print, strict: bool = False) -> Path:
    """Join the processed segments into the output, copy the audio once (``strict``: a damaged sound packet
    is an error, not left out), remove the work folder."""
    if plan.todo:
        raise RuntimeError(f"segments {plan.todo} are not processed yet")
    first = plan.specs[0]
    shift = first.shift * Fraction(first.time_base)
    result = join(
        [plan.dst(s.index) for s in plan.specs],
        plan.input,
        plan.output,
        audio=audio,
        warn=warn,
        shift=shift,
        strict=strict,
        overwrite=plan.overwrite,
    )
    shutil.rmtree(plan.work, ignore_errors=True)
    plan.release()
    return result


def process_segment(
    src: Path,
    dst: Path,
    cfg: PipelineConfig,
    stages: list | None = None,
    warn=print,
    on_progress=None,
    context=None,
    encode_as: tuple[str, Fraction | None] | None = None,
):
    """Run the pipeline over one segment file (no audio); returns the :class:`RunResult`.

    ``context``: :meth:`SegmentPlan.job_context` of the segment (frames beyond its cuts are
    neighbours for windowed stages, never written); ``encode_as``: :attr:`SegmentPlan.encode_as`."""
    from ..engine.build import Job, build

    job = Job(str(src), str(dst), segment_config(cfg), overwrite=True, context=context, encode_as=encode_as)
    pipe = build(job, warn=warn, stages=stages)
    return pipe.run(on_progress)
