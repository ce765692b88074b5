"""The preview window's own process: reads BGR frames on stdin, shows them, reports ``q``/Esc on stdout.

Run by path (``python preview_window.py``), never imported by the package: this process must not
load PyAV. PyAV's wheel bundles copies of ``libxcb-shm``/``libxcb-shape``/``libxcb-xfixes`` whose
SONAMEs are identical to the copies bundled with opencv-python; once PyAV is loaded, OpenCV's Qt
xcb plugin binds to PyAV's copies (linked to PyAV's own ``libxcb``) while it talks to the X server
through the system ``libxcb``, and the window never appears (or ``cv2.imshow`` hangs).

Protocol on stdin: per frame a 16-byte header (height, width, channels, text length as
little-endian uint32), then ``height*width*channels`` bytes of BGR, then the overlay's text (UTF-8,
lines separated by ``\n``). End of stdin closes the window.

Keys: ``q`` or Esc asks the pipeline to stop, and so does the window's close button (OpenCV would
otherwise open a new window with the next frame, and a window the user closed came straight back);
``o`` shows or hides the overlay (delivered fps, latency, drops), which is drawn here, on the shown
picture only, never on the recording.
"""

from __future__ import annotations

import signal
import struct
import sys
import threading

import cv2
import numpy as np

HEADER = struct.Struct("<IIII")
QUIT_KEYS = (ord("q"), 27)
OVERLAY_KEY = ord("o")


def _read_exact(stream, n: int) -> bytes | None:
    """``n`` bytes from ``stream``, or None at end of stream."""
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def draw_overlay(img: np.ndarray, lines: list[str]) -> np.ndarray:
    """``img`` (BGR) with ``lines`` in white on a dark box at its bottom-left corner, sized to the picture.

    Args:
        img: ``H×W×3`` uint8 BGR (not modified).
        lines: the text, one entry per line.

    Returns:
        A copy with the overlay drawn.
    """
    out = img.copy()
    if not lines:
        return out
    h, w = out.shape[:2]
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.35, w / 1600)
    thick = 1 if scale < 0.8 else 2
    sizes = [cv2.getTextSize(t, font, scale, thick)[0] for t in lines]
    line_h = max(s[1] for s in sizes) + int(8 * scale) + 2
    pad = max(3, int(6 * scale))
    box_w = min(w, max(s[0] for s in sizes) + 2 * pad)
    box_h = min(h, line_h * len(lines) + pad)
    y0 = h - box_h
    out[y0:h, 0:box_w] = (out[y0:h, 0:box_w] * 0.3).astype(np.uint8)
    for i, t in enumerate(lines):
        cv2.putText(out, t, (pad, y0 + pad + line_h * i + sizes[i][1]), font, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return out


def on_key(key: int, state: dict) -> bool:
    """Handle one key from ``cv2.waitKey``: toggles ``state["overlay"]`` on ``o``; True when it asks to stop."""
    key &= 0xFF
    if key == OVERLAY_KEY:
        state["overlay"] = not state["overlay"]
    return key in QUIT_KEYS


def main(title: str, overlay: bool = True) -> int:
    """Show frames from stdin until it ends; writes ``q`` on stdout when the user asks to stop.

    Args:
        title: the window title.
        overlay: show the statistics overlay at the start (``o`` toggles it).

    Returns:
        The exit status (0).
    """
    # Ctrl-C in the terminal reaches this process too (same process group): the pipeline handles it
    # and ends this process by closing its stdin, after the last frame
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cond = threading.Condition()
    state: dict = {"frame": None, "eof": False, "overlay": overlay, "text": []}

    def reader() -> None:
        stdin = sys.stdin.buffer
        while True:
            head = _read_exact(stdin, HEADER.size)
            h, w, c, n = HEADER.unpack(head) if head is not None else (0, 0, 0, 0)
            data = None if head is None else _read_exact(stdin, h * w * c)
            text = None if data is None else (_read_exact(stdin, n) if n else b"")
            with cond:
                if data is None or text is None:
                    state["eof"] = True
                else:
                    state["frame"] = np.frombuffer(data, np.uint8).reshape(h, w, c)
                    state["text"] = text.decode("utf-8", "replace").splitlines()
                cond.notify()
            if data is None:
                return

    threading.Thread(target=reader, daemon=True).start()
    cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)  # no toolbar: the picture only
    cv2.waitKey(1)  # let Qt map the window before the first picture
    sized = closed = False
    while True:  # all GUI calls on this (main) thread
        with cond:
            cond.wait_for(lambda: state["frame"] is not None or state["eof"], timeout=0.02)
            img, state["frame"] = state["frame"], None
            eof, text = state["eof"], state["text"]
        if img is not None and not closed:
            cv2.imshow(title, draw_overlay(img, text) if state["overlay"] else img)
            if not sized:  # the frame's own size (Qt's default is 400×300, letterboxed), once it is shown
                cv2.resizeWindow(title, *window_size(img.shape[1], img.shape[0]))
                sized = True
        stop = on_key(cv2.waitKey(1), state) if not closed else False
        if sized and not closed and not window_open(title):
            closed = stop = True  # the close button
        if stop:
            sys.stdout.write("q\n")
            sys.stdout.flush()
        if eof:
            break
    cv2.destroyAllWindows()
    cv2.waitKey(1)
    return 0


def window_open(title: str) -> bool:
    """Whether the window ``title`` is still on screen: the close button makes Qt hide it (visible 0),
    destroy it (-1) or, with it the last window, the GUI thread's receiver (an OpenCV error)."""
    try:
        return cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) >= 1
    except cv2.error:
        return False


def window_size(w: int, h: int, max_w: int = 1280, max_h: int = 720) -> tuple[int, int]:
    """The window's first size: the frame's own, scaled down (aspect kept) to fit ``max_w``×``max_h``.

    Example:
        >>> window_size(640, 360), window_size(3840, 2160)
        ((640, 360), (1280, 720))
    """
    f = min(1.0, max_w / w, max_h / h)
    return max(1, round(w * f)), max(1, round(h * f))


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(args[0] if args else "streamdeblur", overlay="--no-overlay" not in args[1:]))
