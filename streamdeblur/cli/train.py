"""``streamdeblur train``: train a model from a YAML recipe (resumable), export it, write its card."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from ..errors import EXIT_OK, SinkError, UsageError, signal_exit_code
from .console import err, out, say

NAME = "train"
HELP = "train a model from a YAML recipe (resumable)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="training recipe: a YAML file or a shipped recipe's name (motion-t, defocus-fdikp, …)")
    p.add_argument("--steps", type=int, help="override the step count")
    p.add_argument("--threads", type=int, help="override the CPU threads (runtime only; the recipe is unchanged)")
    p.add_argument("--minutes", type=float, help="time budget of this session (checkpoints every minute; resumable)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (bf16 autocast as the recipe says)")
    p.add_argument(
        "--resume-anyway", action="store_true", help="resume although the recipe or code changed (recorded in the run's log)"
    )
    p.add_argument("--export", help="after training, write the EMA weights (fp16) here")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="let --export replace an existing weights file (and its .state; with --card-subset, its card .md/.json)",
    )
    p.add_argument("--export-only", action="store_true", help="only export the run's current checkpoint (no training)")
    p.add_argument(
        "--card-subset",
        help="after exporting, evaluate on the test split of the recipe's data and write the weight card, "
        "with this committed subset (e.g. tests/data/card_subset_motion.pt)",
    )


def run(args) -> int:
    from ..train.trainer import ResumeRefused, TrainConfig, Trainer, check_device, check_minutes, export_checkpoint, hold_run

    over = {k: v for k, v in (("steps", args.steps), ("threads", args.threads)) if v is not None}
    cfg = TrainConfig.from_yaml(args.config, over or None)
    device = check_device(args.device)
    check_minutes(args.minutes, cfg.steps)
    if args.card_subset and not args.export:
        raise UsageError("--card-subset needs --export PATH (the card describes the exported weights)")
    if args.export:
        _check_export_target(Path(args.export), Path(cfg.out), args.overwrite, card=bool(args.card_subset))
    if args.card_subset:
        _check_subset(Path(args.card_subset))  # before the export and minutes of evaluation, not after
    if Path(cfg.out).exists() and not Path(cfg.out).is_dir():  # was a raw "[Errno 17] File exists", exit 1
        raise SinkError(f"out: {cfg.out} is a file, not a run folder")
    if args.export_only:
        if not args.export:
            raise UsageError("--export-only needs --export PATH")
        if not (Path(cfg.out) / "last.pt").exists():  # was a raw "[Errno 2] No such file or directory"
            raise UsageError(f"no checkpoint in {cfg.out} to export (train first: streamdeblur train {args.config})")
        out.print(f"exported {export_checkpoint(Path(cfg.out) / 'last.pt', Path(args.export))}")
        _card(args, cfg)
        return EXIT_OK
    with hold_run(Path(cfg.out)):  # a second session on the same run folder is refused, not mixed in
        try:
            trainer = Trainer(cfg, log=say, device=device, minutes=args.minutes, resume_anyway=args.resume_anyway)
        except ResumeRefused as exc:
            raise UsageError(str(exc)) from exc
        trainer.run()
        return _finish(args, cfg, trainer)


def _finish(args, cfg, trainer) -> int:
    """After the training: the exit code of a stopped session, or the export and card."""
    if trainer.stopped_by is not None:
        # the checkpoint is saved and resumable; a half-trained model is not exported (nor carded)
        if args.export:
            err.print(f"interrupted: not exported (export the checkpoint with --export-only --export {escape(args.export)})")
        return signal_exit_code(trainer.stopped_by)
    if args.export:
        out.print(f"exported {trainer.export(Path(args.export))}")
        _card(args, cfg)
    return EXIT_OK


def _check_subset(path: Path) -> None:
    """The ``--card-subset`` file, when it exists, is a readable subset (a text file failed after the
    export and minutes of evaluation, with PyTorch's paragraph advising ``weights_only=False``); a
    missing one is made from the dataset."""
    from ..train.card import read_subset

    if path.exists():
        read_subset(path)
    elif not path.parent.is_dir():
        raise SinkError(f"--card-subset {path}: the folder {path.parent} does not exist")


def _check_export_target(path: Path, run: Path, overwrite: bool = False, card: bool = False) -> None:
    """The weights file ``--export`` names can be written: a folder there left ``NAME.partial`` (4 MiB)
    behind and a raw "[Errno 21] Is a directory" after the training. An existing file (another run's
    weights, the shipped ones), its ``.state`` or (with ``--card-subset``) its card ``.md``/``.json`` is
    replaced only with ``--overwrite``; the run's own checkpoint never (``--export runs/X/last.pt``
    destroyed the training it was exporting); a ``.state`` name never (the weights were written there,
    then overwritten by the resume state, and the export said it succeeded)."""
    if path.suffix == ".state":
        raise UsageError(f"--export {path}: a .state name is the resume state's, written beside the weights; give NAME.pt")
    if path.is_dir():
        raise UsageError(f"--export {path} is a folder: give the weights file's name, e.g. {path / 'weights.pt'}")
    if path.parent.exists() and not path.parent.is_dir():
        raise UsageError(f"--export {path}: {path.parent} is a file, not a folder")
    if not path.parent.is_dir():
        raise UsageError(f"--export {path}: the folder {path.parent} does not exist")
    card_files = (path.with_suffix(".md"), path.with_suffix(".json")) if card else ()
    taken = [t for t in (path, path.with_suffix(".state"), *card_files) if t.exists()]
    own = {(run / name).resolve() for name in ("last.pt", "last.state")}
    if any(t.resolve() in own for t in taken):
        raise UsageError(f"--export {path} is the run's own checkpoint ({run}): give the weights another name")
    if taken and not overwrite:
        also = " (and its .state and card)" if card else " (and its .state)"
        raise UsageError(f"--export {taken[0]} exists; pass --overwrite to replace it{also}, or give another name")


def _card(args, cfg) -> None:
    if not args.card_subset:
        return
    from ..train.card import write_card

    path = write_card(args.export, cfg.data, args.card_subset, recipe=args.config, extend_subset=False)
    out.print(f"card {path} and {path.with_suffix('.md')}")
