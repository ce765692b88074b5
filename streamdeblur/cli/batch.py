"""``streamdeblur batch``: many inputs, one output folder, resumable, failure-tolerant.

* Resume is keyed by input and pipeline: an output is skipped only when ``.streamdeblur-batch.json``
  in the output folder says it was made from the same input with the same pipeline (a changed
  pipeline, model, weights or encoder redoes it); an unfinished ``*.partial.*`` file is redone (and removed). An
  existing file the batch did not make is never replaced without ``--overwrite``.
* Each failed row says why (FFmpeg's own words); a truncated input is flagged ``input ended early``.
* One failing file is reported and the others go on; the summary table lists every file.
* Ctrl-C stops after the file in progress has been closed (playable, kept as partial); the files not
  started are listed as such.
* One batch at a time writes into an output folder (a second one started meanwhile is refused: two
  writing one folder replaced each other's files and ledger entries). Each file is noted in the ledger
  as this batch's before it starts, so an output finished while the ledger could not be written (a full
  disk) is redone by the next run instead of being taken for a file the batch did not make.
* The outputs an earlier batch wrote into a folder are never read as inputs (``--out-dir`` the input
  folder itself: the same command twice deblurred its own outputs the second time).
* Folders are read recursively and mirrored: ``footage/day1/GX010001.MP4`` → ``OUT/day1/GX010001.mp4``.
  Two inputs never share an output: names that would clash (``GX010001.MP4`` of two cards given by
  glob, ``clip.avi`` beside ``clip.mp4``) get their folders mirrored, then their own extension in the
  name (``clip.avi.mp4``); the plan is made, and checked, before the first file starts.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePath

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from ..errors import (
    EXIT_FAIL,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_SIGHUP,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_USAGE,
    Interrupted,
    UsageError,
    exit_code,
    one_line,
)
from ..io.formats import FORMAT_BY_SUFFIX, IMAGE_EXTS, VIDEO_EXTS
from ..io.lock import Busy, hold, release
from ..io.paths import is_glob
from .console import error, out, warn
from .parser import add_cut_flags, add_pipeline_flags, add_scale_flags, config_from_args, cut_from_args
from .progress import Signals, run_job, speed
from .scale import run_on_ray, run_segmented

NAME = "batch"
HELP = "process many files; resumes, never stops at one failure"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="files, folders or globs")
    p.add_argument("--out-dir", required=True, help="folder for the outputs (created; named after the inputs)")
    p.add_argument(
        "--suffix",
        default=None,
        help="the videos' container (.mkv …) or the photos' format (.png …) (default: the input's own for .mp4 .mkv .mov .webm "
        "and photos, else .mp4)",
    )
    add_pipeline_flags(p, "batch")
    add_cut_flags(p)
    add_scale_flags(p)


def run(args) -> int:
    return run_batch(args, config_from_args(args), cut=cut_from_args(args))


@dataclass(frozen=True)
class BatchInput:
    """One input file and where the output folder puts it.

    Attributes:
        path: the input file.
        rel: its path as mirrored under the output folder (its name, or ``sub/folders/name`` for a
            file found inside a folder given on the command line).
    """

    path: Path
    rel: PurePath


def _walk(folder: Path, skip: Path | None, photos: list[Path] | None = None, made: frozenset[Path] = frozenset()) -> list[Path]:
    """The videos under ``folder``, recursively, sorted; hidden entries, unfinished outputs, ``skip``,
    the output folders of earlier batches (they hold ``.streamdeblur-batch.json``: deblurring their
    clips again is never what a later batch with another ``--out-dir`` means), segmented runs' work
    folders and the files in ``made`` (outputs this batch's ledger lists) left out. The photos met on
    the way are appended to ``photos`` (a folder gives its videos)."""
    found = []
    for root, dirs, names in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not _skipped_folder(here / d, skip))
        names = [n for n in sorted(names) if not n.startswith(".") and ".partial." not in n]
        found += [here / n for n in names if Path(n).suffix.lower() in VIDEO_EXTS and (here / n).resolve() not in made]
        if photos is not None:
            photos += [here / n for n in names if Path(n).suffix.lower() in IMAGE_EXTS and (here / n).resolve() not in made]
    return found


def _skipped_folder(d: Path, skip: Path | None) -> bool:
    """A folder never searched for inputs: hidden, the batch's output folder, an earlier batch's, or a
    segmented run's work folder (``clip.mp4.segments``: its parts are pieces of an output)."""
    if d.name.startswith(".") or (skip is not None and d.resolve() == skip) or (d / Ledger.NAME).exists():
        return True
    return d.name.endswith(".segments") and Path(d.name[: -len(".segments")]).suffix.lower() in FORMAT_BY_SUFFIX


def expand_inputs(items: list[str], out_dir: Path | None = None, photos: list[Path] | None = None) -> list[BatchInput]:
    """Files, folders (their videos, recursively, sorted) and globs → unique inputs in order.

    Args:
        items: what the command line named.
        out_dir: the batch's output folder; never read as input (it may sit inside an input folder).
        photos: receives the photos that folders and globs held and that are not taken (a photo is
            an input only when named itself).

    Returns:
        the inputs, each once (by resolved path), in the order given.
    """
    skip = out_dir.resolve() if out_dir is not None else None
    made = Ledger(out_dir, quiet=True).outputs() if out_dir is not None else frozenset()
    found: list[BatchInput] = []
    for it in items:
        p = Path(it)
        if p.is_dir():
            found += [BatchInput(f, f.relative_to(p)) for f in _walk(p, skip, photos, made)]
        elif is_glob(it):
            # 'footage/*' gives the videos there, as a folder does; 'footage/*.xyz' names its files' kind itself
            named = p.suffix and not any(ch in p.suffix for ch in "*?[")
            for f in map(Path, sorted(glob.glob(it))):
                if f.is_dir():  # footage/* matching day1/, day2/: their videos, mirrored under their names
                    if not _skipped_folder(f, skip):
                        found += [BatchInput(g, PurePath(f.name) / g.relative_to(f)) for g in _walk(f, skip, photos, made)]
                elif f.name.startswith(".") or ".partial." in f.name or f.resolve() in made:
                    continue  # as a folder's walk: unfinished outputs and this batch's own outputs are not inputs
                elif f.suffix.lower() in VIDEO_EXTS or (named and f.suffix.lower() not in IMAGE_EXTS):  # not readme.txt
                    found.append(BatchInput(f, PurePath(f.name)))
                elif photos is not None and f.suffix.lower() in IMAGE_EXTS:
                    photos.append(f)
        else:
            found.append(BatchInput(p, PurePath(p.name)))
    seen, unique = set(), []
    for b in found:
        if b.path.resolve() not in seen:
            seen.add(b.path.resolve())
            unique.append(b)
    return unique


#: input suffixes an output keeps: these containers, and photos (one image file out)
_KEEP_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".webm", *IMAGE_EXTS})


