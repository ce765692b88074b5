"""A video file on a web server is a file, not a camera: every frame, its timestamps, its audio and tags."""

from __future__ import annotations

import functools
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import media
import pytest

from streamdeblur.cli import main


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request lines in the test output
        pass


@pytest.fixture
def web_folder(tmp_path):
    """``tmp_path/www`` served on 127.0.0.1 (plain http.server: no range requests, so the MP4 is faststart)."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_video_file_over_http_is_read_whole_with_its_audio_and_tags(
    tmp_path, web_folder, identity_yaml, capsys, require_ffmpeg
):  # noqa: E501
    root, base = web_folder
    clip = media.write_video(tmp_path / "clip.mp4", frames=24, size=(96, 64), audio=True)
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-i", str(clip), "-c", "copy", "-metadata", "title=Harbour"]
        + ["-movflags", "faststart", str(root / "clip.mp4")],
        check=True,
    )
    out = tmp_path / "out.mp4"
    assert main(["run", f"{base}/clip.mp4", "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    err = capsys.readouterr().err
    assert "dropped" not in err and "live" not in err, err
    assert media.frame_times(out) == media.frame_times(root / "clip.mp4")  # all 24, each at its own time
    assert media.audio_duration(out) == pytest.approx(media.audio_duration(root / "clip.mp4"), abs=0.05)
    assert media.probe(out)["format"]["tags"]["title"] == "Harbour"
