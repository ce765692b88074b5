"""``python -m streamdeblur.train.pack``: a compact training pack for a burst on a lent GPU.

A lent GPU machine receives the working tree (64 MiB at most, the pack included) and has PyTorch,
NumPy, OpenCV and PyYAML but no PyAV and no network. The pack is a small *built dataset* (the same
layout :class:`~streamdeblur.train.dataset.SharpPool` reads, so training needs no other code path):

    manifest.json                      the training sources used (id, package, path, sha256) and
                                       the pack's own record (source manifest hash, crop, seed)
    images/train/<id>_<k>.png|jpg      random crops of the training photographs
    clips/train/<id>_<g>/000_<i>.png|jpg  crops of the video-frame groups (one crop per group)
    val_<task>.pt, val_noblur.pt       the first crops of the validation sets (pixels only)

Crops are lossless PNG, or (``--jpeg-quality Q``) JPEG with full-resolution chroma: at Q = 97 a
crop takes a third of its PNG bytes and differs from it by 48 dB PSNR on average (44 dB at worst,
measured on the first 40 crops of a pack), far below the error any deblurring output has, so the same
budget holds about 2.8 times as many crops. Most sources are JPEG photographs already.

Only the training split goes in as training content; validation crops are copied for the
validation curve; the test split never enters a pack. Built into ``data/pack`` (git-ignored),
never committed.

Example:
    python -m streamdeblur.train.pack --data data/sharp --out data/pack --max-mib 48
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from .dataset import MARGIN, not_built, random_crop

#: Validation sets copied into a pack (what the training recipes' ``eval_set``/``eval_noblur_set`` name).
VAL_SETS = ("val_motion", "val_defocus", "val_noblur")


def _encode(rgb: np.ndarray, jpeg_quality: int | None = None) -> bytes:
    """Lossless PNG, or JPEG at ``jpeg_quality`` with 4:4:4 chroma."""
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    if jpeg_quality is None:
        ok, buf = cv2.imencode(".png", bgr)
    else:
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
        ok, buf = cv2.imencode(".jpg", bgr, params)
    if not ok:
        raise ValueError("crop encoding failed")
    return buf.tobytes()


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read {path}")
    return img[..., ::-1]


def _val_subset(data: dict, count: int) -> dict:
    keep = ("sources", "seed", "size", "task", "split", "no_blur")
    out = {k: data[k][:count] if k == "sources" else data[k] for k in keep if k in data}
    out["blurry"], out["sharp"] = data["blurry"][:count].clone(), data["sharp"][:count].clone()
    return out


def build_pack(
    root: Path,
    out: Path,
    max_mib: float = 48.0,
    crop: int = 320,
    seed: int = 0,
    val_count: int = 16,
    log: Callable = print,
    jpeg_quality: int | None = None,
) -> dict:
    """Write a training pack of at most ``max_mib`` MiB from a built dataset.

    Args:
        root: a built dataset (``streamdeblur data build``).
        out: the pack folder (replaced).
        max_mib: size budget of the whole pack.
        crop: side of the stored crops (training crops plus the blur margin must fit: ``crop`` ≥
            the recipe's largest crop + 2 × 32).
        seed: crop positions.
        val_count: validation crops copied per validation set.
        log: progress messages.
        jpeg_quality: store crops as JPEG of this quality (4:4:4) instead of PNG (see the module's notes).

    Returns:
        The pack's manifest.
    """
    root, out = Path(root), Path(out)
    manifest_file = root / "manifest.json"
    if not manifest_file.exists():
        raise not_built(root)
    if jpeg_quality is not None and not 90 <= jpeg_quality <= 100:
        raise ValueError(f"JPEG quality {jpeg_quality}: use 90 to 100 (training targets must stay near lossless)")
    ext = "png" if jpeg_quality is None else "jpg"
    if crop < 128 + 2 * MARGIN:
        raise ValueError(f"crop {crop} is too small: at least {128 + 2 * MARGIN} (a 128-px training crop plus margins)")
    manifest = json.loads(manifest_file.read_text())
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    budget = int(max_mib * 2**20)
    used = 0
    for name in VAL_SETS:
        src = root / f"{name}.pt"
        if src.exists():
            torch.save(_val_subset(torch.load(src, weights_only=True), val_count), out / f"{name}.pt")
            used += (out / f"{name}.pt").stat().st_size
    if used > budget // 2:
        raise ValueError(f"the validation crops alone take {used / 2**20:.1f} MiB of the {max_mib} MiB: lower val_count")
    train = [e for e in manifest["files"] if e.get("split") == "train" and "id" in e]
    photos = [e for e in train if e.get("kind") == "photo" and (root / "images" / "train" / f"{e['id']}.png").exists()]
    clip_dirs = sorted((root / "clips" / "train").glob("*")) if (root / "clips" / "train").exists() else []
    rng = np.random.default_rng(seed)
    images = {e["id"]: _read(root / "images" / "train" / f"{e['id']}.png") for e in photos}
    usable = [i for i, img in images.items() if min(img.shape[:2]) >= crop]
    if not usable:
        raise ValueError(f"no training photograph is at least {crop} px on its short side")
    # clips first (one crop per frame group, a tenth of the budget at most), then photographs round-robin
    clip_budget = used + (budget - used) // 10
    crops: list[dict] = []
    for d in clip_dirs:
        frames = sorted(d.glob("*.png"))
        for g in sorted({f.name.split("_")[0] for f in frames}):
            group = [_read(f) for f in frames if f.name.startswith(g + "_")]
            h, w = group[0].shape[:2]
            if min(h, w) < crop:
                continue
            y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
            blobs = [_encode(f[y : y + crop, x : x + crop], jpeg_quality) for f in group]
            if used + sum(map(len, blobs)) > clip_budget:
                break
            for i, b in enumerate(blobs):
                p = out / "clips" / "train" / f"{d.name}_{g}" / f"000_{i:03d}.{ext}"
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(b)
            used += sum(map(len, blobs))
            crops.append({"source": d.name, "group": g, "frames": len(blobs), "y": y, "x": x})
    full = False
    k = 0
    while not full:
        for ident in usable:
            blob = _encode(random_crop(rng, images[ident], crop), jpeg_quality)
            if used + len(blob) + 65536 > budget:  # leave room for the manifest
                full = True
                break
            p = out / "images" / "train" / f"{ident}_{k:03d}.{ext}"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(blob)
            used += len(blob)
        k += 1
    n_photo_crops = len(list((out / "images" / "train").glob(f"*.{ext}")))
    pack = {
        "version": manifest.get("version"),
        "pack": {
            "from_manifest_sha256": hashlib.sha256(manifest_file.read_bytes()).hexdigest(),
            "crop": crop,
            "seed": seed,
            "format": "png" if jpeg_quality is None else f"jpeg q{jpeg_quality} 4:4:4",
            "photo_crops": n_photo_crops,
            "clip_groups": len(crops),
            "val_count": val_count,
            "bytes": used,
        },
        "files": [{k: e.get(k) for k in ("id", "package", "path", "kind", "version", "sha256", "split")} for e in train],
    }
    (out / "manifest.json").write_text(json.dumps(pack, indent=1))
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    log(
        f"pack {out}: {n_photo_crops} photo crops of {crop}² from {len(usable)} photographs, "
        f"{len(crops)} clip groups, {ext.upper()}, {total / 2**20:.1f} MiB"
    )
    return pack


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m streamdeblur.train.pack", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data/sharp", help="a built dataset")
    ap.add_argument("--out", default="data/pack", help="the pack folder (replaced; git-ignored under data/)")
    ap.add_argument("--max-mib", type=float, default=48.0)
    ap.add_argument("--crop", type=int, default=320, help="side of the stored crops (GPU recipe: 256 + 2 × 32 margin)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-count", type=int, default=16, help="validation crops copied per validation set")
    ap.add_argument("--jpeg-quality", type=int, help="store crops as JPEG of this quality (4:4:4), e.g. 97: ~2.8x the crops")
    args = ap.parse_args(argv)
    try:
        build_pack(
            Path(args.data), Path(args.out), args.max_mib, args.crop, args.seed, args.val_count, jpeg_quality=args.jpeg_quality
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