def _out_suffix(inp: Path, suffix: str | None) -> str:
    """An output's suffix: the input's own container for .mp4/.mkv/.mov/.webm, its own image format
    for a photo (one image file out), else .mp4; ``suffix`` overrides for inputs of its kind (a
    video container's would make a photo a one-frame video; an image format's is for photos)."""
    if suffix and (inp.suffix.lower() in IMAGE_EXTS) != (_dotted(suffix).lower() in IMAGE_EXTS):
        suffix = None
    suf = suffix or (inp.suffix.lower() if inp.suffix.lower() in _KEEP_SUFFIXES else ".mp4")
    return _dotted(suf)


def _dotted(suffix: str) -> str:
    return suffix if suffix.startswith(".") else "." + suffix


def _clashes(targets: list[PurePath]) -> dict[str, list[int]]:
    """Targets that name one file (compared case-insensitively: macOS and Windows disks are)."""
    groups: dict[str, list[int]] = {}
    for i, t in enumerate(targets):
        groups.setdefault(str(t).lower(), []).append(i)
    return {k: v for k, v in groups.items() if len(v) > 1}


def plan_outputs(inputs: list[BatchInput], suffix: str | None) -> list[PurePath]:
    """Each input's output path, relative to the output folder, no two the same.

    The input's mirrored path with the output suffix; where two would clash, their folders
    (from the deepest folder they share) are mirrored; where they still clash (``clip.avi`` and
    ``clip.mp4`` in one folder), an input whose suffix changes keeps its extension in the name
    (``clip.avi.mp4``).

    Raises:
        UsageError: two inputs that no rule tells apart (names differing only in case).

    Example:
        >>> ins = [BatchInput(Path("a/GX01.MP4"), PurePath("GX01.MP4")), BatchInput(Path("b/GX01.MP4"), PurePath("GX01.MP4"))]
        >>> [str(p) for p in plan_outputs(ins, None)]
        ['a/GX01.mp4', 'b/GX01.mp4']
    """
    targets = [b.rel.parent / f"{b.path.stem}{_out_suffix(b.path, suffix)}" for b in inputs]
    for group in _clashes(targets).values():
        dirs = [inputs[i].path.resolve().parent for i in group]
        if len(set(dirs)) == 1:  # one folder: only their extensions tell them apart (below)
            continue
        common = Path(os.path.commonpath(dirs))
        for i, d in zip(group, dirs):
            targets[i] = PurePath(d.relative_to(common)) / targets[i].name
    for group in _clashes(targets).values():
        for i in group:
            b = inputs[i]
            if b.path.suffix.lower() != _out_suffix(b.path, suffix):
                targets[i] = targets[i].parent / f"{b.path.name}{_out_suffix(b.path, suffix)}"
    left = _clashes(targets)
    if left:
        names = ", ".join(str(inputs[i].path) for i in next(iter(left.values())))
        raise UsageError(f"{names} would be written to one output file; rename one, or run them in separate batches")
    return targets


