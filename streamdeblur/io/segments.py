"""Cut a video into segments at keyframes and join processed segments, both by stream copy.

Long runs are split so that segments can be processed independently (one after the other with
resume, or spread over a Ray cluster) and joined back without re-encoding anything twice.

**Where a cut is allowed.** A cut goes just before a keyframe packet *in decode order*. It is
*clean* when every packet before it has a smaller ``pts`` than the keyframe and every packet after
it a ``pts`` at least as large: then each frame lands in exactly one segment and every segment
decodes on its own (closed GOP). Open-GOP keyframes (leading B-frames that reference the previous
GOP) fail that test from packet metadata alone and are never used. Cuts are placed at the clean
keyframes nearest to equal shares of the duration, so segments are only as even as the GOPs allow
— never snapped past a keyframe and never re-encoded (the failure of time-based ``-ss/-to``
splitting: frames lost or doubled, audio drifting).

**Timestamps.** Segment files keep the source's absolute ``pts`` in the source's time base (MP4
keeps both; the processed segments are written by :class:`~streamdeblur.io.sinks.VideoSink`, which
keeps them too). :func:`join` copies the processed packets unchanged, so every frame of the joined
file has the ``pts`` a single run would have given it.

**Audio** is never split: :func:`join` copies it once from the original source, interleaved with the
video as it goes.

Example:
    >>> cuts = plan_cuts("long.mp4", segments=4)                  # doctest: +SKIP
    >>> files = split("long.mp4", cuts, Path("work"))             # doctest: +SKIP
    >>> # ... process work/seg-0000.src.mp4 → work/seg-0000.mp4, and so on ...
    >>> join([Path("work/seg-0000.mp4"), ...], "long.mp4", Path("out.mp4"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from itertools import accumulate
from pathlib import Path

import av

from ..errors import one_line
from .frames import cut_short
from .paths import ffmpeg_name, open_input
from .sinks import FORMAT_BY_SUFFIX, AudioCopier, SinkError, container_options, partial_path, publish, temporary_path
from .sources import SourceError, clock_origin, declared_end, open_video
from .streamcopy import can_stream_copy
from .streams import left_out, video_stream
from .tags import read_tags


@dataclass(frozen=True)
class SegmentSpec:
    """One segment: frames with ``start <= pts < end`` (``end`` None: to the end), in ``time_base``."""

    index: int
    start: int
    end: int | None
    frames: int
    time_base: str  #: e.g. "1/15360" (a string, so plans serialise as JSON)
    #: ticks added to every timestamp in the segment files (``seg-*.src.*`` and the processed
    #: parts); :func:`join` takes them off again. Non-zero only for a source that starts before 0.
    shift: int = 0

    @property
    def start_seconds(self) -> float:
        return float(self.start * Fraction(self.time_base))

    def to_dict(self) -> dict:
        return asdict(self)


def _packets(
    path: str | Path, warn: Callable[[str], None] | None = None, strict: bool = False
) -> tuple[list[tuple[int, bool]], Fraction, float]:
    """Video packets in decode order as ``(pts, keyframe)``, the time base and the duration (s).

    ``warn`` hears of a file whose video stops well before where it says it ends (a Matroska file cut
    short: :func:`~.frames.cut_short`); its segments hold what there is. ``strict``: such a file is a
    :class:`SourceError` instead (``--strict``, as a single run fails it)."""
    c = open_video(path)
    try:
        vs = video_stream(c)
        note = left_out(c, vs)
        if note and warn is not None:  # said once, where the cuts are planned (the segments hold only this stream)
            warn(f"{Path(str(path)).name} {note}")
        tb = vs.time_base
        rows: list[tuple[int, bool]] = []
        length = 0  # the last packet's duration (where the video ends)
        try:
            for p in c.demux(vs):
                if p.size == 0 and p.dts is None:
                    continue
                pts = p.pts if p.pts is not None else p.dts
                if pts is None:
                    raise SourceError(f"{path}: packets without timestamps cannot be cut by stream copy")
                rows.append((int(pts), bool(p.is_keyframe)))
                length = p.duration or length
        except av.error.FFmpegError as exc:
            raise SourceError(f"{path}: unreadable video ({exc})") from None
        if not rows:
            raise SourceError(f"{path}: no video packets")
        first = min(r[0] for r in rows)
        last = max(r[0] for r in rows)
        end = declared_end(vs)
        note = cut_short(float(first * tb), float((last + length) * tb), end) if end is not None and not vs.frames else None
        if note and strict:
            raise SourceError(f"{Path(path).name}: {note}; --strict stops here")
        if note and warn is not None:
            warn(f"{Path(path).name}: {note}")
        return rows, tb, float((last - first) * tb)
    finally:
        c.close()


def clean_keyframes(rows: list[tuple[int, bool]]) -> list[int]:
    """Decode-order indices of keyframes where a cut leaves both sides self-contained."""
    n = len(rows)
    suffix_min = [0] * (n + 1)
    suffix_min[n] = 2**63
    for i in range(n - 1, -1, -1):
        suffix_min[i] = min(rows[i][0], suffix_min[i + 1])
    out, prefix_max = [], -(2**63)
    for i, (pts, key) in enumerate(rows):
        if i > 0 and key and prefix_max < pts and suffix_min[i] >= pts:
            out.append(i)
        prefix_max = max(prefix_max, pts)
    return out


def plan_cuts(
    path: str | Path,
    segments: int | None = None,
    seconds: float | None = None,
    warn: Callable[[str], None] | None = None,
    strict: bool = False,
) -> list[SegmentSpec]:
    """Choose cut points for ``segments`` segments (or one per ``seconds`` of video).

    Args:
        path: the source video.
        segments: how many segments to aim for.
        seconds: or: aim for segments of about this length.
        warn: hears of a file cut short (its video stops well before where it says it ends), and of
            fewer segments than asked for, with the reason (an open-GOP file has no clean cut).
        strict: a file cut short is an error (:class:`SourceError`), not a warning.

    Returns:
        The segments, in order; fewer than asked when the video has too few clean keyframes.
    """
    rows, tb, duration = _packets(path, warn, strict)
    want = segments if segments else max(1, round(duration / seconds)) if seconds else 1
    keys = clean_keyframes(rows)
    first = min(r[0] for r in rows)
    shift = _shift_for(first, tb)
    chosen: list[int] = []
    for k in range(1, want):
        target = first + (duration * k / want) / tb
        if not keys:
            break
        best = min(keys, key=lambda i: abs(rows[i][0] - target))
        if best not in chosen:
            chosen.append(best)
    chosen.sort()
    if warn is not None and len(chosen) + 1 < want:
        later = sum(1 for _, key in rows[1:] if key)  # keyframes after the first: each a cut if its group is closed
        if keys:
            why = (
                f"it has {len(keys)} place{'s' if len(keys) > 1 else ''} to cut (keyframes that start a closed group of pictures)"
            )
        elif later:
            why = "it has no place to cut: no keyframe starts a closed group of pictures (open-GOP encoding)"
        else:  # a screen recording's or an editor's export with one keyframe: not open-GOP
            why = "it has no place to cut: its only keyframe is its first frame"
        warn(f"{Path(path).name}: {len(chosen) + 1} segment{'s' if chosen else ''} instead of {want}: {why}")
    bounds = [0] + chosen + [len(rows)]
    specs = []
    for j in range(len(bounds) - 1):
        part = rows[bounds[j] : bounds[j + 1]]
        start = first if j == 0 else rows[bounds[j]][0]
        end = rows[bounds[j + 1]][0] if j + 1 < len(bounds) - 1 else None
        specs.append(SegmentSpec(j, start, end, len(part), f"{tb.numerator}/{tb.denominator}", shift))
    return specs


def _shift_for(first: int, tb: Fraction) -> int:
    """Ticks to add so that a source whose first pts is ``first`` starts at or after 0.

    An MPEG-TS recording across its 26.5-hour clock wrap starts before 0 once FFmpeg unwraps it.
    The segment files are MP4, whose muxer cannot hold negative decode times: it wrote them all as
    0 and the first segment decoded nothing. The segment files therefore run ``shift`` ticks late,
    one second more than needed (B-frames decode up to a few frames before they show), and the
    join moves the timestamps back, so the output is what a single run writes.
    """
    return 0 if first >= 0 else int(-first + round(1 / tb))


def _segment_format(stream) -> tuple[str, str]:
    """MP4 when the codec goes into it (exact time base and absolute pts), else NUT."""
    for fmt, suf in (("mp4", ".mp4"), ("nut", ".nut")):
        if can_stream_copy(stream, fmt):
            return fmt, suf
    raise SourceError(f"video codec {stream.codec_context.name} cannot be cut by stream copy")


def _clone(p: av.Packet, shift: int = 0) -> av.Packet:
    """A copy of a demuxed packet (data, timestamps ``shift`` ticks later, key flag)."""
    q = av.Packet(bytes(p))
    q.pts, q.dts, q.duration, q.time_base, q.is_keyframe = p.pts, p.dts, p.duration, p.time_base, p.is_keyframe
    _move(q, shift)
    return q


def _move(p: av.Packet, ticks: int) -> None:
    """Move a packet's timestamps by ``ticks`` of its time base (those it has)."""
    if ticks:
        p.pts = None if p.pts is None else p.pts + ticks
        p.dts = None if p.dts is None else p.dts + ticks


