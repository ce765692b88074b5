"""Colour: which YUV↔RGB matrix and range a video uses, and converting with them explicitly.

Video is stored as Y'CbCr ("YUV"): the decoder hands us luma and chroma planes, and *which*
matrix turns them into R'G'B' is metadata, not something the pixels say. Getting it wrong is the
classic tint/contrast shift of video tools (BT.709 footage decoded with BT.601 turns skin orange
and greens teal). Our rule, applied in the reader and mirrored in the writer:

* **matrix** — the stream's ``colorspace`` tag if present; untagged: BT.709 for height ≥ 720,
  BT.601 below (what players assume).
* **range** — the ``color_range`` tag; untagged: full ("pc") for ``yuvj*`` pixel formats (MJPEG),
  else limited ("tv": luma 16–235, chroma 16–240 at 8 bits).
* **primaries / transfer** — copied as tagged; untagged: the ones that go with the matrix. They
  are carried, not converted: we never change gamut or tone curve (an HDR source stays HDR and
  the model sees its code values).
* The conversion uses those values *explicitly* (``src_colorspace``/``src_color_range`` when
  decoding, ``dst_*`` when encoding), never swscale's silent BT.601 default, and the output
  stream is tagged with the same four values.

Example — decode a BT.709 limited-range frame to RGB and back::

    >>> import numpy as np
    >>> from av.video.frame import VideoFrame
    >>> info = ColorInfo("bt709", "tv", "bt709", "bt709")
    >>> rgb = np.full((16, 16, 3), (200, 30, 90), np.uint8)
    >>> yuv = rgb_to_frame(rgb, info, "yuv444p")
    >>> int(np.abs(frame_to_rgb(yuv, info).astype(int) - rgb).max()) <= 1
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import cv2
import numpy as np
from av.video.frame import VideoFrame
from av.video.reformatter import ColorRange, Colorspace, Interpolation

# FFmpeg's AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic / AVColorRange codes.
MATRIX_CODES = {"bt709": 1, "fcc": 4, "bt470bg": 5, "bt601": 6, "smpte240m": 7, "bt2020": 9}
#: primaries and transfers are tags only (never converted): every code FFmpeg names is carried as it came
#: (a Display P3 or DCI clip was written BT.709, played desaturated)
PRIMARIES_CODES = {
    "bt709": 1,
    "bt470m": 4,
    "bt470bg": 5,
    "smpte170m": 6,
    "smpte240m": 7,
    "film": 8,
    "bt2020": 9,
    "smpte428": 10,
    "smpte431": 11,
    "smpte432": 12,
    "ebu3213": 22,
}
TRANSFER_CODES = {
    "bt709": 1,
    "gamma22": 4,
    "gamma28": 5,
    "smpte170m": 6,
    "smpte240m": 7,
    "linear": 8,
    "log100": 9,
    "log316": 10,
    "iec61966-2-4": 11,
    "bt1361e": 12,
    "iec61966-2-1": 13,
    "bt2020-10": 14,
    "bt2020-12": 15,
    "smpte2084": 16,
    "smpte428": 17,
    "arib-std-b67": 18,
}
RANGE_CODES = {"tv": 1, "pc": 2}
_MATRIX_NAMES = {1: "bt709", 4: "fcc", 5: "bt470bg", 6: "bt601", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
#: matrices tagged in files that swscale cannot convert (it fails "Unsupported input"): refused in one line
UNSUPPORTED_MATRICES = {8: "ycgco", 11: "smpte2085", 12: "chroma-derived-nc", 13: "chroma-derived-c", 14: "ictcp"}
_PRIMARIES_NAMES = {v: k for k, v in PRIMARIES_CODES.items()}
_TRANSFER_NAMES = {v: k for k, v in TRANSFER_CODES.items()}
_SWS = {
    "bt709": Colorspace.ITU709,
    "bt601": Colorspace.ITU601,
    "bt470bg": Colorspace.ITU601,
    "smpte240m": Colorspace.SMPTE240M,
    "fcc": Colorspace.FCC,
    "bt2020": Colorspace.BT2020,
}
_DEFAULTS = {
    "bt709": ("bt709", "bt709"),
    "bt601": ("smpte170m", "smpte170m"),
    "bt470bg": ("bt470bg", "smpte170m"),  # PAL's (the BT.601 matrix, tagged as such by European SD cameras)
    "bt2020": ("bt2020", "bt2020-10"),
    "smpte240m": ("smpte240m", "smpte240m"),
    "fcc": ("bt470m", "gamma22"),
}
HDR_TRANSFERS = {"smpte2084", "arib-std-b67"}
#: Bilinear chroma resampling with accurate rounding.
INTERP = Interpolation.BILINEAR | Interpolation.ACCURATE_RND


@dataclass(frozen=True)
class ColorInfo:
    """Colour description that travels with every frame from demux to mux.

    Attributes:
        matrix: YUV↔RGB matrix (``bt709``, ``bt601``, ``bt470bg``, ``bt2020``, ``smpte240m``, ``fcc``; one of
            :data:`UNSUPPORTED_MATRICES` when the file says so: refused before a run).
        range: ``tv`` (limited) or ``pc`` (full).
        primaries: colour primaries name (tag only).
        transfer: transfer characteristic name (tag only).
        bit_depth: bits per component of the source (8, 10, 12 …).
        tagged: whether the matrix came from the file (False: assumed by the rule above).
        chroma: the source's chroma subsampling, ``420``, ``422`` or ``444`` (RGB sources: ``444``);
            the encoder keeps it where it can (:mod:`streamdeblur.io.sinks.video`).
    """

    matrix: str = "bt709"
    range: str = "tv"
    primaries: str = "bt709"
    transfer: str = "bt709"
    bit_depth: int = 8
    tagged: bool = True
    chroma: str = "420"

    @property
    def hdr(self) -> bool:
        return self.transfer in HDR_TRANSFERS

    @property
    def sws_colorspace(self) -> Colorspace:
        return _SWS.get(self.matrix, Colorspace.ITU709)

    @property
    def sws_range(self) -> ColorRange:
        return ColorRange.JPEG if self.range == "pc" else ColorRange.MPEG

    def describe(self) -> str:
        src = "" if self.tagged else " (untagged: assumed)"
        depth = f"{self.bit_depth}-bit {chroma_label(self.chroma)}"
        return f"{self.matrix}/{self.range}/{self.primaries}/{self.transfer} {depth}{src}"


def bit_depth_of(pix_fmt: str | None) -> int:
    """Bits per component of a pixel format name (``yuv420p10le`` → 10)."""
    if not pix_fmt:
        return 8
    try:
        fmt = av.VideoFormat(pix_fmt)
        return max(c.bits for c in fmt.components)
    except Exception:
        return 8


def chroma_of(pix_fmt: str | None) -> str:
    """Chroma subsampling of a pixel format name: ``420``, ``422`` or ``444``.

    RGB formats count as ``444`` (every pixel has its own colour); 4:1:1 and 4:1:0 (DV) as ``420``
    and 4:4:0 as ``422`` (the same number of chroma samples); grey and unknown formats as ``420``.

    Example:
        >>> chroma_of("yuv422p10le"), chroma_of("gbrp"), chroma_of("nv12")
        ('422', '444', '420')
    """
    try:
        fmt = av.VideoFormat(pix_fmt or "")
    except Exception:  # noqa: BLE001
        return "420"
    if fmt.is_rgb or getattr(fmt, "has_palette", False):
        return "444"
    if sum(1 for c in fmt.components if not c.is_alpha) < 3:  # grey
        return "420"
    w, h = fmt.chroma_width(64), fmt.chroma_height(64)
    return "444" if w * h == 64 * 64 else "422" if w * h * 2 == 64 * 64 else "420"


def chroma_label(chroma: str) -> str:
    """``444`` → ``4:4:4``."""
    return ":".join(chroma)


def describe_stream(
    height: int, pix_fmt: str | None, colorspace: int | None, color_range: int | None, primaries: int | None, transfer: int | None
) -> ColorInfo:
    """Apply the colour rule of the module docstring to a stream's (or frame's) tags."""
    matrix = _MATRIX_NAMES.get(int(colorspace or 2)) or UNSUPPORTED_MATRICES.get(int(colorspace or 2))
    tagged = matrix is not None
    if matrix is None:
        matrix = "bt709" if height >= 720 else "bt601"
    if color_range in (1, 2):
        rng = "tv" if color_range == 1 else "pc"
    else:
        rng = "pc" if (pix_fmt or "").startswith("yuvj") else "tv"
    default_p, default_t = _DEFAULTS.get(matrix, ("bt709", "bt709"))
    prim = _PRIMARIES_NAMES.get(int(primaries or 2), default_p)
    trc = _TRANSFER_NAMES.get(int(transfer or 2), default_t)
    return ColorInfo(matrix, rng, prim, trc, bit_depth_of(pix_fmt), tagged, chroma_of(pix_fmt))


def describe_frame(frame: VideoFrame) -> ColorInfo:
    """Colour description of a decoded frame (its own tags, then the rule)."""
    return describe_stream(
        frame.height, frame.format.name, frame.colorspace, frame.color_range, frame.color_primaries, frame.color_trc
    )


def is_rgb_format(pix_fmt: str) -> bool:
    return pix_fmt.startswith(("rgb", "bgr", "gbr", "argb", "abgr", "rgba", "bgra", "gray", "pal8"))


def frame_to_rgb(frame: VideoFrame, info: ColorInfo) -> np.ndarray:
    """Decoded frame → ``H×W×3`` RGB (uint8 for 8-bit sources, uint16 full-scale above).

    The YUV→RGB step uses ``info.matrix`` and ``info.range`` explicitly.
    """
    deep = info.bit_depth > 8
    fmt = "rgb48le" if deep else "rgb24"
    if is_rgb_format(frame.format.name):
        return frame.to_ndarray(format=fmt)
    # Two steps on purpose: swscale's direct 4:2:0 → RGB fast path is ~2 levels too dark; upsampling
    # the chroma first (YUV → YUV 4:4:4) and then applying the matrix is accurate to ~0.25 levels.
    bits = bit_depth_of(frame.format.name)
    if info.range == "pc" and 8 < bits < 16:
        # swscale widens full-range N-bit samples by a shift after 4:2:0 upsampling (white 1023 → 65472) and by
        # bit replication without it (512 → 32800): the chroma upsampled alone, the matrix applied here
        return _full_range_rgb(frame.reformat(format=f"yuv444p{bits}le", interpolation=INTERP), info, bits)
    full = frame.reformat(format="yuv444p16le" if deep else "yuv444p", interpolation=INTERP)
    out = full.reformat(format=fmt, src_colorspace=info.sws_colorspace, src_color_range=info.sws_range)
    return out.to_ndarray()


def above_white(frame: VideoFrame, info: ColorInfo) -> tuple[int, int] | None:
    """``(brightest luma, white)`` when a limited-range frame holds luma above white by more than a few levels
    (10 at 8 bits: camcorders record highlights up to 255 where white is 235, "super-whites"), else None. RGB pictures have
    a top of 1: such levels are clipped to white (said by the reader, once).

    Example:
        >>> f = VideoFrame(16, 16, "yuv420p")
        >>> for p in f.planes: p.update(bytes([128]) * p.buffer_size)
        >>> above_white(f, ColorInfo()) is None
        True
    """
    if info.range != "tv" or is_rgb_format(frame.format.name) or not frame.format.name.startswith(("yuv", "nv", "p0")):
        return None
    bits = bit_depth_of(frame.format.name)
    white = 235 << (bits - 8)
    luma = _plane(frame, 0, np.uint16 if bits > 8 else np.uint8)
    top = int(luma.max())
    return (top, white) if top > white + (10 << (bits - 8)) else None  # (an encoder rings a few levels past white)


#: Encoders whose output is read with 4:2:0 / 4:2:2 chroma *centred* between the luma columns: JPEG's
#: convention (MJPEG). Every other encoder's is read *left* (co-sited with the even luma columns, MPEG-2
#: style): H.264, H.265 and MPEG-4 Part 2 by their standards, and VP9, AV1, FFV1 and ProRes by FFmpeg
#: when the stream does not say (measured with FFmpeg 8.1 through PyAV: an identity run of a left-sited
#: H.264 clip into lossless FFV1 written centred came back at RGB 24.8 dB, written left 37.4 dB).
CENTRE_SITED_CODECS = frozenset({"mjpeg"})
#: Encoders whose decoders read chroma left by their standard, with nothing in the stream: the others
#: written left are also *tagged* left (Matroska's ChromaSiting, AV1's chroma_sample_position), so
#: players that follow the tag place it there whatever their default (:func:`siting_tag`).
LEFT_BY_STANDARD = frozenset({"libx264", "libx265", "mpeg4"})


def chroma_siting(codec: str) -> str:
    """Where ``codec``'s decoders put subsampled chroma: ``center`` (MJPEG) or ``left`` (every other).

    Example:
        >>> chroma_siting("libvpx-vp9"), chroma_siting("mjpeg")
        ('left', 'center')
    """
    return "center" if codec in CENTRE_SITED_CODECS else "left"


def siting_tag(codec: str) -> str | None:
    """The ``chroma_sample_location`` to tag ``codec``'s stream with (None: its standard says it already)."""
    return None if codec in LEFT_BY_STANDARD else chroma_siting(codec)


