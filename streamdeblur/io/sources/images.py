"""Image folders, globs and single images, in name order.

A folder of photos is not a video: each image keeps its own size (the pipeline starts a new batch
when the size changes), its EXIF orientation is applied as a photo viewer would (a portrait shot
stored sideways comes out upright), and its file name travels with the frame so an image-folder
output keeps the names and formats (``IMG_0012.jpg`` → ``out/IMG_0012.jpg``).
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..color import ColorInfo
from ..frames import Frame, SourceInfo
from ..heif import decode_heif, is_heif
from ..icc import cmyk_to_srgb
from ..paths import is_glob
from ..photo_meta import (
    bmp_has_alpha,
    is_cmyk,
    jpeg_state,
    more_pictures,
    png_has_alpha,
    png_state,
    tiff_has_alpha,
    tiff_orientation,
    tiff_sample_kind,
    webp_has_alpha,
)
from .base import IMAGE_EXTS, VIDEO_EXTS, DecodeStats, SourceError, quiet_opencv


def _photo_name(f: Path) -> bool:
    """An image by its name: a known suffix, not hidden (``.name``; macOS's ``._IMG_0001.JPG`` twins on
    a card, which are its resource forks, not photos: each was an "unreadable image" and --strict stopped at it)."""
    return f.suffix.lower() in IMAGE_EXTS and not f.name.startswith(".")


#: what a file's first bytes say it is, for pictures with names this reader does not take
_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG", "PNG"), (b"GIF8", "GIF"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


def _picture_kind(f: Path) -> str | None:
    """``JPEG``, ``PNG``, ``GIF``, ``TIFF``, ``WebP`` or ``AVIF`` by the first bytes of ``f``; None for anything else."""
    try:
        with open(f, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "AVIF"
    return None


def _nested_images(folder: Path, limit: int = 1000) -> list[Path]:
    """Images in the subfolders of ``folder`` (not hidden ones), at most ``limit`` looked at."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if Path(root) == folder:
            continue
        found += [Path(root) / n for n in sorted(names) if _photo_name(Path(n))]
        if len(found) >= limit:
            break
    return found


def _where(folder: Path, nested: list[Path]) -> str:
    """``its subfolders hold 12 images (100APPLE, 101APPLE)``."""
    subs = sorted({f.relative_to(folder).parts[0] for f in nested})
    shown = ", ".join(subs[:3]) + (", …" if len(subs) > 3 else "")
    return f"its subfolders hold {len(nested)}{'+' if len(nested) >= 1000 else ''} images ({shown})"