def context_ranges(rows: list[tuple[int, bool]], specs: list[SegmentSpec], past: int, future: int) -> list[tuple[int, int]]:
    """Decode-order packet ranges ``[lo, hi)`` per segment: its own packets plus temporal context.

    ``lo`` is the latest clean keyframe (or the first packet) with at least ``past`` packets
    before the cut — decoding starts there, and since everything before a clean keyframe shows
    earlier, those packets hold the ``past`` frames just before the cut. ``hi`` is the first
    point after the next cut where the ``future`` earliest-shown frames of the rest of the stream
    are all in ``[cut, hi)`` (B-frames may show before packets decoded earlier), or the end.
    """
    n = len(rows)
    bounds = [0, *accumulate(s.frames for s in specs)]
    starts = [0, *clean_keyframes(rows)]
    suffix_min = [0] * (n + 1)
    suffix_min[n] = 2**63
    for i in range(n - 1, -1, -1):
        suffix_min[i] = min(rows[i][0], suffix_min[i + 1])
    out = []
    for j in range(len(specs)):
        a, b = bounds[j], bounds[j + 1]
        lo = a if past <= 0 or a == 0 else max(k for k in starts if k <= max(0, a - past))
        hi = b
        if future > 0 and b < n:
            seen: list[int] = []
            while hi < n:
                seen.append(rows[hi][0])
                hi += 1
                if len(seen) >= future and sorted(seen)[future - 1] < suffix_min[hi]:
                    break
        out.append((lo, hi))
    return out


