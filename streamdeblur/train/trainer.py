"""``streamdeblur train CONFIG.yaml``: the DeepRFTv2 recipe scaled to a small budget.

Recipe (from the official training config, scaled): L1 + 0.01 × Fourier loss averaged over the
full-scale heads, plus the same on the half-scale heads against the half-scale sharp image
(auxiliary loss); AdamW (betas 0.9/0.9, weight decay 1e-3); cosine learning-rate decay with a
short warm-up; gradient-norm clipping; progressive patch size. Additions for a small budget: an
exponential moving average of the weights (what is evaluated and exported), bf16 autocast as an
option (FFTs and the scan stay fp32), recomputation in backward (``save_memory``).

Runs are resumable: ``<out>/last.pt`` holds the model, EMA, optimiser, step, random state, the
loss and validation history and the run's log of sessions (start/end step, device, threads,
minutes) and resumes, written atomically every ``save_every_s`` seconds (every minute with a
time budget) and at exit; running the same command again continues. Resuming is refused when the
recipe (:meth:`TrainConfig.recipe_hash`) or the code (:func:`code_hash`) differs from the
checkpoint's, unless ``resume_anyway`` (``--resume-anyway``); every resume, and what changed, is
recorded. ``init:`` starts from a weights file instead (fine-tuning, e.g. the shipped fp16 weights):
the schedule starts at step 0 and the initial weights' hash and step are recorded.

Schedules: ``cosine`` (warm-up, then cosine to ``min_lr`` over ``steps``) or ``constant`` (warm-up,
then ``lr``: for an open-ended CPU budget, where the EMA does the averaging).
Validation (``eval_set``, ``eval_noblur_set``) must be the validation split, never the test split.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import yaml

from ..compute.runtime import auto_bf16, choose_device
from ..engine.limits import RANGES
from ..errors import STOP_SIGNALS, ConfigError, SinkError, UsageError, WeightsError, one_line
from ..io.formats import X26X_PRESETS
from ..io.lock import Busy, hold, release
from ..models import create_model, load_weights
from ..models.weights import check_compatible
from .blur import BlurConfig
from .dataset import MARGIN, BlurPairs, DatasetMissing, SharpPool, as_found, read_set, to_tensor  # noqa: F401
from .defocus import DefocusConfig
from .losses import model_loss
from .metrics import psnr
from .plot import line_plot
from .state import export_state, read_run

#: the folder holding the package (a checkout's root, or site-packages)
PACKAGE_PARENT = Path(__file__).resolve().parents[2]
#: the training recipes shipped with the package
RECIPES = Path(__file__).resolve().parent / "configs"


def recipe_path(name_or_path: str | Path) -> Path:
    """A training recipe's file: a path, a shipped recipe's name (``motion-t``), or the path a shipped
    recipe has in a checkout (``streamdeblur/train/configs/motion-t.yaml``), from any folder: an
    installed package answered both with "[Errno 2] No such file or directory".

    Raises:
        ConfigError: none of these (one line, with the shipped names).
    """
    if not str(name_or_path).strip():
        raise ConfigError("no training recipe given (an empty name)")
    p = Path(name_or_path)
    if p.is_file():
        return p
    name = p.name if p.suffix in (".yaml", ".yml") else f"{p.name}.yaml"
    shipped = RECIPES / name
    if shipped.is_file() and (len(p.parts) == 1 or p.as_posix().endswith(f"streamdeblur/train/configs/{name}")):
        return shipped
    if p.is_dir():
        raise ConfigError(f"{name_or_path} is a folder, not a training recipe")
    names = ", ".join(sorted(f.stem for f in RECIPES.glob("*.yaml")))
    raise ConfigError(f"training recipe not found: {name_or_path} (shipped: {names})")


@dataclass
class TrainConfig:
    """Everything a training run needs; loaded from YAML (unknown keys are an error)."""

    model: str = "deeprftv2-t"
    task: str = "motion"  #: motion | defocus (which blur is synthesised)
    data: str = "data/sharp"
    out: str = "runs/motion"
    init: str | None = None
    steps: int = 20000
    batch: int = 8
    crop_schedule: list[list[int]] = field(default_factory=lambda: [[0, 96], [8000, 128]])
    lr: float = 1e-3
    min_lr: float = 1e-7
    warmup: int = 200
    schedule: str = "cosine"  #: cosine | constant
    weight_decay: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.9])
    clip_grad: float = 0.01
    fft_weight: float = 0.01
    mid_weight: float = 1.0
    ema: float = 0.999
    bf16: bool = False
    save_memory: bool = False
    threads: int = 2
    save_every_s: float = 300.0
    log_every: int = 10
    eval_every: int = 500
    eval_set: str | None = None
    eval_noblur_set: str | None = None  #: validation no-blur set (sharp + noise + compression)
    eval_clean_set: str | None = None  #: validation clean no-blur set (sharp, no noise, crf 8–12: ``val_clean.pt``)
    eval_count: int = 16
    p_video: float = 0.1
    #: fused video frames of the training split (``python -m streamdeblur.train.fused``) and the share
    #: of samples cropped from them: the input the model gets after ``temporal_fusion``
    fused_set: str | None = None
    p_fused: float = 0.0
    seed: int = 0
    workers: int = 0  #: sample-synthesis worker processes (0: in the training process; a GPU wants many)
    blur: dict = field(default_factory=dict)
    defocus: dict = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict | None = None) -> TrainConfig:
        path = recipe_path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:  # was "'utf-8' codec can't decode byte 0xff …" without the file
            raise ConfigError(f"{path}: not a text file (a training recipe is YAML text)") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark else ""
            raise ConfigError(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: a training config must be a mapping of keys")
        raw.update(overrides or {})
        flags = set(overrides or {})  #: values from the command line (``--threads``): named as the flag
        init = raw.get("init")
        if isinstance(init, str) and init.startswith("streamdeblur/") and not Path(init).exists():
            raw["init"] = str(PACKAGE_PARENT / init)  # the shipped weights, wherever the package is installed
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ConfigError(f"{path}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
        cfg = cls(**{k: _checked(f"--{k}" if k in flags else path, k, v) for k, v in raw.items()})
        if cfg.min_lr > cfg.lr:  # the cosine would climb from lr to min_lr
            raise ConfigError(f"{path}: min_lr: must be at most lr ({cfg.lr}), got {cfg.min_lr}")
        return cfg

    #: Keys that change how a run executes but not what it learns (not part of the recipe hash).
    RUNTIME_KEYS = (
        "init",
        "threads",
        "save_every_s",
        "log_every",
        "out",
        "data",
        "eval_set",
        "eval_noblur_set",
        "eval_clean_set",
        "eval_count",
        "eval_every",
        "steps",
        "workers",
    )

    def recipe_hash(self) -> str:
        """SHA-256 (16 hex digits) of the recipe: every key but :attr:`RUNTIME_KEYS`."""
        rec = {k: v for k, v in asdict(self).items() if k not in self.RUNTIME_KEYS}
        return hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()[:16]

    def crop_at(self, step: int) -> int:
        size = self.crop_schedule[0][1]
        for start, s in self.crop_schedule:
            if step >= start:
                size = s
        return size

    def lr_at(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        if self.schedule == "constant" or self.steps <= 0:  # steps 0: not yet fitted to the time budget
            return self.lr
        t = min(1.0, (step - self.warmup) / max(1, self.steps - self.warmup))
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * t))


#: the most CPU threads a recipe or ``--threads`` may ask for (as ``run`` and ``bench``): ``threads: 10000``
#: started 20,001 threads and froze the machine
MAX_THREADS = int(RANGES["threads"].high)
#: keys checked by :func:`_checked`: kind, smallest value and (where given) largest
_NUMBERS: dict[str, tuple] = {
    "steps": (int, 0),
    "batch": (int, 1),
    "lr": (float, 0.0),
    "min_lr": (float, 0.0),
    "warmup": (int, 0),
    "weight_decay": (float, 0.0),
    "clip_grad": (float, 0.0),
    "fft_weight": (float, 0.0),
    "mid_weight": (float, 0.0),
    "ema": (float, 0.0),
    "threads": (int, 1, MAX_THREADS),
    "save_every_s": (float, 1.0),
    "log_every": (int, 1),
    "eval_every": (int, 1),
    "eval_count": (int, 1),
    "p_video": (float, 0.0),
    "p_fused": (float, 0.0),
    "seed": (int, 0),
    "workers": (int, 0),
}
_SHARES = ("ema", "p_video", "p_fused")
_CHOICES = {"schedule": ("cosine", "constant"), "task": ("motion", "defocus")}
_MAPPINGS = {"blur": BlurConfig, "defocus": DefocusConfig}
_FLAGS = ("bf16", "save_memory")
_NAMES = ("model", "data", "out")  #: non-empty text
_FILES = ("init", "eval_set", "eval_noblur_set", "eval_clean_set", "fused_set")  #: a file's name, or none
#: ``blur:`` / ``defocus:`` [low, high] ranges: (kind, smallest, largest). A kernel larger than twice the
#: crops' margin (plus one) reads past the sharp crop; JPEG qualities are 1-100, x264's crf 0-51
_RANGES: dict[str, tuple] = {
    "kernel_sizes": (int, 3, 2 * MARGIN + 1),
    "jpeg_quality": (int, 1, 100),
    "h264_crf": (int, 0, 51),
    "clean_crf": (int, 0, 51),
    "shot": (float, 1e-12, 1.0),
    "read": (float, 1e-12, 1.0),
    "max_radius": (float, 0.0, float(MARGIN)),
}


def _number(where: str, value, kind: type = float, low: float | None = None, high: float | None = None):
    """A finite number of ``kind`` within [low, high] (text YAML 1.1 reads for a float, ``1e-3``, taken as the number)."""
    if isinstance(value, str) and kind is float:
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise ConfigError(f"{where}: expected {'an integer' if kind is int else 'a number'}, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        top = f" and at most {high}" if high is not None else ""
        raise ConfigError(f"{where}: must be at least {low}{top}, got {value}")
    return kind(value)


def _checked_mapping(where: str, cls: type, value: dict) -> dict:
    """A ``blur:`` or ``defocus:`` mapping checked field by field (from the defaults' kinds): a probability
    of 5, ``p_noise: "x"`` or ``jpeg_quality: 500`` failed at a later step, hours in, or never."""
    defaults = cls()
    for key, v in value.items():
        at = f"{where}: {key}"
        default = getattr(defaults, key)
        if key == "h264_presets":
            if not (isinstance(v, (list, tuple)) and v and all(isinstance(n, str) for n in v)):
                raise ConfigError(f"{at}: expected a list of x264 preset names, got {v!r}")
            bad = [n for n in v if n not in X26X_PRESETS]
            if bad:
                raise ConfigError(f"{at}: unknown x264 preset {bad[0]!r}; allowed: {', '.join(X26X_PRESETS)}")
        elif isinstance(default, tuple):
            kind, low, high = _RANGES.get(key, (float, 0.0, None))
            if not (isinstance(v, (list, tuple)) and len(v) == 2):
                raise ConfigError(f"{at}: expected a [low, high] pair, got {v!r}")
            pair = [_number(at, n, kind, low, high) for n in v]
            if pair[0] > pair[1]:
                raise ConfigError(f"{at}: expected [low, high] with low <= high, got {v!r}")
        else:
            high = 1.0 if key.startswith("p_") else None
            low = 1e-3 if key == "step" else 0.0  # the defocus radius ladder's spacing
            _number(at, v, type(default), low, high)
    return value


def _checked(path, key: str, value):
    """One recipe value, checked: a clear error naming the key instead of a Python error later (or a
    silent fallback: ``schedule: linear`` trained a cosine). YAML 1.1 reads ``1e-3`` as text (no dot):
    a number written so is taken as the number it says."""
    where = str(path) if str(path).startswith("--") else f"{path}: {key}"  # a flag (--threads) names itself
    if key in _NUMBERS:
        kind, low, *top = _NUMBERS[key]
        high = 1 if key in _SHARES else (top[0] if top else None)
        return _number(where, value, kind, low, high)
    if key in _FLAGS and not isinstance(value, bool):  # bf16: "yes" (text) was taken as on
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if key in _NAMES and not (isinstance(value, str) and value.strip()):  # out: "" wrote into the current folder
        raise ConfigError(f"{where}: expected a non-empty name, got {value!r}")
    if key in _FILES and value is not None and not (isinstance(value, str) and value.strip()):
        raise ConfigError(f"{where}: expected a file's name (or nothing), got {value!r}")
    if key == "betas":
        if not (isinstance(value, list) and len(value) == 2):
            raise ConfigError(f"{where}: expected two numbers in [0, 1), e.g. [0.9, 0.9], got {value!r}")
        value = [_number(where, b, float, 0.0) for b in value]
        if max(value) >= 1:  # AdamW's "Invalid beta parameter at index 0: 2.0", exit 1
            raise ConfigError(f"{where}: each must be less than 1, got {value}")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(f"{where}: expected one of {', '.join(_CHOICES[key])}, got {value!r}")
    if key in _MAPPINGS:
        cls = _MAPPINGS[key]
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping of {cls.__name__} fields, got {value!r}")
        known = {f.name for f in fields(cls)}
        bad = sorted(set(value) - known)
        if bad:
            raise ConfigError(f"{where}: unknown key {bad[0]!r}; allowed: {', '.join(sorted(known))}")
        _checked_mapping(where, cls, value)
    if key == "crop_schedule":
        if not (
            isinstance(value, list)
            and value
            and all(
                isinstance(e, list) and len(e) == 2 and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in e)
                for e in value
            )
        ):
            raise ConfigError(f"{where}: expected a list of [step, crop] pairs, e.g. [[0, 96], [8000, 128]], got {value!r}")
        odd = [c for _, c in value if c <= 0 or c % 8]  # the model's crops halve three times: 63 failed at its step
        if odd:
            raise ConfigError(f"{where}: a crop must be a positive multiple of 8, got {odd[0]}")
    return value


def code_hash() -> str:
    """SHA-256 (16 hex digits) of the code a run's result depends on: the ``models`` and ``train``
    packages' Python sources (paths relative to the package, so the checkout's place does not matter)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for sub in ("models", "train"):
        for f in sorted((root / sub).rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def check_device(spec: str) -> str:
    """``--device`` checked as ``run`` and ``bench`` check it: ``tpu``, ``""`` or ``cuda`` without CUDA
    gave PyTorch's own messages, exit 1. Returns the device's name (``auto`` resolved).

    Raises:
        UsageError: an unknown device, or CUDA where there is none.
    """
    if not spec.strip():
        raise UsageError("--device '': give one of auto, cpu, cuda, cuda:N")
    try:
        return str(choose_device(spec))
    except (ValueError, RuntimeError) as exc:  # RuntimeError: torch.device("cuda:x")
        raise UsageError(f"--device {spec}: {one_line(exc)}" if "device" not in one_line(exc) else one_line(exc)) from None


def check_minutes(minutes: float | None, steps: int) -> None:
    """``--minutes`` is a positive, finite budget: 0, -5 or nan trained nothing and exited 0; ``inf`` with
    ``steps: 0`` failed after 45 s ("cannot convert float infinity to integer").

    Raises:
        UsageError: a budget that is not a positive, finite number, or ``steps: 0`` without one.
    """
    if minutes is None:
        if steps <= 0:
            raise UsageError("steps: 0 (as many as fit) needs a time budget (--minutes M)")
        return
    if not math.isfinite(minutes) or minutes <= 0:
        raise UsageError(f"--minutes {minutes}: expected a positive, finite number of minutes")


#: ``steps: 0``: seconds of training measured before the schedule is sized (at most a quarter of the
#: budget), and the share of the remaining time given to steps (the rest: validation, checkpoints, export).
#: The rate is measured from ``FIT_WARM_S`` (at most a third of the fitting time) and ``FIT_WARM_STEPS`` on: a
#: GPU's first steps (kernel selection, synthesis workers starting) ran 3x slower than later ones on a lent
#: H200, and a schedule fitted on them ended in a third of the budget.
FIT_WARM_S = 15.0
FIT_WARM_STEPS = 3
FIT_AFTER_S = 45.0
FIT_MIN_STEPS = 5
FIT_MARGIN = 0.85


#: the lock file a training session holds in its run folder (:func:`hold_run`)
RUN_LOCK = ".train.lock"


class RunBusy(SinkError):
    """Another process trains into the run folder (exit 4)."""


@contextlib.contextmanager
def hold_run(out: Path) -> Iterator[None]:
    """Hold the run folder ``out`` for this session (:mod:`~streamdeblur.io.lock`): a second ``train`` of
    the same ``out:`` started again from step 0 while the first ran and the two overwrote each other's
    checkpoint. The folder is made here when missing, and removed again when the session leaves it empty
    (a run that cannot start leaves no run folder).

    Raises:
        SinkError: ``out`` is a file, or cannot be made.
        RunBusy: another process holds it.
    """
    if out.exists() and not out.is_dir():
        raise SinkError(f"out: {out} is a file, not a run folder")
    made = [p for p in (out, *out.parents) if not p.exists()]  #: folders made here, the run folder first
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SinkError(f"out: cannot make the run folder {out}: {exc.strerror or exc}") from None
    try:
        fd = hold(out / RUN_LOCK)
    except Busy as exc:
        raise RunBusy(f"{out} is being trained by {f'process {exc.holder}' if exc.holder else 'another process'}") from None
    except OSError as exc:
        raise SinkError(f"out: cannot write into the run folder {out}: {exc.strerror or exc}") from None
    try:
        yield
    finally:
        release(out / RUN_LOCK, fd)
        with contextlib.suppress(OSError):
            for folder in made:
                folder.rmdir()  # only when empty (a run that could not start), and those above it made with it


class ResumeRefused(RuntimeError):
    """The checkpoint was written by a different recipe or code version."""


class Trainer:
    """Runs a :class:`TrainConfig`; ``log`` receives one-line progress messages.

    Args:
        cfg: the recipe.
        log: receives one-line progress messages.
        device: ``cpu`` or ``cuda[:N]``; bf16 autocast follows ``cfg.bf16`` on either.
        minutes: time budget of this session (stops cleanly and checkpoints when spent; checkpoints
            at least every minute); ``None``: until ``cfg.steps``.
        resume_anyway: resume although the recipe or code changed (recorded in the run's log).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        log: Callable[[str], None] = print,
        device: str = "cpu",
        minutes: float | None = None,
        resume_anyway: bool = False,
    ) -> None:
        self.cfg, self.log = cfg, log
        self.device = torch.device(device)
        self.minutes = minutes
        self.resume_anyway = resume_anyway
        if self.device.type == "cpu":
            torch.set_num_threads(cfg.threads)
        #: bf16 autocast: as the recipe says, except on a CPU without native bf16 (no AMX, no
        #: AVX-512 BF16), where it is emulated and a training step measured ~17x slower
        self.bf16 = cfg.bf16 and auto_bf16(self.device) if self.device.type == "cpu" else cfg.bf16
        torch.set_flush_denormal(True)
        torch.manual_seed(cfg.seed)
        self.out = Path(cfg.out)
        self.model = create_model(cfg.model).train().to(self.device, memory_format=torch.channels_last)
        if hasattr(self.model, "global_model"):
            self.model.global_model.save_memory = cfg.save_memory
        self.ema = copy.deepcopy(self.model).eval()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
        self.step = 0
        self.history: dict[str, list] = {
            "step": [],
            "loss": [],
            "eval_step": [],
            "eval_psnr": [],
            "eval_psnr_input": [],
            "eval_noblur_psnr": [],
            "eval_noblur_psnr_input": [],
            "eval_clean_psnr": [],
            "eval_clean_psnr_input": [],
        }
        #: the run's log: ``init`` (weights file, hash, step), ``sessions`` and ``resumes``
        self.runlog: dict = {
            "recipe_hash": cfg.recipe_hash(),
            "code_hash": code_hash(),
            "init": None,
            "sessions": [],
            "resumes": [],
        }
        self.pairs = BlurPairs(
            SharpPool.load(Path(cfg.data), "train"),
            cfg.crop_at(0),
            cfg.seed,
            BlurConfig(**cfg.blur),
            cfg.p_video,
            task=cfg.task,
            defocus=DefocusConfig(**cfg.defocus),
            fused=self._fused_pairs(cfg.fused_set),
            p_fused=cfg.p_fused,
        )
        self._check_crops()
        self.eval_data = self._eval_file(cfg.eval_set)
        self.eval_noblur = self._eval_file(cfg.eval_noblur_set)
        self.eval_clean = self._eval_file(cfg.eval_clean_set)
        self._stop = False
        #: the signal (SIGINT, SIGTERM) that stopped the last :meth:`run`, or None when it ran to its end
        self.stopped_by: int | None = None
        self._loader: tuple[int, Iterator] | None = None  #: (crop, batches) from the worker processes
        if cfg.bf16 and not self.bf16:  # said once the data is found: a recipe that cannot run says only why
            log("bf16 autocast off: this CPU computes bf16 only by emulation (no AMX, no AVX-512 BF16)")
        self._resume()
        # made once everything the run needs has been found: a missing init or fused set left an empty run folder
        self.out.mkdir(parents=True, exist_ok=True)

    # -- state ----------------------------------------------------------------------------------

    def _check_crops(self) -> None:
        """The largest crop of the schedule against the training sources, at start-up: a source too small
        for it was found only when the schedule reached it (hours into a run), a video clip never."""
        cfg, pool = self.cfg, self.pairs.pool
        largest = max(c for _, c in cfg.crop_schedule)
        side = int(self.pairs.sides.max())
        if side < largest + 2 * MARGIN:
            raise ConfigError(
                f"crop_schedule reaches {largest}-px crops, but the largest training photo of {cfg.data} is {side} px "
                f"on its short side (a crop needs {largest + 2 * MARGIN} px with its {MARGIN}-px margins)"
            )
        small = [min(c[0].shape[:2]) for c in pool.clips if min(c[0].shape[:2]) < largest]
        if small and cfg.p_video > 0:
            raise ConfigError(
                f"crop_schedule reaches {largest}-px crops, but {len(small)} training clip(s) of {cfg.data} are smaller "
                f"({min(small)} px on the short side); use smaller crops or p_video: 0"
            )

    @staticmethod
    def _new_runlog(recipe: str | None, code: str | None) -> dict:
        return {"recipe_hash": recipe, "code_hash": code, "init": None, "sessions": [], "resumes": []}

    @staticmethod
    def _eval_file(path: str | None) -> dict | None:
        if not path:
            return None
        if not Path(path).exists():
            raise DatasetMissing(f"validation set {as_found(path)} does not exist (run 'streamdeblur data build')")
        data = read_set(path, "validation set")  # a text file there: PyTorch's paragraph, exit 1
        if data.get("split", "val") == "test":
            raise ValueError(f"{path} is a test set: validation (checkpoint selection) must not see the test split")
        return data

    def _fused_pairs(self, path: str | None) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The recipe's fused video frames (``x``, ``gt``); None without ``fused_set``."""
        if not path:
            if self.cfg.p_fused > 0:
                raise ValueError("p_fused > 0 needs a fused_set (python -m streamdeblur.train.fused)")
            return None
        if not Path(path).exists():
            raise DatasetMissing(f"fused set {as_found(path)} does not exist (python -m streamdeblur.train.fused --out {path})")
        data = read_set(path, "fused set", ("x", "gt"))
        self.runlog["fused_set"] = {"file": str(path), "sha256": data.get("meta", {}).get("sha256"), "frames": len(data["x"])}
        return data["x"], data["gt"]

    @property
    def ckpt_path(self) -> Path:
        return self.out / "last.pt"

    def _resume(self) -> None:
        if self.ckpt_path.exists():
            st = read_run(self.ckpt_path)
            old = json.loads(st.get("runlog", "null")) or {
                "recipe_hash": None,
                "code_hash": None,
                "init": None,
                "sessions": [],
                "resumes": [],
            }
            changed = [
                what for what, key in (("recipe", "recipe_hash"), ("code", "code_hash")) if old.get(key) != self.runlog[key]
            ]
            keys = self._recipe_changes(st.get("config"))
            if "recipe" in changed and keys == ["fused_set"] and self._same_fused_set(old):
                # the same fused set (its content hash) at another path: the dataset moved, the recipe did not
                changed.remove("recipe")
                self.log(f"fused set {self.cfg.fused_set}: the file the run used ({old['fused_set']['file']}), moved")
            if changed and not self.resume_anyway:
                what = f" (changed: {', '.join(keys)})" if "recipe" in changed and keys else ""
                raise ResumeRefused(
                    f"{self.ckpt_path} was written by a different {' and '.join(changed)}{what} "
                    f"(recipe {old.get('recipe_hash')} → {self.runlog['recipe_hash']}, code {old.get('code_hash')} → "
                    f"{self.runlog['code_hash']}); use --resume-anyway to continue it (recorded) or a new 'out'"
                )
            try:
                # the first missing / unexpected key and counts: PyTorch's whole list was one 5,940-character line
                for key in ("model", "ema"):
                    check_compatible(self.model, st[key])
            except WeightsError as exc:
                why = str(exc).removeprefix("checkpoint does not fit this architecture: ")
                raise WeightsError(f"{self.ckpt_path} does not fit {self.cfg.model} (another model's run?): {why}") from None
            except (AttributeError, TypeError) as exc:
                raise WeightsError(f"{self.ckpt_path} does not fit {self.cfg.model}: {one_line(exc, 200)}") from None
            try:
                self.model.load_state_dict(st["model"])
                self.ema.load_state_dict(st["ema"])
                self.opt.load_state_dict(st["opt"])
            except (RuntimeError, ValueError, KeyError) as exc:  # another model's run (--resume-anyway)
                why = one_line(exc, 300, past_header=True)
                raise WeightsError(f"{self.ckpt_path} does not fit {self.cfg.model}: {why}") from None
            for g in self.opt.param_groups:  # the saved groups carry the old recipe's; the lr is set every step
                g["betas"], g["weight_decay"] = tuple(self.cfg.betas), self.cfg.weight_decay
            self.step = int(st["step"])
            for k, v in st["history"].items():
                self.history[k] = list(v)
            self.pairs.rng.bit_generator.state = json.loads(st["rng"])
            resume = {
                "step": self.step,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "changed": changed,
                "recipe_hash": self.runlog["recipe_hash"],
                "code_hash": self.runlog["code_hash"],
            }
            self.runlog = {**old, "recipe_hash": self.runlog["recipe_hash"], "code_hash": self.runlog["code_hash"]}
            self.runlog["resumes"].append(resume)
            self.log(f"resumed {self.ckpt_path} at step {self.step}" + (f" (changed: {', '.join(changed)})" if changed else ""))
            self._continue_fitted_schedule()
            if self.cfg.init:  # the run's own weights win: said, not silent (a new start from init needs a new 'out')
                self.log(f"init {self.cfg.init} is not used: it only starts a run, and {self.cfg.out} holds one")
        elif self.cfg.init:
            meta = load_weights(self.model, self.cfg.init)
            self.ema.load_state_dict(self.model.state_dict())
            digest = hashlib.sha256(Path(self.cfg.init).read_bytes()).hexdigest()
            self.runlog["init"] = {"file": str(self.cfg.init), "sha256": digest, "step": meta.get("step")}
            self.log(f"initialised from {self.cfg.init} (its step {meta.get('step')}; this schedule starts at 0)")

    def _continue_fitted_schedule(self) -> None:
        """``steps: 0`` resumed: the cosine an earlier session fitted to its budget goes on where it stopped.

        Each session fitted a new cosine from its first step, so every resumed session of a budgeted run
        began again at the peak learning rate: a silent warm restart. Once the fitted schedule has ended,
        a new session does fit a new one (there is nothing left of the old): said, with the rate it restarts at.
        """
        if self.cfg.steps > 0:
            return
        fitted = [s["steps_fitted"] for s in self.runlog["sessions"] if s.get("steps_fitted")]
        if not fitted:
            return
        if self.step < fitted[-1]:
            self.cfg.steps = fitted[-1]
            self.log(f"continuing the schedule an earlier session fitted to its budget: step {self.step} of {fitted[-1]}")
        else:
            self.log(
                f"the schedule fitted earlier ended at step {fitted[-1]}: this session fits a new one to its budget "
                f"(a warm restart: the learning rate goes back to {self.cfg.lr:.2e})"
            )

    def _recipe_changes(self, saved: str | None) -> list[str]:
        """Recipe keys (not :attr:`TrainConfig.RUNTIME_KEYS`) whose value differs from the checkpoint's config:
        a refusal named only two hashes, and finding what differed meant diffing JSON by hand."""
        try:
            before = json.loads(saved) if saved else {}
        except ValueError:
            return []
        now = json.loads(json.dumps(asdict(self.cfg)))  # lists as the saved JSON holds them (tuples → lists)
        return sorted(k for k in now.keys() | before.keys() if k not in TrainConfig.RUNTIME_KEYS and now.get(k) != before.get(k))

    def _same_fused_set(self, old_runlog: dict) -> bool:
        """The fused set now read has the content hash the run recorded for its own."""
        then, now = old_runlog.get("fused_set") or {}, self.runlog.get("fused_set") or {}
        return bool(then.get("sha256")) and then.get("sha256") == now.get("sha256")

    def save(self) -> None:
        st = {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step,
            "history": self.history,
            "config": json.dumps(asdict(self.cfg)),
            "rng": json.dumps(self.pairs.rng.bit_generator.state),
            "runlog": json.dumps(self.runlog),
        }
        tmp = self.ckpt_path.with_suffix(".partial")
        torch.save(st, tmp)
        tmp.replace(self.ckpt_path)
        line_plot(
            self.out / "loss.png",
            {"train loss": (self.history["step"], self.history["loss"])},
            title=f"{self.cfg.model} training loss",
            xlabel="step",
            ylabel="loss",
            logy=True,
        )
        if self.history["eval_step"]:
            line_plot(
                self.out / "eval_psnr.png",
                {
                    "model": (self.history["eval_step"], self.history["eval_psnr"]),
                    "blurry input": (self.history["eval_step"], self.history["eval_psnr_input"]),
                },
                title="validation PSNR (dB)",
                xlabel="step",
                ylabel="PSNR",
            )

    def export(self, path: Path, extra: dict | None = None) -> Path:
        """Write the EMA weights as a shipped fp16 file with the run's meta, and the compact resume
        state beside it (:func:`~streamdeblur.train.state.export_state`)."""
        self.save()
        return export_state(self.ckpt_path, path, extra)[0]

    # -- loop -----------------------------------------------------------------------------------

    @torch.no_grad()
    def _update_ema(self) -> None:
        d = self.cfg.ema if self.step > self.cfg.warmup else 0.0
        for e, p in zip(self.ema.parameters(), self.model.parameters()):
            e.lerp_(p.detach(), 1 - d)

    @property
    def _validates(self) -> bool:
        return any(d is not None for d in (self.eval_data, self.eval_noblur, self.eval_clean))

    @torch.no_grad()
    def evaluate(self, data: dict | None = None) -> tuple[float, float]:
        """Mean PSNR of the EMA model and of the input on the first ``eval_count`` samples of a
        validation set (default ``eval_set``)."""
        data = self.eval_data if data is None else data
        n = min(self.cfg.eval_count, len(data["blurry"]))
        ours, base = [], []
        for i in range(n):
            b = data["blurry"][i : i + 1].float() / 255
            s = data["sharp"][i : i + 1].float() / 255
            ours.append(psnr(self.ema.deblur(b.to(self.device)).float().clamp(0, 1).cpu(), s))
            base.append(psnr(b, s))
        return sum(ours) / n, sum(base) / n

    def validate(self) -> None:
        """Validation PSNR (blurred and no-blur validation sets) into the history."""
        self.history["eval_step"].append(self.step)
        msg = f"eval step {self.step}:"
        if self.eval_data is not None:
            p, p0 = self.evaluate()
            self.history["eval_psnr"].append(p)
            self.history["eval_psnr_input"].append(p0)
            msg += f" {p:.3f} dB (blurry input {p0:.3f} dB, gain {p - p0:+.3f})"
        if self.eval_noblur is not None:
            q, q0 = self.evaluate(self.eval_noblur)
            self.history["eval_noblur_psnr"].append(q)
            self.history["eval_noblur_psnr_input"].append(q0)
            msg += f"; no-blur {q:.3f} dB (input {q0:.3f}, {q - q0:+.3f})"
        if self.eval_clean is not None:
            c, c0 = self.evaluate(self.eval_clean)
            self.history["eval_clean_psnr"].append(c)
            self.history["eval_clean_psnr_input"].append(c0)
            msg += f"; clean {c:.3f} dB (input {c0:.3f}, {c - c0:+.3f})"
        self.log(msg)

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next training batch: synthesised here, or by ``cfg.workers`` processes (each seeded by the
        recipe's seed, the step it started at and its index, so a resumed session draws new samples)."""
        cfg = self.cfg
        crop = cfg.crop_at(self.step)
        if cfg.workers <= 0:
            self.pairs.crop = crop
            return self.pairs.batch(cfg.batch)
        if self._loader is None or self._loader[0] != crop:
            self.pairs.crop = crop
            loader = torch.utils.data.DataLoader(
                _Batches(self.pairs, cfg.batch, (cfg.seed, self.step)),
                batch_size=None,
                num_workers=cfg.workers,
                worker_init_fn=_quiet_worker,
                multiprocessing_context="spawn",  # a fork of a process whose OpenMP/OpenCV pools ran can deadlock
                pin_memory=self.device.type == "cuda",
                prefetch_factor=4,
            )
            self._loader = (crop, iter(loader))
        return next(self._loader[1])

    def train_step(self) -> float:
        cfg = self.cfg
        blurry, sharp = self._next_batch()
        blurry, sharp = blurry.to(self.device, non_blocking=True), sharp.to(self.device, non_blocking=True)
        for g in self.opt.param_groups:
            g["lr"] = cfg.lr_at(self.step)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.model.heads(blurry)
        loss = model_loss(out, sharp, cfg.fft_weight, cfg.mid_weight)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip_grad:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad)
        self.opt.step()
        self.step += 1
        self._update_ema()
        return float(loss.detach())

    def run(self) -> None:
        """Train until ``cfg.steps``, the time budget, or SIGINT/SIGTERM/SIGHUP; checkpoint on the way out."""
        cfg = self.cfg
        old = {s: signal.signal(s, self._on_signal) for s in STOP_SIGNALS if signal.getsignal(s) != signal.SIG_IGN}
        if cfg.steps <= 0 and self.minutes is None:
            raise ValueError("steps: 0 (as many as fit) needs a time budget (--minutes)")
        save_every = min(cfg.save_every_s, 60.0) if self.minutes is not None else cfg.save_every_s
        deadline = None if self.minutes is None else time.monotonic() + 60.0 * self.minutes
        last_save = time.monotonic()
        t0, s0, acc = time.monotonic(), self.step, []
        session = {
            "start_step": self.step,
            "end_step": self.step,
            "device": self._device_name(),
            "threads": cfg.threads if self.device.type == "cpu" else None,
            "minutes": 0.0,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "h264": _h264_mode(),
        }
        if session["h264"] != "libx264":
            self.log(f"no PyAV here: the H.264 step of the degradations is a {session['h264']} (streamdeblur.train.blur.h264)")
        self.runlog["sessions"].append(session)
        if self.step == 0 and self._validates:
            self.validate()  # the starting point of the validation curve (the init weights)
        t_train = time.monotonic()  # training rate measured from here (not counting that validation)
        fit_after = min(FIT_AFTER_S, 15.0 * (self.minutes or 0))
        warm_s = min(FIT_WARM_S, fit_after / 3)
        warm: tuple[float, int] | None = None  #: (time, step) where the rate measurement starts
        try:
            while (
                (cfg.steps <= 0 or self.step < cfg.steps) and not self._stop and (deadline is None or time.monotonic() < deadline)
            ):
                acc.append(self.train_step())
                now = time.monotonic()
                if warm is None and now - t_train >= warm_s and self.step - s0 >= FIT_WARM_STEPS:
                    warm = (now, self.step)
                if cfg.steps <= 0 and warm and now - t_train >= fit_after and self.step - warm[1] >= FIT_MIN_STEPS:
                    self._fit_steps(session, (self.step - warm[1]) / (now - warm[0]), deadline - now)
                session["end_step"], session["minutes"] = self.step, round((time.monotonic() - t0) / 60, 2)
                if self.step % cfg.log_every == 0:
                    self.history["step"].append(self.step)
                    self.history["loss"].append(sum(acc) / len(acc))
                    rate = (self.step - s0) / max(1e-9, time.monotonic() - t_train)
                    of = cfg.steps if cfg.steps > 0 else "?"  # steps 0: the schedule is not fitted yet
                    self.log(
                        f"step {self.step}/{of} loss {sum(acc) / len(acc):.4f} lr {cfg.lr_at(self.step):.2e} "
                        f"crop {self.pairs.crop} {rate * 3600:.0f} steps/h"
                    )
                    acc = []
                if self._validates and self.step % cfg.eval_every == 0:
                    self.validate()
                if time.monotonic() - last_save > save_every:
                    self.save()
                    last_save = time.monotonic()
        finally:
            session["end_step"], session["minutes"] = self.step, round((time.monotonic() - t0) / 60, 2)
            self.save()
            for s, h in old.items():
                signal.signal(s, h)
        if self.stopped_by is not None:
            self.log(f"interrupted at step {self.step}; checkpoint {self.ckpt_path} (the same command continues from it)")
        else:
            self.log(f"stopped at step {self.step}; checkpoint {self.ckpt_path}")

    def _fit_steps(self, session: dict, rate: float, remaining_s: float) -> None:
        """``steps: 0``: size the schedule to the time left, from the rate measured so far (less
        :data:`FIT_MARGIN` for validation and checkpoints)."""
        self.cfg.steps = self.step + max(1, int(rate * remaining_s * FIT_MARGIN))
        session["steps_fitted"] = self.cfg.steps
        self.log(f"schedule fitted to the budget: {rate * 60:.1f} steps/min measured, {self.cfg.steps} steps in all")

    def _device_name(self) -> str:
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        from ..compute.cpus import cpu_model_name

        return f"cpu: {cpu_model_name()}"

    def _on_signal(self, signum, frame) -> None:
        self._stop = True
        self.stopped_by = signum


def _h264_mode() -> str:
    """How the H.264 degradation runs in this process (PyAV's libx264, or the JPEG stand-in)."""
    try:
        import av  # noqa: F401
    except ImportError:
        return "4:2:0 JPEG approximation"
    return "libx264"


class _Batches(torch.utils.data.IterableDataset):
    """Endless batches of a :class:`BlurPairs` for a DataLoader's worker processes."""

    def __init__(self, pairs: BlurPairs, batch: int, seed: tuple[int, int]) -> None:
        self.pairs, self.batch, self.seed = pairs, batch, seed

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        self.pairs.rng = np.random.default_rng([*self.seed, info.id if info else 0])
        while True:
            yield self.pairs.batch(self.batch)


def _quiet_worker(_: int) -> None:
    """One thread per synthesis worker (the workers are the parallelism)."""
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def export_checkpoint(ckpt: str | Path, out: str | Path, extra: dict | None = None) -> Path:
    """Write the EMA weights of a training checkpoint as a shipped fp16 file, and the compact resume
    state (``.state``, :mod:`~streamdeblur.train.state`) beside it."""
    return export_state(ckpt, out, extra)[0]


def main(argv: list[str] | None = None) -> int:
    """``python -m streamdeblur.train.trainer CONFIG``: the training loop without the CLI package, whose
    other commands import PyAV (a lent GPU machine has none). Same options as ``streamdeblur train``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m streamdeblur.train.trainer", description=main.__doc__.split("\n")[0])
    ap.add_argument("config")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--minutes", type=float)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--export", help="after training, the fp16 EMA weights (and their .state) go here")
    ap.add_argument("--resume-anyway", action="store_true")
    args = ap.parse_args(argv)
    try:
        cfg = TrainConfig.from_yaml(args.config, {"threads": args.threads} if args.threads else None)
        device = check_device(args.device)
        check_minutes(args.minutes, cfg.steps)
        with hold_run(Path(cfg.out)):  # as ``streamdeblur train``: one session per run folder
            trainer = Trainer(cfg, device=device, minutes=args.minutes, resume_anyway=args.resume_anyway)
            trainer.run()
            if args.export:
                print(f"exported {trainer.export(Path(args.export))}")
    except (ResumeRefused, ValueError, FileNotFoundError, WeightsError, SinkError) as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
