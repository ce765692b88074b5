"""A folder of photos is not a video (issue 18): each image at its own size, names and formats
kept, EXIF orientation applied."""

from __future__ import annotations

import json
import struct
import subprocess

import cv2
import media
import numpy as np
import torch

from streamdeblur.cli import main
from streamdeblur.stages import Stage, register_stage


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert an EXIF APP1 segment holding only the Orientation tag (0x0112) after the JPEG's SOI."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    tiff = b"MM\x00*" + struct.pack(">I", 8) + ifd
    body = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + app1 + jpeg[2:]


def test_photos_keep_their_sizes_names_and_formats(tmp_path, identity_yaml):
    src = tmp_path / "photos"
    src.mkdir()
    shots = {"beach.png": (96, 64), "dog.jpg": (80, 48), "tall.png": (48, 72)}
    for i, (name, (w, h)) in enumerate(shots.items()):
        assert cv2.imwrite(str(src / name), media.pattern(i, w, h)[..., ::-1])
    out = tmp_path / "out"
    assert main(["run", str(src), "-o", f"{out}/", "--pipeline", str(identity_yaml)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(shots)
    for name, (w, h) in shots.items():
        img = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert img.shape[:2] == (h, w), name
        original = cv2.imread(str(src / name), cv2.IMREAD_UNCHANGED)
        diff = np.abs(img.astype(int) - original.astype(int))
        assert diff.max() == 0 if name.endswith(".png") else diff.mean() < 2.0, name  # identity: PNG exact, JPEG re-encoded


def test_exif_orientation_is_applied(tmp_path, identity_yaml):
    src = tmp_path / "photos"
    src.mkdir()
    img = np.zeros((64, 96, 3), np.uint8)
    img[:, :48] = (0, 0, 255)  # stored: red left half (BGR)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    (src / "portrait.jpg").write_bytes(_with_exif_orientation(buf.tobytes(), 6))  # 6: rotate 90° clockwise to view
    out = tmp_path / "out"
    assert main(["run", str(src), "-o", f"{out}/", "--pipeline", str(identity_yaml)]) == 0
    got = cv2.imread(str(out / "portrait.jpg"), cv2.IMREAD_UNCHANGED)  # as stored: already upright
    assert got.shape[:2] == (96, 64)
    top, bottom = got[:40].mean(axis=(0, 1)), got[-40:].mean(axis=(0, 1))
    assert top[2] > 200 and bottom[2] < 50  # the red half is on top once turned clockwise


def test_one_photo_in_one_image_file_out(tmp_path, identity_yaml, capsys):
    # `streamdeblur run photo.png` used to stop with "unknown output container '.png'": its default
    # output (photo_deblurred.png) and any -o with an image extension were taken for a video file
    photo = tmp_path / "photo.png"
    assert cv2.imwrite(str(photo), media.pattern(2, 96, 64)[..., ::-1])
    assert main(["run", str(photo), "--pipeline", str(identity_yaml)]) == 0
    written = tmp_path / "photo_deblurred.png"
    assert np.array_equal(cv2.imread(str(written), cv2.IMREAD_UNCHANGED), cv2.imread(str(photo), cv2.IMREAD_UNCHANGED))
    pngs = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".png")
    assert pngs == ["photo.png", "photo_deblurred.png"]  # no partial file left behind
    # another format by its extension; a 16-bit photo to JPEG is rounded to 8 bits
    deep = tmp_path / "deep.png"
    assert cv2.imwrite(str(deep), (media.pattern(3, 96, 64)[..., ::-1].astype(np.uint16) * 257))
    assert main(["run", str(deep), "-o", str(tmp_path / "deep.jpg"), "--pipeline", str(identity_yaml)]) == 0
    jpg = cv2.imread(str(tmp_path / "deep.jpg"), cv2.IMREAD_UNCHANGED)
    assert jpg.dtype == np.uint8 and np.abs(jpg.astype(int) - media.pattern(3, 96, 64)[..., ::-1]).mean() < 4.0  # JPEG q95
    # the model's own path writes it too (and an existing output is refused without --overwrite)
    assert main(["run", str(photo), "-o", str(tmp_path / "sharp.png")]) == 0
    assert cv2.imread(str(tmp_path / "sharp.png")).shape == (64, 96, 3)
    capsys.readouterr()
    assert main(["run", str(photo), "-o", str(tmp_path / "sharp.png")]) != 0
    assert "exists" in capsys.readouterr().err


def test_frames_of_a_video_to_one_image_file_is_refused_before_decoding(tmp_path, capsys):
    clip = media.write_video(tmp_path / "clip.mp4", frames=3, size=(64, 48))
    out = tmp_path / "frame.png"
    assert main(["run", str(clip), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is one image file" in err[0] and f"-o {tmp_path / 'frame'}/" in err[0]  # beside -o's file
    assert not out.exists()


def _phone_jpeg(img_bgr: np.ndarray) -> bytes:
    """A JPEG as a phone writes it: EXIF (camera, date, Orientation 6), XMP (tiff:Orientation 6), an ICC profile."""
    make, when = b"Canon\x00", b"2024:07:14 10:20:30\x00"
    data_off = 8 + 2 + 12 * 3 + 4
    entries = struct.pack(">HHII", 0x010F, 2, len(make), data_off)
    entries += struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0)
    entries += struct.pack(">HHII", 0x0132, 2, len(when), data_off + len(make))
    tiff = b"MM\x00*" + struct.pack(">IH", 8, 3) + entries + struct.pack(">I", 0) + make + when

    def seg(marker: bytes, body: bytes) -> bytes:
        return marker + struct.pack(">H", len(body) + 2) + body

    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
    meta = seg(b"\xff\xe1", b"Exif\x00\x00" + tiff) + seg(b"\xff\xe1", b"http://ns.adobe.com/xap/1.0/\x00" + xmp)
    meta += seg(b"\xff\xe2", b"ICC_PROFILE\x00\x01\x01" + bytes(range(128)))
    ok, buf = cv2.imencode(".jpg", img_bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return buf.tobytes()[:2] + meta + buf.tobytes()[2:]


def _ffprobe_photo(path) -> dict:
    """Debian's ffprobe on a JPEG: its size, EXIF tags (as frame tags) and side data (ICC profile, display matrix)."""
    out = subprocess.run(
        [media.FFPROBE, "-v", "error", "-show_frames", "-of", "json", str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)["frames"][0]


def test_a_photos_exif_xmp_and_colour_profile_are_kept_and_it_is_shown_upright(tmp_path, identity_yaml, require_ffmpeg):
    img = np.zeros((64, 96, 3), np.uint8)
    img[:, :48] = (0, 0, 255)
    src = tmp_path / "photos"
    src.mkdir()
    (src / "IMG_0001.jpg").write_bytes(_phone_jpeg(img))
    before = _ffprobe_photo(src / "IMG_0001.jpg")
    assert before["tags"]["Orientation"].strip() == "6" and before["side_data_list"]
    single = tmp_path / "single.jpg"
    assert main(["run", str(src / "IMG_0001.jpg"), "-o", str(single), "--pipeline", str(identity_yaml)]) == 0
    assert main(["run", str(src), "-o", f"{tmp_path / 'out'}/", "--pipeline", str(identity_yaml)]) == 0
    for out in (single, tmp_path / "out" / "IMG_0001.jpg"):
        after = _ffprobe_photo(out)
        assert (after["width"], after["height"]) == (64, 96)  # stored upright ...
        assert after["tags"]["Orientation"].strip() == "1"  # ... and not to be turned again
        assert {k: after["tags"][k] for k in ("Make", "DateTime")} == {"Make": "Canon", "DateTime": "2024:07:14 10:20:30"}
        kinds = {d["side_data_type"]: d for d in after.get("side_data_list", [])}
        assert kinds["ICC profile"]["size"] == 128 and "3x3 displaymatrix" not in kinds
        data = out.read_bytes()
        assert bytes(range(128)) in data and b'tiff:Orientation="1"' in data
        shown = cv2.imread(str(out))  # OpenCV applies EXIF orientation: a stale 6 would turn it again
        assert shown.shape[:2] == (96, 64) and shown[:40, :, 2].mean() > 200 and shown[-40:, :, 2].mean() < 50


def test_an_image_folder_output_never_writes_over_what_is_there(tmp_path, identity_yaml, capsys):
    """An existing image of the same name is refused without --overwrite (before any is written), and
    the input folder itself is refused even with it: ``-o photos/`` used to replace the photos."""
    src = tmp_path / "photos"
    src.mkdir()
    for i, name in enumerate(("a.jpg", "b.png")):
        assert cv2.imwrite(str(src / name), media.pattern(i, 96, 64)[..., ::-1])
    originals = {p.name: p.read_bytes() for p in src.iterdir()}
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.png").write_bytes(b"someone's own picture")
    ident = ["--pipeline", str(identity_yaml)]
    assert main(["run", str(src), "-o", f"{out}/", *ident]) != 0
    err = capsys.readouterr().err
    assert "b.png" in err and "exists" in err and "Traceback" not in err
    assert (out / "b.png").read_bytes() == b"someone's own picture" and not (out / "a.jpg").exists()
    assert main(["run", str(src), "-o", f"{out}/", *ident, "--overwrite"]) == 0  # asked for: replaced
    assert cv2.imread(str(out / "b.png")) is not None
    for flags in ([], ["--overwrite"]):
        assert main(["run", str(src), "-o", f"{src}/", *ident, *flags]) != 0
        assert "input" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in src.iterdir()} == originals
    video = media.write_video(tmp_path / "clip.mp4", frames=3, size=(96, 64))
    frames = tmp_path / "frames"
    assert main(["run", str(video), "-o", f"{frames}/", *ident]) == 0
    assert main(["run", str(video), "-o", f"{frames}/", *ident]) != 0  # its numbered frames are there now
    assert "frame_000000.png" in capsys.readouterr().err
    later = tmp_path / "later"  # a numbered frame further on: it was met after 40 frames had been written (audit 9)
    later.mkdir()
    (later / "frame_000002.png").write_bytes(b"mine")
    assert main(["run", str(video), "-o", f"{later}/", *ident]) != 0
    assert "frame_000002.png" in capsys.readouterr().err
    assert sorted(p.name for p in later.iterdir()) == ["frame_000002.png"]  # refused before any frame


def test_run_on_a_folder_of_videos_points_to_batch(tmp_path, identity_yaml, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    media.write_video(clips / "GX010001.MP4", frames=2, size=(96, 64))
    assert main(["run", str(clips), "-o", f"{tmp_path / 'out'}/", "--pipeline", str(identity_yaml)]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "GX010001.MP4" in err and f"streamdeblur batch {clips}" in err, err


def test_a_pngs_colour_profile_and_text_are_kept(tmp_path, identity_yaml, require_ffmpeg):
    """A Display-P3 PNG (iCCP) with a tEXt chunk, judged by ffprobe: the profile and the text come through."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    icc = bytearray(200)  # a header libpng accepts: its size, the 'acsp' signature, zeros (no tags, intent 0)
    icc[0:4], icc[36:40] = struct.pack(">I", 200), b"acsp"
    ok, buf = cv2.imencode(".png", media.pattern(1, 64, 48)[..., ::-1])
    png = buf.tobytes()
    ihdr_end = 8 + 12 + 13
    meta = chunk(b"iCCP", b"Display P3\x00\x00" + zlib.compress(bytes(icc))) + chunk(b"tEXt", b"Author\x00Ada")
    src = tmp_path / "shot.png"
    src.write_bytes(png[:ihdr_end] + meta + png[ihdr_end:])
    out = tmp_path / "out.png"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    for path in (src, out):
        frame = _ffprobe_photo(path)
        assert frame["tags"]["Author"] == "Ada", path
        assert [(d["side_data_type"], d["size"]) for d in frame["side_data_list"]] == [("ICC profile", 200)], path
    assert np.array_equal(cv2.imread(str(out)), cv2.imread(str(src)))  # the pixels as before (identity)


def test_a_photo_with_transparency_is_told_its_alpha_is_not_kept(tmp_path, identity_yaml, capsys):
    """A PNG with an alpha channel comes out opaque (JPEG-like 3 channels); videos with alpha said so,
    photos dropped it without a word."""
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., 1], rgba[..., 3] = 200, 128
    src = tmp_path / "logo.png"
    cv2.imwrite(str(src), rgba)
    out = tmp_path / "logo_out.png"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    err = capsys.readouterr().err
    assert "logo.png has a transparency (alpha) channel; the output is opaque (it is not kept)" in err
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).shape == (48, 64, 3)
    opaque = tmp_path / "opaque.png"
    cv2.imwrite(str(opaque), rgba[..., :3])
    assert main(["run", str(opaque), "-o", str(tmp_path / "o2.png"), "--pipeline", str(identity_yaml)]) == 0
    assert "alpha" not in capsys.readouterr().err


def test_a_video_written_as_images_says_its_sound_is_not_kept(tmp_path, identity_yaml, capsys):
    # `-o result` (no suffix: a folder of images, maybe a typo for result.mp4) dropped the sound silently
    loud = media.write_video(tmp_path / "loud.mp4", frames=3, size=(64, 48), audio=True)
    quiet = media.write_video(tmp_path / "quiet.mp4", frames=3, size=(64, 48))
    assert main(["run", str(loud), "-o", str(tmp_path / "result"), "--pipeline", str(identity_yaml)]) == 0
    assert "is a folder of images (no video suffix): the sound and subtitles of the input are not kept" in capsys.readouterr().err
    assert len(list((tmp_path / "result").iterdir())) == 3
    assert main(["run", str(quiet), "-o", str(tmp_path / "frames"), "--pipeline", str(identity_yaml)]) == 0
    assert "not kept" not in capsys.readouterr().err


def _tiff(rgb: np.ndarray, orientation: int) -> bytes:
    """An uncompressed RGB TIFF (one strip) whose IFD0 carries the EXIF-style Orientation tag (274)."""
    h, w, _ = rgb.shape
    tags = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2), (273, 4, 1, None)]
    tags += [(274, 3, 1, orientation), (277, 3, 1, 3), (278, 3, 1, h), (279, 4, 1, h * w * 3), (284, 3, 1, 1)]
    ifd_at = 8
    extra_at = ifd_at + 2 + 12 * len(tags) + 4  # BitsPerSample's three values, then the pixels
    pixels_at = extra_at + 6
    entries = b""
    for tag, typ, count, value in tags:
        if tag == 258:
            field = struct.pack("<I", extra_at)
        elif tag == 273:
            field = struct.pack("<I", pixels_at)
        elif typ == 3:
            field = struct.pack("<HH", value, 0)
        else:
            field = struct.pack("<I", value)
        entries += struct.pack("<HHI", tag, typ, count) + field
    head = b"II*\x00" + struct.pack("<I", ifd_at) + struct.pack("<H", len(tags)) + entries + b"\x00" * 4
    return head + struct.pack("<HHH", 8, 8, 8) + np.ascontiguousarray(rgb).tobytes()


def test_a_tiff_stored_sideways_is_read_upright(tmp_path, identity_yaml, capsys):
    # OpenCV 5 cannot turn a TIFF whose orientation is 5-8: "Internal imread issue", exit 3 ("cannot
    # read image"), OpenCV's multi-line error on the terminal; phone and scanner TIFFs carry them
    stored = media.pattern(2, 40, 24)  # RGB, 40 wide, 24 high as stored
    upright = {  # EXIF's meaning of each value: what a viewer shows (independent of the code under test)
        5: stored.transpose(1, 0, 2),
        6: np.rot90(stored, -1),
        7: np.rot90(stored.transpose(1, 0, 2), 2),
        8: np.rot90(stored, 1),
    }
    for orientation, want in upright.items():
        src = tmp_path / f"o{orientation}.tif"
        src.write_bytes(_tiff(stored, orientation))
        out = tmp_path / f"o{orientation}.png"
        assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
        got = cv2.imread(str(out))[..., ::-1]
        assert got.shape == want.shape, (orientation, got.shape)
        assert np.abs(got.astype(int) - want).max() <= 1, orientation
    assert "imread" not in capsys.readouterr().err


def test_an_unreadable_or_truncated_photo_is_skipped_and_named_and_strict_stops(tmp_path, identity_yaml, capsys):
    # one damaged file among a card's photos stopped the whole folder with nothing written (and called
    # the empty folder "partial output kept"); a JPEG cut short came out with its missing rows grey,
    # said only by libjpeg's "Premature end of JPEG file", naming no file
    src = tmp_path / "card"
    src.mkdir()
    for i, name in enumerate(("a.jpg", "c.png", "e.jpg")):
        assert cv2.imwrite(str(src / name), media.pattern(i, 64, 48)[..., ::-1])
    (src / "b.jpg").write_text("not an image")
    whole = cv2.imencode(".jpg", media.pattern(3, 64, 48)[..., ::-1])[1].tobytes()
    (src / "d.jpg").write_bytes(whole[: len(whole) * 2 // 3])
    (src / "f.jpg").write_bytes(whole[:2] + b"\x00" + whole[3:])  # whole, but broken: not "truncated"
    out = tmp_path / "out"
    assert main(["run", str(src), "-o", f"{out}/", "--pipeline", str(identity_yaml)]) == 0
    err = capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "c.png", "e.jpg"]
    assert f"skipped: cannot read image {src / 'b.jpg'}" in err
    assert f"skipped: {src / 'd.jpg'} is truncated" in err
    assert f"skipped: {src / 'f.jpg'} is damaged (its JPEG structure is broken" in err
    assert "skipped 3 unreadable images" in err and "Premature end" not in err
    strict = tmp_path / "strict"
    assert main(["run", str(src), "-o", f"{strict}/", "--pipeline", str(identity_yaml), "--strict"]) == 3
    assert f"cannot read image {src / 'b.jpg'}" in capsys.readouterr().err


def test_a_damaged_or_truncated_png_is_named_with_why_and_libpng_says_nothing(tmp_path, identity_yaml, capfd):
    # libpng printed "libpng error: IDAT: CRC error" on the terminal (no file named), then "cannot read image";
    # a PNG cut short or sent through a text-mode copy said only "cannot read image"
    src = tmp_path / "card"
    src.mkdir()
    png = cv2.imencode(".png", media.pattern(1, 64, 48))[1].tobytes()
    (src / "a.png").write_bytes(png)
    idat = png.index(b"IDAT") + 8
    (src / "b.png").write_bytes(png[:idat] + bytes([png[idat] ^ 0xFF]) + png[idat + 1 :])  # one byte changed
    (src / "c.png").write_bytes(png[: len(png) // 2])
    (src / "d.png").write_bytes(png.replace(b"\r\n", b"\n"))  # an FTP transfer in text mode
    out = tmp_path / "out"
    assert main(["run", str(src), "-o", f"{out}/", "--pipeline", str(identity_yaml)]) == 0
    err = capfd.readouterr().err  # the file descriptor: libpng writes there, not through Python
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]
    assert f"skipped: {src / 'b.png'} is damaged (its PNG IDAT data fail their checksum)" in err, err
    assert f"skipped: {src / 'c.png'} is truncated (the PNG data stop before the end of the picture)" in err, err
    assert f"skipped: {src / 'd.png'} is damaged (its PNG signature was changed" in err, err
    assert "libpng" not in err, err


def test_transparency_in_any_photo_of_a_folder_is_said(tmp_path, identity_yaml, capsys):
    # only the folder's first image was looked at: a later PNG lost its alpha without a word
    src = tmp_path / "photos"
    src.mkdir()
    assert cv2.imwrite(str(src / "a.jpg"), media.pattern(0, 64, 48)[..., ::-1])
    rgba = np.dstack([media.pattern(1, 64, 48)[..., ::-1], np.full((48, 64), 128, np.uint8)])
    assert cv2.imwrite(str(src / "b.png"), rgba)
    assert main(["run", str(src), "-o", f"{tmp_path / 'out'}/", "--pipeline", str(identity_yaml)]) == 0
    assert "b.png has a transparency (alpha) channel; the output is opaque" in capsys.readouterr().err


def test_photos_of_other_sizes_are_fitted_into_a_video(tmp_path, identity_yaml, capsys, require_ffmpeg):
    # a larger image after the first crashed the run ("index can't contain negative values"); a
    # smaller one was padded with its edge pixels repeated, silently
    src = tmp_path / "photos"
    src.mkdir()
    assert cv2.imwrite(str(src / "1.png"), np.full((96, 160, 3), 100, np.uint8))
    assert cv2.imwrite(str(src / "2.png"), np.full((192, 192, 3), 200, np.uint8))  # taller and wider: bars left and right
    assert cv2.imwrite(str(src / "3.png"), np.full((48, 80, 3), 50, np.uint8))  # smaller, same shape: scaled up, no bars
    out = tmp_path / "slides.mp4"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml), "--crf", "0"]) == 0
    assert "2.png is 192x192, the video 160x96: it and any other image of another size are fitted" in capsys.readouterr().err
    frames = media.ffmpeg_rgb(out, "bt601", every_frame=True).astype(int)
    assert frames.shape == (3, 96, 160, 3)
    square = frames[1]
    assert abs(square[:, 40:120].mean() - 200) < 3 and square[:, :30].max() < 20 and square[:, 130:].max() < 20
    assert abs(frames[2].mean() - 50) < 3


def test_outputs_that_cannot_be_are_one_line(tmp_path, identity_yaml, capsys):
    # -o /dev/stdout (no suffix: a folder of images) gave "[Errno 17] File exists"; a photo written
    # as .gif was told only the video containers
    photo = tmp_path / "a.png"
    assert cv2.imwrite(str(photo), media.pattern(0, 64, 48)[..., ::-1])
    blocker = tmp_path / "notes"
    blocker.write_text("x")
    assert main(["run", str(photo), "-o", str(blocker), "--pipeline", str(identity_yaml)]) == 4
    err = capsys.readouterr().err.strip()
    assert err == f"streamdeblur: error: {blocker} is not a folder: an output without a suffix is a folder of images " + (
        "(give a video file name such as out.mp4, or a folder)"
    )
    assert blocker.read_text() == "x"
    assert main(["run", str(photo), "-o", str(tmp_path / "a.gif"), "--pipeline", str(identity_yaml)]) == 2
    assert "(or, for photos, .bmp, .heic, .heif, .jfif, .jpe, .jpeg, .jpg, .png, .tif, .tiff, .webp)" in capsys.readouterr().err


def _png_kinds(path) -> list[bytes]:
    data, i, kinds = path.read_bytes(), 8, []
    while i + 12 <= len(data):
        n = struct.unpack(">I", data[i : i + 4])[0]
        kinds.append(data[i + 4 : i + 8])
        i += 12 + n
    return kinds


def test_a_photos_metadata_crosses_between_jpeg_and_png(tmp_path, identity_yaml, require_ffmpeg):
    # JPEG → PNG dropped EXIF (camera, capture date), XMP and the colour profile; PNG → PNG dropped
    # eXIf; PNG → JPEG dropped everything. Judged at the end of JPEG → PNG → PNG → JPEG by ffprobe.
    img = np.zeros((64, 96, 3), np.uint8)
    img[:, :48] = (0, 0, 255)
    src = tmp_path / "IMG_0001.jpg"
    src.write_bytes(_phone_jpeg(img))
    steps = [src, tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.jpg"]
    for a, b in zip(steps, steps[1:]):
        assert main(["run", str(a), "-o", str(b), "--pipeline", str(identity_yaml)]) == 0
    for png in steps[1:3]:
        kinds = _png_kinds(png)
        assert {b"eXIf", b"iCCP", b"iTXt"} <= set(kinds) and kinds.index(b"eXIf") < kinds.index(b"IDAT"), kinds
        assert b'tiff:Orientation="1"' in png.read_bytes() and b'tiff:Orientation="6"' not in png.read_bytes()
    after = _ffprobe_photo(steps[-1])
    assert (after["width"], after["height"]) == (64, 96)
    assert after["tags"]["Orientation"].strip() == "1"
    assert {k: after["tags"][k] for k in ("Make", "DateTime")} == {"Make": "Canon", "DateTime": "2024:07:14 10:20:30"}
    assert {d["side_data_type"]: d["size"] for d in after["side_data_list"]}.get("ICC profile") == 128
    data = steps[-1].read_bytes()
    assert bytes(range(128)) in data and b'tiff:Orientation="1"' in data
    shown = cv2.imread(str(steps[-1]))
    assert shown.shape[:2] == (96, 64) and shown[:40, :, 2].mean() > 200 and shown[-40:, :, 2].mean() < 50


def test_what_an_image_format_cannot_hold_is_said(tmp_path, identity_yaml, capsys):
    # a 16-bit PNG written as JPEG lost half its bits, and a phone photo written as WebP its EXIF and
    # colour profile, both without a word
    deep = tmp_path / "deep.png"
    assert cv2.imwrite(str(deep), (media.pattern(0, 64, 48).astype(np.uint16) * 257)[..., ::-1])
    assert main(["run", str(deep), "-o", str(tmp_path / "deep.jpg"), "--pipeline", str(identity_yaml)]) == 0
    assert "the picture has 16 bits per channel; .jpg holds 8: written 8-bit (.png or .tif keep them)" in capsys.readouterr().err
    assert main(["run", str(deep), "-o", str(tmp_path / "deep_out.png"), "--pipeline", str(identity_yaml)]) == 0
    assert "16 bits" not in capsys.readouterr().err
    phone = tmp_path / "IMG_0001.jpg"
    phone.write_bytes(_phone_jpeg(media.pattern(1, 64, 48)[..., ::-1]))
    assert main(["run", str(phone), "-o", str(tmp_path / "shot.webp"), "--pipeline", str(identity_yaml)]) == 0
    assert ".webp is written without the photo's EXIF, XMP and colour profile" in capsys.readouterr().err
    assert main(["run", str(phone), "-o", str(tmp_path / "shot.png"), "--pipeline", str(identity_yaml)]) == 0
    assert "without the photo's" not in capsys.readouterr().err


def test_transparency_is_read_from_the_header_as_the_decoder_sees_it():
    # the alpha check reads headers (PNG colour type, TIFF samples, WebP flags) instead of decoding
    # every TIFF and WebP of a folder a second time: it must agree with OpenCV's own decode
    from streamdeblur.io.sources.images import _has_alpha

    rgb = media.pattern(0, 32, 24)[..., ::-1]
    for ext, params in ((".png", []), (".tif", []), (".webp", []), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101])):
        for img in (rgb, np.dstack([rgb, np.full((24, 32), 128, np.uint8)]), rgb[..., 0]):
            data = cv2.imencode(ext, img, params)[1].tobytes()
            decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            assert _has_alpha(data) == (decoded.ndim == 3 and decoded.shape[2] == 4), (ext, params, img.shape)


@register_stage("test_tint")
class _Tint(Stage):
    """Test stage: moves R up and B down by 3 levels (a model treats the channels apart)."""

    def __call__(self, batch):
        shift = torch.tensor([3.0, 0.0, -3.0], dtype=batch.images.dtype, device=batch.images.device).view(1, 3, 1, 1) / 255
        batch.images = (batch.images + shift).clamp(0, 1)
        return batch


def test_a_greyscale_photo_comes_out_greyscale(tmp_path):
    """A grey photo was written back as a colour file, its channels apart by the model's 4-6 levels:
    now one grey channel (the mean of the three), 8 and 16 bits, PNG and JPEG; a colour photo stays colour."""
    tint = tmp_path / "tint.yaml"
    tint.write_text("stages: [test_tint]\noutput: {preset: veryfast}\n")
    grey = (media.pattern(3, 96, 64).mean(axis=2)).astype(np.uint8)
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "g8.png"), grey)
    cv2.imwrite(str(src / "g16.png"), grey.astype(np.uint16) * 257)
    cv2.imwrite(str(src / "gj.jpg"), grey, [cv2.IMWRITE_JPEG_QUALITY, 98])
    cv2.imwrite(str(src / "c.png"), media.pattern(3, 96, 64)[..., ::-1])
    out = tmp_path / "out"
    assert main(["run", str(src), "-o", f"{out}/", "--pipeline", str(tint)]) == 0
    for name, dtype in (("g8.png", np.uint8), ("g16.png", np.uint16), ("gj.jpg", np.uint8)):
        back = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert back.ndim == 2 and back.dtype == dtype, (name, back.shape, back.dtype)
        diff = np.abs(back.astype(int) - cv2.imread(str(src / name), cv2.IMREAD_UNCHANGED).astype(int))
        if name.endswith(".png"):  # the tint cancels in the mean: the grey comes back (to rounding)
            assert diff.max() <= (257 if dtype == np.uint16 else 1), name
        else:  # JPEG written again at q95: its own loss only
            assert diff.mean() < 1.0, name
    assert cv2.imread(str(out / "c.png"), cv2.IMREAD_UNCHANGED).ndim == 3


def test_a_jpeg_keeps_its_chroma_sampling(tmp_path, identity_yaml):
    """A 4:4:4 JPEG (cameras' fine mode, FFmpeg's default) was written back 4:2:0: half its colour
    resolution gone. Each keeps its own: FFmpeg's 4:4:4 (1x2 factors on every component), OpenCV's
    4:2:2 and 4:2:0, judged by ffprobe."""
    from streamdeblur.io.photo_meta import jpeg_sampling

    src = tmp_path / "in"
    src.mkdir()
    img = media.pattern(5, 96, 64)[..., ::-1]
    for name, n in (("s422.jpg", "422"), ("s420.jpg", "420")):
        cv2.imwrite(str(src / name), img, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, getattr(cv2, f"IMWRITE_JPEG_SAMPLING_FACTOR_{n}")])
    cv2.imwrite(str(tmp_path / "p.png"), img)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "p.png"), str(src / "ff444.jpg")], check=True)
    assert jpeg_sampling((src / "ff444.jpg").read_bytes()) == cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444
    out = tmp_path / "out"
    assert main(["run", str(src), "-o", f"{out}/", "--pipeline", str(identity_yaml)]) == 0
    for name, want in (("ff444.jpg", "yuvj444p"), ("s422.jpg", "yuvj422p"), ("s420.jpg", "yuvj420p")):
        got = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=pix_fmt", "-of", "csv=p=0", str(out / name)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert got == want, (name, got)


def _tiff_with_icc(tiff: bytes, icc: bytes) -> bytes:
    """OpenCV's TIFF with an InterColorProfile tag (34675) added: a new first directory at the end."""
    order = "<" if tiff[:2] == b"II" else ">"
    off = struct.unpack(order + "I", tiff[4:8])[0]
    (n,) = struct.unpack(order + "H", tiff[off : off + 2])
    entries = [tiff[off + 2 + 12 * k : off + 14 + 12 * k] for k in range(n)]
    data_at = len(tiff) + (len(tiff) & 1)
    ifd_at = data_at + len(icc) + (len(icc) & 1)
    entries.append(struct.pack(order + "HHII", 34675, 7, len(icc), data_at))
    entries.sort(key=lambda e: struct.unpack(order + "H", e[:2])[0])
    body = tiff[:4] + struct.pack(order + "I", ifd_at) + tiff[8:] + b"\x00" * (data_at - len(tiff))
    body += icc + b"\x00" * (ifd_at - data_at - len(icc))
    return body + struct.pack(order + "H", len(entries)) + b"".join(entries) + struct.pack(order + "I", 0)


def _webp_with_icc(webp: bytes, icc: bytes, w: int, h: int) -> bytes:
    """OpenCV's simple WebP as an extended one (VP8X) carrying an ICCP chunk, as a P3 WebP export does."""
    vp8x = (
        b"VP8X" + struct.pack("<I", 10) + bytes([0x20, 0, 0, 0]) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    )
    iccp = b"ICCP" + struct.pack("<I", len(icc)) + icc + b"\x00" * (len(icc) & 1)
    payload = b"WEBP" + vp8x + iccp + webp[12:]
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def test_a_tiff_or_webp_colour_profile_reaches_a_jpeg_or_png(tmp_path, identity_yaml, capsys):
    # A Display P3 / Adobe RGB TIFF (Lightroom's export) or WebP lost its profile in every output, its
    # pixels not converted either: a colour-managed viewer showed them as sRGB (P3 red off by ΔE 32).
    icc = bytearray(600)  # a header readers accept: its size and the 'acsp' signature
    icc[0:4], icc[36:40] = struct.pack(">I", 600), b"acsp"
    icc[128:] = bytes(range(256)) + bytes(range(216))
    rgb = media.pattern(2, 64, 48)[..., ::-1]
    tif = tmp_path / "export.tif"
    tif.write_bytes(_tiff_with_icc(cv2.imencode(".tif", rgb)[1].tobytes(), bytes(icc)))
    webp = tmp_path / "shot.webp"
    webp.write_bytes(_webp_with_icc(cv2.imencode(".webp", rgb, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes(), bytes(icc), 64, 48))
    for src in (tif, webp):
        assert np.array_equal(cv2.imread(str(src)), rgb), src  # the pictures read as they were made
        for suffix in (".png", ".jpg"):
            out = tmp_path / f"{src.stem}{suffix}"
            assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
            frame = _ffprobe_photo(out)
            assert [(d["side_data_type"], d["size"]) for d in frame["side_data_list"]] == [("ICC profile", 600)], out
    same = tmp_path / "again.tif"  # OpenCV's TIFF writer holds no profile: said
    assert main(["run", str(tif), "-o", str(same), "--pipeline", str(identity_yaml)]) == 0
    assert ".tif is written without the photo's EXIF, XMP and colour profile" in capsys.readouterr().err
    # a folder of them: said as well, once per format (it was said of one photo, never of a folder's)
    folder = tmp_path / "exports"
    folder.mkdir()
    for name in ("a.tif", "b.tif"):
        (folder / name).write_bytes(tif.read_bytes())
    assert main(["run", str(folder), "-o", str(tmp_path / "done") + "/", "--pipeline", str(identity_yaml)]) == 0
    err = capsys.readouterr().err
    assert err.count(".tif photos are written without their EXIF, XMP and colour profile, a.tif the first") == 1, err


def test_a_card_folder_skips_hidden_twins_and_says_what_its_subfolders_hold(tmp_path, identity_yaml, capsys):
    # macOS leaves a `._NAME` twin (its resource fork) beside every photo on a card: each was an
    # "unreadable image" and --strict stopped at the first. Subfolders were skipped without a word, and
    # a DCIM folder (photos only in 100APPLE/, 101APPLE/) said "no images found".
    card = tmp_path / "card"
    card.mkdir()
    photo = cv2.imencode(".jpg", media.pattern(3, 64, 48)[..., ::-1])[1].tobytes()
    (card / "IMG_0001.JPG").write_bytes(photo)
    (card / "._IMG_0001.JPG").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    (card / "100APPLE").mkdir()
    (card / "100APPLE" / "IMG_0002.JPG").write_bytes(photo)
    out = tmp_path / "out"
    assert main(["run", str(card), "-o", str(out), "--pipeline", str(identity_yaml), "--strict"]) == 0
    err = capsys.readouterr().err
    assert "subfolders are not read: its subfolders hold 1 images (100APPLE)" in err and "._IMG" not in err, err
    assert sorted(p.name for p in out.iterdir()) == ["IMG_0001.JPG"]
    dcim = tmp_path / "DCIM"
    (dcim / "101APPLE").mkdir(parents=True)
    (dcim / "101APPLE" / "IMG_0101.JPG").write_bytes(photo)
    assert main(["run", str(dcim), "-o", str(tmp_path / "d"), "--pipeline", str(identity_yaml)]) == 3
    assert "no images in " in (err := capsys.readouterr().err) and "its subfolders hold 1 images (101APPLE)" in err, err


def test_a_cmyk_profile_does_not_tag_the_rgb_picture(tmp_path, identity_yaml, capsys):
    # A print shop's CMYK JPEG is read as RGB pixels; its CMYK profile was copied onto the RGB JPEG written,
    # an invalid file (Photoshop and lcms-based tools refuse or ignore the profile). Left out, said.
    icc = bytearray(200)
    icc[0:4], icc[16:20], icc[36:40] = struct.pack(">I", 200), b"CMYK", b"acsp"
    jpeg = cv2.imencode(".jpg", media.pattern(4, 64, 48)[..., ::-1])[1].tobytes()
    seg = b"ICC_PROFILE\x00\x01\x01" + bytes(icc)
    src = tmp_path / "print.jpg"
    src.write_bytes(jpeg[:2] + b"\xff\xe2" + struct.pack(">H", len(seg) + 2) + seg + jpeg[2:])
    out = tmp_path / "out.jpg"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert "print.jpg's CMYK colour profile is left out: the picture is written RGB" in capsys.readouterr().err
    assert b"ICC_PROFILE" not in out.read_bytes()


def _cmyk_profile() -> bytes:
    """A tiny ICC v2 CMYK printer profile (lut8 ``A2B0`` to Lab on a 2-point grid) whose cyan ink prints red,
    magenta green and yellow blue: a picture read through it and one read as ideal inks differ in hue."""
    import itertools

    grid = []
    for c, m, y, k in itertools.product((0, 1), repeat=4):  # the first channel varies slowest
        rgb = (0.0, 0.0, 0.0) if k else ((1.0, 1.0, 1.0) if not (c or m or y) else (float(c), float(m), float(y)))
        lab = cv2.cvtColor(np.array([[rgb]], np.float32), cv2.COLOR_RGB2Lab)[0, 0]
        grid += [round(lab[0] * 255 / 100), round(lab[1]) + 128, round(lab[2]) + 128]
    ramp, xyz = bytes(range(256)), (0.9642, 1.0, 0.8249)
    unit = b"".join(struct.pack(">i", v) for v in (65536, 0, 0, 0, 65536, 0, 0, 0, 65536))
    lut = b"mft1" + bytes(4) + bytes([4, 3, 2, 0]) + unit + ramp * 4 + bytes(min(max(v, 0), 255) for v in grid) + ramp * 3
    white = b"".join(struct.pack(">i", round(v * 65536)) for v in xyz)
    tags = [(b"wtpt", b"XYZ " + bytes(4) + white), (b"A2B0", lut + bytes(-len(lut) % 4))]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, data in tags:
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = bytearray(128)
    header[0:4], header[8:12] = struct.pack(">I", offset + len(body)), bytes([2, 0x10, 0, 0])
    header[12:24], header[36:40], header[68:80] = b"prtrCMYKLab ", b"acsp", white
    return bytes(header) + struct.pack(">I", len(tags)) + table + body


def test_a_cmyk_photo_is_converted_through_its_own_profile(tmp_path, identity_yaml, capsys):
    # OpenCV reads CMYK as ideal inks and ignores the profile that says what they look like: a print shop's
    # JPEG came out in other colours than every colour-managed viewer shows (its blue (52, 82, 163) as
    # (20, 52, 255)). Converted to sRGB through the profile (LittleCMS), turned upright by its EXIF.
    from PIL import Image

    inks = np.zeros((48, 64, 4), np.uint8)
    inks[:, 16:32, 0] = 255  # cyan ink, which this profile prints red
    inks[:, 32:48, 3] = 255  # black
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown turned 90° clockwise
    Image.fromarray(inks, "CMYK").save(tmp_path / "print.jpg", icc_profile=_cmyk_profile(), quality=95, exif=exif)
    Image.fromarray(inks, "CMYK").save(tmp_path / "print.tif", icc_profile=_cmyk_profile())
    for name, upright in (("print.jpg", True), ("print.tif", False)):
        out = tmp_path / f"{name}.png"
        assert main(["run", str(tmp_path / name), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
        err = capsys.readouterr().err
        assert f"{name}'s CMYK colour profile is left out: the picture is written RGB (its colours converted" in err, err
        got = cv2.imread(str(out))[..., ::-1]
        if upright:
            assert got.shape == (64, 48, 3)
            got = np.rot90(got)  # back as stored
        assert got.shape == (48, 64, 3)
        paper, cyan, black = got[24, 8].astype(int), got[24, 24].astype(int), got[24, 40].astype(int)
        assert paper.min() > 240 and black.max() < 15, (paper, black)
        assert cyan[0] > 200 and cyan[1] < 40 and cyan[2] < 40, cyan  # red, as the profile prints it (ideal inks: cyan)


def test_a_png_written_as_jpeg_keeps_a_colour_per_pixel(tmp_path, identity_yaml):
    # A PNG (TIFF, BMP, lossless WebP) has a colour for every pixel; OpenCV's JPEG writer halved it (4:2:0):
    # a saturated chart came back at 26.4 dB against 52.2 at 4:4:4 (audit 14).
    src = tmp_path / "chart.png"
    cv2.imwrite(str(src), media.pattern(5, 64, 48)[..., ::-1])
    out = tmp_path / "chart.jpg"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert media.probe(out)["streams"][0]["pix_fmt"] == "yuvj444p"


def test_a_lossy_webp_stays_lossy(tmp_path, identity_yaml):
    # OpenCV writes WebP lossless by default: a lossy WebP photo came back 5.5 times its size (audit 14).
    src = tmp_path / "shot.webp"
    cv2.imwrite(str(src), media.pattern(6, 160, 120)[..., ::-1], [cv2.IMWRITE_WEBP_QUALITY, 80])
    out = tmp_path / "out.webp"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert out.read_bytes()[12:16] == b"VP8 "  # lossy (a lossless one is VP8L)
    lossless = tmp_path / "lossless.webp"
    cv2.imwrite(str(lossless), media.pattern(6, 160, 120)[..., ::-1], [cv2.IMWRITE_WEBP_QUALITY, 101])
    out2 = tmp_path / "out2.webp"
    assert main(["run", str(lossless), "-o", str(out2), "--pipeline", str(identity_yaml)]) == 0
    assert out2.read_bytes()[12:16] == b"VP8L"


def test_a_photos_pixel_density_is_kept(tmp_path, identity_yaml, capsys):
    # A 300-dpi scan or print layout: the JPEG's JFIF density and the PNG's pHYs were replaced by OpenCV's
    # 1:1 / none (audit 14). Kept; and a density alone is no metadata a TIFF output is said to lose.
    jpeg = bytearray(cv2.imencode(".jpg", media.pattern(7, 64, 48)[..., ::-1])[1].tobytes())
    assert jpeg[6:11] == b"JFIF\x00"
    jpeg[13:18] = b"\x01\x01\x2c\x01\x2c"  # units: dots per inch; 300 × 300
    src = tmp_path / "scan.jpg"
    src.write_bytes(bytes(jpeg))
    out = tmp_path / "out.jpg"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert out.read_bytes()[6:20] == bytes(jpeg[6:18]) + b"\x00\x00"  # its density; no thumbnail
    assert main(["run", str(src), "-o", str(tmp_path / "out.tif"), "--pipeline", str(identity_yaml)]) == 0
    assert "written without" not in capsys.readouterr().err


def _tiff_with_camera_tags(tiff: bytes) -> bytes:
    """OpenCV's TIFF with Make, Model and an EXIF directory (DateTimeOriginal) in its first directory,
    as a camera's or Lightroom's TIFF carries them; a new first directory at the end."""
    order = "<" if tiff[:2] == b"II" else ">"
    off = struct.unpack(order + "I", tiff[4:8])[0]
    (n,) = struct.unpack(order + "H", tiff[off : off + 2])
    entries = [tiff[off + 2 + 12 * k : off + 14 + 12 * k] for k in range(n)]
    body = bytearray(tiff + b"\x00" * (len(tiff) & 1))

    def put(raw: bytes) -> int:
        at = len(body)
        body.extend(raw + b"\x00" * (len(raw) & 1))
        return at

    make, model, when = b"NIKON CORPORATION\x00", b"NIKON Z 6\x00", b"2024:07:14 10:20:30\x00"
    sub = put(struct.pack(order + "H", 1) + struct.pack(order + "HHII", 36867, 2, len(when), 0) + b"\x00" * 4)
    struct.pack_into(order + "I", body, sub + 2 + 8, put(when))
    entries += [
        struct.pack(order + "HHII", 271, 2, len(make), put(make)),
        struct.pack(order + "HHII", 272, 2, len(model), put(model)),
        struct.pack(order + "HHII", 34665, 4, 1, sub),
    ]
    entries.sort(key=lambda e: struct.unpack(order + "H", e[:2])[0])
    ifd = put(struct.pack(order + "H", len(entries)) + b"".join(entries) + b"\x00" * 4)
    struct.pack_into(order + "I", body, 4, ifd)
    return bytes(body)


def test_a_tiffs_camera_tags_reach_a_jpeg(tmp_path, identity_yaml):
    # A TIFF's camera, lens and date are its own directory's tags, not an EXIF block: they were dropped
    # even into JPEG and PNG (audit 14). They go as an EXIF block with its EXIF directory.
    src = tmp_path / "shot.tif"
    src.write_bytes(_tiff_with_camera_tags(cv2.imencode(".tif", media.pattern(8, 64, 48)[..., ::-1])[1].tobytes()))
    assert np.array_equal(cv2.imread(str(src)), media.pattern(8, 64, 48)[..., ::-1])
    out = tmp_path / "shot.jpg"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    tags = _ffprobe_photo(out)["tags"]
    assert (tags["Make"], tags["Model"], tags["DateTimeOriginal"]) == ("NIKON CORPORATION", "NIKON Z 6", "2024:07:14 10:20:30"), (
        tags
    )


def test_a_lossless_webp_with_a_colour_profile_stays_lossless(tmp_path, identity_yaml):
    # An extended WebP (a profile or EXIF ahead of the picture) was told lossless from lossy by looking
    # 40 bytes in: a lossless one with a profile was rewritten lossy, and went into JPEG at 4:2:0.
    icc = bytearray(600)
    icc[0:4], icc[36:40] = struct.pack(">I", 600), b"acsp"
    rgb = media.pattern(9, 64, 48)[..., ::-1]
    src = tmp_path / "shot.webp"
    src.write_bytes(_webp_with_icc(cv2.imencode(".webp", rgb, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes(), bytes(icc), 64, 48))
    out = tmp_path / "out.webp"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert out.read_bytes()[12:16] == b"VP8L"
    jpg = tmp_path / "out.jpg"
    assert main(["run", str(src), "-o", str(jpg), "--pipeline", str(identity_yaml)]) == 0
    assert media.probe(jpg)["streams"][0]["pix_fmt"] == "yuvj444p"


def test_photos_are_read_with_opencv_4s_log_level_calls(tmp_path, identity_yaml, monkeypatch):
    """OpenCV 4's wheels (4.10–4.12, inside the declared range) have no ``cv2.utils.logging``: every
    photo failed with "module 'cv2.utils' has no attribute 'logging'". Their ``cv2.setLogLevel`` /
    ``getLogLevel`` are used then: silent while reading, the level put back after."""
    levels = [3]
    monkeypatch.delattr(cv2.utils, "logging")
    monkeypatch.setattr(cv2, "getLogLevel", lambda: levels[-1], raising=False)
    monkeypatch.setattr(cv2, "setLogLevel", levels.append, raising=False)
    src = tmp_path / "photo.png"
    cv2.imwrite(str(src), np.full((24, 32, 3), 90, np.uint8))
    out = tmp_path / "out.png"
    assert main(["-q", "run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert cv2.imread(str(out)).shape == (24, 32, 3)
    assert 0 in levels and levels[-1] == 3


def test_a_multi_page_tiff_or_an_animated_webp_says_only_its_first_picture_is_read(tmp_path, identity_yaml, capsys):
    # a scanner's multi-page TIFF, an animated WebP: the pages after the first were dropped without a word
    from PIL import Image

    pages = [Image.fromarray(media.pattern(i * 5, 64, 48)) for i in range(3)]
    pages[0].save(tmp_path / "scan.tif", save_all=True, append_images=pages[1:])
    pages[0].save(tmp_path / "anim.webp", save_all=True, append_images=pages[1:], duration=100, loop=0, lossless=True)
    pages[0].save(tmp_path / "one.tif")
    for name, what in (("scan.tif", "pages"), ("anim.webp", "frames")):
        out = tmp_path / f"out_{name}"
        assert main(["run", str(tmp_path / name), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
        said = f"{name} holds more {what} than its first; only the first is read (the others are left out)"
        assert said in capsys.readouterr().err
        assert Image.open(out).size == (64, 48)
    assert main(["run", str(tmp_path / "one.tif"), "-o", str(tmp_path / "out_one.tif"), "--pipeline", str(identity_yaml)]) == 0
    assert "holds more" not in capsys.readouterr().err


def _bmp_v5_rgba(rgba: np.ndarray) -> bytes:
    """A 32-bit BMP with a V5 header and an alpha mask (as GIMP, ImageMagick and Windows write transparent bitmaps)."""
    h, w = rgba.shape[:2]
    pixels = rgba[::-1][..., [2, 1, 0, 3]].tobytes()  # bottom-up rows, BGRA
    dib = struct.pack("<IiiHHIIiiII", 124, w, h, 1, 32, 3, len(pixels), 2835, 2835, 0, 0)
    dib += struct.pack("<IIII", 0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000) + struct.pack("<I", 0x73524742)
    dib += bytes(124 - len(dib))
    return b"BM" + struct.pack("<IHHI", 14 + len(dib) + len(pixels), 0, 0, 14 + len(dib)) + dib + pixels


def test_a_bitmap_with_transparency_says_it_is_dropped_as_other_formats_do(tmp_path, identity_yaml, capsys):
    # PNG, TIFF and WebP said "has a transparency (alpha) channel; the output is opaque"; a 32-bit BMP with
    # an alpha mask lost its transparency without a word
    rgba = np.dstack([media.pattern(3, 64, 48), np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))])
    bmp = tmp_path / "logo.bmp"
    bmp.write_bytes(_bmp_v5_rgba(rgba))
    assert np.array_equal(cv2.imread(str(bmp), cv2.IMREAD_UNCHANGED)[..., 3], rgba[..., 3])  # the file is what it claims
    assert main(["run", str(bmp), "-o", str(tmp_path / "out.bmp"), "--pipeline", str(identity_yaml)]) == 0
    assert "logo.bmp has a transparency (alpha) channel; the output is opaque" in capsys.readouterr().err
    cv2.imwrite(str(tmp_path / "plain.bmp"), rgba[..., :3])
    assert main(["run", str(tmp_path / "plain.bmp"), "-o", str(tmp_path / "o2.bmp"), "--pipeline", str(identity_yaml)]) == 0
    assert "alpha" not in capsys.readouterr().err


def test_a_photo_whose_name_says_another_format_keeps_its_metadata(tmp_path, identity_yaml):
    # a JPEG named .png (a download, a rename): its pixels came out right but its EXIF and profile were
    # dropped without a word: its metadata were taken for PNG chunks by its name, and none were found
    jpeg = cv2.imencode(".jpg", media.pattern(4, 64, 48)[..., ::-1])[1].tobytes()
    liar = tmp_path / "shot.png"
    liar.write_bytes(_with_exif_orientation(jpeg, 1))
    for suffix in (".jpg", ".png"):
        out = tmp_path / f"out{suffix}"
        assert main(["run", str(liar), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
        data = out.read_bytes()
        assert (b"Exif\x00\x00MM" in data) if suffix == ".jpg" else (b"eXIf" in data), suffix


def test_exif_too_large_for_a_jpeg_is_said_to_be_left_out(tmp_path, identity_yaml, capsys):
    # a PNG (or TIFF, WebP, HEIC) whose EXIF holds an 80 KB maker note, written as a JPEG: the EXIF, more
    # than a JPEG segment's 64 KiB, was dropped without a word (the make and date with it)
    import zlib

    body = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 0) + struct.pack(">I", 0) + bytes(80_000)
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    png = cv2.imencode(".png", media.pattern(5, 64, 48)[..., ::-1])[1].tobytes()
    big = tmp_path / "maker.png"
    big.write_bytes(png[:-12] + chunk + png[-12:])  # before IEND
    assert main(["run", str(big), "-o", str(tmp_path / "out.jpg"), "--pipeline", str(identity_yaml)]) == 0
    assert "maker.png's EXIF is larger than a JPEG can hold (64 KiB): left out (.png keeps it)" in capsys.readouterr().err
    assert main(["run", str(big), "-o", str(tmp_path / "out.png"), "--pipeline", str(identity_yaml)]) == 0
    assert "larger than a JPEG" not in capsys.readouterr().err and b"eXIf" in (tmp_path / "out.png").read_bytes()


def test_a_jpegs_keywords_caption_and_comment_stay_with_it(tmp_path, identity_yaml):
    # IPTC (Photoshop's APP13: keywords, caption, credit: what photo libraries and agencies read) and the
    # JPEG comment were dropped from JPEG to JPEG without a word; EXIF, XMP and the profile were kept
    iptc = b"\x1c\x02\x19" + struct.pack(">H", 7) + b"holiday" + b"\x1c\x02\x78" + struct.pack(">H", 12) + b"iptc caption"
    irb = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc + b"\x00" * (len(iptc) % 2)
    app13 = b"Photoshop 3.0\x00" + irb
    segments = b"\xff\xed" + struct.pack(">H", len(app13) + 2) + app13
    segments += b"\xff\xfe" + struct.pack(">H", len(b"my comment") + 2) + b"my comment"
    jpeg = cv2.imencode(".jpg", media.pattern(6, 64, 48)[..., ::-1])[1].tobytes()
    src = tmp_path / "agency.jpg"
    src.write_bytes(jpeg[:2] + segments + jpeg[2:])
    out = tmp_path / "out.jpg"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    data = out.read_bytes()
    assert app13 in data and b"\xff\xfe\x00\x0cmy comment" in data
    assert cv2.imread(str(out)).shape == (48, 64, 3)  # a JPEG that still reads


def test_pictures_a_folder_leaves_out_for_their_names_are_named(tmp_path, identity_yaml, capsys):
    # a picture saved from Twitter (``.jpg_large``): left out of a folder's run without a word; sidecar and
    # text files are not pictures and are not named
    folder = tmp_path / "downloads"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), media.pattern(1, 64, 48))
    (folder / "b.jpg_large").write_bytes(cv2.imencode(".jpg", media.pattern(2, 64, 48))[1].tobytes())
    (folder / "notes.txt").write_text("not a picture")
    (folder / "a.xmp").write_text("<x:xmpmeta/>")
    assert main(["run", str(folder), "-o", str(tmp_path / "out") + "/", "--pipeline", str(identity_yaml)]) == 0
    err = capsys.readouterr().err
    assert "left out, pictures by their content but not by their names: b.jpg_large (JPEG) (read as photos:" in err, err
    assert "notes.txt" not in err and "a.xmp" not in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]


def test_jpegs_named_jfif_and_jpe_are_photos_written_back_as_such(tmp_path, identity_yaml, capsys):
    # Windows and Chrome save a picture from the web as .jfif: a folder of them was left out, and one named
    # alone was taken for a video (a one-frame b_deblurred.mp4); OpenCV writes no .jfif by that name
    folder = tmp_path / "downloads"
    folder.mkdir()
    for i, name in enumerate(("a.jfif", "b.jpe", "c.JFIF")):
        (folder / name).write_bytes(cv2.imencode(".jpg", media.pattern(i, 64, 48))[1].tobytes())
    assert main(["run", str(folder), "-o", str(tmp_path / "out") + "/", "--pipeline", str(identity_yaml)]) == 0
    assert "left out" not in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jfif", "b.jpe", "c.JFIF"]
    for name in ("a.jfif", "b.jpe", "c.JFIF"):
        data = (tmp_path / "out" / name).read_bytes()
        assert data[:2] == b"\xff\xd8", name  # a JPEG, whatever its name
        got = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert np.abs(got.astype(int) - cv2.imread(str(folder / name))).mean() < 2, name
    one = folder / "a.jfif"
    assert main(["run", str(one), "--pipeline", str(identity_yaml)]) == 0  # the default output: the same kind
    assert (folder / "a_deblurred.jfif").read_bytes()[:2] == b"\xff\xd8"
    assert not list(folder.glob("*.mp4"))


def test_pictures_it_cannot_read_say_why(tmp_path, identity_yaml, capsys):
    # a grey float32 TIFF (a scientific camera's, a depth map) and an empty .jpg said only "cannot read image"
    from PIL import Image

    Image.fromarray((media.pattern(1, 64, 48)[..., 0] / 255.0).astype(np.float32)).save(tmp_path / "depth.tif")
    (tmp_path / "empty.jpg").write_bytes(b"")
    for name, why in (
        ("depth.tif", "depth.tif: float32 pixels are not supported (8- or 16-bit images)"),
        ("empty.jpg", "empty.jpg: the file is empty (0 bytes)"),
    ):
        assert main(["run", str(tmp_path / name), "-o", str(tmp_path / f"o_{name}"), "--pipeline", str(identity_yaml)]) == 3
        assert capsys.readouterr().err.strip().endswith(why)


def test_the_print_size_goes_from_png_to_jpeg_and_back(tmp_path, identity_yaml):
    # a 300-dpi scan or print file: PNG's pHYs became a JPEG at 1:1 with no unit (72 dpi to a layout
    # program), and a JPEG's JFIF density was lost in a PNG; each now goes to the other's place
    import zlib

    jpeg = bytearray(cv2.imencode(".jpg", media.pattern(7, 64, 48)[..., ::-1])[1].tobytes())
    assert jpeg[6:11] == b"JFIF\x00"
    jpeg[13:18] = bytes([1]) + struct.pack(">HH", 300, 300)  # units: dots per inch
    (tmp_path / "scan.jpg").write_bytes(bytes(jpeg))
    png = cv2.imencode(".png", media.pattern(7, 64, 48)[..., ::-1])[1].tobytes()
    phys = struct.pack(">IIB", 11811, 11811, 1)  # 300 dpi in pixels per metre
    chunk = struct.pack(">I", 9) + b"pHYs" + phys + struct.pack(">I", zlib.crc32(b"pHYs" + phys))
    (tmp_path / "scan.png").write_bytes(png[:33] + chunk + png[33:])  # after IHDR
    assert main(["run", str(tmp_path / "scan.png"), "-o", str(tmp_path / "out.jpg"), "--pipeline", str(identity_yaml)]) == 0
    out = (tmp_path / "out.jpg").read_bytes()
    assert out[2:4] == b"\xff\xe0" and out[6:11] == b"JFIF\x00" and out[13:18] == bytes([1]) + struct.pack(">HH", 300, 300)
    assert main(["run", str(tmp_path / "scan.jpg"), "-o", str(tmp_path / "out.png"), "--pipeline", str(identity_yaml)]) == 0
    assert b"pHYs" + phys in (tmp_path / "out.png").read_bytes()


def test_video_encoder_options_for_a_picture_are_said_to_be_ignored(tmp_path, identity_yaml, capsys):
    # `run p.png -o j.png --crf 30 --codec libx265 --chroma 444 --preset veryslow` exit 0 without a word
    src = tmp_path / "p.png"
    cv2.imwrite(str(src), media.pattern(1, 64, 48))
    argv = ["run", str(src), "-o", str(tmp_path / "j.png"), "--pipeline", str(identity_yaml)]
    assert main([*argv, "--crf", "30", "--codec", "libx265", "--preset", "veryslow"]) == 0
    assert "codec, crf, preset apply to video outputs: ignored for pictures" in capsys.readouterr().err
    (tmp_path / "j.png").unlink()
    assert main(argv) == 0
    assert "apply to video outputs" not in capsys.readouterr().err
