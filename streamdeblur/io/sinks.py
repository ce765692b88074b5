"""Sinks: video files (PyAV, audio kept), image folders, a preview window, and nothing.

Video files are written under a temporary name next to the target (``name.partial.mp4``) and
renamed when complete, so a finished file always means a finished run; an interrupted run still
closes the container properly (the partial file plays) and says where it is.

Timestamps: each output frame gets its source frame's ``pts`` in the source's ``time_base``; the
encoder's time base is set to that same value, so nothing is rounded to a frame grid and
variable-frame-rate input stays variable. Audio streams are copied packet for packet when the
output container accepts their codec (tried on a scratch container first), otherwise re-encoded
(AAC; Opus for WebM). Audio is interleaved as the video advances, and an interrupted run keeps
the audio up to its last video frame.

Example:
    >>> sink = VideoSink("out.mp4", source.info)           # doctest: +SKIP
    >>> for frame in frames: sink.write(frame)             # doctest: +SKIP
    >>> sink.close()                                        # doctest: +SKIP
"""

from __future__ import annotations

import io
import logging
import math
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from .color import ColorInfo, rgb_to_frame, tag_codec
from .frames import Frame, SourceInfo

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
AUDIO_FALLBACK = {"webm": ("libopus", 48000), "matroska": ("aac", None)}


class SinkError(Exception):
    """The output cannot be written; one line for the user."""


