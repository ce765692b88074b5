"""``streamdeblur data build``: assemble sharp training content with a provenance manifest.

Sources:

* Debian packages, fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x`` (never
  installed): the photographs listed in ``debian_sources.json`` (curated by hand from
  ``plasma-workspace-wallpapers``, ``mate-backgrounds`` and ``opencv-doc``; renders,
  illustrations, text and calibration images are listed there as excluded, with reasons) and the
  frames of ``opencv-doc``'s real camera video.
* The user's own folders of sharp images or videos (``--source DIR``, repeatable).

Every kept file is recorded in ``manifest.json`` with its package, the version actually
downloaded (read from the ``.deb``), path inside the package, licence, author, size and SHA-256.
The build is reproducible: ``apt-get download`` asks for the catalogue's pinned version, and every
``.deb`` and every file is checked against the SHA-256 in the catalogue; a mismatch is an error
naming the file.

Splits are fixed *by scene* (near-duplicates such as the stereo pair ``aloeL``/``aloeR`` share a
group and so a split), never by crop: ``train``; ``val`` (checkpoint selection, anything tuned);
``test`` (reported once per shipped weight). One group in :data:`EVAL_EVERY` per package is held
out, and the held-out groups alternate between ``test`` and ``val`` in hash order.

Layout written under the output directory::

    manifest.json
    images/<split>/<id>.png        sharp images, RGB, optionally downscaled (split: train | val | test)
    clips/<split>/<id>/NNN.png     groups of consecutive video frames (for frame averaging)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ..io.digest import file_sha256
from ..io.heif import decode_heif, is_heif
from ..io.paths import open_input
from ..io.photo_meta import jpeg_state
from ..io.sources import IMAGE_EXTS, VIDEO_EXTS
from ..io.sources.base import quiet_opencv
from ..io.streams import video_stream
from .dataset import EVAL_CROP, MARGIN

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


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ProvenanceError(RuntimeError):
    """A downloaded package or file differs from the catalogue (version or SHA-256)."""


class DataError(ValueError):
    """The sources cannot give what a dataset needs (a validation or test photograph to crop)."""


def stratified_splits(groups_by_package: dict[str, set[str]]) -> dict[tuple[str, str], str]:
    """Fixed split per group: per package, its groups sorted by hash, every :data:`EVAL_EVERY`-th
    is held out (so each package has at least one held-out group); all held-out groups, sorted
    by hash, alternate ``test``, ``val``, ``test``, … (the training split is unchanged by this)."""
    out = {}
    held = []
    for pkg, groups in groups_by_package.items():
        for i, g in enumerate(sorted(groups, key=lambda g: _hash(pkg + ":" + g))):
            out[(pkg, g)] = "train"
            if i % EVAL_EVERY == 0:
                held.append((pkg, g))
    for i, key in enumerate(sorted(held, key=lambda k: _hash("heldout:" + k[0] + ":" + k[1]))):
        out[key] = "test" if i % 2 == 0 else "val"
    return out


def deb_version(deb: Path) -> str:
    """The ``Version`` field of a ``.deb`` (what was really downloaded)."""
    res = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True)
    return res.stdout.strip()


def fetch_debs(packages: dict[str, dict], cache: Path, log: Callable[[str], None] = print) -> dict[str, tuple[Path, str]]:
    """``apt-get download PKG=VERSION`` for each catalogue package into ``cache`` (reused when
    present), check its SHA-256 against the catalogue's ``deb_sha256``, and unpack it.

    Returns:
        package → (unpacked root, version read from the ``.deb``).

    Raises:
        ProvenanceError: a ``.deb`` whose hash or version differs from the catalogue (named).
    """
    cache.mkdir(parents=True, exist_ok=True)
    roots: dict[str, tuple[Path, str]] = {}
    for pkg, spec in packages.items():
        want = spec.get("version")
        deb = cache / spec["deb"] if spec.get("deb") else None
        if deb is None or not deb.exists():
            log(f"apt-get download {pkg}={want}")
            res = subprocess.run(["apt-get", "download", f"{pkg}={want}"], cwd=cache, capture_output=True, text=True)
            if res.returncode != 0:
                msg = (res.stderr.strip().splitlines() or ["failed"])[-1]
                raise ProvenanceError(f"apt-get download {pkg}={want}: {msg}")
            found = sorted(cache.glob(f"{pkg}_*.deb"))
            if not found:
                raise ProvenanceError(f"apt-get download {pkg}={want} produced no .deb in {cache}")
            deb = deb if deb is not None and deb.exists() else found[-1]
        digest = file_sha256(deb)
        if spec.get("deb_sha256") and digest != spec["deb_sha256"]:
            raise ProvenanceError(f"{deb}: SHA-256 {digest} differs from the catalogue's {spec['deb_sha256']}")
        version = deb_version(deb)
        if want and version != want:
            raise ProvenanceError(f"{deb}: version {version} differs from the catalogue's {want}")
        root = cache / "unpacked" / pkg
        if not root.exists():
            tmp = root.with_name(pkg + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
            tmp.rename(root)
        roots[pkg] = (root, version)
    return roots


def _resize(img: np.ndarray, scale: float, max_side: int) -> tuple[np.ndarray, float]:
    h, w = img.shape[:2]
    scale = min(scale, max_side / max(h, w))
    if scale < 1.0:
        img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return img, min(scale, 1.0)


def read_rgb(path: Path) -> np.ndarray:
    """A photo as 8-bit RGB, upright (EXIF orientation applied; a HEIC's own turn: io/heif.py)."""
    data = path.read_bytes()
    if is_heif(data):
        try:
            pixels = decode_heif(data).pixels
        except ValueError:
            raise ValueError(f"cannot read image {path}") from None
        return pixels if pixels.dtype == np.uint8 else (pixels.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if img is None:
        raise ValueError(f"cannot read image {path}")
    return img[..., ::-1].copy()


def write_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), rgb[..., ::-1])


