"""``streamdeblur data build``: assemble sharp training content with a provenance manifest.

Sources:

* Debian packages, fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x`` (never
  installed): the photographs listed in ``debian_sources.json`` (curated by hand from
  ``plasma-workspace-wallpapers``, ``mate-backgrounds`` and ``opencv-doc``; renders,
  illustrations, text and calibration images are listed there as excluded, with reasons) and the
  frames of ``opencv-doc``'s real camera video.
* The user's own folders of sharp images or videos (``--source DIR``, repeatable).

Every kept file is recorded in ``manifest.json`` with its package, version, path inside the
package, licence, author, size and SHA-256. The evaluation split is fixed *by source image*
(near-duplicates such as stereo pairs share a split), never by crop, so crops of one photo never
appear on both sides.

Layout written under the output directory::

    manifest.json
    images/<split>/<id>.png        sharp images, RGB, optionally downscaled
    clips/<split>/<id>/NNN.png     groups of consecutive video frames (for frame averaging)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v"}
#: Photos we leave out although they are photographs (reason recorded in the manifest).
DROP = {
    "usr/share/doc/opencv-doc/examples/data/messi5.jpg": "watermarked press photo of a real person; licence unclear",
}
#: Downscale factors by curated quality: soft or noisy photos are halved so detail is real.
QUALITY_SCALE = {"soft": 0.5, "noisy": 0.5, "soft/low-texture": 0.5}
#: Every 1-in-N source group (by hash) goes to the evaluation split.
EVAL_EVERY = 6
MAX_SIDE = 1600


@dataclass
class BuildOptions:
    out: Path
    debian: bool = True
    sources: tuple[Path, ...] = ()
    cache: Path | None = None
    max_side: int = MAX_SIDE
    clip_groups: int = 12
    clip_length: int = 7


def load_catalog() -> dict:
    """The curated Debian catalogue shipped with the package."""
    return json.loads(resources.files("streamdeblur.train").joinpath("debian_sources.json").read_text())


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def stratified_splits(groups_by_package: dict[str, set[str]]) -> dict[tuple[str, str], str]:
    """Fixed split per package: its groups sorted by hash, every :data:`EVAL_EVERY`-th to ``eval``
    (so each package has at least one evaluation group)."""
    out = {}
    for pkg, groups in groups_by_package.items():
        for i, g in enumerate(sorted(groups, key=lambda g: _hash(pkg + ":" + g))):
            out[(pkg, g)] = "eval" if i % EVAL_EVERY == 0 else "train"
    return out


def fetch_debs(packages: Iterable[str], cache: Path, log: Callable[[str], None] = print) -> dict[str, Path]:
    """``apt-get download`` each package into ``cache`` (reused when present) and unpack it."""
    cache.mkdir(parents=True, exist_ok=True)
    roots: dict[str, Path] = {}
    for pkg in packages:
        debs = sorted(cache.glob(f"{pkg}_*.deb"))
        if not debs:
            log(f"apt-get download {pkg}")
            subprocess.run(["apt-get", "download", pkg], cwd=cache, check=True, capture_output=True)
            debs = sorted(cache.glob(f"{pkg}_*.deb"))
        if not debs:
            raise RuntimeError(f"apt-get download {pkg} produced no .deb in {cache}")
        root = cache / "unpacked" / pkg
        if not root.exists():
            tmp = root.with_name(pkg + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(tmp)], check=True)
            tmp.rename(root)
        roots[pkg] = root
    return roots


def _resize(img: np.ndarray, scale: float, max_side: int) -> tuple[np.ndarray, float]:
    h, w = img.shape[:2]
    scale = min(scale, max_side / max(h, w))
    if scale < 1.0:
        img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return img, min(scale, 1.0)


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    return img[..., ::-1].copy()


def write_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), rgb[..., ::-1])


def _video_groups(path: Path, groups: int, length: int) -> list[list[np.ndarray]]:
    import av

    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    if len(frames) < length:
        return []
    starts = np.linspace(0, len(frames) - length, groups).astype(int)
    return [frames[s : s + length] for s in starts]


def build(opts: BuildOptions, log: Callable[[str], None] = print) -> dict:
    """Build the dataset described in the module docstring; returns the manifest."""
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    entries: list[dict] = []
    if opts.debian:
        cat = load_catalog()
        roots = fetch_debs(cat["packages"], opts.cache or out / "debs", log)
        versions = {k: v["version"] for k, v in cat["packages"].items()}
        groups: dict[str, set[str]] = {}
        for f in cat["files"]:
            if f["path"] not in DROP:
                groups.setdefault(f["package"], set()).add(_group(f))
        splits = stratified_splits(groups)
        for f in cat["files"]:
            src = roots[f["package"]] / f["path"]
            entry = {k: f.get(k) for k in ("package", "path", "kind", "licence", "author", "quality")}
            entry["version"] = versions[f["package"]]
            if f["path"] in DROP:
                entry.update(dropped=DROP[f["path"]])
                entries.append(entry)
                continue
            entry.update(bytes=src.stat().st_size, sha256=sha256(src), split=splits[(f["package"], _group(f))])
            entries.append(_ingest(src, entry, out, opts, QUALITY_SCALE.get(f.get("quality") or "", 1.0)))
            log(f"{entry['split']:5s} {f['package']}: {f['path']}")
    for folder in opts.sources:
        found = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS)
        # split by the path inside the folder (stable wherever the folder lives), stratified so
        # that every folder of two or more files gives the evaluation split at least one
        rel = {src: src.relative_to(folder).as_posix() for src in found}
        user_split = stratified_splits({"user": set(rel.values())}) if len(found) > 1 else {}
        for src in found:
            kind = "video" if src.suffix.lower() in VIDEO_EXTS else "photo"
            entry = {
                "package": None,
                "path": str(src),
                "kind": kind,
                "licence": "user's own footage",
                "bytes": src.stat().st_size,
                "sha256": sha256(src),
                "split": user_split.get(("user", rel[src]), "train"),
            }
            entries.append(_ingest(src, entry, out, opts, 1.0))
            log(f"{entry['split']:5s} user: {src}")
    manifest = {"version": 1, "eval_every": EVAL_EVERY, "max_side": opts.max_side, "files": entries}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _group(f: dict) -> str:
    """Source group of a catalogue entry: near-duplicates (stereo pairs, consecutive frames) share one."""
    g = f.get("near_duplicate_of") or f["path"]
    return g if isinstance(g, str) else sorted(g)[0]


def _ingest(src: Path, entry: dict, out: Path, opts: BuildOptions, scale: float) -> dict:
    ident = hashlib.sha256(entry["path"].encode()).hexdigest()[:12]
    entry["id"] = ident
    if entry["kind"] == "video":
        groups = _video_groups(src, opts.clip_groups, opts.clip_length)
        for g, frames in enumerate(groups):
            for i, fr in enumerate(frames):
                fr, used = _resize(fr, scale, opts.max_side)
                write_png(out / "clips" / entry["split"] / ident / f"{g:03d}_{i:03d}.png", fr)
        entry.update(clip_groups=len(groups), clip_length=opts.clip_length)
        return entry
    img, used = _resize(read_rgb(src), scale, opts.max_side)
    write_png(out / "images" / entry["split"] / f"{ident}.png", img)
    entry.update(scale=round(used, 4), width=img.shape[1], height=img.shape[0])
    return entry
