"""A preview window (OpenCV), only where a display exists."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

import cv2
import numpy as np

from ..frames import Frame
from .base import SinkError


def display_available() -> bool:
    """True when a window can be opened (``cv2.imshow`` aborts the process without a display)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class PreviewSink:
    """Shows frames in an OpenCV window; ``q`` or Esc asks the pipeline to stop.

    All GUI calls happen on one thread of its own (HighGUI backends such as Qt deadlock when a
    window is created, drawn and destroyed from different threads). ``write`` only hands over
    the newest frame, so a slow display never slows the pipeline.
    """

    def __init__(self, title: str = "streamdeblur", on_quit: Callable[[], None] | None = None) -> None:
        if not display_available():
            raise SinkError("no display for the preview window (DISPLAY is not set); drop --preview or run under a desktop/Xvfb")
        self.title = title
        self.on_quit = on_quit
        self.frames_written = 0
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="preview", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._frame is not None or self._closing, timeout=0.05)
                    img, self._frame = self._frame, None
                    closing = self._closing
                if img is not None:
                    cv2.imshow(self.title, img)
                key = cv2.waitKey(1) & 0xFF
                if key in (ord("q"), 27) and self.on_quit:
                    self.on_quit()
                if closing:
                    break
        finally:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)

    def write(self, frame: Frame) -> None:
        img = frame.image
        if img.dtype == np.uint16:
            img = (img >> 8).astype(np.uint8)
        with self._cond:
            self._frame = np.ascontiguousarray(img[..., ::-1])
            self._cond.notify()
        self.frames_written += 1

    def close(self, complete: bool = True) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(5.0)
