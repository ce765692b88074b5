"""A folder of photos is not a video (issue 18): each image at its own size, names and formats
kept, EXIF orientation applied."""

from __future__ import annotations

import struct

import cv2
import media
import numpy as np

from streamdeblur.cli import main


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