def rgb_to_frame(rgb: np.ndarray, info: ColorInfo, pix_fmt: str, siting: str = "center") -> VideoFrame:
    """``H×W×3`` RGB (uint8 or uint16) → a frame in ``pix_fmt``, converted with ``info``'s matrix
    and range and tagged with all four of ``info``'s colour values.

    Args:
        rgb: the picture.
        info: its colour description.
        pix_fmt: the frame's pixel format.
        siting: where the subsampled chroma of a 4:2:0 / 4:2:2 ``pix_fmt`` is placed: ``center``
            (between the luma columns: swscale's own downsampling) or ``left`` (on the even
            columns, what H.264/H.265 decoders assume: :func:`chroma_siting`).

    Why siting matters: FFmpeg's decoders tag a frame's chroma location and swscale honours it when
    upsampling (a decoded H.264 frame: left), but a frame made from RGB has none and swscale
    downsamples it centred. Written centred into H.264 and read back left, every round trip moved
    the colours half a pixel left of the picture (chroma 29 dB against 40 for FFmpeg's own round
    trip) and the shift added up pass after pass. ``left`` converts to 4:4:4 first and takes each
    chroma sample with ``[−1, 2, 6, 2, −1] / 8`` centred on its even column and (4:2:0)
    ``[−1, 3, 3, −1] / 4`` over the rows around it: both give back exactly the chroma that a
    decoder's bilinear upsampling made (an identity run keeps the colours, not only their place)
    and both cancel the finest luma-grid pattern instead of folding it into the chroma.

    Example:
        >>> rgb = np.zeros((4, 8, 3), np.uint8); rgb[:, 4] = (0, 0, 255)   # a blue column at x = 4
        >>> f = rgb_to_frame(rgb, ColorInfo(), "yuv420p", siting="left")
        >>> u = np.frombuffer(f.planes[1], np.uint8).reshape(2, -1)[0, :4].astype(int) - 128
        >>> int(u.argmax()), bool(u[1] == u[3])   # centred on chroma column 2 (x = 4), symmetric
        (2, True)
    """
    src = VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb48le" if rgb.dtype == np.uint16 else "rgb24")
    if is_rgb_format(pix_fmt):
        out = src.reformat(format=pix_fmt)
    elif info.range == "pc" and rgb.dtype == np.uint16 and bit_depth_of(pix_fmt) > 8:
        # swscale maps RGB 65280, not 65535, to full-range white (512 came back 514, 1019–1023 all 1023) and
        # its full-range chroma is a level low (grey's 512 written 511): computed here instead
        full = _full_range_yuv444(rgb, info, bit_depth_of(pix_fmt))
        if pix_fmt == full.format.name:
            out = full
        elif siting == "left" and _cosite(pix_fmt, rgb.shape[1], rgb.shape[0]):
            out = _subsample_left(full, pix_fmt)
        else:  # chroma only: the same matrix and range on both sides
            out = full.reformat(
                format=pix_fmt,
                src_colorspace=info.sws_colorspace,
                dst_colorspace=info.sws_colorspace,
                src_color_range=ColorRange.JPEG,
                dst_color_range=ColorRange.JPEG,
                interpolation=INTERP,
            )
    elif siting == "left" and _cosite(pix_fmt, rgb.shape[1], rgb.shape[0]):
        out = _left_sited(src, info, pix_fmt)
    else:
        out = src.reformat(
            format=pix_fmt, dst_colorspace=info.sws_colorspace, dst_color_range=info.sws_range, interpolation=INTERP
        )
    tag_frame(out, info)
    if is_rgb_format(pix_fmt):
        tag_rgb(out)
    return out


