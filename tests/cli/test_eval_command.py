"""``streamdeblur eval`` on what a user may give it by mistake: one line, the right exit code, no work done."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from streamdeblur.cli import main


@pytest.mark.parametrize(
    "case, code, words",
    [
        ("missing", 3, "streamdeblur: error: no evaluation set at {p} ('streamdeblur data build' makes them under data/sharp/)"),
        ("not a set", 3, "streamdeblur: error: {p} is not an evaluation set (a .pt file from 'streamdeblur data build')"),
        ("limit 0", 2, "streamdeblur: error: --limit must be at least 1, got 0"),
        ("out is a file", 2, "streamdeblur: error: --out {o} is a file; it names the folder the table and examples go to"),
        ("a folder", 3, "streamdeblur: error: {p} is a folder, not an evaluation set: give one of its sets (val_motion.pt)"),
    ],
)
def test_eval_mistakes_are_one_line(tmp_path, capsys, case, code, words):
    """Each had ended in a raw errno, PyTorch's advice to load with ``weights_only=False`` (unsafe on a
    file from anywhere), numpy warnings then a bootstrap error, or a whole evaluation before
    ``[Errno 17] File exists``."""
    p = tmp_path / "set.pt"
    o = tmp_path / "report"
    if case == "a folder":  # "no evaluation set at sets/" of a folder that is there
        p = tmp_path / "sets"
        p.mkdir()
        (p / "val_motion.pt").write_bytes(b"")
    elif case != "missing":
        p.write_text("my notes\n")
    args = ["eval", "--eval-set", str(p), "--out", str(o)]
    if case == "limit 0":
        args += ["--limit", "0"]
    if case == "out is a file":
        o.write_text("not a folder\n")
    assert main(args) == code
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [words.format(p=p, o=o)]
    assert "weights_only" not in err


def test_the_table_says_when_there_is_no_interval_and_when_crops_equal_their_reference(tmp_path, capsys):
    # Two photographs gave a "95 % interval" that was their two means; the terminal's copy of the table
    # showed "[n/a: 1 photograph]" as nothing (read as markup); a crop equal to its reference was 148 dB.
    rng = np.random.default_rng(0)
    sharp = torch.from_numpy(rng.integers(0, 256, (4, 3, 48, 48), dtype=np.uint8))
    blurry = sharp.clone()
    blurry[2:] = (
        torch.from_numpy(cv2.blur(sharp[2:].permute(0, 2, 3, 1).reshape(96, 48, 3).numpy(), (5, 5)))
        .reshape(2, 48, 48, 3)
        .permute(0, 3, 1, 2)
    )
    p = tmp_path / "two.pt"
    torch.save({"blurry": blurry, "sharp": sharp, "sources": ["a", "a", "b", "b"], "task": "motion"}, p)
    assert main(["eval", "--eval-set", str(p), "--out", str(tmp_path / "r")]) == 0
    shown = capsys.readouterr().out
    assert "| blurry input | 55.46 [n/a: 2 photographs] | +0.00 [n/a] |" in shown, shown  # (100 + 10.9) / 2
    assert "Crops equal to their reference count 100 dB (the cap): blurry input 2 of 4" in shown
    assert (tmp_path / "r" / "eval.md").read_text() in shown


def _frames(blur: float, frames: int = 8) -> list[np.ndarray]:
    """A panning pattern, Gaussian-blurred by ``blur`` px (0: sharp), 160×96 RGB."""
    import media

    out = []
    for i in range(frames):
        img = np.ascontiguousarray(np.roll(media.pattern(i, 224, 96)[:, :160], 3 * i, axis=1))
        out.append(cv2.GaussianBlur(img, (0, 0), blur) if blur else img)
    return out


def _clip(path, blur: float, frames: int = 8):
    """:func:`_frames` stored losslessly (FFV1, RGB): what is decoded is what was made."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=30)
        s.width, s.height, s.pix_fmt = 160, 96, "bgr0"
        for img in _frames(blur, frames):
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="bgr0")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _sound(path):
    """Half a second of AAC, no video stream."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=48000)
        s.layout = "mono"
        for i in range(24):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 48000, i * 1024
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def test_a_finished_video_is_scored_against_its_reference(tmp_path, capsys):
    """``eval --video OUT --reference SHARP --input BLURRY``: the numbers a user quotes about their own
    output, frames matched by index; checked against PSNRs computed from the frames as they were made
    (the clips are lossless)."""
    sharp, blurry, better = (
        _clip(tmp_path / "sharp.mkv", 0),
        _clip(tmp_path / "blurry.mkv", 2.0),
        _clip(tmp_path / "better.mkv", 0.8),
    )
    report = tmp_path / "score.md"
    args = ["eval", "--video", str(better), "--reference", str(sharp), "--input", str(blurry), "--out", str(report)]
    assert main(args) == 0
    text = capsys.readouterr().out
    ref, inp, out = _frames(0), _frames(2.0), _frames(0.8)

    def psnr(a, b):
        return np.mean([10 * np.log10(255**2 / np.mean((x.astype(np.float64) - y) ** 2)) for x, y in zip(a, b)])

    p_in, p_out = psnr(inp, ref), psnr(out, ref)
    assert p_out > p_in + 1  # the test can fail: the less blurred clip is closer to the reference
    row = next(line for line in text.splitlines() if line.startswith("| PSNR"))
    got_in, got_out, change = (float(c) for c in row.strip("| ").split(" | ")[1:])
    assert abs(got_in - p_in) < 0.01 and abs(got_out - p_out) < 0.01 and abs(change - (p_out - p_in)) < 0.01, (row, p_in, p_out)
    assert "worst frame:" in text and report.read_text().strip() in text
    assert not list(tmp_path.glob("*.partial"))
    # an existing file is not replaced without --overwrite: "--out notes.txt" replaced the user's notes
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    again = ["eval", "--video", str(better), "--reference", str(sharp), "--out", str(notes)]
    assert main(again) == 2
    assert capsys.readouterr().err.strip().endswith(f"--out {notes} exists; pass --overwrite to replace it")
    assert notes.read_text() == "my notes\n"
    assert main([*again, "--overwrite"]) == 0 and "| measure |" in notes.read_text()


@pytest.mark.parametrize(
    "case, code, words",
    [
        ("frames differ", 3, "has 8 frames, {s} 6: frames are compared by index, so both need every frame"),
        ("no reference", 2, "a video is judged against its sharp reference: give both --video OUT and --reference SHARP"),
        ("two modes", 2, "eval judges one thing at a time: --video --reference and --model do not go together"),
        ("not a video", 3, "cannot read it as a video (the video)"),
        ("sound only", 3, "no video stream (the reference)"),
        ("report folder missing", 2, "--out {d}/no/score.md: no folder {d}/no"),
        ("report over a video", 2, "is one of the videos being judged; the report needs a name of its own"),
    ],
)
def test_scoring_mistakes_are_one_line(tmp_path, capsys, case, code, words):
    sharp, six = _clip(tmp_path / "sharp.mkv", 0), _clip(tmp_path / "six.mkv", 0, frames=6)
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    args = {
        "frames differ": ["--video", str(sharp), "--reference", str(six)],
        "no reference": ["--video", str(sharp)],
        "two modes": ["--video", str(sharp), "--reference", str(sharp), "--model", "deeprftv2-t"],
        "not a video": ["--video", str(text), "--reference", str(sharp)],
        "sound only": ["--video", str(sharp), "--reference", str(_sound(tmp_path / "sound.m4a"))],
        "report folder missing": ["--video", str(sharp), "--reference", str(sharp), "--out", str(tmp_path / "no" / "score.md")],
        "report over a video": ["--video", str(six), "--reference", str(six), "--out", str(six)],
    }[case]
    assert main(["eval", *args]) == code
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and words.format(s=six, d=tmp_path) in err, err
    assert "| PSNR" not in captured.out  # refused before any work
    assert six.stat().st_size > 1000 and six.read_bytes()[:4] == b"\x1a\x45\xdf\xa3"  # the video is still a video (Matroska)


def test_a_dev_set_runs_each_pipeline_on_each_clip(tmp_path, capsys):
    """``eval --clips DIR --pipeline NAME``: the product runs on every blurry clip, judged against its
    sharp one; the identity gains nothing, and the report and its JSON are written."""
    import json

    import media

    clips = media.tiny_devset(tmp_path / "clips", frames=6)
    report = tmp_path / "dev.md"
    assert main(["eval", "--clips", str(clips), "--pipeline", "identity", "--out", str(report)]) == 0
    (r,) = json.loads(report.with_suffix(".json").read_text())
    assert r["clip"] == "tiny" and r["pipeline"] == "identity" and r["frames"] == 6 and r["gain"] == 0.0
    assert "| tiny | identity | 6 |" in capsys.readouterr().out and "| tiny | identity | 6 |" in report.read_text()


def test_a_phone_clip_is_scored_upright_as_run_writes_it(tmp_path, capsys):
    """A portrait phone clip (landscape pictures and a display matrix) comes out of ``run`` upright; eval
    turns the clip's pictures the same way, so the output is scored against its own source (it stopped
    with "is 96×160, … 160×96: frames are compared pixel by pixel at one size")."""
    import media

    src = media.write_video(tmp_path / "phone.mp4", frames=6, size=(160, 96), crf=0, rotation=90)
    yaml = tmp_path / "identity.yaml"
    yaml.write_text("stages:\n  - identity\noutput:\n  crf: 0\n")
    out = tmp_path / "up.mp4"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(yaml)]) == 0
    capsys.readouterr()
    assert main(["eval", "--video", str(out), "--reference", str(src), "--input", str(src)]) == 0
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.startswith("| PSNR"))
    _, got_out, _ = (float(c) for c in row.strip("| ").split(" | ")[1:])
    assert got_out > 40, row  # the same pictures, re-encoded at crf 0


def test_a_single_frame_has_no_flicker_numbers(tmp_path, capsys):
    """tPSNR and the warping error compare consecutive frames: one frame has none (they printed nan and
    0.000, which reads as perfectly steady)."""
    one = _clip(tmp_path / "one.mkv", 0, frames=1)
    assert main(["eval", "--video", str(one), "--reference", str(one)]) == 0
    text = capsys.readouterr().out
    assert "1 frame against" in text and "nan" not in text
    assert [line for line in text.splitlines() if "n/a (one frame)" in line and ("tPSNR" in line or "warping" in line)]
