"""A preview window (OpenCV), only where a display exists."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..frames import Frame
from .base import SinkError
from .preview_window import HEADER


def display_problem() -> str | None:
    """Why no window can be opened here (``DISPLAY is not set``, ``cannot connect to display :77``), or None
    (``cv2.imshow`` aborts the process without a display).

    An X display that is set but cannot be reached (a stale ``DISPLAY`` of an SSH session, a stopped
    Xvfb) started the window process eleven times, each printing Qt's ten-line "no Qt platform plugin
    could be initialized … Reinstalling the application may fix this problem", and a run with nothing to
    record went on to its end showing nothing, exit 0. The X server's socket is tried first (a few ms).
    """
    if not sys.platform.startswith("linux"):
        return None
    display = os.environ.get("DISPLAY")
    if not display:
        return None if os.environ.get("WAYLAND_DISPLAY") else "DISPLAY is not set"
    return None if _x_server_answers(display) else f"cannot connect to display {display}"


def _x_server_answers(display: str) -> bool:
    """Whether an X server listens at ``display`` (``:N``, ``unix:N``, ``host:N``, ``.S`` screen suffix)."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return True  # a form we do not parse: let Qt judge
    if host in ("", "unix"):
        for address in (f"/tmp/.X11-unix/X{number}", f"\0/tmp/.X11-unix/X{number}"):  # file, then Linux's abstract name
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(2.0)
                s.connect(address)
                return True
        return False
    try:
        with socket.create_connection((host, 6000 + int(number)), timeout=2.0):
            return True
    except OSError:
        return False


class QtLogWatch:
    """Reads the window process's stderr: notes Qt's Expose events, passes every other line on.

    The window process runs with Qt's ``qt.qpa.xcb`` and ``qt.qpa.events`` log categories on
    (:data:`QT_RULES`); their lines tell whether Qt's log reaches us at all (:attr:`qt_log`) and
    whether Qt was told that its window is on screen (:attr:`exposed`). Those lines are dropped
    unless the user's own ``QT_LOGGING_RULES`` asked for them; anything else (a warning, a crash
    report) goes to ``out``; a dropped line that reports a failure is kept in :attr:`failure`, so
    that the reason a window process ended can still be told (``could not connect to display``).

    Example:
        >>> import io
        >>> out = io.BytesIO()
        >>> watch = QtLogWatch(out=out)
        >>> watch.feed(b"qt.qpa.xcb: using glib dispatcher\\n")
        >>> watch.feed(b"qt.qpa.events: Event | XCB_EXPOSE(12) | sequence: 464\\n")
        >>> watch.feed(b"QObject::moveToThread: boom\\n")
        >>> watch.qt_log.is_set(), watch.exposed.is_set(), out.getvalue()
        (True, True, b'QObject::moveToThread: boom\\n')
    """

    def __init__(self, out=None, user_rules: str = "") -> None:
        self.out = out
        self.qt_log = threading.Event()  #: a line of Qt's log came (so a missing Expose means something)
        self.exposed = threading.Event()  #: an Expose event was logged
        self.qt_log_at: float | None = None  #: ``time.monotonic()`` of Qt's first line
        self.keep_xcb = "qt.qpa.xcb" in user_rules or "qt.qpa.*" in user_rules
        self.keep_events = "qt.qpa.events" in user_rules or "qt.qpa.*" in user_rules
        self.failure: str | None = None  #: the last ``qt.qpa.xcb`` line that reports a failure (e.g. no display)
        self.dropped: deque[str] = deque(maxlen=12)  #: the last Qt lines not passed on (told when the preview gives up)

    def feed(self, line: bytes) -> None:
        """Note one line of the window process's stderr; pass it on unless it is Qt's log we turned on."""
        keep = True
        if line.startswith((b"qt.qpa.xcb:", b"qt.qpa.events:")) and not self.qt_log.is_set():
            self.qt_log_at = time.monotonic()
            self.qt_log.set()
        xcb = line.startswith(b"qt.qpa.xcb:")
        if xcb:
            keep = self.keep_xcb
        elif line.startswith(b"qt.qpa.events:"):
            if b"XCB_EXPOSE" in line:
                self.exposed.set()
            keep = self.keep_events
        if keep:
            out = self.out if self.out is not None else sys.stderr.buffer
            with contextlib.suppress(OSError, ValueError):
                out.write(line)
                out.flush()
            return
        text = line.decode("utf-8", "replace").rstrip()
        self.dropped.append(text)
        if xcb and any(w in text.lower() for w in ("could not", "cannot", "failed", "error")):
            self.failure = text[len("qt.qpa.xcb:") :].strip()

    def pump(self, stream) -> None:
        """:meth:`feed` every line of ``stream`` until it ends."""
        with contextlib.suppress(OSError, ValueError):
            for line in stream:
                self.feed(line)