def tag_rgb(obj) -> None:
    """Tag a frame or an encoder context as RGB (``gbr``, full range): an RGB encoder's stream
    (libx264rgb) tagged with a YUV matrix played in other colours everywhere (11.8 dB)."""
    obj.colorspace = 0  # AVCOL_SPC_RGB
    obj.color_range = 2  # full


def _cosite(pix_fmt: str, width: int, height: int) -> bool:
    """Whether ``pix_fmt`` is planar YUV with horizontally halved chroma that :func:`_left_sited` writes."""
    if not pix_fmt.startswith(("yuv420p", "yuv422p")) or width % 2:
        return False
    return not (pix_fmt.startswith("yuv420p") and height % 2)


def _plane(frame: VideoFrame, i: int, dtype) -> np.ndarray:
    """A writable view of plane ``i`` without its line padding."""
    p = frame.planes[i]
    return np.frombuffer(p, dtype).reshape(p.height, -1)[:, : p.width]


#: each matrix's luma weights of red and blue (H.273: Kr, Kb)
_KR_KB = {
    "bt709": (0.2126, 0.0722),
    "bt601": (0.299, 0.114),
    "bt470bg": (0.299, 0.114),
    "smpte240m": (0.212, 0.087),
    "fcc": (0.30, 0.11),
    "bt2020": (0.2627, 0.0593),
}


