"""``streamdeblur train CONFIG.yaml``: the DeepRFTv2 recipe scaled to a small budget.

Recipe (from the official training config, scaled): L1 + 0.01 × Fourier loss averaged over the
full-scale heads, plus the same on the half-scale heads against the half-scale sharp image
(auxiliary loss); AdamW (betas 0.9/0.9, weight decay 1e-3); cosine learning-rate decay with a
short warm-up; gradient-norm clipping; progressive patch size. Additions for a small budget: an
exponential moving average of the weights (what is evaluated and exported), bf16 autocast as an
option (FFTs and the scan stay fp32), recomputation in backward (``save_memory``).

Runs are resumable: ``<out>/last.pt`` holds the model, EMA, optimiser, step, random state and the
loss history, written atomically every ``save_every_s`` seconds and at exit; running the same
command again continues. ``init:`` starts from a weights file instead (e.g. the shipped fp16
weights, whose ``meta.step`` then continues the schedule).
"""

from __future__ import annotations

import copy
import json
import math
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import yaml

from ..models import create_model, load_weights, save_weights
from .blur import BlurConfig
from .dataset import BlurPairs, SharpPool, to_tensor  # noqa: F401
from .defocus import DefocusConfig
from .losses import model_loss
from .metrics import psnr
from .plot import line_plot


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
    eval_count: int = 16
    p_video: float = 0.1
    seed: int = 0
    blur: dict = field(default_factory=dict)
    defocus: dict = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict | None = None) -> TrainConfig:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: a training config must be a mapping of keys")
        raw.update(overrides or {})
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ValueError(f"{path}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
        return cls(**raw)

    def crop_at(self, step: int) -> int:
        size = self.crop_schedule[0][1]
        for start, s in self.crop_schedule:
            if step >= start:
                size = s
        return size

    def lr_at(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        t = min(1.0, (step - self.warmup) / max(1, self.steps - self.warmup))
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * t))


