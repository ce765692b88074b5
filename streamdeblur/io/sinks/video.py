"""Video files written with PyAV: source timestamps kept, colour tagged, audio copied."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..audio import AudioCopier
from ..color import (
    ColorInfo,
    bit_depth_of,
    chroma_label,
    chroma_of,
    chroma_siting,
    is_rgb_format,
    rgb_to_frame,
    siting_tag,
    tag_codec,
    tag_rgb,
)
from ..frames import Frame, SourceInfo
from ..loglevel import ffmpeg_errors
from ..paths import ffmpeg_name, open_input
from ..streams import video_stream
from ..tags import read_tags
from .base import FORMAT_BY_SUFFIX, SinkError, container_options, log, publish, temporary_path
from .encoders import (
    CRF_MAX,
    NAMED_PRESET,
    NUMBERED_PRESET,
    QSCALE_CODECS,
    codec_tag,
    demote_realtime_threads,
    qscale_for,
    quiet_svt,
)


class VideoSink:
    """Encode frames to a video file with PyAV.

    Args:
        path: output file; the container follows the suffix (mp4, mkv, mov, webm, avi, ts).
        info: the source's description (size, time base, rate, colour, audio file).
        codec: encoder name (``libx264``, ``libx265``, ``libvpx-vp9``, ``libsvtav1`` …).
        crf: constant-rate-factor quality (x264/x265/vp9/av1); lower is better.
        preset: encoder speed preset (x264/x265).
        audio: copy the source's audio streams.
        keep_partial: on failure keep ``*.partial.*`` (True) or delete it.
        overwrite: the finished file may replace a file that took its name while it was written
            (False: such a file is kept and this one stays under its temporary name; :func:`~.base.publish`).
        options: extra encoder options.
        threads: encoder threads; 0 lets the encoder choose (x264: 1.5 per core).
        chroma: chroma subsampling of the output, ``420``, ``422``, ``444``, or ``auto``: the
            source's (``info.color.chroma``) where the encoder can write it, else 4:2:0 with a
            warning. A subsampling asked for that the encoder cannot write is a :class:`SinkError`.
        strict: a damaged packet of the input's copied audio is a :class:`~streamdeblur.errors.SourceError`
            (``--strict``), not a packet left out with a warning.

    Why ``auto`` keeps the source's chroma: a 4:4:4 source (a screen recording, an RGB or ProRes 4444
    intermediate) went in with a colour per pixel on purpose, and 4:2:0 visibly smears coloured text
    and thin coloured edges; FFmpeg's command line keeps it too. The cost is playability: H.264 in
    4:2:2 or 4:4:4 (High 4:2:2 / High 4:4:4 profiles) plays in FFmpeg-based players but not in most
    browsers and phones, hence :attr:`chroma_note` for the run's encoder line and ``chroma: 420``.
    Phone and camera footage is 4:2:0 and stays so.
    """

    def __init__(
        self,
        path: str | Path,
        info: SourceInfo,
        codec: str = "libx264",
        crf: int | None = 18,
        preset: str | None = "medium",
        audio: bool = True,
        keep_partial: bool = True,
        overwrite: bool = True,
        options: dict | None = None,
        warn: Callable[[str], None] | None = None,
        threads: int = 0,
        chroma: str = "auto",
        strict: bool = False,
    ) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.info = info
        self._fitted_said = False  #: an image of another size was fitted into the frame (said once)
        self.warn = warn or (lambda m: log.warning(m))
        self.keep_partial = keep_partial
        fmt = FORMAT_BY_SUFFIX.get(self.path.suffix.lower())
        if fmt is None:
            raise SinkError(f"unknown output container {self.path.suffix!r}; use one of {', '.join(FORMAT_BY_SUFFIX)}")
        quiet_svt(codec)
        try:
            codec_obj = av.codec.Codec(codec, "w")
        except Exception:  # noqa: BLE001
            raise SinkError(f"unknown encoder {codec!r} (see 'streamdeblur info' for the available ones)") from None
        self.fmt = fmt
        self.color: ColorInfo = info.color
        if codec == "mjpeg" and self.color.range != "pc":  # JPEG is full range; FFmpeg refuses limited-range MJPEG
            self.color = dataclasses.replace(self.color, range="pc")
        wanted = info.color.chroma if chroma == "auto" else chroma
        if wanted not in ("420", "422", "444"):
            raise SinkError(f"chroma must be auto, 420, 422 or 444, got {chroma!r}")
        self.pix_fmt = _choose_pix_fmt(codec_obj, info.color.bit_depth, wanted)
        if info.color.bit_depth > 8 and bit_depth_of(self.pix_fmt) <= 8:
            hdr = info.color.transfer in ("smpte2084", "arib-std-b67")
            self.warn(
                f"the source is {info.color.bit_depth}-bit{' HDR' if hdr else ''} but {codec} writes 8 bits: written 8-bit"
                + (" (HDR in 8 bits shows banding)" if hdr else "")
                + (", without its HDR10 mastering display and light levels" if info.hdr is not None else "")
                + f"; --codec {'libsvtav1' if fmt == 'webm' else 'libx265'} keeps the depth"
            )
        elif 8 < bit_depth_of(self.pix_fmt) < info.color.bit_depth:
            got = bit_depth_of(self.pix_fmt)
            self.warn(f"the source is {info.color.bit_depth}-bit but {codec} writes {got} bits at most: written {got}-bit")
        #: what became of the chroma, for the run's encoder line ("" for plain 4:2:0)
        self.chroma_note = ""
        got = chroma_of(self.pix_fmt)
        if _CHROMA_RANK[got] < _CHROMA_RANK[wanted]:  # fewer colour samples than wanted (more is no loss: ProRes)
            if chroma != "auto":
                raise SinkError(f"{codec} cannot write {chroma_label(wanted)} chroma (it writes {self.pix_fmt}); try libx265")
            self.warn(
                f"the source's chroma is {chroma_label(wanted)} but {codec} cannot write it: written {chroma_label(got)}"
                " (--codec libx265 keeps it)"
            )
        elif got == wanted != "420":
            self.chroma_note = f"{chroma_label(got)} as " + ("the source" if chroma == "auto" else "asked")
            if codec in ("libx264", "libx265", "libvpx-vp9", "libsvtav1") and chroma == "auto":
                self.chroma_note += "; browsers and phones play only 4:2:0: --chroma 420"
        self._siting = chroma_siting(codec)  #: where this codec's decoders read subsampled chroma (io/color.py)
        self.width, self.height = written_size(got, info.width, info.height)
        if (self.width, self.height) != (info.width, info.height):
            self.warn(f"{info.width}x{info.height} has an odd side; the output is padded to {self.width}x{self.height}")
        rate = info.fps or Fraction(25)
        tb = info.time_base or 1 / rate
        # AVI has no timestamps, only a frame count at one rate: each tick of the time base is a frame
        # (empty ones repeat the last). Written in an MP4 source's 1/15360, a 30 fps clip became a
        # "600 fps" AVI of mostly empty frames. It gets the frame rate as its time base; times rounded to it.
        self._tick_rate: Fraction | None = Fraction(rate).limit_denominator(65535) if fmt == "avi" else None
        if self._tick_rate is not None:
            tb = 1 / self._tick_rate
        self._last_tick = -1
        self._origin: float | None = None
        # the footage's metadata (capture date, place, camera, language: io/tags.py) goes along
        origin = info.path if info.path is not None else info.url  # where audio and tags are read from
        tags = read_tags(origin)
        options = {**container_options(fmt, tb, info.start_time, info.origin), **tags.muxer_options(fmt)}
        #: a live recording survives a crash (kill -9, power loss, a native library's segfault): see :func:`crash_safe_options`
        self.crash_safe = bool(info.live)
        self._options = options  #: the regular file's muxer options (what :func:`defragment` writes with)
        if self.crash_safe:
            options = crash_safe_options(fmt, options)
        #: written here until complete (a new file: :func:`~.base.temporary_path` says why), then :func:`~.base.publish`\ ed
        self.tmp = temporary_path(self.path)
        try:
            self.container = av.open(ffmpeg_name(self.tmp), "w", format=fmt, options=options)
        except (av.error.FFmpegError, OSError) as exc:
            self.tmp.unlink(missing_ok=True)
            raise SinkError(f"cannot create {self.tmp}: {exc}") from None
        self.stream = self.container.add_stream(codec, rate=rate)
        # the picture is the track a player shows first: Matroska wrote it "not default" (FlagDefault 0)
        # where the source's was, while the copied sound kept its flag
        self.stream.disposition = av.stream.Disposition.default
        lost = tags.write_to(self.container, self.stream, cut=info.cut, fmt=fmt)  # a cut: no chapters, no start timecode
        if lost == ["chapters"] and info.cut:
            self.warn(
                "the source's chapters are left out of a cut (--start, --duration, --frames): they name the whole file's times"
            )
        elif lost:
            shown = ", ".join(lost[:6]) + (f" and {len(lost) - 6} more tags" if len(lost) > 6 else "")
            self.warn(f"{fmt} cannot hold the source's {shown}: left out (.mp4, .mov or .mkv keep them)")
        s = self.stream
        tag = codec_tag(codec, fmt)
        if tag:
            s.codec_tag = tag
        if info.sample_aspect is not None:
            # anamorphic pixels (HDV's 1440x1080 shown 16:9, DV): H.264/H.265 carry the shape in their
            # bitstream; VP9/AV1 do not, and Matroska's display size is written from a stream field
            # that PyAV cannot set (a known gap): said, not silent
            s.codec_context.sample_aspect_ratio = info.sample_aspect
            if not keeps_pixel_shape(codec, fmt):
                sar = Fraction(info.sample_aspect)
                self.warn(
                    f"the source's pixels are not square ({sar.numerator}:{sar.denominator}); {codec} in "
                    f"{self.path.suffix} cannot keep that here: it will show squeezed (H.264/H.265 in .mkv or .mp4 keep it)"
                )
        s.width, s.height, s.pix_fmt = self.width, self.height, self.pix_fmt
        s.time_base = tb
        s.codec_context.time_base = tb
        opts = dict(options or {})
        if crf is not None and codec in CRF_MAX and codec not in QSCALE_CODECS:
            opts.setdefault("crf", str(crf))
            if codec in ("libvpx-vp9", "libvpx"):
                opts.setdefault("b", "0")
        if crf is not None and codec in QSCALE_CODECS:  # one quantiser for every frame, no bitrate cap
            q = qscale_for(crf)
            s.codec_context.qmin = s.codec_context.qmax = q
            s.codec_context.bit_rate = 0
        if preset and (codec in NAMED_PRESET or codec in NUMBERED_PRESET):
            opts.setdefault("preset", str(preset))
        if codec == "libx265":
            opts.setdefault("x265-params", "log-level=error")
        siting = siting_tag(codec)
        if siting and chroma_of(self.pix_fmt) != "444" and not is_rgb_format(self.pix_fmt):
            opts.setdefault("chroma_sample_location", siting)  # where rgb_to_frame puts it
        hdr = info.hdr.encoder_params(codec) if info.hdr is not None else ""
        if hdr:  # HDR10's mastering display and light levels (io/hdr.py), after the caller's own parameters
            key = "svtav1-params" if codec == "libsvtav1" else "x265-params"
            opts[key] = ":".join(p for p in (opts.get(key, ""), hdr) if p)
        elif info.hdr is not None and bit_depth_of(self.pix_fmt) > 8:  # (8 bits: said above, with the depth)
            self.warn(
                f"{codec} does not carry the source's HDR10 mastering display and light levels (TVs tone-map with "
                "them); libx265 or libsvtav1 keeps them"
            )
        s.options = opts
        if threads:
            s.codec_context.thread_count = threads
        tag_codec(s.codec_context, self.color)
        if is_rgb_format(self.pix_fmt):
            tag_rgb(s.codec_context)
        self.audio = None
        if origin is not None and ((audio and info.has_audio) or info.has_subtitles or info.covers):
            try:
                self.audio = AudioCopier(origin, self.container, fmt, self.warn, start=info.cut_start, audio=audio, strict=strict)
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                self.warn(f"audio not copied (unreadable audio in the input): {exc}")
            except SinkError:  # a sound this container needs re-encoded and the encoder refuses
                self.container.close()
                self.tmp.unlink(missing_ok=True)
                raise
        self.frames_written = 0
        self._last_dts: int | None = None
        self._prev_pts: int | None = None  #: the last frame's pts and time base (its duration: :meth:`write`)
        self._prev_tb: Fraction | None = None
        self._durations: dict[int, int] = {}  #: pts → duration of frames whose packets are not out yet
        self._last_interval: int | None = None  #: the shortest interval between frames: the last frame's duration
        self._first_time: float | None = None  #: the first frame's presentation time, seconds (:meth:`_finish_fragmented`)
        self._held: av.Packet | None = None  #: the newest packet, muxed when the next one (or the end) tells its duration
        self._max_delay = int(64 / (rate * tb)) + 1  #: 64 frames in the stream's ticks: no encoder reorders more
        self.last_end: float | None = None
        self._closed = False
        self._failed = False
        # The header now, not at the first packet: a codec the container cannot hold (AV1 in .mov, which
        # FFmpeg's supported-codec list claims) fails here, in one line, before any frame is decoded;
        # an encoder that buffers a whole short clip would otherwise meet it only when closing.
        try:
            with ffmpeg_log():
                self.container.start_encoding()
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self.container.close()
            self.tmp.unlink(missing_ok=True)
            raise SinkError(f"cannot write {codec} into {self.path.name}: {_ffmpeg_reason(exc)}") from None
        demote_realtime_threads()  # the encoder's threads exist now: SVT-AV1's are real-time under root

    def write(self, frame: Frame) -> None:
        img = frame.image
        h, w = img.shape[:2]
        if (h, w) != (self.height, self.width):
            if (h, w) == (self.info.height, self.info.width):  # an odd side made even (said when opening)
                img = np.pad(img, ((0, self.height - h), (0, self.width - w), (0, 0)), mode="edge")
            else:  # a folder of photos of different sizes: each fitted into the video's frame
                img = _letterbox(img, self.width, self.height)
                if not self._fitted_said:
                    self._fitted_said = True
                    name = Path(frame.source).name if frame.source else f"frame {frame.index}"
                    self.warn(
                        f"{name} is {w}x{h}, the video {self.width}x{self.height}: "
                        "it and any other image of another size are fitted into it with black bars"
                    )
        vf = rgb_to_frame(img, self.color, self.pix_fmt, self._siting)
        if self._tick_rate is not None:  # AVI: the frame's tick, strictly after the last one
            t = frame.time
            if t is not None and self._origin is None:
                # counted from the first frame: AVI cannot start late (a cut from 1 s began with a second
                # of empty frames while its audio, which AVI stores without times, played from the start)
                self._origin = t
            tick = round((t - self._origin) * self._tick_rate) if t is not None else frame.index
            self._last_tick = tick = max(tick, self._last_tick + 1)
            vf.pts, vf.time_base = tick, self.stream.codec_context.time_base
        else:
            vf.pts = frame.pts if frame.pts is not None else frame.index
            vf.time_base = frame.time_base or self.stream.codec_context.time_base
            # each frame lasts until the next one (its packet gets that duration in _mux), the last
            # one the shortest interval seen (the nominal rate's frame, where frames were dropped or
            # the screen paused): the encoder gave the last frame one frame at the *average* rate, so
            # a screen recording with a 10 s pause (30 fps while moving, 0.59 fps on average) came
            # out 11.87 s long instead of 10.2 s
            if self._prev_pts is not None and vf.pts > self._prev_pts and vf.time_base == self._prev_tb:
                step = self._durations[self._prev_pts] = vf.pts - self._prev_pts
                self._last_interval = min(step, self._last_interval or step)
            elif self._prev_pts is None and self.info.fps:
                self._last_interval = max(1, round(1 / (self.info.fps * vf.time_base)))
            self._prev_pts, self._prev_tb = vf.pts, vf.time_base
            if self._first_time is None and vf.time_base:
                self._first_time = float(vf.pts * vf.time_base)
        if self._failed:
            raise SinkError(f"writing {self.path} failed earlier")
        try:
            for pkt in self.stream.encode(vf):
                self._mux(pkt)
            t = frame.time
            if t is not None:
                self.last_end = t + (float(1 / self.info.fps) if self.info.fps else 0.0)
                if self.audio is not None:
                    self.audio.mux_until(self.container, t)
        except (av.error.FFmpegError, OSError) as exc:
            self._failed = True  # FFmpeg must not be fed again after an I/O error: it can crash
            msg = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise SinkError(f"writing {self.path} failed: {msg}") from None
        self.frames_written += 1

    def _mux(self, pkt: av.Packet) -> None:
        """Mux one video packet; a decode timestamp the encoder left unset is repaired first.

        libx265 (through FFmpeg's wrapper) sometimes leaves the first packet's dts uninitialised in a
        clip of one or two frames (seen: −8.4e15, 8.4e18): MP4's muxer then refuses the file ("Not yet
        implemented in FFmpeg", "Invalid argument") in about one run of five. A dts after its pts, or
        before the previous packet's, or the first one more than 64 frames before its pts, cannot be right;
        such clips have no reordering, so dts = pts.
        """
        if pkt.dts is not None and pkt.pts is not None:
            last = self._last_dts
            first_off = last is None and pkt.pts - pkt.dts > self._max_delay
            if pkt.dts > pkt.pts or (last is not None and pkt.dts <= last) or first_off:
                pkt.dts = pkt.pts if last is None else last + 1
            self._last_dts = pkt.dts
        if self._tick_rate is not None or pkt.pts is None or pkt.time_base != self._prev_tb:
            self.container.mux(pkt)  # AVI counts ticks; foreign time bases: the encoder's durations
            return
        if self._held is not None:
            self._release()
        self._held = pkt

    def _release(self) -> None:
        """Mux the held packet with its frame's duration (the last frame's: the shortest interval seen)."""
        pkt, self._held = self._held, None
        duration = self._durations.pop(pkt.pts, None)
        if duration is None and pkt.pts == self._prev_pts:
            duration = self._last_interval
        if duration:
            pkt.duration = duration
        self.container.mux(pkt)

    def close(self, complete: bool = True) -> Path | None:
        """Flush and close. ``complete``: rename to the final name; else keep/remove the partial file.

        Returns:
            The path of the file left on disk (final or partial); None when none is (nothing was
            written, or the partial file was removed).
        """
        if self._closed:
            return self.path if complete else self.tmp
        self._closed = True
        error = None
        try:
            if self._failed:  # after a failed write, flushing the encoder into the broken muxer crashes FFmpeg
                raise OSError("an earlier write failed")
            for pkt in self.stream.encode(None):
                self._mux(pkt)
            if self._held is not None:
                self._release()
            if self.audio is not None:
                until = self.last_end
                if complete and self.info.cut and self.info.cut_end is not None:
                    # the span asked for, sound past the last picture too (a whole run keeps it; the cut
                    # stopped it at the last frame: 1.0 s of a 1.5 s cut of a clip with 2 s of sound)
                    until = max(until or 0.0, self.info.cut_end)
                self.audio.close(self.container, None if complete and not self.info.cut else until)
        except (av.error.FFmpegError, OSError) as exc:
            error = exc
        finally:
            try:
                self.container.close()
            except (av.error.FFmpegError, OSError) as exc:
                error = error or exc
        if (error is not None or self._failed) and self.tmp.exists() and not _plays(self.tmp):
            # a write failed (a full disk): an MP4/MOV cut off so has no index and does not play; a
            # partial file named as kept would only hold the disk full
            self.tmp.unlink(missing_ok=True)
        if error is not None and not self._failed and complete:
            # the caller asked for a finished file and there is none: an error, not a warning
            if not self.keep_partial or self.frames_written == 0 or not self.tmp.exists():
                self.tmp.unlink(missing_ok=True)
                kept = ""
            else:
                kept = f"; partial output kept: {self.tmp}"
            raise SinkError(f"finishing {self.path.name} failed: {_ffmpeg_reason(error)}{kept}")
        if error is not None or self._failed:
            complete = False
        if complete and self.frames_written == 0:
            complete = False  # nothing was written: never present an empty file as a finished output
        if complete and self.crash_safe and self.fmt in FRAGMENTED:
            self._finish_fragmented()
            return self.path
        if complete:
            publish(self.tmp, self.path, self.overwrite)
            return self.path
        if not self.keep_partial or self.frames_written == 0 or not self.tmp.exists():
            self.tmp.unlink(missing_ok=True)
            return None  # nothing kept
        return self.tmp

    def _finish_fragmented(self) -> None:
        """The finished recording as a regular MP4/MOV (one index, what editors expect), its packets
        copied from the fragmented partial file; if that fails, the fragmented file (it plays) is kept."""
        regular = temporary_path(self.path)  # a partial file's name too: a batch's clean-up knows it
        try:
            defragment(self.tmp, regular, self.fmt, self._options, start=self._first_time)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            regular.unlink(missing_ok=True)
            self.warn(f"{self.path.name} is kept as a fragmented {self.fmt.upper()} (it plays; some editors refuse it): {exc}")
            publish(self.tmp, self.path, self.overwrite)
            return
        self.tmp.unlink(missing_ok=True)  # the regular copy is whole: one file is kept, the one named
        publish(regular, self.path, self.overwrite)


def _plays(path: Path) -> bool:
    """Whether a (partial) file opens and gives a first video frame."""
    try:
        with ffmpeg_log(), open_input(path) as c:
            return next(c.decode(video=0), None) is not None
    except (av.error.FFmpegError, OSError, ValueError, IndexError):
        return False


#: containers a live recording is written fragmented into while it lasts
FRAGMENTED = ("mp4", "mov")


def crash_safe_options(fmt: str, options: dict[str, str]) -> dict[str, str]:
    """Muxer options under which a recording cut off at any moment still plays up to its last second.

    A regular MP4/MOV keeps its index (``moov``) for the end: a recording killed before it was
    closed (kill -9, an out-of-memory kill, a power cut, a crash in a native library) had none and
    would not play at all (``moov atom not found``), and FFmpeg's 32 KiB write buffer held its first
    seconds back from the disk. Live footage cannot be made again, so while it is recorded:

    * MP4/MOV are written *fragmented*: an empty index first, then a small index with each second
      of video (``frag_duration``) — a cut-off file plays up to its last complete fragment. When the
      recording ends normally it is copied into a regular file (:func:`defragment`).
    * Every packet is handed to the disk as it is muxed (``flush_packets``); Matroska and WebM, which
      need no index to play, then lose at most their last cluster; MPEG-TS and AVI, a few frames.

    What is lost on a crash is what the encoder still held (x264's look-ahead: about a second).

    Args:
        fmt: FFmpeg muxer name.
        options: the regular file's muxer options (``movflags`` already there are kept).

    Returns:
        the options to write the partial file with.

    Example:
        >>> crash_safe_options("mp4", {"movflags": "use_metadata_tags"})["movflags"]
        'use_metadata_tags+frag_keyframe+empty_moov+default_base_moof'
    """
    out = {**options, "flush_packets": "1"}
    if fmt in FRAGMENTED:
        flags = [f for f in out.get("movflags", "").split("+") if f]
        out["movflags"] = "+".join(flags + ["frag_keyframe", "empty_moov", "default_base_moof"])
        out["frag_duration"] = "1000000"  # µs: a fragment a second
    return out


def defragment(src: Path, dst: Path, fmt: str, options: dict[str, str], start: float | None = None) -> None:
    """Copy every packet of a fragmented MP4/MOV ``src`` into a regular one, ``dst`` (no re-encoding).

    Durations, colour tags and metadata go along unchanged (the streams are made from the source's as
    templates), and so do timestamps, but for one shift: a fragment cannot hold a decoding time
    before zero, so where the encoder reorders frames (x264's B-frames: the first frame decoded two
    frames before it is shown) the fragmented muxer delays *every* timestamp by that reordering. Its
    size is two frame intervals at the rate frames were *delivered*: 0.4 s at a live 5 fps, 2 s at 1 fps.
    Copied as it was, a recording started that late behind an empty edit and its file said 3.54 s for
    a 3 s session. ``start`` (seconds), the first frame's time as the sink gave it, takes it back: the
    regular file starts where the recording did (its decoding times before zero, as any MP4 with B-frames).
    """
    with open_input(src) as i, av.open(ffmpeg_name(dst), "w", format=fmt, options=dict(options)) as o:
        o.metadata.update(i.metadata)
        streams = {}
        for st in i.streams:
            streams[st.index] = ost = o.add_stream_from_template(st)
            if fmt in ("mp4", "mov") and st.type == "video" and st.codec_tag:  # the template forgets it (hvc1: Apple's players)
                ost.codec_tag = st.codec_tag
            ost.metadata.update(st.metadata)
            ost.time_base = st.time_base
        shift = 0.0
        video = video_stream(i)
        if start is not None and video is not None and video.start_time is not None and video.time_base:
            shift = max(0.0, float(video.start_time * video.time_base) - start)
        for pkt in i.demux():
            if pkt.dts is None and pkt.size == 0:
                continue  # the demuxer's end-of-stream marker
            if shift and pkt.time_base:
                ticks = round(shift / pkt.time_base)
                pkt.pts = None if pkt.pts is None else pkt.pts - ticks
                pkt.dts = None if pkt.dts is None else pkt.dts - ticks
            pkt.stream = streams[pkt.stream.index]
            o.mux(pkt)


@contextmanager
def ffmpeg_log() -> Iterator[None]:
    """Let FFmpeg's error lines reach PyAV's exceptions ("last error log: …") without printing them.

    The level is process-wide (:class:`~..loglevel.SharedQuiet`: two pipelines opening their encoders in
    two threads at once left it at ERROR for good).
    """
    with ffmpeg_errors(), av.logging.Capture():
        yield


def _ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's own last log line where PyAV gives one ("av1 only supported in MP4 and AVIF"), else the error."""
    text = str(exc)
    marker = "last error log:"
    if marker in text:
        reason = text.split(marker, 1)[1].strip()
        return reason.split("] ", 1)[1] if reason.startswith("[") and "] " in reason else reason
    return getattr(exc, "strerror", None) or text


_CHROMA_RANK = {"420": 0, "422": 1, "444": 2}


def written_size(chroma: str, width: int, height: int) -> tuple[int, int]:
    """The size a ``width``×``height`` picture is written at with ``chroma`` subsampling: 4:2:0 needs even
    sides, 4:2:2 an even width, 4:4:4 neither (an odd side is padded by one edge pixel).

    Example:
        >>> written_size("420", 161, 121), written_size("422", 161, 121), written_size("444", 161, 121)
        ((162, 122), (162, 121), (161, 121))
    """
    return (width + width % 2 if chroma != "444" else width, height + height % 2 if chroma == "420" else height)


def keeps_pixel_shape(codec: str, fmt: str) -> bool:
    """Whether ``codec`` in container ``fmt`` (FFmpeg's name) keeps non-square pixels: H.264, H.265 and MPEG-4
    carry the shape in their bitstream; VP9 and AV1 in Matroska or WebM would need its display size, written
    from a stream field that PyAV cannot set."""
    return fmt not in ("webm", "matroska") or codec in ("libx264", "libx265", "mpeg4")


def output_chroma(codec: str, bit_depth: int, chroma: str) -> str:
    """The chroma subsampling ``codec`` writes a ``bit_depth``-bit ``chroma`` source with (what the sink chooses)."""
    return chroma_of(_choose_pix_fmt(av.codec.Codec(codec, "w"), bit_depth, chroma))


def _choose_pix_fmt(codec, bit_depth: int, chroma: str = "420") -> str:
    """The encoder's pixel format closest to the source: its depth (8 or 10/12 bits), then its chroma
    subsampling, then 4:2:0."""
    names = [f.name for f in (codec.video_formats or [])]
    if bit_depth > 8:  # a 12-bit source (HEVC Main 12, ProRes 4444) keeps its 12 bits where the encoder writes them
        deep = ("12", "10") if bit_depth >= 12 else ("10", "12")
        for cand in (*(f"yuv{chroma}p{d}le" for d in deep), *(f"yuv420p{d}le" for d in deep), "yuv444p10le"):
            if cand in names:
                return cand
    for cand in (f"yuv{chroma}p", "yuv420p", "yuvj420p", "yuv444p", "rgb24"):
        if not names or cand in names:
            return cand
    return names[0]


def _letterbox(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """``img`` scaled to fit ``width``×``height`` whole (its shape kept), centred on black.

    Example:
        >>> _letterbox(np.full((10, 40, 3), 255, np.uint8), 20, 20)[:, 10].ravel()[::3].tolist()
        [0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0]
    """
    h, w = img.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    out = np.zeros((height, width, img.shape[2]), img.dtype)
    y, x = (height - nh) // 2, (width - nw) // 2
    out[y : y + nh, x : x + nw] = small
    return out
