"""Rebuild the bundled sample clips from their source photograph (see samples/README.md).

The photograph is the "EveningGlow" wallpaper (Ian Hex) from Debian's plasma-workspace-wallpapers
package (fetched with ``apt-get download``, unpacked, never installed). A hand-held camera is
simulated over it: a slow pan plus shake (a few random sinusoids between 1 and 9 Hz whose strength
comes in bursts) and a slight roll. Each blurry frame integrates the view over a 1/30 s exposure
in linear light (24 sub-positions), so the blur is exactly the camera's motion during the
exposure and varies across the frame when the camera rolls. The sharp clip renders the view at
mid-exposure.

Run from the repository root:  python samples/make_samples.py [--photo PATH]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

PACKAGE = "plasma-workspace-wallpapers"
PHOTO = "usr/share/wallpapers/EveningGlow/contents/images/2560x1600.jpg"
OUT_W, OUT_H, FPS, SECONDS = 512, 288, 15, 3.0
VIEW_SCALE = 1.6  # photo pixels per output pixel
EXPOSURE = 1 / 30
SUBSAMPLES = 24


def fetch_photo() -> Path:
    tmp = Path(tempfile.mkdtemp())
    subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, check=True, capture_output=True)
    deb = next(tmp.glob(f"{PACKAGE}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "x")], check=True)
    return tmp / "x" / PHOTO


def to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def camera(t: np.ndarray, rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera centre (x, y in photo pixels) and roll (radians) at times ``t``."""
    freqs = rng.uniform(1.0, 9.0, 6)
    phases = rng.uniform(0, 2 * np.pi, (6, 3))
    amps = rng.uniform(0.4, 1.0, 6) / freqs  # faster shake is smaller
    burst = 0.35 + 0.65 * (0.5 + 0.5 * np.sin(2 * np.pi * t / 1.7 + 1.0)) ** 2
    sx = sum(a * np.sin(2 * np.pi * f * t + p[0]) for a, f, p in zip(amps, freqs, phases)) * 28 * burst
    sy = sum(a * np.sin(2 * np.pi * f * t + p[1]) for a, f, p in zip(amps, freqs, phases)) * 21 * burst
    roll = sum(a * np.sin(2 * np.pi * f * t + p[2]) for a, f, p in zip(amps, freqs, phases)) * 0.008 * burst
    cx = 0.30 * w + 0.35 * w * t / SECONDS + sx
    cy = 0.58 * h + sy
    return cx, cy, roll


def render(lin: np.ndarray, cx: float, cy: float, roll: float) -> np.ndarray:
    s = VIEW_SCALE
    c, sn = np.cos(roll) / s, np.sin(roll) / s
    # output pixel (u, v) samples photo at centre + R(roll)·s·(u − W/2, v − H/2): invert for warpAffine
    m = np.array([[c, sn, 0.0], [-sn, c, 0.0]])
    m[:, 2] = np.array([OUT_W / 2, OUT_H / 2]) - m[:, :2] @ np.array([cx, cy])
    return cv2.warpAffine(lin, m, (OUT_W, OUT_H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def encode(path: Path, frames: list[np.ndarray]) -> None:
    from av.video.reformatter import ColorRange, Colorspace

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = OUT_W, OUT_H, "yuv420p"
        s.options = {"crf": "18", "preset": "slow"}
        cc = s.codec_context
        cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc = 6, 1, 6, 6  # BT.601 SD, limited
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(
                format="yuv420p", dst_colorspace=Colorspace.ITU601, dst_color_range=ColorRange.MPEG
            )
            vf.pts, vf.time_base = i, Fraction(1, FPS)
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photo", help="path of the wallpaper (default: apt-get download it)")
    ap.add_argument("--out", default=str(Path(__file__).parent))
    args = ap.parse_args()
    photo = Path(args.photo) if args.photo else fetch_photo()
    img = cv2.imread(str(photo), cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255
    lin = to_linear(img).astype(np.float32)
    h, w = lin.shape[:2]
    rng = np.random.default_rng(7)
    blurry, sharp = [], []
    for k in range(int(SECONDS * FPS)):
        t0 = k / FPS
        ts = t0 + EXPOSURE * (np.arange(SUBSAMPLES) + 0.5) / SUBSAMPLES
        cx, cy, roll = camera(ts, np.random.default_rng(7), w, h)
        acc = sum(render(lin, x, y, r) for x, y, r in zip(cx, cy, roll)) / SUBSAMPLES
        mid = camera(np.array([t0 + EXPOSURE / 2]), np.random.default_rng(7), w, h)
        blurry.append((to_srgb(acc) * 255 + 0.5).astype(np.uint8))
        sharp.append((to_srgb(render(lin, mid[0][0], mid[1][0], mid[2][0])) * 255 + 0.5).astype(np.uint8))
    del rng
    out = Path(args.out)
    encode(out / "shaky_boats.mp4", blurry)
    encode(out / "shaky_boats_sharp.mp4", sharp)
    print("wrote", out / "shaky_boats.mp4", out / "shaky_boats_sharp.mp4")


if __name__ == "__main__":
    main()
