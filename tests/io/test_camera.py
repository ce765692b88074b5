"""Camera URLs that cannot be opened: the reason, found the way a browser would (io/sources/camera.py)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
from streams import SilentServer, free_port

from streamdeblur.cli import main
from streamdeblur.io.sources.camera import serves_one_picture, why_unreachable

#: a camera's snapshot address answers each request with one JPEG
SNAPSHOT = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))[1].tobytes()


class _Pages(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path == "/login":
            body, status, ctype = b"<html>log in</html>", 200, "text/html; charset=utf-8"
        elif self.path == "/stream.mjpg":
            body, status, ctype = b"", 200, "multipart/x-mixed-replace; boundary=frame"
        elif self.path == "/snapshot.jpg":
            body, status, ctype = SNAPSHOT, 200, "image/jpeg"
        else:
            body, status, ctype = b"nope", 404, "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def pages():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_why_a_camera_url_cannot_be_opened(pages):
    port = free_port()
    refused = f"127.0.0.1:{port} refused the connection (nothing is listening there)"
    assert why_unreachable(f"http://127.0.0.1:{port}/x") == refused
    assert why_unreachable(f"tcp://127.0.0.1:{port}") == refused
    assert why_unreachable(f"{pages}/cam.mjpg") == "the server answered HTTP 404 Not Found"
    assert why_unreachable(f"{pages}/login") == "the server sent text/html, not a video stream"
    assert why_unreachable(f"{pages}/stream.mjpg") is None  # reachable and a stream: FFmpeg's to judge
    assert why_unreachable("htp://127.0.0.1/cam").startswith("unknown scheme 'htp'")
    assert why_unreachable("tcp://127.0.0.1") == "no port in tcp://127.0.0.1 (tcp:// needs one)"
    silent = SilentServer()
    try:
        said = why_unreachable(silent.url, timeout=0.3)
        assert said == f"127.0.0.1:{silent.port} accepted the connection but sent nothing within 0.3 s"
        # after OpenCV's own 10 s on the same URL, the whole wait is said (it read "within 3 s" after 13)
        assert why_unreachable(silent.url, timeout=0.3, waited=10.0).endswith("sent nothing within 10.3 s")
    finally:
        silent.close()


def test_a_camera_url_that_cannot_be_opened_is_one_line_with_its_reason(pages, tmp_path, capsys):
    # every failure read "cannot open camera URL": a wrong path looked like a camera that is off
    code = main(["webcam", "--camera", f"{pages}/cam.mjpg", "--no-preview", "-o", str(tmp_path / "r.mp4")])
    err = capsys.readouterr().err
    assert code == 3
    why = "the server answered HTTP 404 Not Found"
    assert err.strip().splitlines() == [f"streamdeblur: error: cannot open camera {pages}/cam.mjpg: {why}"]
    assert not list(tmp_path.iterdir())


def test_a_video_file_given_as_a_camera_is_pointed_to_run(tmp_path, capsys):
    """``webcam --camera clip.mp4`` read the file as fast as it decoded, then took its end for a lost
    camera, reopened it five times and exited 3 ("no reconnection worked")."""
    import media

    clip = media.write_video(tmp_path / "clip.mp4", frames=3, size=(64, 48))
    assert main(["webcam", "--camera", str(clip), "-o", str(tmp_path / "rec.mp4"), "--duration", "2"]) == 3
    err = capsys.readouterr().err
    assert f"{clip} is a video file, not a camera: `streamdeblur run {clip}`" in err
    assert "reconnect" not in err and not (tmp_path / "rec.mp4").exists()


def test_a_snapshot_address_is_said_to_be_one_not_a_lost_camera(pages, tmp_path, capsys):
    """A camera's snapshot address (one JPEG per request) given as the camera: OpenCV read each answer as a
    one-frame stream, so the session saw a camera lost after every frame, reconnected five times and
    ended in "lost before the end and no reconnection worked" (audit 23)."""
    assert serves_one_picture(f"{pages}/snapshot.jpg")
    assert not serves_one_picture(f"{pages}/stream.mjpg") and not serves_one_picture(f"{pages}/login")
    assert not serves_one_picture(f"http://127.0.0.1:{free_port()}/snapshot.jpg")  # nothing listening: no answer
    yaml = tmp_path / "live.yaml"
    yaml.write_text("batch: 1\nstages: [identity]\n")
    url = f"{pages}/snapshot.jpg"
    code = main(["webcam", "--camera", url, "--no-preview", "--pipeline", str(yaml), "-o", str(tmp_path / "r.mp4")])
    err = capsys.readouterr().err
    assert code == 3, err
    assert f"error: {url} serves one picture per request (a snapshot), not a video stream" in err, err
    assert "reconnect" not in err and "no reconnection worked" not in err
