"""HEIC photos (an iPhone's default): read upright with their metadata, written as JPEG, PNG or HEIC.

The HEIC files are made with pillow-heif as a phone makes them: the picture stored as the sensor saw
it with an ``irot`` turn *and* EXIF/XMP Orientation 6, an ICC profile or a CICP colour space. JPEG and
PNG outputs are judged by Debian's ffprobe and OpenCV; a HEIC output can only be read by libheif.
"""

from __future__ import annotations

import json
import struct
import subprocess

import cv2
import media
import numpy as np
import pillow_heif
import pytest
from PIL import Image

from streamdeblur.cli import main
from streamdeblur.io import heif

XMP6 = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
)


def _exif(orientation: int) -> bytes:
    """A big-endian EXIF block: Make "Apple", Model "iPhone 15", Orientation."""
    entries = [(0x010F, 2, 6, b"Apple\x00"), (0x0110, 2, 10, b"iPhone 15\x00")]
    entries.append((0x0112, 3, 1, struct.pack(">HH", orientation, 0)))
    data_at, body, extra = 8 + 2 + 12 * len(entries) + 4, b"", b""
    for tag, typ, count, value in entries:
        if len(value) > 4:
            body += struct.pack(">HHII", tag, typ, count, data_at + len(extra))
            extra += value
        else:
            body += struct.pack(">HHI", tag, typ, count) + value
    return b"Exif\x00\x00MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", len(entries)) + body + b"\x00" * 4 + extra


def _icc(size: int = 600) -> bytes:
    icc = bytearray(size)  # a header readers accept: its size, RGB, the 'acsp' signature
    icc[0:4], icc[16:20], icc[36:40] = struct.pack(">I", size), b"RGB ", b"acsp"
    icc[128:] = bytes(i % 256 for i in range(size - 128))
    return bytes(icc)


def _phone_heic(path, stored: np.ndarray, **kwargs) -> None:
    """``stored`` (RGB, as the sensor saw it) as a HEIC; pillow-heif turns EXIF Orientation 6 into ``irot``."""
    h, w = stored.shape[:2]
    mode = "RGB;16" if stored.dtype == np.uint16 else "RGB"
    pillow_heif.from_bytes(mode, (w, h), np.ascontiguousarray(stored).tobytes()).save(path, quality=95, **kwargs)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / max(np.mean((a.astype(np.float64) - b) ** 2), 1e-12)))


