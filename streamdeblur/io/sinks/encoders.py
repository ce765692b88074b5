"""Which video encoder, and with which options: chosen and checked before anything is built.

* **Default from the container**: ``auto`` (the default) gives VP9 for ``.webm`` (AV1 where the
  FFmpeg build lacks VP9) and H.264 otherwise — what ffmpeg users expect from ``ffmpeg -i in out.webm``.
* **Deep sources stay playable**: a 10-bit source (a phone's HDR clip is HEVC Main 10) written by
  ``auto`` to MP4, MOV or Matroska gets H.265 rather than H.264: H.264 High 10 plays in VLC and mpv
  but not on the phone that shot it, in QuickTime or in most browsers. MP4/MOV tag H.265 ``hvc1``,
  the tag Apple's players require (FFmpeg's own default, ``hev1``, they refuse).
* **Checked early**: the encoder must exist, fit the container (FFmpeg's own answer, asked on a
  scratch container in memory), and take the given quality and preset; a mistake is one line
  before the model loads.

Example:
    >>> choose_encoder("auto", ".webm").codec
    'libvpx-vp9'
    >>> choose_encoder("auto", ".mkv").codec
    'libx264'
    >>> for_deep_source(choose_encoder("auto", ".mp4"), ".mp4").codec
    'libx265'
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import av

from ..formats import X26X_PRESETS
from ..sources.base import IMAGE_EXTS
from .base import FORMAT_BY_SUFFIX

#: Highest CRF each encoder accepts (lowest is 0; lower is better quality).
CRF_MAX = {
    "libx264": 51,
    "libx264rgb": 51,
    "libx265": 51,
    "libvpx-vp9": 63,
    "libvpx": 63,
    "libsvtav1": 63,
    "libaom-av1": 63,
    "mpeg4": 51,
    "mjpeg": 51,
}
#: Encoders with a fixed quantiser instead of a CRF (MPEG-4 Part 2, MJPEG: AVI's classics). Left alone
#: they get FFmpeg's default bitrate, 200 kb/s, whatever the size: a 320×240 clip came out at 24 dB.
#: The CRF the user gives (x264's scale) picks the quantiser: :func:`qscale_for`.
QSCALE_CODECS = ("mpeg4", "mjpeg")


def demote_realtime_threads() -> int:
    """Put this process's real-time threads (``SCHED_FIFO``/``SCHED_RR``) back under the normal scheduler.

    SVT-AV1 (``libsvtav1``) creates its ~40 worker threads ``SCHED_FIFO`` at priority 99 when it runs as
    root (a Docker container, a CI job). On a 2-core machine they outrank everything and wait for work
    busily: a 2-frame AV1 encode hung for 23 minutes at full load, ignored SIGTERM, and starved another
    run on the machine (its timeout could not fire). Called once the encoder is open (its threads made).

    Returns:
        how many threads were moved (0 where there were none, or off Linux).
    """
    if not hasattr(os, "sched_getscheduler") or not os.path.isdir("/proc/self/task"):
        return 0
    moved = 0
    for name in os.listdir("/proc/self/task"):
        try:
            tid = int(name)
            if os.sched_getscheduler(tid) in (os.SCHED_FIFO, os.SCHED_RR):
                os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
                moved += 1
        except (OSError, ValueError):  # a thread that ended meanwhile
            continue
    return moved


def qscale_for(crf: int) -> int:
    """The fixed quantiser (1 best … 31) that stands for ``crf`` on x264's 0…51 scale: crf 18 → 3.

    Example:
        >>> [qscale_for(c) for c in (0, 18, 23, 51)]
        [1, 3, 4, 8]
    """
    return max(1, min(31, round(crf / 6)))


#: Encoders that take a named x264-style preset, and those that take a number.
NAMED_PRESET = ("libx264", "libx264rgb", "libx265")
NUMBERED_PRESET = {"libsvtav1": (-1, 13)}


@dataclass(frozen=True)
class Encoder:
    """The encoder a file gets, and why."""

    codec: str
    crf: int | None
    preset: str | None  #: None: the encoder has no preset of this kind (not passed)
    note: str = ""  #: why this encoder, when not what was asked


#: Names people type for an encoder that FFmpeg does not know as such.
ALIASES = {"h265": "hevc", "x264": "libx264", "x265": "libx265", "avc": "h264"}  # vp9, av1 … FFmpeg resolves itself


def canonical(codec: str) -> str:
    """The encoder FFmpeg picks for ``codec``: a codec name (``h264``, ``hevc``, ``av1``) gives its
    default encoder (``libx264``, ``libx265``, ``libsvtav1``), as ``ffmpeg -c:v h264`` does. Quality,
    preset, chroma siting and the MP4 tag are chosen by encoder name, so a run with ``--codec h264``
    ignored ``--crf`` and ``--preset``, moved the colours half a pixel and tagged H.265 ``hev1``.

    Example:
        >>> canonical("h264"), canonical("hevc"), canonical("libx264")
        ('libx264', 'libx265', 'libx264')
    """
    name = ALIASES.get(codec.lower(), codec)
    try:
        return av.codec.Codec(name, "w").name
    except Exception:  # noqa: BLE001 - unknown: left as given (available() says no)
        return codec


def available(codec: str) -> bool:
    """True when this FFmpeg build has the video encoder ``codec``."""
    try:
        return av.codec.Codec(codec, "w").type == "video"
    except Exception:  # noqa: BLE001 - PyAV raises several kinds for unknown names
        return False


def quiet_svt(codec: str) -> None:
    """SVT-AV1 prints a banner of its settings to stderr on every encoder it opens: errors only, unless
    the user's environment already chose (``SVT_LOG``)."""
    if codec == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")


