"""``streamdeblur batch``: many inputs, one output folder, resumable, failure-tolerant.

* Resume is keyed by input and pipeline: an output is skipped only when ``.streamdeblur-batch.json``
  in the output folder says it was made from the same input with the same pipeline (a changed
  pipeline, model, weights or encoder redoes it); an unfinished ``*.partial.*`` file is redone. An
  existing file the batch did not make is never replaced without ``--overwrite``.
* Each failed row says why (FFmpeg's own words); a truncated input is flagged ``input ended early``.
* One failing file is reported and the others go on; the summary table lists every file.
* Ctrl-C stops after the file in progress has been closed (playable, kept as partial).
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..errors import EXIT_FAIL, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, exit_code, one_line
from ..io.sources import IMAGE_EXTS, VIDEO_EXTS
from .console import error, out
from .parser import add_cut_flags, add_pipeline_flags, add_scale_flags, config_from_args, cut_from_args
from .progress import run_job
from .scale import run_on_ray, run_segmented

NAME = "batch"
HELP = "process many files; resumes, never stops at one failure"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="files, folders or globs")
    p.add_argument("--out-dir", required=True, help="folder for the outputs (created; same names as the inputs)")
    p.add_argument("--suffix", default=None, help="output container suffix (default: same as input, .mp4 for others)")
    add_pipeline_flags(p, "batch")
    add_cut_flags(p)
    add_scale_flags(p)


def run(args) -> int:
    return run_batch(args, config_from_args(args), cut=cut_from_args(args))


def expand_inputs(items: list[str]) -> list[Path]:
    """Files, folders (their videos, sorted) and globs → unique files in order."""
    files: list[Path] = []
    for it in items:
        p = Path(it)
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in VIDEO_EXTS)
        elif any(ch in it for ch in "*?["):
            files += sorted(Path(f) for f in glob.glob(it) if Path(f).suffix.lower() not in IMAGE_EXTS)
        else:
            files.append(p)
    seen, unique = set(), []
    for f in files:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            unique.append(f)
    return unique


#: input suffixes an output keeps: these containers, and photos (one image file out)
_KEEP_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".webm", *IMAGE_EXTS})


def output_for(inp: Path, out_dir: Path, suffix: str | None) -> Path:
    """``out_dir/STEM.SUFFIX``: the input's own container for .mp4/.mkv/.mov/.webm, its own image
    format for a photo (one image file out), else .mp4; ``suffix`` overrides."""
    suf = suffix or (inp.suffix.lower() if inp.suffix.lower() in _KEEP_SUFFIXES else ".mp4")
    if not suf.startswith("."):
        suf = "." + suf
    return out_dir / f"{inp.stem}{suf}"


def _reason(message: str, inp: Path) -> str:
    """A failure's reason for the row of ``inp``: the input's path is in the row already."""
    for spelling in (str(inp), str(inp.resolve()), inp.name):
        message = message.replace(spelling, "the input")
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
    from ..engine.build import Job
    from ..scaleout import executor_class

    executor = executor_class(getattr(args, "executor", "local"))
    files = expand_inputs(args.inputs)
    if not files:
        error("no input files found")
        return EXIT_USAGE
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(out_dir)
    key_extra = {"cut": [cut.start, cut.duration, cut.frames]} if cut else {}
    rows: dict[Path, tuple] = {}
    failures = 0
    todo = []
    for f in files:
        target = output_for(f, out_dir, args.suffix)
        state = ledger.state(f, target, cfg, key_extra)
        if args.overwrite or state == "redo":
            todo.append((f, target))
        elif state == "done":
            rows[f] = (f.name, "skipped (done before)", "same input and pipeline", target.name)
        else:  # a file this batch did not make: never replaced without --overwrite
            failures += 1
            rows[f] = (f.name, "failed", f"{target.name} exists and was not made by this batch; pass --overwrite", "")
    if executor.whole_batch and todo:
        executor.check()
        for oc in run_on_ray(todo, cfg, args):
            if oc.ok:
                ledger.record(oc.input, Path(oc.output), cfg, key_extra)
                reused = f", {oc.reused} segments reused" if oc.reused else ""
                rows[oc.input] = (
                    oc.input.name,
                    "done",
                    f"{oc.frames} frames, {oc.segments} segments{reused}",
                    Path(oc.output).name,
                )
            else:
                failures += 1
                rows[oc.input] = (oc.input.name, "failed", _reason(oc.error or "failed", oc.input), "")
        _summary([rows[f] for f in files if f in rows], out_dir)
        return EXIT_FAIL if failures else EXIT_OK
    segmented = bool(getattr(args, "segments", None) or getattr(args, "segment_seconds", None))
    for i, (f, target) in enumerate(todo, 1):
        label = f"[{i}/{len(todo)}] {f.name}"
        reason = None
        try:
            if segmented:
                code, result = run_segmented(str(f), str(target), copy.deepcopy(cfg), args)
                if code == EXIT_OK:
                    ledger.record(f, target, cfg, key_extra)
                    rows[f] = (f.name, "done", "segmented", target.name)
                    continue
            else:
                job = Job(str(f), str(target), copy.deepcopy(cfg), overwrite=True, cut=cut)
                code, result = run_job(job, label)
        except Exception as exc:  # noqa: BLE001 - one file's failure never stops the others
            code, result, reason = exit_code(exc), None, one_line(exc)
            error(_reason(reason, f), where=f.name)
        if code in (EXIT_SIGINT, EXIT_SIGTERM):
            rows[f] = (f.name, "interrupted", "", Path(result.output).name if result and result.output else "")
            _summary([rows[g] for g in files if g in rows], out_dir)
            return code
        if code == EXIT_OK and result is not None:
            p = result.progress
            ledger.record(f, target, cfg, key_extra)
            early = f"; input ended early ({p.done} of the {p.total} frames its index lists)" if p.ended_early else ""
            rows[f] = (f.name, "done", f"{p.done} frames, {p.fps:.2f} fps{early}", target.name)
        else:
            failures += 1
            reason = reason or (result.error if result is not None and result.error else f"exit {code}")
            kept = Path(result.output).name if result and result.output and Path(result.output).exists() else ""
            rows[f] = (f.name, f"failed (exit {code})", _reason(reason, f), kept)
    _summary([rows[f] for f in files if f in rows], out_dir)
    return EXIT_FAIL if failures else EXIT_OK


class Ledger:
    """What this batch made in ``out_dir``, keyed by input and pipeline: ``.streamdeblur-batch.json``.

    An output counts as done only when the ledger says it was made from the same input (path,
    size, modification time) with the same pipeline (the fingerprint segments use: stages,
    models, weights, encoder); anything else is redone, as a segmented run would.

    Args:
        out_dir: the batch's output folder.
    """

    NAME = ".streamdeblur-batch.json"

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / self.NAME
        try:
            self.entries: dict = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = {}

    @staticmethod
    def key(inp: Path, cfg, extra: dict) -> dict:
        from ..scaleout.plan import _identity, config_fingerprint

        return {"input": _identity(inp), "pipeline": config_fingerprint(cfg), **extra}

    def state(self, inp: Path, target: Path, cfg, extra: dict) -> str:
        """``done`` (same key, output present), ``redo`` (ours but stale, or absent) or ``foreign`` (not ours)."""
        entry = self.entries.get(target.name)
        if not target.exists():
            return "redo"
        if entry is None:
            return "foreign"
        return "done" if entry == self.key(inp, cfg, extra) else "redo"

    def record(self, inp: Path, target: Path, cfg, extra: dict) -> None:
        """Note ``target`` as made from ``inp`` with ``cfg`` (written atomically)."""
        self.entries[target.name] = self.key(inp, cfg, extra)
        tmp = self.path.with_name(self.path.name + ".partial")
        tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def _summary(rows, out_dir: Path) -> None:
    """The table (every cell wraps, nothing is cut with an ellipsis) and the output folder on a line of its own."""
    t = Table(title="batch summary")
    for c in ("input", "status", "details", "output"):
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*(escape(str(x)) for x in r))
    out.print(t)
    out.print(escape(f"outputs in {out_dir}"))