def _reason(message: str, inp: Path) -> str:
    """A failure's reason for the row of ``inp``: the input's path is in the row already."""
    for spelling in (str(inp), str(inp.resolve()), inp.name):
        # --out-dir the inputs' own folder: the output path is the input's ("output the input is the input file")
        message = message.replace(f"output {spelling} is the input file", "its output would be the input file itself")
        message = message.replace(f"cannot read image {spelling}", "cannot read the image")  # not "image the input"
        message = message.replace(f"input not found: {spelling}", "not found (moved or deleted since the batch started?)")
        # the path standing alone, not inside another path: the output has the input's name ("output
        # out/clip.mp4 exists" read "output out/the input exists"), so a bare name is left as it is (an
        # output's "finishing clip.mp4 failed: No space left on device" read "finishing the input failed")
        if spelling != inp.name:
            message = re.sub(rf"(?<![\w./-]){re.escape(spelling)}(?![\w./-])", "the input", message)
        elif message.startswith(f"{spelling}: "):  # a source's "clip.mp4: no video stream"
            message = "the input" + message[len(spelling) :]
    return message


def run_batch(args, cfg, cut=None) -> int:
    """Process ``args.inputs`` into ``args.out_dir``; a summary table ends the run (rows in input order).

    Args:
        args: the parsed ``batch`` arguments.
        cfg: the pipeline, overrides applied.
        cut: the part of each file to process (``--start``/``--duration``/``--frames``), or None.

    Returns:
        The exit code: 0 when every file is done or was done before, 1 when any failed.
    """
    from ..scaleout import executor_class

    executor = executor_class(getattr(args, "executor", "local"))
    if not str(args.out_dir).strip():  # an unset shell variable: "" wrote into the current folder, " " made a folder " "
        raise UsageError("--out-dir is empty: give the folder for the outputs")
    out_dir = Path(args.out_dir)
    if args.suffix and args.suffix.lower() not in FORMAT_BY_SUFFIX and args.suffix.lower() not in IMAGE_EXTS:
        videos, images = ", ".join(FORMAT_BY_SUFFIX), ", ".join(sorted(IMAGE_EXTS))
        error(f"--suffix {args.suffix}: unknown output container; use one of {videos} (for photos: {images})")
        return EXIT_USAGE
    photos: list[Path] = []
    inputs = expand_inputs(args.inputs, out_dir, photos)
    if photos:
        first = photos[0].as_posix()
        more = f" and {len(photos) - 1} more" if len(photos) > 1 else ""
        warn(
            f"not taken: {len(photos)} photo(s) ({first}{more}): folders and globs give their videos; name photos "
            "one by one, or process a folder of photos with 'streamdeblur run FOLDER -o OUT/'"
        )
    if not inputs:
        error("no input files found" + (" (no videos; the photos were not taken: see above)" if photos else ""))
        return EXIT_USAGE
    rels = plan_outputs(inputs, args.suffix)  # a clash is a usage error before anything is written
    kept = [b.path for b in inputs if args.suffix and _out_suffix(b.path, args.suffix).lower() != args.suffix.lower()]
    if kept:
        more = f" and {len(kept) - 1} more" if len(kept) > 1 else ""
        if args.suffix.lower() in IMAGE_EXTS:
            warn(f"--suffix {args.suffix} is for photos: videos keep their own container ({kept[0].name}{more})")
        else:
            warn(f"--suffix {args.suffix} is for videos: photos keep their own format ({kept[0].name}{more})")
    files = [b.path for b in inputs]
    shown = {b.path: b.rel.as_posix() for b in inputs}  # a row's input: as mirrored (day1/GX010001.MP4)
    if len(set(shown.values())) < len(files):  # one name from two folders: rows say where each came from
        shown = {f: str(f) for f in files}
    if out_dir.exists() and not out_dir.is_dir():
        error(f"--out-dir {out_dir} is a file, not a folder")
        return EXIT_OUTPUT
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        held = Ledger.lock(out_dir)  # held until the batch ends (and released if the process dies)
    except OutputBusyError as exc:
        error(str(exc))
        return EXIT_OUTPUT
    except OSError as exc:
        error(f"cannot write into --out-dir {out_dir}: {exc.strerror or exc}")
        return EXIT_OUTPUT
    try:
        return _run_files(args, cfg, cut, executor, out_dir, files, rels, shown)
    finally:
        Ledger.unlock(out_dir, held)


