"""``bench --what live`` (issue 15) measures what it says: recorded frames are matched to the clip
frame they show, and the input baseline is exactly what the camera source decoded."""

from __future__ import annotations

import cv2
import numpy as np

from streamdeblur.bench.live import run_live_clip


def _clip(n: int = 45, w: int = 160, h: int = 96) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A panning texture (every frame different) and a reference that differs from it by a blur."""
    rng = np.random.default_rng(0)
    world = (cv2.GaussianBlur(rng.random((h + 64, w + 200, 3)).astype(np.float32), (0, 0), 1.5) * 255).astype(np.uint8)
    sharp = [np.ascontiguousarray(world[16 : 16 + h, 3 * i : 3 * i + w]) for i in range(n)]
    blurry = [cv2.blur(f, (5, 1)) for f in sharp]
    return blurry, sharp


def test_identity_pipeline_measures_zero_gain_and_counts_every_clip_frame(tmp_path):
    yaml = tmp_path / "id.yaml"
    yaml.write_text("batch: 1\nstages:\n  - identity\noutput:\n  preset: veryfast\n")
    blurry, sharp = _clip()
    r = run_live_clip("pan", blurry, sharp, str(yaml))
    assert r.recorded + r.dropped == len(blurry)
    assert r.recorded >= 0.5 * len(blurry)  # an identity stage keeps up with 30 fps
    assert abs(r.gain) < 0.01 and abs(r.worst) < 0.01  # matched to the right frame, same decoder as the camera
    assert r.psnr_in < 40  # the reference really differs from the input: a wrong match would show
    assert r.stats.count >= r.recorded and r.stats.p50 is not None and r.stats.p50 < 0.5


def test_unsharp_pipeline_changes_the_measured_gain(tmp_path):
    yaml = tmp_path / "sharpen.yaml"
    yaml.write_text("batch: 1\nstages:\n  - unsharp:\n      amount: 3.0\noutput:\n  preset: veryfast\n")
    blurry, sharp = _clip()
    r = run_live_clip("pan", blurry, sharp, str(yaml))
    assert abs(r.gain) > 0.05  # the measurement sees what the stage did
