"""The footage's own metadata, carried to the output: when and where it was shot, on what, in what language, its chapters.

A phone writes the capture date (``creation_time``; Apple's ``com.apple.quicktime.creationdate``),
the place (``location``, ``com.apple.quicktime.location.ISO6709``), the camera
(``com.apple.quicktime.make``/``model``), a title, and a language per audio track. Galleries sort
and map videos by these: an output without them lands on the day it was processed, nowhere.
FFmpeg's command line copies them by default (``-map_metadata``); so does every output here.

What is *not* copied is what describes the old file rather than the footage: the muxer's brand
and version, the encoder's name, Matroska's per-stream statistics (``DURATION``, ``BPS``,
``NUMBER_OF_FRAMES``…, rewritten by the muxer), a ``rotate`` tag (pictures are turned upright
at decode, :mod:`.orientation`).

MP4 and MOV hold arbitrary keys (Apple's reverse-DNS ones) only in the ``mdta`` key list, which
FFmpeg writes when asked (``movflags=use_metadata_tags``): :func:`muxer_flags` asks for it
whenever there is such a key to keep.

A file may hold a key twice (a MOV written with ``use_metadata_tags`` has ``creation_time`` in its
movie header and in its key list). PyAV 18 gave the last value; PyAV 19 gives them joined by ``;``
(``2024-07-14T10:20:30Z;2024-07-14T10:20:30Z``, a date no gallery reads, and Matroska's muxer then
dropped it): :func:`keep_tags` keeps one value where the joined values are the same.

Example:
    >>> keep_tags({"creation_time": "2024-07-14T10:20:30Z", "encoder": "Lavf59", "BPS-eng": "900"})
    {'creation_time': '2024-07-14T10:20:30Z'}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import av

from .paths import open_input
from .streams import video_stream

#: Tags about the file, not the footage (lower case; Matroska's statistics tags match by prefix too).
DROPPED = frozenset(
    {"encoder", "major_brand", "minor_version", "compatible_brands", "rotate", "duration", "bps", "number_of_frames"}
    | {"number_of_bytes", "vendor_id", "encoder_options"}
)
#: Keys MP4/MOV write without ``use_metadata_tags`` (FFmpeg's movenc knows them by name).
MOV_NATIVE = frozenset(
    {"title", "artist", "album_artist", "album", "date", "comment", "genre", "copyright", "composer", "description"}
    | {"synopsis", "show", "episode_id", "network", "lyrics", "grouping", "keywords", "creation_time", "location"}
    | {"make", "model", "encoder", "track", "disc", "compilation", "gapless_playback", "language", "handler_name"}
)


def keep_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags of ``tags`` that describe the footage (see the module docstring for what is left out).

    Args:
        tags: a container's or stream's metadata, as PyAV reads it.

    Returns:
        a new dict, in the same order.

    Example:
        >>> keep_tags({"creation_time": "2024-07-14T10:20:30Z;2024-07-14T10:20:30Z", "title": "a;b"})
        {'creation_time': '2024-07-14T10:20:30Z', 'title': 'a;b'}
    """
    out = {}
    for k, v in tags.items():
        low = k.lower()
        if low.split("-")[0] in DROPPED or low.startswith("_statistics_"):  # "BPS-eng": Matroska's per-language form
            continue
        parts = v.split(";") if isinstance(v, str) else [v]
        out[k] = parts[0] if len(parts) > 1 and len(set(parts)) == 1 else v  # one key twice, as PyAV 19 reads it
    return out


def muxer_flags(fmt: str, tags: Mapping[str, str]) -> dict[str, str]:
    """Muxer options needed to write ``tags`` into a ``fmt`` container (MP4/MOV: the ``mdta`` key list)."""
    if fmt in ("mp4", "mov") and any(k.lower().split("-")[0] not in MOV_NATIVE for k in tags):
        return {"movflags": "use_metadata_tags"}
    return {}


