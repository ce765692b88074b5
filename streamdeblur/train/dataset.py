"""Training and evaluation samples from a built dataset (see :mod:`streamdeblur.train.data`).

Training pairs are synthesised on the fly (endless variety from few photos): a random crop of a
sharp image with a margin for the kernel, random flips and quarter turns, then
:func:`~streamdeblur.train.blur.synthesize`; a fraction comes from averaging consecutive video
frames instead. The evaluation set is fixed: crops and blur drawn once from a seed, from the
evaluation split only, and saved with their true kernels.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..compute.transfer import images_to_tensor
from ..errors import SourceError
from .blur import BlurConfig, BlurSample, average_frames, synthesize
from .defocus import DefocusConfig, synthesize_defocus

TASKS = ("motion", "defocus")

#: Pixels of context around a crop so the largest kernel (65 px) never sees the crop border.
MARGIN = 32
EVAL_CROP = 256  #: side of the evaluation crops (a photo needs it plus the margins on its short side)


def to_tensor(img_u8: np.ndarray) -> torch.Tensor:
    """``H×W×3`` uint8 → ``3×H×W`` float32 in [0, 1] (:func:`~streamdeblur.compute.transfer.images_to_tensor`)."""
    return images_to_tensor([img_u8], torch.device("cpu"))[0]


def _pictures(folder: Path) -> list[Path]:
    """The PNG and JPEG files of a folder (a built dataset holds PNG; a training pack may hold JPEG)."""
    return sorted(p for p in folder.glob("*") if p.suffix in (".png", ".jpg"))


def _read(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1].copy()


class DatasetMissing(SourceError, FileNotFoundError):
    """A recipe's ``data:`` folder is not a built dataset."""


def as_found(path: str | Path) -> str:
    """A recipe's path as it was looked for: a relative one with the current folder it was read from
    (which a recipe named from elsewhere did not make plain)."""
    return str(path) if Path(path).is_absolute() else f"{path} (in {Path.cwd()})"


def read_set(path: str | Path, what: str = "evaluation set", keys: tuple[str, ...] = ("blurry", "sharp")) -> dict:
    """An evaluation set or subset file (``.pt``), read safely, or :class:`~streamdeblur.errors.SourceError`
    in one line naming the file (exit 3): a text file there gave PyTorch's paragraph advising
    ``weights_only=False``, exit 1.

    Args:
        path: the file.
        what: what it is, for the message ("validation set", "eval subset", "card subset").
        keys: what the mapping must hold (none: any mapping).
    """
    from ..errors import WeightsError
    from ..models.weights import read_checkpoint

    try:
        data = read_checkpoint(path)
    except WeightsError as exc:
        one = f"{'an' if what[0] in 'aeiou' else 'a'} {what}"
        text = str(exc).replace("a weights file", one).replace("a dict of tensors", one).replace("weights file", what)
        raise SourceError(f"{what} {text}" if text.startswith(str(path)) and what not in text else text) from None
    missing = [k for k in keys if k not in data]
    if missing:
        article = "an" if what[0] in "aeiou" else "a"
        raise SourceError(f"{path} is not {article} {what} (no {missing[0]!r} in it)")
    return data


def not_built(root: Path) -> DatasetMissing:
    """The error for a ``data:`` folder without a manifest: the folder as found (:func:`as_found`), and the fix."""
    return DatasetMissing(
        f"{as_found(root)} is not a built dataset (no manifest.json): run 'streamdeblur data build' in that folder, "
        "or set the recipe's data: to where it was built"
    )


@dataclass
class SharpPool:
    """Sharp images and video-frame groups of one split, held in memory."""

    images: list[np.ndarray]
    clips: list[list[np.ndarray]]

    @classmethod
    def load(cls, root: Path, split: str) -> SharpPool:
        root = Path(root)
        if not (root / "manifest.json").exists():
            raise not_built(root)
        images = [_read(p) for p in _pictures(root / "images" / split)]
        clips = []
        for d in sorted((root / "clips" / split).glob("*")):
            frames = _pictures(d)
            for g in sorted({f.name.split("_")[0] for f in frames}):
                clips.append([_read(f) for f in frames if f.name.startswith(g + "_")])
        if not images:
            raise FileNotFoundError(f"no {split} images under {root}/images/{split}")
        return cls(images, clips)