def unusable_source(path: Path, clip_length: int = 7) -> str | None:
    """Why a file of a user's folder cannot be training content (None when it can): an image OpenCV
    cannot decode (a text file named .jpg, macOS ``._`` resource files), a JPEG cut short (it decodes,
    with grey rows where the data ended, and would be trained on), a video with no decodable frame or
    fewer frames than one training clip takes (``clip_length``: it was counted, held out or not, and
    gave nothing). One such file stopped the whole build, or got in as a half-grey picture."""
    if path.suffix.lower() in VIDEO_EXTS:
        import av

        try:
            with open_input(path) as c:
                vs = video_stream(c)  # the footage, not a thumbnail track or album art before it
                if vs is None:
                    return "no video frames in it"
                n = sum(1 for _, _ in zip(range(clip_length), c.decode(vs)))  # stops at clip_length
        except (av.FFmpegError, OSError) as exc:
            return f"not a readable video ({getattr(exc, 'strerror', None) or type(exc).__name__})"
        if n == 0:
            return "no video frames in it"
        return f"only {n} frames (a training clip takes {clip_length})" if n < clip_length else None
    data = path.read_bytes()
    if is_heif(data):  # an iPhone's photo: decoded in full (HEIC has no cheap reduced decode as JPEG has)
        try:
            decode_heif(data)
        except ValueError as exc:
            return f"not a readable HEIC photo ({exc})"
        return None
    jpeg = data[:2] == b"\xff\xd8"
    state = jpeg_state(data) if jpeg else "complete"
    if state == "truncated":
        return "truncated JPEG (its data end before the image does)"
    if state == "malformed":
        return "damaged JPEG (its structure is broken before the image ends)"
    # a JPEG decoded at an eighth of its size (libjpeg scales in the DCT: a 12 MP photo in 15 ms, not 51):
    # readable or not is all this asks, and the photo is decoded in full once more when it is taken in
    flag = cv2.IMREAD_REDUCED_COLOR_8 if jpeg else cv2.IMREAD_COLOR
    with quiet_opencv():
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    return "not a readable image" if img is None else None


def _video_groups(path: Path, groups: int, length: int) -> list[list[np.ndarray]]:
    with open_input(path) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video_stream(c))]
    if len(frames) < length:
        return []
    return [frames[s : s + length] for s in video_group_starts(len(frames), groups, length)]


def video_group_starts(n_frames: int, groups: int, length: int) -> list[int]:
    """First frames of the ``groups`` evenly spaced ``length``-frame groups taken from an ``n_frames`` video."""
    return [int(s) for s in np.linspace(0, n_frames - length, groups).astype(int)]


