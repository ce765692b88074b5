"""What every sink shares: the one-line :class:`SinkError`, container formats by suffix, and the
temporary-name rule (``clip.partial.mp4`` until complete).
"""

from __future__ import annotations

import logging
import os
import tempfile
from fractions import Fraction
from pathlib import Path

from ...errors import OutputExistsError, SinkError

log = logging.getLogger("streamdeblur.io")

FORMAT_BY_SUFFIX = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
    ".ts": "mpegts",
}


def partial_path(path: Path) -> Path:
    """Where a file is written until it is complete: ``clip.mp4`` → ``clip.partial.mp4``."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def refuse_overwrite(path: Path, inputs: list[Path] | None = None, overwrite: bool = False, what: str = "the input file") -> None:
    """Refuse an output that is one of ``inputs`` (always) or an existing file (without ``overwrite``);
    ``what`` names the inputs in the message.

    Raises:
        SinkError: ``path`` is an input (the same file under any name: links, ``..``).
        OutputExistsError: ``path`` exists and ``overwrite`` was not given.
    """
    path = Path(path)
    for inp in inputs or []:
        try:
            same = path.exists() and inp.exists() and os.path.samefile(path, inp)
        except OSError:
            same = False
        if same or path.resolve() == Path(inp).resolve():
            raise SinkError(f"output {path} is {what}; refusing to overwrite it")
    if path.exists() and not overwrite:
        raise OutputExistsError(path)


def check_output(path: Path, inputs: list[Path] | None = None, overwrite: bool = False) -> None:
    """Refuse unsafe outputs before any decoding starts (same file as an input, existing file,
    unwritable folder)."""
    path = Path(path)
    refuse_overwrite(path, inputs, overwrite)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        if folder.exists():  # -o photo.jpg/x.mp4
            raise SinkError(f"{folder} is a file, not a folder: cannot write {path.name} inside it")
        raise SinkError(f"output folder does not exist: {folder}")
    try:  # a real write, not os.access: read-only filesystems and root-squashed mounts say no here
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".streamdeblur-probe-"):
            pass
    except OSError as exc:
        raise SinkError(f"output folder is not writable: {folder} ({exc.strerror or exc})") from None


def container_options(fmt: str, time_base: Fraction | None, start_time: float | None = None) -> dict[str, str]:
    """Muxer options that keep timestamps exact.

    MP4/MOV store a stream's start offset (its first ``pts`` when that is not 0: a cut from a
    longer recording, a segment) in an edit list counted in the *movie* time scale, which FFmpeg
    sets to 1000 by default: the offset is rounded to a millisecond and every ``pts`` read back
    moves by up to one tick of it. Using the stream's own time scale keeps them exact.

    A source that starts before 0 (an MPEG-TS recording across its 26.5-hour clock wrap) would
    have its first frames and sound hidden by that edit list in MP4/MOV (44 of 60 frames played):
    there every stream is moved by the same amount so that the file starts at 0, as FFmpeg's
    command line does (``avoid_negative_ts=make_zero``).
    """
    opts: dict[str, str] = {}
    if fmt in ("mp4", "mov") and time_base is not None and 0 < time_base.denominator < 2**31:
        opts["movie_timescale"] = str(time_base.denominator)
    if fmt in ("mp4", "mov") and start_time is not None and start_time < 0:
        opts["avoid_negative_ts"] = "make_zero"
    return opts
