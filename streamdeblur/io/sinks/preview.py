"""A preview window (OpenCV), only where a display exists."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..frames import Frame
from .base import SinkError
from .preview_window import HEADER


def display_available() -> bool:
    """True when a window can be opened (``cv2.imshow`` aborts the process without a display)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class PreviewSink:
    """Shows frames in an OpenCV window; ``q`` or Esc asks the pipeline to stop, ``o`` toggles the
    statistics overlay (the lines ``status()`` returns, drawn by the window on the shown picture only).

    The window lives in a child process (:mod:`.preview_window`, run by path) that never loads
    PyAV: with PyAV loaded, OpenCV's Qt xcb plugin binds to PyAV's bundled xcb extension libraries
    (same SONAMEs as opencv-python's) and no window ever reaches the screen. All GUI calls happen
    on that process's main thread. ``write`` only hands over the newest frame to a sender thread,
    so a slow display never slows the pipeline.
    """

    def __init__(
        self,
        title: str = "streamdeblur",
        on_quit: Callable[[], None] | None = None,
        status: Callable[[], list[str]] | None = None,
        overlay: bool = True,
    ) -> None:
        if not display_available():
            raise SinkError("no display for the preview window (DISPLAY is not set); drop --preview or run under a desktop/Xvfb")
        self.title = title
        self.on_quit = on_quit
        self.status = status  #: the overlay's lines for the frame being handed over (None: no overlay text)
        self.frames_written = 0
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._text = b""
        self._closing = False
        script = Path(__file__).with_name("preview_window.py")
        try:
            argv = [sys.executable, str(script), title] + ([] if overlay else ["--no-overlay"])
            self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as exc:
            raise SinkError(f"cannot start the preview window: {exc}") from exc
        self._sender = threading.Thread(target=self._send, name="preview", daemon=True)
        self._sender.start()
        threading.Thread(target=self._watch, name="preview-keys", daemon=True).start()

    def _send(self) -> None:
        """Sends the newest frame to the window process until closed."""
        pipe = self._proc.stdin
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._frame is not None or self._closing)
                    img, self._frame = self._frame, None
                    text, closing = self._text, self._closing
                if img is not None:
                    pipe.write(HEADER.pack(*img.shape, len(text)) + img.tobytes() + text)
                    pipe.flush()
                if closing:
                    break
        except (BrokenPipeError, OSError, ValueError):
            pass  # the window process ended (closed by the user or crashed): frames are dropped
        finally:
            with contextlib.suppress(OSError, ValueError):
                pipe.close()

    def _watch(self) -> None:
        """Turns ``q`` lines from the window process into ``on_quit``."""
        for line in self._proc.stdout:
            if line.strip() == b"q" and self.on_quit:
                self.on_quit()

    def write(self, frame: Frame) -> None:
        img = frame.image
        if img.dtype == np.uint16:
            img = (img >> 8).astype(np.uint8)
        text = b""
        if self.status is not None:
            try:
                text = "\n".join(self.status()).encode()
            except Exception:  # noqa: BLE001 - the overlay never stops the preview
                text = b""
        with self._cond:
            self._frame = np.ascontiguousarray(img[..., ::-1])
            self._text = text
            self._cond.notify()
        self.frames_written += 1

    def close(self, complete: bool = True) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._sender.join(5.0)
        try:
            self._proc.wait(5.0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
