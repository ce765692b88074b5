"""Bad usage at the command line: one line on stderr, exit 2, nothing written."""

from __future__ import annotations

import media
import pytest

from streamdeblur.cli import main


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_unknown_benchmark_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "--what", "nonsense"])
    assert e.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "invalid choice: 'nonsense'" in line and "throughput" in line


def test_unknown_feather_is_one_line_and_exit_2(tmp_path, capsys):
    clip = media.write_video(tmp_path / "in.mp4", frames=3, size=(64, 48))
    yaml = tmp_path / "p.yaml"
    yaml.write_text("stages:\n  - deblur:\n      model: deeprftv2-t\n      weights: none\n      feather: cosine\n")
    out = tmp_path / "out.mp4"
    assert main(["run", str(clip), "-o", str(out), "--pipeline", str(yaml)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "unknown feather 'cosine'; allowed: linear, gaussian" in line
    assert not out.exists() and not list(tmp_path.glob("out.partial*"))


def test_unknown_executor_is_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", str(tmp_path / "x.mp4"), "-o", str(tmp_path / "y.mp4"), "--executor", "slurm"])
    assert e.value.code == 2
    assert "invalid choice: 'slurm'" in _one_error_line(capsys.readouterr().err)


def test_info_lists_executors_and_benchmarks(capsys):
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    executors = next(line for line in text.splitlines() if "executors" in line)
    assert "local" in executors and "ray" in executors
    benches = next(line for line in text.splitlines() if "benchmarks" in line)
    assert all(name in benches for name in ("throughput", "scan", "bf16", "memory"))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--segments", "-1"], "--segments must be 1…100000, got -1"),
        (["--segment-seconds", "0"], "--segment-seconds must be at least 1, got 0"),
        (["--segments", "2", "--segment-seconds", "3"], "give --segments or --segment-seconds, not both"),
        (["--segments", "2", "-o", "frames/"], "segments and Ray cut a video file into a video file"),
    ],
)
def test_segment_flags_are_checked_before_any_work(tmp_path, identity_yaml, capsys, extra, message):
    # accepted silently before; an image-folder output ran every segment, then failed at the join
    src = media.write_video(tmp_path / "in.mp4", frames=3, size=(64, 48))
    argv = ["run", str(src), "--pipeline", str(identity_yaml), *extra]
    if "-o" not in extra:
        argv += ["-o", str(tmp_path / "out.mp4")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.glob("*.segments"))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--size", "10"], "--size must be WxH in pixels, e.g. 640x360, got '10'"),
        (["--size", "0x0"], "--size must be WxH in pixels"),
        (["--frames", "0"], "--frames must be at least 1, got 0"),
        (["--rounds", "0"], "--rounds must be at least 1, got 0"),
        (["--tile", "7"], "--tile must be 0 (whole frames when they fit) or 64…8192, got 7"),
        (["--threads", "-1"], "--threads must be 0 (leave as is) or 1…1024, got -1"),
    ],
)
def test_bench_numbers_are_checked_like_runs(capsys, extra, message):
    # raw Python errors before ("not enough values to unpack", "no median for empty data"), or a
    # benchmark that ran with 7-px tiles
    assert main(["bench", "--what", "throughput", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"streamdeblur: error: {message}" or (len(err.splitlines()) == 1 and message in err), err


def test_progress_interval_is_seconds_zero_or_more(capsys):
    # -5 ran as 0 (a line every quarter second) and nan turned progress off (audit 27)
    for bad in ("-5", "nan", "inf"):
        with pytest.raises(SystemExit) as e:  # argparse's own usage error
            main(["run", "in.mp4", "--progress-interval", bad])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert f"argument --progress-interval: seconds expected (0 or more), got '{bad}'" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--duration", "0"], "--duration must be at least 0.001, got 0"),
        (["--reconnect", "-3"], "--reconnect must be 0…1000, got -3"),
    ],
)
def test_webcam_numbers_are_checked_before_the_camera_opens(tmp_path, capsys, extra, message):
    # --duration 0 recorded 8 frames and exited 0; --reconnect -3 was taken
    argv = ["webcam", "--camera", "http://127.0.0.1:9/none.mjpg", "-o", str(tmp_path / "r.mp4"), *extra]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == f"streamdeblur: error: {message}"


@pytest.mark.parametrize(
    "output, message",
    [
        ("-", "-o - records nothing: a recording is a file, e.g. -o RECORDING.mp4 (or --preview to only watch)"),
        ("rec", "-o rec: give the recording a video extension (.mp4, .mkv, .mov, .webm)"),
    ],
)
def test_webcam_output_must_be_a_recording(tmp_path, monkeypatch, capsys, output, message):
    # -o - ran the whole session, recorded nothing and exited 0; -o rec wrote a folder of PNG frames
    monkeypatch.chdir(tmp_path)
    assert main(["webcam", "--camera", "http://127.0.0.1:9/none.mjpg", "-o", output]) == 2
    assert capsys.readouterr().err.strip() == f"streamdeblur: error: {message}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fps", ["0", "1e-9", "nan", "inf", "-5", "1e9"])
def test_the_frame_rate_of_an_image_sequence_is_checked_before_any_work(tmp_path, identity_yaml, capsys, fps):
    # --fps 0 ended "error: Fraction(1, 0)" (exit 1), nan and inf "cannot convert NaN to integer ratio",
    # -5 "cannot write libx264 into x.mp4: The encoder timebase is not set" (exit 4, blaming the output),
    # 1e9 wrote a video lasting 0.000000 s (exit 0)
    import cv2

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"f{i}.png"), media.pattern(i, 64, 48)[..., ::-1])
    out = tmp_path / "x.mp4"
    assert main(["run", str(frames), "-o", str(out), "--fps", fps, "--pipeline", str(identity_yaml)]) == 2
    assert _one_error_line(capsys.readouterr().err).startswith("streamdeblur: error: --fps must be 0.001…1000, got ")
    assert not out.exists()
    assert main(["run", str(frames), "-o", str(out), "--fps", "30", "--pipeline", str(identity_yaml)]) == 0
    assert media.count_frames(out) == 3


@pytest.mark.parametrize("extra", [["--address", "1.2.3.4:6379"], ["--workers", "2"], ["--retries", "5"], ["--worker-nice", "5"]])
def test_ray_flags_without_ray_are_refused_before_any_work(tmp_path, identity_yaml, capsys, extra):
    # --address 1.2.3.4:6379 (a cluster the user meant to use) ran on this machine without a word, as did
    # --workers, --retries and --worker-nice, which only the Ray executor reads
    import media

    clip = media.write_video(tmp_path / "in.mp4", frames=3, size=(64, 48))
    argv = ["run", str(clip), "-o", str(tmp_path / "out.mp4"), "--pipeline", str(identity_yaml), "--segments", "2", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"streamdeblur: error: {extra[0]} apply to --executor ray only (this run's executor: local)", err
    assert not (tmp_path / "out.mp4").exists()
    assert main(["batch", str(clip), "--out-dir", str(tmp_path / "b"), "--pipeline", str(identity_yaml), *extra]) == 2
    assert "apply to --executor ray only" in capsys.readouterr().err and not (tmp_path / "b").exists()