def partial_path(path: Path) -> Path:
    """Where a file is written until it is complete: ``clip.mp4`` → ``clip.partial.mp4``."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def check_output(path: Path, inputs: list[Path] | None = None, overwrite: bool = False) -> None:
    """Refuse unsafe outputs before any decoding starts (same file as an input, existing file,
    unwritable folder)."""
    path = Path(path)
    for inp in inputs or []:
        try:
            same = path.exists() and inp.exists() and os.path.samefile(path, inp)
        except OSError:
            same = False
        if same or path.resolve() == Path(inp).resolve():
            raise SinkError(f"output {path} is the input file; refusing to overwrite it")
    if path.exists() and not overwrite:
        raise SinkError(f"output {path} exists; pass --overwrite to replace it")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SinkError(f"output folder does not exist: {folder}")
    try:  # a real write, not os.access: read-only filesystems and root-squashed mounts say no here
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".streamdeblur-probe-"):
            pass
    except OSError as exc:
        raise SinkError(f"output folder is not writable: {folder} ({exc.strerror or exc})") from None


class AudioCopier:
    """Copies (or re-encodes) the audio streams of ``source`` into ``container``, progressively."""

    def __init__(self, source: Path, container, fmt: str, warn: Callable[[str], None]) -> None:
        self.warn = warn
        self._in = av.open(str(source), metadata_errors="replace")
        self._streams = []  # (in_stream, out_stream, encoder-or-None, resampler)
        for s in self._in.streams.audio:
            if s.codec_context is None or not s.codec_context.name:
                continue
            if _can_copy(s, fmt):
                self._streams.append((s, container.add_stream_from_template(s), None))
            else:
                codec, rate = AUDIO_FALLBACK.get(fmt, ("aac", None))
                rate = rate or s.rate or 48000
                out = container.add_stream(codec, rate=rate)
                layout = s.layout.name if s.layout else "stereo"
                try:
                    out.layout = layout
                except Exception:  # noqa: BLE001
                    out.layout = "stereo"
                resampler = av.AudioResampler(format=out.format.name if out.format else "fltp", layout=out.layout, rate=rate)
                self._streams.append((s, out, resampler))
                warn(f"audio codec {s.codec_context.name} cannot go into {fmt}; re-encoding it to {codec}")
        self._demux: Iterator = self._in.demux(*[s for s, _, _ in self._streams]) if self._streams else iter(())
        self._pending = None
        self._done = not self._streams

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
            self._mux(container, pkt)

    def _mux(self, container, pkt) -> None:
        for s, out, resampler in self._streams:
            if pkt.stream is not s:
                continue
            if resampler is None:
                pkt.stream = out
                container.mux(pkt)
            else:
                try:
                    frames = pkt.decode()
                except av.error.FFmpegError as exc:
                    self.warn(f"skipped an undecodable audio packet: {exc}")
                    return
                for f in frames:
                    f.pts = None
                    for rf in resampler.resample(f):
                        container.mux(out.encode(rf))

    def _flush(self, container) -> None:
        for _, out, resampler in self._streams:
            if resampler is not None:
                for rf in resampler.resample(None):
                    container.mux(out.encode(rf))
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


def container_options(fmt: str, time_base: Fraction | None) -> dict[str, str]:
    """Muxer options that keep timestamps exact.

    MP4/MOV store a stream's start offset (its first ``pts`` when that is not 0: a cut from a
    longer recording, a segment) in an edit list counted in the *movie* time scale, which FFmpeg
    sets to 1000 by default: the offset is rounded to a millisecond and every ``pts`` read back
    moves by up to one tick of it. Using the stream's own time scale keeps them exact.
    """
    if fmt in ("mp4", "mov") and time_base is not None and 0 < time_base.denominator < 2**31:
        return {"movie_timescale": str(time_base.denominator)}
    return {}


def _can_copy(stream, fmt: str) -> bool:
    """Try the stream copy on a scratch container of the same format (nunif's dry run)."""
    try:
        buf = io.BytesIO()
        with av.open(buf, "w", format=fmt) as c:
            c.add_stream_from_template(stream)
            c.start_encoding()
        return True
    except Exception:  # noqa: BLE001
        return False


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
        options: extra encoder options.
        threads: encoder threads; 0 lets the encoder choose (x264: 1.5 per core).
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
        options: dict | None = None,
        warn: Callable[[str], None] | None = None,
        threads: int = 0,
    ) -> None:
        self.path = Path(path)
        self.tmp = partial_path(self.path)
        self.info = info
        self.warn = warn or (lambda m: log.warning(m))
        self.keep_partial = keep_partial
        fmt = FORMAT_BY_SUFFIX.get(self.path.suffix.lower())
        if fmt is None:
            raise SinkError(f"unknown output container {self.path.suffix!r}; use one of {', '.join(FORMAT_BY_SUFFIX)}")
        try:
            codec_obj = av.codec.Codec(codec, "w")
        except Exception:  # noqa: BLE001
            raise SinkError(f"unknown encoder {codec!r} (see 'streamdeblur info' for the available ones)") from None
        self.fmt = fmt
        self.color: ColorInfo = info.color
        self.pix_fmt = _choose_pix_fmt(codec_obj, info.color.bit_depth)
        self.width, self.height = info.width + info.width % 2, info.height + info.height % 2
        if (self.width, self.height) != (info.width, info.height):
            self.warn(f"{info.width}x{info.height} has an odd side; the output is padded to {self.width}x{self.height}")
        rate = info.fps or Fraction(25)
        tb = info.time_base or 1 / rate
        try:
            self.container = av.open(str(self.tmp), "w", format=fmt, options=container_options(fmt, tb))
        except (av.error.FFmpegError, OSError) as exc:
            raise SinkError(f"cannot create {self.tmp}: {exc}") from None
        self.stream = self.container.add_stream(codec, rate=rate)
        s = self.stream
        s.width, s.height, s.pix_fmt = self.width, self.height, self.pix_fmt
        s.time_base = tb
        s.codec_context.time_base = tb
        opts = dict(options or {})
        if crf is not None and codec in ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "libaom-av1", "libvpx"):
            opts.setdefault("crf", str(crf))
            if codec in ("libvpx-vp9", "libvpx"):
                opts.setdefault("b", "0")
        if preset and codec in ("libx264", "libx265", "libsvtav1"):
            opts.setdefault("preset", str(preset))
        if codec == "libx265":
            opts.setdefault("x265-params", "log-level=error")
        s.options = opts
        if threads:
            s.codec_context.thread_count = threads
        tag_codec(s.codec_context, self.color)
        self.audio = None
        if audio and info.path is not None and info.has_audio:
            try:
                self.audio = AudioCopier(info.path, self.container, fmt, self.warn)
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                self.warn(f"audio not copied (unreadable audio in the input): {exc}")
        self.frames_written = 0
        self.last_end: float | None = None
        self._closed = False
        self._failed = False

    def write(self, frame: Frame) -> None:
        img = frame.image
        if img.shape[:2] != (self.height, self.width):
            img = np.pad(img, ((0, self.height - img.shape[0]), (0, self.width - img.shape[1]), (0, 0)), mode="edge")
        vf = rgb_to_frame(img, self.color, self.pix_fmt)
        vf.pts = frame.pts if frame.pts is not None else frame.index
        vf.time_base = frame.time_base or self.stream.codec_context.time_base
        if self._failed:
            raise SinkError(f"writing {self.tmp} failed earlier")
        try:
            for pkt in self.stream.encode(vf):
                self.container.mux(pkt)
            t = frame.time
            if t is not None:
                self.last_end = t + (float(1 / self.info.fps) if self.info.fps else 0.0)
                if self.audio is not None:
                    self.audio.mux_until(self.container, t)
        except (av.error.FFmpegError, OSError) as exc:
            self._failed = True  # FFmpeg must not be fed again after an I/O error: it can crash
            msg = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise SinkError(f"writing {self.tmp} failed: {msg}") from None
        self.frames_written += 1

    def close(self, complete: bool = True) -> Path:
        """Flush and close. ``complete``: rename to the final name; else keep/remove the partial file.

        Returns:
            The path of the file left on disk (final or partial).
        """
        if self._closed:
            return self.path if complete else self.tmp
        self._closed = True
        error = None
        try:
            if self._failed:  # after a failed write, flushing the encoder into the broken muxer crashes FFmpeg
                raise OSError("an earlier write failed")
            for pkt in self.stream.encode(None):
                self.container.mux(pkt)
            if self.audio is not None:
                self.audio.close(self.container, None if complete else self.last_end)
        except (av.error.FFmpegError, OSError) as exc:
            error = exc
        finally:
            try:
                self.container.close()
            except (av.error.FFmpegError, OSError) as exc:
                error = error or exc
        if error is not None or self._failed:
            complete = False
            if not self._failed:
                self.warn(f"finishing {self.tmp} failed: {error}")
        if complete and self.frames_written == 0:
            complete = False  # nothing was written: never present an empty file as a finished output
        if complete:
            os.replace(self.tmp, self.path)
            return self.path
        if not self.keep_partial or self.frames_written == 0:
            self.tmp.unlink(missing_ok=True)
        return self.tmp


