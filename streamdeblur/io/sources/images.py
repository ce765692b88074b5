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

import numpy as np

# OpenCV's bundled FFmpeg prints its own errors to stderr; we report failures ourselves, in one line.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
import cv2  # noqa: E402

from ..color import ColorInfo
from ..frames import Frame, SourceInfo
from .base import IMAGE_EXTS, VIDEO_EXTS, DecodeStats, SourceError


class ImageSource:
    """Images from a folder, a glob or one file, in name order; pts = index at ``fps``; sizes may differ."""

    live = False

    def __init__(self, spec: str, fps: float = 25.0, on_warning=None) -> None:
        p = Path(spec)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTS)
        elif any(ch in spec for ch in "*?["):
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
            raise SourceError(f"no images found in {spec}")
        self.files = files
        self.stats = DecodeStats()
        self._stop = threading.Event()
        first = self._read(files[0])
        h, w = first.shape[:2]
        header = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)  # the channels as stored (alpha included)
        if on_warning is not None and header is not None and header.ndim == 3 and header.shape[2] == 4:
            on_warning(f"{files[0].name} has a transparency (alpha) channel; the output is opaque (it is not kept)")
        rate = Fraction(fps).limit_denominator(1001)
        self.info = SourceInfo(
            name=p.name or spec,
            width=w,
            height=h,
            fps=rate,
            time_base=1 / rate,
            color=ColorInfo(
                "bt709" if h >= 720 else "bt601", "tv", "bt709", "iec61966-2-1", 16 if first.dtype == np.uint16 else 8, False
            ),
            frames=len(files),
            duration=len(files) / float(rate),
        )

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        # ANYDEPTH keeps 16-bit PNG/TIFF; COLOR gives 3 channels (grey expanded, alpha dropped) and,
        # unlike IMREAD_UNCHANGED, applies the EXIF orientation
        img = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
        if img is None:
            raise SourceError(f"cannot read image {path}")
        if img.dtype not in (np.uint8, np.uint16):
            raise SourceError(f"{path}: {img.dtype} pixels are not supported (8- or 16-bit images)")
        return np.ascontiguousarray(img[..., ::-1])

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()

    def frames(self) -> Iterator[Frame]:
        for i, f in enumerate(self.files):
            if self._stop.is_set():
                return
            img = self._read(f)
            yield Frame(img, i, i, self.info.time_base, self.info.color, str(f))  # the path: sinks keep name and metadata
