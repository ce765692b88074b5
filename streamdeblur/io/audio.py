"""Audio copy, in one place: packets copied when the output container takes the codec, otherwise
re-encoded (AAC; Opus for WebM), interleaved as the video advances. Subtitle streams (a DJI
drone's flight telemetry, a camcorder's date track, an edit's captions) ride along by packet copy
where the container takes them, and are left out, with a warning, where it does not.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av

from ..errors import SinkError, SourceError
from .paths import open_input
from .streamcopy import can_stream_copy, codec_name, is_cover
from .streams import video_stream
from .tags import MOV_SPELLING, apply_tags, keep_tags

AUDIO_FALLBACK = {"webm": ("libopus", 48000), "matroska": ("aac", None)}
#: the channel layouts libopus encodes (Vorbis order), by channel count
OPUS_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


#: Codecs FFmpeg would copy into a container but most players do not play from it: a camera MOV's
#: PCM written to MP4 becomes ISO 23003-5 ``ipcm`` (silent in QuickTime, browsers and phones; FFmpeg
#: 5's own command line refuses it), Vorbis in MP4 is not in the standard. They are re-encoded.
UNPLAYED: dict[str, tuple[str, ...]] = {"mp4": ("pcm_", "vorbis")}


#: Text subtitle codecs whose text can be carried into another container's subtitle codec.
TEXT_SUBTITLES = ("mov_text", "subrip", "srt", "webvtt", "ass", "ssa", "text")
#: The text subtitle codec each container holds.
SUBTITLE_FOR = {"mp4": "mov_text", "mov": "mov_text", "matroska": "subrip", "webm": "webvtt"}
_ASS_HEADER = (
    b"[Script Info]\r\nScriptType: v4.00+\r\n\r\n[V4+ Styles]\r\nFormat: Name, Fontname, Fontsize, PrimaryColour, "
    b"SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
    b"BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\r\nStyle: Default,Arial,16,&Hffffff,"
    b"&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\r\n\r\n[Events]\r\nFormat: Layer, Start, End, Style, "
    b"Name, MarginL, MarginR, MarginV, Effect, Text\r\n"
)


class TextSubtitles:
    """One text subtitle packet's payload from one codec's form into another's (the text, not its styling).

    MP4's ``mov_text`` is a 2-byte length, the UTF-8 text, then style boxes; Matroska's SubRip and
    WebM's WebVTT are the text itself (with ``<i>``-style tags); ASS/SSA events are comma-separated
    fields whose last is the text, with ``{\\…}`` overrides and ``\\N`` for a new line.

    Example:
        >>> TextSubtitles("mov_text", "subrip").convert(b"\\x00\\x0bHello\\nworld")
        b'Hello\\nworld'
        >>> TextSubtitles("ass", "mov_text").convert(b"0,0,Default,,0,0,0,,{\\\\i1}Hi\\\\Nthere")
        b'\\x00\\x08Hi\\nthere'
    """

    def __init__(self, source: str, target: str) -> None:
        self.source, self.target = source, target

    def convert(self, payload: bytes) -> bytes | None:
        """The payload in the target codec's form; None for one without text."""
        if self.source == "mov_text":
            n = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 0
            text = payload[2 : 2 + n].decode("utf-8", "replace")
        else:
            text = payload.decode("utf-8", "replace")
            if self.source in ("ass", "ssa"):
                text = text.split(",", 8)[-1]
                text = re.sub(r"\{[^}]*\}", "", text).replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
        if self.target == "mov_text":
            text = re.sub(r"</?[a-zA-Z][^>]*>", "", text)  # SubRip/WebVTT markup would show as text
        data = text.strip("\r\n").encode("utf-8")
        if not data:
            return None
        return len(data).to_bytes(2, "big") + data if self.target == "mov_text" else data