def _full_range_yuv444(rgb: np.ndarray, info: ColorInfo, bits: int) -> VideoFrame:
    """uint16 RGB (65535 white) → full-range Y'CbCr 4:4:4 at ``bits`` per sample, by H.273's equations:
    ``Y = round((2^n − 1) · E'Y)``, ``Cb = round((2^n − 1) · E'Cb + 2^(n−1))``."""
    kr, kb = _KR_KB.get(info.matrix, _KR_KB["bt709"])
    x = rgb.astype(np.float32) / 65535
    y = kr * x[..., 0] + (1 - kr - kb) * x[..., 1] + kb * x[..., 2]
    top, mid = (1 << bits) - 1, 1 << (bits - 1)
    h, w = rgb.shape[:2]
    out = VideoFrame(w, h, f"yuv444p{bits}le")
    planes = (y * top, (x[..., 2] - y) / (2 * (1 - kb)) * top + mid, (x[..., 0] - y) / (2 * (1 - kr)) * top + mid)
    for i, plane in enumerate(planes):
        _plane(out, i, np.uint16)[:] = np.clip(np.rint(plane), 0, top)
    tag_frame(out, info)
    return out


def _full_range_rgb(full: VideoFrame, info: ColorInfo, bits: int) -> np.ndarray:
    """Full-range Y'CbCr 4:4:4 at ``bits`` → uint16 RGB (65535 white): :func:`_full_range_yuv444` undone."""
    kr, kb = _KR_KB.get(info.matrix, _KR_KB["bt709"])
    top, mid = (1 << bits) - 1, 1 << (bits - 1)
    y = _plane(full, 0, np.uint16).astype(np.float32) / top
    cb = (_plane(full, 1, np.uint16).astype(np.float32) - mid) / top
    cr = (_plane(full, 2, np.uint16).astype(np.float32) - mid) / top
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.rint(np.stack([r, g, b], axis=-1) * 65535), 0, 65535).astype(np.uint16)


