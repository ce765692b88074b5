"""Live sources (issue 2, acceptance 3): newest-frame semantics with a stage slower than the camera."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import cv2
import media
import numpy as np
import pytest
from streams import CELL, MJPEGServer, read_stamp, stamp

from streamdeblur.bench.display import virtual_display
from streamdeblur.cli import main
from streamdeblur.engine.config import load_pipeline
from streamdeblur.engine.pipeline import Pipeline
from streamdeblur.io.frames import Frame
from streamdeblur.io.sources import CameraSource, VideoSource
from streamdeblur.io.sources.base import DecodeStats, LatestFrame
from streamdeblur.stages import Stage, register_stage

SLEEP = 0.2


@register_stage("test_sleep")
class Sleep(Stage):
    """Test stage: slower than a 30 fps camera."""

    @dataclass
    class Options:
        seconds: float = SLEEP

    def __call__(self, batch):
        time.sleep(self.options.seconds)
        return batch


class Recorder:
    """Sink test double: what was shown, and what was newest at that moment."""

    def __init__(self, server):
        self.server, self.rows, self.frames_written = server, [], 0

    def write(self, frame):
        self.rows.append((read_stamp(frame.image), self.server.current))
        self.frames_written += 1

    def close(self, complete=True):
        return None


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("source_kind", ["pyav", "opencv"])
def test_live_source_never_lags_more_than_one_batch(batch, source_kind):
    server = MJPEGServer(fps=30, max_seconds=30)
    try:
        source = VideoSource(server.url) if source_kind == "pyav" else CameraSource(server.url)
        assert source.info.live
        rec = Recorder(server)
        pipe = Pipeline(source, [Sleep()], rec, batch=batch)
        t0 = time.monotonic()
        result = pipe.run(on_progress=lambda p: pipe.request_stop() if time.monotonic() - t0 > 4 else None)
    finally:
        server.close()
    assert result.error is None
    assert len(rec.rows) >= 6
    # one batch takes SLEEP seconds: at 30 fps that many frames arrive meanwhile; allow transport jitter
    bound = math.ceil(30 * SLEEP) + batch + 4
    lags = [newest - seq for seq, newest in rec.rows]
    assert max(lags) <= bound, lags
    seqs = [seq for seq, _ in rec.rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # in order, never duplicated
    assert result.progress.dropped > 0  # the stage is slower than the camera: drops are counted


def test_webcam_command_records_a_stream(tmp_path):
    server = MJPEGServer(fps=30, max_seconds=30)
    out = tmp_path / "rec.mp4"
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages:\n  - unsharp\n")
    try:
        code = main(
            ["webcam", "--camera", server.url, "--no-preview", "-o", str(out), "--pipeline", str(yaml), "--duration", "3"]
        )
    finally:
        server.close()
    assert code == 0
    n = media.count_frames(out)
    assert n >= 20
    times = [float(t) for t in media.frame_times(out)]
    assert times == sorted(times) and 2.0 <= times[-1] - times[0] <= 4.0  # capture-time stamps: real time


@pytest.mark.parametrize("ext", [".mp4", ".mov", ".mkv"])
def test_a_slow_cameras_recording_with_b_frames_starts_at_its_first_frame(tmp_path, ext):
    """x264's B-frames made the fragmented muxer delay every timestamp by two *delivered* frame
    intervals; the regular file copied from it kept the delay: a 5 fps camera's recording showed
    nothing for its first 0.37 s (an empty edit) and said 3.54 s for a 3 s session (2 s at 1 fps).
    A Matroska recording declared OpenCV's guess for any MJPEG-over-HTTP camera, 25 fps, and its last
    frame lasted 40 ms: the camera's rate is measured as its frames come."""
    server = MJPEGServer(fps=5, max_seconds=30)
    out = tmp_path / f"rec{ext}"
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages:\n  - unsharp\noutput:\n  preset: medium\n")  # medium: B-frames
    try:
        args = ["-q", "webcam", "--camera", server.url, "--no-preview", "-o", str(out), "--pipeline", str(yaml)]
        assert main([*args, "--duration", "3"]) == 0
    finally:
        server.close()
    times = [float(t) for t in media.frame_times(out)]
    assert len(times) >= 8 and times[0] == 0.0, times[:3]
    probe = media.probe(out)
    duration = float(probe["format"]["duration"])
    assert times[-1] + 0.1 < duration < times[-1] + 0.3, (duration, times[-1])  # the last frame: one interval
    assert probe["streams"][0]["r_frame_rate"] == "5/1", probe["streams"][0]["r_frame_rate"]


