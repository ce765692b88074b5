"""Test media: encode real videos with PyAV (or the ffmpeg CLI), and judge outputs with ffprobe/ffmpeg."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")


def pattern(i: int, w: int, h: int) -> np.ndarray:
    """Deterministic colourful content with smooth areas, edges and fine texture; moves with ``i``."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 0.5 + 0.4 * np.sin(2 * np.pi * (x / w + i / 60))
    g = 0.5 + 0.4 * np.sin(2 * np.pi * (y / h * 1.3 + 0.2))
    b = 0.5 + 0.4 * np.cos(2 * np.pi * ((x + y) / (w + h) * 2 - i / 45))
    img = np.stack([r, g, b], -1)
    cx, cy = (0.2 + 0.6 * ((i * 7) % 60) / 60) * w, 0.5 * h
    disc = ((x - cx) ** 2 + (y - cy) ** 2) < (0.12 * h) ** 2
    img[disc] = (0.9, 0.2, 0.15)
    img[int(0.7 * h) : int(0.8 * h), int(0.1 * w) : int(0.4 * w)] = (0.1, 0.3, 0.85)
    tex = ((x // 4 + y // 4) % 2) * 0.08
    img[: h // 5] += tex[: h // 5, :, None]
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def write_video(
    path: Path,
    frames: int = 30,
    size: tuple[int, int] = (320, 240),
    fps: int = 30,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: bool = False,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    crf: int = 16,
    colorspace: str | None = "bt709",
    color_range: str = "tv",
    tag: bool = True,
    content=pattern,
    gop: int | None = None,
    rotation: int | None = None,
    hflip: bool = False,
) -> Path:
    """Encode ``frames`` pattern frames (+ optional 440 Hz AAC audio) to ``path`` with PyAV.

    ``pts``/``time_base`` make variable-frame-rate files. ``colorspace`` is the matrix used for
    RGB→YUV (swscale, explicit) and, if ``tag``, written into the stream. ``rotation`` (degrees
    counter-clockwise) and ``hflip`` write a display matrix, as a phone does for portrait clips.
    """
    from av.video.reformatter import ColorRange, Colorspace

    w, h = size
    path = Path(path)
    with av.open(str(path), "w") as c:
        vs = c.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        tb = time_base or Fraction(1, fps)
        vs.codec_context.time_base = tb
        vs.time_base = tb
        if codec in ("libx264", "libx265"):
            vs.options = {
                "crf": str(crf),
                "preset": "veryfast",
                **({"x265-params": "log-level=error"} if codec == "libx265" else {}),
                **({"g": str(gop)} if gop else {}),
            }
        cs = {"bt709": Colorspace.ITU709, "bt601": Colorspace.ITU601, None: Colorspace.ITU601}[colorspace]
        cr = ColorRange.MPEG if color_range == "tv" else ColorRange.JPEG
        if tag and colorspace:
            vs.codec_context.colorspace = {"bt709": 1, "bt601": 6}[colorspace]
            vs.codec_context.color_range = 1 if color_range == "tv" else 2
            vs.codec_context.color_primaries = {"bt709": 1, "bt601": 6}[colorspace]
            vs.codec_context.color_trc = {"bt709": 1, "bt601": 6}[colorspace]
        if rotation is not None or hflip:
            vs.set_display_rotation(rotation or 0, hflip=hflip)
        as_ = None
        if audio:
            as_ = c.add_stream("aac", rate=48000)
            as_.layout = "stereo"
        for i in range(frames):
            rgb = content(i, w, h)
            src = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            vf = src.reformat(format=pix_fmt, dst_colorspace=cs, dst_color_range=cr)
            if tag and colorspace:
                vf.colorspace = vs.codec_context.colorspace
                vf.color_range = vs.codec_context.color_range
            vf.pts = pts[i] if pts is not None else i
            vf.time_base = tb
            for p in vs.encode(vf):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
        if as_ is not None:
            dur = (pts[-1] + 1) * tb if pts is not None else Fraction(frames, fps)
            n = int(48000 * dur)
            t = np.arange(n) / 48000.0
            samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            step = 1024
            for s0 in range(0, n, step):
                chunk = np.stack([samples[s0 : s0 + step]] * 2)
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="stereo")
                af.sample_rate = 48000
                af.pts = s0
                af.time_base = Fraction(1, 48000)
                for p in as_.encode(af):
                    c.mux(p)
            for p in as_.encode(None):
                c.mux(p)
    return path


def partial_of(out: Path) -> Path | None:
    """The temporary file a run writing ``out`` left beside it (``out.3f9a0c.partial.mp4``), or None."""
    found = sorted(out.parent.glob(f"{glob.escape(out.stem)}.*.partial{out.suffix}"))
    assert len(found) <= 1, found
    return found[0] if found else None


def probe(path: Path) -> dict:
    """ffprobe's JSON of streams and format."""
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def frame_times(path: Path) -> list[str]:
    """Every video frame's presentation time as ffprobe prints it (exact decimal strings)."""
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.strip().rstrip(",") for line in out.stdout.splitlines() if line.strip()]


def count_frames(path: Path) -> int:
    """Decoded video frame count according to ffprobe (-count_frames)."""
    out = subprocess.run(
        [
            FFPROBE,
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return int(out.stdout.strip().split(",")[0])


def audio_duration(path: Path) -> float:
    for s in probe(path)["streams"]:
        if s["codec_type"] == "audio":
            return float(s["duration"])
    raise AssertionError(f"no audio stream in {path}")


def ffmpeg_rgb(path: Path, matrix: str, rng: str = "tv", deep: bool = False, every_frame: bool = False) -> np.ndarray:
    """Decode with the ffmpeg CLI (an independent decoder), YUV→RGB with the given matrix/range.

    ``every_frame``: each decoded frame once (``-fps_mode passthrough``), none duplicated or dropped
    to fit a constant rate.

    Returns ``N×H×W×3`` uint8 (or uint16 with ``deep``).
    """
    info = next(s for s in probe(path)["streams"] if s["codec_type"] == "video")
    w, h = int(info["width"]), int(info["height"])
    fmt = "rgb48le" if deep else "rgb24"
    vf = f"scale=in_color_matrix={matrix}:in_range={rng}:flags=accurate_rnd+full_chroma_int,format={fmt}"
    out = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-vf", vf]
        + (["-fps_mode", "passthrough"] if every_frame else [])
        + ["-f", "rawvideo", "-pix_fmt", fmt, "-"],
        capture_output=True,
        check=True,
    )
    dtype = np.uint16 if deep else np.uint8
    return np.frombuffer(out.stdout, dtype=dtype).reshape(-1, h, w, 3)


def _nvop(time_increment: int, increment_bits: int) -> bytes:
    """A not-coded MPEG-4 VOP ("N-VOP"): P type, vop_coded = 0, byte-aligned with MPEG-4 stuffing."""
    bits = "01" + "0" + "1" + format(time_increment, f"0{increment_bits}b") + "1" + "0"
    bits += "0" + "1" * (-(len(bits) + 1) % 8)  # next_start_code(): a zero bit, then ones to the byte
    return b"\x00\x00\x01\xb6" + int(bits, 2).to_bytes(len(bits) // 8, "big")


def _divx_user_data(data: bytes) -> bytes:
    """Replace the encoder's user data (``Lavc…``) with DivX 5's, whose trailing ``p`` tells
    decoders the B-frames are packed (FFmpeg: ``divx_packed``)."""
    i = data.find(b"\x00\x00\x01\xb2")
    if i < 0:
        return data
    j = data.find(b"\x00\x00\x01", i + 4)
    return data[:i] + b"\x00\x00\x01\xb2DivX503b1393p" + data[j:]


def write_packed_avi(path: Path, frames: int = 24, size: tuple[int, int] = (128, 96), fps: int = 24, audio: bool = True):
    """A DivX/Xvid-style AVI: MPEG-4 Part 2 with *packed* B-frames (+ AC-3 audio).

    AVI has no presentation times, only one chunk per frame interval, so DivX 5 wrote every P-VOP
    together with the B-VOP shown before it in one chunk, followed by a not-coded N-VOP placeholder
    chunk. Encoders such as FFmpeg's do not write this layout; here the MPEG-4 packets (1 B-frame
    between references) are packed by hand and muxed chunk by chunk. FFmpeg's decoder reports
    "packed B-frames" for such a file and hands frames out with out-of-order pts.
    """
    w, h = size
    tb = Fraction(1, fps)
    enc = av.CodecContext.create("mpeg4", "w")
    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
    enc.time_base, enc.framerate = tb, Fraction(fps)
    enc.max_b_frames, enc.gop_size = 1, 12
    packets = []
    for i in range(frames):
        vf = av.VideoFrame.from_ndarray(pattern(i, w, h), format="rgb24").reformat(format="yuv420p")
        vf.pts, vf.time_base = i, tb
        packets += [(bytes(p), p.pts, p.is_keyframe) for p in enc.encode(vf)]
    packets += [(bytes(p), p.pts, p.is_keyframe) for p in enc.encode(None)]
    increment_bits = max(1, (fps - 1).bit_length())  # bits of vop_time_increment for resolution = fps
    chunks: list[tuple[bytes, bool]] = []
    k = 0
    while k < len(packets):
        data, pts, key = packets[k]
        data = _divx_user_data(data)
        if k + 1 < len(packets) and packets[k + 1][1] < pts:  # a B-frame shown before this reference
            chunks += [(data + packets[k + 1][0], key), (_nvop(packets[k + 1][1] % fps, increment_bits), False)]
            k += 2
        else:
            chunks.append((data, key))
            k += 1
    assert len(chunks) == frames
    audio_packets = []
    with av.open(str(path), "w", format="avi") as c:
        vs = c.add_stream("mpeg4", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.codec_tag = "DX50"
        vs.time_base = tb
        if audio:
            a = c.add_stream("ac3", rate=48000)
            a.layout = "stereo"
            n = int(48000 * frames / fps)
            t = np.arange(n + 1536) / 48000.0
            samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for s0 in range(0, n, 1536):  # AC-3 frames are 1536 samples
                af = av.AudioFrame.from_ndarray(np.stack([samples[s0 : s0 + 1536]] * 2), format="fltp", layout="stereo")
                af.sample_rate, af.pts, af.time_base = 48000, s0, Fraction(1, 48000)
                audio_packets += list(a.encode(af))
            audio_packets += list(a.encode(None))
        ai = 0
        for i, (data, key) in enumerate(chunks):
            p = av.Packet(data)
            p.stream, p.time_base, p.pts, p.dts, p.is_keyframe = vs, tb, i, i, key
            c.mux(p)
            while ai < len(audio_packets) and audio_packets[ai].pts * Fraction(1, 48000) <= (i + 1) * tb:
                c.mux(audio_packets[ai])
                ai += 1
        for p in audio_packets[ai:]:
            c.mux(p)
    return Path(path)


def across_clock_wrap(src: Path, dst: Path) -> Path:
    """``src`` as an MPEG-TS recording that crosses the 33-bit clock's wrap (every 26.5 h): once
    FFmpeg unwraps it, its first timestamps are negative. Video stream-copied, audio (if any) AAC."""
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-i", str(src), "-c:v", "copy", "-c:a", "aac", "-bsf:v", "h264_mp4toannexb"]
        + ["-output_ts_offset", "95441.8", "-f", "mpegts", str(dst)],
        check=True,
    )
    assert float(probe(dst)["format"]["start_time"]) < 0
    return dst


def best_effort_times(path: Path) -> list[float | None]:
    """ffprobe's best_effort_timestamp of every video frame, in seconds (None where it has none)."""
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=best_effort_timestamp_time"]
        + ["-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.strip().split(",")[0] for line in out.stdout.splitlines() if line.strip()]
    return [None if r == "N/A" else float(r) for r in rows]


def sharp_folder(path: Path, photos: int = 14, side: int = 320) -> Path:
    """A user's folder of sharp content for ``streamdeblur data build --source``: ``photos`` PNG
    patterns of ``side``² and one 20-frame clip."""
    path.mkdir(parents=True, exist_ok=True)
    for i in range(photos):
        cv2.imwrite(str(path / f"p{i:02d}.png"), pattern(i * 5, side, side)[..., ::-1])
    write_video(path / "clip.mp4", frames=20, size=(320, 240))
    return path


def tiny_devset(folder: Path, frames: int = 10) -> Path:
    """A dev set of one 96×64 still-scene clip, ``tiny`` (``tiny.blurry.mp4`` + ``tiny.sharp.mkv``), with a
    30-px burst of shake between calm frames, rendered by the product's own dev-set generator."""
    from streamdeblur.train.devset import ClipSpec, ShakeConfig, render_clip

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    photo = folder / "photo.png"
    cv2.imwrite(str(photo), pattern(5, 300, 220)[..., ::-1])
    shake = ShakeConfig(calm_frames=(3, 4), burst_frames=(3, 4), burst_px=(30.0, 32.0))
    render_clip(ClipSpec("tiny", "still", str(photo), (96, 64), frames, 1, shake=shake), folder)
    photo.unlink()
    return folder