def build(opts: BuildOptions, log: Callable[[str], None] = print) -> dict:
    """Build the dataset described in the module docstring; returns the manifest."""
    out = opts.out
    planned: list[tuple[Path, str, str, str]] = []  # (file, kind, path inside its folder, split)
    for folder in opts.sources:
        found = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS)
        found = [p for p in found if not p.resolve().is_relative_to(out.resolve())]  # never our own output
        unusable = {src: why for src in found if (why := unusable_source(src, opts.clip_length))}
        for src, why in unusable.items():  # before the split, so a held-out place never falls on one
            log(f"skipped {src}: {why}")
        found = [p for p in found if p not in unusable]
        # split by the path inside the folder (stable wherever the folder lives), stratified so
        # that every folder of two or more files gives the evaluation split at least one
        rel = {src: src.relative_to(folder).as_posix() for src in found}
        user_split = stratified_splits({"user": set(rel.values())}) if len(found) > 1 else {}
        for src in found:
            kind = "video" if src.suffix.lower() in VIDEO_EXTS else "photo"
            planned.append((src, kind, rel[src], user_split.get(("user", rel[src]), "train")))
    if not opts.debian:
        check_held_out(planned, opts.max_side)  # before anything is written
    check_output_folders(out, opts.cache)
    # everything that can still fail (the Debian fetch, its checks) comes before the previous build is
    # removed: a failed fetch, or a --cache that is a file, left the folder without its build
    debian = _debian_sources(opts.cache or out / "debs", log) if opts.debian else []
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from ..errors import SinkError

        raise SinkError(f"--out {out}: cannot make the folder: {exc.strerror or exc}") from None
    removed = remove_previous_build(out)
    if removed:
        log(f"removed the {removed} images and clips of the previous build in {out}")
    entries: list[dict] = []
    for src, entry, scale in debian:
        if src is None:  # a catalogue file dropped (named, with why)
            entries.append(entry)
            continue
        entries.append(_ingest(src, entry, out, opts, scale))
        log(f"{entry['split']:5s} {entry['package']}: {entry['path']}")
    for src, kind, group, split in planned:
        entry = {
            "package": None,
            "path": str(src),
            "kind": kind,
            "licence": "user's own footage",
            "bytes": src.stat().st_size,
            "sha256": file_sha256(src),
            "group": group,
            "split": split,
        }
        entries.append(_ingest(src, entry, out, opts, 1.0))
        log(f"{entry['split']:5s} user: {src}")
    manifest = {"version": 2, "eval_every": EVAL_EVERY, "max_side": opts.max_side, "files": entries}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def check_output_folders(out: Path, cache: Path | None) -> None:
    """``--out`` and ``--cache`` are folders (or can be made): a ``--cache`` that is a file gave a raw
    "[Errno 17] File exists: 'afile'", exit 1, after the previous build was removed.

    Raises:
        SinkError: one of them is a file, or sits under one (exit 4).
    """
    from ..errors import SinkError

    for flag, path in (("--out", out), ("--cache", cache)):
        if path is None:
            continue
        if path.exists() and not path.is_dir():
            raise SinkError(f"{flag} {path} is a file, not a folder")
        above = next((p for p in path.parents if p.exists()), None)
        if above is not None and not above.is_dir():
            raise SinkError(f"{flag} {path}: {above} is a file, not a folder")


