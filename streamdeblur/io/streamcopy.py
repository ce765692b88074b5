"""Stream copy (packets moved without decoding): whether a container format takes a stream.

Example:
    >>> can_stream_copy(audio_stream, "webm")                 # doctest: +SKIP
    False
"""

from __future__ import annotations

import io

import av
from av.stream import Disposition

#: What an MPEG transport stream carries as itself, by codec (FFmpeg's descriptor names). Its muxer takes
#: any stream, but writes one it has no stream type for (FLAC, ALAC, PCM, every text or PGS subtitle) as
#: private data that no player decodes: a camera MOV's PCM sound into ``.ts`` came out as ``bin_data``,
#: no sound, and the run said nothing.
TS_CARRIES = {
    "audio": frozenset({"mp2", "mp3", "aac", "aac_latm", "ac3", "eac3", "opus", "dts", "truehd", "s302m"}),
    "subtitle": frozenset({"dvb_subtitle", "dvb_teletext"}),
}


def codec_name(stream) -> str:
    """The codec's own name (``mp3``, ``hdmv_pgs_subtitle``), not its decoder's (``mp3float``, ``pgssub``)."""
    cc = stream.codec_context
    if cc is None:
        return "unknown"
    codec = getattr(cc, "codec", None)
    return getattr(codec, "canonical_name", None) or cc.name or "unknown"


def can_stream_copy(stream, fmt: str) -> bool:
    """Try the stream copy on a scratch, in-memory container of format ``fmt`` (nunif's dry run).

    Args:
        stream: an input stream (PyAV), used as the template of the output stream.
        fmt: FFmpeg muxer name (``mp4``, ``matroska``, ``nut``, …).

    Returns:
        True when the muxer accepts the stream's codec and parameters (and, in MPEG-TS, carries it as
        itself: :data:`TS_CARRIES`).
    """
    if fmt == "mpegts" and stream.type in TS_CARRIES and codec_name(stream) not in TS_CARRIES[stream.type]:
        return False
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