def fits(codec: str, fmt: str) -> bool:
    """True when FFmpeg's muxer ``fmt`` accepts ``codec`` (asked on a scratch container in memory).

    The scratch file's header is written too: some refusals come only then (AV1 in MOV, which the
    muxer's list of codecs includes: "av1 only supported in MP4 and AVIF").
    """
    quiet_svt(codec)
    try:
        with av.open(io.BytesIO(), "w", format=fmt) as c:
            s = c.add_stream(codec, rate=25)  # FFmpeg refuses here ('webm' format does not support 'libx264' codec)
            s.width, s.height = 64, 64
            formats = [f.name for f in (s.codec_context.codec.video_formats or [])]
            if formats:
                s.pix_fmt = formats[0]  # the encoder's own first choice: only the muxer is asked here
            if codec == "libx265":  # x265 prints ~25 lines of banner and settings per encoder it opens
                s.options = {"x265-params": "log-level=error"}
            c.start_encoding()
            demote_realtime_threads()  # SVT-AV1's, until the scratch encoder closes
        return True
    except (ValueError, av.error.FFmpegError):
        return False


def container_format(suffix: str) -> str:
    """FFmpeg muxer for a file suffix; ``ValueError`` for suffixes we do not write."""
    fmt = FORMAT_BY_SUFFIX.get(suffix.lower())
    if fmt is None:
        images = ", ".join(sorted(IMAGE_EXTS))
        raise ValueError(
            f"unknown output container {suffix!r}; use one of {', '.join(FORMAT_BY_SUFFIX)} (or, for photos, {images})"
        )
    return fmt


def default_codec(suffix: str) -> str:
    """The encoder a container gets by default: VP9 (else AV1) for WebM, H.264 otherwise."""
    if container_format(suffix) == "webm":
        return next((c for c in ("libvpx-vp9", "libsvtav1", "libaom-av1") if available(c)), "libvpx-vp9")
    return "libx264"


