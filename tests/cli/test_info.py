"""``info`` and ``models`` say what this installation does (issue 18): the real scan, bf16, CPU and
threads, the Ray hint unmangled; ``models`` prints as it measures, has a quick mode, and never
cuts names when piped."""

from __future__ import annotations

from fractions import Fraction
from importlib import metadata

from streamdeblur.cli import main
from streamdeblur.models import list_models


def test_info_names_the_scan_bf16_cpu_and_keeps_the_ray_hint(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["info"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "inference scan" in text and "pure PyTorch (chunked)" not in text
    assert "bf16 (auto)" in text and "usable cores" in text and "threads" in text
    try:
        metadata.version("ray")
    except metadata.PackageNotFoundError:
        assert 'pip install "streamdeblur[ray]"' in text  # rich markup used to swallow "[ray]"


def test_models_quick_prints_every_whole_name_one_line_each_when_piped(capsys):
    assert main(["models", "--quick"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[0] == "name"
    names = [ln.split("\t")[0] for ln in lines[1:]]
    assert names == list_models()  # whole names, none cut with an ellipsis


def test_models_prints_each_row_as_soon_as_it_is_measured(capsys, monkeypatch):
    import streamdeblur.models as info  # cli/models.py imports create_model from here when it makes the table

    seen: list[int] = []
    real = info.create_model

    def spy(name, *a, **k):
        seen.append(len(capsys.readouterr().out.splitlines()))
        return real(name, *a, **k)

    monkeypatch.setattr(info, "create_model", spy)
    assert main(["models", "--quick"]) == 0
    # before the n-th model is built, the header and the rows of the models before it are out already
    assert seen[0] == 1 and all(n == 1 for n in seen[1:]), seen


def test_info_on_files_says_what_a_run_will_do_with_each(tmp_path, capsys, monkeypatch):
    """A portrait 10-bit clip and a plain one (real encodes): turn, scan, depth, encoder, audio; a missing file: one line."""
    import media

    monkeypatch.setenv("COLUMNS", "250")
    portrait = media.write_video(
        tmp_path / "portrait.mov", frames=3, size=(96, 64), codec="libx265", pix_fmt="yuv420p10le", rotation=270
    )
    plain = media.write_video(tmp_path / "plain.mp4", frames=3, size=(96, 64), audio=True)
    screen = media.write_video(tmp_path / "screen.mkv", frames=2, size=(96, 64), pix_fmt="yuv444p")
    assert main(["info", str(portrait), str(plain), str(screen)]) == 0
    text = capsys.readouterr().out
    first, rest = text.split("plain.mp4", 1)
    second, third = rest.split("screen.mkv", 1)
    assert "rotated 90° clockwise: processed and written upright, 64x96" in first and "4:2:0, 10-bit" in first
    assert "encoder libx265" in first and "progressive" in first
    assert "output .mov" in first and "output .mp4" in second  # what a run without -o writes: NAME_deblurred.mov
    assert "as stored" in second and "encoder libx264" in second and "copied" in second and "4:2:0, 8-bit" in second
    assert "4:4:4, 8-bit (kept in the output where the encoder can; --chroma 420 for browsers and phones)" in third
    assert main(["info", str(tmp_path / "missing.mp4")]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not found" in err
    # a bad name among several stopped there: the files after it were not described
    assert main(["info", str(tmp_path / "missing.mp4"), str(plain)]) == 3
    got = capsys.readouterr()
    assert "plain.mp4" in got.out and len(got.err.strip().splitlines()) == 1 and "missing.mp4" in got.err


def test_models_says_before_timing_that_it_times_and_how_to_skip_it(capsys, monkeypatch):
    # the timing column takes ~50 s on two cores, the first row ~25 s: it sat silent before
    import streamdeblur.cli.models as models

    calls: list[bool] = []
    monkeypatch.setattr(models, "print_models", lambda console, timing=True, quick=False: calls.append(timing and not quick))
    assert main(["models"]) == 0
    assert "timing each model on this CPU" in capsys.readouterr().err and calls == [True]
    for flag in ("--no-timing", "--quick"):
        assert main(["models", flag]) == 0
        assert "timing" not in capsys.readouterr().err


def test_info_on_photos_a_folder_and_a_glob_describes_them_as_photos(tmp_path, capsys, monkeypatch):
    # `run` reads folders, globs and image files as photos; `info` refused folders (exit 3) and
    # described a PNG as a 25 fps video with an H.264 output
    import cv2
    import numpy as np

    monkeypatch.setenv("COLUMNS", "250")
    folder = tmp_path / "shots"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((48, 64, 3), 90, np.uint8))
    cv2.imwrite(str(folder / "b.jpg"), np.full((30, 40, 3), 90, np.uint8))
    cv2.imwrite(str(folder / "c.jpg"), np.full((30, 40, 3), 90, np.uint8))
    assert main(["info", str(folder)]) == 0
    text = capsys.readouterr().out
    assert "3 images (2 jpg, 1 png), in name order" in text and "a.png: 64x48, 8-bit; each image keeps its own size" in text
    assert "no temporal fusion" in text and "fps" not in text and "libx264" not in text
    assert main(["info", str(folder / "b.jpg"), str(folder / "*.jpg")]) == 0
    one, glob = capsys.readouterr().out.split("*.jpg", 1)
    assert "1 image (1 jpg)" in one and "2 images (2 jpg)" in glob
    (tmp_path / "nothing").mkdir()
    assert main(["info", str(tmp_path / "nothing")]) == 3
    assert capsys.readouterr().err.strip() == f"streamdeblur: error: no images found in {tmp_path / 'nothing'}"


def test_info_says_a_variable_frame_rate_and_a_late_start(tmp_path, capsys, monkeypatch):
    # A phone's variable rate read as one number ("16.667 fps, 30 frames, 1.80 s") and a file starting
    # at 0.5 s as "1.00 s" without a word of either (audit 15)
    import media

    monkeypatch.setenv("COLUMNS", "250")
    ms = [i * 33 for i in range(15)] + [495 + i * 100 for i in range(1, 16)]  # 30 fps, then 10 fps
    vfr = media.write_video(tmp_path / "phone.mp4", frames=30, size=(96, 64), pts=ms, time_base=Fraction(1, 1000))
    late = media.write_video(
        tmp_path / "late.mp4", frames=30, size=(96, 64), pts=[500 + 33 * i for i in range(30)], time_base=Fraction(1, 1000)
    )
    steady = media.write_video(tmp_path / "steady.mp4", frames=30, size=(96, 64))
    assert main(["info", str(vfr), str(late), str(steady)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    first, rest = text.split("late.mp4", 1)
    second, third = rest.split("steady.mp4", 1)
    assert "fps on average, variable (up to 30." in first, first
    assert "starting at 0.500 s" in second and "variable" not in second
    assert "30.000 fps, 30 frames, 1.00 s;" in third and "variable" not in third and "starting at" not in third


def test_info_says_what_a_run_keeps_of_pixel_shape_and_size(tmp_path, capsys, monkeypatch, require_ffmpeg):
    # info said "non-square 4:3 …, kept" of a WebM whose run writes VP9 square ("it will show squeezed"),
    # and nothing of the padding a run warns of for an odd size
    import subprocess

    import media

    monkeypatch.setenv("COLUMNS", "250")
    made = []
    for name, size, sar, codec in (
        ("wide.webm", "96x64", "4/3", "libvpx-vp9"),
        ("wide.mp4", "96x64", "4/3", "libx264"),
    ):
        made.append(tmp_path / name)
        subprocess.run(
            [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=10", "-frames:v", "2"]
            + ["-vf", f"setsar={sar}", "-pix_fmt", "yuv420p", "-c:v", codec]
            + (["-deadline", "realtime"] if codec == "libvpx-vp9" else [])
            + [str(made[-1])],
            check=True,
        )
    made.append(media.write_video(tmp_path / "odd.webm", frames=2, size=(97, 65), codec="libvpx-vp9"))  # (PyAV: odd 4:2:0)
    assert main(["info", *map(str, made)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    webm, rest = text.split("wide.mp4", 1)
    mp4, odd = rest.split("odd.webm", 1)
    assert "non-square 4:3 (shown 2:1), not kept by libvpx-vp9 in .webm (shown squeezed; an .mp4 output keeps it)" in webm
    assert "non-square 4:3 (shown 2:1), kept" in mp4 and "odd side" not in mp4
    assert "97x65 has an odd side: padded to 98x66" in odd, odd