def split(
    path: str | Path,
    specs: list[SegmentSpec],
    work: Path,
    only: set[int] | None = None,
    context: tuple[int, int] = (0, 0),
) -> list[Path]:
    """Write each segment's video packets (stream copy, no audio) to ``work/seg-NNNN.src.*``.

    Args:
        path: the source video.
        specs: from :func:`plan_cuts`.
        work: folder for the segment files.
        only: indices to write (default all); the others are skipped while demuxing.
        context: (past, future) frames of temporal context to add across each cut (see
            :func:`context_ranges`); the processing marks frames outside the segment's
            ``[start, end)`` as context and never writes them.

    Returns:
        The segment files, in order (also those not written this time).
    """
    rows = _packets(path)[0] if any(context) else None
    bounds = [0, *accumulate(s.frames for s in specs)]
    ranges = context_ranges(rows, specs, *context) if rows else list(zip(bounds[:-1], bounds[1:]))
    c = open_video(path)
    try:
        vs = video_stream(c)
        fmt, suf = _segment_format(vs)
        files = [work / f"seg-{s.index:04d}.src{suf}" for s in specs]
        counts = [0] * len(specs)
        want = [j for j in range(len(specs)) if only is None or j in only]
        outs: dict[int, tuple] = {}
        try:
            n_seen = 0
            for p in c.demux(vs):
                if p.size == 0 and p.dts is None:
                    continue
                for j in want:
                    lo, hi = ranges[j]
                    if n_seen == lo and j not in outs:
                        out = av.open(
                            ffmpeg_name(partial_path(files[j])), "w", format=fmt, options=container_options(fmt, vs.time_base)
                        )
                        ostream = out.add_stream_from_template(vs)
                        ostream.time_base = vs.time_base
                        outs[j] = (out, ostream)
                    if j in outs and lo <= n_seen < hi:
                        out, ostream = outs[j]
                        q = _clone(p, specs[0].shift)  # muxing consumes a packet; context packets go to two files
                        q.stream = ostream
                        out.mux(q)
                        if bounds[j] <= n_seen < bounds[j + 1]:
                            counts[j] += 1
                    if j in outs and n_seen == hi - 1:
                        outs.pop(j)[0].close()
                        os.replace(partial_path(files[j]), files[j])
                n_seen += 1
            for j in list(outs):
                outs.pop(j)[0].close()
                os.replace(partial_path(files[j]), files[j])
        except av.error.FFmpegError as exc:
            raise SourceError(f"{path}: cutting segments failed ({exc})") from None
        finally:
            for out, _ in outs.values():
                out.close()
    finally:
        c.close()
    for s, n in zip(specs, counts):
        if (only is None or s.index in only) and n != s.frames:
            raise SourceError(f"{path}: segment {s.index} got {n} packets, expected {s.frames} (the file changed?)")
    return files


