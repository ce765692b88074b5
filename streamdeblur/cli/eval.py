"""``streamdeblur eval``: how good is it? Three modes, one command.

- photographs: PSNR/SSIM of baselines and models on a held-out evaluation set (``--eval-set``);
- a video: a finished output against its sharp reference (``--video OUT --reference SHARP``, and
  ``--input BLURRY`` for the gain): PSNR, SSIM, tPSNR (flicker) and the warping error;
- a dev set: pipelines run on every ``<name>.blurry.mp4`` of a folder and judged against its
  ``<name>.sharp.mkv`` (``--clips DIR --pipeline NAME``), what the README's tables come from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ProcessingError, UsageError
from .console import out

NAME = "eval"
HELP = "how good is it: photos on the held-out split, a video against its reference, or a dev set of clips"


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("photographs (the default mode)")
    g.add_argument(
        "--eval-set",
        help="evaluation set (.pt) from 'data build' (default data/sharp/val_motion.pt, the validation split)",
    )
    g.add_argument("--model", action="append", default=[], help="model[:weights] to evaluate (repeatable)")
    g.add_argument("--limit", type=int, help="only the first N samples")
    v = p.add_argument_group("a video against its sharp reference")
    v.add_argument("--video", help="the finished video to judge (e.g. what `streamdeblur run` wrote)")
    v.add_argument("--reference", help="the sharp ground truth, frame for frame")
    v.add_argument(
        "--input",
        help="the blurry input the video was made from: adds its numbers, the gain and the worst frame, and the "
        "warping error's flow comes from it (as in a dev set; without it, from the reference)",
    )
    c = p.add_argument_group("a dev set of clips")
    c.add_argument("--clips", help="folder of <name>.blurry.mp4 + <name>.sharp.mkv (python -m streamdeblur.train.devset)")
    c.add_argument(
        "--pipeline", action="append", help="pipeline to run on each clip: shipped name, YAML or 'identity' (repeatable)"
    )
    c.add_argument("--only", nargs="*", help="clip names")
    c.add_argument("--aligned", action="store_true", help="also the gain after each frame's best global shift (diagnostic)")
    p.add_argument(
        "--out",
        help="photographs: folder for the table and the example strip (default runs/eval); "
        "a video or a dev set: the Markdown report file (a dev set also writes its .json beside it)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing report: --out's eval.md, eval.json and examples.png (photographs), its report file "
        "(a video) or its report and the .json beside it (a dev set)",
    )


def _mode(args) -> str:
    video = [f"--{k}" for k in ("video", "reference", "input") if getattr(args, k)]
    clips = [f"--{k}" for k in ("clips", "pipeline", "only") if getattr(args, k)] + (["--aligned"] if args.aligned else [])
    photos = [f"--{k.replace('_', '-')}" for k in ("eval_set", "model", "limit") if getattr(args, k)]
    used = [name for name, flags in (("video", video), ("clips", clips), ("photos", photos)) if flags]
    if len(used) > 1:
        mixed = {"video": video, "clips": clips, "photos": photos}
        raise UsageError(
            "eval judges one thing at a time: " + " and ".join(" ".join(mixed[u]) for u in used) + " do not go together"
        )
    mode = used[0] if used else "photos"
    if mode == "video" and not (args.video and args.reference):
        raise UsageError("a video is judged against its sharp reference: give both --video OUT and --reference SHARP")
    if mode == "clips" and not args.clips:
        raise UsageError("--pipeline and --only choose what runs on a dev set: give it with --clips DIR")
    return mode


REPORT_SUFFIXES = (".md", ".markdown", ".txt")


def _check_report(path: str | None, what: str, judged: tuple = (), overwrite: bool = False, beside: bool = False) -> None:
    """``--out`` for a video or a dev set: a file in an existing folder, never something else's name
    (``judged``: the files being judged, which the report must not replace), an existing file only with
    ``overwrite`` (``--out notes.txt`` replaced the user's notes without a word). ``beside``: a dev set's
    report, whose ``.json`` is written beside it: that file too only with ``overwrite``, and a ``.json``
    report name is refused (the Markdown was written, then the JSON over it)."""
    if not path:
        return
    target = Path(path)
    if beside and target.suffix.lower() == ".json":
        md = target.with_suffix(".md")
        raise UsageError(f"--out {path}: the report is Markdown and its .json goes beside it; give e.g. {md}")
    if any(f and Path(f).resolve() == target.resolve() for f in judged):
        raise UsageError(f"--out {path} is one of the videos being judged; the report needs a name of its own")
    if target.is_dir():
        raise UsageError(f"--out {path} is a folder; for {what} it names the report file (e.g. report.md)")
    if not target.parent.is_dir():  # before the work, not after it
        raise UsageError(f"--out {path}: no folder {target.parent}")
    if target.exists() and target.suffix.lower() not in REPORT_SUFFIXES:
        raise UsageError(f"--out {path} exists and is not a report (.md, .txt): give the report a name of its own")
    if target.exists() and not overwrite:
        raise UsageError(f"--out {path} exists; pass --overwrite to replace it")
    numbers = target.with_suffix(".json")
    if beside and numbers.exists() and not overwrite:
        raise UsageError(f"--out {path}: {numbers} (its numbers, written beside it) exists; pass --overwrite to replace it")


def run(args) -> int:
    mode = _mode(args)
    if mode == "video":
        from ..train.video_eval import format_score, score_video, write_atomic

        _check_report(args.out, "a video", judged=(args.video, args.reference, args.input), overwrite=args.overwrite)
        text = format_score(score_video(args.video, args.reference, args.input))
        out.print(text, markup=False)
        if args.out:
            write_atomic(Path(args.out), text + "\n")
            out.print(f"wrote {args.out}", markup=False)
        return 0
    if mode == "clips":
        from ..train.video_eval import run_clips

        _check_report(args.out, "a dev set", overwrite=args.overwrite, beside=True)
        command = "streamdeblur eval --clips " + args.clips + "".join(f" --pipeline {p}" for p in args.pipeline or [])
        try:
            run_clips(
                args.clips,
                args.pipeline,
                args.only,
                Path(args.out) if args.out else None,
                aligned=args.aligned,
                command=command,
                log=lambda m: out.print(m, markup=False),
            )
        except ValueError as e:  # no clips there, --out's folder missing
            raise UsageError(str(e)) from None
        except RuntimeError as e:  # a pipeline failed on a clip
            raise ProcessingError(str(e)) from None
        return 0
    from ..train.evaluate import run_eval

    args.eval_set = args.eval_set or "data/sharp/val_motion.pt"
    args.out = args.out or "runs/eval"
    return run_eval(args, out)
