"""A video dev set with ground truth: hand-held camera shake rendered over still photos and real footage.

Every clip is a pair of videos plus a JSON of per-frame facts::

    <name>.sharp.mkv    the reference: FFV1 (lossless) in 8-bit RGB (``bgr0``), so it is never degraded
    <name>.blurry.mp4   what a phone would record: H.264 yuv420p, BT.601 limited range (tagged), crf 18–28
    <name>.json         the recipe (seed, source, exposure, crf, noise) and, per frame, the blur path length

How a frame is made (all in linear light, as a sensor integrates light):

* **Camera path** (:mod:`.shake`): a random walk in velocity whose strength comes in bursts, so some
  frames are nearly sharp; still scenes add a slow pan across the photograph.
* **Exposure.** Frame ``t`` is exposed over ``[t, t + e]`` frame times, ``e`` in 0.6–1.0 per clip.
  The blurry frame is the mean of many warps of the scene along the path over that interval (enough
  samples that consecutive ones are ≤ 0.5 px apart), so the blur is the true integral of the path
  and varies across the frame when the camera rolls. The sharp reference is the scene at the
  exposure's midpoint, warped the same way.
* **Sensor and codec.** Shot + read noise on linear light, sRGB encoding, 8 bits, then H.264 at a
  crf phones use.

Content: (a) ``still_*``: photographs from the ``val`` (or, with ``split="test"``, ``test``) split of
``streamdeblur data build`` — never training photos; (b) ``moving_*``: frames of OpenCV's
``vtest.avi`` (real footage of people walking; 10 fps, played here at 30 fps, so people move 3×
faster than in life; frame ranges avoid the frames ``data build`` puts in the training clips) with
shake on top — the subjects carry no extra motion blur within an exposure; (c) ``object_*``: a
textured disc moving across a shaken still photo, blurred by its own motion and the camera's.

Example:
    >>> specs = default_specs(Path("/data/sharp"), split="val")          # doctest: +SKIP
    >>> generate(specs, Path("/work/scratch/devset"))                     # doctest: +SKIP

Command line: ``python -m streamdeblur.train.devset --sharp /data/sharp --out DIR [--split val|test] [--seed N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..io.color import ColorInfo, rgb_to_frame, tag_codec
from .blur import add_sensor_noise, linear_to_srgb, log_uniform, srgb_to_linear
from .shake import CameraPath, ShakeConfig, blur_lengths, camera_path, exposure_samples, view_points

#: Colour of the blurry clips: SD video as phones tag it (and what our reader assumes below 720 lines).
BLURRY_COLOR = ColorInfo("bt601", "tv", "smpte170m", "smpte170m")
VTEST_REL = "usr/share/doc/opencv-doc/examples/data/vtest.avi"


@dataclass
class ClipSpec:
    """One clip to render.

    Attributes:
        name: file stem.
        kind: ``still`` (photo), ``moving`` (video frames), ``object`` (moving disc over a photo).
        source: photo path, or video path for ``moving``.
        size: output ``(width, height)``.
        frames: number of frames (30 fps).
        seed: random seed of this clip.
        start: first source frame (``moving`` only).
        sprite: photo the moving disc's texture is cut from (``object`` only).
    """

    name: str
    kind: str
    source: str
    size: tuple[int, int] = (320, 240)
    frames: int = 75
    seed: int = 0
    start: int = 0
    sprite: str = ""
    shake: ShakeConfig = field(default_factory=ShakeConfig)


# -- rendering ------------------------------------------------------------------------------------


def _affine(pose: tuple[float, float, float], size: tuple[int, int], centre: tuple[float, float]) -> np.ndarray:
    """Output pixel → scene pixel (``WARP_INVERSE_MAP`` convention) for a camera pose."""
    x, y, a = pose
    w, h = size
    ca, sa = np.cos(a), np.sin(a)
    ox, oy = (w - 1) / 2, (h - 1) / 2
    tx = centre[0] + x - (ca * ox - sa * oy)
    ty = centre[1] + y - (sa * ox + ca * oy)
    return np.array([[ca, -sa, tx], [sa, ca, ty]], np.float64)


def _warp(scene: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.warpAffine(scene, m, size, flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT101)


@dataclass
class Scene:
    """What the camera looks at, in linear light: a still image, or one image per frame.

    ``sprite`` (optional): a moving textured disc (``rgb``, ``alpha``) with its scene position per frame time.
    """

    images: list[np.ndarray]
    sprite_rgb: np.ndarray | None = None
    sprite_alpha: np.ndarray | None = None
    sprite_pos: tuple[np.ndarray, np.ndarray] | None = None  # (x0, velocity) in scene px, px per frame

    def image(self, f: int) -> np.ndarray:
        return self.images[min(f, len(self.images) - 1)]

    @property
    def centre(self) -> tuple[float, float]:
        h, w = self.images[0].shape[:2]
        return ((w - 1) / 2, (h - 1) / 2)

    def render(self, f: int, t: float, path: CameraPath, size: tuple[int, int]) -> np.ndarray:
        """The view at time ``t`` (frame ``f``'s scene content) as linear RGB float32."""
        m = _affine(path.at(t), size, self.centre)
        out = _warp(self.image(f), m, size)
        if self.sprite_rgb is not None:
            x0, v = self.sprite_pos
            sx, sy = x0 + v * t
            sh, sw = self.sprite_alpha.shape
            # sprite pixel → scene pixel is a shift; compose with the camera's output → scene map
            ms = m.copy()
            ms[0, 2] -= sx - (sw - 1) / 2
            ms[1, 2] -= sy - (sh - 1) / 2
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            rgb = cv2.warpAffine(self.sprite_rgb, ms, size, flags=flags, borderMode=cv2.BORDER_CONSTANT)
            al = cv2.warpAffine(self.sprite_alpha, ms, size, flags=flags, borderMode=cv2.BORDER_CONSTANT)[..., None]
            out = out * (1 - al) + rgb * al
        return out


def _load_rgb(path: str | Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    return img[..., ::-1]


def _to_linear(img_u8: np.ndarray) -> np.ndarray:
    return srgb_to_linear(img_u8.astype(np.float32) / 255.0).astype(np.float32)


def _fit_scale(src_hw: tuple[int, int], path: CameraPath, size: tuple[int, int], n_frames: int) -> float:
    """Scale of the source so that every view of the path stays inside it (with 4 px to spare)."""
    pts = view_points(path, size, np.arange(len(path.t)))
    need_w = 2 * (np.abs(pts[..., 0]).max() + 4)
    need_h = 2 * (np.abs(pts[..., 1]).max() + 4)
    return max(need_w / src_hw[1], need_h / src_hw[0])


def _resize_to(img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(img, size, interpolation=interp)


def read_video_frames(path: str | Path, start: int, count: int) -> list[np.ndarray]:
    """Frames ``start … start+count-1`` of a video as RGB uint8 (decoding through the final flush)."""
    out = []
    with av.open(str(path)) as c:
        for i, fr in enumerate(c.decode(video=0)):
            if i >= start + count:
                break
            if i >= start:
                out.append(fr.to_ndarray(format="rgb24"))
    if len(out) < count:
        raise ValueError(f"{path}: only {len(out)} frames from {start}, {count} wanted")
    return out


def build_scene(spec: ClipSpec, path: CameraPath, rng: np.random.Generator, info: dict) -> Scene:
    """Load and scale the content of ``spec`` so the whole camera path stays inside it."""
    if spec.kind == "moving":
        frames = read_video_frames(spec.source, spec.start, spec.frames)
        # crop the source to the output aspect first (vtest is 4:3; a 16:9 clip takes a centred band)
        h, w = frames[0].shape[:2]
        ar = spec.size[0] / spec.size[1]
        cw, ch = (w, round(w / ar)) if w / h < ar else (round(h * ar), h)
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        frames = [f[y0 : y0 + ch, x0 : x0 + cw] for f in frames]
        scale = _fit_scale((ch, cw), path, spec.size, spec.frames)
        info.update(source_frames=[spec.start, spec.start + spec.frames - 1], source_scale=round(scale, 4))
        return Scene([_to_linear(_resize_to(f, scale)) for f in frames])
    photo = _load_rgb(spec.source)
    scale = _fit_scale(photo.shape[:2], path, spec.size, spec.frames)
    info.update(source_scale=round(scale, 4))
    if scale > 1:
        info["warning"] = "photo upsampled: smaller than the view plus the camera's excursion"
    scene = Scene([_to_linear(_resize_to(photo, scale))])
    if spec.kind == "object":
        tex = _to_linear(_load_rgb(spec.sprite or spec.source))
        r = int(0.16 * spec.size[1])
        th, tw = tex.shape[:2]
        s = (2 * r + 1) / min(th, tw) * 2.0
        tex = _resize_to(tex, s)
        cy, cx = tex.shape[0] // 2, tex.shape[1] // 2
        tex = np.ascontiguousarray(tex[cy - r : cy + r + 1, cx - r : cx + r + 1])
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        alpha = np.clip(r + 0.5 - np.hypot(xx, yy), 0, 1).astype(np.float32)  # anti-aliased disc edge
        sh, sw = scene.images[0].shape[:2]
        w = spec.size[0]
        speed = rng.uniform(0.9, 1.2) * (w - 2 * r) / spec.frames  # px per frame: it crosses the view in the clip
        y_rel = rng.uniform(-0.2, 0.2) * spec.size[1]
        x_start = -0.5 * w + r
        direction = 1 if rng.uniform() < 0.5 else -1
        x0 = np.array([(sw - 1) / 2 + direction * x_start, (sh - 1) / 2 + y_rel])
        v = np.array([direction * speed, rng.uniform(-0.5, 0.5)])  # from its side towards the other
        scene.sprite_rgb, scene.sprite_alpha, scene.sprite_pos = tex, alpha, (x0, v)
        info.update(object_radius_px=r, object_speed_px_per_frame=round(float(np.hypot(*v)), 3))
    return scene


# -- writing --------------------------------------------------------------------------------------


#: x264 without MB-tree. PyAV's x264 with MB-tree on (its default above preset ultrafast) encodes the
#: same frames differently from run to run on this project's CPUs (one thread or many; Debian's
#: ffmpeg does not): up to 66 levels on a pixel and 0.18 dB on a frame of ``still_0``, so every
#: rendering of the dev set was a slightly different dev set. Phones' hardware encoders have no
#: MB-tree either. (``asm=0`` also cures it, at many times the encoding time.)
DETERMINISTIC_X264 = "mbtree=0"


def _open_writer(path: Path, codec: str, size: tuple[int, int], fps: int, options: dict, pix_fmt: str):
    c = av.open(str(path), "w")
    s = c.add_stream(codec, rate=fps, options=options)
    s.width, s.height, s.pix_fmt = size[0], size[1], pix_fmt
    s.codec_context.time_base = Fraction(1, fps)
    return c, s


class ClipWriter:
    """Writes the sharp (FFV1 RGB, lossless) and blurry (H.264 yuv420p) videos side by side, atomically."""

    def __init__(self, out: Path, name: str, size: tuple[int, int], fps: int, crf: int) -> None:
        self.final = [out / f"{name}.sharp.mkv", out / f"{name}.blurry.mp4"]
        self.tmp = [p.with_name(p.name.replace(".", ".partial.", 1)) for p in self.final]
        self.sharp, self.s_stream = _open_writer(self.tmp[0], "ffv1", size, fps, {}, "bgr0")
        opts = {"crf": str(crf), "preset": "medium", "x264-params": DETERMINISTIC_X264}
        self.blurry, self.b_stream = _open_writer(self.tmp[1], "libx264", size, fps, opts, "yuv420p")
        tag_codec(self.b_stream.codec_context, BLURRY_COLOR)
        self.n = 0

    def write(self, sharp: np.ndarray, blurry: np.ndarray) -> None:
        a = av.VideoFrame.from_ndarray(sharp, format="rgb24").reformat(format="bgr0")
        b = rgb_to_frame(blurry, BLURRY_COLOR, "yuv420p")
        for fr, c, s in ((a, self.sharp, self.s_stream), (b, self.blurry, self.b_stream)):
            fr.pts, fr.time_base = self.n, Fraction(1, s.codec_context.framerate or 30)
            c.mux(s.encode(fr))
        self.n += 1

    def close(self) -> list[Path]:
        for c, s in ((self.sharp, self.s_stream), (self.blurry, self.b_stream)):
            c.mux(s.encode(None))
            c.close()
        for t, f in zip(self.tmp, self.final):
            os.replace(t, f)
        return self.final


def _psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def render_clip(spec: ClipSpec, out: Path, fps: int = 30) -> dict:
    """Render one clip into ``out``; returns (and writes) its metadata.

    Args:
        spec: what to render.
        out: output folder.
        fps: frame rate.

    Returns:
        the JSON metadata: recipe, and per frame the blur length in px (frame centre and worst point).
    """
    rng = np.random.default_rng(spec.seed)
    cfg = spec.shake
    path, env = camera_path(rng, spec.frames, spec.size, cfg, pan=spec.kind != "moving")
    exposure = float(rng.uniform(*cfg.exposure))
    crf = int(rng.integers(cfg.crf[0], cfg.crf[1] + 1))
    shot, read = log_uniform(rng, *cfg.shot), log_uniform(rng, *cfg.read)
    info: dict = {
        "name": spec.name,
        "kind": spec.kind,
        "source": str(spec.source),
        "size": list(spec.size),
        "fps": fps,
        "frames": spec.frames,
        "seed": spec.seed,
        "exposure": round(exposure, 4),
        "crf": crf,
        "noise": {"shot": shot, "read": read},
        "sharp_file": f"{spec.name}.sharp.mkv",
        "blurry_file": f"{spec.name}.blurry.mp4",
        "shake": asdict(cfg),
    }
    if spec.sprite:
        info["sprite_source"] = spec.sprite
    scene = build_scene(spec, path, rng, info)
    centre, worst = blur_lengths(path, spec.size, spec.frames, exposure)
    out.mkdir(parents=True, exist_ok=True)
    writer = ClipWriter(out, spec.name, spec.size, fps, crf)
    noise_rng = np.random.default_rng([spec.seed, 1])
    raw_psnr = []
    try:
        for f in range(spec.frames):
            sharp_lin = scene.render(f, f + exposure / 2, path, spec.size)
            ts = exposure_samples(path, spec.size, f, exposure)
            acc = np.zeros_like(sharp_lin)
            for t in ts:
                acc += scene.render(f, float(t), path, spec.size)
            blur_lin = add_sensor_noise(noise_rng, np.clip(acc / len(ts), 0, 1), shot, read)
            sharp = (linear_to_srgb(sharp_lin) * 255 + 0.5).astype(np.uint8)
            blurry = (linear_to_srgb(blur_lin) * 255 + 0.5).astype(np.uint8)
            raw_psnr.append(_psnr_u8(blurry, sharp))
            writer.write(sharp, blurry)
    except BaseException:
        for c in (writer.sharp, writer.blurry):
            c.close()
        for t in writer.tmp:
            t.unlink(missing_ok=True)
        raise
    writer.close()
    info["per_frame"] = {
        "blur_px_centre": [round(v, 3) for v in centre],
        "blur_px_max": [round(v, 3) for v in worst],
        "shake_strength": [round(float(v), 3) for v in env[1 : spec.frames + 1]],
        "psnr_before_codec_db": [round(v, 3) for v in raw_psnr],
    }
    tmp = out / f"{spec.name}.json.partial"
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, out / f"{spec.name}.json")
    return info


# -- the default set ------------------------------------------------------------------------------


def split_photos(sharp_root: Path, split: str) -> list[tuple[Path, int]]:
    """Photos of one split of a ``data build`` output (never the training split), one per scene group.

    Returns:
        ``(path, pixels)`` per photo, in id order.
    """
    if split == "train":
        raise ValueError("the dev set never uses training photos")
    return photos_of_split(sharp_root, split)


def photos_of_split(sharp_root: Path, split: str) -> list[tuple[Path, int]]:
    """Photos of any split, one per scene group, ``(path, pixels)`` in id order (the dev set itself
    uses :func:`split_photos`; training-split clips are for fitting, e.g. the do-no-harm gate)."""
    manifest = json.loads((sharp_root / "manifest.json").read_text())
    out, groups = [], set()
    for e in sorted(manifest["files"], key=lambda e: str(e.get("id"))):
        if e.get("split") != split or e.get("kind") != "photo" or e.get("group") in groups:
            continue
        p = sharp_root / "images" / split / f"{e['id']}.png"
        if p.exists():
            groups.add(e.get("group"))
            out.append((p, int(e.get("width") or 0) * int(e.get("height") or 0)))
    return out


def vtest_path(sharp_root: Path) -> Path | None:
    """``vtest.avi`` in a ``data build`` output's unpacked Debian packages, if there."""
    hits = sorted((sharp_root / "debs").glob(f"**/{VTEST_REL}"))
    return hits[0] if hits else None


def free_video_ranges(n_source: int, length: int, groups: int = 12, group_length: int = 7) -> list[int]:
    """Starts of ``length``-frame ranges of a video that avoid the frame groups ``data build`` takes for training."""
    from .data import video_group_starts

    taken = np.zeros(n_source, bool)
    for s in video_group_starts(n_source, groups, group_length):
        taken[s : s + group_length] = True
    starts, s = [], 0
    while s + length <= n_source:
        if not taken[s : s + length].any():
            starts.append(s)
            s += length
        else:
            s += 1
    return starts


def _count_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def default_specs(sharp_root: Path, split: str = "val", seed: int = 2026, seconds: float = 2.5) -> list[ClipSpec]:
    """The standard set: 3 still scenes at 320×240, 1 at 640×360, 2 moving-subject clips, 1 moving object."""
    photos = split_photos(sharp_root, split)
    if len(photos) < 2:
        raise ValueError(f"{sharp_root}: fewer than 2 {split} photos in manifest.json (run 'streamdeblur data build')")
    rng = np.random.default_rng(seed)
    n = round(30 * seconds)
    big = max(photos, key=lambda p: p[1])[0]  # the 640×360 clip takes the largest photo
    rest = [p for p, _ in photos if p != big]
    order = [rest[i] for i in rng.permutation(len(rest))]
    specs = [ClipSpec(f"still_{i}", "still", str(order[i % len(order)]), (320, 240), n, seed + i) for i in range(3)]
    specs.append(ClipSpec("still_3", "still", str(big), (640, 360), 60, seed + 3))
    vt = vtest_path(sharp_root)
    n_moving = 60  # 2 s: the longest stretches of the footage between the frames training takes
    if vt is not None:
        free = free_video_ranges(_count_frames(vt), n_moving)
        # val and test take different (non-overlapping) stretches of the footage
        n_free = len(free)
        pick = [free[0], free[n_free // 2]] if split == "val" else [free[n_free // 4], free[-1]]
        pick = sorted(set(pick)) if n_free >= 4 else free[:2]
        for j, s in enumerate(pick):
            specs.append(ClipSpec(f"moving_{j}", "moving", str(vt), (320, 240), n_moving, seed + 10 + j, start=s))
    specs.append(
        ClipSpec("object_0", "object", str(order[3 % len(order)]), (320, 240), n, seed + 20, sprite=str(order[4 % len(order)]))
    )
    return specs


def generate(specs: list[ClipSpec], out: Path, log=print) -> list[dict]:
    """Render every clip of ``specs`` into ``out`` (created); returns their metadata."""
    out.mkdir(parents=True, exist_ok=True)
    infos = []
    for spec in specs:
        t0 = time.perf_counter()
        info = render_clip(spec, out)
        pf = info["per_frame"]["blur_px_max"]
        log(
            f"{spec.name}: {spec.size[0]}x{spec.size[1]} {spec.frames} frames, "
            f"exposure {info['exposure']:.2f}, crf {info['crf']}, "
            f"blur {min(pf):.1f}–{max(pf):.1f} px ({time.perf_counter() - t0:.1f} s)"
        )
        infos.append(info)
    return infos


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m streamdeblur.train.devset", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    ap.add_argument("--sharp", type=Path, default=Path("/work/scratch/data/sharp"), help="'streamdeblur data build' output")
    ap.add_argument("--split", default="val", choices=["val", "test"], help="photo split (val: tuning; test: final report)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--only", nargs="*", help="render only these clip names")
    ap.add_argument("--size", help="render every clip at this WxH (e.g. 640x360, the live benchmark's size)")
    ap.add_argument("--seconds", type=float, help="every clip this long (default: 2.5 s stills, 2 s moving)")
    a = ap.parse_args(argv)
    try:
        specs = default_specs(a.sharp, a.split, a.seed, a.seconds or 2.5)
        if a.only:
            specs = [s for s in specs if s.name in set(a.only)]
        if a.size:
            w, h = (int(v) for v in a.size.lower().split("x"))
            specs = [replace(s, size=(w, h)) for s in specs]
        if a.seconds:  # the moving clips stay 2 s: longer stretches of the footage overlap training frames
            specs = [s if s.kind == "moving" else replace(s, frames=round(30 * a.seconds)) for s in specs]
        generate(specs, a.out)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
