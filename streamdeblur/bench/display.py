"""A virtual X display (Xvfb) for measuring and testing the preview window without a screen."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator


@contextlib.contextmanager
def virtual_display(size: tuple[int, int] = (640, 480)) -> Iterator[str]:
    """Start ``Xvfb`` with a ``size`` screen; yields its name (``":N"``) once it accepts clients.

    The server writes its display number to a pipe when it is ready (``-displayfd``), so nothing
    waits a fixed time. No window manager runs: windows open at the top-left corner, undecorated.

    Args:
        size: screen width and height in pixels.

    Raises:
        RuntimeError: ``Xvfb`` is missing (``make system-deps``) or did not start.

    Example:
        >>> with virtual_display((800, 480)) as display:  # doctest: +SKIP
        ...     subprocess.run(["xdpyinfo"], env={**os.environ, "DISPLAY": display})
    """
    if shutil.which("Xvfb") is None:
        raise RuntimeError("Xvfb is needed: make system-deps (apt-get install xvfb)")
    r, w = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp"],
        pass_fds=(w,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(w)
    try:
        with os.fdopen(r) as ready:
            number = ready.readline().strip()  # written by Xvfb when it accepts clients
        if not number.isdigit():
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)
