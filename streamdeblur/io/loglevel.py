"""A library's process-wide log level, lowered while anyone in the process needs it quiet.

Two threads that each saved the level, lowered it and restored it on the way out could leave it
lowered for good (the second saved the first's lowered level). Here the first one in saves it and the
last one out restores it; a lock guards only that bookkeeping, so a caller may stay inside for long
(a camera read waiting on a stalled stream) without holding up the others.

Example:
    >>> level = {"now": 3}
    >>> quiet = SharedQuiet(lambda: level["now"], lambda v: level.update(now=v), lambda: 0)
    >>> with quiet():
    ...     with quiet():
    ...         inner = level["now"]
    ...     still = level["now"]
    >>> inner, still, level["now"]
    (0, 0, 3)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class SharedQuiet:
    """``with quiet():`` — the level is ``quiet_level()`` while anyone is inside, as it was once all are out.

    Args:
        get_level: reads the library's current level.
        set_level: sets it.
        quiet_level: the level to hold while inside (called when first needed: the library may be imported late).
    """

    def __init__(self, get_level: Callable[[], Any], set_level: Callable[[Any], None], quiet_level: Callable[[], Any]) -> None:
        self._get, self._set, self._quiet = get_level, set_level, quiet_level
        self._lock = threading.Lock()
        self._inside = 0
        self._saved: Any = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._inside == 0:
                self._saved = self._get()
                self._set(self._quiet())
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0:
                    self._set(self._saved)


def _av_logging():
    import av.logging  # here: this module is imported where PyAV need not be

    return av.logging


#: FFmpeg's process-wide log level, held at ERROR while anyone reads its error lines: an encoder being
#: opened (its refusal's reason, ``io/sinks/video.py``), a file being demuxed (where its demuxer skipped
#: damaged data, ``io/sources/video.py``). One instance for all of them: two over the same level
#: would restore each other's saved values. Lines no one captures go to the ``libav`` logger, which
#: has a ``NullHandler`` (else Python's last-resort handler printed a decoder thread's lines on stderr).
ffmpeg_errors = SharedQuiet(lambda: _av_logging().get_level(), lambda v: _av_logging().set_level(v), lambda: _av_logging().ERROR)
logging.getLogger("libav").addHandler(logging.NullHandler())