def _debian_sources(cache: Path, log: Callable[[str], None]) -> list[tuple[Path | None, dict, float]]:
    """The catalogue's files, fetched into ``cache`` and checked (hash, version, presence): ``(file,
    manifest entry, scale)`` each, the file None for one the catalogue drops.

    Raises:
        ProvenanceError: a package or file that is not what the catalogue says.
        SinkError: the cache cannot be made.
    """
    from ..errors import SinkError

    cat = load_catalog()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SinkError(f"--cache {cache}: cannot make the folder: {exc.strerror or exc}") from None
    try:
        fetched = fetch_debs(cat["packages"], cache, log)
    except FileNotFoundError as exc:  # no apt-get / dpkg-deb here: was "[Errno 2] No such file or directory: 'apt-get'"
        tool = exc.filename or "apt-get"
        raise ProvenanceError(f"{tool} not found: the Debian content needs it (or build with --no-debian)") from None
    roots = {k: v[0] for k, v in fetched.items()}
    versions = {k: v[1] for k, v in fetched.items()}
    groups: dict[str, set[str]] = {}
    for f in cat["files"]:
        if f["path"] not in DROP:
            groups.setdefault(f["package"], set()).add(_group(f))
    splits = stratified_splits(groups)
    found: list[tuple[Path | None, dict, float]] = []
    for f in cat["files"]:
        src = roots[f["package"]] / f["path"]
        entry = {k: f.get(k) for k in ("package", "path", "kind", "licence", "author", "quality")}
        entry["version"] = versions[f["package"]]
        if f["path"] in DROP:
            entry.update(dropped=DROP[f["path"]])
            found.append((None, entry, 1.0))
            continue
        if not src.exists():
            raise ProvenanceError(f"{f['package']} {versions[f['package']]} has no {f['path']}")
        digest = file_sha256(src)
        if f.get("sha256") and digest != f["sha256"]:
            raise ProvenanceError(f"{f['package']}: {f['path']}: SHA-256 {digest} differs from the catalogue's {f['sha256']}")
        entry.update(bytes=src.stat().st_size, sha256=digest, group=_group(f), split=splits[(f["package"], _group(f))])
        found.append((src, entry, QUALITY_SCALE.get(f.get("quality") or "", 1.0)))
    return found


def check_held_out(planned: list[tuple[Path, str, str, str]], max_side: int) -> None:
    """A build from the user's folders alone must give validation and test a photograph each that the
    evaluation crops fit in; else one line saying why, before anything is written.

    It failed after writing the images, with "no val photos in manifest.json (rebuild with 'streamdeblur
    data build')" (the command just run) for a folder of fewer than 7 files, and with PyTorch's "stack
    expects a non-empty TensorList" when the held-out photos were under 320 px.

    Args:
        planned: ``(file, kind, path inside its folder, split)`` of every usable file.
        max_side: the longest side a photo is kept at (larger ones are shrunk first).

    Raises:
        DataError: a split without a usable photograph.
    """
    need = EVAL_CROP + 2 * MARGIN
    for split, name in (("val", "validation"), ("test", "test")):
        photos = [src for src, kind, _, sp in planned if sp == split and kind == "photo"]
        if not photos:
            raise DataError(
                f"your folders give no {name} photograph: one file in {EVAL_EVERY} of a folder is held out, "
                f"alternately for test and validation (videos give none), so a folder needs at least "
                f"{EVAL_EVERY + 1} usable files ({len(planned)} found); add photos, or build with the "
                "Debian content as well (no --no-debian)"
            )
        sizes = {}
        for src in photos:
            h, w = read_rgb(src).shape[:2]
            k = min(1.0, max_side / max(h, w))
            sizes[src] = (round(w * k), round(h * k))
        if all(min(wh) < need for wh in sizes.values()):
            listed = ", ".join(f"{src.name} {w}x{h}" for src, (w, h) in sizes.items())
            raise DataError(
                f"no {name} photograph is large enough: the evaluation crops need {need} px on the short side "
                f"({EVAL_CROP} plus {MARGIN}-px margins); held out for {name}: {listed}"
            )


def remove_previous_build(out: Path) -> int:
    """Remove what an earlier build wrote into ``out`` (the images and clips its manifest lists, and the
    manifest itself), so that a rebuild never leaves a photograph in a split it has left: a source that
    moved from train to test (a folder's split depends on how many files it holds) stayed in
    ``images/train`` beside its new test copy, and the training pool reads every file there. Files the
    old manifest does not list are left alone. Returns how many images and clips were removed."""
    manifest = out / "manifest.json"
    if not manifest.is_file():
        return 0
    try:
        files = json.loads(manifest.read_text()).get("files", [])
    except (ValueError, AttributeError):
        return 0
    n = 0
    for e in files:
        ident, split = e.get("id"), e.get("split")
        if not (isinstance(ident, str) and split in ("train", "val", "test")) or "/" in ident:
            continue
        if e.get("kind") == "video":
            clip = out / "clips" / split / ident
            if clip.is_dir():
                shutil.rmtree(clip)
                n += 1
        elif (img := out / "images" / split / f"{ident}.png").is_file():
            img.unlink()
            n += 1
    manifest.unlink()  # a build that fails from here leaves no manifest describing files that are gone
    return n


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
