"""Fit the do-no-harm gate (:class:`~streamdeblur.models.gate.HarmGate`) for shipped weights.

The model is frozen; its outputs on training crops are computed once through the product's stage
(without a gate) and the gate learns, from ``(input, output)``, how much of the change to keep.
The loss is on the PSNR gain of the blend over the input, per crop (so a sharp crop, with a small
error, counts as much as a blurry one) or, with ``--harm-tile N``, per N×N square of every crop (a
harm confined to a corner then counts instead of hiding in the crop's average):
``−mean(gain) + HARM_WEIGHT · mean(max(0, −gain))`` — a decibel lost weighs three times a decibel won.
Half of the crops are blurred (the task's degradations), half sharp with only sensor noise and
compression (the do-no-harm case), all from the **train** split. With ``--video`` half of the steps
draw fused frames of shaky training-split clips instead, and with ``--steady`` half of those fused
frames of a steady hand. Those are few scenes (8 clips of 40 nearly identical frames by default),
and a gate learns them by heart: on the validation clips of a steady hand it gets worse with every
hundred steps, and the checkpoint kept is an early one. The shipped motion gate is such a checkpoint
(step 100): it halves the model's change nearly everywhere (α 0.47–0.50 on every frame measured,
sharp or blurred). ``--steady-clips 46 --steady-frames 12`` films every training photograph for 12
frames instead (552 frames of 46 scenes): validation then improves with training (``val_steady``
−0.01 / −0.48 → +0.06 / −0.22 dB, mean / worst), the gate acts region by region (noisy sharp facade
frames: −0.10 … −0.17 dB of the raw model's −1.4 … −1.9 kept, where the halving keeps −0.27 … −0.46)
and the test split gains (+0.80 → +1.00 dB, no-blur +0.51 → +0.59); but on *clean* sharp input (no
noise, nearly lossless) it passes more of the model's sharpening than the halving does
(``streamdeblur/train/README.md``). Every sharp sample here is noisy and compressed: a gate that has seen many scenes has
still not seen a clean one. Not shipped. ``--clean-clips 23`` adds steady-hand clips from a clean
camera (:data:`CLEAN_SHAKE`): better again on sharp noisy video, but worse on the one clean real
clip measured (the bundled sample's sharp clip at crf 8: −0.61 → −0.75 dB); not shipped either.
``--crisp`` adds pixel-sharp crops (photographs shrunk 2–3×, as a 1080p frame is at the 640×360
work size): two nearly flat validation crops (69 and 65 dB in) lose ~20 dB to the model's error floor
and the gate learns to pass nothing (``val_motion`` +0.92 → +0.37 dB); not shipped (the deblur stage's
``floor`` handles those frames; ``pipelines/README.md``, *Large frames*).
``--clean`` adds sharp crops from a clean camera (:data:`CLEAN_SET`: no sensor noise, H.264 crf 8–12)
and ``val_clean`` to the validation: the defocus gate fitted without them kept half of the model's
changes of clean crops (validation −0.54 dB, worst crop −5.75; the raw model −2.10); with them +0.08
(worst −1.15), at a cost on blurred crops (+1.30 → +0.80 dB). Shipped for defocus (``streamdeblur/train/README.md``).
The checkpoint kept is the one with the best validation score, the mean over the validation sets
(``val_<task>.pt``, ``val_noblur.pt``, ``val_steady``) of their mean gain minus ``HARM_WEIGHT`` times
their mean loss.
The test sets are not read here (the weight card reads them once).

Example:
    python -m streamdeblur.train.gate --task motion --data data/sharp --out runs/gate-motion
    # the real-time model, on what the live pipeline feeds it (causal fusion):
    python -m streamdeblur.train.gate --task motion --model deeprftv2-rt --video --pipeline webcam --out runs/gate-rt
    cp runs/gate-motion/gate.pt streamdeblur/weights/deeprftv2-t-motion.gate.pt
    cp runs/gate-motion/gate.json streamdeblur/weights/deeprftv2-t-motion.gate.json
    python -m streamdeblur.train.card streamdeblur/weights/deeprftv2-t-motion.pt --data data/sharp
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..io.digest import file_sha256
from ..models import model_info
from ..models.gate import HarmGate
from ..models.registry import bundled_weights_path
from .blur import BlurConfig
from .dataset import CLEAN_DEGRADATION, make_eval_set
from .evaluate import product_stage, through_stage
from .shake import ShakeConfig

MODELS = {"motion": "deeprftv2-t", "defocus": "fdikp"}
#: the shipped pipeline whose temporal_fusion stage makes the video frames (motion only)
TASK_PIPELINE = "motion"
#: share of the optimizer steps that draw their batch from the fused video frames (with ``video``)
VIDEO_SHARE = 0.5
#: a dB lost on a crop weighs 1 + HARM_WEIGHT times a dB gained (do no harm first)
HARM_WEIGHT = 2.0
#: JPEG quality of the frames a live camera source delivers (as the live benchmark serves them)
CAMERA_JPEG_QUALITY = 92
#: (kind, no_blur, crops per training photo, seed)
TRAIN_SETS = [("blur", False, 6, 7001), ("noblur", True, 4, 7002)]
#: a steady hand (``steady``): blur paths of 0.5–3 px in the shakiest moments, well under 1 px between
#: them; the sensor noise and H.264 crf range of the shaky clips. What most of a video a user runs
#: through the tool looks like, and where the model must be the identity.
STEADY_SHAKE = ShakeConfig(burst_px=(0.5, 3.0))
#: a steady hand on a clean camera (``clean_clips``): the same shake, no sensor noise to speak of and
#: nearly lossless H.264 (crf 8–12). A gate that has only seen noisy, compressed sharp frames reads
#: the model's sharpening of a clean frame as a gain (``streamdeblur/train/README.md``).
CLEAN_SHAKE = ShakeConfig(burst_px=(0.5, 3.0), crf=(8, 12), shot=(1e-9, 2e-9), read=(1e-6, 2e-6))

#: pixel-sharp crops (``crisp``): photographs shrunk 2–3× first, as a 1080p frame is at the 640×360
#: work size, with the little noise that survives such a shrink and nearly lossless H.264; half blurred
#: (a 1080p frame's blur, shrunk with it), half not. (kind, no_blur, crops per photo, seed)
CRISP_SETS = [("crisp_blur", False, 3, 7011), ("crisp_noblur", True, 3, 7012)]
CRISP_DOWNSCALE = (2.0, 3.0)
CRISP_BLUR = BlurConfig(kernel_sizes=(5, 25), shot=(1e-7, 1e-5), read=(1e-5, 5e-4), p_jpeg=0.0, h264_crf=(8, 20))


#: sharp crops from a clean camera (``clean``): no sensor noise, H.264 at crf 8–12
#: (:data:`~streamdeblur.train.dataset.CLEAN_DEGRADATION`), the do-no-harm case every other sharp crop
#: here misses (they all carry noise and crf 17–28). (kind, no_blur, crops per training photo, seed)
CLEAN_SET = ("clean", True, 4, 7003)


def clean_outputs(task: str, data: Path, folder: Path, model: str, log=print) -> dict:
    """:data:`CLEAN_SET` of the train split with the frozen model's outputs (uint8 ``{"x", "y", "gt"}``,
    cached in ``folder``)."""
    kind, no_blur, cpi, seed = CLEAN_SET
    sets = {
        kind: dict(crops_per_image=cpi, split="train", no_blur=no_blur, seed=seed, blur=CLEAN_DEGRADATION),
    }
    return _frozen_outputs(data, folder, f"train_{task}_", folder / f"cache_train_{task}_clean.pt", sets, task, model, log)


def crisp_outputs(data: Path, folder: Path, split: str, model: str, log=print) -> dict:
    """:data:`CRISP_SETS` of ``split`` (``crisp_*`` for train, ``val_crisp_*`` for val) with the frozen
    model's outputs, as uint8 ``{"x", "y", "gt"}`` per kind (cached in ``folder``)."""
    sets = {
        kind: dict(
            crops_per_image=cpi,
            split=split,
            no_blur=no_blur,
            seed=seed + (100 if split == "val" else 0),
            blur=CRISP_BLUR,
            downscale=CRISP_DOWNSCALE,
        )
        for kind, no_blur, cpi, seed in CRISP_SETS
    }
    return _frozen_outputs(data, folder, f"{split}_", folder / f"cache_{split}_crisp.pt", sets, "motion", model, log)


