"""HEIF/HEIC photos (an iPhone's default since iOS 11), read and written through pillow-heif.

Neither OpenCV nor PyAV decodes a HEIC photo: it is an HEVC picture cut into 512×512 tiles in an ISO
box structure, and FFmpeg reads only the tiles. `pillow-heif <https://github.com/bigcat88/pillow_heif>`_
wraps libheif, which puts the grid together, applies the file's own turn and mirror (``irot``/``imir``),
and reads and writes the metadata; it is imported only when a HEIF file is met.

Three things differ from JPEG and are handled here:

* **Orientation.** A phone stores the picture as the sensor saw it, with an ``irot`` property *and* the
  EXIF Orientation tag; the HEIF standard says readers turn by ``irot`` and ignore EXIF. libheif does,
  so the pixels arrive upright while the EXIF still says 6: the EXIF that goes on says 1
  (:func:`~.photo_meta.upright`), or a JPEG viewer would turn the picture a second time.
* **Colour.** The colour space is an ICC profile (an iPhone's is Display P3) or a CICP triple
  (``nclx``: primaries, transfer, matrix). A profile goes along like a JPEG's; a CICP triple that is not
  plain sRGB goes into a PNG's ``cICP`` chunk or a HEIC's own ``nclx``; JPEG has no place for it (said).
* **Auxiliary pictures** (depth map, an HDR gain map) describe the old pixels: left out, and said.

Example:
    >>> import numpy as np
    >>> rgb = np.zeros((16, 16, 3), np.uint8)
    >>> data = encode_heif(rgb, [])
    >>> is_heif(data), decode_heif(data).pixels.shape
    (True, (16, 16, 3))
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from .photo_meta import (
    _EXIF,
    _XMP_KEY,
    PLAIN_PRIMARIES,
    PLAIN_TRANSFER,
    _iccp,
    _png_chunk,
    _png_exif_upright,
    xmp_from_itxt,
    xmp_upright,
)

#: ISO base-media brands of HEIF still images (not AVIF: this pillow-heif decodes HEVC only)
_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
HEIF_EXTS = (".heic", ".heif")
#: x265 quality of a written HEIC (pillow-heif's 0–100): on a 3840×2160 photo 44.2 dB against its
#: source, 5.6 MB, where OpenCV's JPEG at 95 gives 40.3 dB in 4.8 MB
HEIF_QUALITY = 80
#: x265's preset for it: "medium" took 7.7 s for that photo on 2 cores, libheif's default "slow" 17 s, for the same 44.2 dB
HEIF_PRESET = "medium"
#: what each kind of auxiliary picture is called to a user
_AUX_NAMES = {"depth": "a depth map", "gainmap": "an HDR gain map"}  # (libheif lists an alpha plane apart)


def is_heif(data: bytes) -> bool:
    """Whether ``data`` is a HEIF still image: an ISO ``ftyp`` box naming a HEIF brand (an MP4 or MOV
    also starts with ``ftyp``, with other brands)."""
    if data[4:8] != b"ftyp" or len(data) < 16:
        return False
    size = int.from_bytes(data[:4], "big")
    brands = data[8:12] + data[16 : max(16, min(size, 256))]
    return any(brands[i : i + 4] in _BRANDS for i in range(0, len(brands) - 3, 4))


@dataclass
class HeifPicture:
    """A decoded HEIF photo.

    Attributes:
        pixels: ``H×W×3`` RGB, upright, uint8 (or uint16 for a 10/12-bit photo, scaled to 16 bits).
        has_alpha: the file carries transparency (dropped: the pixels are RGB).
        left_out: what of the file the pixels do not hold ("a depth map", "an HDR gain map").
    """

    pixels: np.ndarray
    has_alpha: bool = False
    left_out: list[str] = field(default_factory=list)
    bit_depth: int = 8  #: the file's (10 for an HDR iPhone photo; its pixels are scaled to 16 bits)


def _open(data: bytes, deep: bool = False):
    import pillow_heif  # noqa: PLC0415 (a dependency only HEIF files need)

    return pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=not deep)


def decode_heif(data: bytes) -> HeifPicture:
    """Decode a HEIF photo's primary picture, upright (``irot``/``imir`` applied), 8 or 16 bits.

    Raises:
        ValueError: the file is not a HEIF picture pillow-heif can decode (damaged, AVIF).
    """
    try:
        heif = _open(data, deep=True)
        pixels = np.asarray(heif)
    except (ValueError, RuntimeError, OSError, SyntaxError) as exc:
        raise ValueError(str(exc).splitlines()[0] if str(exc) else "not a HEIF picture") from None
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    elif pixels.shape[2] == 4:
        pixels = pixels[:, :, :3]
    left = []
    aux = heif.info.get("aux") or {}
    if heif.info.get("depth_images"):
        left.append("a depth map")
    for urn in aux:
        kind = "gainmap" if "gainmap" in urn.lower() else "depth" if "depth" in urn.lower() else "other"
        name = _AUX_NAMES.get(kind, "an auxiliary picture")
        if name not in left:
            left.append(name)
    return HeifPicture(np.ascontiguousarray(pixels), bool(heif.has_alpha), left, int(heif.info.get("bit_depth") or 8))


def heif_chunks(data: bytes) -> list[bytes]:
    """A HEIF photo's ICC profile, EXIF (Orientation 1: the pixels are turned) and XMP as PNG chunks
    (``iCCP``, ``eXIf``, ``iTXt``), and a CICP colour space that is not plain sRGB as ``cICP``;
    nothing for a file pillow-heif cannot read."""
    try:
        info = _open(data).info
    except (ValueError, RuntimeError, OSError, SyntaxError):
        return []
    out = []
    if info.get("icc_profile"):
        out.append(_iccp(bytes(info["icc_profile"])))
    nclx = info.get("nclx_profile")
    if nclx and (nclx["color_primaries"] not in PLAIN_PRIMARIES or nclx["transfer_characteristics"] not in PLAIN_TRANSFER):
        # PNG's cICP: primaries, transfer, matrix (0: RGB), full range
        out.append(_png_chunk(b"cICP", bytes([nclx["color_primaries"], nclx["transfer_characteristics"], 0, 1])))
    exif = info.get("exif")
    if exif:
        tiff = exif[len(_EXIF) :] if exif.startswith(_EXIF) else exif
        out.append(_png_exif_upright(_png_chunk(b"eXIf", bytes(tiff))))
    if info.get("xmp"):
        out.append(_png_chunk(b"iTXt", _XMP_KEY + b"\x00\x00\x00\x00\x00" + bytes(info["xmp"])))
    return out


def encode_heif(rgb: np.ndarray, chunks: list[bytes], quality: int = HEIF_QUALITY) -> bytes:
    """``rgb`` (``H×W×3``, uint8, or uint16 written 10-bit) as a HEIC file with the metadata of PNG
    ``chunks`` (:func:`heif_chunks`, or any photo's, as :func:`~.photo_meta.metadata_for` gives them).

    Args:
        rgb: the picture, upright.
        chunks: ``iCCP`` → the ICC profile, ``eXIf`` → EXIF, Adobe's ``iTXt`` → XMP, ``cICP`` → nclx.
        quality: x265's quality, 0–100.

    Returns:
        The file's bytes.
    """
    import pillow_heif  # noqa: PLC0415

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"encode_heif needs H×W×3 uint8 or uint16 pixels, got {rgb.shape} {rgb.dtype}")
    mode = "RGB;16" if rgb.dtype == np.uint16 else "RGB"
    h, w = rgb.shape[:2]
    heif = pillow_heif.from_bytes(mode, (w, h), np.ascontiguousarray(rgb).tobytes())
    kwargs: dict = {"quality": quality, "enc_params": {"preset": HEIF_PRESET}}
    for c in chunks:
        kind, body = c[4:8], c[8:-4]
        if kind == b"iCCP":
            import zlib  # noqa: PLC0415

            try:
                kwargs["icc_profile"] = zlib.decompress(body[body.index(b"\x00") + 2 :])
            except (ValueError, zlib.error):
                continue
        elif kind == b"eXIf":  # Orientation 1, as the XMP's: the picture is upright
            kwargs["exif"] = _EXIF + _png_exif_upright(c)[8:-4]
        elif kind == b"iTXt":
            xmp = xmp_from_itxt(body)
            if xmp:  # Orientation 1: pillow-heif turns a picture whose XMP says otherwise
                kwargs["xmp"] = xmp_upright(xmp)
        elif kind == b"cICP" and len(body) == 4:
            kwargs.update(color_primaries=body[0], transfer_characteristics=body[1], save_nclx_profile=True)
    buf = io.BytesIO()
    heif.save(buf, **kwargs)
    return buf.getvalue()
