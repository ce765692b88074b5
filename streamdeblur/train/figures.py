"""Figures for the README: one frame from each stage, and what the FKE learned about direction.

``fke_orientation``: blur a sharp frame with straight-line kernels at 0°, 45°, 90° and 135°, run
the trained motion model, take its channel-averaged FKE kernel (last column, full scale) and
measure the kernel's dominant orientation from the second moments of its magnitude around the
centre (the principal axis). A model whose kernel estimator responds to the blur direction shows
angles that follow the input's.

Run: ``python -m streamdeblur.train.figures --out samples/figures``
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from ..models import create_model
from ..models.kernels import centre_crop, normalise_for_display
from ..stages import Batch, StageContext, create_stage
from ..stages.compare import label_overlay, paste
from .blur import convolve, line_kernel, linear_to_srgb, srgb_to_linear
from .defocus import disc_kernel

ANGLES = (0, 45, 90, 135)


def dominant_orientation(kernel: torch.Tensor) -> float:
    """Principal-axis angle in degrees [0, 180) of ``|kernel|`` (0° horizontal, counter-clockwise)."""
    k = kernel.abs().double()
    k = k - k.median()  # ignore the flat floor
    k = k.clamp_min(0)
    h, w = k.shape
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float64) - h // 2, torch.arange(w, dtype=torch.float64) - w // 2, indexing="ij"
    )
    m = k.sum().clamp_min(1e-12)
    cxx, cyy, cxy = (k * xx * xx).sum() / m, (k * yy * yy).sum() / m, (k * xx * -yy).sum() / m
    return (math.degrees(0.5 * math.atan2(2 * float(cxy), float(cxx - cyy))) + 180) % 180


def angular_error(a: float, b: float) -> float:
    d = abs(a - b) % 180
    return min(d, 180 - d)


def fke_orientation(model, sharp_rgb: np.ndarray, length: int = 21, crop: int = 33) -> list[dict]:
    """Measure the FKE kernel orientation for line blurs at :data:`ANGLES`; returns rows with the
    input angle, the measured angle and the kernel (``crop×crop``)."""
    lin = srgb_to_linear(sharp_rgb.astype(np.float32) / 255)
    rows = []
    for ang in ANGLES:
        k = line_kernel(length | 1, ang, length=length - 2)
        blurred = (linear_to_srgb(convolve(lin, k)) * 255 + 0.5).astype(np.uint8)
        x = torch.from_numpy(blurred).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            kern = centre_crop(model.estimate_kernels(x).mean[0], crop)
        rows.append({"input_deg": ang, "measured_deg": dominant_orientation(kern), "kernel": kern, "blurred": blurred})
    return rows


def orientation_figure(rows: list[dict], path: Path, size: int = 160) -> Path:
    tiles = []
    for r in rows:
        b = cv2.resize(r["blurred"], (size * r["blurred"].shape[1] // r["blurred"].shape[0], size))
        k = (normalise_for_display(r["kernel"]).sqrt().numpy() * 255).astype(np.uint8)
        k = cv2.applyColorMap(cv2.resize(k, (size, size), interpolation=cv2.INTER_NEAREST), cv2.COLORMAP_INFERNO)[..., ::-1]
        row = np.concatenate([b, np.full((size, 6, 3), 255, np.uint8), k], 1)
        text = f"blur {r['input_deg']} deg -> FKE {r['measured_deg']:.0f} deg"
        cv2.putText(row, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(row, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(row)
    w = max(t.shape[1] for t in tiles)
    img = np.concatenate([np.pad(t, ((0, 6), (0, w - t.shape[1]), (0, 0)), constant_values=255) for t in tiles], 0)
    cv2.imwrite(str(path), img[..., ::-1])
    return path


def stage_frames(frame_rgb: np.ndarray, out: Path, sharp_rgb: np.ndarray | None = None) -> list[Path]:
    """One frame through each stage (deblur, defocus, kernel_overlay, compare) as PNGs.

    The motion stages get the sample's shaky frame; the defocus stage gets the sharp frame blurred
    by a disc PSF (radius 4 px, in linear light), since the sample has no defocus of its own."""
    x = torch.from_numpy(frame_rgb).permute(2, 0, 1)[None].float() / 255
    paths = []

    def save(name: str, t: torch.Tensor, label: str) -> None:
        t = t.clone()
        c, a = label_overlay(label, t.shape[-2])
        paste(t, c, a, 4, 4)
        img = (t[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        p = out / f"stage_{name}.png"
        cv2.imwrite(str(p), img[..., ::-1])
        paths.append(p)

    save("input", x, "input (blurry)")
    deblur = create_stage("deblur", {"weights": "default"})
    save("deblur", deblur(Batch(x.clone(), [], x)).images, "deblur (deeprftv2-t)")
    try:
        src = sharp_rgb if sharp_rgb is not None else frame_rgb
        lin = srgb_to_linear(src.astype(np.float32) / 255)
        dx = (linear_to_srgb(convolve(lin, disc_kernel(4.0))) * 255 + 0.5).astype(np.uint8)
        xd = torch.from_numpy(dx).permute(2, 0, 1)[None].float() / 255
        save("defocus_input", xd, "input (defocused, disc r=4)")
        defocus = create_stage("defocus", {"weights": "default"})
        save("defocus", defocus(Batch(xd.clone(), [], xd)).images, "defocus (fdikp)")
    except Exception as exc:  # noqa: BLE001 - figure generation reports and goes on
        print(f"defocus figure skipped: {exc}")
    ctx = StageContext(provide=frozenset({"kernels"}))
    tiled = create_stage("deblur", {"weights": "default", "tile": 128, "overlap": 32}, ctx)
    b = tiled(Batch(x.clone(), [], x))
    b = create_stage("kernel_overlay", {"size": 48})(b)
    save("kernel_overlay", b.images, "kernel_overlay")
    b = deblur(Batch(x.clone(), [], x))
    b = create_stage("compare", {"mode": "wipe", "position": 0.5})(b)
    save("compare", b.images, "")
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="samples/figures")
    ap.add_argument("--clip", default="samples/shaky_boats.mp4")
    ap.add_argument("--sharp", default="samples/shaky_boats_sharp.mp4")
    ap.add_argument("--frame", type=int, default=20)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_flush_denormal(True)
    with av.open(args.clip) as c:
        frame = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)][args.frame]
    with av.open(args.sharp) as c:
        sharp = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)][args.frame]
    with torch.inference_mode():  # as the pipeline runs stages (their outputs are inference tensors)
        print("stages:", [str(p) for p in stage_frames(frame, out, sharp)])
    model = create_model("deeprftv2-t", weights="default")
    rows = fke_orientation(model, sharp[32 : 288 - 32, 128:384])
    fig = orientation_figure(rows, out / "fke_orientation.png")
    summary = [
        {
            "input_deg": r["input_deg"],
            "measured_deg": round(r["measured_deg"], 1),
            "error_deg": round(angular_error(r["input_deg"], r["measured_deg"]), 1),
        }
        for r in rows
    ]
    (out / "fke_orientation.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(fig, json.dumps(summary))


if __name__ == "__main__":
    main()
