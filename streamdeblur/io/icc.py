"""ICC colour: a display profile made from a CICP colour space, for files that take colour only as a
profile; and a CMYK photo's pixels converted to sRGB through its own profile (:func:`cmyk_to_srgb`).

A HEIC photo (or a PNG's ``cICP`` chunk) may give its colour space as a CICP triple (H.273: primaries,
transfer, matrix) instead of an ICC profile; a JPEG has no place for CICP, and read as sRGB a Display P3
picture looks dull. For the CICP spaces that a matrix/curve profile describes exactly (RGB primaries
with a white point, and an sRGB, BT.709 or linear transfer), a small ICC v4 profile says the same:

* the colorants are the primaries' XYZ adapted to the profile connection space's D50 white with the
  Bradford transform (kept in ``chad``, as ICC v4 asks), the media white point is D50;
* each channel's curve is a ``para`` function of type 3 (``Y = (aX + b)^g`` above ``d``, ``cX`` below),
  the exact inverse of the sRGB or BT.709 encoding.

PQ and HLG (HDR transfers) have no such curve: None for them, and the caller says so.

Example:
    >>> profile = icc_from_cicp(12, 13)            # Display P3, sRGB transfer
    >>> profile[36:40], profile[12:16], len(profile) == int.from_bytes(profile[:4], "big")
    (b'acsp', b'mntr', True)
    >>> icc_from_cicp(9, 16) is None               # BT.2020 with PQ: no matrix/curve profile says it
    True
"""

from __future__ import annotations

import struct

import numpy as np

#: CICP colour primaries (H.273 table 2): red, green, blue, white as CIE xy
PRIMARIES = {
    1: ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060), (0.3127, 0.3290)),  # BT.709 / sRGB
    9: ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046), (0.3127, 0.3290)),  # BT.2020
    11: ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060), (0.314, 0.351)),  # DCI-P3 (SMPTE RP 431-2)
    12: ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060), (0.3127, 0.3290)),  # Display P3 (SMPTE EG 432-1)
}
#: CICP transfer characteristics (H.273 table 3) as ICC ``para`` type-3 parameters (g, a, b, c, d)
TRANSFERS = {
    13: (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045),  # sRGB (IEC 61966-2-1)
    1: (1 / 0.45, 1 / 1.099, 0.099 / 1.099, 1 / 4.5, 0.081),  # BT.709 (also 6, 14, 15: the same curve)
    8: (1.0, 1.0, 0.0, 1.0, 0.0),  # linear
}
TRANSFERS.update({6: TRANSFERS[1], 14: TRANSFERS[1], 15: TRANSFERS[1]})
_NAMES = {1: "BT.709", 9: "BT.2020", 11: "DCI-P3", 12: "Display P3"}

D50 = (0.9642, 1.0, 0.8249)  #: the ICC profile connection space's white
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def _xyz(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1 - x - y) / y])


def colorants(primaries: int) -> tuple[np.ndarray, np.ndarray]:
    """The D50-adapted red, green and blue colorants (columns of a 3×3 XYZ matrix) of a CICP primaries
    code, and the Bradford matrix that adapts its white to D50.

    Raises:
        KeyError: primaries this module has no table entry for.
    """
    r, g, b, w = PRIMARIES[primaries]
    m = np.stack([_xyz(*r), _xyz(*g), _xyz(*b)], axis=1)
    white = _xyz(*w)
    m = m * np.linalg.solve(m, white)  # scaled so that R = G = B = 1 is the white
    cone_src, cone_dst = _BRADFORD @ white, _BRADFORD @ np.array(D50)
    chad = np.linalg.inv(_BRADFORD) @ np.diag(cone_dst / cone_src) @ _BRADFORD
    return chad @ m, chad


def _s15(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def _tag_xyz(xyz) -> bytes:
    return b"XYZ \x00\x00\x00\x00" + b"".join(_s15(v) for v in xyz)


def _tag_mluc(text: str) -> bytes:
    s = text.encode("utf-16-be")
    return b"mluc\x00\x00\x00\x00" + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(s), 28) + s


def _pad(b: bytes) -> bytes:
    return b + b"\x00" * (-len(b) % 4)


