"""``streamdeblur eval``: PSNR and SSIM on an evaluation set for baselines and our models.

The models run through the product's own stage (:func:`product_stage`: the shipped pipeline of the
set's task with its defaults), never a separate inference path. Use the validation sets
(``val_*.pt``) for anything you decide; the test sets are for the weight cards
(:mod:`~streamdeblur.train.card`), touched once per shipped weight. Intervals are 95 % bootstrap
intervals over photographs (crops of one photograph are not independent).

Rows: the blurry input; unsharp masking; Richardson–Lucy deconvolution *given the true kernel*
(a non-blind reference the blind models cannot see; motion only: per kernel, in linear light,
blended by the true blend maps when the blur varies across the frame); each model. Writes a
Markdown table, a JSON file and a PNG strip of examples (blurry | ours | sharp).

Example:
    streamdeblur eval --eval-set data/sharp/val_motion.pt --model deeprftv2-t --out runs/eval
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ..engine.build import build_stages
from ..engine.config import load_pipeline
from ..errors import SinkError, SourceError, UsageError
from ..stages import Batch, stage_class
from ..stages.basic import unsharp_mask
from .blur import linear_to_srgb, srgb_to_linear
from .metrics import PSNR_CAP, bootstrap_ci, psnr, ssim

UNSHARP = {"sigma": 1.5, "amount": 1.0}
RL_ITERATIONS = 10  # more amplifies the noise and compression further (measured: 5 → 27.2, 20 → 25.7 dB)


def _fft_conv(x: torch.Tensor, otf: torch.Tensor, r: int) -> torch.Tensor:
    """Convolution via FFT on a replicate-padded image (``x``: ``1×3×H×W``), cropped back."""
    h, w = x.shape[-2:]
    xp = F.pad(x, (r, r, r, r), mode="replicate")
    y = torch.fft.irfft2(torch.fft.rfft2(xp) * otf, s=xp.shape[-2:])
    return y[..., r : r + h, r : r + w]


def richardson_lucy(blurry: torch.Tensor, kernel: torch.Tensor, iterations: int = RL_ITERATIONS) -> torch.Tensor:
    """Non-blind Richardson–Lucy deconvolution of ``3×H×W`` (linear light) with a known ``k×k`` kernel
    (convolutions by FFT, so 65-px kernels cost the same as small ones)."""
    k = (kernel / kernel.sum()).double()
    r = k.shape[-1] // 2
    h, w = blurry.shape[-2:]
    size = (h + 2 * r, w + 2 * r)
    kp = torch.zeros(size, dtype=torch.float64)
    kp[: k.shape[0], : k.shape[1]] = k
    kp = torch.roll(kp, (-r, -r), (0, 1))  # centre the kernel at the origin
    otf = torch.fft.rfft2(kp)
    b = blurry[None].double()
    est = b.clone()
    for _ in range(iterations):
        ratio = b / _fft_conv(est, otf, r).clamp_min(1e-6)
        est = est * _fft_conv(ratio, otf.conj(), r)
    return est[0].clamp(0, 1).float()


def rl_reference(blurry: torch.Tensor, kernels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """RL with the true kernel(s) for one ``3×H×W`` sRGB sample (blend per the true maps)."""
    lin = torch.from_numpy(srgb_to_linear(blurry.numpy())).float()
    out = torch.zeros_like(lin)
    for j in range(kernels.shape[0]):
        if weights[j].max() <= 0:
            continue
        k = kernels[j]
        nz = torch.nonzero(k)
        if len(nz) == 0:
            continue
        out += richardson_lucy(lin, k) * weights[j][None]
    return torch.from_numpy(linear_to_srgb(out.numpy())).float()


#: The shipped pipeline that runs each task in the product (its first stage is the model stage).
TASK_PIPELINES = {"motion": "motion", "defocus": "defocus"}


def product_stage(spec: str, task: str, device: str = "cpu", gate: bool = True):
    """The product's model stage for ``task``, built from the shipped pipeline with its defaults
    (tiling, overlap, bf16 auto, channels-last, inference mode) by the runner's own builder.

    Args:
        spec: ``model[:weights]``; replaces only the stage's model and weights.
        task: ``motion`` or ``defocus``.
        device: ``cpu``, ``cuda``, ``auto``.
        gate: keep the stage's do-no-harm gate (``False`` only to fit one: :mod:`~streamdeblur.train.gate`).

    Returns:
        The stage (call it with a :class:`~streamdeblur.stages.Batch`).
    """
    name, _, weights = spec.partition(":")
    cfg = load_pipeline(TASK_PIPELINES[task])
    cfg.device = device
    # crops are still images: the product skips windowed (temporal) stages for those, so the stage
    # that is judged is the pipeline's model stage
    spec_ = next(s for s in cfg.stages if stage_class(s.name).needs_model)
    spec_.options = {**spec_.options, "model": name, "weights": weights or "default", **({} if gate else {"guard": "off"})}
    cfg.stages = [spec_]
    return build_stages(cfg, warn=lambda _msg: None)[0]


def through_stage(stage, x: torch.Tensor) -> torch.Tensor:
    """``x`` (CPU float ``N×3×H×W`` in [0, 1]) through a stage, one frame per call as the CPU
    pipeline batches; returned on the CPU, clamped to [0, 1]."""
    dev = stage.ctx.device
    outs = [stage(Batch(x[i : i + 1].to(dev), [], x[i : i + 1])).images.float().clamp(0, 1).cpu() for i in range(len(x))]
    return torch.cat(outs)


def evaluate(
    data: dict,
    models: list[str],
    limit: int | None = None,
    device: str = "cpu",
    with_rl: bool = True,
    ungated: bool = False,
) -> dict:
    """PSNR/SSIM per method on an evaluation set (see :func:`~streamdeblur.train.dataset.make_eval_set`),
    the models through the product's stage (:func:`product_stage`).

    Args:
        data: the evaluation set.
        models: ``model[:weights]`` specs.
        limit: only the first ``limit`` crops.
        device: where the models run.
        with_rl: include the non-blind Richardson–Lucy reference (motion sets with kernels).
        ungated: also score each model without its do-no-harm gate (``<spec> without gate``), to
            show what the gate adds or costs.

    Returns:
        ``n``, ``images``, ``task`` and ``results``: per method the mean ``psnr`` and ``ssim``, the
        per-crop ``psnr_crops``, and 95 % bootstrap intervals over images (``psnr_ci``; ``gain`` and
        ``gain_ci`` against the input, paired by crop).
    """
    n = len(data["blurry"]) if limit is None else min(limit, len(data["blurry"]))
    blurry = data["blurry"][:n].float() / 255
    sharp = data["sharp"][:n].float() / 255
    sources = list(data["sources"][:n])
    task = data.get("task", "motion")
    results: dict[str, dict] = {}
    outputs: dict[str, torch.Tensor] = {}

    def score(name: str, pred: torch.Tensor) -> None:
        crops = [psnr(pred[i : i + 1], sharp[i : i + 1]) for i in range(n)]
        row = {
            "psnr": float(np.mean(crops)),
            "ssim": float(np.mean([ssim(pred[i : i + 1], sharp[i : i + 1]) for i in range(n)])),
            "psnr_crops": crops,
            "psnr_ci": bootstrap_ci(crops, sources),
        }
        if results:
            base = results["blurry input"]["psnr_crops"]
            gains = [a - b for a, b in zip(crops, base)]
            row["gain"], row["gain_ci"] = float(np.mean(gains)), bootstrap_ci(gains, sources)
        results[name] = row
        outputs[name] = pred

    score("blurry input", blurry)
    score("unsharp masking", unsharp_mask(blurry, **UNSHARP))
    if with_rl and "kernels" in data:
        score(
            "Richardson-Lucy, true kernel (non-blind)",
            torch.stack([rl_reference(blurry[i], data["kernels"][i], data["weights"][i]) for i in range(n)]),
        )
    for spec in models:
        if ungated:
            score(f"{spec} without gate", through_stage(product_stage(spec, task, device, gate=False), blurry))
        score(spec, through_stage(product_stage(spec, task, device), blurry))
    return {
        "n": n,
        "images": len(set(sources)),
        "sources": sources,
        "task": task,
        "results": results,
        "_outputs": outputs,
        "_sharp": sharp,
        "_blurry": blurry,
    }


def public(res: dict) -> dict:
    """An :func:`evaluate` result without its tensors (what JSON files keep)."""
    return {k: v for k, v in res.items() if not k.startswith("_")}


#: fewer photographs than this give no interval: a bootstrap over two images has three outcomes, and its
#: "95 % interval" was the two photographs' means (+0.55 [+0.47, +0.63] from two pictures)
MIN_CI_IMAGES = 5


def table_row(name: str, r: dict, base: float, images: int | None = None) -> str:
    """One Markdown row: method, PSNR [CI], gain [CI], SSIM. With fewer than :data:`MIN_CI_IMAGES`
    photographs there is no interval to give: ``[n/a: 2 photographs]``."""
    lo, hi = r["psnr_ci"]
    glo, ghi = r.get("gain_ci", (0.0, 0.0))
    gain = r.get("gain", r["psnr"] - base)
    if images is not None and images < MIN_CI_IMAGES:
        few = f"n/a: {images} photograph{'s' if images != 1 else ''}"
        return f"| {name} | {r['psnr']:.2f} [{few}] | {gain:+.2f} [n/a] | {r['ssim']:.4f} |"
    return f"| {name} | {r['psnr']:.2f} [{lo:.2f}, {hi:.2f}] | {gain:+.2f} [{glo:+.2f}, {ghi:+.2f}] | {r['ssim']:.4f} |"


def write_report(res: dict, out: Path, examples: int = 4) -> tuple[Path, Path]:
    """Markdown table + JSON + PNG strip (blurry | first model | sharp) under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    base = res["results"]["blurry input"]["psnr"]
    lines = [
        f"| method ({res['n']} crops of {res['images']} held-out images, {res['task']}) | PSNR (dB) [95 % CI] "
        "| gain [95 % CI] | SSIM |",
        "|---|---|---|---|",
    ]
    for name, r in res["results"].items():
        lines.append(table_row(name, r, base, res["images"]))
    same = {k: sum(v >= PSNR_CAP for v in r["psnr_crops"]) for k, r in res["results"].items()}
    if any(same.values()):  # a mean holding capped crops says less than it seems
        lines += [
            "",
            f"Crops equal to their reference count {PSNR_CAP:.0f} dB (the cap): "
            + ", ".join(f"{k} {n} of {res['n']}" for k, n in same.items() if n),
        ]
    md = out / "eval.md"
    _write_atomic(md, ("\n".join(lines) + "\n").encode())
    _write_atomic(out / "eval.json", json.dumps(public(res), indent=1).encode())
    names = list(res["results"])
    model_name = names[-1]
    rows = []
    for i in range(min(examples, res["n"])):
        tiles = [res["_blurry"][i], res["_outputs"][model_name][i], res["_sharp"][i]]
        rows.append(torch.cat(tiles, dim=-1))
    strip = (torch.cat(rows, dim=-2).permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
    png = out / "examples.png"
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(strip[..., ::-1]))
    if not ok:
        raise SinkError(f"cannot encode the example strip for {png}")
    _write_atomic(png, encoded.tobytes())
    return md, png