def _run_files(args, cfg, cut, executor, out_dir: Path, files: list[Path], rels: list[PurePath], shown: dict) -> int:
    """The batch's work once its output folder is held: each file planned, run, noted in the ledger."""
    from ..engine.build import Job
    from ..scaleout.plan import work_dir

    ledger = Ledger(out_dir)
    key_extra = {"cut": [cut.start, cut.duration, cut.frames]} if cut else {}
    rows: dict[Path, tuple] = {}
    failures = 0
    todo = []
    for f, rel in zip(files, rels):
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        state = ledger.state(f, target, cfg, key_extra)
        if target.exists() and target.resolve() == f.resolve():  # --out-dir the input's own folder, same name
            failures += 1
            why = "its output would be the input file itself; refusing to overwrite it (choose another --out-dir)"
            rows[f] = (shown[f], f"failed (exit {EXIT_OUTPUT})", why, "")
        elif args.overwrite or state == "redo":
            todo.append((f, target))
        elif state == "done":
            rows[f] = (shown[f], "skipped (done before)", "same input and pipeline", rel.as_posix())
        elif state == "other":  # made by an earlier batch from another file of the same name (the next card)
            failures += 1
            made = ledger.made_from(target)
            why = f"{rel.as_posix()} exists, made from {made}; pass --overwrite or another --out-dir"
            rows[f] = (shown[f], f"failed (exit {EXIT_OUTPUT})", why, "")
        else:  # a file this batch did not make: never replaced without --overwrite
            failures += 1
            why = f"{rel.as_posix()} exists and was not made by this batch; pass --overwrite"
            rows[f] = (shown[f], f"failed (exit {EXIT_OUTPUT})", why, "")
    out_name = {f: rel.as_posix() for f, rel in zip(files, rels)}
    claimed = []
    for f, target in todo:  # noted as this batch's first: what it finishes is its own even if the ledger
        if not f.exists():  # a name that names nothing (a typo): its row blamed the ledger ("No such file or directory")
            failures += 1
            rows[f] = (shown[f], f"failed (exit {EXIT_INPUT})", "not found", "")
            continue
        try:  # cannot be written then; and a full disk is met here, before any file is processed
            ledger.claim(f, target)
            claimed.append((f, target))
        except OSError as exc:
            failures += 1
            why = f"cannot write the batch's ledger in {out_dir}: {exc.strerror or exc}"
            rows[f] = (shown[f], f"failed (exit {EXIT_OUTPUT})", why, "")
    todo = claimed
    # what may be replaced: files that were there when planned (this batch's own to redo, or --overwrite).
    # A new output was published over whatever appeared at its name during the batch (another run's
    # output, made meanwhile: replaced without a word; audit 30); it is now kept, this one's named beside it
    replace = {target for _, target in todo if args.overwrite or target.exists()}

    def done(f: Path, target: Path, details: str) -> None:
        nonlocal failures
        try:
            ledger.record(f, target, cfg, key_extra)
        except OSError as exc:  # the output is whole; the claim stays, and the next run refuses the file
            failures += 1
            details += (
                f"; not noted in the batch's ledger ({exc.strerror or exc}): the next run will not take it "
                "for its own (--overwrite redoes it)"
            )
        _drop_partials(target)  # what an interrupted run of this batch kept of it: done now
        rows[f] = (shown[f], "done", details, out_name[f])

    def stopped(rest: list[tuple[Path, Path]]) -> None:
        """The batch stops: the files never started get their rows, then the summary."""
        for g, _ in rest:
            rows[g] = (shown[g], "not started", "the same command goes on with it", "")
        _summary([rows[g] for g in files if g in rows], out_dir)

    # photos are one image each, never cut: on this machine, in the loop below (a cluster's segment
    # planning took a photo for a video and failed it, "unknown output container '.jpg'")
    remote = [(f, t) for f, t in todo if f.suffix.lower() not in IMAGE_EXTS] if executor.whole_batch else []
    if remote:
        todo = [(f, t) for f, t in todo if f.suffix.lower() in IMAGE_EXTS]
        executor.check()
        joined: set[Path] = set()

        def file_done(oc) -> None:  # as each file is joined: noted done even if the run is stopped later
            joined.add(oc.input)
            reused = f", {oc.reused} segments reused" if oc.reused else ""
            done(oc.input, Path(oc.output), f"{oc.frames} frames, {oc.segments} segments{reused}")

        try:
            outcomes = run_on_ray(remote, cfg, args, on_file=file_done, overwrite=replace)
        except Interrupted:
            for f, _ in remote:
                if f not in joined:
                    rows[f] = (shown[f], "interrupted", "its finished segments are kept; the same command resumes", "")
            stopped(todo)
            raise
        for oc in outcomes:
            if oc.ok and oc.input not in joined:
                file_done(oc)
            elif not oc.ok:
                failures += 1
                rows[oc.input] = (shown[oc.input], "failed", _reason(oc.error or "failed", oc.input), "")
    segmented = bool(getattr(args, "segments", None) or getattr(args, "segment_seconds", None))
    # SIGTERM and SIGHUP between the files' own handling (a file just finished, the next one starting) stop the
    # batch as Ctrl-C does, with the summary (they killed it on the spot) and their own exit code
    with Signals() as stop:
        for i, (f, target) in enumerate(todo, 1):
            label = f"[{i}/{len(todo)}] {shown[f]}"
            reason, whole = None, None  # whole: the finished output kept beside a name taken meanwhile
            try:
                if segmented and f.suffix.lower() not in IMAGE_EXTS:  # a photo has nothing to cut: run as one
                    note_joined = lambda _, f=f, target=target: done(f, target, "segmented")  # noqa: E731 - with the join
                    code, result = run_segmented(
                        str(f), str(target), copy.deepcopy(cfg), args, overwrite=target in replace, on_joined=note_joined
                    )
                    if code == EXIT_OK:
                        continue
                else:
                    job = Job(str(f), str(target), copy.deepcopy(cfg), overwrite=target in replace, cut=cut)

                    def note_done(result, f=f, target=target) -> None:  # noted before a stop after the pipeline's is acted on
                        p = result.progress
                        early = f"; {p.early_note}" if p.early_note else ""
                        done(f, target, f"{p.done} frames, {speed(p.fps)}{early}")

                    code, result = run_job(job, label, on_done=note_done)
                    if code == EXIT_OK:
                        continue
            except KeyboardInterrupt:  # between the pipeline's own handling (a segmented file between segments)
                if f in rows and rows[f][1] == "done":  # held while the finished file was noted: the batch stops here
                    stopped(todo[i:])
                    return stop.code
                code, result = stop.code, None
            except Exception as exc:  # noqa: BLE001 - one file's failure never stops the others
                code, result, reason = exit_code(exc), None, one_line(exc)
                whole = getattr(exc, "kept", None)  # a segmented file joined, its name taken meanwhile
                error(_reason(reason, f), where=shown[f])
            kept = Path(result.output).name if result and result.output and Path(result.output).exists() else ""
            kept = Path(whole).name if whole is not None and Path(whole).exists() else kept
            if code != EXIT_OK:  # this run's partial file (named in its row) stands for the earlier runs' ones
                _drop_partials(target, keep=kept)
            if segmented and work_dir(target).is_dir() and whole is None:  # not the segment's partial, not in out_dir
                kept = work_dir(target).relative_to(out_dir).as_posix() + "/"
            if code in (EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGTERM):
                resume = "its finished segments are kept; the same command resumes" if segmented and kept else ""
                rows[f] = (shown[f], "interrupted", resume, kept)
                stopped(todo[i:])
                return code
            if code != EXIT_OK or result is None:
                failures += 1
                reason = reason or (result.error if result is not None and result.error else f"exit {code}")
                rows[f] = (shown[f], f"failed (exit {code})", _reason(reason, f), kept)
    _summary([rows[f] for f in files if f in rows], out_dir)
    return EXIT_FAIL if failures else EXIT_OK


