"""Fused video frames of the training split: what the model stage really sees in a video pipeline.

In the default ``motion`` pipeline the model does not get blurry frames but the output of
``temporal_fusion``: blocks that a sharp neighbour covered are nearly sharp (a little noise and
compression, sub-pixel registration error), the rest keeps the residual blur of a burst no
neighbour escaped. This module renders training-split photographs under simulated hand shake
(the dev-set renderer, :mod:`~streamdeblur.train.devset`), runs a shipped pipeline's fusion stage
on them through the product (so the frames are exactly what the stage emits) and keeps
``(fused, sharp)`` frame pairs. Training can draw a share of its crops from them (``fused_set`` and
``p_fused`` in a training recipe); the harm gate fits on them (:mod:`.gate`).

Only the **train** split is read; the dev set (validation split) stays a fair judge.

Command line::

    python -m streamdeblur.train.fused --data data/sharp --out data/sharp/fused_motion.pt --clips 16
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from .devset import ClipSpec, photos_of_split, render_clip

#: shipped pipelines that run on cameras: their fusion runs causal (past frames only), as it does live
LIVE_PIPELINES = ("webcam", "webcam-rt")


def clip_specs(data: Path, clips: int, seed: int, frames: int = 40, size: tuple[int, int] = (320, 240)) -> list[ClipSpec]:
    """Shaky clips of training-split photographs: three still scenes for each moving-object clip.

    Args:
        data: the training data root (``data build``'s output).
        clips: how many clips.
        seed: picks the photographs and seeds each clip (``seed + i``).
        frames: frames per clip (30 fps).
        size: ``(width, height)``.

    Returns:
        the clip specs (``ClipSpec``), still scenes first.
    """
    photos = [p for p, _ in photos_of_split(data, "train")]
    if len(photos) < 2:
        raise ValueError(f"{data}: the training split has {len(photos)} photographs; run `streamdeblur data build`")
    order = [photos[i] for i in np.random.default_rng(seed).permutation(len(photos))]
    n_obj = clips // 4
    specs = [
        ClipSpec(f"fstill_{seed}_{i}", "still", str(order[i % len(order)]), size, frames, seed + i) for i in range(clips - n_obj)
    ]
    specs += [
        ClipSpec(
            f"fobj_{seed}_{i}",
            "object",
            str(order[(clips - n_obj + i) % len(order)]),
            size,
            frames,
            seed + 100 + i,
            sprite=str(order[(clips + i) % len(order)]),
        )
        for i in range(n_obj)
    ]
    return specs


def fused_frames(
    specs: list[ClipSpec], work: Path, pipeline: str = "motion", log=print
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Render each clip and run ``pipeline``'s ``temporal_fusion`` stage on it (causal for live pipelines).

    Args:
        specs: clips to render.
        work: scratch folder for the rendered clips.
        pipeline: shipped pipeline (or YAML path) whose fusion stage is used.

    Returns:
        ``(fused, sharp)``: per clip a uint8 ``N×3×H×W`` tensor each.
    """
    import av

    from ..engine.config import load_pipeline
    from .video_eval import run_pipeline

    fusion = load_pipeline(pipeline)
    fusion.stages = [s for s in fusion.stages if s.name == "temporal_fusion"]
    if not fusion.stages:
        raise ValueError(f"pipeline {pipeline!r} has no temporal_fusion stage")
    if pipeline in LIVE_PIPELINES:
        for s in fusion.stages:
            s.options = {**s.options, "causal": True}
    xs, gts = [], []
    for spec in specs:
        t = time.time()
        render_clip(spec, work)
        fused, _ = run_pipeline(fusion, work / f"{spec.name}.blurry.mp4", work / spec.name)
        with av.open(str(work / f"{spec.name}.sharp.mkv")) as c:
            sharp = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        xs.append(torch.from_numpy(np.stack(fused)).permute(0, 3, 1, 2).contiguous())
        gts.append(torch.from_numpy(np.stack(sharp[: len(fused)])).permute(0, 3, 1, 2).contiguous())
        log(f"{spec.name}: {len(fused)} frames rendered and fused in {time.time() - t:.0f} s")
    return xs, gts


def build_fused_set(
    data: Path,
    out: Path,
    clips: int = 16,
    seed: int = 6000,
    pipeline: str = "motion",
    frames: int = 40,
    size: tuple[int, int] = (320, 240),
    log=print,
) -> dict:
    """Write ``{"x": fused, "gt": sharp, "meta": …}`` (uint8 ``N×3×H×W``) to ``out`` (atomically); returns it."""
    specs = clip_specs(data, clips, seed, frames, size)
    xs, gts = fused_frames(specs, out.parent / f"{out.stem}_clips", pipeline, log)
    x, gt = torch.cat(xs), torch.cat(gts)
    digest = hashlib.sha256()
    for t in (x, gt):  # the pixels, fused then sharp (no concatenated copy of both)
        digest.update(t.numpy().data)
    meta = {
        "pipeline": pipeline,
        "clips": [{"name": s.name, "kind": s.kind, "source": Path(s.source).name, "seed": s.seed} for s in specs],
        "sha256": digest.hexdigest(),
    }
    res = {"x": x, "gt": gt, "meta": meta}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    torch.save(res, tmp)
    tmp.replace(out)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data/sharp"))
    ap.add_argument("--out", type=Path, default=Path("data/sharp/fused_motion.pt"))
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--seed", type=int, default=6000)
    ap.add_argument("--pipeline", default="motion", help="whose temporal_fusion stage fuses the clips")
    a = ap.parse_args(argv)
    res = build_fused_set(a.data, a.out, a.clips, a.seed, a.pipeline)
    print(f"{a.out}: {len(res['x'])} fused frames from {a.clips} clips, sha256 {res['meta']['sha256'][:16]}…")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
