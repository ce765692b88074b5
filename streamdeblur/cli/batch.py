"""``streamdeblur batch``: many inputs, one output folder, resumable, failure-tolerant.

* Outputs already finished (final name present) are skipped, so running the same command again
  resumes where an earlier run stopped; an unfinished ``*.partial.*`` file is redone.
* One failing file is reported and the others go on; the summary table lists every file.
* Ctrl-C stops after the file in progress has been closed (playable, kept as partial).
"""

from __future__ import annotations

import argparse
import copy
import glob
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..errors import EXIT_FAIL, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, exit_code, one_line
from ..io.sources import IMAGE_EXTS, VIDEO_EXTS
from .console import error, out
from .parser import add_pipeline_flags, add_scale_flags, config_from_args
from .progress import run_job
from .scale import run_on_ray, run_segmented

NAME = "batch"
HELP = "process many files; resumes, never stops at one failure"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="files, folders or globs")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--suffix", default=None, help="output container suffix (default: same as input, .mp4 for others)")
    add_pipeline_flags(p, "batch")
    add_scale_flags(p)


def run(args) -> int:
    return run_batch(args, config_from_args(args))


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


def output_for(inp: Path, out_dir: Path, suffix: str | None) -> Path:
    suf = suffix or (inp.suffix.lower() if inp.suffix.lower() in (".mp4", ".mkv", ".mov", ".webm") else ".mp4")
    if not suf.startswith("."):
        suf = "." + suf
    return out_dir / f"{inp.stem}{suf}"


def run_batch(args, cfg) -> int:
    """Process ``args.inputs`` into ``args.out_dir``; prints the summary table; returns the exit code."""
    from ..engine.build import Job
    from ..scaleout import executor_class

    executor = executor_class(getattr(args, "executor", "local"))
    files = expand_inputs(args.inputs)
    if not files:
        error("no input files found")
        return EXIT_USAGE
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, failures = [], 0
    todo = []
    for f in files:
        target = output_for(f, out_dir, args.suffix)
        if target.exists() and not args.overwrite:
            rows.append((f.name, "skipped (done before)", "", str(target)))
        else:
            todo.append((f, target))
    if executor.whole_batch and todo:
        executor.check()
        for oc in run_on_ray(todo, cfg, args):
            if oc.ok:
                reused = f", {oc.reused} segments reused" if oc.reused else ""
                rows.append((oc.input.name, "done", f"{oc.frames} frames, {oc.segments} segments{reused}", str(oc.output)))
            else:
                failures += 1
                rows.append((oc.input.name, "failed", oc.error, ""))
        _summary(rows)
        return EXIT_FAIL if failures else EXIT_OK
    segmented = bool(getattr(args, "segments", None) or getattr(args, "segment_seconds", None))
    for i, (f, target) in enumerate(todo, 1):
        label = f"[{i}/{len(todo)}] {f.name}"
        try:
            if segmented:
                code, result = run_segmented(str(f), str(target), copy.deepcopy(cfg), args)
                if code == EXIT_OK:
                    rows.append((f.name, "done", "segmented", str(result)))
                    continue
            else:
                code, result = run_job(Job(str(f), str(target), copy.deepcopy(cfg), overwrite=args.overwrite), label)
        except Exception as exc:  # noqa: BLE001 - one file's failure never stops the others
            code, result = exit_code(exc), None
            error(one_line(exc), where=f.name)
        if code in (EXIT_SIGINT, EXIT_SIGTERM):
            rows.append((f.name, "interrupted", "", str(result.output) if result else ""))
            _summary(rows)
            return code
        if code == EXIT_OK and result is not None:
            p = result.progress
            rows.append((f.name, "done", f"{p.done} frames, {p.fps:.2f} fps", str(result.output)))
        else:
            failures += 1
            msg = result.error if result is not None and result.error else "failed (see above)"
            rows.append((f.name, f"failed (exit {code})", msg, str(result.output) if result and result.output else ""))
    _summary(rows)
    return EXIT_FAIL if failures else EXIT_OK


def _summary(rows) -> None:
    t = Table(title="batch summary")
    for c in ("input", "status", "details", "output"):
        t.add_column(c)
    for r in rows:
        t.add_row(*(escape(str(x)) for x in r))
    out.print(t)