@functools.lru_cache(maxsize=64)
def _scene(phase: int, w: int, h: int, blurred: bool) -> np.ndarray:
    rng = np.random.default_rng(11)
    tex = cv2.GaussianBlur(rng.random((h + 40, w + 40)).astype(np.float32), (0, 0), 1.2)
    tex = np.clip((tex - tex.mean()) / tex.std() * 0.22 + 0.5, 0, 1)
    world = np.stack([tex, 0.7 * tex + 0.15, 1 - 0.8 * tex], -1)
    dx, dy = 20 + 8 * np.sin(phase * 0.9), 20 + 8 * np.cos(phase * 0.6)
    img = cv2.warpAffine(world, np.float32([[1, 0, -dx], [0, 1, -dy]]), (w, h), flags=cv2.INTER_CUBIC)
    if blurred and phase % 12 >= 6:
        k = np.zeros((13, 13), np.float32)
        if phase % 2:
            k[6, :] = 1 / 13
        else:
            k[:, 6] = 1 / 13
        img = cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def shaken(seq: int, w: int, h: int, blurred: bool = True) -> np.ndarray:
    """A shaken still scene (fine colour texture) whose top row carries ``seq`` (:func:`streams.stamp`);
    in every 12 frames the last 6 are a burst of shake (a 13-px line blur, horizontal or vertical).
    The shake repeats every 48 frames (rendered once: the camera thread must keep its pace)."""
    img = _scene(seq % 48, w, h, blurred).copy()
    img[:CELL] = stamp(seq, w, h)[:CELL]
    return img


