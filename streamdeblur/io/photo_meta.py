"""A photograph's own metadata, carried to its deblurred copy: EXIF, XMP and the ICC colour profile
(JPEG), the colour space and text (PNG).

A phone's JPEG holds more than pixels: EXIF (when, where, which camera and lens, exposure), XMP
(ratings, edits) and an ICC profile naming its colour space (an iPhone's is Display P3: read as
sRGB, its colours come out dull). OpenCV writes none of them, so a deblurred photo would lose its
date and place and shift its colours. Here the segments are copied from the input JPEG into the
output JPEG as they are, but for two changes the new file needs:

* **Orientation → 1** (EXIF tag 0x0112 and XMP's ``tiff:Orientation``): the pixels were turned
  upright when the photo was read (:mod:`..sources.images`), so a viewer must not turn them again.
* **No thumbnail** (the link to EXIF's second IFD is cut): it shows the old, blurred, unturned picture.

MPF segments (depth and gain maps of multi-picture JPEGs) are left out: their offsets point into
the old file. A PNG written from a PNG keeps its colour chunks (``iCCP``, ``sRGB``, ``gAMA``,
``cHRM``, ``cICP``: a Display-P3 screenshot stays P3), text chunks (``tEXt``, ``iTXt``, ``zTXt``) and
its ``eXIf`` (camera, date; Orientation 1, as for JPEG, so no reader turns the upright pixels). A
JPEG written as PNG, or a PNG as JPEG, takes its EXIF, XMP and ICC profile over into the other
format's places for them (:func:`metadata_for`). Other formats keep OpenCV's output as it is.

Example:
    >>> tiff = b"MM\\x00*" + (8).to_bytes(4, "big") + (1).to_bytes(2, "big")
    >>> tiff += bytes.fromhex("0112 0003 00000001 0006 0000") + (0).to_bytes(4, "big")
    >>> seg = b"\\xff\\xe1" + (len(tiff) + 8).to_bytes(2, "big") + b"Exif\\x00\\x00" + tiff
    >>> exif_orientation(upright(seg))
    1
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from .formats import JPEG_EXTS
from .icc import icc_from_cicp

_EXIF = b"Exif\x00\x00"
_XMP = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")
_ICC = b"ICC_PROFILE\x00"
_SOS, _EOI = 0xDA, 0xD9


def _segments(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The marker segments of a JPEG before its image data, ``(marker, whole segment bytes)``, and
    the offset where the rest (SOS onwards) starts.

    Raises:
        ValueError: not a JPEG, or a segment runs past the end.
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI marker)")
    out, i = [], 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (_SOS, _EOI):
            break
        n = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if n < 2 or i + 2 + n > len(data):
            raise ValueError(f"JPEG segment at byte {i} runs past the end")
        out.append((marker, data[i : i + 2 + n]))
        i += 2 + n
    return out, i


def _is_metadata(marker: int, seg: bytes) -> bool:
    """An EXIF or XMP APP1, an ICC APP2, Photoshop's APP13 (IPTC: keywords, caption, credit) or a comment
    (COM) segment. The last two go from JPEG to JPEG only (a JPEG's keywords and caption were dropped)."""
    body = seg[4:]
    return (
        (marker == 0xE1 and (body.startswith(_EXIF) or body.startswith(_XMP)))
        or (marker == 0xE2 and body.startswith(_ICC))
        or (marker == 0xED and body.startswith(b"Photoshop 3.0\x00"))
        or marker == 0xFE
    )


_JFIF = b"JFIF\x00"


def metadata_segments(data: bytes) -> list[bytes]:
    """The EXIF, XMP, ICC, IPTC and comment segments of a JPEG, in file order (nothing for a file that is not a JPEG), after
    its JFIF header (its pixel density, the DPI a print layout uses; any thumbnail in it left out)."""
    try:
        segs, _ = _segments(data)
    except ValueError:
        return []
    jfif = [seg for marker, seg in segs if marker == 0xE0 and seg[4:].startswith(_JFIF) and len(seg) >= 18]
    head = [b"\xff\xe0\x00\x10" + jfif[0][4:16] + b"\x00\x00"] if jfif else []  # version, units, densities; no thumbnail
    return head + [seg for marker, seg in segs if _is_metadata(marker, seg)]


def _ifd0(tiff: bytes) -> tuple[str, int, int]:
    """Byte order (``<``/``>``), offset of IFD0 and its entry count inside a TIFF block."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        raise ValueError("EXIF without a TIFF header")
    off = struct.unpack(order + "I", tiff[4:8])[0]
    if off + 2 > len(tiff):
        raise ValueError("EXIF IFD0 outside its segment")
    return order, off, struct.unpack(order + "H", tiff[off : off + 2])[0]


def exif_orientation(segment: bytes) -> int | None:
    """The Orientation tag (1–8) of an EXIF APP1 segment, or None."""
    return tiff_orientation(segment[4 + len(_EXIF) :])  # EXIF's body is a TIFF directory


def upright(segment: bytes) -> bytes:
    """``segment`` for pixels already turned upright: Orientation 1; EXIF's thumbnail unlinked."""
    body = segment[4:]
    if body.startswith(_EXIF):
        tiff = bytearray(body[len(_EXIF) :])
        try:
            order, off, n = _ifd0(bytes(tiff))
        except ValueError:
            return segment
        for k in range(n):
            e = off + 2 + 12 * k
            if e + 12 > len(tiff):
                return segment
            tag, typ = struct.unpack(order + "HH", tiff[e : e + 4])
            if tag == 0x0112 and typ == 3:
                tiff[e + 8 : e + 10] = struct.pack(order + "H", 1)
        nxt = off + 2 + 12 * n
        if nxt + 4 <= len(tiff):
            tiff[nxt : nxt + 4] = b"\x00\x00\x00\x00"  # no IFD1: its thumbnail is the old picture
        return segment[:4] + _EXIF + bytes(tiff)
    if body.startswith(_XMP):  # same length: one digit for one digit
        return segment[:4] + xmp_upright(body)
    return segment


def xmp_upright(xmp: bytes) -> bytes:
    """``xmp`` with ``tiff:Orientation`` 1 (the same length: one digit for one digit)."""
    xmp = re.sub(rb'(tiff:Orientation=")[1-8](")', rb"\g<1>1\g<2>", xmp)
    return re.sub(rb"(<tiff:Orientation>)[1-8](</tiff:Orientation>)", rb"\g<1>1\g<2>", xmp)


def with_metadata(jpeg: bytes, segments: list[bytes]) -> bytes:
    """``jpeg`` (as OpenCV wrote it) with ``segments`` (made :func:`upright`) right after its SOI.

    OpenCV's JFIF APP0 goes when EXIF comes in (EXIF files start with EXIF); any EXIF, XMP or ICC
    segment the encoder wrote itself is replaced.
    """
    segments = [seg for seg in segments if seg[:1] == b"\xff"]  # JPEG segments only
    if not segments:
        return jpeg
    ours, end = _segments(jpeg)
    head = b"".join(seg for marker, seg in ours if marker != 0xE0 and not _is_metadata(marker, seg))
    return b"\xff\xd8" + b"".join(upright(s) for s in segments) + head + jpeg[end:]


_PNG = b"\x89PNG\r\n\x1a\n"
#: PNG chunks carried from input to output: colour space first (they must precede the image data), then text.
PNG_KEEP = (b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"cICP", b"pHYs", b"eXIf", b"tEXt", b"iTXt", b"zTXt")


def png_chunks(data: bytes, keep: tuple[bytes, ...] = PNG_KEEP) -> list[bytes]:
    """The whole chunks (length, type, data, CRC) of a PNG whose type is in ``keep``, in file order;
    nothing for a file that is not a PNG or is cut short."""
    if not data.startswith(_PNG):
        return []
    out, i = [], len(_PNG)
    while i + 12 <= len(data):
        n = struct.unpack(">I", data[i : i + 4])[0]
        kind = data[i + 4 : i + 8]
        if i + 12 + n > len(data):
            return []
        if kind in keep:
            out.append(data[i : i + 12 + n])
        if kind == b"IEND":
            break
        i += 12 + n
    return out


def png_with_chunks(png: bytes, chunks: list[bytes]) -> bytes:
    """``png`` (as OpenCV wrote it: IHDR, IDAT…, IEND) with ``chunks`` right after its IHDR, any of
    the same types it wrote itself replaced."""
    chunks = [c for c in chunks if c[4:8] in PNG_KEEP]  # PNG chunks of the kinds carried only
    if not chunks or not png.startswith(_PNG):
        return png
    chunks = [_png_exif_upright(c) if c[4:8] == b"eXIf" else _png_xmp_upright(c) if c[4:8] == b"iTXt" else c for c in chunks]
    kinds = {c[4:8] for c in chunks}
    ihdr_end = len(_PNG) + 12 + struct.unpack(">I", png[len(_PNG) : len(_PNG) + 4])[0]
    rest, i = [], ihdr_end
    while i + 12 <= len(png):
        n = struct.unpack(">I", png[i : i + 4])[0]
        if png[i + 4 : i + 8] not in kinds:
            rest.append(png[i : i + 12 + n])
        i += 12 + n
    return png[:ihdr_end] + b"".join(chunks) + b"".join(rest)


def photo_metadata(path: str | Path, data: bytes | None = None) -> list[bytes]:
    """The metadata segments (JPEG) or chunks (PNG) of the photo at ``path`` (its bytes ``data`` when the
    caller has read them already); nothing if unreadable. A TIFF's ICC profile and a WebP's or HEIC's ICC
    profile, EXIF and XMP come as PNG chunks (:func:`_tiff_chunks`, :func:`_webp_chunks`, :func:`.heif.heif_chunks`)."""
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError:
            return []
    if data.startswith(_PNG):
        return png_chunks(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_chunks(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_chunks(data)
    if data[4:8] == b"ftyp":  # a HEIC photo's (io/heif.py; pillow-heif, imported for HEIF files only)
        from .heif import heif_chunks, is_heif  # noqa: PLC0415

        return heif_chunks(data) if is_heif(data) else []
    return metadata_segments(data)


def _iccp(profile: bytes) -> bytes:
    return _png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(profile))


#: The TIFF tags of a photo's own directory that describe the shot (EXIF's IFD0 holds them too): make,
#: model, date, artist, copyright, description; with the links to its EXIF and GPS directories.
_TIFF_SHOT_TAGS = frozenset({270, 271, 272, 305, 306, 315, 33432, 34665, 34853})
_TIFF_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_SUB_IFDS = (34665, 34853, 40965)  # EXIF, GPS and interoperability directories


def _tiff_chunks(data: bytes) -> list[bytes]:
    """A TIFF's ICC profile (tag 34675, as Lightroom and Capture One export Adobe RGB and ProPhoto) as a PNG
    ``iCCP`` chunk, and its camera tags (make, model, date; its EXIF and GPS directories) as an ``eXIf``
    chunk (:func:`_exif_from_tiff`); nothing it does not have."""
    out = []
    try:
        order, off, n = _ifd0(data)
        for k in range(n):
            e = off + 2 + 12 * k
            tag, typ, count, value = struct.unpack(order + "HHII", data[e : e + 12])
            if tag == 34675 and typ in (1, 7) and 4 < count <= len(data) - value:
                out.append(_iccp(data[value : value + count]))
        exif = _exif_from_tiff(data)
        if exif is not None and len(exif) + len(_EXIF) + 2 <= 0xFFFF:
            out.append(_png_chunk(b"eXIf", exif))
    except (ValueError, struct.error):
        return out
    return out


def _exif_from_tiff(data: bytes) -> bytes | None:
    """An EXIF block (a TIFF block of its own: header, IFD0, the EXIF and GPS directories, every value
    moved to its new place) with a TIFF photo's camera tags (:data:`_TIFF_SHOT_TAGS`), or None when it
    has none. Orientation is left out: the pixels are upright.

    Raises:
        ValueError, struct.error: a directory or value outside the file.
    """
    order, off, _ = _ifd0(data)
    out = bytearray(data[:2] + struct.pack(order + "HI", 42, 8))

    def entries(at: int, keep) -> list[tuple[int, int, int, bytes]]:
        (n,) = struct.unpack(order + "H", data[at : at + 2])
        got = []
        for k in range(n):
            e = at + 2 + 12 * k
            tag, typ, count = struct.unpack(order + "HHI", data[e : e + 8])
            if not keep(tag) or typ not in _TIFF_SIZES:
                continue
            size = _TIFF_SIZES[typ] * count
            if size <= 4:
                raw = data[e + 8 : e + 8 + size]
            else:
                (where,) = struct.unpack(order + "I", data[e + 8 : e + 12])
                if where + size > len(data):
                    raise ValueError("a TIFF value outside the file")
                raw = data[where : where + size]
            got.append((tag, typ, count, raw))
        return got

    def write(items: list[tuple[int, int, int, bytes]]) -> int:
        """Write one directory (and, after it, its long values and sub-directories); its offset."""
        at = len(out)
        out.extend(struct.pack(order + "H", len(items)) + b"\x00" * (12 * len(items)) + b"\x00\x00\x00\x00")
        for k, (tag, typ, count, raw) in enumerate(sorted(items)):
            e = at + 2 + 12 * k
            if tag in _SUB_IFDS:
                (child,) = struct.unpack(order + "I", raw[:4])
                if child + 2 > len(data):
                    raise ValueError("a TIFF directory outside the file")
                field = struct.pack(order + "I", write(entries(child, lambda t: t not in _SUB_IFDS or t == 40965)))
                out[e : e + 12] = struct.pack(order + "HHI", tag, 4, 1) + field
                continue
            if len(raw) <= 4:
                field = raw + b"\x00" * (4 - len(raw))
            else:
                if len(out) & 1:
                    out.append(0)
                field = struct.pack(order + "I", len(out))
                out.extend(raw)
            out[e : e + 12] = struct.pack(order + "HHI", tag, typ, count) + field
        return at

    shot = entries(off, lambda t: t in _TIFF_SHOT_TAGS)
    if not shot:
        return None
    write(shot)
    return bytes(out)


def _riff_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """A WebP's chunks, ``(kind, body)``, in file order (after its 12-byte RIFF header)."""
    i = 12
    while i + 8 <= len(data):
        kind, size = data[i : i + 4], int.from_bytes(data[i + 4 : i + 8], "little")
        yield kind, data[i + 8 : i + 8 + size]
        i += 8 + size + (size & 1)


def _webp_chunks(data: bytes) -> list[bytes]:
    """A WebP's ``ICCP``, ``EXIF`` and ``XMP `` chunks (its extended format's metadata) as PNG chunks."""
    out = []
    for kind, body in _riff_chunks(data):
        if kind == b"ICCP" and body:
            out.insert(0, _iccp(body))
        elif kind == b"EXIF" and body:
            tiff = body[len(_EXIF) :] if body.startswith(_EXIF) else body
            out.append(_png_exif_upright(_png_chunk(b"eXIf", tiff)))
        elif kind == b"XMP " and body:
            out.append(_png_chunk(b"iTXt", _XMP_KEY + b"\x00\x00\x00\x00\x00" + body))
    return out


def full_chroma(data: bytes) -> bool:
    """Whether an image file stores a colour for every pixel: PNG, TIFF, BMP, lossless WebP (not JPEG,
    not lossy WebP), from its header."""
    if data.startswith((b"\x89PNG", b"II*\x00", b"MM\x00*", b"BM")):
        return True
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return False
    # the picture's chunk: after an extended WebP's header and profile, which can be any length
    return next((kind == b"VP8L" for kind, _ in _riff_chunks(data) if kind in (b"VP8 ", b"VP8L")), False)


def describes_photo(meta: list[bytes]) -> list[bytes]:
    """The parts of ``meta`` that say something of the photo (EXIF, XMP, a profile, text): not its pixel
    density alone (JPEG's JFIF header, PNG's ``pHYs``), which every file has."""
    return [m for m in meta if not m[4:].startswith(_JFIF) and m[4:8] != b"pHYs"]


def jpeg_state(data: bytes) -> str:
    """Whether a JPEG's data reach its end-of-image marker: ``"complete"``, ``"truncated"`` (they stop
    before it) or ``"malformed"`` (not a JPEG's structure: no start marker, bytes where a marker must be).

    A file cut short (a copy interrupted, a card pulled out) decodes without an error: libjpeg fills
    the missing rows with grey and prints "Premature end of JPEG file" without naming the file. The
    markers are walked from the start and each scan's entropy-coded data skipped (``FF 00`` stuffing
    and restart markers belong to it), so a thumbnail's marker inside EXIF or a trailer after the
    picture (some phones append one) decides nothing.

    Example:
        >>> scan = b"\\xff\\xd8\\xff\\xda\\x00\\x02\\x12\\xff\\x00\\x34"  # SOI, SOS, data with a stuffed FF
        >>> jpeg_state(scan + b"\\xff\\xd9"), jpeg_state(scan), jpeg_state(b"\\xff\\xd8\\x00\\x01")
        ('complete', 'truncated', 'malformed')
    """
    if data[:2] != b"\xff\xd8":
        return "malformed"
    i, n = 2, len(data)
    while i + 1 < n:
        if data[i] != 0xFF:
            return "malformed"
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker == _EOI:
            return "complete"
        elif 0xD0 <= marker <= 0xD7 or marker == 0x01:  # restart markers, TEM: no length
            i += 2
        else:
            if i + 4 > n:
                return "truncated"
            i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
            if marker == _SOS:  # entropy-coded data up to the next marker that is not stuffing or a restart
                while True:
                    i = data.find(b"\xff", i)
                    if i < 0 or i + 1 >= n:
                        return "truncated"
                    nxt = data[i + 1]
                    if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                        i += 1 if nxt == 0xFF else 2
                        continue
                    break
    return "truncated"


def png_state(data: bytes) -> str:
    """Whether a PNG is whole: ``"complete"`` (its chunks reach ``IEND``), ``"truncated"`` (they stop
    before it) or ``"damaged CHUNK"`` (a critical chunk, ``IHDR``, ``PLTE``, ``IDAT`` or ``IEND``, fails its
    CRC: the bytes changed on a card or in a copy).

    libpng prints its own line for a damaged PNG ("libpng error: IDAT: CRC error", without the file's name)
    and OpenCV then says only that it could not decode: walked here first, the file is named and why given.
    A damaged ancillary chunk (text, a profile) is skipped by libpng and decides nothing here.

    Example:
        >>> import zlib
        >>> chunk = lambda kind, body: len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
        >>> png = _PNG + chunk(b"IHDR", bytes(13)) + chunk(b"IDAT", b"x") + chunk(b"IEND", b"")
        >>> png_state(png), png_state(png[:-12]), png_state(png.replace(b"IDATx", b"IDATy"))
        ('complete', 'truncated', 'damaged IDAT')
    """
    i, n = len(_PNG), len(data)
    if data[:i] != _PNG:
        return "truncated" if _PNG.startswith(data) else "damaged signature"
    while i + 12 <= n:
        size, kind = struct.unpack(">I", data[i : i + 4])[0], data[i + 4 : i + 8]
        end = i + 12 + size
        if end > n:
            return "truncated"
        if kind[:1].isupper() and zlib.crc32(data[i + 4 : end - 4]) != struct.unpack(">I", data[end - 4 : end])[0]:
            return f"damaged {kind.decode('latin-1')}"
        if kind == b"IEND":
            return "complete"
        i = end
    return "truncated"


def _ifd0_entry(data: bytes, wanted: int) -> tuple[int, bytes] | None:
    """``(type, value field)`` of tag ``wanted`` in the first directory of a TIFF block, or None."""
    try:
        order, off, n = _ifd0(data)
    except (ValueError, struct.error):
        return None
    for k in range(n):
        e = off + 2 + 12 * k
        if e + 12 > len(data):
            break
        tag, typ = struct.unpack(order + "HH", data[e : e + 4])
        if tag == wanted:
            return typ, data[:2] + data[e + 8 : e + 12]  # the byte order travels with the field
    return None


def _ifd0_short(data: bytes, tag: int) -> int | None:
    """A SHORT tag's value in the first directory of a TIFF block, or None."""
    entry = _ifd0_entry(data, tag)
    if entry is None or entry[0] != 3:
        return None
    field = entry[1]
    return struct.unpack({b"II": "<", b"MM": ">"}[field[:2]] + "H", field[2:4])[0]


def tiff_sample_kind(data: bytes) -> str | None:
    """``float32``, ``int32`` … for a TIFF whose samples are floating point, signed, or wider than 16 bits
    (SampleFormat 339, BitsPerSample 258), which photos are not; None for 8/16-bit unsigned and non-TIFFs."""
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    fmt, bits = _ifd0_short(data, 339) or 1, _ifd0_short(data, 258) or 8
    if fmt == 1 and bits <= 16:
        return None
    return f"{ {1: 'uint', 2: 'int', 3: 'float'}.get(fmt, 'undefined ') }{bits}"


def tiff_orientation(data: bytes) -> int | None:
    """The Orientation tag (1–8) in the first directory of a TIFF block (a TIFF file, EXIF's body), or None."""
    return _ifd0_short(data, 0x0112)


def tiff_has_alpha(data: bytes) -> bool:
    """Whether a TIFF stores an extra (alpha) channel: ExtraSamples (338), or more samples per pixel
    (277) than its colour model has (grey 1, RGB 3, CMYK 4; photometric interpretation 262)."""
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        return False
    if _ifd0_entry(data, 338) is not None:
        return True
    samples, model = _ifd0_short(data, 277) or 1, _ifd0_short(data, 262)
    return samples > {0: 1, 1: 1, 2: 3, 5: 4}.get(model if model is not None else 2, 3)


def more_pictures(data: bytes) -> str | None:
    """What a photo file holds beyond its first picture, from its header: ``"pages"`` (a TIFF whose first
    directory links another full-size one; a reduced-size thumbnail is not a page) or ``"frames"`` (an
    animated WebP); None for one picture.

    Example:
        >>> more_pictures(b"RIFF\\x00\\x00\\x00\\x00WEBPVP8X" + bytes([10, 0, 0, 0, 0x02]) + bytes(9))
        'frames'
    """
    if data[:4] == b"RIFF" and data[8:16] == b"WEBPVP8X" and len(data) > 20:
        return "frames" if data[20] & 0x02 else None
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    try:
        order, off, n = _ifd0(data)
        end = off + 2 + 12 * n
        nxt = struct.unpack(order + "I", data[end : end + 4])[0]
        if not nxt or nxt + 2 > len(data):
            return None
        for k in range(struct.unpack(order + "H", data[nxt : nxt + 2])[0]):  # NewSubfileType (254): bit 0, a thumbnail
            e = nxt + 2 + 12 * k
            tag, typ = struct.unpack(order + "HH", data[e : e + 4])
            if tag == 254:
                kind = struct.unpack(order + ("I" if typ == 4 else "H"), data[e + 8 : e + (12 if typ == 4 else 10)])[0]
                return None if kind & 1 else "pages"
    except (ValueError, struct.error):
        return None
    return "pages"


def bmp_has_alpha(data: bytes) -> bool:
    """Whether a BMP stores transparency: 32 bits per pixel with an alpha mask in its header (the
    V3/V4/V5 headers that GIMP, ImageMagick and Windows write for transparent bitmaps).

    Example:
        >>> head = b"BM" + bytes(12) + (124).to_bytes(4, "little") + bytes(10) + (32).to_bytes(2, "little")
        >>> bmp_has_alpha(head + bytes(36) + (0xFF000000).to_bytes(4, "little") + bytes(60))
        True
    """
    if data[:2] != b"BM" or len(data) < 70:
        return False
    header, bits = int.from_bytes(data[14:18], "little"), int.from_bytes(data[28:30], "little")
    return header >= 56 and bits == 32 and int.from_bytes(data[66:70], "little") != 0


def webp_has_alpha(data: bytes) -> bool:
    """Whether a WebP carries transparency: the extended header's alpha flag, or a lossless
    bitstream's ``alpha_is_used`` bit (a simple lossy WebP has none)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return False
    kind = data[12:16]
    if kind == b"VP8X":
        return bool(data[20] & 0x10)
    if kind == b"VP8L" and data[20] == 0x2F:  # signature, then 14+14 bits of size, then the alpha bit
        return bool(int.from_bytes(data[21:25], "little") >> 28 & 1)
    return False


def is_greyscale(data: bytes) -> bool:
    """Whether an image file stores one grey channel (with or without alpha), from its header: PNG colour
    types 0 and 4, a JPEG frame of one component, a TIFF with black/white-is-zero photometry and one
    sample per pixel (plus extra samples). Other formats: False (WebP has no grey; BMP's grey is a palette).

    Example:
        >>> import cv2, numpy as np
        >>> grey = cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes()
        >>> colour = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
        >>> is_greyscale(grey), is_greyscale(colour)
        (True, False)
    """
    if data[:8] == _PNG:
        return len(data) > 25 and data[25] in (0, 4)
    if data[:2] == b"\xff\xd8":
        try:
            segments, _ = _segments(data)
        except ValueError:
            return False
        for marker, seg in segments:  # start of frame: every SOFn but DHT (C4), JPG (C8), DAC (CC)
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and len(seg) > 9:
                return seg[9] == 1
        return False
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        samples = (_ifd0_short(data, 277) or 1) - (1 if _ifd0_entry(data, 338) is not None else 0)
        return _ifd0_short(data, 262) in (0, 1) and samples == 1
    return False


def jpeg_sampling(data: bytes) -> int | None:
    """A colour JPEG's chroma sampling as OpenCV's ``IMWRITE_JPEG_SAMPLING_FACTOR`` value (``0x111111``
    for 4:4:4, ``0x221111`` for 4:2:0, ``0x211111`` for 4:2:2: each byte a component's horizontal and
    vertical factors), read from its frame header; None for other files and grey JPEGs.

    Example:
        >>> import cv2, numpy as np
        >>> params = [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
        >>> hex(jpeg_sampling(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8), params)[1].tobytes()))
        '0x111111'
    """
    if data[:2] != b"\xff\xd8":
        return None
    try:
        segments, _ = _segments(data)
    except ValueError:
        return None
    for marker, seg in segments:
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if len(seg) < 19 or seg[9] != 3 or seg[14] != seg[17]:
                return None
            (yh, yv), (ch, cv) = divmod(seg[11], 16), divmod(seg[14], 16)
            if not ch or not cv or yh % ch or yv % cv:
                return None
            # relative factors: FFmpeg writes its 4:4:4 as 1x2 for every component
            return (yh // ch) << 20 | (yv // cv) << 16 | 0x1111
    return None


def jpeg_components(data: bytes) -> int | None:
    """How many colour components a JPEG's frame header gives (1 grey, 3 YCbCr, 4 CMYK or YCCK), or None
    for other files.

    Example:
        >>> import cv2, numpy as np
        >>> jpeg_components(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
        3
    """
    try:
        segments, _ = _segments(data)
    except ValueError:
        return None
    for marker, seg in segments:
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and len(seg) >= 10:
            return seg[9]
    return None


def is_cmyk(data: bytes) -> bool:
    """Whether a photo's header says its pixels are inks (CMYK): a JPEG with four components in its frame
    header (Adobe's CMYK or YCCK), a TIFF with photometric interpretation 5 (262)."""
    if data[:2] == b"\xff\xd8":
        return jpeg_components(data) == 4
    return data[:4] in (b"II*\x00", b"MM\x00*") and _ifd0_short(data, 262) == 5


def png_has_alpha(data: bytes) -> bool:
    """Whether a PNG carries transparency: an alpha channel (colour types 4, 6) or a ``tRNS`` chunk."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 26:
        return False
    if data[25] in (4, 6):
        return True
    head = data[: max(data.find(b"IDAT"), 0)]
    return b"tRNS" in head


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_exif_upright(chunk: bytes) -> bytes:
    """A PNG ``eXIf`` chunk with Orientation 1 and no thumbnail (:func:`upright`)."""
    tiff = chunk[8:-4]
    seg = upright(b"\xff\xe1" + struct.pack(">H", min(len(tiff) + 8, 0xFFFF)) + _EXIF + tiff)
    return _png_chunk(b"eXIf", seg[4 + len(_EXIF) :])


_XMP_KEY = b"XML:com.adobe.xmp"


def _png_xmp_upright(chunk: bytes) -> bytes:
    """A PNG ``iTXt`` chunk: Adobe's XMP with ``tiff:Orientation`` 1 (:func:`xmp_upright`); other text as it is."""
    body = chunk[8:-4]
    if not body.startswith(_XMP_KEY + b"\x00\x00\x00"):  # uncompressed XMP only
        return chunk
    return _png_chunk(b"iTXt", xmp_upright(body))


def _png_from_jpeg(segments: list[bytes]) -> list[bytes]:
    """JPEG metadata segments as PNG chunks: EXIF → ``eXIf``, ICC (all its APP2 parts) → ``iCCP``,
    XMP → ``iTXt`` under Adobe's key."""
    out, icc = [], []
    for seg in segments:
        body = upright(seg)[4:]  # the pixels are upright: EXIF's and XMP's orientation say 1
        if body.startswith(_EXIF):
            out.append(_png_chunk(b"eXIf", body[len(_EXIF) :]))
        elif body.startswith(_XMP[0]):
            out.append(_png_chunk(b"iTXt", _XMP_KEY + b"\x00\x00\x00\x00\x00" + body[len(_XMP[0]) :]))
        elif body.startswith(_ICC) and len(body) > len(_ICC) + 2:
            icc.append((body[len(_ICC)], body[len(_ICC) + 2 :]))  # (sequence number, data)
        elif body.startswith(_JFIF) and len(body) >= 12 and body[7] in (1, 2):  # its density in dpi or dots per cm
            x, y = struct.unpack(">HH", body[8:12])
            per_metre = 1 / 0.0254 if body[7] == 1 else 100
            if x and y:  # the print size, PNG's pHYs (pixels per metre)
                out.append(_png_chunk(b"pHYs", struct.pack(">IIB", round(x * per_metre), round(y * per_metre), 1)))
    if icc:
        profile = b"".join(part for _, part in sorted(icc))
        out.insert(0, _png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(profile)))
    return out


def _jpeg_from_png(chunks: list[bytes]) -> list[bytes]:
    """PNG chunks as JPEG metadata segments: ``eXIf`` → EXIF APP1, ``iCCP`` → ICC APP2 parts,
    Adobe's XMP ``iTXt`` → XMP APP1 (the rest has no place in a JPEG)."""
    out = []
    has_profile = any(c[4:8] == b"iCCP" for c in chunks)
    for chunk in chunks:
        kind, data = chunk[4:8], chunk[8:-4]
        if kind == b"cICP" and not has_profile and len(data) >= 2 and (data[0], data[1]) not in _PLAIN_CICP:
            # a CICP colour space (a HEIC's nclx): JPEG takes colour only as a profile, so one is made
            # where a matrix/curve profile says it (Display P3 with the sRGB curve: an iPhone-style photo)
            made = icc_from_cicp(data[0], data[1])
            out += _icc_segments(made) if made is not None else []
        elif kind == b"eXIf" and len(data) + len(_EXIF) + 2 <= 0xFFFF:
            out.append(b"\xff\xe1" + struct.pack(">H", len(data) + len(_EXIF) + 2) + _EXIF + data)
        elif kind == b"pHYs" and len(data) == 9:  # the print size (300 dpi): JFIF's density (it became 1:1, no unit)
            x, y, unit = struct.unpack(">IIB", data)
            dpi = (round(x * 0.0254), round(y * 0.0254)) if unit == 1 else (x, y)
            if 0 < dpi[0] <= 0xFFFF and 0 < dpi[1] <= 0xFFFF:
                out.insert(
                    0,
                    b"\xff\xe0\x00\x10"
                    + _JFIF
                    + b"\x01\x01"
                    + bytes([1 if unit == 1 else 0])
                    + struct.pack(">HH", *dpi)
                    + b"\x00\x00",
                )
        elif kind == b"iTXt" and data.startswith(_XMP_KEY + b"\x00\x00"):
            text = xmp_from_itxt(data)
            if text and len(text) + len(_XMP[0]) + 2 <= 0xFFFF:
                out.append(b"\xff\xe1" + struct.pack(">H", len(text) + len(_XMP[0]) + 2) + _XMP[0] + text)
        elif kind == b"iCCP":
            try:
                profile = zlib.decompress(data[data.index(b"\x00") + 2 :])
            except (ValueError, zlib.error):
                continue
            out += _icc_segments(profile)
    return out


def _icc_segments(profile: bytes) -> list[bytes]:
    """An ICC profile as JPEG APP2 segments (``ICC_PROFILE``, numbered parts of at most 64 KiB)."""
    size = 0xFFFF - 2 - len(_ICC) - 2
    parts = [profile[i : i + size] for i in range(0, len(profile), size)]
    out = []
    for n, part in enumerate(parts, 1):
        body = _ICC + bytes([n, len(parts)]) + part
        out.append(b"\xff\xe2" + struct.pack(">H", len(body) + 2) + body)
    return out


def xmp_from_itxt(data: bytes) -> bytes:
    """The XMP packet of a PNG ``iTXt`` chunk's data under Adobe's key (uncompressed), else b""."""
    if not data.startswith(_XMP_KEY + b"\x00\x00"):
        return b""
    rest = data[len(_XMP_KEY) + 3 :]  # flag, method, then language and translated keyword
    return rest.split(b"\x00", 2)[-1] if rest.count(b"\x00") >= 2 else b""


def metadata_for(output_suffix: str, meta: list[bytes]) -> list[bytes]:
    """The metadata a JPEG, PNG or HEIC written from a photo gets, from the photo's own ``meta``
    (:func:`photo_metadata`), in the output's form: its segments (JPEG) or chunks (PNG; a HEIC is
    written from them: :func:`.heif.encode_heif`), converted when the formats differ; nothing for other formats.

    Example:
        >>> _jpeg_from_png(_png_from_jpeg([b"\\xff\\xe1\\x00\\x0cExif\\x00\\x00MM\\x00*"]))
        [b'\\xff\\xe1\\x00\\x0cExif\\x00\\x00MM\\x00*']
    """
    kind = {**dict.fromkeys(JPEG_EXTS, "jpeg"), ".png": "png", ".heic": "png", ".heif": "png"}  # HEIC: written from PNG's
    out = kind.get(output_suffix.lower())
    if out is None or not meta:
        return []
    # the form photo_metadata gave them in (it reads what the file is), not the form the source's name says:
    # a JPEG named .png (a download, a rename) lost its profile and EXIF, its segments taken for PNG chunks
    src = "jpeg" if meta[0][:1] == b"\xff" else "png"  # a JPEG segment starts with its marker, a PNG chunk with its length
    if out == src:
        return meta
    return _png_from_jpeg(meta) if out == "png" else _jpeg_from_png(meta)


#: CICP values (H.273) that say plain sRGB/BT.709 (or nothing): what a reader assumes anyway
PLAIN_PRIMARIES = (1, 2)
PLAIN_TRANSFER = (1, 2, 13)
#: (primaries, transfer) pairs a reader takes for sRGB anyway: no profile is made for them
_PLAIN_CICP = {(p, t) for p in PLAIN_PRIMARIES for t in PLAIN_TRANSFER}
#: CICP colour primaries by name
_PRIMARIES_NAMES = {9: "BT.2020", 11: "DCI-P3", 12: "Display P3"}


def cicp_name(chunks: list[bytes]) -> str | None:
    """``Display P3`` (or ``CICP 9/16``) for a ``cICP`` chunk among PNG ``chunks`` that says more than
    sRGB, else None (none, or plain sRGB/BT.709: what a reader assumes anyway)."""
    for c in chunks:
        if c[4:8] == b"cICP" and len(c) >= 14:
            primaries, transfer = c[8], c[9]
            if primaries in PLAIN_PRIMARIES and transfer in PLAIN_TRANSFER:
                return None
            return (
                _PRIMARIES_NAMES.get(primaries, f"CICP {primaries}/{transfer}")
                if transfer in PLAIN_TRANSFER
                else (f"CICP {primaries}/{transfer}")
            )
    return None


def profile_space(meta: list[bytes]) -> str | None:
    """The colour space (``RGB``, ``GRAY``, ``CMYK`` …) of the ICC profile among JPEG segments or PNG
    chunks ``meta`` (from its header, bytes 16–20), or None when there is no profile."""
    for part in meta:
        if part[4:8] == b"iCCP":  # PNG: name, 0, method, then the zlib stream
            try:
                body = part[8:-4]
                profile = zlib.decompressobj().decompress(body[body.index(b"\x00") + 2 :], 24)
            except (ValueError, zlib.error):
                return None
            return profile[16:20].decode("latin-1").strip() if len(profile) >= 20 else None
        body = part[4:]
        if body.startswith(_ICC) and len(body) > len(_ICC) + 2 and body[len(_ICC)] == 1:  # the first part: the header
            profile = body[len(_ICC) + 2 :]
            return profile[16:20].decode("latin-1").strip() if len(profile) >= 20 else None
    return None


def without_profile(meta: list[bytes]) -> list[bytes]:
    """``meta`` without its ICC profile (JPEG's APP2 parts, PNG's ``iCCP``)."""
    return [m for m in meta if m[4:8] != b"iCCP" and not m[4:].startswith(_ICC)]
