"""How a local file's name is handed to FFmpeg.

FFmpeg reads ``name:rest`` as a protocol and a location: a file of yours called ``http:x.mp4`` or
``clip 10:30.mp4``'s cousin ``a:b.mp4`` was opened as a URL (``Input/output error``). A local name
that is not a URL of ours (``scheme://``) and has a colon before its first slash goes through FFmpeg's
``file:`` protocol, which takes the rest as a path.
"""

from __future__ import annotations

import re
from pathlib import Path

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