def _left_sited(src: VideoFrame, info: ColorInfo, pix_fmt: str) -> VideoFrame:
    """RGB frame → planar 4:2:0 / 4:2:2 with chroma co-sited on the even columns (see :func:`rgb_to_frame`)."""
    full_fmt = "yuv444p" + pix_fmt[len("yuv420p") :]  # same depth, no subsampling
    full = src.reformat(format=full_fmt, dst_colorspace=info.sws_colorspace, dst_color_range=info.sws_range, interpolation=INTERP)
    return _subsample_left(full, pix_fmt)


def _subsample_left(full: VideoFrame, pix_fmt: str) -> VideoFrame:
    """Planar 4:4:4 → 4:2:0 / 4:2:2 ``pix_fmt`` (the same depth) with chroma co-sited on the even columns."""
    dtype = np.uint16 if bit_depth_of(pix_fmt) > 8 else np.uint8
    out = VideoFrame(full.width, full.height, pix_fmt)
    _plane(out, 0, dtype)[:] = _plane(full, 0, dtype)
    vertical = pix_fmt.startswith("yuv420p")
    top = (1 << bit_depth_of(pix_fmt)) - 1
    for i in (1, 2):
        x = _plane(full, i, dtype).astype(np.float32)
        # [−1, 2, 6, 2, −1] / 8 centred on each even column; (4:2:0) [−1, 3, 3, −1] / 4 over rows
        # 2r−1 … 2r+2: OpenCV anchors the 4-tap kernel's third tap, so output row r is filtered row 2r+1
        y = cv2.sepFilter2D(x, -1, _ACROSS, _DOWN if vertical else _ONE, borderType=cv2.BORDER_REPLICATE)
        y = y[1::2, 0::2] if vertical else y[:, 0::2]
        _plane(out, i, dtype)[:] = np.clip(np.rint(y), 0, top)
    return out


_ACROSS = np.float32([-1, 2, 6, 2, -1]) / 8
_DOWN = np.float32([-1, 3, 3, -1]) / 4
_ONE = np.float32([1])


def tag_frame(frame: VideoFrame, info: ColorInfo) -> None:
    frame.colorspace = MATRIX_CODES.get(info.matrix, 2)
    frame.color_range = RANGE_CODES[info.range]
    frame.color_primaries = PRIMARIES_CODES.get(info.primaries, 2)
    frame.color_trc = TRANSFER_CODES.get(info.transfer, 2)


def tag_codec(ctx, info: ColorInfo) -> None:
    """Tag an encoder context (and so the output stream) with ``info``."""
    ctx.colorspace = MATRIX_CODES.get(info.matrix, 2)
    ctx.color_range = RANGE_CODES[info.range]
    ctx.color_primaries = PRIMARIES_CODES.get(info.primaries, 2)
    ctx.color_trc = TRANSFER_CODES.get(info.transfer, 2)
