"""How a local file's name is handed to FFmpeg.

FFmpeg reads ``name:rest`` as a protocol and a location: a file of yours called ``http:x.mp4`` or
``clip 10:30.mp4``'s cousin ``a:b.mp4`` was opened as a URL (``Input/output error``). A local name
that is not a URL of ours (``scheme://``) and has a colon before its first slash goes through FFmpeg's
``file:`` protocol, which takes the rest as a path.

:func:`open_input` opens an input so named, with the same leniency about its tags on every PyAV this
package runs on (``av>=18``): PyAV 18 raised on a tag value that is not UTF-8 unless ``av.open`` was
given ``metadata_errors="replace"``; PyAV 19 (wheels for Python 3.12 and newer only) dropped that
argument (every input failed with "open() got an unexpected keyword argument") and keeps such bytes as
surrogate escapes, which go back out unchanged when the tags are copied into an output.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def ffmpeg_name(spec: str | Path) -> str:
    """``spec`` as FFmpeg must be given it: URLs and plain paths unchanged, a local path with a colon
    before its first slash behind ``file:``.

    Example:
        >>> ffmpeg_name("http:x.mp4"), ffmpeg_name("clips/a.mp4"), ffmpeg_name("rtsp://cam/1")
        ('file:http:x.mp4', 'clips/a.mp4', 'rtsp://cam/1')
    """
    s = str(spec)
    if _URL.match(s) or ":" not in s.split("/", 1)[0]:
        return s
    return "file:" + s


def open_input(spec: str | Path, **kwargs: Any):
    """``av.open`` for reading ``spec`` (a path or a URL; named as :func:`ffmpeg_name` says), where a tag
    that is not UTF-8 is never an error, whichever PyAV is installed.

    Args:
        spec: the input.
        **kwargs: passed to ``av.open`` (``options``, ``timeout``, ...).

    Returns:
        The open ``av.container.InputContainer``.
    """
    import av  # here: this module is imported where PyAV need not be (training on a GPU machine)

    if int(av.__version__.split(".")[0]) < 19:
        kwargs.setdefault("metadata_errors", "replace")
    return av.open(ffmpeg_name(spec), **kwargs)


def is_url(spec: str | Path) -> bool:
    """Whether ``spec`` is a URL (``scheme://…``: a stream or a camera), not a local name.

    Example:
        >>> is_url("rtsp://cam/1"), is_url("http:x.mp4"), is_url("clips/a.mp4")
        (True, False, False)
    """
    return bool(_URL.match(os.fspath(spec)))


def is_glob(spec: str | Path) -> bool:
    """Whether ``spec`` is a pattern to expand (``clips/*.mp4``, ``frame_????.png``) rather than a name:
    it holds ``*``, ``?`` or ``[`` and no file or folder of exactly that name exists. Names with those
    characters are common: yt-dlp saves ``Title [id].mkv``, cameras and editors write ``take[1].mp4``.

    Args:
        spec: what the user gave.

    Returns:
        True for a pattern, False for a name (existing or not) without pattern characters or an existing one with them.

    Example:
        >>> is_glob("no/such/dir/*.mp4"), is_glob("clip.mp4"), is_glob(".")
        (True, False, False)
    """
    s = os.fspath(spec)
    return any(ch in s for ch in "*?[") and not os.path.lexists(s)


_CREDENTIALS = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*):[^@\s/]*@")


def without_password(text: str) -> str:
    """``text`` with the password of every URL in it hidden (``rtsp://admin:hunter2@cam/1`` → ``rtsp://admin:***@cam/1``):
    a camera's address is said in progress lines, warnings and errors, which users paste into bug reports and logs.

    Example:
        >>> without_password("camera rtsp://admin:hunter2@10.0.0.5:554/live lost; http://cam/x.mjpg")
        'camera rtsp://admin:***@10.0.0.5:554/live lost; http://cam/x.mjpg'
    """
    return _CREDENTIALS.sub(r"\1:***@", text)
