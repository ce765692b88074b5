"""The Python API as a script writer expects (issue 18): overrides checked like YAML, warnings in
the result, errors in the API's words, registries that list what they know, a clean namespace."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass

import cv2
import media
import numpy as np
import pytest

import streamdeblur
from streamdeblur.engine.config import ConfigError
from streamdeblur.models import create_model
from streamdeblur.stages import Stage, register_stage


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return media.write_video(tmp_path_factory.mktemp("clip") / "in.mp4", frames=6, size=(96, 64))


def test_api_errors_use_api_words(tmp_path, clip, identity_yaml):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"x")
    with pytest.raises(Exception) as e:
        streamdeblur.process(clip, out, pipeline=str(identity_yaml))
    assert "overwrite=True" in str(e.value) and "--overwrite" not in str(e.value)


def test_api_returns_warnings_in_the_result(tmp_path, identity_yaml):
    # an odd-sized input is padded to an even size for 4:2:0 H.264: a warning the API used to drop
    # (a 4:4:4 source keeps its chroma, and then its size, unless 4:2:0 is asked for)
    odd = media.write_video(tmp_path / "odd.mkv", frames=4, size=(97, 64), codec="ffv1", pix_fmt="yuv444p")
    result = streamdeblur.process(odd, tmp_path / "o.mp4", pipeline=str(identity_yaml), overrides={"chroma": "420"})
    assert result.ok
    assert any("odd side" in w for w in result.warnings)


def test_create_model_of_an_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError) as e:
        create_model("nonexistent")
    msg = str(e.value)
    assert msg.startswith("unknown model 'nonexistent'") and "deeprftv2-t" in msg


def test_dir_of_the_package_is_clean():
    names = [n for n in dir(streamdeblur) if not n.startswith("_")]
    assert "annotations" not in names
    assert set(names) <= set(streamdeblur.__all__), names


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"tiles": 5}, "unknown override 'tiles'; allowed: "),
        ({"tile": 7}, "tile must be"),
        ({"crf": "high"}, "crf must be an integer"),
        ({"no_audio": "false"}, "no_audio must be true or false"),  # read as true: the sound went (audit 27)
    ],
)
def test_api_overrides_are_checked_like_yaml(tmp_path, clip, overrides, words):
    assert streamdeblur.ConfigError is ConfigError  # as the README names it (it was only in streamdeblur.errors)
    with pytest.raises(streamdeblur.ConfigError) as e:
        streamdeblur.process(clip, tmp_path / "o.mp4", overrides=overrides)
    assert words in str(e.value)
    assert not (tmp_path / "o.mp4").exists()


# -- NumPy images a script holds itself (Deblurrer) -------------------------------------------------


def _shaky(i: int, w: int = 128, h: int = 96) -> np.ndarray:
    """The test pattern, shifted a little each frame and blurred along the shift on every third frame."""
    img = media.pattern(i, w + 8, h + 8)
    dx, dy = (i * 3) % 5, (i * 2) % 4
    img = np.ascontiguousarray(img[dy : dy + h, dx : dx + w])
    if i % 3 == 1:
        img = cv2.blur(img, (7, 1))
    return img


@pytest.fixture(scope="module")
def shaky_frames():
    return [_shaky(i) for i in range(14)]


@pytest.fixture(scope="module")
def deblur_motion():
    return streamdeblur.Deblurrer("motion")


def _pngs(folder) -> list[np.ndarray]:
    return [cv2.imread(str(p))[..., ::-1] for p in sorted(folder.glob("*.png"))]


def test_frames_come_out_as_run_writes_the_same_video(tmp_path, shaky_frames, deblur_motion):
    # the same frames, as a lossless video file through the CLI and as arrays through the API:
    # the same windows, neighbours, flush at the end and model, so the same pixels
    clip = media.write_video(
        tmp_path / "shaky.mkv",
        frames=len(shaky_frames),
        size=(128, 96),
        codec="ffv1",
        pix_fmt="bgr0",
        tag=False,
        content=lambda i, w, h: shaky_frames[i],
    )
    cli = subprocess.run(
        [sys.executable, "-m", "streamdeblur", "-q", "run", str(clip), "-o", str(tmp_path / "cli") + "/"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert cli.returncode == 0, cli.stderr
    expected = _pngs(tmp_path / "cli")
    got = list(deblur_motion.frames(iter(shaky_frames), fps=30))
    assert len(got) == len(expected) == len(shaky_frames)
    assert all(g.shape == (96, 128, 3) and g.dtype == np.uint8 for g in got)
    assert any(not np.array_equal(g, f) for g, f in zip(got, shaky_frames))  # it did something
    for i, (g, e) in enumerate(zip(got, expected)):
        assert np.abs(g.astype(int) - e).max() <= 1, i


def test_bgr_frames_give_the_same_result_in_bgr(shaky_frames, deblur_motion):
    rgb = list(deblur_motion.frames(shaky_frames[:6]))
    bgr = list(deblur_motion.frames([f[..., ::-1] for f in shaky_frames[:6]], bgr=True))
    assert all(np.array_equal(a, b[..., ::-1]) for a, b in zip(rgb, bgr, strict=True))


def test_leaving_the_loop_stops_the_work_even_on_an_endless_stream(shaky_frames, deblur_motion):
    taken = []

    def endless():
        i = 0
        while True:
            taken.append(i)
            yield shaky_frames[i % len(shaky_frames)]
            i += 1

    frames = deblur_motion.frames(endless())
    first = [next(frames) for _ in range(3)]
    frames.close()
    assert len(first) == 3
    assert not any(t.name == "streamdeblur-api" for t in threading.enumerate())
    n = len(taken)
    assert n < 40  # read ahead by the windows and queues only
    assert len(taken) == n  # nothing reads it any more


def test_a_frame_of_the_wrong_shape_is_a_value_error_that_names_it(shaky_frames, deblur_motion):
    with pytest.raises(ValueError, match="frame 0: expected an H×W×3"):
        deblur_motion.frames([shaky_frames[0][..., 0]])  # at once, before any work
    with pytest.raises(ValueError, match="frame 4: expected uint8 or uint16"):
        list(deblur_motion.frames(shaky_frames[:4] + [shaky_frames[4].astype(np.float32)]))


def test_an_image_is_deblurred_as_run_deblurs_a_photo(tmp_path, shaky_frames, deblur_motion):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), shaky_frames[1][..., ::-1])  # a blurred one
    out = tmp_path / "sharp.png"
    cli = subprocess.run(
        [sys.executable, "-m", "streamdeblur", "-q", "run", str(photo), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert cli.returncode == 0, cli.stderr
    expected = cv2.imread(str(out))[..., ::-1]
    got = deblur_motion.image(shaky_frames[1])
    assert got.shape == expected.shape and not np.array_equal(got, shaky_frames[1])
    assert np.abs(got.astype(int) - expected).max() <= 1


def test_a_second_video_on_the_same_deblurrer_while_the_first_is_open_is_refused(shaky_frames, deblur_motion):
    """The stages keep one video's window of frames: a second run on them while a first ``frames()``
    iterator is still open (``zip(d.frames(a), d.frames(b))``) mixed the two clips in one window
    ("frame order broken", or frames fused with the other clip's neighbours). It is refused in one
    clear line, and the first video comes out as it does alone."""
    alone = list(deblur_motion.frames(shaky_frames))
    first = deblur_motion.frames(shaky_frames)
    got = [next(first)]
    second = deblur_motion.frames(shaky_frames[:4])
    with pytest.raises(RuntimeError, match=r"^this Deblurrer is already running a video .*use a second Deblurrer$"):
        next(second)
    with pytest.raises(RuntimeError, match="already running a video"):
        deblur_motion.image(shaky_frames[1])
    got += list(first)
    assert len(got) == len(alone) and all(np.array_equal(a, b) for a, b in zip(got, alone))
    assert deblur_motion.image(shaky_frames[1]).shape == shaky_frames[1].shape  # free again once it ended


def test_two_deblurrers_in_two_threads_give_what_each_gives_alone(shaky_frames, deblur_motion):
    """Two pipelines in one program, one per thread (e.g. two cameras): they shared one optical-flow
    object and the process ended in a segmentation fault. Each must give exactly what it gives alone."""
    other = streamdeblur.Deblurrer("motion")
    few = shaky_frames[:7]  # both fusions' windows and the flush at both ends: what the threads shared
    clips = [few, [np.ascontiguousarray(f[::-1, ::-1]) for f in few]]
    alone = [list(deblur_motion.frames(clips[0])), list(other.frames(clips[1]))]
    together: dict = {}
    t = threading.Thread(target=lambda: together.setdefault(0, [list(deblur_motion.frames(clips[0])) for _ in range(2)]))
    t.start()
    together[1] = [list(other.frames(clips[1])) for _ in range(2)]
    t.join()
    for k in (0, 1):
        for run in together[k]:
            assert all(np.array_equal(a, b) for a, b in zip(run, alone[k], strict=True)), k


def test_each_run_computes_with_its_own_threads_and_flushes_denormals(identity_yaml):
    """PyTorch's thread count and the flush of denormal floats belong to a thread, and every run of a
    ``Deblurrer`` starts a new one: a run took the thread count of whichever pipeline was built last
    and, iterated from a thread older than the ``Deblurrer``, computed with denormals (slow on decayed
    activations). Each run now sets both where its stages run."""
    from streamdeblur.stages import Stage

    seen = []

    class Probe(Stage):  # not registered: appended to one Deblurrer's built stages
        def __call__(self, batch):
            seen.append((torch.get_num_threads(), bool((torch.tensor([1e-39]) * 1.0).item() != 0)))
            return batch

    import torch

    before = torch.get_num_threads()
    one = streamdeblur.Deblurrer(str(identity_yaml), {"threads": 1})
    one._prepared.stages.append(Probe())
    try:
        streamdeblur.Deblurrer(str(identity_yaml), {"threads": 2})  # built last: its count is the global one
        torch.set_flush_denormal(False)
        result: dict = {}
        older = threading.Thread(target=lambda: result.setdefault("frames", list(one.frames([np.zeros((16, 16, 3), np.uint8)]))))
        older.start()
        older.join()
    finally:
        torch.set_flush_denormal(True)
        torch.set_num_threads(before)
    assert len(result["frames"]) == 1
    assert seen == [(1, False)]


def test_a_device_that_is_not_there_is_a_config_error_in_the_apis_words(identity_yaml):
    # a ValueError in the command line's words ("--device cuda: …") before
    with pytest.raises(ConfigError, match=r"^device cuda:99: (no CUDA device is available|only \d+ CUDA device)"):
        streamdeblur.Deblurrer(str(identity_yaml), overrides={"device": "cuda:99"})


@register_stage("test_signal_at_batch")
class _SignalAtBatch(Stage):
    """Test stage: sends its own process the signal ``signal`` when its third batch comes."""

    @dataclass
    class Options:
        signal: int = 2

    calls = 0

    def __call__(self, batch):
        self.calls += 1
        if self.calls == 3:
            os.kill(os.getpid(), self.options.signal)
        return batch


def _signalling(tmp_path, signum: int):
    yaml = tmp_path / "sig.yaml"
    yaml.write_text(f"batch: 1\nstages:\n  - test_signal_at_batch:\n      signal: {signum}\noutput: {{preset: ultrafast}}\n")
    return media.write_video(tmp_path / "long.mp4", frames=40, size=(96, 64)), yaml


def test_ctrl_c_during_process_is_a_keyboard_interrupt_once_the_partial_is_closed(tmp_path):
    # SIGINT made process() return as if nothing had happened (error None): a batch loop went on to
    # the next file. Now the frame in flight is written, the partial closed, then KeyboardInterrupt.
    clip, yaml = _signalling(tmp_path, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        streamdeblur.process(clip, tmp_path / "o.mp4", pipeline=str(yaml))
    (partial,) = tmp_path.glob("o.*.partial.mp4")
    assert not (tmp_path / "o.mp4").exists()
    assert 3 <= media.count_frames(partial) < 40  # playable up to where it stopped
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the program's handler is back


def test_sigterm_during_process_reaches_the_programs_own_handler(tmp_path):
    heard = []
    old = signal.signal(signal.SIGTERM, lambda signum, frame: heard.append(signum))  # a service's graceful shutdown
    try:
        clip, yaml = _signalling(tmp_path, signal.SIGTERM)
        result = streamdeblur.process(clip, tmp_path / "o.mp4", pipeline=str(yaml))
    finally:
        signal.signal(signal.SIGTERM, old)
    assert heard == [signal.SIGTERM] and result.interrupted and not result.ok  # it was bypassed


def test_an_exception_from_on_progress_cancels_the_run(tmp_path, identity_yaml):
    # It was swallowed while all the frames were processed and the output published, then raised:
    # a retry met OutputExistsError. Now it stops the run as Ctrl-C does and is raised after.
    clip = media.write_video(tmp_path / "long.mp4", frames=400, size=(96, 64))

    def cancel(p):
        if p.done >= 1:
            raise RuntimeError("cancelled by the user")

    with pytest.raises(RuntimeError, match="cancelled by the user"):
        streamdeblur.process(clip, tmp_path / "o.mp4", pipeline=str(identity_yaml), on_progress=cancel)
    assert not (tmp_path / "o.mp4").exists()
    (partial,) = tmp_path.glob("o.*.partial.mp4")
    assert media.count_frames(partial) < 400


def test_api_mistakes_are_the_documented_errors(tmp_path, clip, identity_yaml, shaky_frames, deblur_motion):
    # an unknown model escaped `except StreamdeblurError`; ProcessingError/UsageError were not exported;
    # a bytes path read as "unknown output container \".mp4'\""; fps NaN as "cannot convert NaN to integer ratio"
    with pytest.raises(streamdeblur.StreamdeblurError, match="unknown model 'nosuch'"):
        streamdeblur.process(clip, tmp_path / "o.mp4", overrides={"model": "nosuch"})
    assert issubclass(streamdeblur.UnknownNameError, KeyError)  # as create_model's callers catch it
    assert issubclass(streamdeblur.ProcessingError, streamdeblur.StreamdeblurError) and streamdeblur.UsageError
    for bad in (b"in.mp4", io.BytesIO(b"")):
        with pytest.raises(TypeError, match=f"input must be a str or os.PathLike path, got {type(bad).__name__}"):
            streamdeblur.process(bad, tmp_path / "o.mp4", pipeline=str(identity_yaml))
    with pytest.raises(TypeError, match="output must be a str or os.PathLike path, got BytesIO"):
        streamdeblur.process(clip, io.BytesIO(), pipeline=str(identity_yaml))
    with pytest.raises(ValueError, match="fps must be a positive number, got nan"):
        deblur_motion.frames(shaky_frames[:2], fps=float("nan"))
    with pytest.raises(ValueError, match="frame 1: uint16 pixels in a stream of uint8 ones"):  # it came back uint8
        list(deblur_motion.frames([shaky_frames[0], shaky_frames[1].astype(np.uint16) * 257]))


def test_a_frame_rate_is_any_real_number_in_the_command_lines_range(identity_yaml):
    # NumPy's scalars (a cv2 CAP_PROP_FPS is a float, a computed rate np.float64 / np.int64) and an exact
    # Fraction(30000, 1001) were refused "fps must be a positive number"; 0.0004 and 1e-9 ended in a bare
    # ZeroDivisionError "Fraction(1, 0)"; 1e9 was taken (the command line says 0.001…1000)
    from fractions import Fraction

    d = streamdeblur.Deblurrer(str(identity_yaml))
    frames = [np.zeros((48, 64, 3), np.uint8)] * 2
    for fps in (np.int64(30), np.float32(25.0), np.float64(29.97), Fraction(30000, 1001), 24):
        assert len(list(d.frames(frames, fps=fps))) == 2, fps
    for fps in (0.0004, 1e-9, 1e9):
        with pytest.raises(ValueError, match=re.escape(f"fps must be 0.001…1000, got {fps:g}")):
            d.frames(frames, fps=fps)
    for fps in (True, "30", None):
        with pytest.raises(ValueError, match="fps must be a positive number"):
            d.frames(frames, fps=fps)


def test_the_api_names_its_own_way_to_deblur_a_photo():
    # Deblurrer("motion-fast").image(x) warned "(use --pipeline motion to deblur photographs)": the API's words
    said: list[str] = []
    d = streamdeblur.Deblurrer("motion-fast", warn=said.append)
    img = np.zeros((48, 64, 3), np.uint8)
    assert np.array_equal(d.image(img), img)  # no stage for a still picture: as it was
    assert any('(use Deblurrer("motion") to deblur photographs)' in m for m in said), said
    assert not any("--pipeline" in m for m in said), said


def test_using_the_api_leaves_the_programs_environment_as_it_was(tmp_path, identity_yaml, clip):
    # The first use of the API set OPENCV_FFMPEG_LOGLEVEL=-8 for the whole process: the host's own
    # cv2.VideoCapture lost its FFmpeg log. Now only opening a camera sets it.
    code = (
        "import os, numpy as np, streamdeblur\n"
        f"d = streamdeblur.Deblurrer({str(identity_yaml)!r})\n"
        "d.image(np.zeros((32, 32, 3), np.uint8))\n"
        f"streamdeblur.process({str(clip)!r}, {str(tmp_path / 'o.mp4')!r}, pipeline={str(identity_yaml)!r})\n"
        "print(sorted(k for k in os.environ if k.startswith('OPENCV')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "[]", out