def random_crop(rng: np.random.Generator, img: np.ndarray, size: int) -> np.ndarray:
    """A random ``size×size`` crop; never an upscale (a source smaller than the crop is an error)."""
    h, w = img.shape[:2]
    if h < size or w < size:
        raise ValueError(f"a {w}×{h} source is smaller than the {size}-px crop (crops are never upscaled)")
    y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
    return img[y : y + size, x : x + size]


def augment(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    if rng.uniform() < 0.5:
        img = img[:, ::-1]
    return np.ascontiguousarray(np.rot90(img, int(rng.integers(4))))


class BlurPairs:
    """Endless synthetic (blurry, sharp) batches from a :class:`SharpPool`.

    Args:
        pool: sharp content.
        crop: side of the returned crops (changeable between batches: progressive training).
        seed: random seed.
        blur: degradation strengths.
        p_video: fraction of samples made by frame averaging (when clips exist; motion only).
        task: ``motion`` or ``defocus``.
        defocus: defocus strengths (task ``defocus``).
        fused: ``(x, gt)`` uint8 ``N×3×H×W`` frame pairs made by the video pipeline's fusion stage
            (:mod:`.fused`); a share ``p_fused`` of the samples are crops of them, so the model learns
            the input it gets in a video pipeline (sharp blocks to keep, residual blur to remove).
        p_fused: that share (motion only).
    """

    def __init__(
        self,
        pool: SharpPool,
        crop: int = 128,
        seed: int = 0,
        blur: BlurConfig | None = None,
        p_video: float = 0.1,
        task: str = "motion",
        defocus: DefocusConfig | None = None,
        fused: tuple[torch.Tensor, torch.Tensor] | None = None,
        p_fused: float = 0.0,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; allowed: {', '.join(TASKS)}")
        self.pool, self.crop, self.blur, self.p_video = pool, crop, blur or BlurConfig(), p_video
        self.task, self.defocus = task, defocus or DefocusConfig()
        if fused is not None and (fused[0].shape != fused[1].shape or fused[0].dim() != 4 or fused[0].dtype != torch.uint8):
            raise ValueError("fused: x and gt must be uint8 N×3×H×W tensors of one shape")
        self.fused, self.p_fused = fused, p_fused
        self.rng = np.random.default_rng(seed)
        areas = np.array([i.shape[0] * i.shape[1] for i in pool.images], dtype=np.float64)
        self.sides = np.array([min(i.shape[:2]) for i in pool.images])
        self.weight = np.sqrt(areas)  # big photos more often, small ones not starved

    def _image(self) -> np.ndarray:
        """A source at least as large as the current crop plus margins (sampled by sqrt of area)."""
        w = self.weight * (self.sides >= self.crop + 2 * MARGIN)
        if w.sum() <= 0:
            raise ValueError(f"no training source is large enough for a {self.crop}-px crop plus {MARGIN}-px margins")
        return self.pool.images[self.rng.choice(len(self.pool.images), p=w / w.sum())]

    def sample(self) -> BlurSample:
        rng = self.rng
        if self.task == "defocus":
            img = self._image()
            sharp = augment(rng, random_crop(rng, img, self.crop + 2 * MARGIN))
            return synthesize_defocus(rng, sharp, self.defocus, self.blur, margin=MARGIN)
        if self.fused is not None and self.p_fused > 0 and rng.uniform() < self.p_fused:
            return self._fused_sample()
        if self.pool.clips and rng.uniform() < self.p_video:
            clip = self.pool.clips[rng.integers(len(self.pool.clips))]
            n = int(rng.integers(3, len(clip) + 1))
            s = int(rng.integers(0, len(clip) - n + 1))
            h, w = clip[0].shape[:2]
            y, x = rng.integers(0, h - self.crop + 1), rng.integers(0, w - self.crop + 1)
            frames = [f[y : y + self.crop, x : x + self.crop] for f in clip[s : s + n]]
            return average_frames(rng, frames, self.blur)
        img = self._image()
        sharp = augment(rng, random_crop(rng, img, self.crop + 2 * MARGIN))
        return synthesize(rng, sharp, self.blur, margin=MARGIN)

    def _fused_sample(self) -> BlurSample:
        """A crop of a fused video frame and the same crop of its sharp reference (same flip/rotation)."""
        rng = self.rng
        x, gt = self.fused
        i = int(rng.integers(len(x)))
        h, w = x.shape[-2:]
        if min(h, w) < self.crop:
            raise ValueError(f"fused frames are {w}×{h}, smaller than the {self.crop}-px crop")
        y0, x0 = int(rng.integers(0, h - self.crop + 1)), int(rng.integers(0, w - self.crop + 1))
        pair = [t[i, :, y0 : y0 + self.crop, x0 : x0 + self.crop].permute(1, 2, 0).numpy() for t in (x, gt)]
        k, flip = int(rng.integers(4)), bool(rng.integers(2))
        pair = [np.rot90(a[:, ::-1] if flip else a, k) for a in pair]
        return BlurSample(np.ascontiguousarray(pair[0]), np.ascontiguousarray(pair[1]), [], info={"fused": i})

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(blurry, sharp)``, each ``n×3×crop×crop`` float in [0, 1]."""
        samples = [self.sample() for _ in range(n)]
        return (torch.stack([to_tensor(s.blurry) for s in samples]), torch.stack([to_tensor(s.sharp) for s in samples]))

    def __iter__(self) -> Iterator[BlurSample]:
        while True:
            yield self.sample()


#: Evaluation sets built by ``data build``: name → (split, task, no-blur).
EVAL_SETS = {
    "val_motion": ("val", "motion", False),
    "test_motion": ("test", "motion", False),
    "val_defocus": ("val", "defocus", False),
    "test_defocus": ("test", "defocus", False),
    "val_noblur": ("val", "motion", True),
    "test_noblur": ("test", "motion", True),
    "val_clean": ("val", "motion", True),
    "test_clean": ("test", "motion", True),
}

#: A clean camera: no sensor noise to speak of and nearly lossless H.264 (crf 8–12): screen recordings,
#: downscaled 4K, high-bitrate files. The ``*_clean`` sets are the no-blur set's do-no-harm test on it.
CLEAN_DEGRADATION = BlurConfig(shot=(1e-9, 2e-9), read=(1e-6, 2e-6), p_jpeg=0.0, p_h264=1.0, h264_crf=(8, 12))
#: Degradations of the sets that do not use :class:`BlurConfig`'s defaults.
EVAL_DEGRADATIONS = {"val_clean": CLEAN_DEGRADATION, "test_clean": CLEAN_DEGRADATION}


def make_eval_set(
    root: Path,
    out: Path,
    crops_per_image: int = 4,
    size: int = EVAL_CROP,
    seed: int = 2024,
    blur: BlurConfig | None = None,
    task: str = "motion",
    split: str = "test",
    no_blur: bool = False,
    downscale: tuple[float, float] | None = None,
) -> dict:
    """Draw a fixed evaluation set from one held-out split and save it (``torch.save`` of tensors).

    Args:
        root: a built dataset.
        out: the ``.pt`` file to write.
        crops_per_image: crops per source photo.
        size: crop side (sources smaller than ``size`` plus the margins are skipped: no upscaling).
        seed: random seed (crops and degradations).
        blur: degradations; the do-no-harm share of the training mix is left out of the blurred
            sets (``p_sharp = 0``: they measure deblurring), and is all there is in the no-blur set.
        task: ``motion`` or ``defocus``.
        split: ``val`` (checkpoint selection) or ``test`` (reported once per shipped weight).
        no_blur: sharp + sensor noise + compression only (the do-no-harm test).
        downscale: each photograph first shrunk by a factor drawn from this range (area
            interpolation): pixel-sharp content, as a 1080p or 4K frame is at the pipeline's 640×360
            work size (the photographs themselves are soft at the pixel level).

    Saved: ``blurry``/``sharp`` uint8 ``N×3×size×size``, ``kernels`` float ``N×2×65×65`` (zero
    padded, centred; second slot unused when the blur is uniform), ``weights`` float
    ``N×2×size×size`` blend maps (ones/zeros when uniform), ``sources`` list of image ids,
    ``split``, ``no_blur``. For ``task="defocus"``: ``radius`` float ``N×size×size`` instead of
    kernels and weights.
    """
    root, out = Path(root), Path(out)
    rng = np.random.default_rng(seed)
    blur = dataclasses.replace(blur or BlurConfig(), p_sharp=1.0 if no_blur else 0.0, p_identity=1.0)
    manifest = json.loads((root / "manifest.json").read_text())
    ids = [e["id"] for e in manifest["files"] if e.get("split") == split and e.get("kind") == "photo"]
    if not ids:
        raise FileNotFoundError(f"{root}: no {split} photos in manifest.json (rebuild with 'streamdeblur data build')")
    blurry, sharp, kernels, weights, sources = [], [], [], [], []
    skipped = []
    for ident in sorted(ids):
        img = _read(root / "images" / split / f"{ident}.png")
        if downscale is not None:
            f = float(rng.uniform(*downscale))
            h, w = img.shape[:2]
            img = cv2.resize(img, (round(w / f), round(h / f)), interpolation=cv2.INTER_AREA)
        if min(img.shape[:2]) < size + 2 * MARGIN:
            skipped.append(ident)
            continue
        for _ in range(crops_per_image):
            crop = random_crop(rng, img, size + 2 * MARGIN)
            if task == "defocus":
                dcfg = DefocusConfig(p_sharp=0.0)
                s = synthesize_defocus(rng, crop, dcfg, blur, margin=MARGIN)
            else:
                s = synthesize(rng, crop, blur, margin=MARGIN)
            blurry.append(to_tensor(s.blurry).mul(255).round().byte())
            sharp.append(to_tensor(s.sharp).mul(255).round().byte())
            sources.append(ident)
            if task == "defocus":
                weights.append(torch.from_numpy(s.radius))
                continue
            k = torch.zeros(2, 65, 65)
            for j, kern in enumerate(s.kernels):
                o = (65 - kern.shape[0]) // 2
                k[j, o : o + kern.shape[0], o : o + kern.shape[1]] = torch.from_numpy(kern)
            kernels.append(k)
            wgt = torch.zeros(2, size, size)
            if s.weights is None:
                wgt[0] = 1
            else:
                wgt[: len(s.weights)] = torch.from_numpy(s.weights)
            weights.append(wgt)
    if not blurry:  # (torch.stack's "expects a non-empty TensorList" said nothing of the cause)
        raise FileNotFoundError(
            f"{root}: no {split} photograph is at least {size + 2 * MARGIN} px on its short side "
            f"(the evaluation crops are {size} px plus {MARGIN}-px margins)"
        )
    data = {
        "blurry": torch.stack(blurry),
        "sharp": torch.stack(sharp),
        "sources": sources,
        "seed": seed,
        "size": size,
        "task": task,
        "split": split,
        "no_blur": no_blur,
        "skipped": skipped,
        "downscale": list(downscale) if downscale else None,
    }
    if task == "defocus":
        data["radius"] = torch.stack(weights)
    else:
        data["kernels"], data["weights"] = torch.stack(kernels), torch.stack(weights)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, out)
    return data


def make_eval_sets(root: Path, crops: dict[str, int] | None = None) -> dict[str, dict]:
    """Every set of :data:`EVAL_SETS` under ``root`` (``<name>.pt``); ``crops``: crops per image by
    split (default 8 per test image, 4 per validation image)."""
    crops = {"test": 8, "val": 4, **(crops or {})}
    out = {}
    for name, (split, task, no_blur) in EVAL_SETS.items():
        out[name] = make_eval_set(
            root,
            Path(root) / f"{name}.pt",
            crops_per_image=crops[split],
            task=task,
            split=split,
            no_blur=no_blur,
            blur=EVAL_DEGRADATIONS.get(name),
        )
    return out
