"""``deblur`` (motion, DeepRFTv2) and the shared machinery of model stages: loading, tiling,
autocast, and the out-of-memory fallback."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch.nn import functional as F

from ..compute.oom import OutOfMemory, PassPlan, is_oom, next_plan, release_memory, trim_heap
from ..compute.scale import choose_scale, correct_at_scale, downscale, time_call, work_size
from ..compute.tiling import check_feather, run_tiled
from ..errors import WeightsError, one_line
from ..io.digest import file_sha256
from ..models import create_model, model_info
from ..models.gate import HarmGate, fitted_for, gate_path
from ..models.registry import bundled_weights_path
from ..models.weights import read_checkpoint
from .base import Batch, Stage, StageContext, register_stage
from .basic import gaussian_blur


class ModelStage(Stage):
    """A stage that runs a registered image model through :func:`~streamdeblur.compute.tiling.run_tiled`.

    On an out-of-memory error (CUDA, or the CPU allocator's) it retries the same frames with fewer
    tiles per pass, then fewer frames per call, then smaller tiles — only steps that change the
    pass — never dropping or duplicating a frame, and reports each fallback once
    (:mod:`streamdeblur.compute.oom`).
    """

    needs_model = True
    default_model: ClassVar[str] = ""
    _trimmed_after: tuple[int, int] | None = None  #: the frame size after whose pass the heap was last trimmed
    task: ClassVar[str] = ""  #: the blur the stage removes (``motion``, ``defocus``): its models' task

    def check_model(self, name: str) -> None:
        """Refuse (``ValueError``) a model this stage cannot run as configured; nothing by default."""

    @dataclass
    class Options:
        model: str = ""
        weights: str = "default"
        tile: int = 0  #: 0: whole frames when they fit, else 512-px tiles
        overlap: int = 32
        feather: str = "linear"
        #: tiles per forward pass; 0: auto (1 on CPU, 8 on CUDA). On a CPU several tiles in one pass
        #: are slower and larger: one 1920×1080 frame, 512-px tiles, 2-core EPYC: 35.8 s and 4.6 GB at 8
        #: per pass, 19.8 s and 1.1 GB at 1 (the GPU keeps its cores busy with a batch)
        max_tiles: int = 0
        max_pixels: int = 1280 * 736
        kernel_size: int = 33
        #: do-no-harm gate: ``auto`` uses the gate fitted for the weights (``<weights>.gate.pt``) when
        #: there is one, ``off`` the raw model output, or a path to a gate file
        guard: str = "auto"
        #: internal resolution: a factor in (0, 1], or ``auto`` (the largest of 1, 0.75, 0.5, 0.375,
        #: 0.25 whose measured time fits ``budget_ms``); below 1 the model's *correction* is upscaled
        #: and added to the full-resolution input (:mod:`streamdeblur.compute.scale`)
        scale: str = "1"
        budget_ms: float = 60.0  #: ``scale: auto``: the time one frame may take in this stage
        #: the most pixels the model works on: a larger frame is processed at the scale that brings it
        #: down to this many (its correction upscaled, as with ``scale``); 0: no limit. Blur grows with
        #: the frame: hand-held shake that blurs a 640×360 frame by 10 px blurs the same shot in 1080p
        #: by 30, beyond the kernels the model learnt, and it then mostly harms sharp frames
        work_pixels: int = 0
        #: σ (px of the image the model sees) of the input's low frequencies that the output keeps:
        #: the model's change loses its Gaussian low-pass (:func:`anchor_low`); 0: off
        keep_low: float = 0.0
        #: which frames ``keep_low`` applies to: ``fused`` (frames that ``temporal_fusion`` fused, whose
        #: low frequencies come from the sharpest registered copies; single images keep the model's)
        #: or ``all``
        keep_low_on: str = "fused"
        #: the smallest change (8-bit levels) the output makes to a pixel, applied last at the size the
        #: model works at: every change shrinks by this much, smaller ones vanish (soft threshold). The
        #: model's own output is not cleaner than ~39 dB, so on a clean sharp input (a 1080p frame at
        #: the 640×360 work size is 55 dB clean) its changes are that floor, spread over the frame; 0: off
        floor: float = 0.0
        #: where ``floor`` applies: ``scaled`` (frames the model works on at a reduced size, ``scale`` or
        #: ``work_pixels``: the shrink has averaged their noise away, far below the model's floor) or ``all``
        floor_on: str = "scaled"

    def __init__(self, options: Options | None = None, ctx: StageContext | None = None) -> None:
        super().__init__(options, ctx)
        o = self.options
        o.model = o.model or self.default_model
        check_feather(o.feather)
        info = model_info(o.model)
        self.check_model(o.model)
        if info.task != self.task and o.weights == "default":  # a stage runs any model; its bundled weights say what it learnt
            self.ctx.warn(
                f"{o.model} is a {info.task} model and its bundled weights were trained for {info.task} blur, "
                f"not for what the {self.name} stage removes ({self.task}): give weights trained for it "
                f"(--weights FILE) or use --pipeline {info.task}"
            )
        weights = None if o.weights in ("none", "random") else o.weights
        if weights is None:  # a speed test's setting: the run went on without a word, colours shifted (28 dB)
            self.ctx.warn(
                f"{o.model} runs with random weights ({o.weights!r}): it is untrained and its frames come out "
                "damaged, not deblurred (for timing only; weights: default or a file to deblur)"
            )
        self.model = create_model(o.model, weights=weights, device=self.ctx.device)
        # channels_last: the convolutions and LayerNorms run on NHWC without copies (~20% on CPU)
        self.model = self.model.to(memory_format=torch.channels_last)
        max_tiles = o.max_tiles or (8 if self.ctx.device.type == "cuda" else 1)
        self.passes = PassPlan(o.tile or None, o.max_pixels, max_tiles, None, o.overlap, info.multiple)
        self._configured_passes = self.passes  #: what each run starts from (:meth:`start_run`)
        # create_model has refused "default" for a model that ships no weights, so this resolves
        weights_file = bundled_weights_path(info.default_weights) if weights == "default" else weights
        self.gate = self._load_gate(o.guard, weights_file)
        self._scale = parse_scale(o.scale)
        if o.budget_ms <= 0:
            raise ValueError(f"budget_ms must be positive, got {o.budget_ms}")
        if o.keep_low < 0:
            raise ValueError(f"keep_low must be 0 (off) or a positive σ in pixels, got {o.keep_low}")
        if not 0 <= o.floor < 255:
            raise ValueError(f"floor must be 0 (off) or a number of 8-bit levels below 255, got {o.floor}")
        if o.floor_on not in ("scaled", "all"):
            raise ValueError(f"floor_on must be 'scaled' or 'all', got {o.floor_on!r}")
        if o.keep_low_on not in ("fused", "all"):
            raise ValueError(f"keep_low_on must be 'fused' or 'all', got {o.keep_low_on!r}")
        self._auto: dict[tuple[int, int], float] = {}  #: frame size → scale chosen by measurement
        self._said: set[tuple[int, int]] = set()  #: frame sizes whose ``work_pixels`` scale was said
        if o.work_pixels < 0:
            raise ValueError(f"work_pixels must be 0 (no limit) or a pixel count, got {o.work_pixels}")
        reduced = [k for k, on in (("work_pixels", o.work_pixels), ("scale", str(o.scale) not in ("1", "1.0"))) if on]
        if reduced and self.ctx.provide & self.provides:  # the run took twice as long and other pixels, unsaid
            floor = ", and floor with them" if o.floor > 0 and o.floor_on == "scaled" else ""
            self.ctx.warn(
                f"{self.name}: {' and '.join(reduced)} ignored{floor}: kernel_overlay draws what the model estimates at "
                "full resolution, so the model runs there (without kernel_overlay it would not)"
            )

    def start_run(self) -> None:
        """Each run starts from the configured passes and measures ``scale: auto`` again: an
        out-of-memory fallback (tiles, fewer frames per call) or a scale timed while another
        pipeline shared the machine is not carried into the next run of a reused stage."""
        self.passes = self._configured_passes
        self._auto.clear()
        self._said.clear()

    def _load_gate(self, guard: str, weights_file: str | Path | None) -> HarmGate | None:
        """The do-no-harm gate for the weights file (:mod:`streamdeblur.models.gate`), or None."""
        if guard == "off" or (guard == "auto" and not weights_file):
            return None
        path = Path(gate_path(weights_file) if guard == "auto" else guard)
        if guard == "auto" and not path.is_file():
            if str(weights_file) not in ("random",):  # a user's own weights: the raw model runs, which is said
                # (a copy of the shipped weights elsewhere gave other pixels, up to 59 levels, without a word)
                self.ctx.warn(
                    f"no do-no-harm gate beside {weights_file} (looked for {path.name}): the model's raw output is "
                    "used on sharp frames too (--guard FILE gives one, --guard off says this is meant)"
                )
            return None
        if not str(guard).strip():
            raise WeightsError("no do-no-harm gate given (an empty name): auto, off or a gate file")
        if path.is_dir():
            raise WeightsError(f"{path} is a folder, not a do-no-harm gate file")
        if not path.is_file():
            raise WeightsError(f"do-no-harm gate not found: {path} (--guard takes auto, off or a gate file)")
        try:  # untrusted: "not a PyTorch checkpoint", "refused: it would run code", in one line (was PyTorch's text, cut)
            sd = read_checkpoint(path)
        except WeightsError as exc:
            raise WeightsError(f"cannot load the do-no-harm gate: {exc}") from None
        if "params" in sd or "meta" in sd:  # the model's own weights, beside which its gate sits as <name>.gate.pt
            raise WeightsError(f"{path} holds model weights, not a do-no-harm gate (a gate file is <weights>.gate.pt)")
        gate = HarmGate()
        try:
            gate.load_state_dict({k: v.float() for k, v in sd.items()})
        except (RuntimeError, AttributeError, TypeError) as exc:  # other keys or shapes: one line
            # PyTorch's first line is only "Error(s) in loading state_dict for HarmGate:": the next says which
            raise WeightsError(f"{path} is not a do-no-harm gate: {one_line(exc, 160, past_header=True)}") from None
        self._check_gate_fits(path, weights_file)
        return gate.to(self.ctx.device).eval()

    def _check_gate_fits(self, gate_file: Path, weights_file: str | Path | None) -> None:
        """A gate belongs to the weights it was fitted for: its card (``<gate>.json``) names their
        SHA-256. Any gate was accepted for any weights without a word (the defocus model's gate beside
        motion weights, or given with ``--guard``); another model's or weights' gate is said."""
        record = fitted_for(gate_file)
        if record is None:
            return
        model, want = record.get("model"), record.get("weights_sha256")
        if isinstance(model, str) and model != self.options.model:
            of = f"the {model} model"
        elif isinstance(want, str) and weights_file and Path(weights_file).is_file():
            try:
                if file_sha256(weights_file) == want:
                    return
            except OSError:
                return
            of = "other weights"
        else:
            return
        self.ctx.warn(
            f"the do-no-harm gate {gate_file.name} was fitted for {of}, not {self.options.model}"
            f"{f' ({Path(weights_file).name})' if weights_file else ''}: "
            "it may keep harm in or block help (fit one with python -m streamdeblur.train.gate, or --guard off)"
        )

    def guarded(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The model's output ``y`` for input ``x`` with the gate applied (unchanged without one)."""
        if self.gate is None:
            return y
        with torch.inference_mode():
            return self.gate(x.float(), y.float()).clamp(0, 1)

    def keep_low_applies(self, batch: Batch) -> bool:
        """Whether ``keep_low`` acts on ``batch``: on, and ``all`` or every frame marked ``fused``
        (``temporal_fusion`` marks every frame it returns; still images skip it, so never marked)."""
        o = self.options
        fused = batch.side.get("fused")
        return o.keep_low > 0 and (o.keep_low_on == "all" or (fused is not None and all(fused)))

    def _restore_full(
        self, x: torch.Tensor, aux: list | None = None, keep_low: bool = False, floor: bool = False, **kwargs
    ) -> torch.Tensor:
        y = self.guarded(x, self.infer(x, aux, **kwargs).float().clamp(0, 1))
        if keep_low:
            # after the gate: the gate is fitted (train.gate) and run on the model's own output
            with torch.inference_mode():
                y = anchor_low(x.float(), y, self.options.keep_low).clamp(0, 1)
        if floor:  # soft threshold of the change
            x = x.float()
            y = x + F.softshrink(y - x, self.options.floor / 255)
        return y

    def scale_for(self, x: torch.Tensor) -> float:
        """The internal scale for frames like ``x``: the configured one, or (``auto``) the largest
        candidate whose time, measured here on ``x``'s first frame, fits ``budget_ms``; at most the
        scale that brings the frame down to ``work_pixels``. A reduced scale is said once per frame size."""
        h, w = x.shape[-2:]
        scale = self._scale if self._scale is not None else self._auto_scale(x)
        cap = pixel_cap(h, w, self.options.work_pixels)
        if cap < scale and (h, w) not in self._said:
            self._said.add((h, w))
            wh = work_size(h, w, cap, self.passes.multiple)
            self.ctx.say(f"{self.name}: working at {wh[1]}×{wh[0]} for {w}×{h} frames (work_pixels {self.options.work_pixels})")
        return min(scale, cap)

    def _auto_scale(self, x: torch.Tensor) -> float:
        """``scale: auto``: the largest candidate scale whose measured time fits ``budget_ms``."""
        h, w = x.shape[-2:]
        if (h, w) not in self._auto:
            m = self.passes.multiple
            probe = x[:1].float()

            def seconds_at(s: float) -> float:
                small = downscale(probe, work_size(h, w, s, m))
                return time_call(lambda: self._restore_full(small), repeats=1)

            scale, t = choose_scale(seconds_at, self.options.budget_ms / 1000)
            self._auto[(h, w)] = scale
            wh = work_size(h, w, scale, m)
            self.ctx.say(
                f"{self.name}: working at {wh[1]}×{wh[0]} for {w}×{h} frames (scale {scale:g}: "
                f"{t * 1000:.0f} ms per frame measured, budget {self.options.budget_ms:g} ms)"
            )
        return self._auto[(h, w)]

    def restore(self, x: torch.Tensor, aux: list | None = None, keep_low: bool = False, **kwargs) -> torch.Tensor:
        """The stage's result for ``N×3×H×W`` in [0, 1], at the internal scale (side outputs such as
        kernels need full resolution, so asking for them runs at scale 1); ``keep_low``: whether the
        output keeps the input's low frequencies (:meth:`keep_low_applies`)."""
        scale = 1.0 if aux is not None or kwargs else self.scale_for(x)
        floor = self.options.floor > 0 and (self.options.floor_on == "all" or scale < 1)
        if scale >= 1:
            return keep_grey(x, self._restore_full(x, aux, keep_low, floor, **kwargs))
        fn = lambda s: self._restore_full(s, keep_low=keep_low, floor=floor)  # noqa: E731
        return keep_grey(x, correct_at_scale(fn, x, scale, self.passes.multiple).clamp(0, 1))

    def _run(self, images: torch.Tensor, aux: list | None, **kwargs) -> torch.Tensor:
        dev, p = self.ctx.device, self.passes
        with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=self.ctx.bf16):
            return run_tiled(
                self.model,
                images,
                p.tile,
                p.overlap,
                p.multiple,
                self.options.feather,
                p.max_pixels,
                p.max_tiles,
                aux=aux,
                **kwargs,
            )

    def _attempt(self, images: torch.Tensor, aux: list | None, kwargs: dict) -> tuple[torch.Tensor | None, str]:
        """One call; on an allocation failure ``(None, first line of the error)``. Returning from here
        drops the exception, its traceback and with them every tensor the failed pass held."""
        try:
            return self._run(images, aux, **kwargs), ""
        except Exception as exc:  # noqa: BLE001 - only allocation failures are handled
            if not is_oom(exc):
                raise
            return None, (str(exc).strip().splitlines() or [type(exc).__name__])[0]

    def infer(self, images: torch.Tensor, aux: list | None = None, **kwargs) -> torch.Tensor:
        """Run the model on ``N×3×H×W`` with the out-of-memory fallback ladder
        (:func:`~streamdeblur.compute.oom.next_plan`).

        Frames go through in order, ``passes.frames_per_call`` at a time. When a call runs out of
        memory, the retry happens after the failed attempt has been released (not inside the
        ``except`` clause, where its tensors would still be alive), with the next smaller plan; the
        smaller plan stays for later batches and each change is reported once.

        Args:
            images: frames, ``N×3×H×W``.
            aux: if given, receives the model's per-tile extras with frame indices into ``images``.
            kwargs: passed to the model.

        Returns:
            ``N×3×H×W``, every frame exactly once.
        """
        n, _, h, w = images.shape
        outs: list[torch.Tensor] = []
        start = 0
        while start < n:
            take = self.passes.frames_per_call(n - start)
            part_aux: list | None = None if aux is None else []
            out, failure = self._attempt(images[start : start + take], part_aux, kwargs)
            if out is not None:
                if images.device.type == "cpu" and (h, w) != self._trimmed_after:
                    trim_heap()  # a new frame size: its pass's freed pages go back (see trim_heap)
                    self._trimmed_after = (h, w)
                outs.append(out)
                if aux is not None:
                    aux.extend((i + start, *rest) for i, *rest in part_aux)
                start += take
                continue
            release_memory(images.device)
            step = next_plan(self.passes, take, h, w)
            if step is None:
                raise OutOfMemory(f"out of memory even with {self.passes.describe(take)}: {failure}")
            self.passes, what = step
            self.ctx.warn(f"out of memory: retrying with {what}")
        return outs[0] if len(outs) == 1 else torch.cat(outs)