class ImageSource:
    """Images from a folder, a glob or one file, in name order; pts = index at ``fps``; sizes may differ."""

    live = False

    def __init__(self, spec: str, fps: float = 25.0, on_warning=None, strict: bool = False) -> None:
        p = Path(spec)
        on_warning = on_warning or (lambda msg: None)
        nested: list[Path] = []
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if _photo_name(f) and f.is_file())
            nested = _nested_images(p)
        elif is_glob(spec):  # a glob names what it wants; hidden files only if it says so
            files = sorted(Path(f) for f in glob.glob(spec) if Path(f).suffix.lower() in IMAGE_EXTS)
        else:
            files = [p]
        if not files:
            videos = sorted(f.name for f in p.iterdir() if f.suffix.lower() in VIDEO_EXTS) if p.is_dir() else []
            if videos:  # a folder of clips: that is what `batch` is for
                raise SourceError(
                    f"{spec} holds videos ({videos[0]}{', …' if len(videos) > 1 else ''}), not images: "
                    f"streamdeblur batch {spec} --out-dir OUT processes each of them"
                )
            if nested:  # a camera card's DCIM/100APPLE, 101APPLE …: "no images found" was untrue
                raise SourceError(f"no images in {spec} itself; {_where(p, nested)}: give each subfolder (-o a folder for each)")
            raise SourceError(f"no images found in {spec}")
        if nested:
            on_warning(f"subfolders are not read: {_where(p, nested)} (give each subfolder to process them)")
        if p.is_dir():  # pictures whose names are not a photo's: left out without a word (a download's .jfif)
            odd = sorted(
                f"{f.name} ({kind})"
                for f in p.iterdir()
                if not _photo_name(f)
                and not f.name.startswith(".")
                and f.suffix.lower() not in VIDEO_EXTS
                and f.is_file()
                and (kind := _picture_kind(f))
            )
            if odd:
                shown = ", ".join(odd[:4]) + (f" and {len(odd) - 4} more" if len(odd) > 4 else "")
                on_warning(
                    f"left out, pictures by their content but not by their names: {shown} "
                    f"(read as photos: {', '.join(sorted(IMAGE_EXTS))}; a .gif is read as a video)"
                )
        self.files = files
        self.stats = DecodeStats()
        self.strict = strict
        self._warn = on_warning
        self._alpha_said = False
        self._extras_said = False  #: a HEIC's depth map or gain map, said once
        self._more_said: set[Path] = set()  #: multi-page TIFFs and animated WebPs, said once each
        self._stop = threading.Event()
        self._first: tuple[Path, np.ndarray] | None = None
        for f in files:  # the first readable image describes the sequence (size, depth)
            try:
                self._first = (f, self._read(f))
                break
            except SourceError as exc:
                if strict or len(files) == 1:
                    raise
                self._skip(f, exc)
        if self._first is None:
            raise SourceError(f"no readable images in {spec} ({len(files)} unreadable)")
        first = self._first[1]
        h, w = first.shape[:2]
        rate = Fraction(fps).limit_denominator(1001)
        self.info = SourceInfo(
            name=p.name or spec,
            width=w,
            height=h,
            fps=rate,
            time_base=1 / rate,
            color=ColorInfo("bt709" if h >= 720 else "bt601", "tv", "bt709", "iec61966-2-1", self._depth, False),
            frames=len(files),
            duration=len(files) / float(rate),
        )

    def _read(self, path: Path) -> np.ndarray:
        """One image as RGB (8 or 16 bits), upright; says once when transparency is dropped."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read image {path}: {exc.strerror or exc}") from None
        state = jpeg_state(data) if data[:2] == b"\xff\xd8" else "complete"
        if state == "truncated":  # libjpeg decodes the rest as grey and only prints "Premature end of JPEG file"
            raise SourceError(f"{path} is truncated (the JPEG data stop before the end of the picture)")
        if state == "malformed":
            raise SourceError(f"{path} is damaged (its JPEG structure is broken before the end of the picture)")
        png = png_state(data) if data[:4] == b"\x89PNG" else "complete"
        if png == "truncated":  # libpng printed its own line without the file's name, OpenCV "cannot read"
            raise SourceError(f"{path} is truncated (the PNG data stop before the end of the picture)")
        if png == "damaged signature":  # a PNG sent through a text-mode transfer: its line ends changed
            raise SourceError(f"{path} is damaged (its PNG signature was changed, as a text-mode copy changes line ends)")
        if png != "complete":
            raise SourceError(f"{path} is damaged (its PNG {png.split()[1]} data fail their checksum)")
        if is_heif(data):  # an iPhone's photo (io/heif.py): RGB already, upright by its own irot
            try:
                pic = decode_heif(data)
            except ValueError as exc:
                raise SourceError(f"cannot read image {path} (HEIF: {exc})") from None
            if pic.left_out and not self._extras_said:
                self._extras_said = True
                self._warn(f"{path.name} holds {' and '.join(pic.left_out)}: left out (they describe the old pixels)")
            img, alpha = pic.pixels, pic.has_alpha
            self._depth = pic.bit_depth  # a 10-bit photo is not "16-bit" (its pixels are scaled to 16)
        elif (cmyk := cmyk_to_srgb(data) if is_cmyk(data) else None) is not None:  # a print workflow's photo
            img, alpha = cmyk, False
            self._depth = 8
        else:
            img = read_image(data, path)
            if img.dtype not in (np.uint8, np.uint16):
                raise SourceError(f"{path}: {img.dtype} pixels are not supported (8- or 16-bit images)")
            img, alpha = img[..., ::-1], _has_alpha(data)
            self._depth = 16 if img.dtype == np.uint16 else 8
            more = more_pictures(data)
            if more and path not in self._more_said:  # a multi-page TIFF's other pages were dropped without a word
                self._more_said.add(path)
                self._warn(f"{path.name} holds more {more} than its first; only the first is read (the others are left out)")
        if alpha and not self._alpha_said:
            self._alpha_said = True
            self._warn(f"{path.name} has a transparency (alpha) channel; the output is opaque (it is not kept)")
        return np.ascontiguousarray(img)

    def _skip(self, path: Path, exc: Exception) -> None:
        self.stats.skipped_images += 1
        if self.stats.skipped_images <= 3:
            self._warn(f"skipped: {exc}")

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()

    def frames(self) -> Iterator[Frame]:
        """The images in name order; an unreadable one is skipped, said and counted (``strict``: an error)."""
        assert self._first is not None
        start = self.files.index(self._first[0])
        i = 0
        for f in self.files[start:]:
            if self._stop.is_set():
                return
            if f == self._first[0]:
                img = self._first[1]
                self._first = (f, img[:0])  # not held for the whole run
            else:
                try:
                    img = self._read(f)
                except SourceError as exc:
                    if self.strict:
                        raise
                    self._skip(f, exc)
                    continue
            yield Frame(img, i, i, self.info.time_base, self.info.color, str(f))  # the path: sinks keep name and metadata
            i += 1


def read_image(data: bytes, path: Path) -> np.ndarray:
    """Decode an image file's bytes as OpenCV does (BGR, 8 or 16 bits, EXIF orientation applied).

    ``ANYDEPTH`` keeps 16-bit PNG/TIFF; ``COLOR`` gives 3 channels (grey expanded, alpha dropped)
    and, unlike ``IMREAD_UNCHANGED``, turns the picture upright. OpenCV 5 cannot turn a TIFF whose
    orientation is 5–8 ("Internal imread issue", nothing decoded): such a TIFF is decoded as stored
    and turned here. OpenCV's own log lines are kept off the terminal; the error says what failed.
    """
    buf = np.frombuffer(data, np.uint8)
    flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR
    with quiet_opencv():
        try:
            img = cv2.imdecode(buf, flags) if buf.size else None
        except cv2.error:
            img = None
        if img is None and data[:4] in (b"II*\x00", b"MM\x00*"):
            try:
                img = cv2.imdecode(buf, flags | cv2.IMREAD_IGNORE_ORIENTATION)
            except cv2.error:
                img = None
            if img is not None:
                img = _turn(img, tiff_orientation(data) or 1)
    if img is None:
        if not data:
            raise SourceError(f"cannot read image {path}: the file is empty (0 bytes)")
        kind = tiff_sample_kind(data)  # a grey float32 TIFF (a scientific camera's, a depth map) said only "cannot read"
        if kind is not None:
            raise SourceError(f"{path}: {kind} pixels are not supported (8- or 16-bit images)")
        raise SourceError(f"cannot read image {path}")
    return img


def _turn(img: np.ndarray, orientation: int) -> np.ndarray:
    """A picture stored with EXIF ``orientation`` (1–8), upright."""
    if orientation in (5, 6, 7, 8):
        img = cv2.transpose(img)  # 5 as is; 6, 7, 8 turned further below
        orientation = {5: 1, 6: 2, 7: 3, 8: 4}[orientation]
    if orientation == 2:
        return cv2.flip(img, 1)
    if orientation == 3:
        return cv2.flip(img, -1)
    if orientation == 4:
        return cv2.flip(img, 0)
    return img


def _has_alpha(data: bytes) -> bool:
    """Whether the file stores transparency, from its header (no second decode of every image)."""
    return png_has_alpha(data) or tiff_has_alpha(data) or webp_has_alpha(data) or bmp_has_alpha(data)