class Trainer:
    """Runs a :class:`TrainConfig`; ``log`` receives one-line progress messages."""

    def __init__(self, cfg: TrainConfig, log: Callable[[str], None] = print) -> None:
        self.cfg, self.log = cfg, log
        torch.set_num_threads(cfg.threads)
        torch.set_flush_denormal(True)
        torch.manual_seed(cfg.seed)
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.model = create_model(cfg.model).train().to(memory_format=torch.channels_last)
        if hasattr(self.model, "global_model"):
            self.model.global_model.save_memory = cfg.save_memory
        self.ema = copy.deepcopy(self.model).eval()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
        self.step = 0
        self.history: dict[str, list[float]] = {"step": [], "loss": [], "eval_step": [], "eval_psnr": [], "eval_psnr_input": []}
        self.pairs = BlurPairs(
            SharpPool.load(Path(cfg.data), "train"),
            cfg.crop_at(0),
            cfg.seed,
            BlurConfig(**cfg.blur),
            cfg.p_video,
            task=cfg.task,
            defocus=DefocusConfig(**cfg.defocus),
        )
        self.eval_data = None
        if cfg.eval_set and Path(cfg.eval_set).exists():
            self.eval_data = torch.load(cfg.eval_set, weights_only=True)
        self._stop = False
        self._resume()

    # -- state ----------------------------------------------------------------------------------

    @property
    def ckpt_path(self) -> Path:
        return self.out / "last.pt"

    def _resume(self) -> None:
        if self.ckpt_path.exists():
            st = torch.load(self.ckpt_path, map_location="cpu", weights_only=True)
            self.model.load_state_dict(st["model"])
            self.ema.load_state_dict(st["ema"])
            self.opt.load_state_dict(st["opt"])
            self.step = int(st["step"])
            self.history = {k: list(v) for k, v in st["history"].items()}
            self.pairs.rng.bit_generator.state = json.loads(st["rng"])
            self.log(f"resumed {self.ckpt_path} at step {self.step}")
        elif self.cfg.init:
            meta = load_weights(self.model, self.cfg.init)
            self.ema.load_state_dict(self.model.state_dict())
            self.step = int(meta.get("step", 0))
            self.log(f"initialised from {self.cfg.init} (step {self.step})")

    def save(self) -> None:
        st = {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step,
            "history": self.history,
            "config": json.dumps(asdict(self.cfg)),
            "rng": json.dumps(self.pairs.rng.bit_generator.state),
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
                title="held-out PSNR (dB)",
                xlabel="step",
                ylabel="PSNR",
            )

    def export(self, path: Path, extra: dict | None = None) -> Path:
        """Write the EMA weights as a shipped fp16 file with the run's meta."""
        meta = {"model": self.cfg.model, "step": self.step, "config": json.dumps(asdict(self.cfg)), **(extra or {})}
        return save_weights(self.ema, path, meta)

    # -- loop -----------------------------------------------------------------------------------

    @torch.no_grad()
    def _update_ema(self) -> None:
        d = self.cfg.ema if self.step > self.cfg.warmup else 0.0
        for e, p in zip(self.ema.parameters(), self.model.parameters()):
            e.lerp_(p.detach(), 1 - d)

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        data = self.eval_data
        n = min(self.cfg.eval_count, len(data["blurry"]))
        ours, base = [], []
        for i in range(n):
            b = data["blurry"][i : i + 1].float() / 255
            s = data["sharp"][i : i + 1].float() / 255
            ours.append(psnr(self.ema.deblur(b).clamp(0, 1), s))
            base.append(psnr(b, s))
        return sum(ours) / n, sum(base) / n

    def train_step(self) -> float:
        cfg = self.cfg
        self.pairs.crop = cfg.crop_at(self.step)
        blurry, sharp = self.pairs.batch(cfg.batch)
        for g in self.opt.param_groups:
            g["lr"] = cfg.lr_at(self.step)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
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
        cfg = self.cfg
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        last_save = time.monotonic()
        t0, s0, acc = time.monotonic(), self.step, []
        try:
            while self.step < cfg.steps and not self._stop:
                acc.append(self.train_step())
                if self.step % cfg.log_every == 0:
                    self.history["step"].append(self.step)
                    self.history["loss"].append(sum(acc) / len(acc))
                    rate = (self.step - s0) / max(1e-9, time.monotonic() - t0)
                    self.log(
                        f"step {self.step}/{cfg.steps} loss {sum(acc) / len(acc):.4f} lr {cfg.lr_at(self.step):.2e} "
                        f"crop {self.pairs.crop} {rate * 3600:.0f} steps/h"
                    )
                    acc = []
                if self.eval_data is not None and self.step % cfg.eval_every == 0:
                    p, p0 = self.evaluate()
                    self.history["eval_step"].append(self.step)
                    self.history["eval_psnr"].append(p)
                    self.history["eval_psnr_input"].append(p0)
                    self.log(f"eval step {self.step}: {p:.3f} dB (blurry input {p0:.3f} dB, gain {p - p0:+.3f})")
                if time.monotonic() - last_save > cfg.save_every_s:
                    self.save()
                    last_save = time.monotonic()
        finally:
            self.save()
            for s, h in old.items():
                signal.signal(s, h)
        self.log(f"stopped at step {self.step}; checkpoint {self.ckpt_path}")

    def _on_signal(self, signum, frame) -> None:
        self._stop = True


def export_checkpoint(ckpt: str | Path, out: str | Path, extra: dict | None = None) -> Path:
    """Write the EMA weights of a training checkpoint as a shipped fp16 file (no training state)."""
    st = torch.load(ckpt, map_location="cpu", weights_only=True)
    cfg = json.loads(st["config"])
    meta = {"model": cfg["model"], "step": int(st["step"]), "config": st["config"], **(extra or {})}
    return save_weights(st["ema"], Path(out), meta)
