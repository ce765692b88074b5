"""README figure: a dev clip frame as blurry | per-frame (deblur) | temporal (the default pipeline) | sharp.

"per-frame" is the ``deblur`` stage alone on the frame (what single images get); "temporal" is the
frame from the whole clip run through the default ``motion`` pipeline by the product itself
(fusion, model, fusion of the deblurred frames), written losslessly. Each panel is labelled and the
PSNR against the sharp reference is printed.

Run::

    python -m streamdeblur.train.temporal_figure --clip /work/scratch/devset/still_0 --frame 30 \
        --out samples/figures/temporal_strip.png
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from ..io.sources import open_source
from ..stages import Batch, create_stage
from ..stages.compare import label_overlay, paste
from .video_eval import resolve_pipeline, run_pipeline


def _frames(path: Path, lo: int, hi: int) -> list:
    src = open_source(str(path))
    try:
        return [f for f in src.frames() if lo <= f.index < hi]
    finally:
        src.close()


def _tensor(frames) -> torch.Tensor:
    return torch.from_numpy(np.stack([f.image for f in frames])).permute(0, 3, 1, 2).float() / 255


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-12)))


def strip(clip: str, frame: int, pipeline: str = "motion") -> tuple[np.ndarray, dict[str, float]]:
    """The four panels side by side (``H×4W×3`` uint8) and each panel's PSNR against the sharp frame.

    Args:
        clip: dev clip prefix (``<clip>.blurry.mp4`` and ``<clip>.sharp.mkv``).
        frame: frame index to show.
        pipeline: the pipeline of the "temporal" panel (a shipped name or a YAML path).
    """
    blurry = _frames(Path(f"{clip}.blurry.mp4"), frame, frame + 1)[0]
    sharp = _frames(Path(f"{clip}.sharp.mkv"), frame, frame + 1)[0].image
    one = _tensor([blurry])
    with torch.inference_mode():
        per_frame = create_stage("deblur", {})(Batch(one.clone(), [blurry], one)).images
    with tempfile.TemporaryDirectory() as tmp:
        frames, _ = run_pipeline(resolve_pipeline(pipeline)[1], Path(f"{clip}.blurry.mp4"), Path(tmp))
    temporal = frames[frame]
    panels = {
        "blurry": blurry.image,
        "per-frame": (per_frame[0].permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8),
        "temporal": temporal,
        "sharp": sharp,
    }
    scores = {k: psnr(v, sharp) for k, v in panels.items()}
    tiles = []
    for name, img in panels.items():
        t = torch.from_numpy(img).permute(2, 0, 1).float()[None] / 255
        text = name if name == "sharp" else f"{name} {scores[name]:.1f} dB"
        c, a = label_overlay(text, img.shape[0])
        paste(t, c, a, 4, 4)
        tiles.append((t[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    return np.concatenate(tiles, axis=1), scores


def shrink(img: np.ndarray, scale: float) -> np.ndarray:
    """Area-downscale an RGB image by ``scale`` (1: unchanged)."""
    if scale == 1:
        return img
    h, w = img.shape[:2]
    return cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", required=True, help="dev clip prefix, e.g. /work/scratch/devset/still_0")
    ap.add_argument("--frame", type=int, default=30)
    ap.add_argument("--pipeline", default="motion", help="pipeline of the temporal panel (default: the default)")
    ap.add_argument("--scale", type=float, default=0.6, help="shrink the strip (keeps the PNG small)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    img, scores = strip(args.clip, args.frame, args.pipeline)
    img = shrink(img, args.scale)
    cv2.imwrite(args.out, cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(" | ".join(f"{k} {v:.2f} dB" for k, v in scores.items() if k != "sharp"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
