"""``streamdeblur bench --what temporal``: the temporal fusion stage's cost next to the DeepRFTv2 stage's.

Both stages run in the same process on the same frames (a textured scene under synthetic shake at
``--size``), alternated frame by frame after a warm-up, so that a shared or throttled CPU slows
both alike; the ratio is the number to read. The fusion is measured in its steady state: the ring
is full and every new frame costs its 2·R new flows (each pair once) and one fused frame.
"""

from __future__ import annotations

import time
from fractions import Fraction

import cv2
import numpy as np
import torch

from ..io.frames import Frame
from ..stages import Batch, StageContext, create_stage


def shaky_frames(w: int, h: int, n: int, seed: int = 0) -> list[Frame]:
    """``n`` frames of a smooth random texture under hand-held-like shake (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((h + 48, w + 48, 3)).astype(np.float32), (0, 0), 2.0)
    base = (base - base.min()) / (base.max() - base.min())
    out = []
    for i in range(n):
        dx, dy = 24 + 12 * np.sin(1.3 * i), 24 + 12 * np.cos(0.9 * i)
        img = cv2.warpAffine(base, np.float32([[1, 0, -dx], [0, 1, -dy]]), (w, h), flags=cv2.INTER_LINEAR)
        out.append(Frame((img * 255 + 0.5).astype(np.uint8), i, i, Fraction(1, 30)))
    return out


def _batch(frames: list[Frame], device: torch.device) -> Batch:
    x = torch.from_numpy(np.stack([f.image for f in frames])).permute(0, 3, 1, 2).float().div(255).to(device)
    return Batch(images=x, frames=frames, original=x)


def temporal_bench(size: str = "640x360", radius: int = 3, frames: int = 6, model: str = "deeprftv2-t", device="cpu") -> dict:
    """Per-frame seconds of ``temporal_fusion`` (radius R) and of ``deblur`` (``model``), alternated.

    The fusion is timed twice, with the neighbours resampled as the shipped file pipelines do
    (``interp: lanczos``) and with the stage's default (``bicubic``), so the resampling's share of
    the cost is in the same run.

    Args:
        size: ``WxH``.
        radius: fusion window radius.
        frames: measured frames (each stage sees each once, after a warm-up).
        model: the deblur stage's model.
        device: where both run.

    Returns:
        ``fusion_s`` (Lanczos), ``fusion_bicubic_s``, ``deblur_s`` (medians), ``ratio`` and
        ``ratio_bicubic`` (fusion / deblur) and the setting.
    """
    w, h = (int(v) for v in size.lower().split("x"))
    dev = torch.device(device)
    ctx = StageContext(device=dev)
    fusions = {i: create_stage("temporal_fusion", {"radius": radius, "interp": i}, ctx) for i in ("lanczos", "bicubic")}
    deblur = create_stage("deblur", {"model": model}, ctx)
    clip = shaky_frames(w, h, 2 * radius + 2 + frames)
    for fusion in fusions.values():
        fusion.start_stream(live=False)
        fusion(_batch(clip[: 2 * radius + 1], dev))  # warm-up: fills the ring, emits the first frames
    deblur(_batch(clip[:1], dev))
    times: dict[str, list[float]] = {"lanczos": [], "bicubic": [], "deblur": []}
    for f in clip[2 * radius + 1 : 2 * radius + 1 + frames]:
        for interp, fusion in fusions.items():
            t = time.perf_counter()
            out = fusion(_batch([f], dev))
            times[interp].append(time.perf_counter() - t)
            assert out is not None and len(out) == 1
        t = time.perf_counter()
        deblur(_batch([f], dev))
        times["deblur"].append(time.perf_counter() - t)
    fs, fb, ds = (float(np.median(times[k])) for k in ("lanczos", "bicubic", "deblur"))
    return {
        "size": f"{w}x{h}",
        "radius": radius,
        "frames": frames,
        "model": model,
        "threads": torch.get_num_threads(),
        "fusion_s": fs,
        "fusion_bicubic_s": fb,
        "deblur_s": ds,
        "ratio": fs / ds,
        "ratio_bicubic": fb / ds,
    }
