"""Frames handed back to a script as NumPy images, through a small bounded queue (back-pressure: the
pipeline waits while the script has not taken the last ones).

Example:
    >>> import numpy as np
    >>> from streamdeblur.io.frames import Frame
    >>> sink = ArraySink()
    >>> sink.write(Frame(np.zeros((2, 2, 3), np.uint8), 0, 0, None)); sink.close()
    >>> [im.shape for im in sink.images(lambda: False)]
    [(2, 2, 3)]
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import numpy as np

from ..frames import Frame

_END = object()


class ArraySink:
    """Queue of output images for a consumer thread.

    Args:
        bgr: hand images back in BGR order (OpenCV's).
        maxsize: images held before the pipeline waits.
    """

    busy_label = "output"  #: the progress line's name for the time spent handing images over

    def __init__(self, bgr: bool = False, maxsize: int = 4) -> None:
        self.bgr = bgr
        self.frames_written = 0
        self._q: queue.Queue = queue.Queue(maxsize=maxsize)
        self._abandoned = threading.Event()

    def write(self, frame: Frame) -> None:
        image = np.ascontiguousarray(frame.image[..., ::-1]) if self.bgr else frame.image
        self._put(image)
        self.frames_written += 1

    def close(self, complete: bool = True) -> None:
        self._put(_END)
        return None

    def abandon(self) -> None:
        """The consumer has gone: writes are dropped from now on and never wait."""
        self._abandoned.set()

    def _put(self, item) -> None:
        while not self._abandoned.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def images(self, running) -> Iterator[np.ndarray]:
        """The images in order until the stream's end; stops too when ``running()`` turns false with
        nothing left (the pipeline ended without closing its sink)."""
        while True:
            try:
                item = self._q.get(timeout=0.1)
            except queue.Empty:
                if running():
                    continue
                return
            if item is _END:
                return
            yield item
