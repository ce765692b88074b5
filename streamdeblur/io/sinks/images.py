"""Image folders: one PNG (or the given extension) per frame."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..frames import Frame
from .base import SinkError


class ImageSink:
    """Frames as numbered PNGs (16-bit for deep sources) in a folder, each written atomically."""

    def __init__(self, folder: str | Path, pattern: str = "frame_{index:06d}.png") -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pattern = pattern
        self.frames_written = 0

    def write(self, frame: Frame) -> None:
        path = self.folder / self.pattern.format(index=frame.index)
        tmp = path.with_name(path.stem + ".partial" + path.suffix)
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(frame.image[..., ::-1])):
            raise SinkError(f"cannot write {tmp}")
        os.replace(tmp, path)
        self.frames_written += 1

    def close(self, complete: bool = True) -> Path:
        return self.folder