def _ffprobe_frame(path) -> dict:
    out = subprocess.run(
        [media.FFPROBE, "-v", "error", "-show_frames", "-of", "json", str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)["frames"][0]


def _png_chunk(path, kind: bytes) -> bytes | None:
    data, i = path.read_bytes(), 8
    while i + 12 <= len(data):
        n = struct.unpack(">I", data[i : i + 4])[0]
        if data[i + 4 : i + 8] == kind:
            return data[i + 8 : i + 8 + n]
        i += 12 + n
    return None


def test_an_iphone_photo_comes_out_upright_with_its_camera_tags_and_profile(tmp_path, identity_yaml, require_ffmpeg):
    # A HEIC (iPhone's default) was "unknown output container '.HEIC'" or "not one image", and a folder
    # of them was silently empty. Its pixels are stored sideways with irot and EXIF/XMP Orientation 6:
    # libheif turns by irot, so the EXIF that goes on must say 1 (else a JPEG viewer turns it again).
    stored = media.pattern(1, 128, 96)
    upright = np.ascontiguousarray(np.rot90(stored, -1))  # Orientation 6: turned 90° clockwise to view
    src = tmp_path / "IMG_0001.HEIC"
    _phone_heic(src, stored, exif=_exif(6), xmp=XMP6, icc_profile=_icc())
    decoded = np.asarray(pillow_heif.open_heif(src))  # what the file holds, upright (libheif applies irot)
    assert _psnr(decoded, upright) > 28 and _psnr(decoded, np.rot90(stored)) < 15  # the way it turns (6, not 8)
    for suffix in (".jpg", ".png", ".heic"):
        out = tmp_path / f"out{suffix}"
        assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
        if suffix == ".heic":  # only libheif reads HEIC
            back = pillow_heif.open_heif(out)
            pixels, exif, xmp, icc = np.asarray(back), back.info["exif"], back.info["xmp"], back.info["icc_profile"]
            assert b"irot" not in out.read_bytes()
        else:  # Pillow reads the EXIF (ffprobe shows a PNG's as no tags), ffprobe the profile
            tags = Image.open(out).getexif()
            assert (tags.get(0x010F), tags.get(0x0110), tags.get(0x0112)) == ("Apple", "iPhone 15", 1), dict(tags)
            frame = _ffprobe_frame(out)
            assert [(d["side_data_type"], d["size"]) for d in frame["side_data_list"]] == [("ICC profile", 600)]
            pixels = cv2.imread(str(out), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)[..., ::-1]
            assert cv2.imread(str(out)).shape == upright.shape  # a viewer that applies the EXIF: not turned again
            raw = out.read_bytes()
            exif, xmp, icc = raw, raw, _icc()
        assert pixels.shape == upright.shape, (suffix, pixels.shape)
        assert _psnr(pixels, decoded) > {".jpg": 32, ".png": 48, ".heic": 40}[suffix], suffix  # 36, exact, 48.6 dB
        assert b"Apple" in exif and icc == _icc()
        assert b'tiff:Orientation="1"' in xmp and b'tiff:Orientation="6"' not in xmp, suffix


def test_a_folder_of_heic_and_jpeg_photos_keeps_each_name_and_format(tmp_path, identity_yaml, capsys):
    folder = tmp_path / "DCIM"
    folder.mkdir()
    _phone_heic(folder / "IMG_0002.HEIC", media.pattern(2, 64, 48))
    assert cv2.imwrite(str(folder / "IMG_0003.JPG"), media.pattern(3, 64, 48)[..., ::-1])
    assert main(["info", str(folder)]) == 0
    assert "2 images (1 heic, 1 jpg)" in capsys.readouterr().out
    out = tmp_path / "out"
    assert main(["run", str(folder), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["IMG_0002.HEIC", "IMG_0003.JPG"]
    before, after = (np.asarray(pillow_heif.open_heif(f / "IMG_0002.HEIC")) for f in (folder, out))
    assert _psnr(after, before) > 40  # 47.3 dB: HEIC at quality 80 again


def test_a_10_bit_heic_keeps_its_depth_in_png(tmp_path, identity_yaml, require_ffmpeg, capsys):
    ramp = (np.linspace(0, 1, 64)[None, :, None] * np.ones((48, 1, 3)) * 65535).astype(np.uint16)
    src = tmp_path / "deep.heic"
    _phone_heic(src, ramp)
    assert pillow_heif.open_heif(src).info["bit_depth"] == 10
    out = tmp_path / "deep.png"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert _ffprobe_frame(out)["pix_fmt"] == "rgb48be"
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    levels = np.unique(back[24, :, 1])
    assert len(levels) > 48 and np.any(levels % 257 != 0)  # more than 8 bits of levels
    capsys.readouterr()  # a 10-bit photo was called "16-bit" (its pixels are scaled to 16 bits)
    assert main(["info", str(src)]) == 0
    assert "deep.heic: 64x48, 10-bit" in capsys.readouterr().out
    assert main(["run", str(src), "-o", str(tmp_path / "deep.jpg"), "--pipeline", str(identity_yaml)]) == 0
    assert "the picture has 10 bits per channel; .jpg holds 8" in capsys.readouterr().err


def test_a_display_p3_colour_space_goes_into_png_heic_and_jpeg(tmp_path, identity_yaml, capsys):
    # An nclx (CICP) colour space, not an ICC profile: Display P3 = primaries 12, sRGB transfer 13.
    src = tmp_path / "p3.heic"
    _phone_heic(src, media.pattern(4, 64, 48), color_primaries=12, transfer_characteristics=13, save_nclx_profile=True)
    assert main(["run", str(src), "-o", str(tmp_path / "p3.png"), "--pipeline", str(identity_yaml)]) == 0
    assert _png_chunk(tmp_path / "p3.png", b"cICP") == bytes([12, 13, 0, 1])
    assert main(["run", str(src), "-o", str(tmp_path / "p3.heic.heic"), "--pipeline", str(identity_yaml)]) == 0
    nclx = pillow_heif.open_heif(tmp_path / "p3.heic.heic").info["nclx_profile"]
    assert (nclx["color_primaries"], nclx["transfer_characteristics"]) == (12, 13)
    capsys.readouterr()
    # a JPEG takes colour only as an ICC profile: it was written untagged (read as sRGB, dull) with a
    # warning; a profile saying Display P3 is made (io/icc.py), and LittleCMS reads its colours as such
    assert main(["run", str(src), "-o", str(tmp_path / "p3.jpg"), "--pipeline", str(identity_yaml)]) == 0
    assert "colour space" not in capsys.readouterr().err
    import io

    from PIL import Image, ImageCms

    with Image.open(tmp_path / "p3.jpg") as im:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
    assert ImageCms.getProfileDescription(profile).strip() == "Display P3 (sRGB transfer)"
    to_srgb = ImageCms.buildTransform(profile, ImageCms.createProfile("sRGB"), "RGB", "RGB", renderingIntent=1)
    got = ImageCms.applyTransform(Image.fromarray(np.uint8([[[200, 100, 80], [128, 128, 128]]])), to_srgb)
    assert np.array(got).tolist() == [[[215, 93, 73], [128, 128, 128]]]  # P3 → sRGB as the primaries say
    hdr = tmp_path / "pq.heic"  # BT.2020 with PQ: no matrix/curve profile says it: still said
    _phone_heic(hdr, media.pattern(4, 64, 48), color_primaries=9, transfer_characteristics=16, save_nclx_profile=True)
    assert main(["run", str(hdr), "-o", str(tmp_path / "pq.jpg"), "--pipeline", str(identity_yaml)]) == 0
    assert "pq.heic's colour space (CICP 9/16) is given as CICP, which a JPEG cannot hold" in capsys.readouterr().err
    plain = tmp_path / "srgb.heic"  # pillow-heif writes sRGB's nclx on every file: nothing to say
    _phone_heic(plain, media.pattern(4, 64, 48))
    assert main(["run", str(plain), "-o", str(tmp_path / "srgb.jpg"), "--pipeline", str(identity_yaml)]) == 0
    assert "colour space" not in capsys.readouterr().err


def test_what_a_heic_holds_besides_the_picture_is_said(tmp_path, identity_yaml, capsys, monkeypatch):
    src = tmp_path / "alpha.heic"
    rgba = np.dstack([media.pattern(5, 64, 48), np.full((48, 64), 128, np.uint8)])
    pillow_heif.from_bytes("RGBA", (64, 48), rgba.tobytes()).save(src, quality=90)
    assert main(["run", str(src), "-o", str(tmp_path / "a.png"), "--pipeline", str(identity_yaml)]) == 0
    assert "alpha.heic has a transparency (alpha) channel; the output is opaque" in capsys.readouterr().err
    # pillow-heif cannot write the auxiliary pictures an iPhone adds (HDR gain map, depth): the file read
    # is given them as libheif reports them (its URNs)
    opened = heif._open

    def with_aux(data, deep=False):
        file = opened(data, deep)
        file.info["aux"] = {"urn:com:apple:photo:2020:aux:hdrgainmap": [7]}
        file.info["depth_images"] = [object()]
        return file

    monkeypatch.setattr(heif, "_open", with_aux)
    assert main(["run", str(src), "-o", str(tmp_path / "b.png"), "--pipeline", str(identity_yaml)]) == 0
    assert "alpha.heic holds a depth map and an HDR gain map: left out" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["cut", "video"])
def test_a_damaged_heic_is_a_one_line_error(tmp_path, identity_yaml, capsys, damage):
    src = tmp_path / "IMG_0009.HEIC"
    _phone_heic(src, media.pattern(6, 64, 48))
    data = src.read_bytes()
    src.write_bytes(data[:200] if damage == "cut" else b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + data[24:])
    assert main(["run", str(src), "-o", str(tmp_path / "x.jpg"), "--pipeline", str(identity_yaml)]) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"streamdeblur: error: cannot read image {src}") and "\n" not in err, err
    assert not (tmp_path / "x.jpg").exists()


def test_a_picture_libheif_cannot_encode_is_a_one_line_output_error(tmp_path, identity_yaml, capsys):
    src = tmp_path / "strip.png"  # x265 refuses a 70000-pixel-wide picture ("could not be opened")
    assert cv2.imwrite(str(src), np.full((2, 70000, 3), 100, np.uint8))
    out = tmp_path / "strip.heic"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 4
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the run's own last line
    assert err.startswith(f"streamdeblur: error: cannot write {out}: ") and "x265" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["identity.yaml", "strip.png"]