class AudioCopier:
    """Copies (or re-encodes) the audio streams of ``source`` into ``container``, progressively."""

    def __init__(
        self,
        source: str | Path,
        container,
        fmt: str,
        warn: Callable[[str], None],
        start: float = 0.0,
        audio: bool = True,
        subtitles: bool = True,
        strict: bool = False,
    ) -> None:
        self.warn = warn
        self.strict = strict  #: a damaged input packet stops the run (``--strict``) instead of being left out
        self.start = start  #: packets that end before this presentation time are left out (a cut file)
        self._in = open_input(source)
        # (in_stream, out_stream, how: None (copied), a resampler (re-encoded audio) or TextSubtitles
        # (converted subtitles), [next pts of a re-encoded stream])
        self._streams = []
        for s in self._in.streams.audio if audio else ():
            if s.codec_context is None or not s.codec_context.name:
                continue
            name = codec_name(s)
            unplayable = name.startswith(UNPLAYED.get(fmt, ()))
            if can_stream_copy(s, fmt) and not unplayable:
                out = container.add_stream_from_template(s)
                apply_tags(out, keep_tags(s.metadata))  # language, title
                self._streams.append((s, out, None, [None]))
            else:
                codec, rate = AUDIO_FALLBACK.get(fmt, ("aac", None))
                rate = rate or s.rate or 48000
                out = container.add_stream(codec, rate=rate)
                apply_tags(out, keep_tags(s.metadata))
                layout = s.layout.name if s.layout else "stereo"
                if layout.endswith(" channels"):  # no layout, only a count (PCM in AVI or WAV): "1 channels", which
                    layout = OPUS_LAYOUTS.get(s.channels, "stereo")  # AAC refused; the usual layout of that many
                if codec == "libopus":  # Opus takes the Vorbis channel layouts only: 5.1(side) (AC-3, E-AC-3, DTS) is 5.1
                    layout = OPUS_LAYOUTS.get(s.channels, "stereo") if layout not in OPUS_LAYOUTS.values() else layout
                try:
                    out.layout = layout
                except Exception:  # noqa: BLE001
                    out.layout = "stereo"
                resampler = av.AudioResampler(format=out.format.name if out.format else "fltp", layout=out.layout, rate=rate)
                self._streams.append((s, out, resampler, [None]))
                lang = s.metadata.get("language", "")
                lang = f", {lang}" if lang and lang != "und" else ""
                which = f"audio track {len(self._streams)} ({name}{lang})"
                try:  # opened here: a refusal names the sound, not the video encoder the container opens with it
                    out.codec_context.open()
                except (av.error.FFmpegError, ValueError) as exc:
                    reason = getattr(exc, "strerror", None) or str(exc)
                    raise SinkError(
                        f"{which}, {layout}, cannot be re-encoded to {codec} for {fmt}: {reason} "
                        "(--no-audio leaves the sound out; .mkv copies it as it is)"
                    ) from None
                why = (
                    "is not played from MP4 by most players (QuickTime, browsers, phones)"
                    if unplayable
                    else "cannot be copied into " + fmt
                )
                resampled = f" at {rate / 1000:g} kHz (it is {s.rate / 1000:g} kHz)" if s.rate and s.rate != rate else ""
                warn(f"{which} {why}; re-encoding it to {codec}{resampled}")
        for s in self._in.streams.subtitles if subtitles else ():
            name = codec_name(s)
            if can_stream_copy(s, fmt):
                out = container.add_stream_from_template(s)
                apply_tags(out, keep_tags(s.metadata))
                self._streams.append((s, out, None, [None]))
            elif name in TEXT_SUBTITLES and fmt in SUBTITLE_FOR:
                # text subtitles go into every container, each in its own codec (ffmpeg -c:s srt/mov_text/webvtt)
                out = container.add_stream(SUBTITLE_FOR[fmt])
                out.time_base = s.time_base
                out.codec_context.subtitle_header = _ASS_HEADER  # the encoder opens only with one (packets are ours)
                apply_tags(out, keep_tags(s.metadata))
                self._streams.append((s, out, TextSubtitles(name, SUBTITLE_FOR[fmt]), [None]))
                warn(f"subtitle track ({name}) converted to {SUBTITLE_FOR[fmt]} for {fmt} (its text kept, not its styling)")
            else:
                warn(f"subtitle track ({name}) cannot go into {fmt}; left out (an output in the input's own container keeps it)")
        if fmt == "avi":
            self._avi_offsets(warn)
            langs = [lang for s, *_ in self._streams if (lang := s.metadata.get("language", "")) and lang != "und"]
            if langs:  # AVI has no place for a track's language: "eng"/"fra" tracks became two unnamed ones
                warn(f"avi cannot hold the sound tracks' languages ({', '.join(langs)}): left out (.mp4, .mov or .mkv keep them)")
        for s, out, *_ in self._streams:  # which track plays by default, forced subtitles, a commentary: as marked
            out.disposition = s.disposition  # (ffmpeg -c copy keeps them; the first track became the default)
            lang = out.metadata.get("language", "")
            if fmt == "mov" and lang.lower() in MOV_SPELLING:  # MOV's language list spells it the other way
                out.metadata["language"] = MOV_SPELLING[lang.lower()]
        left = 0
        for s in self._in.streams:  # a cover picture goes into MP4 as it is (ffmpeg -map 0 -c copy; MOV drops it)
            if not is_cover(s):
                continue
            if s.type == "video" and fmt == "mp4" and can_stream_copy(s, fmt):
                out = container.add_stream_from_template(s)
                out.disposition = s.disposition
                self._streams.append((s, out, None, [None]))
            elif s.type == "attachment" and fmt == "matroska" and s.name:
                # an MKV's attached fonts (its ASS subtitles are drawn with them), a cover image: kept as they are
                container.add_attachment(name=s.name, mimetype=s.mimetype or "application/octet-stream", data=bytes(s.data))
            else:
                left += 1
        if left:
            warn(f"{Path(source).name} carries a cover picture or attached files ({left}); they are not kept in {fmt}")
        self._demux: Iterator = self._in.demux(*[s for s, *_ in self._streams]) if self._streams else iter(())
        self._pending = None
        self._done = not self._streams
        self._skipped: dict[int, int] = {}  #: input stream index → damaged packets left out
        self._last_dts: dict[int, int] = {}  #: input stream index → the decode time of its last copied packet

    def _avi_offsets(self, warn: Callable[[str], None]) -> None:
        """AVI keeps no start times: each stream plays from the file's start, so sound that starts later
        or earlier than the picture in the source (a camera's late first audio frame, an edit) comes out
        that much out of sync. Said, with where it is kept (FFmpeg's own AVI does the same, silently)."""
        video = video_stream(self._in)
        if video is None or video.start_time is None or not video.time_base:
            return
        v0 = float(video.start_time * video.time_base)
        for n, (s, *_) in enumerate(x for x in self._streams if x[0].type == "audio"):
            if s.start_time is None or not s.time_base:
                continue
            offset = float(s.start_time * s.time_base) - v0
            if abs(offset) > 0.04:  # more than a frame at 25 fps
                when = "after" if offset > 0 else "before"
                warn(
                    f"audio track {n + 1} starts {abs(offset):.2f} s {when} the picture, and AVI keeps no start times: "
                    "it will play that much out of sync (.mkv or .mp4 keep it in sync)"
                )

    @property
    def active(self) -> bool:
        return bool(self._streams)

    def mux_until(self, container, seconds: float) -> None:
        """Mux input audio packets that start before ``seconds``."""
        while not self._done:
            pkt = self._pending or next(self._demux, None)
            self._pending = None
            if pkt is None:
                self._done = True
                self._flush(container)
                return
            if pkt.dts is None and pkt.size == 0:
                continue
            t = float(pkt.pts * pkt.time_base) if pkt.pts is not None and pkt.time_base else 0.0
            if t >= seconds:
                self._pending = pkt
                return
            if self.start and t + float((pkt.duration or 0) * (pkt.time_base or 0)) <= self.start:
                continue
            self._mux(container, pkt)

    def _mux(self, container, pkt) -> None:
        for s, out, how, next_pts in self._streams:
            if pkt.stream is not s:
                continue
            if how is None:
                if pkt.dts is not None:  # decode times must increase: the muxer refused the file ("Invalid argument")
                    last = self._last_dts.get(s.index)
                    if last is not None and pkt.dts <= last:  # (a file of two recordings joined by remuxing: equal times)
                        pkt.dts = last + 1  # moved on by one tick, as FFmpeg's own remuxing does
                        pkt.pts = max(pkt.pts, pkt.dts) if pkt.pts is not None else None
                    self._last_dts[s.index] = pkt.dts
                pkt.stream = out
                try:
                    container.mux(pkt)
                except (av.error.InvalidDataError, av.error.PatchWelcomeError) as exc:
                    # The packet itself is broken (a damaged recording: the ADTS header of a TS's AAC that
                    # MP4's aac_adtstoasc cannot parse). The muxer rejects that packet only; the output is
                    # fine and the next packets go in. Left out, counted and said once, as a player skips it.
                    self._bad_input(s, pkt, exc)
            elif isinstance(how, TextSubtitles):
                text = how.convert(bytes(pkt))
                if text is None:
                    return
                q = av.Packet(text)
                q.pts, q.dts, q.duration, q.time_base = pkt.pts, pkt.dts, pkt.duration, pkt.time_base
                q.stream = out
                container.mux(q)
            else:
                try:
                    frames = pkt.decode()
                except av.error.FFmpegError as exc:
                    self.warn(f"skipped an undecodable audio packet: {exc}")
                    return
                for f in frames:
                    if next_pts[0] is None:  # the first sound kept: where the re-encoded track starts
                        t = f.pts * f.time_base if f.pts is not None and f.time_base else (pkt.pts or 0) * (pkt.time_base or 0)
                        next_pts[0] = round(t * out.rate)
                    f.pts = None
                    for rf in how.resample(f):
                        self._encode(container, out, rf, next_pts)

    def _bad_input(self, stream, pkt, exc: Exception) -> None:
        """A damaged input packet left out: the first said at once, how many in all at the end (``close``)."""
        t = float(pkt.pts * pkt.time_base) if pkt.pts is not None and pkt.time_base else None
        if t is not None and self._in.start_time is not None:  # a player's clock: from the file's start
            t -= self._in.start_time / av.time_base
        at = f" at {t:.2f} s" if t is not None else ""
        reason = getattr(exc, "strerror", None) or str(exc)
        where = f"the input's {stream.type} stream #{stream.index} has a damaged packet{at} ({reason})"
        if self.strict:
            raise SourceError(f"{where} (--strict)")
        n = self._skipped.get(stream.index, 0)
        self._skipped[stream.index] = n + 1
        if n == 0:
            self.warn(f"{where}; left out")

    @staticmethod
    def _encode(container, out, frame, next_pts: list) -> None:
        """Encode one resampled frame at the next sample position. A re-encoded track used to start at 0
        whatever the source's first sound time (audio starting late, a cut, timestamps from 1 h): the
        picture kept its times and the sound ran ahead of it. It now starts where the source's did and
        runs on sample by sample, as FFmpeg's re-encoding does."""
        frame.pts, frame.time_base = next_pts[0] or 0, Fraction(1, out.rate)
        next_pts[0] = (next_pts[0] or 0) + frame.samples
        container.mux(out.encode(frame))

    def _flush(self, container) -> None:
        for _, out, how, next_pts in self._streams:
            if isinstance(how, av.AudioResampler):  # re-encoded audio: the resampler's and encoder's tails
                for rf in how.resample(None):
                    self._encode(container, out, rf, next_pts)
                container.mux(out.encode(None))

    def close(self, container, seconds: float | None) -> None:
        """Copy the rest (``seconds=None``) or up to ``seconds``, then flush encoders."""
        if seconds is None:
            self.mux_until(container, math.inf)
        else:
            self.mux_until(container, seconds)
            if not self._done:
                self._done = True
                self._flush(container)
        self._in.close()
        for index, n in self._skipped.items():
            if n > 1:
                self.warn(f"{n} damaged packets of the input's stream #{index} left out in all")
