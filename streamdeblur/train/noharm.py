"""Do no harm on video: what a pipeline costs a clip that needed nothing.

A sharp clip (e.g. a dev-set ``<name>.sharp.mkv``) gets what a camera adds even when nothing moves —
Gaussian sensor noise (σ 2/255 by default, a fixed seed) and H.264 at crf 18 — and is run through
each pipeline by the product itself (output written losslessly). Every frame's PSNR against the
clean frame is compared with the identity pipeline's on the same noisy file, so the decoder,
the colour conversion and the noise are the same on both sides and only the pipeline differs::

    harm per frame = PSNR(pipeline output, clean) − PSNR(noisy input, clean)

The issue's bar for the default pipelines: mean ≥ −0.1 dB.

Example::

    python -m streamdeblur.train.noharm --clip DEVSET/still_0.sharp.mkv --pipeline motion --pipeline my.yaml
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import av
import numpy as np

from ..engine.config import ConfigError
from .devset import DETERMINISTIC_X264
from .video_eval import resolve_pipeline, run_pipeline
from .video_metrics import psnr_frames, read_frames


def noisy_copy(sharp: str | Path, out: str | Path, sigma: float = 2 / 255, crf: int = 18, seed: int = 0) -> int:
    """Write ``sharp`` with Gaussian noise (σ in [0, 1] units, on the 8-bit RGB frames) as H.264 yuv420p
    at ``crf``, 30 fps, into ``out``; returns the number of frames.

    Example:
        >>> noisy_copy("still_0.sharp.mkv", "noisy.mp4")  # doctest: +SKIP
        75
    """
    frames = read_frames(sharp)
    if not frames:
        raise ValueError(f"{sharp}: no frames")
    rng = np.random.default_rng(seed)
    h, w = frames[0].shape[:2]
    with av.open(str(out), "w") as c:
        # without MB-tree: the same noisy file on every run (devset.DETERMINISTIC_X264)
        s = c.add_stream("libx264", rate=30, options={"crf": str(crf), "x264-params": DETERMINISTIC_X264})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for f in frames:
            n = np.clip(f / 255.0 + rng.normal(0.0, sigma, f.shape), 0, 1)
            for p in s.encode(av.VideoFrame.from_ndarray((n * 255 + 0.5).astype(np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return len(frames)


def harm(clean: list, base: list, out: list) -> dict:
    """Per-frame PSNR change of ``out`` over ``base`` against ``clean``: mean, worst, and the frames."""
    d = psnr_frames(out, clean) - psnr_frames(base, clean)
    return {"mean": round(float(d.mean()), 3), "worst": round(float(d.min()), 3), "per_frame": [round(float(v), 3) for v in d]}


def measure(sharp: str | Path, pipelines: list[str], sigma: float = 2 / 255, crf: int = 18, log=print) -> dict:
    """Every pipeline's harm on ``sharp`` made noisy (:func:`noisy_copy`), against the identity pipeline."""
    clean = read_frames(sharp)
    res: dict = {"clip": str(sharp), "sigma": sigma, "crf": crf, "pipelines": {}}
    with tempfile.TemporaryDirectory(prefix="sd-noharm-") as tmp:
        noisy = Path(tmp) / "noisy.mp4"
        noisy_copy(sharp, noisy, sigma, crf)
        _, ident = resolve_pipeline("identity")
        base, _ = run_pipeline(ident, noisy, Path(tmp))
        res["identity_psnr"] = round(float(np.mean(psnr_frames(base, clean))), 3)
        for spec in pipelines:
            label, cfg = resolve_pipeline(spec)
            out, secs = run_pipeline(cfg, noisy, Path(tmp))
            res["pipelines"][label] = harm(clean, base, out) | {"seconds": round(secs, 1)}
            r = res["pipelines"][label]
            log(f"{label}: {r['mean']:+.3f} dB mean, worst frame {r['worst']:+.3f} dB ({secs:.0f} s)")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m streamdeblur.train.noharm", description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, required=True, help="a sharp clip (e.g. a dev set's <name>.sharp.mkv)")
    ap.add_argument("--pipeline", action="append", help="shipped name or YAML path (repeatable; default motion)")
    ap.add_argument("--sigma", type=float, default=2.0, help="noise σ in 8-bit levels (default 2)")
    ap.add_argument("--crf", type=int, default=18, help="H.264 crf of the noisy copy (default 18)")
    ap.add_argument("--json", type=Path, help="also write every number here")
    a = ap.parse_args(argv)
    if not a.clip.is_file():
        print(f"error: {a.clip}: no such file")
        return 2
    try:
        res = measure(a.clip, a.pipeline or ["motion"], a.sigma / 255, a.crf)
    except (ConfigError, ValueError, RuntimeError, av.error.FFmpegError) as e:
        print(f"error: {e}")
        return 2
    print(f"identity: {res['identity_psnr']:.2f} dB against the clean frames")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
