"""``streamdeblur data build``: assemble sharp training content and the evaluation sets."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import EXIT_OK, UsageError
from .console import out, say
from .parser import common_flags

NAME = "data"
HELP = "training data"


def add_arguments(p: argparse.ArgumentParser) -> None:
    dsub = p.add_subparsers(dest="data_command", required=True)
    d = dsub.add_parser("build", parents=[common_flags()], help="assemble sharp content from Debian packages and your folders")
    d.add_argument("--out", default="data/sharp", help="output folder (default data/sharp)")
    d.add_argument("--source", action="append", default=[], help="your own folder of sharp images/videos (repeatable)")
    d.add_argument("--no-debian", action="store_true", help="only your folders")
    d.add_argument("--cache", help="where .deb files are downloaded and unpacked (default OUT/debs)")
    d.add_argument("--eval-crops", type=int, default=4, help="evaluation crops per validation image (test: twice)")


def run(args) -> int:
    from ..train.data import BuildOptions, build
    from ..train.dataset import make_eval_sets

    dest = Path(args.out)
    for folder in args.source:
        if not Path(folder).is_dir():
            what = "is a file, not a folder" if Path(folder).exists() else "does not exist"
            raise UsageError(f"--source {folder} {what} (give a folder of your sharp photos and videos)")
    if args.no_debian and not args.source:
        raise UsageError("--no-debian without --source leaves nothing to build from")
    if args.eval_crops < 1:
        raise UsageError(f"--eval-crops must be at least 1 (got {args.eval_crops})")
    opts = BuildOptions(
        out=dest,
        debian=not args.no_debian,
        sources=tuple(Path(s) for s in args.source),
        cache=Path(args.cache) if args.cache else None,
    )
    manifest = build(opts, log=say)
    sets = make_eval_sets(dest, {"val": args.eval_crops, "test": 2 * args.eval_crops})
    kept = [e for e in manifest["files"] if "split" in e]
    count = {s: sum(e["split"] == s for e in kept) for s in ("train", "val", "test")}
    crops = ", ".join(f"{k} {len(v['blurry'])}" for k, v in sets.items())
    out.print(
        f"built {dest}: {count['train']} training, {count['val']} validation and {count['test']} test sources; "
        f"evaluation crops: {crops}; manifest {dest / 'manifest.json'}"
    )
    return EXIT_OK
