"""What every sink shares: the one-line :class:`SinkError`, container formats by suffix, and the
temporary-name rule: a file is written under a new name of its own (``clip.3f9a0c.partial.mp4``) and
given its final name when complete (:func:`temporary_path`, :func:`publish`).
"""

from __future__ import annotations

import codecs
import errno
import logging
import os
import re
import secrets
import tempfile
from fractions import Fraction
from pathlib import Path

from ...errors import OutputExistsError, SinkError
from ..formats import FORMAT_BY_SUFFIX  # noqa: F401  (re-exported: sinks name it from here)

log = logging.getLogger("streamdeblur.io")


def partial_path(path: Path) -> Path:
    """``clip.mp4`` → ``clip.partial.mp4``: the fixed temporary name of a file in the tool's own work
    folder (a segment); files beside the user's take :func:`temporary_path`."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


#: the longest file name most filesystems take (bytes)
NAME_MAX = 255


def _cut_name(raw: bytes, room: int) -> bytes:
    """``raw`` (a file name's bytes) cut to ``room`` bytes, never inside a UTF-8 character (a last byte
    that would start one, as Latin-1's ``é`` does, goes too: a name one byte shorter).

    Example:
        >>> _cut_name("café".encode(), 4), _cut_name(b"caf\\xe9s", 5)
        (b'caf', b'caf\\xe9s')
    """
    # not final: the decoder keeps a character cut in two back; bytes that are not UTF-8 pass as surrogates
    return codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(raw[:room]).encode("utf-8", "surrogateescape")


def _temporary_stem(path: Path) -> str:
    """``path``'s stem, cut (in bytes, never inside a character) so that its temporary name fits :data:`NAME_MAX`.

    A name is the file system's bytes (``os.fsencode``): a file called ``caf\\xe9.mp4`` on a card written
    by an old camera or unpacked from a Latin-1 archive is not UTF-8, and encoding it as UTF-8 failed."""
    room = NAME_MAX - len(os.fsencode(f".partial{path.suffix}")) - 8  # ".3f9a0c" and a byte to spare
    return os.fsdecode(_cut_name(os.fsencode(path.stem), room)) or "out"


def temporary_path(path: Path) -> Path:
    """Create a new, empty file beside ``path`` to write it under until it is complete, and return its
    path: ``clip.mp4`` → ``clip.3f9a0c.partial.mp4``.

    The name is new (created with ``O_EXCL``, a random part tried again on a clash), so no file is ever
    written over: not an input called ``clip.partial.mp4`` (a fixed ``NAME.partial.EXT`` name was
    that input's, which the encoder truncated while it was still being read), not the temporary file
    of another run writing the same output at the same time (the two interleaved into one file that
    both called theirs), not a partial output an earlier run left. A long name is shortened in the
    temporary name only: a 251-byte output name is valid, its temporary name must be too. The file's
    mode follows the umask, as the output's would.

    Raises:
        SinkError: the folder does not take the file (one line, the output's name in it).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> t = temporary_path(folder / "clip.mp4")
        >>> t.name.startswith("clip.") and t.name.endswith(".partial.mp4"), t.stat().st_size
        (True, 0)
    """
    path = Path(path)
    stem, tail = _temporary_stem(path), f".partial{path.suffix}"
    for _ in range(100):
        tmp = path.with_name(f"{stem}.{secrets.token_hex(3)}{tail}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise SinkError(f"cannot write {path.name} in {path.parent}: {exc.strerror or exc}") from None
    raise SinkError(f"cannot find a free temporary name for {path} in {path.parent}")


def partials_of(path: Path) -> list[Path]:
    """The temporary files of ``path`` beside it (:func:`temporary_path`'s names: ``clip.3f9a0c.partial.mp4``), sorted."""
    path = Path(path)
    stem = _temporary_stem(path)
    name = re.compile(re.escape(stem) + r"\.[0-9a-f]{6}" + re.escape(f".partial{path.suffix}") + r"\Z")
    try:
        return sorted(p for p in path.parent.iterdir() if name.match(p.name))
    except OSError:
        return []


def publish(tmp: Path, path: Path, overwrite: bool = True) -> None:
    """Give the finished file ``tmp`` its final name ``path``, in one step (a reader sees the old file or the new).

    ``overwrite`` False: a file that appeared at ``path`` while this one was written (another run
    writing the same output; the check before the run found none) is not replaced: the link that
    makes the name fails if the name is taken, so the test and the naming are one step. Filesystems
    without hard links (FAT, some network shares) are checked, then renamed.

    Raises:
        SinkError: ``path`` was taken meanwhile (``tmp`` is kept and named), or cannot be made.
    """
    if overwrite:
        _rename(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise SinkError(
            f"{path} appeared while this run was writing it (another run writing the same output?); "
            f"this run's output is kept as {tmp}",
            kept=tmp,
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise _not_named(path, tmp, exc) from None
        if os.path.lexists(path):  # no hard links here: check, then rename
            taken = f"{path} appeared while this run was writing it; this run's output is kept as {tmp}"
            raise SinkError(taken, kept=tmp) from None
        _rename(tmp, path)
        return
    tmp.unlink()


def _rename(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except OSError as exc:
        raise _not_named(path, tmp, exc) from None


def _not_named(path: Path, tmp: Path, exc: OSError) -> SinkError:
    """The output could not be named: where it is kept, or (its file or folder was deleted during the run:
    "kept as X" named a file that was not there) that nothing is."""
    if not tmp.exists():
        return SinkError(
            f"cannot name the output {path}: {tmp}, the file it was written to, is gone (deleted during the run?)",
            finished=True,
        )
    return SinkError(f"cannot name the output {path}: {exc.strerror or exc}; it is kept as {tmp}", kept=tmp)


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
    if os.path.lexists(path) and not overwrite:  # a dangling link too: the name is taken
        raise OutputExistsError(path)


def check_output(path: Path, inputs: list[Path] | None = None, overwrite: bool = False) -> None:
    """Refuse unsafe outputs before any decoding starts (same file as an input, existing file,
    unwritable folder)."""
    path = Path(path)
    size = len(os.fsencode(path.name))
    if size > NAME_MAX:  # a long input's default NAME_deblurred.EXT: "[Errno 36] File name too long: 'aaa…'"
        raise SinkError(
            f"the output's name is {size} bytes long, more than the {NAME_MAX} a file name may have: give a shorter one with -o"
        )
    if path.is_dir():  # --overwrite would run the whole job, then fail to put the file there
        raise SinkError(f"output {path} is a folder; give a file name (such as {path / ('out' + path.suffix)})")
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


def container_options(
    fmt: str, time_base: Fraction | None, start_time: float | None = None, origin: float = 0.0
) -> dict[str, str]:
    """Muxer options that keep timestamps exact.

    MP4/MOV store a stream's start offset (its first ``pts`` when that is not 0: a cut from a
    longer recording, a segment) in an edit list counted in the *movie* time scale, which FFmpeg
    sets to 1000 by default: the offset is rounded to a millisecond and every ``pts`` read back
    moves by up to one tick of it. Using the stream's own time scale keeps them exact.

    A source that starts before 0 (an MPEG-TS recording across its 26.5-hour clock wrap) would
    have its first frames and sound hidden by that edit list in MP4/MOV (44 of 60 frames played):
    there every stream is moved by the same amount so that the file starts at 0, as FFmpeg's
    command line does (``avoid_negative_ts=make_zero``).

    ``origin`` (:attr:`~streamdeblur.io.frames.SourceInfo.origin`): a transport stream's clock start,
    taken off every stream's timestamps as they are written (``output_ts_offset``): a 0.4 s camcorder clip
    whose clock read 1 h became a 1-hour MP4 of empty lead-in; it starts at 0, as FFmpeg's own does.

    Example:
        >>> container_options("mp4", Fraction(1, 90000), 3601.4, origin=3601.4)
        {'movie_timescale': '90000', 'output_ts_offset': '-3601.400000'}
    """
    opts: dict[str, str] = {}
    if fmt in ("mp4", "mov") and time_base is not None and 0 < time_base.denominator < 2**31:
        opts["movie_timescale"] = str(time_base.denominator)
    if origin:
        opts["output_ts_offset"] = f"{-origin:.6f}"
    elif fmt in ("mp4", "mov") and start_time is not None and start_time < 0:
        opts["avoid_negative_ts"] = "make_zero"
    return opts
