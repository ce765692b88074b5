"""The progress line says what the source repaired and how often a live stream came back."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import media
import pytest

from streamdeblur.cli.progress import final_line, progress_line
from streamdeblur.engine.pipeline import Progress
from streamdeblur.stages import Stage, register_stage


def test_progress_line_reports_repaired_timestamps_and_reconnects():
    p = Progress(done=10, total=20, elapsed=2.0, fps=5.0, repaired=3, reconnects=2, live=True, dropped=1)
    line = progress_line(p)
    assert "repaired-pts 3" in line and "reconnects 2" in line and "dropped 1" in line
    quiet = progress_line(Progress(done=10, total=20, elapsed=2.0, fps=5.0))
    assert "repaired" not in quiet and "reconnects" not in quiet


def test_the_eta_follows_the_recent_rate_not_the_average_since_the_start():
    # At 13 % of a run the average since the start said 2:31 to go; the machine got busier and it took
    # 5:48 (audit 10). The rate of the last 30 s is what the rest of the run will most likely go at.
    from collections import deque

    from streamdeblur.engine.pipeline import Progress, recent_rate

    written = deque((float(t), 10 * t) for t in range(1, 31))  # 10 fps for 30 s
    written += deque((30.0 + 2 * k, 300 + k) for k in range(1, 31))  # then 0.5 fps for 60 s
    rate = recent_rate(written, now=90.0, done=330)
    assert rate == pytest.approx(0.5, rel=0.05)
    p = Progress(done=330, total=400, elapsed=90.0, fps=330 / 90, recent_fps=rate)
    assert p.eta == pytest.approx(140, rel=0.05)  # not 70 / 3.67 = 19 s
    assert recent_rate(deque([(0.0, 1), (5.0, 50)]), now=10.0, done=60) is None  # too little seen: the average
    assert Progress(done=50, total=100, elapsed=10.0, fps=5.0).eta == pytest.approx(10.0)


def test_the_eta_leaves_the_start_up_out():
    # With the motion pipeline's look-ahead the first frame came out after 12 s: "1/36 frames, ETA 11:43"
    # where 51 s were left (audit 15). The rate counts from the first frame written; until a second
    # write there is no rate to give.
    first_only = Progress(done=1, total=36, elapsed=20.0, fps=0.05, steady_fps=0.0)
    assert first_only.eta is None and "ETA --:--" in progress_line(first_only)
    later = Progress(done=9, total=36, elapsed=30.0, fps=0.3, steady_fps=0.8)
    assert later.eta == pytest.approx(27 / 0.8)  # not 27 / 0.3
    assert Progress(done=9, total=36, elapsed=30.0, fps=0.3, steady_fps=0.8, recent_fps=0.5).eta == pytest.approx(54)


def test_a_live_sessions_final_rate_leaves_the_time_without_the_camera_out_beside_the_average():
    # "137 frames in 00:12 (11.33 fps)" for a camera delivered at ~27 fps, gone for half the session (audit 25)
    lost = Progress(done=137, elapsed=12.1, fps=137 / 12.1, live=True, offline=7.0, reconnects=3)
    assert final_line(lost).startswith("137 frames in 00:12 (11.32 fps; 26.86 fps in the 00:05 the camera was there)")
    assert "camera was there" not in final_line(Progress(done=300, elapsed=10.0, fps=30.0, live=True, offline=0.2))
    assert "camera was there" not in final_line(Progress(done=300, elapsed=10.0, fps=30.0, offline=5.0))  # a file


def test_frames_slower_than_the_rate_window_keep_a_rate_and_an_eta():
    # a 4K clip through the defocus model on 2 cores: 2.4 min a frame. The line said "0.00 fps  ETA --:--"
    # for the whole 7-minute run (audit 29): the rate window held no write but its reference, rate 0
    from collections import deque

    from streamdeblur.cli.progress import speed
    from streamdeblur.engine.pipeline import recent_rate

    written = deque([(105.0, 1), (250.0, 2)])  # frames written at 105 s and 250 s; now 300 s
    rate = recent_rate(written, now=300.0, done=2)
    assert rate == pytest.approx(1 / 145) and len(written) == 2
    # while the next frame is worked on the rate holds (it fell, and the ETA counted up: audit 31)
    assert recent_rate(written, now=390.0, done=2) == pytest.approx(1 / 145)
    assert recent_rate(written, now=450.0, done=2) == pytest.approx(1 / 145)
    p = Progress(done=2, total=3, elapsed=300.0, fps=2 / 300, recent_fps=rate, steady_fps=1 / 145)
    assert p.eta == pytest.approx(145) and "ETA 02:25" in progress_line(p)
    # the ETA runs down from the last write; a frame that takes longer than that: not known, not growing
    assert replace(p, since_write=45.0).eta == pytest.approx(100)
    assert replace(p, since_write=200.0).eta is None and "ETA --:--" in progress_line(replace(p, since_write=200.0))
    # every frame written: nothing left (it said "ETA -1:55", the time since the last write taken off 0)
    assert replace(p, done=3, since_write=5.0).eta == 0 and "ETA 00:00" in progress_line(replace(p, done=3, since_write=5.0))
    assert "0.01 fps, 150 s/frame" in progress_line(p) and "(0.01 fps, 150 s/frame)" in final_line(p)
    assert speed(12.5) == "12.50 fps" and speed(0.0) == "0.00 fps"


@register_stage("test_slow_frames")
class SlowFrames(Stage):
    """Test stage: a tenth of a second per batch, so that a short run is seen while it runs."""

    @dataclass
    class Options:
        seconds: float = 0.1

    def __call__(self, batch):
        time.sleep(self.options.seconds)
        return batch


def test_the_eta_does_not_grow_while_the_last_frames_go_through_the_windows_and_the_model():
    # 16 of 24 frames written at 13 s a frame, then nothing while the fusion windows' last 8 frames went
    # through the model: the ETA climbed 00:28 → 03:16 → 07:17 → 15:18 → 19:19 and the run ended a minute
    # later (audit 34). It runs down from the last write.
    from collections import deque

    from streamdeblur.engine.pipeline import recent_rate

    written = deque((13.0 * k, k) for k in range(1, 17))  # a frame every 13 s, the last at 208 s
    etas = []
    for now in (210.0, 240.0, 270.0, 300.0):
        rate = recent_rate(written, now=now, done=16)
        steady = 15 / (now - 13)
        p = Progress(done=16, total=24, elapsed=now, fps=16 / now, recent_fps=rate, steady_fps=steady, since_write=now - 208)
        etas.append(p.eta)
    assert etas[0] == pytest.approx(8 * 13 - 2, abs=1)
    assert etas == sorted(etas, reverse=True) and etas[-1] == pytest.approx(8 * 13 - 92, abs=1)


def test_a_long_single_run_is_told_once_that_segments_make_it_resumable(tmp_path, capsys, monkeypatch):
    # A single run into an MP4 that a kill ends (the out-of-memory killer, a reboot) leaves nothing that
    # plays: hours of work lost. A run that will clearly take long says once how to make it resumable.
    # (Scaled down here: "long" is over 0.8 s left after 0.5 s instead of 30 min after a minute.)
    from streamdeblur.cli import main, progress

    monkeypatch.setattr(progress, "LONG_RUN_S", 0.8)
    monkeypatch.setattr(progress, "LONG_RUN_AFTER_S", 0.5)
    src = media.write_video(tmp_path / "clip.mp4", frames=16, size=(64, 48))
    yaml = tmp_path / "slow.yaml"
    yaml.write_text("batch: 1\nstages:\n  - test_slow_frames\noutput:\n  preset: ultrafast\n")
    hint = "--segments N (or --segment-seconds S) makes it resumable"

    assert main(["run", str(src), "-o", str(tmp_path / "a.mp4"), "--pipeline", str(yaml)]) == 0
    said = capsys.readouterr().err
    assert said.count(hint) == 1, said
    assert "warning: clip.mp4: about 00:0" in said  # with the time left

    # a segmented run is resumable already; an image folder keeps every finished image
    for extra in (["-o", str(tmp_path / "b.mp4"), "--segments", "2"], ["-o", str(tmp_path / "frames/")]):
        assert main(["run", str(src), *extra, "--pipeline", str(yaml)]) == 0
        said = capsys.readouterr().err
        assert hint not in said, said
    assert media.count_frames(tmp_path / "b.mp4") == 16 and len(list((tmp_path / "frames").iterdir())) == 16