def choose_encoder(
    codec: str,
    suffix: str,
    crf: int | None = None,
    preset: str | None = None,
    explicit: bool = False,
    preset_asked: bool = False,
) -> Encoder:
    """Pick and check the encoder for a file with ``suffix``.

    Args:
        codec: ``auto`` or an FFmpeg encoder name.
        suffix: the output file's suffix (``.mp4``, ``.webm`` …).
        crf: quality (lower is better); checked against the encoder's range.
        preset: speed preset; named (x264/x265) or numbered (SVT-AV1); a named preset is not passed
            to encoders without one unless it was asked for explicitly.
        explicit: the codec was asked for by the user (a flag or an API override): a codec that does
            not fit the container is an error. Otherwise (a pipeline file's choice) the container's
            default replaces it, with a note.
        preset_asked: the preset was asked for by the user: one that is no encoder's preset is an
            error, one that this encoder has no use for is said (a pipeline file's default is not).

    Returns:
        The :class:`Encoder` to use.

    Raises:
        ValueError: unknown encoder, one the container cannot hold, CRF or preset out of range.
    """
    fmt = container_format(suffix)
    note = ""
    if codec in ("", "auto"):
        codec = default_codec(suffix)
    else:
        codec = canonical(codec)
    if not available(codec):
        raise ValueError(f"unknown video encoder {codec!r} (see 'streamdeblur info' for the available ones)")
    if not fits(codec, fmt):
        if explicit:
            raise ValueError(f"{codec} cannot go in a {suffix} file; choose another codec or container")
        chosen = default_codec(suffix)
        note = f"{codec} cannot go in a {suffix} file; using {chosen}"
        codec = chosen
    top = CRF_MAX.get(codec)
    if crf is not None and top is not None and not 0 <= crf <= top:
        raise ValueError(f"crf must be 0…{top} for {codec}, got {crf}")
    if preset is not None:
        asked = str(preset)
        preset = _check_preset(codec, asked, explicit or preset_asked)
        if preset is None and preset_asked:
            note = "; ".join(x for x in (note, f"--preset {asked} does not apply to {codec}; ignored") if x)
    return Encoder(codec, crf if codec in CRF_MAX else None, preset, note)


def _check_preset(codec: str, preset: str, explicit: bool) -> str | None:
    if codec in NAMED_PRESET:
        if preset not in X26X_PRESETS:
            raise ValueError(f"preset {preset!r} is not one of {codec}'s: {', '.join(X26X_PRESETS)}")
        return preset
    if codec in NUMBERED_PRESET:
        lo, hi = NUMBERED_PRESET[codec]
        if preset.lstrip("-").isdigit():
            if not lo <= int(preset) <= hi:
                raise ValueError(f"preset must be {lo}…{hi} for {codec}, got {preset}")
            return preset
    lo, hi = NUMBERED_PRESET["libsvtav1"]
    some_encoders = preset in X26X_PRESETS or (preset.lstrip("-").isdigit() and lo <= int(preset) <= hi)
    if explicit and not some_encoders:
        raise ValueError(f"preset {preset!r} is not a preset of {codec}")
    return None


def for_deep_source(encoder: Encoder, suffix: str, depth: int = 10) -> Encoder:
    """The encoder for a source deeper than 8 bits, when the container's default was asked for.

    H.264 becomes H.265 (same CRF number, which is higher quality in x265's scale; a named preset
    kept) in MP4, MOV and Matroska, where this FFmpeg build has libx265; VP9 becomes AV1 (SVT-AV1,
    10-bit) in WebM where this build's libvpx writes 8 bits only; anything else is returned as it is.
    Call it only for ``auto``: a codec the user named is theirs.

    Args:
        encoder: what :func:`choose_encoder` chose for ``auto``.
        suffix: the output file's suffix.
        depth: the source's bits per sample (said in the note).

    Returns:
        the encoder to use, with a note saying why when it changed.
    """
    if encoder.codec == "libvpx-vp9" and container_format(suffix) == "webm" and not _deep(encoder.codec) and _deep("libsvtav1"):
        # this build's libvpx writes 8 bits only: a 10-bit (HDR) clip into WebM came out 8-bit, its PQ tags kept (banding)
        note = f"{depth}-bit source: encoder libsvtav1 (AV1 10-bit in WebM; this build's VP9 writes 8 bits only)"
        return Encoder("libsvtav1", encoder.crf, None, note)
    if encoder.codec != "libx264" or container_format(suffix) not in ("mp4", "mov", "matroska") or not available("libx265"):
        return encoder
    note = (
        f"{depth}-bit source: encoder libx265 "
        f"(H.264 {'High 10' if depth <= 10 else 'deeper than 8 bits'} does not play on phones, QuickTime or most browsers; "
        "--codec libx264 keeps H.264)"
    )
    return Encoder("libx265", encoder.crf, encoder.preset, note)


def _deep(codec: str) -> bool:
    """Whether this build's ``codec`` writes more than 8 bits per sample."""
    if not available(codec):
        return False
    return any("p10" in f.name or "p12" in f.name for f in av.codec.Codec(codec, "w").video_formats or [])


def codec_tag(codec: str, fmt: str) -> str | None:
    """The sample-entry tag a stream of ``codec`` needs in container ``fmt`` to play everywhere (H.265 in MP4/MOV: ``hvc1``)."""
    return "hvc1" if codec == "libx265" and fmt in ("mp4", "mov") else None