def _choose_pix_fmt(codec, bit_depth: int) -> str:
    names = [f.name for f in (codec.video_formats or [])]
    if bit_depth > 8:
        for cand in ("yuv420p10le", "yuv420p12le", "yuv444p10le"):
            if cand in names:
                return cand
    for cand in ("yuv420p", "yuvj420p", "yuv444p", "rgb24"):
        if not names or cand in names:
            return cand
    return names[0]


class ImageSink:
    """Frames as numbered PNGs (16-bit for deep sources) in a folder, each written atomically."""

    def __init__(self, folder: str | Path, pattern: str = "frame_{index:06d}.png") -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pattern = pattern
        self.frames_written = 0

    def write(self, frame: Frame) -> None:
        path = self.folder / self.pattern.format(index=frame.index)
        tmp = path.with_name(path.stem + ".partial" + path.suffix)
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(frame.image[..., ::-1])):
            raise SinkError(f"cannot write {tmp}")
        os.replace(tmp, path)
        self.frames_written += 1

    def close(self, complete: bool = True) -> Path:
        return self.folder


def display_available() -> bool:
    """True when a window can be opened (``cv2.imshow`` aborts the process without a display)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class PreviewSink:
    """Shows frames in an OpenCV window; ``q`` or Esc asks the pipeline to stop.

    All GUI calls happen on one thread of its own (HighGUI backends such as Qt deadlock when a
    window is created, drawn and destroyed from different threads). ``write`` only hands over
    the newest frame, so a slow display never slows the pipeline.
    """

    def __init__(self, title: str = "streamdeblur", on_quit: Callable[[], None] | None = None) -> None:
        if not display_available():
            raise SinkError("no display for the preview window (DISPLAY is not set); drop --preview or run under a desktop/Xvfb")
        self.title = title
        self.on_quit = on_quit
        self.frames_written = 0
        self.frames_shown = 0
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="preview", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._frame is not None or self._closing, timeout=0.05)
                    img, self._frame = self._frame, None
                    closing = self._closing
                if img is not None:
                    cv2.imshow(self.title, img)
                    self.frames_shown += 1
                key = cv2.waitKey(1) & 0xFF
                if key in (ord("q"), 27) and self.on_quit:
                    self.on_quit()
                if closing:
                    break
        finally:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)

    def write(self, frame: Frame) -> None:
        img = frame.image
        if img.dtype == np.uint16:
            img = (img >> 8).astype(np.uint8)
        with self._cond:
            self._frame = np.ascontiguousarray(img[..., ::-1])
            self._cond.notify()
        self.frames_written += 1

    def close(self, complete: bool = True) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(5.0)


class NullSink:
    """Discards frames (benchmarks)."""

    def __init__(self) -> None:
        self.frames_written = 0

    def write(self, frame: Frame) -> None:
        self.frames_written += 1

    def close(self, complete: bool = True) -> None:
        return None


class TeeSink:
    """Writes every frame to several sinks (e.g. a preview and a recording)."""

    def __init__(self, *sinks) -> None:
        self.sinks = list(sinks)

    @property
    def frames_written(self) -> int:
        return min(s.frames_written for s in self.sinks)

    def write(self, frame: Frame) -> None:
        for s in self.sinks:
            s.write(frame)

    def close(self, complete: bool = True):
        out = None
        for s in self.sinks:
            r = s.close(complete)
            out = out or r
        return out