#: the files a photographs evaluation writes into its ``--out`` folder
REPORT_FILES = ("eval.md", "eval.json", "examples.png")


def _write_atomic(path: Path, data: bytes) -> None:
    """``data`` to ``path`` under a temporary name, renamed when complete (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".partial")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SinkError(f"cannot write {path}: {exc.strerror or exc}") from None


def load_eval_set(path: str | Path) -> dict:
    """An evaluation set written by ``data build`` (:func:`~streamdeblur.train.dataset.make_eval_set`),
    loaded as untrusted data (``weights_only``).

    Raises:
        SourceError: no such file, or a file that is not an evaluation set (one line each).
    """
    path = Path(path)
    if path.is_dir():  # "no evaluation set at imgs" of a folder that is there
        sets = sorted(p.name for p in path.glob("*.pt"))
        hint = f": give one of its sets ({', '.join(sets[:4])})" if sets else " (evaluation sets are .pt files)"
        raise SourceError(f"{path} is a folder, not an evaluation set{hint}")
    if not path.is_file():
        raise SourceError(f"no evaluation set at {path} ('streamdeblur data build' makes them under data/sharp/)")
    try:
        data = torch.load(path, weights_only=True)
    except Exception:  # noqa: BLE001 - pickle, zip or torch errors: all mean "not one of ours"
        data = None
    if not isinstance(data, dict) or not {"blurry", "sharp"} <= set(data):
        raise SourceError(f"{path} is not an evaluation set (a .pt file from 'streamdeblur data build')")
    return data


def run_eval(args, out) -> int:
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a file; it names the folder the table and examples go to")
    taken = [Path(args.out) / name for name in REPORT_FILES if (Path(args.out) / name).exists()]
    if taken and not getattr(args, "overwrite", False):  # they were replaced without a word (README: only with --overwrite)
        raise UsageError(f"--out {args.out}: {taken[0]} exists (an earlier report); pass --overwrite to replace it")
    data = load_eval_set(args.eval_set)
    models = args.model or ["deeprftv2-t" if data.get("task", "motion") == "motion" else "fdikp"]
    res = evaluate(data, models, args.limit)
    md, png = write_report(res, Path(args.out))
    out.print(md.read_text(), markup=False)  # "[n/a: 1 photograph]" is not markup (it printed as nothing)
    out.print(f"table: {md}  examples (blurry | {models[-1]} | sharp): {png}")
    return 0