def _record(tmp_path, name: str, pipeline: list[str]) -> list[tuple[int, float, float]]:
    """6 s of the shaken camera through ``webcam``: per recorded frame its stamp, the PSNR of the camera's
    own (JPEG) frame and of the recorded one against the sharp scene (below the stamp row)."""
    w, h = 640, 360
    server = MJPEGServer(fps=30, size=(w, h), max_seconds=30, content=shaken)
    out = tmp_path / f"{name}.mp4"
    try:
        args = ["webcam", "--camera", server.url, "--no-preview", "-o", str(out), "--duration", "6", "--crf", "14"]
        code = main([*args, *pipeline])
    finally:
        server.close()
    assert code == 0

    def psnr(a: np.ndarray, b: np.ndarray) -> float:
        err = np.mean((a[CELL + 8 : -8, 8:-8].astype(np.float64) - b[CELL + 8 : -8, 8:-8]) ** 2)
        return float(10 * np.log10(255**2 / err))

    rows = []
    for f in media.ffmpeg_rgb(out, "bt709", every_frame=True):
        seq = read_stamp(f)
        ref = shaken(seq, w, h, blurred=False)
        _, jpg = cv2.imencode(".jpg", shaken(seq, w, h)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        cam = cv2.imdecode(jpg, cv2.IMREAD_COLOR)[..., ::-1]
        rows.append((seq, psnr(cam, ref), psnr(f, ref)))
    return rows


def test_shipped_webcam_pipeline_sharpens_bursts_and_leaves_sharp_frames(tmp_path):
    # the default live pipeline on a real paced stream of a shaken scene: every recorded frame is a
    # camera frame (its stamp reads back, in order, so the memory's older frame left no stamp of its
    # own in it); frames in a burst of shake come out sharper, sharp ones as the identity records them
    # the identity records with the webcam pipeline's own encoder settings, so both sides of the
    # comparison pay the same codec (the identity at preset medium: +0.40 dB over the camera frame, at
    # veryfast, as webcam.yaml records: -0.06; the bar below used to compare against the first)
    yaml = tmp_path / "identity.yaml"
    yaml.write_text(f"batch: 1\nstages:\n  - identity\noutput:\n  preset: {load_pipeline('webcam').output.preset}\n")
    same = _record(tmp_path, "identity", ["--pipeline", str(yaml)])
    shipped = _record(tmp_path, "webcam", [])
    assert len(shipped) >= 4  # the frame count depends on the machine's load (13-20 here when idle, 5 under a parallel job)
    seqs = [s for s, _, _ in shipped]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    chain = np.mean([out - cam for s, cam, out in same if s % 12 < 6])  # what MJPEG → x264 does to a sharp frame
    sharp = [out - cam for s, cam, out in shipped if s % 12 < 6]
    burst = [out - cam for s, cam, out in shipped if s % 12 >= 8]  # the burst's third frame on
    assert sharp and burst, seqs
    # which camera frames are recorded depends on the machine's pace; a sharp frame now and then comes
    # out up to ~0.5 dB below the identity's (fresh-clone runs of 2026-12-04: −0.52 once), most within 0.1
    assert np.median(sharp) > chain - 0.2 and min(sharp) > chain - 1.0, (sharp, chain)
    # measured on a 2-core Xeon: +4.55 dB over the camera frame (chain +0.47) in one run; five runs of
    # 2026-12-04 gave means of +3.1 to +4.6, single burst frames from −0.4 to +5.3 (which frames the
    # memory can help depends on which ones the pace lets through). The file before this pipeline
    # (fusion at 256 px, correction upscaled, plain gates) gave +2.61 in one run: this bar no longer
    # separates them reliably; it asks for a clear gain on every run
    assert np.mean(burst) > chain + 2.0, (burst, chain)


@contextlib.contextmanager
def xvfb(size: tuple[int, int] = (640, 480)):
    """A virtual X display (:func:`~streamdeblur.bench.display.virtual_display`); fails the test without Xvfb."""
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is needed for the preview test: make system-deps (apt-get install xvfb)")
    with virtual_display(size) as display:
        yield display


def screenshot(display: str, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """The whole screen as RGB, grabbed by ffmpeg's x11grab (no extra package).

    A refused connection is tried again (at most twice): Xvfb refuses about one new client in 200
    while other clients come and go (``xdpyinfo`` beside x11grab screenshots; the preview sink's own
    window process meets the same, :class:`~streamdeblur.io.sinks.preview.PreviewSink`)."""
    for _ in range(3):
        grab = ["-f", "x11grab", "-draw_mouse", "0", "-video_size", f"{size[0]}x{size[1]}", "-i", display]
        proc = subprocess.run(
            [media.FFMPEG, "-v", "error", *grab, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
            capture_output=True,
            timeout=60,
        )
        if proc.returncode == 0 or b"Cannot open display" not in proc.stderr:
            break
    assert proc.returncode == 0, proc.stderr
    return np.frombuffer(proc.stdout, np.uint8).reshape(size[1], size[0], 3)


def find_stamped_frame(shot: np.ndarray, size: tuple[int, int] = (320, 240)) -> int | None:
    """The sequence number of a camera frame (:func:`streams.stamp`) shown on screen, or None.

    The stamp's picture has blue 90 everywhere but its bit cells: its bounding box is the shown
    frame; scaled back to the stamp's size, its cells read the number."""
    mask = np.abs(shot[..., 2].astype(int) - 90) <= 12
    if mask.sum() < 0.25 * size[0] * size[1]:  # nothing frame-like (a blank screen is black)
        return None
    ys, xs = np.nonzero(mask)
    crop = shot[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    if mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].mean() < 0.8:
        return None
    return read_stamp(cv2.resize(crop, size, interpolation=cv2.INTER_AREA))


def watch_preview(display: str, cmd: list[str], server, done) -> tuple[np.ndarray | None, subprocess.Popen, str]:
    """Run ``cmd`` on ``display`` and screenshot it until ``done(shot)`` (≤ 120 s); then SIGINT it.

    Started once: a window that Qt never shows (the flake of 2026-12-03 to 12-05, one start in
    twelve under load: Qt missed its window's MapNotify/Expose) is the preview sink's to notice
    and replace (:class:`~streamdeblur.io.sinks.preview.PreviewSink`), not this helper's.

    Returns:
        The first screenshot ``done`` accepted (None if none did), the process and its stderr.
    """
    shot = None
    proc = subprocess.Popen(cmd, env={**os.environ, "DISPLAY": display}, stderr=subprocess.PIPE, text=True)
    try:
        start = time.monotonic()
        while shot is None and proc.poll() is None and time.monotonic() - start < 120:
            s = screenshot(display)
            shot = s if done(s) else None
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        server.close()
        if proc.poll() is None:
            proc.kill()
    return shot, proc, stderr


def preview_on_xvfb(tmp_path, args: list[str], done, empty_first: bool = False):
    """A camera stream and ``streamdeblur webcam --preview`` (identity pipeline, ``args`` added) on a
    fresh Xvfb, watched by :func:`watch_preview`; returns the shot, process, stderr and server.

    Once more on a new display only when the preview itself says it gave up: on one CI run (2026-12-05)
    all ten window processes on one display stayed black, a display-wide state not reproduced here
    (125 of 125 runs of these tests under load passed); the product's report of it is what is kept,
    and a second display must show the window."""
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\npreview: true\nstages:\n  - identity\n")
    for _ in range(2):
        server = MJPEGServer(fps=30, max_seconds=120)
        cmd = [sys.executable, "-m", "streamdeblur", "webcam", "--camera", server.url, "--preview", "--pipeline", str(yaml)]
        with xvfb() as display:
            if empty_first:
                assert find_stamped_frame(screenshot(display)) is None  # the test can fail: an empty screen has no frame
            shot, proc, stderr = watch_preview(display, cmd + args, server, done)
        if shot is not None or "preview window: gave up" not in stderr:
            break
    return shot, proc, stderr, server


def test_preview_window_shows_the_camera_frames_under_xvfb(tmp_path):
    shot, proc, stderr, server = preview_on_xvfb(
        tmp_path, ["--duration", "90"], lambda s: find_stamped_frame(s) is not None, empty_first=True
    )
    seen = None if shot is None else find_stamped_frame(shot)
    assert seen is not None, f"no camera frame appeared in the preview window; stderr: {stderr}"
    assert 0 <= seen <= server.current  # a real frame of the stream, read back from the screen
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr


def overlay_pixels(shot: np.ndarray) -> tuple[float, int]:
    """In the shown camera frame's bottom-left quarter: the share of darkened pixels (the overlay's
    box turns the stamp picture's blue 90 to ~27) and the count of white text pixels."""
    mask = np.abs(shot[..., 2].astype(int) - 90) <= 12
    ys, xs = np.nonzero(mask)
    frame = shot[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(int)
    h, w = frame.shape[:2]
    corner = frame[h - h // 6 :, : w // 2]
    dark = float((corner[..., 2] < 50).mean())
    white = int((corner.min(-1) > 200).sum())
    return dark, white


@pytest.mark.parametrize("overlay", [True, False])
def test_preview_overlay_shows_the_live_numbers_under_xvfb(tmp_path, overlay):
    args = ["--duration", "90"] + ([] if overlay else ["--no-overlay"])
    # a frame is shown; the overlay's numbers need a few frames, so wait for its text too
    shot, proc, stderr, _ = preview_on_xvfb(
        tmp_path, args, lambda s: find_stamped_frame(s) is not None and (not overlay or overlay_pixels(s)[1] > 0)
    )
    assert shot is not None, f"no camera frame appeared in the preview window; stderr: {stderr}"
    dark, white = overlay_pixels(shot)
    if overlay:
        assert dark > 0.2 and white > 50, (dark, white)  # a dark box with text in the corner
    else:
        assert dark < 0.01 and white == 0, (dark, white)
    assert "o shows or hides the overlay" in stderr


def close_window(display: str, title: str) -> int:
    """Press the close button of the top-level window named ``title`` on ``display``: send it the
    ``WM_DELETE_WINDOW`` message a window manager sends (Xlib through ctypes); the windows found."""
    import ctypes

    x11 = ctypes.CDLL("libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultRootWindow.restype = ctypes.c_ulong
    x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    win_p = ctypes.POINTER(ctypes.c_ulong)
    uint_p = ctypes.POINTER(ctypes.c_uint)
    x11.XQueryTree.argtypes = [ctypes.c_void_p, ctypes.c_ulong, win_p, win_p, ctypes.POINTER(win_p), uint_p]
    x11.XFetchName.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_char_p)]

    class ClientMessage(ctypes.Structure):
        _fields_ = [
            ("type", ctypes.c_int),
            ("serial", ctypes.c_ulong),
            ("send_event", ctypes.c_int),
            ("display", ctypes.c_void_p),
            ("window", ctypes.c_ulong),
            ("message_type", ctypes.c_ulong),
            ("format", ctypes.c_int),
            ("l", ctypes.c_long * 5),
        ]

    class XEvent(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]

    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.POINTER(XEvent)]
    dpy = x11.XOpenDisplay(display.encode())
    assert dpy, f"cannot open {display}"
    root, parent, children, n = ctypes.c_ulong(), ctypes.c_ulong(), win_p(), ctypes.c_uint()
    top = x11.XDefaultRootWindow(dpy)
    x11.XQueryTree(dpy, top, ctypes.byref(root), ctypes.byref(parent), ctypes.byref(children), ctypes.byref(n))
    found = 0
    for i in range(n.value):
        name = ctypes.c_char_p()
        if x11.XFetchName(dpy, children[i], ctypes.byref(name)) and name.value == title.encode():
            ev = XEvent()
            ev.xclient.type, ev.xclient.window, ev.xclient.format = 33, children[i], 32  # ClientMessage
            ev.xclient.message_type = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
            ev.xclient.l[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
            x11.XSendEvent(dpy, children[i], 0, 0, ctypes.byref(ev))
            found += 1
    x11.XFlush(ctypes.c_void_p(dpy))
    x11.XCloseDisplay(ctypes.c_void_p(dpy))
    return found


def test_the_preview_windows_close_button_stops_the_run_and_keeps_the_recording(tmp_path):
    # OpenCV re-creates a window it no longer has at the next imshow: a closed preview came straight
    # back and the run went on (audit 19); the close button now does what q does
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\npreview: true\nstages:\n  - identity\n")
    rec = tmp_path / "rec.mp4"
    server = MJPEGServer(fps=30, max_seconds=120)
    cmd = [sys.executable, "-m", "streamdeblur", "webcam", "--camera", server.url, "--preview", "--pipeline", str(yaml)]
    cmd += ["--duration", "90", "-o", str(rec)]
    with xvfb() as display:
        proc = subprocess.Popen(cmd, env={**os.environ, "DISPLAY": display}, stderr=subprocess.PIPE, text=True)
        try:
            start = time.monotonic()
            while find_stamped_frame(screenshot(display)) is None and proc.poll() is None:
                assert time.monotonic() - start < 120, "no camera frame appeared in the preview window"
            assert close_window(display, "streamdeblur") >= 1
            _, stderr = proc.communicate(timeout=60)  # ends by itself (it ran on for the 90 s before)
            assert find_stamped_frame(screenshot(display)) is None  # and the window did not come back
        finally:
            server.close()
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr
    assert media.count_frames(rec) > 0  # the recording is finished and playable


# A stand-in for the window process, to cause the faults on purpose. Its "Qt" starts (a qt.qpa.xcb
# line); then, by the mode written beside it: "unseen", on its first start it never logs an Expose
# for its window, as the real Qt does when it misses the map events; "abort", its first start cannot
# connect to the display and aborts, as the real one did on CI; "abort-always", every start does.
# It counts the frames it receives in a file of its own.
FAKE_WINDOW = """
import os, sys, pathlib
here = pathlib.Path(sys.argv[0]).parent
mode = (here / "mode.txt").read_text()
log = here / "starts.txt"
start = len(log.read_text().splitlines()) + 1 if log.exists() else 1
log.write_text((log.read_text() if log.exists() else "") + f"{start}\\n")
if mode == "abort-always" or (mode == "abort" and start == 1):
    sys.stderr.write("qt.qpa.xcb: could not connect to display :99\\n")
    sys.stderr.write('qt.qpa.plugin: Could not load the Qt platform plugin "xcb" even though it was found.\\n')
    sys.stderr.flush()
    os.abort()
sys.stderr.write("qt.qpa.xcb: using glib dispatcher\\n")
if start > 1 or mode != "unseen":
    sys.stderr.write("qt.qpa.events: Event | XCB_MAP_NOTIFY(19) | sequence: 464\\n")
    sys.stderr.write("qt.qpa.events: Event | XCB_EXPOSE(12) | sequence: 464\\n")
sys.stderr.write("a warning from the window process\\n")
sys.stderr.flush()
frames = 0
while sys.stdin.buffer.read(16):
    frames += 1  # (the header only: the frame's bytes are read in the next calls and counted as well)
(here / f"frames{start}.txt").write_text(str(frames))
"""


def run_fake_window(tmp_path, monkeypatch, mode: str, until) -> object:
    """A :class:`PreviewSink` whose window process is :data:`FAKE_WINDOW` in ``mode``, fed frames
    until ``until(sink)`` (≤ 60 s), then ten more; closed."""
    from streamdeblur.io.sinks import preview

    script = tmp_path / "window.py"
    script.write_text(FAKE_WINDOW)
    (tmp_path / "mode.txt").write_text(mode)
    monkeypatch.setattr(preview.PreviewSink, "window_script", script)
    monkeypatch.setattr(preview, "EXPOSE_WAIT_S", 0.5)
    monkeypatch.setenv("DISPLAY", ":99")  # never opened: the stand-in shows nothing
    monkeypatch.setattr(preview, "display_problem", lambda: None)  # nor needs an X server to start
    monkeypatch.delenv("QT_LOGGING_RULES", raising=False)
    sink = preview.PreviewSink(title="t")
    frame = Frame(image=np.full((24, 32, 3), 90, np.uint8), index=0, pts=0, time_base=None)
    deadline = time.monotonic() + 60
    while not until(sink) and time.monotonic() < deadline:
        sink.write(frame)
        time.sleep(0.05)
    for _ in range(10):  # a few frames for the last window
        sink.write(frame)
        time.sleep(0.05)
    sink.close()
    return sink


def test_a_window_that_qt_never_shows_is_replaced_by_a_new_window_process(tmp_path, monkeypatch, capfd):
    sink = run_fake_window(tmp_path, monkeypatch, "unseen", lambda sink: sink.starts >= 2)
    assert sink.starts == 2  # the first was replaced; the second, whose window was shown, was kept
    assert (tmp_path / "starts.txt").read_text().split() == ["1", "2"]
    assert int((tmp_path / "frames2.txt").read_text()) > 0  # the new window got frames
    err = capfd.readouterr().err
    assert err.count("preview window: Qt did not show the window; starting it again") == 1
    assert "a warning from the window process" in err  # its other lines reach the user
    assert "qt.qpa.xcb" not in err and "qt.qpa.events" not in err  # Qt's log lines that we turned on do not


def test_a_window_process_that_cannot_reach_the_display_is_started_again(tmp_path, monkeypatch, capfd):
    sink = run_fake_window(tmp_path, monkeypatch, "abort", lambda sink: sink.starts >= 2)
    assert sink.starts == 2 and (tmp_path / "starts.txt").read_text().split() == ["1", "2"]
    assert int((tmp_path / "frames2.txt").read_text()) > 0
    err = capfd.readouterr().err
    # the reason, from Qt's own log line (which is itself not shown), is told once
    want = f"the window process ended (exit code {-signal.SIGABRT}: could not connect to display :99); starting it again"
    assert err.count("preview window: " + want) == 1, err
    assert "qt.qpa.xcb" not in err and "Could not load the Qt platform plugin" in err


def test_a_window_process_that_always_fails_is_given_up_with_one_line(tmp_path, monkeypatch, capfd):
    from streamdeblur.io.sinks import preview

    sink = run_fake_window(tmp_path, monkeypatch, "abort-always", lambda sink: sink._gave_up)
    assert sink.starts == preview.WINDOW_STARTS == len((tmp_path / "starts.txt").read_text().split())
    assert sink.frames_written > 10  # the pipeline's writes went on: the preview never stops a recording
    err = capfd.readouterr().err
    assert err.count("starting it again") == preview.WINDOW_STARTS - 1
    assert err.count(f"preview window: gave up after {preview.WINDOW_STARTS} tries (the window process ended") == 1
    assert "Qt's last lines:\n  qt.qpa.xcb: could not connect to display :99" in err  # Qt's own words, for a bug report


def test_qt_log_lines_the_user_asked_for_are_kept():
    import io

    from streamdeblur.io.sinks.preview import QtLogWatch

    out = io.BytesIO()
    watch = QtLogWatch(out=out, user_rules="qt.qpa.*=true")
    for line in (b"qt.qpa.xcb: Has MIT-SHM: true\n", b"qt.qpa.events: Event | XCB_ENTER_NOTIFY(7)\n"):
        watch.feed(line)
    assert out.getvalue().count(b"qt.qpa.") == 2 and watch.qt_log.is_set() and not watch.exposed.is_set()
    quiet = QtLogWatch(out=io.BytesIO())
    quiet.feed(b"qt.qpa.events: Event | XCB_EXPOSE(12) | sequence: 9\n")
    assert quiet.exposed.is_set() and quiet.out.getvalue() == b""


def test_overlay_key_toggles_and_text_is_drawn_on_a_copy():
    from streamdeblur.io.sinks import preview_window as pw

    state = {"overlay": True}
    assert pw.on_key(ord("o"), state) is False and state["overlay"] is False
    assert pw.on_key(ord("o"), state) is False and state["overlay"] is True
    assert pw.on_key(ord("q"), state) is True and pw.on_key(27, state) is True
    assert pw.on_key(-1, state) is False and state["overlay"] is True  # no key
    img = np.full((240, 320, 3), 90, np.uint8)
    out = pw.draw_overlay(img, ["10.0 fps delivered", "latency 80 ms median, 120 ms p95"])
    assert (img == 90).all()  # the recording's frame is never drawn on
    assert (out != img).any(axis=-1)[-40:, :160].mean() > 0.5 and (out == img).all(axis=-1)[:120].all()


def test_preview_window_opens_at_the_frame_size_capped_to_720p():
    from streamdeblur.io.sinks.preview_window import window_size

    assert window_size(640, 360) == (640, 360) and window_size(320, 240) == (320, 240)
    assert window_size(3840, 2160) == (1280, 720) and window_size(1080, 1920) == (405, 720)  # aspect kept


def test_preview_without_display_is_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run(
        [sys.executable, "-m", "streamdeblur", "webcam", "--camera", "http://127.0.0.1:9/none.mjpg", "--preview"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "error" in lines[0]


def test_first_live_frame_is_taken_after_the_backlog():
    # when the grabber starts, the frames buffered since the stream opened arrive in a burst; the
    # first frame handed out is the burst's last, not its first (which can be half a second old)
    stats = DecodeStats()
    slot = LatestFrame(stats)
    img = np.zeros((4, 4, 3), np.uint8)
    first_put = threading.Event()

    def camera():
        for i in range(15):  # the backlog, decoded back to back
            slot.put(Frame(img, index=i, pts=i, time_base=None))
            first_put.set()
            time.sleep(0.001)
        for i in range(15, 18):  # then the camera's own pace
            time.sleep(0.05)
            slot.put(Frame(img, index=i, pts=i, time_base=None))
        slot.close()

    t = threading.Thread(target=camera)
    t.start()
    first_put.wait(5)
    first = slot.get()
    rest = [f.index for f in iter(slot.get, None)]
    t.join()
    assert first.index >= 14, first.index
    assert rest == sorted(rest) and rest[-1] == 17
    assert stats.dropped >= 13


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_recording_stopped_by_the_user_keeps_its_name_and_an_earlier_partial_stays(tmp_path, signum):
    # Ctrl-C (or a script's SIGTERM) is how a record-only live session ends: it was left as
    # rec.partial.mp4 (exit 130/143), and the next recording to the same -o wrote over that file.
    # SIGHUP (the terminal closed, SSH dropped) killed the process on the spot: a 782-byte partial
    # file without a single frame (x264 still held them), exit 129 and no word.
    from procs import interrupt_after_first_write

    server = MJPEGServer(fps=30, size=(160, 96), max_seconds=120)
    out = tmp_path / "rec.mp4"
    earlier = tmp_path / "rec.partial.mp4"  # what a failed recording (or an older version) left
    earlier.write_bytes(b"footage that exists nowhere else")
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages:\n  - identity\noutput:\n  preset: veryfast\n")
    try:
        args = ["webcam", "--camera", server.url, "--no-preview", "-o", out, "--pipeline", yaml, "--duration", "100"]
        code, err = interrupt_after_first_write(args, signum)
    finally:
        server.close()
    assert code == 128 + signum, err
    assert f"recording complete: {out}" in err, err
    assert media.count_frames(out) >= 1 and float(media.probe(out)["format"]["duration"]) > 0
    assert earlier.read_bytes() == b"footage that exists nowhere else"
    assert sorted(p.name for p in tmp_path.glob("rec*")) == [
        "rec.mp4",
        "rec.partial.mp4",
    ]  # its own temporary file became rec.mp4
    assert ("a second Ctrl-C" in err) == (signum == signal.SIGINT), err


@pytest.mark.parametrize("ext", [".mp4"])  # (.mov goes through the same copy)
def test_an_h265_recording_is_tagged_hvc1_for_apples_players(tmp_path, ext):
    """A recording is written fragmented and copied into a regular file at its end; the copy's stream, made
    from the fragments' as a template, lost its ``hvc1`` tag (``hev1``: QuickTime and iPhones do not play it)."""
    server = MJPEGServer(fps=10, max_seconds=30)
    out = tmp_path / f"rec{ext}"
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages: [identity]\n")
    try:
        args = ["-q", "webcam", "--camera", server.url, "--no-preview", "-o", str(out), "--pipeline", str(yaml)]
        assert main([*args, "--codec", "libx265", "--duration", "1.5"]) == 0
    finally:
        server.close()
    video = next(s for s in media.probe(out)["streams"] if s["codec_type"] == "video")
    assert video["codec_name"] == "hevc" and video["codec_tag_string"] == "hvc1", video["codec_tag_string"]


def test_a_preview_only_session_ends_without_talk_of_outputs_and_an_image_output_is_refused(tmp_path):
    """Watching without recording ended "processed, nothing written: no output file asked for (-o - or /dev/null)",
    neither of which was given; ``-o rec.jpg`` blamed the camera ("input not found: http://…", exit 3)."""
    server = MJPEGServer(fps=10, max_seconds=60)
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages: [identity]\n")
    try:
        with xvfb() as display:
            cmd = [sys.executable, "-m", "streamdeblur", "webcam", "--camera", server.url, "--pipeline", str(yaml)]
            env = {**os.environ, "DISPLAY": display}
            watched = subprocess.run(
                [*cmd, "--preview", "--duration", "1.5"], capture_output=True, text=True, env=env, timeout=120
            )
            image = subprocess.run([*cmd, "-o", str(tmp_path / "rec.jpg")], capture_output=True, text=True, timeout=120)
            stream = subprocess.run(
                [sys.executable, "-m", "streamdeblur", "run", server.url, "-o", str(tmp_path / "frame.png")],
                capture_output=True,
                text=True,
                timeout=120,
            )
            cut = subprocess.run(  # refused, and no word of how to record a few seconds
                [sys.executable, "-m", "streamdeblur", "run", server.url, "-o", str(tmp_path / "rec.mp4"), "--duration", "2"],
                capture_output=True,
                text=True,
                timeout=120,
            )
    finally:
        server.close()
    assert watched.returncode == 0, watched.stderr
    assert "frames in" in watched.stderr and "nothing written" not in watched.stderr and "-o -" not in watched.stderr
    assert image.returncode == 2 and image.stderr.strip() == (
        f"streamdeblur: error: -o {tmp_path / 'rec.jpg'} is one image: a recording is a video, e.g. -o {tmp_path / 'rec.mp4'}"
    ), image.stderr
    assert stream.returncode == 2 and "is a camera or stream: give a video file (-o NAME.mp4)" in stream.stderr, stream.stderr
    assert cut.returncode == 2 and "streamdeblur webcam --camera URL --duration N -o NAME.mp4" in cut.stderr, cut.stderr
    assert not list(tmp_path.glob("rec*")) and not list(tmp_path.glob("frame*"))


def test_a_display_that_goes_away_mid_session_is_one_line_and_the_recording_goes_on(tmp_path):
    """The X server stopped while the preview showed (an Xvfb killed, an SSH session's forwarding closed): the
    window process was started ten more times, each printing Qt's ten-line "could not load the Qt platform
    plugin … Reinstalling the application may fix this problem"."""
    from procs import start_cli

    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is needed for the preview test: make system-deps (apt-get install xvfb)")
    r, w = os.pipe()
    xvfb_proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        pass_fds=(w,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(w)
    with os.fdopen(r) as ready:
        display = f":{ready.readline().strip()}"
    server = MJPEGServer(fps=10, max_seconds=60)
    out = tmp_path / "rec.mp4"
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages: [identity]\n")
    args = ["webcam", "--camera", server.url, "--preview", "-o", out, "--pipeline", yaml, "--duration", "5"]
    proc, stdout, stderr = start_cli(args, ["--announce-writes"], env={**os.environ, "DISPLAY": display})
    try:
        stdout.wait_for(r"^written 20$", timeout=120)  # two seconds shown
        xvfb_proc.terminate()
        xvfb_proc.wait(10)
        proc.wait(timeout=120)
    finally:
        server.close()
        if xvfb_proc.poll() is None:
            xvfb_proc.kill()
        if proc.poll() is None:
            proc.kill()
    err = stderr.rest()
    assert proc.returncode == 0, err
    assert "preview window: the display went away (cannot connect to display" in err, err
    assert "Reinstalling" not in err and "starting it again" not in err, err
    assert media.count_frames(out) >= 35  # the recording went on to its end (20 frames when the display went)


def test_a_cameras_password_is_never_shown(tmp_path, capsys):
    """A camera's address with its password (rtsp://admin:PASSWORD@…) was said in full in every progress line,
    warning and error, which users paste into bug reports."""
    server = MJPEGServer(fps=10, max_seconds=30)
    url = server.url.replace("http://", "http://admin:hunter2@")
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages: [identity]\n")
    try:
        args = ["webcam", "--camera", url, "--no-preview", "-o", str(tmp_path / "rec.mp4"), "--pipeline", str(yaml)]
        assert main([*args, "--duration", "1"]) == 0
    finally:
        server.close()
    assert main(["run", "rtsp://admin:hunter2@127.0.0.1:9/live", "-o", str(tmp_path / "x.mp4")]) == 3
    err = capsys.readouterr().err
    assert "hunter2" not in err and "http://admin:***@127.0.0.1" in err and "rtsp://admin:***@127.0.0.1:9/live" in err, err