@dataclass
class FootageTags:
    """What an output takes over from its source: container tags, video stream tags, chapters."""

    file: dict[str, str] = field(default_factory=dict)
    video: dict[str, str] = field(default_factory=dict)
    chapters: list[dict] = field(default_factory=list)  #: PyAV's form: id, start, end, time_base, metadata

    def write_to(self, container, video_stream, cut: bool = False, fmt: str = "") -> list[str]:
        """Set the tags and chapters on a PyAV output before its header is written.

        Args:
            container: the output container.
            video_stream: its video stream.
            cut: the output is a part of the footage (``--start``/``--duration``/``--frames``): its
                chapters and start timecode (``timecode``: the muxer writes it as the MOV/MP4 ``tmcd``
                track) would name the whole file's, so they are left out rather than wrong.
            fmt: the output's muxer name: what AVI and MPEG-TS cannot hold is left out and named.

        Returns:
            what was left out (``chapters``, what the tags describe: :func:`describe_lost`), for a warning.
        """

        def kept(tags: dict[str, str]) -> dict[str, str]:
            # the timecode is a stream tag in a camera's MOV, a file tag in MKV (and MP4 with mdta keys)
            return {k: v for k, v in tags.items() if not (cut and k.lower() == "timecode")}

        file = kept(self.file)
        lost: list[str] = []
        if fmt in HOLDS:  # AVI's RIFF INFO and MPEG-TS keep a few keys; a capture date goes in AVI's ICRD
            if fmt == "avi" and "creation_time" in file and "date" not in file:
                file["date"] = file["creation_time"][:10]
            lost = [k for k in file if k.lower() not in HOLDS[fmt] and not (k.lower() == "timecode" and "timecode" in self.video)]
            file = {k: v for k, v in file.items() if k.lower() in HOLDS[fmt]}
        apply_tags(container, file)
        apply_tags(video_stream, kept(self.video))
        if self.chapters and (cut or fmt in HOLDS):
            lost.append("chapters")
        elif self.chapters:
            try:
                container.set_chapters(self.chapters)
            except (av.error.FFmpegError, TypeError, ValueError, AttributeError):  # a muxer without chapters
                lost.append("chapters")
        said = describe_lost(lost)
        if fmt == "avi" and "date" in file:  # the capture day went into ICRD
            said = [w for w in said if w != "capture date"]
        return said

    def muxer_options(self, fmt: str) -> dict[str, str]:
        """Options the muxer needs to write these tags (see :func:`muxer_flags`)."""
        return muxer_flags(fmt, self.file)  # stream tags (language, handler, timecode) need no flag


#: The container tags AVI (its RIFF INFO list, FFmpeg's ``ff_riff_info_conv``) and MPEG-TS (its service
#: description) hold; the rest of a phone's tags (capture date and place, camera) and chapters they cannot.
HOLDS = {
    "avi": frozenset({"title", "artist", "album", "comment", "copyright", "date", "genre", "language", "composer"}),
    "mpegts": frozenset({"service_name", "service_provider"}),
}


#: MOV stores a track's language as an old Macintosh language number, from a list that spells some
#: languages in ISO 639-2/T and others in /B (FFmpeg's ``mov_mdhd_language_map``: ``fra`` but ``ger``):
#: a French track tagged ``fre`` (Matroska's usual spelling) came out of a MOV with no language. The
#: other spelling of each such language, to the list's.
MOV_SPELLING = {
    "fre": "fra", "deu": "ger", "nld": "dut", "ell": "gre", "isl": "ice", "zho": "chi", "sqi": "alb", "rum": "ron",
    "cze": "ces", "slo": "slk", "mkd": "mac", "hye": "arm", "kat": "geo", "bod": "tib", "mya": "bur", "msa": "may",
    "cym": "wel",
}  # fmt: skip


def describe_lost(keys: list[str]) -> list[str]:
    """What tags left out describe, each said once and in words: a phone's dozen keys are its capture date,
    its place and its camera.

    Example:
        >>> describe_lost(["location-eng", "com.apple.quicktime.location.ISO6709", "com.apple.quicktime.make", "chapters"])
        ['location', 'camera', 'chapters']
    """
    out: list[str] = []
    for k in keys:
        low = k.lower()
        word = (
            "capture date"
            if "creationdate" in low or low in ("creation_time", "date")
            else "location"
            if "location" in low or "iso6709" in low or low.endswith("xyz")
            else "camera"
            if low.endswith((".make", ".model", ".software")) or low in ("make", "model")
            else low
        )
        if word not in out:
            out.append(word)
    return out


def read_tags(path: str | Path | None) -> FootageTags:
    """The footage's container tags, first video stream's tags (what :func:`keep_tags` keeps) and chapters.

    Unreadable files (and None) give nothing: metadata is never a reason to fail a run.
    """
    if path is None:
        return FootageTags()
    try:
        with open_input(path) as c:
            vs = video_stream(c)
            video = keep_tags(vs.metadata) if vs is not None else {}
            try:
                chapters = [dict(ch, metadata=keep_tags(ch.get("metadata", {}))) for ch in c.chapters()]
            except (AttributeError, TypeError, ValueError):
                chapters = []
            return FootageTags(keep_tags(c.metadata), video, chapters)
    except (av.error.FFmpegError, OSError, ValueError, IndexError):
        return FootageTags()


def apply_tags(target, tags: Mapping[str, str]) -> None:
    """Set ``tags`` on a PyAV output container or stream (before its header is written)."""
    for k, v in tags.items():
        try:
            target.metadata[k] = v
        except (TypeError, ValueError):  # a key or value FFmpeg's dictionaries refuse: left out
            continue
