"""``temporal_fusion``: each frame fused with its registered neighbours (lucky blocks or FBA, gated).

For every frame t the stage registers its neighbours t−R … t+R (a homography plus DIS residual
flow on small grey images, :mod:`streamdeblur.temporal.registration`), warps them onto t and
fuses per overlapping block: by default the sharpest copy of each block wins where the neighbour
agrees with t, and t's own content stays where it does not; with ``p`` > 0, per frequency as in
Fourier burst accumulation (:func:`streamdeblur.temporal.fba.fba_fuse`). Flows are computed once
per ordered frame pair and cached in the ring with the frames; they leave with them.

With ``memory`` the stage also keeps the sharpest recent frame (a sliding-window maximum of a
sharpness score over the last ``memory`` frames, a few candidates held at the fusion's size) and
fuses it like a neighbour: in a burst of shake the frames around are as blurred as the current one,
the detail is in the last sharp frame. It is registered straight to the current frame (no chain of
warps) and only its static scene is trusted: where the flow is not the camera's, a subject may have
turned or changed since. Two options make the most of it: ``key_width`` places it by ECC on larger
grey images (DIS on small ones leaves it a few tenths of a pixel off, and a sharp frame a fraction
of a pixel off loses the detail it was fetched for), ``key_match`` lets the gates compare it blurred
as the current frame is (:mod:`streamdeblur.temporal.blur_match`): under a long blur a sharp copy's
low frequencies differ from the frame's as a misplaced copy's would, and plain gates keep it out of
exactly the frames that need it. When the fusion runs on smaller images (``max_width``, ``scale``),
``full_detail`` makes the choice there but blends the chosen copies at full size (the per-pixel
weights from :func:`~streamdeblur.temporal.fba.fba_fuse` upscaled, each copy warped at full size):
the memory brings its own fine detail instead of an upscaled correction.

Live sources get a causal window (R past frames, none in the future): see
:mod:`streamdeblur.stages.window`. Every frame it returns carries the side output ``fused``, which a
later model stage's ``keep_low`` reads (:func:`streamdeblur.stages.deblur.anchor_low`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ..compute.scale import downscale, upscale, work_size
from ..temporal.blur_match import blur_like, fit_blur
from ..temporal.fba import FBAParams, fba_fuse, screen_static
from ..temporal.registration import fb_consistency, refine_homography, register_pair, small_grey, upsample_flow, warp
from .base import Batch, register_stage
from .window import WindowedStage, WindowItem

#: ``memory``: how much sharper (log) an older frame must be, per frame of age, to stay the one kept
MEMORY_AGE = 0.02


@register_stage("temporal_fusion")
class TemporalFusion(WindowedStage):
    """Fuse each frame with its ``radius`` past and future neighbours (training-free, any size)."""

    provides = frozenset({"fused"})  #: always set on the frames it returns (see :func:`_mark_fused`)

    @dataclass
    class Options:
        radius: int = 5  #: neighbours on each side (live sources: past only)
        causal: bool = False  #: past neighbours only, also for files
        block: int = 64  #: fusion block size (pixels, even)
        #: per-frequency FBA exponent (0: off, 11: Delbracio & Sapiro's). 0 by default: lucky blocks
        #: (``q``) measured better on the dev set, fusion alone: mean +0.55 -> +0.95 dB, worst frame
        #: -0.80 -> -0.60 dB, walking people +0.23 -> +0.64 dB (per-frequency picks mix copies whose
        #: sub-pixel registration differs)
        p: float = 0.0
        sigma: float = 1.5  #: smoothing of the magnitudes with ``p`` > 0 (frequency bins; see FBAParams.sigma)
        gate_tol: float = 0.05  #: low-frequency disagreement at which a neighbour's block is half gated
        #: a neighbour's block gated below this gets no weight at all (FBAParams.gate_min), and
        #: blocks darker than ``floor_dark`` (mean, [0, 1]) are gated against a smaller noise floor
        #: (FBAParams.floor_dark). Without them a fade to black took the previous shot's faint,
        #: "sharper" copies (black frames came out at 1.5–12 levels, the boats readable; a fade
        #: slowed); dev set, fusion alone: mean +1.14 -> +1.14 dB, still_3 +2.38 -> +2.37. 0: off
        gate_min: float = 1e-4
        floor_dark: float = 0.25
        bonus: float = 0.5  #: with ``p`` > 0: how much stronger (relative) a neighbour's frequency must be to win
        noise_aware: bool = True  #: sharpness and magnitudes are measured above each block's noise floor
        q: float = 24.0  #: block-sharpness exponent (lucky blocks, FBAParams.q): the sharpest agreeing copy of a block wins
        q_bonus: float = 0.2  #: how much sharper (relative) a neighbour's block must be to replace the current one's
        q_hard: bool = False  #: a neighbour's block not ``q_bonus`` sharper gets no share at all (FBAParams.q_hard)
        #: such a block keeps its share only as far as it differs from the current one by noise (FBAParams.q_noise)
        q_noise: bool = False
        #: per-pixel low-pass disagreement at which a neighbour's pixel is half distrusted (0: off). 0.12:
        #: the moving-square test's blurred square edge no longer depends on the source's encoding (without
        #: it, 1 of 3 runs passed); dev set, fusion alone: mean +0.95 -> +0.90 dB, worst frame -0.60 -> -0.56,
        #: walking people +0.64/-0.25 -> +0.69/-0.09
        pixel_tol: float = 0.12
        pixel_sigma: float = 3.0  #: σ (pixels at the fusion's scale) of that low-pass
        merge: float = 0.0  #: temporal merge of the agreeing copies after the selection (FBAParams.merge); 0: off
        flow_width: int = 320  #: width of the grey images the flow is computed on
        fb_tol: float = 1.0  #: forward–backward error (flow pixels) at which a pixel is distrusted
        #: how a neighbour is resampled onto the frame (:func:`~streamdeblur.temporal.registration.warp`):
        #: ``bicubic`` or ``lanczos`` (8×8 taps: a sub-pixel-shifted copy keeps more of its finest detail)
        interp: str = "bicubic"
        #: internal resolution of the fusion, a factor in (0, 1]; below 1 the *correction* is
        #: upscaled and added to the full-resolution frame (:mod:`streamdeblur.compute.scale`)
        scale: float = 1.0
        max_width: int = 0  #: fuse at most this many pixels wide (lowers ``scale`` for large frames); 0: no limit
        #: also fuse the sharpest of the last ``memory`` frames (the lucky frame before a burst of
        #: shake, further back than the window), registered to the current frame directly, its
        #: static scene only (not where the flow is a moving subject's); 0: off. Sharpness: the
        #: variance of the Laplacian of the small grey image, :data:`MEMORY_AGE` less per frame of age
        memory: int = 0
        #: the memory's frame is registered once more, with ECC over a homography on grey images this
        #: wide (:func:`~streamdeblur.temporal.registration.refine_homography`): its detail is what it
        #: is fetched for, and DIS on ``flow_width`` images places it a few tenths of a pixel off. 0: off
        key_width: int = 0
        #: the gates compare the memory's frame blurred as the current frame is (one linear motion blur
        #: fitted per frame, :mod:`streamdeblur.temporal.blur_match`), not the sharp frame itself: under
        #: a long blur they would take the sharp frame for a misplaced one; a moved subject still differs.
        #: A frame no blurrier than the memory's (the fitted blur: none) is not fused with it at all,
        #: and the memory's frame needs no forward–backward round trip (one flow per frame, not two)
        key_match: bool = False
        #: with ``key_match``: the memory's frame is fused only into frames whose fitted blur is at least
        #: this long (pixels of the frame): a nearly sharp frame has little to gain from it and a sharp
        #: block a fraction of a pixel off to lose
        key_min_blur: float = 0.0
        #: with ``scale``/``max_width`` below full size: blocks and pixels are still chosen on the small
        #: images, but the chosen copies are blended at full resolution (each warped at full size, with
        #: the small fusion's per-pixel weights upscaled), so a sharp copy brings its own fine detail
        #: rather than an upscaled correction. Block mode without ``merge`` only (``p`` 0, ``merge`` 0).
        #: The memory's candidates are then held at full size (half precision; a few, ``memory`` at most)
        full_detail: bool = False
        #: a neighbour's pixels that are fixed on the screen while the scene moved (a burned-in timestamp,
        #: a logo: :func:`~streamdeblur.temporal.fba.screen_static`) are not trusted; registered to the
        #: scene they carry the overlay displaced, and the fused frame showed it doubled
        overlay_gate: bool = True

    def __init__(self, options=None, ctx=None) -> None:
        o = options or self.Options()
        if o.radius < 0 or o.block < 8 or o.block % 2 or o.flow_width < 16 or o.key_width < 0:
            raise ValueError("temporal_fusion: radius ≥ 0, block even and ≥ 8, flow_width ≥ 16, key_width ≥ 0")
        if not 0 < o.scale <= 1 or o.max_width < 0:
            raise ValueError("temporal_fusion: scale in (0, 1], max_width ≥ 0")
        if o.interp not in ("bicubic", "lanczos"):
            raise ValueError(f"temporal_fusion: interp must be bicubic or lanczos, got {o.interp!r}")
        if o.full_detail and (o.p != 0 or o.merge > 0):
            raise ValueError("temporal_fusion: full_detail needs block mode (p: 0) without merge")
        self._said: set[tuple[int, int]] = set()
        self.window = (o.radius, 0 if o.causal else o.radius)  # the ring: neighbours only
        # the fusion knobs are the options of the same names
        self.params = FBAParams(**{f.name: getattr(o, f.name) for f in fields(FBAParams) if hasattr(o, f.name)})
        self.flows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  #: (flow, moving) per ordered pair
        super().__init__(o, ctx)

    @classmethod
    def context_of(cls, options) -> tuple[int, int]:
        # across a segment's cut: the neighbours, and the frames the memory may still hold
        return (max(options.radius, options.memory), 0 if options.causal else options.radius)

    @property
    def live_context(self) -> int:
        # with a memory, camera frames dropped while the pipeline was busy are candidates too
        return max(self.past, min(self.options.memory, 4))

    def start_stream(self, live: bool) -> None:
        super().start_stream(live)
        self.flows = {}
        #: memory: candidates for the sharpest recent frame, (value, proxy) with decreasing values
        #: (a sliding-window maximum; value = log sharpness + MEMORY_AGE × index)
        self.keys: deque[tuple[float, WindowItem]] = deque()
        self.seen = -1  #: index of the last frame offered to the memory

    def forget(self, item: WindowItem) -> None:
        i = item.frame.index
        for key in [k for k in self.flows if i in k]:
            del self.flows[key]
        self._remember(item)  # leaving the ring: from now on the memory's to keep or not

    def _grey(self, item: WindowItem) -> np.ndarray:
        if "grey" not in item.cache:
            w = item.image.shape[-1]
            item.cache["grey"] = small_grey(item.image[None], min(1.0, self.options.flow_width / w))[0]
        return item.cache["grey"]

    def _key_grey(self, item: WindowItem) -> np.ndarray:
        """The grey image ECC refines the memory's registration on (``key_width`` wide), cached."""
        if "grey_key" not in item.cache:
            w = item.image.shape[-1]
            item.cache["grey_key"] = small_grey(item.image[None].float(), min(1.0, self.options.key_width / w))[0]
        return item.cache["grey_key"]

    def _flow(self, a: WindowItem, b: WindowItem) -> np.ndarray:
        return self._registration(a, b)[0]

    def _registration(self, a: WindowItem, b: WindowItem) -> tuple[np.ndarray, np.ndarray]:
        """Flow from ``a`` to ``b`` and where it is not the camera's (moving subjects), cached per pair."""
        key = (a.frame.index, b.frame.index)
        if key not in self.flows:
            self.flows[key] = register_pair(self._grey(a), self._grey(b), return_moving=True)
        return self.flows[key]

    def scale_for(self, height: int, width: int) -> float:
        """The internal scale for ``height×width`` frames (``scale``, lowered by ``max_width``); said once per size."""
        o = self.options
        scale = min(o.scale, o.max_width / width) if o.max_width else o.scale
        if scale < 1 and (height, width) not in self._said:
            self._said.add((height, width))
            hs, ws = work_size(height, width, scale)
            self.ctx.say(
                f"{self.name}: fusing at {ws}×{hs} for {width}×{height} frames (scale {scale:.3g}; the correction is upscaled)"
            )
        return scale

    def _work_image(self, item: WindowItem, size: tuple[int, int]) -> torch.Tensor:
        """The item's pixels at the internal size (cached with the item)."""
        if tuple(item.image.shape[-2:]) == size:
            return item.image.float()
        if item.cache.get("small_size") != size:
            item.cache["small"] = downscale(item.image.float()[None], size)[0]
            item.cache["small_size"] = size
        return item.cache["small"]

    def _remember(self, item: WindowItem) -> None:
        """Offer a frame that has left the window to the memory (once, in stream order): a proxy
        holding its pixels at the internal size and its grey image."""
        i = item.frame.index
        if self.options.memory <= 0 or i <= self.seen:
            return
        h, w = item.image.shape[-2:]
        size = work_size(h, w, self.scale_for(h, w))
        self.seen = i
        grey = self._grey(item)
        sharp = float(cv2.Laplacian(grey, cv2.CV_32F).var())
        value = math.log(sharp + 1e-6) + MEMORY_AGE * i
        while self.keys and self.keys[-1][0] <= value:
            self.keys.pop()
        # held in half precision (finer than 8-bit video), at the fusion's size (full_detail: full size)
        pixels = (item.image.float() if self.options.full_detail else self._work_image(item, size)).half()
        cache = {"grey": grey}
        if self.options.key_width and not self.options.full_detail:  # later, the proxy is too small for it
            cache["grey_key"] = self._key_grey(item)
        proxy = WindowItem(item.frame, pixels, pixels[:, :1, :1], cache=cache)
        self.keys.append((value, proxy))

    def _memory(self, centre: WindowItem) -> WindowItem | None:
        """The sharpest of the last ``memory`` frames before ``centre`` that have left its window."""
        t = centre.frame.index
        while self.keys and self.keys[0][1].frame.index < t - self.options.memory:
            self.keys.popleft()
        return self.keys[0][1] if self.keys else None

    def fuse(self, centre: WindowItem, others: list[WindowItem]) -> torch.Tensor:
        """One output frame from its centre, its neighbours and (``memory``) the sharpest recent frame (``3×H×W``)."""
        full = centre.image.float()
        size = work_size(*full.shape[-2:], self.scale_for(*full.shape[-2:]))
        key = self._memory(centre) if self.options.memory > 0 else None
        if key is not None:
            others = [*others, key]
        if not others:
            return full
        cur = self._work_image(centre, size)
        h, w = cur.shape[-2:]
        flows, confs = [], []  # flows at the flow's scale (numpy), confidences at the fusion's size
        o = self.options
        for n in others:
            f_cn, moving = self._registration(centre, n)
            # the memory's frame with key_match: no round trip (a second flow per frame); its static
            # scene is the homography's, and the blur-matched gates check what it brings
            back = None if (n is key and o.key_match) else self._flow(n, centre)
            conf = fb_consistency(f_cn, back, o.fb_tol)
            if n is key:  # a frame from further back: the static scene only (a subject turns, deforms)
                conf = conf * (1 - moving)
                if o.key_width and not o.key_match:
                    f_cn, _ = refine_homography(self._key_grey(centre), self._key_grey(n), f_cn, moving)
            flows.append(f_cn)
            confs.append(torch.from_numpy(conf))
        flow = torch.stack([upsample_flow(f, (h, w)) for f in flows]).to(cur.device)
        conf = torch.stack(confs)[:, None].to(cur.device)
        conf = F.interpolate(conf, size=(h, w), mode="bilinear", align_corners=False)
        raw = torch.stack([self._work_image(n, size) for n in others])
        warped = warp(raw, flow, o.interp)
        if o.overlay_gate:
            conf = conf * (1 - screen_static(cur, raw, warped, flow))
        del raw
        compare = None
        if key is not None and o.key_match:  # the key is the last copy
            # the blur is fitted on small greys, where DIS's placement is as good as ECC's: a frame
            # that will not take the memory costs no ECC
            length, angle = fit_blur(cur, warped[-1], conf[-1])
            if length > 0 and length >= o.key_min_blur:
                if o.key_width:
                    moving = self._registration(centre, key)[1]
                    flows[-1], _ = refine_homography(self._key_grey(centre), self._key_grey(key), flows[-1], moving)
                    fl = upsample_flow(flows[-1], (h, w))[None].to(cur.device)
                    warped[-1] = warp(self._work_image(key, size)[None], fl, o.interp)[0]
                compare = warped.clone()
                compare[-1] = blur_like(warped[-1:], length, angle)[0]
            else:  # the frame is as sharp as the memory's: nothing to fetch, only a misplacement to risk
                warped, conf, others, flows = warped[:-1], conf[:-1], others[:-1], flows[:-1]
                if not len(warped):
                    return full
        small = (h, w) != tuple(full.shape[-2:])
        if small and o.full_detail:
            _, weights = fba_fuse(cur, warped, conf, self.params, compare=compare, return_weights=True)
            big = tuple(full.shape[-2:])
            fl = torch.stack([upsample_flow(f, big) for f in flows]).to(full.device)
            copies = warp(torch.stack([n.image.float() for n in others]), fl, o.interp)
            return full + (upscale(weights, big) * (copies - full)).sum(0)
        fused = fba_fuse(cur, warped, conf, self.params, compare=compare)
        if not small:
            return fused
        return full + upscale((fused - cur)[None], tuple(full.shape[-2:]))[0]

    def process(self, ring: Sequence[WindowItem], centres: list[int]) -> torch.Tensor:
        outs = []
        for c in centres:
            for it in ring[: max(0, c - self.past)]:  # out of c's window, still in the ring (context frames)
                self._remember(it)
            hood = self.neighbourhood(ring, c)
            others = [it for it in hood if it is not ring[c]]
            outs.append(self.fuse(ring[c], others).clamp(0, 1))
        return torch.stack(outs)

    def __call__(self, batch: Batch) -> Batch | None:
        with torch.inference_mode():
            return _mark_fused(super().__call__(batch))

    def flush_parts(self, size: int | None = None) -> Iterator[Batch]:
        parts = super().flush_parts(size)
        while True:
            with torch.inference_mode():  # each part computed inside, handed out after
                part = next(parts, None)
            if part is None:
                return
            yield _mark_fused(part)


def _mark_fused(batch: Batch | None) -> Batch | None:
    """Side output ``fused`` (one ``True`` per frame): a later model stage's ``keep_low`` acts on these."""
    if batch is not None:
        batch.side["fused"] = [True] * len(batch)
    return batch