QT_RULES = "qt.qpa.xcb=true;qt.qpa.events=true"
EXPOSE_WAIT_S = 3.0  #: seconds after Qt's first line without an Expose: the window process is replaced
WINDOW_STARTS = 10  #: at most this many window processes (runs of 3 and of 6 failed starts were seen under heavy load)


class PreviewSink:
    """Shows frames in an OpenCV window; ``q`` or Esc asks the pipeline to stop, ``o`` toggles the
    statistics overlay (the lines ``status()`` returns, drawn by the window on the shown picture only).

    The window lives in a child process (:mod:`.preview_window`, run by path) that never loads
    PyAV: with PyAV loaded, OpenCV's Qt xcb plugin binds to PyAV's bundled xcb extension libraries
    (same SONAMEs as opencv-python's) and no window ever reaches the screen. All GUI calls happen
    on that process's main thread. ``write`` only hands over the newest frame to a sender thread,
    so a slow display never slows the pipeline.

    A window that stays black: now and then (about one start in twelve with both cores busy, on
    Xvfb) the Qt inside opencv-python never receives the MapNotify and Expose events of its new
    window; the window is on screen, but Qt believes it is hidden and never paints it, and a new
    window in the same process fares no better. Qt's own event log, which the window process
    writes on its stderr (read here by :class:`QtLogWatch`), shows whether an Expose came; if
    none came :data:`EXPOSE_WAIT_S` after Qt's first line, the process is replaced by a new one
    (at most :data:`WINDOW_STARTS` starts), between two frames. Measured with a 320×240 stream on
    Xvfb, three busy processes beside it on two cores: without the replacement 2 of 25 and 6 of
    30 windows stayed black; with it 0 of 90 (11 needed a second process, one a fourth).

    A window process that ends on its own is replaced the same way, with the reason Qt logged:
    now and then (1 start in 80 on Xvfb under load, with screenshots taken beside it) Qt's first
    connection to the display is refused (``could not connect to display :0``) and the process
    aborts; the next start connects. Only the end of its stdin (:meth:`close`) ends it normally.
    """

    window_script = Path(__file__).with_name("preview_window.py")  #: what the window process runs
    busy_label = "preview"  #: the progress line's name for the time spent in :meth:`write` (not "encode")

    def __init__(
        self,
        title: str = "streamdeblur",
        on_quit: Callable[[], None] | None = None,
        status: Callable[[], list[str]] | None = None,
        overlay: bool = True,
    ) -> None:
        problem = display_problem()
        if problem:
            raise SinkError(f"no display for the preview window ({problem}); drop --preview or run under a desktop/Xvfb")
        self.title = title
        self.on_quit = on_quit
        self.status = status  #: the overlay's lines for the frame being handed over (None: no overlay text)
        self.overlay = overlay
        self.frames_written = 0
        self.starts = 0  #: window processes started (more than one: Qt did not show the first)
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._text = b""
        self._closing = False
        self._gave_up = False
        self._proc, self._watch = self._start_window()
        self._sender = threading.Thread(target=self._send, name="preview", daemon=True)
        self._sender.start()

    def _start_window(self) -> tuple[subprocess.Popen, QtLogWatch]:
        """Starts a window process, with threads reading its keys and its log."""
        script = self.window_script
        user_rules = os.environ.get("QT_LOGGING_RULES", "")
        env = {**os.environ, "QT_LOGGING_RULES": ";".join(r for r in (user_rules, QT_RULES) if r)}
        argv = [sys.executable, str(script), self.title] + ([] if self.overlay else ["--no-overlay"])
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        except OSError as exc:
            raise SinkError(f"cannot start the preview window: {exc}") from exc
        self.starts += 1
        watch = QtLogWatch(user_rules=user_rules)
        threading.Thread(target=watch.pump, args=(proc.stderr,), name="preview-log", daemon=True).start()
        threading.Thread(target=self._keys, args=(proc,), name="preview-keys", daemon=True).start()
        return proc, watch

    def _unseen(self) -> bool:
        """True when Qt started :data:`EXPOSE_WAIT_S` ago in the window process and has not shown its window."""
        w = self._watch
        return w.qt_log_at is not None and not w.exposed.is_set() and time.monotonic() - w.qt_log_at > EXPOSE_WAIT_S

    def _restart(self, why: str) -> None:
        """Replaces the window process (it failed, ``why``: see the class docstring); not when the display
        itself went away (an X server stopped, an SSH session's forwarding closed): each new window process
        printed Qt's ten-line "could not load the Qt platform plugin … Reinstalling the application" block."""
        self._stop_window(self._proc)
        problem = display_problem()
        if problem:
            self._gave_up = True
            print(f"preview window: the display went away ({problem}); frames are not shown", file=sys.stderr, flush=True)
            return
        print(f"preview window: {why}; starting it again", file=sys.stderr, flush=True)
        try:
            self._proc, self._watch = self._start_window()
        except SinkError as exc:
            self._gave_up = True
            print(f"preview window: {exc}; frames are not shown", file=sys.stderr, flush=True)

    @staticmethod
    def _stop_window(proc: subprocess.Popen) -> None:
        """Ends a window process: end of its stdin closes the window; killed if it has not gone in 5 s."""
        with contextlib.suppress(OSError, ValueError):
            proc.stdin.close()  # end of stdin: the window closes
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _why(self) -> str | None:
        """Why the window process must be replaced, or None while it is fine (see the class docstring)."""
        code = self._proc.poll()
        if code is not None:  # it ended on its own: only the end of its stdin ends it normally
            failure = self._watch.failure
            return f"the window process ended (exit code {code}{': ' + failure if failure else ''})"
        if self._unseen():
            return "Qt did not show the window"
        return None

    def _send(self) -> None:
        """Sends the newest frame to the window process until closed; replaces a window process that failed."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._frame is not None or self._closing, timeout=0.5)
                img, self._frame = self._frame, None
                text, closing = self._text, self._closing
            why = None if closing or self._gave_up else self._why()
            if why is not None:
                if self.starts < WINDOW_STARTS:
                    self._restart(why)
                else:
                    self._gave_up = True
                    gave_up = f"preview window: gave up after {self.starts} tries ({why}); frames are not shown"
                    # Qt's own last lines (its log we turned on): what a bug report needs
                    told = "".join(f"\n  {line}" for line in self._watch.dropped)
                    print(gave_up + (f"; Qt's last lines:{told}" if told else ""), file=sys.stderr, flush=True)
            if img is not None:
                with contextlib.suppress(OSError, ValueError):  # the process ended: noticed at the next turn
                    pipe = self._proc.stdin
                    pipe.write(HEADER.pack(*img.shape, len(text)) + img.tobytes() + text)
                    pipe.flush()
            if closing:
                break

    def _keys(self, proc: subprocess.Popen) -> None:
        """Turns ``q`` lines from a window process into ``on_quit``."""
        with contextlib.suppress(OSError, ValueError):
            for line in proc.stdout:
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
        self._stop_window(self._proc)