def _frozen_outputs(
    data: Path, folder: Path, prefix: str, cache: Path, sets: dict[str, dict], task: str, model: str, log
) -> dict:
    """Each evaluation set of ``sets`` (kind → :func:`make_eval_set` options; written as
    ``folder/<prefix><kind>.pt``) through the product's stage without its gate, as uint8
    ``{"x", "y", "gt"}`` per kind; read from ``cache`` when there, else written to it."""
    if cache.exists():
        return torch.load(cache, weights_only=True)
    stage = product_stage(model, task, gate=False)
    res = {}
    for kind, options in sets.items():
        d = make_eval_set(data, folder / f"{prefix}{kind}.pt", **options)
        t = time.time()
        y = through_stage(stage, d["blurry"].float() / 255)
        log(f"{prefix.rstrip('_')} {kind}: {len(y)} crops through the model in {time.time() - t:.0f} s")
        res[kind] = {"x": d["blurry"], "y": (y * 255).round().byte(), "gt": d["sharp"]}
    torch.save(res, cache)
    return res


def camera_frames(frames: torch.Tensor, quality: int = CAMERA_JPEG_QUALITY) -> torch.Tensor:
    """Frames as an MJPEG camera delivers them: each JPEG-encoded at ``quality`` and decoded.

    Args:
        frames: uint8 ``N×3×H×W`` RGB.

    Returns:
        uint8 ``N×3×H×W``.
    """
    import cv2

    out = []
    for f in frames.permute(0, 2, 3, 1).numpy():
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(f[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def model_outputs(task: str, data: Path, cache: Path, log=print, model: str | None = None) -> dict:
    """Train-split crops and the frozen model's outputs on them (cached in ``cache``)."""
    if cache.exists():
        return torch.load(cache, weights_only=True)
    stage = product_stage(model or MODELS[task], task, gate=False)
    res = {}
    for kind, no_blur, cpi, seed in TRAIN_SETS:
        # the no-blur crops are the same for every task (sharp + noise + compression, as test_noblur.pt)
        d = make_eval_set(
            data,
            cache.parent / f"train_{task}_{kind}.pt",
            crops_per_image=cpi,
            task="motion" if no_blur else task,
            split="train",
            no_blur=no_blur,
            seed=seed + (0 if task == "motion" or no_blur else 100),
        )
        x = d["blurry"].float() / 255
        t = time.time()
        y = through_stage(stage, x)
        log(f"{task} {kind}: {len(x)} crops through the model in {time.time() - t:.0f} s")
        res[kind] = {"x": d["blurry"], "y": (y * 255).round().byte(), "gt": d["sharp"], "src": list(d["sources"])}
    torch.save(res, cache)
    return res


def val_outputs(task: str, data: Path, log=print, model: str | None = None, camera: bool = False, clean: bool = False) -> dict:
    """The validation sets of ``task`` (blurred and no-blur) with the frozen model's outputs; with
    ``camera`` also ``val_camera``: the no-blur set's sharp crops as a camera delivers them
    (:func:`camera_frames`, no added noise); with ``clean`` also ``val_clean`` (``val_clean.pt``)."""
    stage = product_stage(model or MODELS[task], task, gate=False)
    out = {}
    for name in (f"val_{task}", "val_noblur", *(("val_clean",) if clean else ())):
        d = torch.load(data / f"{name}.pt", weights_only=True)
        x = d["blurry"].float() / 255
        out[name] = {"x": x, "y": through_stage(stage, x), "gt": d["sharp"].float() / 255}
        log(f"{name}: {len(x)} crops through the model")
        if camera and name == "val_noblur":
            xc = camera_frames(d["sharp"]).float() / 255
            out["val_camera"] = {"x": xc, "y": through_stage(stage, xc), "gt": d["sharp"].float() / 255}
            log(f"val_camera: {len(xc)} crops through the model")
    return out


def video_outputs(
    task: str,
    data: Path,
    cache: Path,
    clips: int = 8,
    log=print,
    model: str | None = None,
    pipeline: str = TASK_PIPELINE,
    camera: bool = False,
    steady: bool = False,
    steady_clips: int = 8,
    steady_frames: int = 40,
    clean_clips: int = 0,
) -> dict:
    """Frames as the model stage sees them in a video pipeline: training-split photographs
    under simulated hand shake (the dev-set renderer, :mod:`~streamdeblur.train.devset`: 6 still
    scenes and 2 moving objects, 40 frames each at 320×240), fused by ``pipeline``'s
    ``temporal_fusion`` stage (a live pipeline's fusion runs causal, as it does on a camera), then the
    frozen model's outputs on them. Cached in ``cache``.

    With ``camera``, the clips' sharp frames as a camera delivers them (:func:`camera_frames`) are
    added under ``camera`` (the do-no-harm case of a live stage: a steady camera, 42 dB against the
    scene).

    With ``steady``, as many clips again of other training photographs filmed by a steady hand
    (:data:`STEADY_SHAKE`: nearly sharp, with the shaky clips' noise and compression), fused the same
    way, are added under ``steady`` (the do-no-harm case of a video pipeline): ``steady_clips`` clips
    of ``steady_frames`` frames each. ``clean_clips`` more clips of training photographs filmed by a
    steady hand on a clean camera (:data:`CLEAN_SHAKE`) join them.

    Returns:
        ``x`` (fused), ``y`` (model output), ``gt`` (sharp frames): uint8 ``N×3×240×320``; with
        ``camera`` or ``steady`` also ``camera`` / ``steady``: ``{"x", "y", "gt"}`` likewise.
    """
    if cache.exists():
        return torch.load(cache, weights_only=True)
    from .devset import ClipSpec, photos_of_split
    from .fused import fused_frames

    photos = [p for p, _ in photos_of_split(data, "train")]
    order = [photos[i] for i in np.random.default_rng(99).permutation(len(photos))]
    n_obj = clips // 4
    specs = [ClipSpec(f"gstill_{i}", "still", str(order[i]), (320, 240), 40, 5000 + i) for i in range(clips - n_obj)]
    specs += [
        ClipSpec(f"gobj_{i}", "object", str(order[6 + i]), (320, 240), 40, 5100 + i, sprite=str(order[10 + i]))
        for i in range(n_obj)
    ]
    stage = product_stage(model or MODELS[task], task, gate=False)
    xs, gts = fused_frames(specs, cache.parent / "video_clips", pipeline, log)
    ys = [(through_stage(stage, x.float() / 255) * 255).round().byte() for x in xs]
    cam_x: list[torch.Tensor] = []
    cam_gt: list[torch.Tensor] = []
    if camera:
        for gt in gts:
            cam_gt.append(gt[::2])  # every other frame: a steady camera repeats itself
            cam_x.append(camera_frames(cam_gt[-1]))
    res = {"x": torch.cat(xs), "y": torch.cat(ys), "gt": torch.cat(gts)}
    if steady:
        picks = np.random.default_rng(98).permutation(len(photos))[:steady_clips]
        res["steady"] = steady_outputs(
            [photos[i] for i in picks], cache.parent / "steady_clips", stage, pipeline, frames=steady_frames, seed=5200, log=log
        )
        if clean_clips:
            picks = np.random.default_rng(96).permutation(len(photos))[:clean_clips]
            clean = steady_outputs(
                [photos[i] for i in picks],
                cache.parent / "clean_clips",
                stage,
                pipeline,
                frames=steady_frames,
                seed=6200,
                log=log,
                shake=CLEAN_SHAKE,
                name="clean",
            )
            res["steady"] = {k: torch.cat([res["steady"][k], clean[k]]) for k in ("x", "y", "gt")}
    if camera:
        xc = torch.cat(cam_x)
        yc = (through_stage(stage, xc.float() / 255) * 255).round().byte()
        res["camera"] = {"x": xc, "y": yc, "gt": torch.cat(cam_gt)}
        log(f"camera: {len(xc)} sharp frames as a camera delivers them, through the model")
    torch.save(res, cache)
    return res


def steady_outputs(
    photos: list,
    work: Path,
    stage,
    pipeline: str = TASK_PIPELINE,
    frames: int = 40,
    seed: int = 5200,
    log=print,
    shake: ShakeConfig = STEADY_SHAKE,
    name: str = "steady",
) -> dict:
    """Clips of ``photos`` filmed by a steady hand (``shake``: :data:`STEADY_SHAKE` by default, 320×240),
    fused by ``pipeline``'s ``temporal_fusion`` stage, and the frozen model's (``stage``) outputs on them.

    Returns:
        ``{"x": fused, "y": model output, "gt": sharp}``, uint8 ``N×3×240×320``.
    """
    from .devset import ClipSpec
    from .fused import fused_frames

    specs = [
        ClipSpec(f"{name}_{seed + i}", "still", str(p), (320, 240), frames, seed + i, shake=shake) for i, p in enumerate(photos)
    ]
    xs, gts = fused_frames(specs, work, pipeline, log)
    x = torch.cat(xs)
    y = (through_stage(stage, x.float() / 255) * 255).round().byte()
    log(f"{name}: {len(x)} fused frames of a steady hand through the model")
    return {"x": x, "y": y, "gt": torch.cat(gts)}


def val_steady(data: Path, cache: Path, model: str, pipeline: str = TASK_PIPELINE, log=print) -> dict:
    """``val_steady``: 4 steady-hand clips (20 frames) of **validation**-split photographs, fused and
    through the frozen model (cached in ``cache``), as floats in [0, 1]."""
    if not cache.exists():
        from .devset import photos_of_split

        photos = [p for p, _ in photos_of_split(data, "val")]
        picks = [photos[i] for i in np.random.default_rng(97).permutation(len(photos))[:4]]
        stage = product_stage(model, "motion", gate=False)
        res = steady_outputs(picks, cache.parent / "val_steady_clips", stage, pipeline, frames=20, seed=5300, log=log)
        torch.save(res, cache)
    d = torch.load(cache, weights_only=True)
    return {k: v.float() / 255 for k, v in d.items()}


def psnr_per_image(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return -10 * torch.log10(((a - b) ** 2).mean((1, 2, 3)).clamp_min(1e-10))


def psnr_per_tile(a: torch.Tensor, b: torch.Tensor, tile: int) -> torch.Tensor:
    """PSNR of every ``tile``×``tile`` square of every image (``N×T``; 0: one per image)."""
    if tile <= 0:
        return psnr_per_image(a, b)[:, None]
    mse = F.avg_pool2d(((a - b) ** 2).mean(1, keepdim=True), tile)
    return -10 * torch.log10(mse.flatten(1).clamp_min(1e-10))


@torch.no_grad()
def gains(gate: HarmGate | None, sets: dict) -> dict:
    """Per set: mean and worst PSNR gain over the input, for the blend (``gate``) or the raw model (None)."""
    out = {}
    for name, d in sets.items():
        x, y, gt = d["x"], d["y"], d["gt"]
        pred = y if gate is None else gate(x, y).clamp(0, 1)
        g = psnr_per_image(pred, gt) - psnr_per_image(x, gt)
        out[name] = {"mean": float(g.mean()), "worst": float(g.min()), "harm": float(g.clamp_max(0).neg().mean())}
    return out


def fit(
    task: str,
    data: Path,
    out: Path,
    steps: int = 3000,
    batch: int = 32,
    crop: int = 128,
    seed: int = 0,
    video: bool = False,
    log=print,
    model: str | None = None,
    pipeline: str = TASK_PIPELINE,
    camera: bool = False,
    steady: bool = False,
    harm_tile: int = 0,
    steady_clips: int = 8,
    steady_frames: int = 40,
    clean_clips: int = 0,
    crisp: bool = False,
    clean: bool = False,
) -> dict:
    """Fit a gate and write ``out/gate.pt`` (fp16 state dict) and ``out/gate.json`` (the record).

    With ``video``, half of the steps draw their batch from fused video frames
    (:func:`video_outputs`), the input the model stage really gets in ``pipeline``. ``model``: another
    registered model of the task with its default weights (e.g. ``deeprftv2-rt`` for the live pipeline).
    With ``camera`` (and ``video``), a quarter of the steps draw sharp frames as a camera delivers them
    and the validation adds ``val_camera`` (:func:`camera_frames`). With ``steady`` (and ``video``),
    a quarter of the steps draw fused frames of a steady hand (:func:`steady_outputs`) and the
    validation adds ``val_steady`` (:func:`val_steady`); ``clean_clips`` clean-camera clips join that
    share (:data:`CLEAN_SHAKE`). With ``crisp`` (motion), pixel-sharp crops (:data:`CRISP_SETS`) join
    the crops, and ``val_crisp_blur`` / ``val_crisp_noblur`` the validation. With ``clean``, sharp crops
    from a clean camera (:data:`CLEAN_SET`) join the crops and ``val_clean`` the validation.
    """
    if camera and steady:
        raise ValueError("camera and steady are two pipelines' do-no-harm cases (live and files): fit one of them")
    if steady and not video:
        raise ValueError("steady needs video (it is a share of the video steps)")
    if clean_clips and not steady:
        raise ValueError("clean_clips needs steady (they join the steady hand's share)")
    model = model or MODELS[task]
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tr = model_outputs(task, data, out / f"cache_train_{task}.pt", log, model=model)
    if crisp:
        tr = tr | crisp_outputs(data, out, "train", model, log)
    if clean:
        tr = tr | clean_outputs(task, data, out, model, log)
    x, y, gt = (torch.cat([tr[k][n] for k in tr]) for n in ("x", "y", "gt"))  # blur, noblur (, crisp_*)
    pools = [(x, y, gt)]  # crops; fused video frames (VIDEO_SHARE of the steps); sharp camera frames (half of those)
    if video:
        shape = f"{steady_clips}x{steady_frames}" if (steady_clips, steady_frames) != (8, 40) else ""
        clean = f"_clean{clean_clips}" if clean_clips else ""
        cache = out / f"cache_video_{task}{'_camera' if camera else ''}{'_steady' + shape + clean if steady else ''}.pt"
        v = video_outputs(
            task,
            data,
            cache,
            log=log,
            model=model,
            pipeline=pipeline,
            camera=camera,
            steady=steady,
            steady_clips=steady_clips,
            steady_frames=steady_frames,
            clean_clips=clean_clips,
        )
        pools.append((v["x"], v["y"], v["gt"]))
        for extra in ("camera", "steady"):  # half of the video batches are the do-no-harm case
            if extra in v:
                pools.append((v[extra]["x"], v[extra]["y"], v[extra]["gt"]))
    val = val_outputs(task, data, log, model=model, camera=video and camera, clean=clean)
    if steady:
        val["val_steady"] = val_steady(data, out / "cache_val_steady.pt", model, pipeline, log)
    if crisp:
        for kind, v in crisp_outputs(data, out, "val", model, log).items():
            val[f"val_{kind}"] = {k: t.float() / 255 for k, t in v.items()}
    log(f"raw model on validation: {json.dumps(gains(None, val))}")
    gate = HarmGate()
    opt = torch.optim.AdamW(gate.parameters(), lr=1e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.05)
    best, best_state, curve = -math.inf, None, []
    t0 = time.time()
    for step in range(1, steps + 1):
        r = rng.random() if len(pools) > 1 else 1.0  # (one draw per step, as before the camera pool)
        px, py, pg = pools[0] if r >= VIDEO_SHARE else pools[1] if len(pools) == 2 or r < VIDEO_SHARE / 2 else pools[2]
        idx = torch.from_numpy(rng.integers(0, len(px), batch))
        oy = int(rng.integers(0, px.shape[-2] - crop + 1))
        ox = int(rng.integers(0, px.shape[-1] - crop + 1))
        sl = (idx, slice(None), slice(oy, oy + crop), slice(ox, ox + crop))
        xb, yb, gb = (t[sl].float() / 255 for t in (px, py, pg))
        if rng.random() < 0.5:
            xb, yb, gb = (t.flip(-1) for t in (xb, yb, gb))
        gain = psnr_per_tile(gate(xb, yb), gb, harm_tile) - psnr_per_tile(xb, gb, harm_tile)
        loss = -gain.mean() + HARM_WEIGHT * gain.clamp_max(0).neg().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps:
            gate.eval()
            g = gains(gate, val)
            gate.train()
            score = float(np.mean([v["mean"] - HARM_WEIGHT * v["harm"] for v in g.values()]))
            curve.append({"step": step, "loss": float(loss.detach()), **{k: v for k, v in g.items()}})
            log(f"step {step}/{steps} loss {float(loss.detach()):.2f} val {json.dumps(g)} ({time.time() - t0:.0f} s)")
            if score > best:
                best, best_state = score, {k: v.detach().clone() for k, v in gate.state_dict().items()}
    gate.load_state_dict(best_state)
    torch.save({k: v.half() for k, v in best_state.items()}, out / "gate.pt")
    gate.eval()
    record = {
        "task": task,
        "model": model.partition(":")[0],
        # the weights fitted for: a file given as model:PATH (fitted before the weights are copied into the
        # package) or the shipped default; the stage warns when a gate meets other weights
        "weights_sha256": file_sha256(model.partition(":")[2] or bundled_weights_path(model_info(model).default_weights)),
        "video_pipeline": pipeline if video else None,
        "camera": camera,
        "steady": steady,
        "steps": steps,
        "batch": batch,
        "crop": crop,
        "seed": seed,
        "harm_tile": harm_tile,
        "steady_clips": steady_clips if steady else None,
        "steady_frames": steady_frames if steady else None,
        "clean_clips": clean_clips if steady else None,
        "crisp": crisp,
        "clean": clean,
        "train_crops": {k: len(tr[k]["x"]) for k in tr}
        | ({"fused video frames": len(pools[1][0])} if video else {})
        | ({("steady video frames" if steady else "sharp camera frames"): len(pools[2][0])} if len(pools) > 2 else {}),
        "validation_raw_model": gains(None, val),
        "validation_gated": gains(gate.half().float(), val),
        "curve": curve,
        "minutes": round((time.time() - t0) / 60, 1),
    }
    (out / "gate.json").write_text(json.dumps(record, indent=1))
    return record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m streamdeblur.train.gate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", choices=sorted(MODELS), required=True, help="which shipped model the gate is for")
    ap.add_argument("--data", type=Path, default=Path("data/sharp"), help="a built dataset (streamdeblur data build)")
    ap.add_argument("--out", type=Path, required=True, help="run folder (gate.pt, gate.json, the cached model outputs)")
    ap.add_argument("--steps", type=int, default=3000, help="optimizer steps")
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    ap.add_argument("--video", action="store_true", help="also fit on fused frames of training-split shaky clips (motion)")
    ap.add_argument("--model", help="another model of the task (its default weights) or MODEL:WEIGHTS; default: the task's model")
    ap.add_argument("--pipeline", default=TASK_PIPELINE, help="whose temporal_fusion makes the --video frames (webcam: causal)")
    ap.add_argument("--camera", action="store_true", help="with --video: also sharp frames as an MJPEG camera delivers them")
    ap.add_argument("--steady", action="store_true", help="with --video: also fused frames of a steady hand (files pipelines)")
    ap.add_argument("--steady-clips", type=int, default=8, help="with --steady: how many steady-hand clips")
    ap.add_argument("--steady-frames", type=int, default=40, help="with --steady: frames per steady-hand clip")
    ap.add_argument("--clean-clips", type=int, default=0, help="with --steady: also this many clean-camera steady-hand clips")
    ap.add_argument("--crisp", action="store_true", help="also pixel-sharp crops (photos shrunk 2-3x)")
    ap.add_argument("--clean", action="store_true", help="also sharp crops from a clean camera (no noise, crf 8-12)")
    ap.add_argument("--harm-tile", type=int, default=0, help="the loss weighs harm per square of this many pixels (0: per crop)")
    args = ap.parse_args(argv)
    rec = fit(
        args.task,
        args.data,
        args.out,
        steps=args.steps,
        seed=args.seed,
        video=args.video,
        model=args.model,
        pipeline=args.pipeline,
        camera=args.camera,
        steady=args.steady,
        harm_tile=args.harm_tile,
        steady_clips=args.steady_clips,
        steady_frames=args.steady_frames,
        clean_clips=args.clean_clips,
        crisp=args.crisp,
        clean=args.clean,
    )
    print(json.dumps({k: rec[k] for k in ("validation_raw_model", "validation_gated")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
