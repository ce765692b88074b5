"""Video files and network streams read with PyAV (file semantics, or newest-frame for live URLs)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av

from ...errors import one_line
from ..color import ColorInfo, above_white, describe_frame, describe_stream, frame_to_rgb
from ..deinterlace import Deinterlacer
from ..frames import Frame, SourceInfo
from ..hdr import HdrMetadata, frame_hdr
from ..loglevel import ffmpeg_errors
from ..orientation import Orientation, frame_display_matrix
from ..streamcopy import is_cover
from ..streams import left_out, video_stream
from ..timestamps import BestEffortTimestamps
from .base import LIVE_SCHEMES, DecodeStats, SourceError, _is_url, _LiveMixin, log, open_video

#: FFmpeg field orders that mean interlaced, as PyAV gives them (the AVFieldOrder number, or its name).
INTERLACED_ORDERS = frozenset({"2", "3", "4", "5", "tt", "bb", "tb", "bt"})


#: FFmpeg's names of the formats whose timestamps are the recorder's clock (MPEG transport and program
#: streams: AVCHD ``.mts``/``.m2ts``, broadcast ``.ts``, ``.vob``/``.mod``), not a place in the recording
CLOCK_FORMATS = ("mpegts", "mpeg")


def nominal_rate(vs) -> Fraction | None:
    """A video stream's frame rate as a run writes it: the average, else FFmpeg's guess (None if neither)."""
    rate = vs.average_rate or vs.guessed_rate
    return Fraction(rate) if rate else None


class VideoSource(_LiveMixin):
    """A video file or network stream read with PyAV (``thread_type="AUTO"``).

    Files are read as a player shows them: a portrait clip's pictures turned upright
    (:mod:`..orientation`), interlaced ones made progressive (:mod:`..deinterlace`); ``info`` gives
    the upright size and the pixel shape.

    Args:
        spec: file path or URL.
        strict: stop at the first undecodable packet instead of skipping it.
        live: newest-frame semantics; default: True for network URLs, False for files and for
            http(s) URLs of files (a known duration: a web server's video, not a camera's stream).
        reconnect: for live streams, how many times to reopen after a disconnect (with backoff).
        options: extra FFmpeg options for ``av.open`` (e.g. ``{"rw_timeout": "5000000"}``).
        threads: decoder threads; 0 lets FFmpeg choose (one per core).
    """

    def __init__(
        self,
        spec: str,
        strict: bool = False,
        live: bool | None = None,
        reconnect: int = 5,
        options: dict | None = None,
        on_warning: Callable[[str], None] | None = None,
        threads: int = 0,
    ) -> None:
        self.spec = spec
        self.threads = threads
        self.strict = strict
        self.is_url = _is_url(spec)
        self.live = live if live is not None else (self.is_url and spec.split(":", 1)[0].lower() in LIVE_SCHEMES)
        self.reconnect = reconnect
        self.options = dict(options or {})
        if self.is_url:
            self.options.setdefault("rw_timeout", "10000000")
        self.stats = DecodeStats()
        self._stop = threading.Event()
        self.warn = on_warning or (lambda m: log.warning(m))
        if not self.is_url:
            p = Path(spec)
            if spec == "-" and not p.exists():
                raise SourceError("input '-' (standard input) is not read: give a file (save the stream to one first)")
            if not p.exists():
                raise SourceError(f"input not found: {spec}")
            if p.is_dir():
                raise SourceError(f"input is a directory: {spec} (use a glob or 'batch' for folders)")
            if not p.is_file():  # its size is 0 whatever flows through it: it was called "empty"
                raise SourceError(
                    f"input is a pipe or a device, not a file: {spec} (its sound and tags are read in a second pass; "
                    "save the stream to a file first)"
                )
            if p.stat().st_size == 0:
                raise SourceError(f"input is empty (0 bytes): {spec}")
        #: the file's size when opened: one that grows meanwhile is still being written (a recording)
        opened = None if self.is_url else Path(spec).stat()
        self._opened_size = None if opened is None else opened.st_size
        #: which file that was (device, inode): a file moved over the name meanwhile is not one that grew
        self._opened_id = None if opened is None else (opened.st_dev, opened.st_ino)
        self._container = self._open()
        if live is None and self.is_url and spec.split(":", 1)[0].lower() in ("http", "https") and self._container.duration:
            self.live = False  # a video file on a web server (it has a duration; a camera's stream has none): every frame
        self.orientation: Orientation | None = None
        self.interlaced = False  #: frames go through FFmpeg's bwdif (io/deinterlace.py)
        self._above_white_said = False  #: luma above white (super-whites) said once
        self.hdr: HdrMetadata | None = None  #: HDR10 static metadata, for the encoder (io/hdr.py)
        if (not self.is_url and Path(spec).is_file()) or (self.is_url and not self.live):  # not a pipe: read twice
            self.orientation, self.interlaced, self.hdr = self._probe_first_frame()
        self.info = self._describe()
        vs = video_stream(self._container)
        note = left_out(self._container, vs)
        if note:  # a thumbnail track, a second camera: not deblurred, not copied
            self.warn(f"{self.info.name} {note}")
        if has_alpha(vs):
            self.warn(f"{self.info.name} has a transparency (alpha) channel; the output is opaque (it is not kept)")
        # an album-style cover (MP4/MKV) or files attached to an MKV: copied with the audio where the
        # output holds them (a cover into MP4), said where it does not (io/audio.py, engine/build.py)
        self.info.covers = sum(1 for s in self._container.streams if is_cover(s))

    def _open(self):
        return open_video(self.spec, options=self.options, timeout=10.0 if self.is_url else None)

    def _describe(self) -> SourceInfo:
        c = self._container
        vs = video_stream(c)
        cc = vs.codec_context
        if cc is None or not cc.name:
            raise SourceError(f"unsupported video codec in {self.spec}: no decoder for it")
        if cc.width <= 0 or cc.height <= 0:
            raise SourceError(f"cannot read the video size of {self.spec} (corrupt or unsupported stream)")
        color = describe_stream(cc.height, cc.pix_fmt, cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc)
        start = c.start_time / av.time_base if c.start_time is not None else None
        duration = None
        if vs.duration is not None and vs.time_base:
            duration = float(vs.duration * vs.time_base)
        elif c.duration:
            duration = c.duration / av.time_base
            if start and 0 < start < duration and c.format.name.startswith("matroska"):
                # Matroska keeps no per-stream duration, and FFmpeg's muxer writes the segment's *end*
                # time as its Duration: a 1 s clip whose timestamps start at 1 h "lasts" 3601 s
                # (108030 frames). Where that end lies past the start, the span is end − start.
                duration -= start
        fps = nominal_rate(vs)
        frames = vs.frames or (round(duration * float(fps)) if duration and fps else None)
        # an AVI's index lists the empty entries its muxer wrote for dropped frames (a gap in the
        # timestamps): 31 listed, 30 pictures, in a complete file; its count is an upper bound
        exact = bool(vs.frames) and c.format.name != "avi"
        if vs.frames and duration and vs.average_rate:
            # a file trimmed without re-encoding (a phone's Trim, ``ffmpeg -ss … -c copy``) keeps the
            # frames before the cut in its index and an edit list that hides them: 45 listed, 42 shown.
            # What plays is the stream's duration at its average rate; the decoder gives exactly those.
            shown = duration * float(vs.average_rate)
            if vs.frames > round(shown):
                frames, exact = round(shown), exact and abs(shown - round(shown)) < 0.1
        width, height = self.orientation.size(cc.width, cc.height) if self.orientation else (cc.width, cc.height)
        sar = vs.sample_aspect_ratio or cc.sample_aspect_ratio  # None or 0/1: square (or unknown)
        sar = Fraction(sar) if sar and Fraction(sar) != 1 else None
        if sar is not None and self.orientation is not None and self.orientation.transpose:
            sar = 1 / sar  # a pixel 4:3 wide stands 3:4 once the picture is turned
        return SourceInfo(
            name=Path(self.spec).name if not self.is_url else self.spec,
            width=width,
            height=height,
            fps=Fraction(fps) if fps else None,
            time_base=vs.time_base,
            color=color,
            live=self.live,
            frames=None if self.live else frames,
            frames_exact=exact and not self.live,
            start_time=None if self.live else start,
            origin=0.0 if self.live else clock_origin(c),
            duration=None if self.live else duration,
            path=None if self.is_url else Path(self.spec),
            url=self.spec if self.is_url and not self.live else None,
            has_audio=bool(c.streams.audio) and not self.live,
            has_subtitles=bool(c.streams.subtitles) and not self.live,
            codec=cc.name,
            orientation=self.orientation,
            interlaced=self.interlaced,
            sample_aspect=sar,
            hdr=self.hdr,
            video_span=None if self.live or exact else _span(vs, start),
            video_end=_index_end(vs, start) if exact and not self.live else None,
        )

    def _probe_first_frame(self) -> tuple[Orientation | None, bool, HdrMetadata | None]:
        """What the file's first decoded frame says: its display orientation (phones' portrait
        clips), whether it is interlaced (camcorders' 1080i; the stream's field order counts too)
        and its HDR10 metadata.

        A second, short-lived demuxer: peeking with the main one would need a seek back (not every
        file can). Unreadable: no turn, progressive.
        """
        try:
            c = open_video(self.spec, options=self.options)
        except SourceError:
            return None, False, None
        matrix, interlaced, hdr = None, False, None
        try:
            vs = video_stream(c)
            interlaced = str(getattr(vs.codec_context, "field_order", "") or "").lower() in INTERLACED_ORDERS
            for n, packet in enumerate(c.demux(vs)):
                frames = packet.decode()
                if frames:
                    matrix = frame_display_matrix(frames[0])
                    interlaced = interlaced or bool(getattr(frames[0], "interlaced_frame", False))
                    hdr = frame_hdr(frames[0])
                    break
                if n > 256:  # no picture this early: a broken file; the main decode will say so
                    break
        except (av.error.FFmpegError, OSError, ValueError):
            return None, False, None
        finally:
            c.close()
        if matrix is None:
            return None, interlaced, hdr
        try:
            return Orientation.from_matrix(matrix), interlaced, hdr
        except ValueError:
            self.warn(f"{self.spec}: its display matrix is not a right-angle turn; the pictures are used as decoded")
            return None, interlaced, hdr

    @property
    def container_format(self) -> str:
        """FFmpeg's name of the open container's format (``mov,mp4,…``, ``mpjpeg``); empty once closed."""
        return self._container.format.name if self._container is not None else ""

    def close(self) -> None:
        self._stop.set()
        self._close_container()

    def _close_container(self) -> None:
        c, self._container = self._container, None
        try:
            if c is not None:
                c.close()
        except Exception:  # noqa: BLE001
            pass

    def stop(self) -> None:
        self._stop.set()

    def seek(self, seconds: float) -> None:
        """Start decoding at the keyframe at or before ``seconds`` (presentation time; files only).

        A transport stream has no index: FFmpeg's seek there is a search by timestamp that lands on
        whatever packet is near, often after the keyframe before ``seconds`` (``--start 2.3`` on a clip
        with keyframes at 1.48 and 2.48 s gave only 2.48 on; ``--start 3.5`` landed where nothing
        decoded). There the landing is checked: the first frame decoded from it must be at or before
        ``seconds``, else the seek goes further back (1, 4, 16 … s), down to the file's start.
        """
        vs = video_stream(self._container)
        if self.live or not vs.time_base:
            return
        try:
            if self._container.format.name not in CLOCK_FORMATS:
                self._container.seek(int(seconds / vs.time_base), stream=vs, backward=True, any_frame=False)
                return
            start = self.info.start_time if self.info.start_time is not None else 0.0
            margin = 1.0
            while seconds - margin > start:
                target = int((seconds - margin) / vs.time_base)
                probe = self._open()  # a second demuxer: the main one's decoder stays unopened (threads set later)
                try:
                    probe.seek(target, stream=video_stream(probe), backward=True, any_frame=False)
                    first = self._first_time(probe)
                finally:
                    probe.close()
                if first is not None and first <= seconds + 1e-6:
                    self._container.seek(target, stream=vs, backward=True, any_frame=False)  # lands where the probe did
                    return
                margin *= 4
            self._close_container()  # from the start: a fresh demuxer (a seek to the start may land after it)
            self._container = self._open()
        except av.error.FFmpegError as exc:  # not seekable (a pipe, a broken index): decode from the start
            self.warn(f"cannot seek in {self.spec} ({exc}); decoding from the start")

    @staticmethod
    def _first_time(container) -> float | None:
        """The presentation time of the first frame decoded from where ``container`` stands (None: none)."""
        vs = video_stream(container)
        for packet in container.demux(vs):
            try:
                for vf in packet.decode():
                    if vf.pts is not None:
                        return float(vf.pts * vs.time_base)
            except av.error.FFmpegError:
                continue
        return None

    def frames(self) -> Iterator[Frame]:
        if self.live:
            yield from self._drain(self._start_grabber(self._grab_live))
        else:
            yield from self._decode(self._container, 0)

    def _decode(self, container, start_index: int) -> Iterator[Frame]:
        """Decode every frame, flush packet included (the decoder's last frames come out of it)."""
        vs = video_stream(container)
        vs.thread_type = "AUTO"
        if self.threads:
            vs.codec_context.thread_count = self.threads
        index = start_index
        color: ColorInfo | None = None
        last_pts: int | None = None
        # presentation times: FFmpeg's best-effort rule with one frame of hindsight on files (packed
        # B-frames in AVI give out-of-order pts), none on live streams (no added latency)
        clock = BestEffortTimestamps(lookahead=0 if self.live else 1)
        held: deque = deque()

        def emit(vf, pts: int | None) -> Frame:
            nonlocal color, last_pts, index
            if color is None:  # one description per source: the first frame's tags, else the stream's
                color = describe_frame(vf)
                if not color.tagged and self.info.color.tagged:
                    color = replace(self.info.color, bit_depth=color.bit_depth)
            if pts is None and self.info.fps and vs.time_base:  # the container gave none (a raw .h264 stream)
                pts = 0 if last_pts is None else last_pts + round(1 / (self.info.fps * vs.time_base))
            if pts is not None and last_pts is not None and pts <= last_pts:
                back = float((last_pts - pts) * vs.time_base) if vs.time_base else 0.0
                if back > 1.0 and container.format.name in CLOCK_FORMATS:
                    # two recordings joined end to end (cat a.ts b.ts): the second one's frames were squashed
                    # into a millisecond after the first's, and the run failed at its end ("Invalid argument")
                    was, now = float(last_pts * vs.time_base) - self.info.origin, float(pts * vs.time_base) - self.info.origin
                    raise SourceError(
                        f"{self.spec}: its clock jumps back from {was:.2f} s to {now:.2f} s after frame {index} (recordings "
                        f"joined end to end?); remux it first, which joins the two: ffmpeg -i IN -c copy joined.mkv"
                    )
                # corrupt timestamps: nudge just past the previous one (muxers need them increasing)
                self.stats.repaired_pts += 1
                if self.stats.repaired_pts == 1:
                    self.warn(f"{self.spec}: non-increasing timestamps repaired (corrupt input)")
                pts = last_pts + 1
            last_pts = pts
            if not self._above_white_said and index % 15 == 0 and (top := above_white(vf, color)) is not None:
                self._above_white_said = True  # (a frame in 15 looked at: highlights last longer than that)
                self.warn(
                    f"{self.info.name} records highlights above white (luma up to {top[0]}, white is {top[1]}, as "
                    "camcorders do): they come out as white (the output keeps the standard range)"
                )
            image = frame_to_rgb(vf, color)
            if self.orientation is not None:  # upright, as a player shows it (see io/orientation.py)
                image = self.orientation.apply(image)
            frame = Frame(
                image,
                index,
                pts,
                vf.time_base or vs.time_base,
                color,
                self.info.name,
                time.monotonic() if self.live else 0.0,
            )
            index += 1
            return frame

        deint = Deinterlacer() if self.interlaced else None
        waiting: deque = deque()  # timestamps of frames inside bwdif (one frame out per frame in, in order)

        def progressive(vf, pts: int | None) -> Iterator[Frame]:
            if deint is None:
                yield emit(vf, pts)
                return
            waiting.append(pts)
            for out in deint.push(vf):
                yield emit(out, waiting.popleft())

        def decoded(frames) -> Iterator[Frame]:
            for vf in frames:
                held.append(vf)
                for pts in clock.push(vf.pts, getattr(vf, "dts", None)):
                    yield from progressive(held.popleft(), pts)

        def held_back(drain: bool = False) -> Iterator[Frame]:
            """The frames decoded but held (one of hindsight for timestamps, bwdif's last): at the end, or
            before ``--strict`` stops at a corrupt packet (good frames: they were lost with the run);
            ``drain``: the decoder's own too (its threads hold a few; the end's flush packet gives them)."""
            if drain:
                try:
                    yield from decoded(vs.codec_context.decode(None))
                except (av.error.FFmpegError, ValueError):
                    pass
            for pts in clock.flush():
                yield from progressive(held.popleft(), pts)
            if deint is not None:  # bwdif holds the last frame until told the stream ended
                for out in deint.flush():
                    yield emit(out, waiting.popleft())

        def when(packet) -> str:
            """Where a packet sits, in seconds of the file (its pts in the stream's ticks meant nothing to a user)."""
            if packet.pts is None or not packet.time_base:
                return "an unknown time"
            return f"{float(packet.pts * packet.time_base) - self.info.origin:.2f} s"  # (a TS: from its start)

        def at(packet) -> str:
            return f"at {when(packet)}"

        def damaged(where: str, what: str) -> None:
            """The demuxer skipped or flagged damaged data (it raises nothing): counted, said, or the end with --strict."""
            if self.strict:
                raise SourceError(f"damaged data in {self.spec} {where}: {what} (--strict)")
            self.stats.damaged += 1
            if self.stats.damaged <= 3:
                self.warn(f"damaged data in {self.spec} {where}: {what}; frames there are missing or show errors")

        with contextlib.ExitStack() as watch:
            # a damaged Matroska, AVI or transport stream: the demuxer skips to the next part it can read
            # and says so only in its log (frames were lost without a word, and --strict went on); its
            # error lines are read here, in the thread that demuxes (the decoder's threads' are not)
            logs = None
            if not self.live:
                watch.enter_context(ffmpeg_errors())
                logs = watch.enter_context(av.logging.Capture(True))
            demuxer, last = container.format.name, None
            packets = container.demux(vs)
            while not self._stop.is_set():
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.error.EOFError:
                    break
                except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
                    if self.strict:
                        yield from held_back(drain=True)
                        raise SourceError(f"corrupt data in {self.spec}: {one_line(exc, 200)} (--strict)") from None
                    self.stats.skipped_packets += 1
                    if self.stats.skipped_packets <= 3:
                        self.warn(f"skipped unreadable data in {self.spec}: {one_line(exc, 200)}")
                    if self.stats.skipped_packets > 1000:
                        raise SourceError(f"too much corrupt data in {self.spec}; giving up") from None
                    if logs:
                        logs.clear()  # said already, as unreadable data
                    continue
                if logs:
                    said = [m.strip() for level, name, m in logs if name == demuxer and level <= av.logging.ERROR]
                    logs.clear()
                    if said and packet.size:  # (before the end-of-stream marker: a file cut short, said as such)
                        if self.strict:
                            yield from held_back(drain=True)
                        before = f"between {when(last)} and " if last is not None else "before "
                        damaged(before + when(packet), said[0])
                if packet.pts is not None and packet.time_base:
                    last = packet  # (formatted only when damage follows it)
                if packet.is_corrupt:  # a transport stream's packet with pieces lost (FFmpeg: "corrupt input packet")
                    if self.strict:
                        yield from held_back(drain=True)
                    damaged(at(packet), "a packet the demuxer marked corrupt (data lost, or files joined end to end)")
                try:
                    frames = packet.decode()
                except (av.error.InvalidDataError, av.error.FFmpegError, ValueError) as exc:
                    if self.strict:
                        yield from held_back(drain=True)
                        raise SourceError(
                            f"undecodable packet in {self.spec} {at(packet)}: {one_line(exc, 200)} (--strict)"
                        ) from None
                    self.stats.skipped_packets += 1
                    if self.stats.skipped_packets <= 3:
                        self.warn(f"skipped an undecodable packet in {self.spec} ({at(packet)}): {one_line(exc, 200)}")
                    continue
                yield from decoded(frames)
        yield from held_back()
        if index == start_index and not self.live and not self._stop.is_set():
            raise SourceError(f"nothing decodable in {self.spec} ({self.stats.skipped_packets} corrupt packets skipped)")
        self._check_grown(index - start_index)

    def _check_grown(self, frames: int) -> None:
        """Say so when the input file grew while it was read (a recording still being written: what
        was added after its end was reached is not in the output, which said nothing and exited 0)."""
        if self._opened_size is None or self._stop.is_set():
            return
        try:
            st = Path(self.spec).stat()
        except OSError:
            return
        now = st.st_size
        if (st.st_dev, st.st_ino) != self._opened_id:  # replaced (mv over it): the output is the file opened
            self.warn(
                f"{self.spec} was replaced by another file while it was read: the output is made from the file "
                "as it was when the run started"
            )
            self._opened_size = None  # said once
            return
        if now < self._opened_size:  # rewritten in place (`cp` over it): what was read may mix the two files
            self.warn(
                f"{self.spec} changed while it was read ({self._opened_size} → {now} bytes: rewritten in place?): "
                "the output may mix the two files; run it again on the file as it is now"
            )
            self._opened_size = None  # said once
            return
        if now > self._opened_size:
            self.warn(
                f"{self.spec} grew while it was read ({self._opened_size} → {now} bytes): is it still being recorded? "
                f"The output has the {frames} frames read; run it again once the recording has finished"
            )
            self._opened_size = now  # said once

    def _grab_live(self, put: Callable[[Frame], None]) -> None:
        attempts, index = 0, 0
        while not self._stop.is_set():
            try:
                if self._container is not None:  # None: the last reconnect failed
                    for frame in self._decode(self._container, index):
                        put(frame)
                        index = frame.index + 1
                        attempts = 0
            except SourceError:
                raise
            except (av.error.FFmpegError, OSError) as exc:
                self.warn(f"stream error: {one_line(exc, 200)}")
            if self._stop.is_set():
                return
            attempts += 1
            if attempts > self.reconnect:
                self.warn(f"stream {self.spec} ended; no reconnection after {self.reconnect} attempts")
                self.stats.lost = True
                return
            delay = min(8.0, 0.5 * 2 ** (attempts - 1))
            self.warn(f"stream {self.spec} disconnected; reconnecting in {delay:.1f}s ({attempts}/{self.reconnect})")
            self.stats.reconnects += 1
            if self._stop.wait(delay):
                return
            self._close_container()  # the dead connection's socket and decoder go now, not at exit
            try:
                self._container = self._open()
                if self._stop.is_set():  # closed while we were reconnecting
                    self._close_container()
            except SourceError as exc:
                self.warn(f"reconnect failed: {exc}")


def has_alpha(stream) -> bool:
    """Whether a video stream carries transparency: an alpha plane in its pixel format (ProRes 4444,
    PNG or QuickTime RLE in MOV), or WebM's ``alpha_mode`` (VP8/VP9 keep alpha beside the picture).

    Args:
        stream: a PyAV video stream.

    Returns:
        True when the decoded pictures would carry an alpha channel.
    """
    if str(stream.metadata.get("alpha_mode", stream.metadata.get("ALPHA_MODE", ""))) == "1":
        return True
    fmt = stream.codec_context.pix_fmt
    try:
        return any(getattr(c, "is_alpha", False) for c in av.VideoFormat(fmt).components) if fmt else False
    except (ValueError, TypeError):
        return False


def _span(stream, start: float | None) -> tuple[float, float] | None:
    """Where the video stream starts (its first timestamp, else the file's) and where it says it ends."""
    end = declared_end(stream)
    if end is None:
        return None
    first = float(stream.start_time * stream.time_base) if stream.start_time is not None and stream.time_base else start
    return (first or 0.0, end)


def _index_end(stream, start: float | None) -> float | None:
    """Where a stream with a frame index (MP4/MOV) ends by it: its first timestamp plus its duration, s."""
    if stream.duration is None or not stream.time_base:
        return None
    first = float(stream.start_time * stream.time_base) if stream.start_time is not None else (start or 0.0)
    return first + float(stream.duration * stream.time_base)


def declared_end(stream) -> float | None:
    """Where a Matroska/WebM file says its video track ends, s: its ``DURATION`` tag (``HH:MM:SS.nnnnnnnnn``).

    FFmpeg's muxer (and mkvmerge) write it per track as the track's end time, in the same clock as the
    timestamps (a file whose times start at 1 h ends at ``01:00:02``); it is written up front, so a file
    cut short still carries it. None where the track has none.

    Example:
        >>> class S: metadata = {"DURATION": "00:01:02.500000000"}
        >>> declared_end(S())
        62.5
    """
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if not tag:
        return None
    try:
        h, m, sec = tag.split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except ValueError:
        return None


def clock_origin(container) -> float:
    """Where a file's own clock starts, s (:attr:`~streamdeblur.io.frames.SourceInfo.origin`): the first
    presentation time of an MPEG transport or program stream, 0 for other files."""
    if container.format.name in CLOCK_FORMATS and container.start_time is not None:
        return container.start_time / av.time_base
    return 0.0
