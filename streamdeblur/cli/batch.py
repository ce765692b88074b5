"""``streamdeblur batch``: many inputs, one output folder, resumable, failure-tolerant.

* Outputs already finished (final name present) are skipped, so running the same command again
  resumes where an earlier run stopped; an unfinished ``*.partial.*`` file is redone.
* One failing file is reported and the others go on; the summary table lists every file.
* Ctrl-C stops after the file in progress has been closed (playable, kept as partial).
"""

from __future__ import annotations

import glob
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..io.sources import IMAGE_EXTS

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v", ".ts", ".mts", ".mpg", ".mpeg", ".wmv", ".flv"}


def expand_inputs(items: list[str]) -> list[Path]:
    """Files, folders (their videos, sorted) and globs → unique files in order."""
    files: list[Path] = []
    for it in items:
        p = Path(it)
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in VIDEO_SUFFIXES)
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


def run_batch(args, cfg, run_job, out, err, run_segmented=None, run_on_ray=None) -> int:
    import copy

    from ..engine.build import Job
    from . import EXIT_FAIL, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, _classify, _message

    files = expand_inputs(args.inputs)
    if not files:
        err.print("[red]streamdeblur: error:[/red] no input files found")
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
    if getattr(args, "executor", "local") == "ray" and todo:
        from ..scaleout.ray import import_ray

        import_ray()
        for oc in run_on_ray(todo, cfg, args):
            if oc.ok:
                reused = f", {oc.reused} segments reused" if oc.reused else ""
                rows.append((oc.input.name, "done", f"{oc.frames} frames, {oc.segments} segments{reused}", str(oc.output)))
            else:
                failures += 1
                rows.append((oc.input.name, "failed", oc.error, ""))
        _summary(out, rows)
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
            code, result = _classify(exc), None
            err.print(f"[red]{escape(f.name)}: error:[/red] {escape(_message(exc))}")
        if code in (EXIT_SIGINT, EXIT_SIGTERM):
            rows.append((f.name, "interrupted", "", str(result.output) if result else ""))
            _summary(out, rows)
            return code
        if code == EXIT_OK and result is not None:
            p = result.progress
            rows.append((f.name, "done", f"{p.done} frames, {p.fps:.2f} fps", str(result.output)))
        else:
            failures += 1
            msg = result.error if result is not None and result.error else "failed (see above)"
            rows.append((f.name, f"failed (exit {code})", msg, str(result.output) if result and result.output else ""))
    _summary(out, rows)
    return EXIT_FAIL if failures else EXIT_OK


def _summary(out, rows) -> None:
    t = Table(title="batch summary")
    for c in ("input", "status", "details", "output"):
        t.add_column(c)
    for r in rows:
        t.add_row(*(escape(str(x)) for x in r))
    out.print(t)