def count_frames(path: str | Path) -> int:
    """Video packets in a file (= frames for the codecs we write); 0 if unreadable."""
    try:
        with open_input(path) as c:
            vs = video_stream(c)
            if vs is None:  # demux(None) would count every stream's packets
                return 0
            return sum(1 for p in c.demux(vs) if not (p.size == 0 and p.dts is None))
    except Exception:  # noqa: BLE001 - unreadable means not done
        return 0


def join(
    parts: list[Path],
    source: str | Path | None,
    output: Path,
    audio: bool = True,
    warn=print,
    shift: Fraction = Fraction(0),
    strict: bool = False,
    overwrite: bool = True,
) -> Path:
    """Concatenate processed segments by stream copy and copy the source's audio once.

    Args:
        parts: processed segment files, in order, all from the same encoder settings.
        source: the original input (its audio streams are copied), or None.
        output: the final file (written under a new temporary name and renamed when complete).
        audio: copy audio from ``source``.
        shift: seconds the parts' timestamps run late (:attr:`SegmentSpec.shift`); taken off.
        overwrite: False: a file that appeared at ``output`` while the segments were processed (another
            run writing the same output) is not replaced (:func:`~.sinks.base.publish`).
        strict: a damaged packet of the source's sound is a :class:`~streamdeblur.errors.SourceError`
            (``--strict``), not left out with a warning.

    Returns:
        ``output``.
    """
    output = Path(output)
    fmt = FORMAT_BY_SUFFIX.get(output.suffix.lower())
    if fmt is None:
        raise SinkError(f"unknown output container {output.suffix!r}")
    tmp = temporary_path(output)
    ins = [open_video(p) for p in parts]
    try:
        first = video_stream(ins[0])
        extradata = first.codec_context.extradata
        for p, c in zip(parts[1:], ins[1:]):
            if video_stream(c).codec_context.extradata != extradata:
                raise SinkError(f"{p.name} was encoded with different settings than {parts[0].name}; cannot join")
        tags = read_tags(source)
        start = float(first.start_time * first.time_base - shift) if first.start_time is not None else None
        origin = 0.0  # a transport stream's clock: taken off, as in a single run
        if source is not None:
            with open_video(source) as src:
                origin = clock_origin(src)
        options = {**container_options(fmt, first.time_base, start, origin), **tags.muxer_options(fmt)}
        out = av.open(ffmpeg_name(tmp), "w", format=fmt, options=options)
        try:
            vo = out.add_stream_from_template(first)
            if fmt in ("mp4", "mov") and first.codec_tag:  # the template forgets the parts' tag (hvc1: Apple's players)
                vo.codec_tag = first.codec_tag
            tags.write_to(out, vo)
            vo.time_base = first.time_base
            copier = None
            if source is not None:  # its audio (unless left out) and subtitle tracks
                try:
                    copier = AudioCopier(Path(source), out, fmt, warn, audio=audio, strict=strict)
                except (av.error.FFmpegError, OSError, ValueError) as exc:
                    warn(f"audio not copied (unreadable audio in the input): {exc}")
            last_dts = None
            for c in ins:
                vs = video_stream(c)
                back = round(shift / vs.time_base)
                for p in c.demux(vs):
                    if p.size == 0 and p.dts is None:
                        continue
                    _move(p, -back)
                    if p.dts is not None and last_dts is not None and p.dts * p.time_base <= last_dts:
                        # B-frame delay at a segment start can overlap the previous segment's last dts
                        p.dts = int(last_dts / p.time_base) + 1
                        if p.pts is not None and p.pts < p.dts:
                            raise SinkError("segments overlap in time; cannot join")
                    if p.dts is not None:
                        last_dts = p.dts * p.time_base
                    t = float(p.pts * p.time_base) if p.pts is not None else None
                    if copier is not None and copier.active and t is not None:
                        copier.mux_until(out, t)
                    p.stream = vo
                    out.mux(p)
            if copier is not None:
                copier.close(out, None)
        finally:
            out.close()
    except av.error.FFmpegError as exc:
        tmp.unlink(missing_ok=True)  # the segments are kept: joining again makes it
        reason = exc.strerror or one_line(exc)  # FFmpeg's words; its file name was the partial just removed
        raise SinkError(f"joining segments into {output} failed: {reason}; the segments are kept in {parts[0].parent}") from None
    except SourceError as exc:  # --strict and a damaged sound packet
        tmp.unlink(missing_ok=True)
        raise SourceError(f"{exc}; the segments are kept in {parts[0].parent}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        for c in ins:
            c.close()
    publish(tmp, output, overwrite)
    return output