def keep_grey(x: torch.Tensor, y: torch.Tensor, tol: float = 1e-4) -> torch.Tensor:
    """``y`` with the frames whose input ``x`` is grey (its three channels equal) made grey too.

    A black-and-white photo stored as RGB (as phones and editors save one) came out of the motion
    model with colour speckles at its edges, up to 6 levels between channels: a grey picture has no
    colour to restore, so each such frame gets the mean of the model's three channels.

    Args:
        x: ``N×3×H×W`` input in [0, 1].
        y: ``N×3×H×W`` output.
        tol: largest channel difference of a grey input (0.025 levels of 8 bits: 16-bit and float inputs too).

    Returns:
        ``y``, its grey frames' channels replaced by their mean.

    Example:
        >>> x = torch.rand(1, 1, 4, 4).expand(2, 3, 4, 4).clone(); x[1, 0] += 0.1
        >>> y = keep_grey(x, torch.rand(2, 3, 4, 4))
        >>> bool((y[0, 0] == y[0, 2]).all()), bool((y[1, 0] == y[1, 2]).all())
        (True, False)
    """
    if x.dim() != 4 or x.shape[1] != 3 or y.shape != x.shape:
        raise ValueError(f"keep_grey: N×3×H×W input and output of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    grey = (x.amax(1) - x.amin(1)).flatten(1).amax(1) <= tol
    if not bool(grey.any()):
        return y
    y = y.clone()
    y[grey] = y[grey].mean(1, keepdim=True).expand(-1, 3, -1, -1).to(y.dtype)
    return y


def anchor_low(x: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """``y − G_σ * (y − x)``: the restoration ``y`` of ``x`` with the low frequencies of ``x``.

    Blur moves detail but keeps local means: a blur kernel sums to one, so a frequency well below
    ``1/extent`` passes almost unchanged, and a correct deblurring changes it little. A change there
    is a model's guess — an edge redrawn a few pixels from where the frame has it (a blurred frame's
    content sits at its blur path's centroid, which no single frame can place better), a colour or
    brightness shift. A sharpened edge in the wrong place costs more than the blurred one did, so
    the stage gives those frequencies back to the input and keeps the model's detail (measured in
    ``pipelines/README.md``, *Temporal fusion*).

    Args:
        x: the stage's input, ``N×3×H×W``.
        y: the model's output for ``x``, same shape.
        sigma: Gaussian σ in pixels (positive).

    Returns:
        ``N×3×H×W``.

    Example:
        >>> x = torch.rand(1, 3, 32, 32)
        >>> bool((anchor_low(x, x + 0.1, 4.0) - x).abs().max() < 1e-5)  # a uniform shift is undone
        True
    """
    if x.dim() != 4 or x.shape != y.shape:
        raise ValueError(f"anchor_low: x and y must both be N×C×H×W, got {tuple(x.shape)} and {tuple(y.shape)}")
    if sigma <= 0:
        raise ValueError(f"anchor_low: sigma must be positive, got {sigma}")
    d = y - x
    return y - gaussian_blur(d, sigma)


def pixel_cap(height: int, width: int, work_pixels: int) -> float:
    """The scale that brings a ``width×height`` frame down to ``work_pixels`` pixels (1 when it has no
    more, or when ``work_pixels`` is 0).

    Example:
        >>> pixel_cap(1080, 1920, 518400), pixel_cap(360, 640, 518400), pixel_cap(2160, 3840, 0)
        (0.5, 1.0, 1.0)
    """
    if work_pixels <= 0 or height * width <= work_pixels:
        return 1.0
    return math.sqrt(work_pixels / (height * width))


def parse_scale(value: str | float) -> float | None:
    """``scale`` option → a factor in (0, 1], or None for ``auto``; anything else is a ValueError."""
    if str(value).strip().lower() == "auto":
        return None
    try:
        s = float(value)
    except ValueError:
        raise ValueError(f"scale must be a number in (0, 1] or auto, got {value!r}") from None
    if not 0 < s <= 1:
        raise ValueError(f"scale must be in (0, 1] or auto, got {value!r}")
    return s


@register_stage("deblur")
class Deblur(ModelStage):
    """Remove motion blur with DeepRFTv2 (default ``deeprftv2-t`` with the bundled weights).

    Provides ``kernels``: per frame, a list of ``(y, x, h, w, kernel)`` — the channel-averaged
    FKE kernel (``kernel_size``²) of each tile, or of the whole frame.
    """

    provides = frozenset({"kernels"})
    default_model = "deeprftv2-t"
    task = "motion"

    def check_model(self, name: str) -> None:
        task = model_info(name).task
        if "kernels" in self.ctx.provide and task != "motion":  # the model's forward has no kernels to give
            raise ValueError(
                f"{name} is a {task} model and estimates no blur kernels to draw: kernel_overlay after deblur needs "
                f"a motion model (after a defocus stage it draws {name}'s blur map)"
            )

    def __call__(self, batch: Batch) -> Batch:
        want = "kernels" in self.ctx.provide
        aux: list | None = [] if want else None
        kw = {"kernel_size": self.options.kernel_size} if want else {}
        x = batch.images
        batch.images = self.restore(x, aux, self.keep_low_applies(batch), **kw)
        if want:
            per_frame: list[list] = [[] for _ in range(batch.images.shape[0])]
            for i, y, x, h, w, k in aux:
                per_frame[i].append((y, x, h, w, k.float().cpu()))
            batch.side["kernels"] = per_frame
        return batch


@register_stage("defocus")
class Defocus(ModelStage):
    """Remove defocus blur with FDIKP (default, bundled weights); any registered model can be
    given instead (e.g. ``--model deeprftv2-t --weights defocus-trained.pt``).

    Provides ``blurmap`` (FDIKP only): per frame ``H×W``, how much deconvolution each pixel got.
    """

    provides = frozenset({"blurmap"})
    default_model = "fdikp"
    task = "defocus"

    def check_model(self, name: str) -> None:
        task = model_info(name).task
        if "blurmap" in self.ctx.provide and task != "defocus":  # the overlay drew nothing, unsaid (as deblur's, audit 19)
            raise ValueError(
                f"{name} is a {task} model and gives no blur map to draw: kernel_overlay after defocus needs a defocus "
                f"model (fdikp; after a deblur stage it draws {name}'s blur kernels)"
            )

    def __call__(self, batch: Batch) -> Batch:
        want = "blurmap" in self.ctx.provide and model_info(self.options.model).task == self.task
        aux: list | None = [] if want else None
        x = batch.images
        batch.images = self.restore(x, aux, self.keep_low_applies(batch), **({"blur_map": True} if want else {}))
        if want:
            n, _, h, w = batch.images.shape
            maps = torch.zeros(n, h, w)
            for i, y, x, _h, _w, m in aux:
                m = m.float().cpu()[: h - y, : w - x]
                maps[i, y : y + m.shape[0], x : x + m.shape[1]] = m
            batch.side["blurmap"] = maps
        return batch