def icc_from_cicp(primaries: int, transfer: int) -> bytes | None:
    """An ICC v4 matrix/curve display profile saying the CICP colour space ``primaries``/``transfer``.

    Args:
        primaries: H.273 colour primaries (1 BT.709, 9 BT.2020, 11 DCI-P3, 12 Display P3).
        transfer: H.273 transfer characteristics (13 sRGB; 1, 6, 14, 15 BT.709; 8 linear).

    Returns:
        The profile's bytes, or None where no such profile says it (PQ, HLG, unknown codes).
    """
    if primaries not in PRIMARIES or transfer not in TRANSFERS:
        return None
    m, chad = colorants(primaries)
    curve = b"para\x00\x00\x00\x00" + struct.pack(">HH", 3, 0) + b"".join(_s15(v) for v in TRANSFERS[transfer])
    name = f"{_NAMES[primaries]} ({'sRGB' if transfer == 13 else 'linear' if transfer == 8 else 'BT.709'} transfer)"
    tags = [
        (b"desc", _tag_mluc(name)),
        (b"cprt", _tag_mluc("No copyright, use freely")),
        (b"wtpt", _tag_xyz(D50)),
        (b"chad", b"sf32\x00\x00\x00\x00" + b"".join(_s15(v) for v in chad.ravel())),
        (b"rXYZ", _tag_xyz(m[:, 0])),
        (b"gXYZ", _tag_xyz(m[:, 1])),
        (b"bXYZ", _tag_xyz(m[:, 2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    table_size = 4 + 12 * len(tags)
    offset, entries, data, shared = 128 + table_size, [], b"", {}
    for sig, body in tags:
        if body in shared:  # the three curves: one copy, as profiles usually share it
            entries.append(struct.pack(">4sII", sig, shared[body], len(body)))
            continue
        shared[body] = offset + len(data)
        entries.append(struct.pack(">4sII", sig, offset + len(data), len(body)))
        data += _pad(body)
    size = 128 + table_size + len(data)
    # size, CMM, version 4.3, a display ("mntr") RGB profile over XYZ, a fixed date (the same bytes each
    # time), the signature; platform … attributes (24 bytes), intent 0; the D50 illuminant; creator, ID, reserved
    header = struct.pack(
        ">I4sI4s4s4s6H4s", size, b"\x00" * 4, 0x04300000, b"mntr", b"RGB ", b"XYZ ", 2026, 1, 1, 0, 0, 0, b"acsp"
    )
    header += b"\x00" * 24 + struct.pack(">I", 0) + b"".join(_s15(v) for v in D50) + b"\x00" * 48
    return header + struct.pack(">I", len(tags)) + b"".join(entries) + data


def cmyk_to_srgb(data: bytes) -> np.ndarray | None:
    """A CMYK photo (a JPEG or TIFF from a print workflow) converted to sRGB through its own ICC profile.

    OpenCV reads CMYK as if the inks were ideal (R = 255 − C − K …), ignoring the profile that says
    what they look like: a picture's blue came out (20, 52, 255) where the profile and every colour-managed
    viewer show (52, 82, 163). LittleCMS (through Pillow's ``ImageCms``) converts with the profile's own
    rendering intent, as a viewer does; the EXIF orientation is applied as OpenCV would.

    Args:
        data: the file's bytes.

    Returns:
        ``H×W×3`` uint8 RGB, upright; None when the file is not an 8-bit CMYK picture with a CMYK
        profile (the caller reads it as usual) or the profile cannot be used.

    Example:
        >>> cmyk_to_srgb(b"not a picture") is None
        True
    """
    import io  # noqa: PLC0415
    import warnings  # noqa: PLC0415

    from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError  # noqa: PLC0415 (photos with CMYK only)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's decompression-bomb warning on a large poster
            with Image.open(io.BytesIO(data)) as im:
                profile = im.info.get("icc_profile")
                if im.mode != "CMYK" or not profile or profile[16:20] != b"CMYK":
                    return None
                im = ImageOps.exif_transpose(im)
                cmyk = ImageCms.ImageCmsProfile(io.BytesIO(profile))
                intent = ImageCms.getDefaultIntent(cmyk)
                rgb = ImageCms.profileToProfile(im, cmyk, ImageCms.createProfile("sRGB"), intent, outputMode="RGB")
                return np.asarray(rgb, dtype=np.uint8).copy()
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError, ImageCms.PyCMSError, Image.DecompressionBombError):
        return None
