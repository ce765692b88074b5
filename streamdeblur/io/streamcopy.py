"""Stream copy (packets moved without decoding): whether a container format takes a stream.

Example:
    >>> can_stream_copy(audio_stream, "webm")                 # doctest: +SKIP
    False
"""

from __future__ import annotations

import io

import av
from av.stream import Disposition


def can_stream_copy(stream, fmt: str) -> bool:
    """Try the stream copy on a scratch, in-memory container of format ``fmt`` (nunif's dry run).

    Args:
        stream: an input stream (PyAV), used as the template of the output stream.
        fmt: FFmpeg muxer name (``mp4``, ``matroska``, ``nut``, …).

    Returns:
        True when the muxer accepts the stream's codec and parameters.
    """
    try:
        buf = io.BytesIO()
        with av.open(buf, "w", format=fmt) as c:
            c.add_stream_from_template(stream)
            c.start_encoding()
        return True
    except Exception:  # noqa: BLE001 - any refusal means "no"
        return False


def is_cover(stream) -> bool:
    """A cover picture (a video stream marked attached picture) or an attached file (MKV's fonts, images)."""
    return stream.type == "attachment" or (stream.type == "video" and bool(stream.disposition & Disposition.attached_pic))