def _drop_partials(target: Path, keep: str = "") -> None:
    """Remove the partial files earlier runs of this batch left of ``target``, but the one named ``keep``."""
    from ..io.sinks.base import partials_of

    for stale in partials_of(target):
        if stale.name != keep:
            stale.unlink(missing_ok=True)


class Ledger:
    """What this batch made in ``out_dir``, keyed by input and pipeline: ``.streamdeblur-batch.json``.

    An output counts as done only when the ledger says it was made from the same input (path,
    size, modification time) with the same pipeline (the fingerprint segments use: stages,
    models, weights, encoder); anything else is redone, as a segmented run would.

    Args:
        out_dir: the batch's output folder.
    """

    NAME = ".streamdeblur-batch.json"
    #: held (``flock``) by the batch writing into the folder
    LOCK = ".streamdeblur-batch.lock"

    def __init__(self, out_dir: Path, quiet: bool = False) -> None:
        self.path = out_dir / self.NAME
        self.entries: dict = {}
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return
        except OSError as exc:
            return self._unreadable(exc.strerror or str(exc), quiet)
        try:
            entries = json.loads(text)
        except ValueError:
            return self._unreadable("cut short or damaged", quiet)
        if not isinstance(entries, dict):
            return self._unreadable("not a batch ledger", quiet)
        self.entries = entries

    def _unreadable(self, why: str, quiet: bool) -> None:
        if not quiet:  # it was read as empty in silence: every output there failed as "not made by this batch"
            warn(
                f"{self.path} cannot be read: {why}; the outputs already in {self.path.parent} count as not made "
                "by a batch (--overwrite redoes them)"
            )

    def outputs(self) -> frozenset[Path]:
        """The files the ledger lists as made (resolved paths): a batch's outputs, never its inputs."""
        return frozenset((self.path.parent / name).resolve() for name in self.entries)

    @staticmethod
    def key(inp: Path, cfg, extra: dict) -> dict:
        from ..scaleout.plan import _identity, config_fingerprint

        return {"input": _identity(inp), "pipeline": config_fingerprint(cfg), **extra}

    def _name(self, target: Path) -> str:
        """The ledger's key for ``target``: its path under the output folder (its name for a top-level file)."""
        return target.relative_to(self.path.parent).as_posix()

    def state(self, inp: Path, target: Path, cfg, extra: dict) -> str:
        """``done`` (same key, output present), ``redo`` (made from this input, but stale; or absent),
        ``other`` (made by a batch from another input: a camera's next card reuses the names) or
        ``foreign`` (not made by a batch)."""
        entry = self.entries.get(self._name(target))
        if not target.exists():
            return "redo"
        # claimed but never recorded done: this batch names an output only when it is finished, so a file
        # there is another's (one that appeared at the name while the batch ran: the next plain run replaced
        # it, audit 31); the rare output published before its record could be written is refused alike
        if entry is None or entry.get("pending"):
            return "foreign"
        if target.stat().st_size == 0:  # emptied: not done
            return "redo"
        if entry.get("input", {}).get("path") != str(inp.resolve()):
            return "other"
        return "done" if entry == self.key(inp, cfg, extra) else "redo"

    def made_from(self, target: Path) -> str:
        """The input the ledger says ``target`` was made from."""
        return str(self.entries.get(self._name(target), {}).get("input", {}).get("path", "another file"))

    def claim(self, inp: Path, target: Path) -> None:
        """Note ``target`` as this batch's, being made from ``inp`` (not done yet: a later run redoes it).

        Raises:
            OSError: the ledger cannot be written (a full disk: said before the file is processed).
        """
        from ..scaleout.plan import _identity

        self._write(self._name(target), {"input": _identity(inp), "pending": True})

    def record(self, inp: Path, target: Path, cfg, extra: dict) -> None:
        """Note ``target`` as made from ``inp`` with ``cfg`` (written atomically).

        Raises:
            OSError: the ledger cannot be written.
        """
        self._write(self._name(target), self.key(inp, cfg, extra))

    def _write(self, name: str, entry: dict) -> None:
        self.entries[name] = entry
        tmp = self.path.with_name(self.path.name + ".partial")
        try:
            tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError:
            if tmp.is_file():
                tmp.unlink()
            raise

    @classmethod
    def lock(cls, out_dir: Path) -> int:
        """Hold ``out_dir`` for this batch until the process ends (an ``flock``: released when it
        dies, however it dies); returns the lock file's descriptor, to keep open.

        Raises:
            OutputBusyError: another batch holds it.
        """
        try:
            return hold(out_dir / cls.LOCK)
        except Busy as exc:
            raise OutputBusyError(
                f"another streamdeblur batch{exc.by} is writing into {out_dir}; run this one when it has finished, "
                "or give another --out-dir"
            ) from None

    @classmethod
    def unlock(cls, out_dir: Path, fd: int) -> None:
        """Let ``out_dir`` go (:meth:`lock`'s descriptor): the lock file is removed while still held, so
        a finished batch leaves only its outputs and ledger (a batch that opened it meanwhile tries again)."""
        release(out_dir / cls.LOCK, fd)


class OutputBusyError(Exception):
    """Another batch writes into the output folder."""


def _summary(rows, out_dir: Path) -> None:
    """The table (every cell wraps, nothing is cut with an ellipsis) and the output folder on a line of its own."""
    t = Table(title="batch summary")
    for c in ("input", "status", "details", "output"):
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*(escape(str(x)) for x in r))
    if out.is_terminal:
        out.print(t)
    else:  # a log or a pipe: at its natural width, so that a file name stays on one line (grep)
        wide = Measurement.get(out, out.options.update_width(10_000), t).maximum
        Console(file=out.file, width=max(out.width, wide), highlight=False, color_system=None).print(t)
    out.print(escape(f"outputs in {out_dir}"))
