"""The first live timestamp is right (issue 18): frames a camera buffered while the model loaded are
not stamped with the time they were read; recorded gaps match the time that passed."""

from __future__ import annotations

import time

from streams import MJPEGServer, read_stamp

from streamdeblur.io.sources import CameraSource


def test_recorded_gaps_match_the_cameras_own_clock_from_the_first_frame():
    server = MJPEGServer(fps=30, max_seconds=30)
    rows = []
    try:
        cam = CameraSource(server.url)
        time.sleep(1.5)  # the condition under test: the model loads between opening and grabbing
        for f in cam.frames():
            rows.append((f.pts * float(f.time_base), read_stamp(f.image) / 30))  # (our stamp, the server's clock)
            time.sleep(0.2)  # a consumer at 5 fps (the model)
            if len(rows) == 6:
                break
        cam.close()
    finally:
        server.close()
    (p0, s0), rest = rows[0], rows[1:]
    errors = [abs((p - p0) - (s - s0)) for p, s in rest]
    assert max(errors) < 0.1, rows  # main: the first gap was off by the loading time (1.6 s measured)


def test_a_camera_that_is_not_there_is_one_line_without_opencvs_warnings(capfd, tmp_path):
    # `webcam --camera 0` on a machine without that camera printed a dozen lines of OpenCV warnings
    # (V4L2, FFmpeg, Orbbec backends) before the one-line error
    import os
    import subprocess
    import sys

    from streamdeblur.io.sources.camera import _capture

    index = next(i for i in range(9, 64) if not os.path.exists(f"/dev/video{i}"))
    assert not _capture(index).isOpened()
    assert capfd.readouterr().err == ""
    cmd = [sys.executable, "-m", "streamdeblur", "webcam", "--camera", str(index), "--duration", "1"]
    cmd += ["-o", str(tmp_path / "rec.mp4")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [f"streamdeblur: error: camera not found: {index} (there is no /dev/video{index})"]
