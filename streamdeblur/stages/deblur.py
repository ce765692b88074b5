"""``deblur`` (motion, DeepRFTv2) and the shared machinery of model stages: loading, tiling,
autocast, and the out-of-memory fallback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..compute.tiling import check_feather, run_tiled
from ..models import create_model, model_info
from .base import Batch, Stage, StageContext, register_stage


def is_oom(exc: BaseException) -> bool:
    """True for CUDA/CPU out-of-memory errors."""
    oom = getattr(torch, "OutOfMemoryError", ())
    return (oom and isinstance(exc, oom)) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


class ModelStage(Stage):
    """A stage that runs a registered image model through :func:`~streamdeblur.compute.tiling.run_tiled`.

    On an out-of-memory error it retries the same frames with fewer tiles per pass, then fewer
    frames per pass, then smaller tiles — never dropping or duplicating a frame — and reports
    each fallback once.
    """

    needs_model = True
    default_model: ClassVar[str] = ""

    @dataclass
    class Options:
        model: str = ""
        weights: str = "default"
        tile: int = 0  #: 0: whole frames when they fit, else 512-px tiles
        overlap: int = 32
        feather: str = "linear"
        max_tiles: int = 8
        max_pixels: int = 1280 * 736
        kernel_size: int = 33

    def __init__(self, options: Options | None = None, ctx: StageContext | None = None) -> None:
        super().__init__(options, ctx)
        o = self.options
        o.model = o.model or self.default_model
        check_feather(o.feather)
        info = model_info(o.model)
        weights = None if o.weights in ("none", "random") else o.weights
        self.model = create_model(o.model, weights=weights, device=self.ctx.device)
        # channels_last: the convolutions and LayerNorms run on NHWC without copies (~20% on CPU)
        self.model = self.model.to(memory_format=torch.channels_last)
        self.multiple = info.multiple
        self.tile = o.tile or None
        self.max_tiles = o.max_tiles
        self.max_pixels = o.max_pixels

    def _run(self, images: torch.Tensor, aux: list | None, **kwargs) -> torch.Tensor:
        dev = self.ctx.device
        with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=self.ctx.bf16):
            return run_tiled(
                self.model,
                images,
                self.tile,
                self.options.overlap,
                self.multiple,
                self.options.feather,
                self.max_pixels,
                self.max_tiles,
                aux=aux,
                **kwargs,
            )

    def infer(self, images: torch.Tensor, aux: list | None = None, **kwargs) -> torch.Tensor:
        """Run the model on ``N×3×H×W`` with the OOM fallback ladder."""
        while True:
            try:
                return self._run(images, aux, **kwargs)
            except Exception as exc:  # noqa: BLE001
                if not is_oom(exc):
                    raise
                if images.is_cuda:
                    torch.cuda.empty_cache()
                if aux is not None:
                    aux.clear()
                if self.max_tiles > 1:
                    self.max_tiles //= 2
                    self.ctx.warn(f"out of memory: retrying with {self.max_tiles} tile(s) per pass")
                elif len(images) > 1:
                    self.ctx.warn("out of memory: retrying with fewer frames per pass")
                    half = len(images) // 2
                    parts = []
                    for offset, part in ((0, images[:half]), (half, images[half:])):
                        part_aux = None if aux is None else []
                        parts.append(self.infer(part, part_aux, **kwargs))
                        if aux is not None:
                            aux.extend((i + offset, *rest) for i, *rest in part_aux)
                    return torch.cat(parts)
                elif self.tile is None:
                    self.tile, self.max_pixels = 512, 0
                    self.ctx.warn("out of memory: retrying with 512-px tiles")
                elif self.tile > 128:
                    self.tile = max(128, self.tile // 2)
                    self.ctx.warn(f"out of memory: retrying with {self.tile}-px tiles")
                else:
                    raise


@register_stage("deblur")
class Deblur(ModelStage):
    """Remove motion blur with DeepRFTv2 (default ``deeprftv2-t`` with the bundled weights).

    Provides ``kernels``: per frame, a list of ``(y, x, h, w, kernel)`` — the channel-averaged
    FKE kernel (``kernel_size``²) of each tile, or of the whole frame.
    """

    provides = frozenset({"kernels"})
    default_model = "deeprftv2-t"

    def __call__(self, batch: Batch) -> Batch:
        want = "kernels" in self.ctx.provide
        aux: list | None = [] if want else None
        kw = {"kernel_size": self.options.kernel_size} if want else {}
        batch.images = self.infer(batch.images, aux, **kw).float().clamp(0, 1)
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

    def __call__(self, batch: Batch) -> Batch:
        want = "blurmap" in self.ctx.provide and model_info(self.options.model).task == "defocus"
        aux: list | None = [] if want else None
        batch.images = self.infer(batch.images, aux, **({"blur_map": True} if want else {})).float().clamp(0, 1)
        if want:
            n, _, h, w = batch.images.shape
            maps = torch.zeros(n, h, w)
            for i, y, x, _h, _w, m in aux:
                m = m.float().cpu()[: h - y, : w - x]
                maps[i, y : y + m.shape[0], x : x + m.shape[1]] = m
            batch.side["blurmap"] = maps
        return batch
