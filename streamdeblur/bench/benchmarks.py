"""``streamdeblur bench``: where the time goes, measured in one run.

``--what throughput`` (part of ``all``) on a generated clip of ``--size`` and ``--frames``:

* **model-only fps** — decoded frames pushed straight through the deblur stage (same model,
  batch, tiles, autocast, memory format as the pipeline);
* **end-to-end fps** — the real pipeline: decode → model → encode to a file, threads overlapped;
* **naive serial loop** — decode one frame, run the model (fp32, batch 1, NCHW), encode, repeat:
  what the public tools do; our speed-up over it;
* busy time per part, peak RSS, peak CUDA memory.

``--what scan``: the selective scan at L = 65,536 on CPU — the inference and chunked scans vs the
sequential loop. ``--what bf16``: PSNR with and without bf16 autocast on the eval subsets (the
accuracy side of bf16's automatic choice).
``--what temporal``: the temporal fusion stage's per-frame time next to the deblur stage's, same
run, alternated (:mod:`streamdeblur.bench.temporal`).
``--what memory``: peak RSS for a 10 s and a 60 s clip (memory independent of length), for
one 3840×2160 frame through 256-px tiles, and for one 3840×2160 frame fused with 11 copies.
``--what train-memory``: training-step peak memory with
and without recomputation (``save_memory``) at the same batch size.
"""

from __future__ import annotations

import contextlib
import gc
import shutil
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from ..compute.cpus import cpu_description
from ..compute.runtime import choose_device, compute_policy, configure
from ..engine.build import Job, build
from ..engine.config import PipelineConfig, StageSpec
from ..stages import Batch, StageContext, create_stage
from ..temporal.fba import FBAParams, fba_fuse
from .registry import Report, register_bench


@contextlib.contextmanager
def scratch_folder(prefix: str):
    """A new folder in the system's temporary folder for a benchmark's clips, removed with what is in
    it when the benchmark ends, however it ends (each run left one in /tmp: clips and outputs)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class PeakRSS:
    """Samples the resident set size (``/proc/self/status``) in a thread; ``peak`` in MiB."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()

    @staticmethod
    def current() -> float:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def __enter__(self):
        self.peak = self.current()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.current())
        return False


def make_clip(path: Path, w: int, h: int, frames: int, fps: int = 30) -> Path:
    """A moving, textured test clip (H.264) for benchmarks."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "18", "preset": "ultrafast"}
        for i in range(frames):
            img = np.stack([np.sin((xx + 3 * i) / 7), np.cos((yy - 2 * i) / 11), np.sin((xx + yy + i) / 13)], -1)
            vf = av.VideoFrame.from_ndarray(((img * 0.4 + 0.5) * 255).astype(np.uint8), format="rgb24")
            vf.pts = i
            vf.time_base = Fraction(1, fps)
            for p in s.encode(vf.reformat(format="yuv420p")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def _config(args) -> PipelineConfig:
    from .ladder import model_stage

    opts = {"model": args.model, "weights": "none", "tile": args.tile}
    stage = StageSpec(model_stage(args.model), opts)
    cfg = PipelineConfig(batch=args.batch, device=args.device, threads=args.threads, bf16=args.bf16, stages=[stage])
    cfg.output.preset = "veryfast"
    return cfg


#: frames of the synthetic clip when ``--frames`` is not given
DEFAULT_FRAMES = 24


def load_average() -> str:
    """The 1-minute load average (``?`` where the system has none): other work on the machine moves every timing."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except (OSError, IndexError):
        return "?"


def throughput(args) -> dict:
    w, h = (int(v) for v in args.size.lower().split("x"))
    args.frames = args.frames or DEFAULT_FRAMES
    device = choose_device(args.device)
    configure(device, args.threads)
    args.batch, args.bf16 = compute_policy(device, args.batch, args.bf16)  # auto → what the pipeline picks
    with scratch_folder("streamdeblur-bench-") as tmp:
        clip = make_clip(tmp / "clip.mp4", w, h, args.frames)
        res: dict = {
            "load_before": load_average(),
            "size": f"{w}x{h}",
            "frames": args.frames,
            "device": str(device),
            "model": args.model,
            "batch": args.batch,
            "bf16": args.bf16,
            "threads": torch.get_num_threads(),
        }
        # model-only: frames already decoded, through the same stage
        with av.open(str(clip)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        stage = create_stage(
            "deblur", {"model": args.model, "weights": "none", "tile": args.tile}, StageContext(device=device, bf16=args.bf16)
        )
        x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div(255)
        stage(Batch(x[: args.batch].to(device), [], x[: args.batch]))  # warm-up
        _sync(device)
        t0 = time.perf_counter()
        for i in range(0, len(frames), args.batch):
            xb = x[i : i + args.batch].to(device)
            stage(Batch(xb, [], xb))
        _sync(device)
        res["model_only_fps"] = len(frames) / (time.perf_counter() - t0)
        del stage
        gc.collect()
        # end-to-end pipeline
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        warm = make_clip(tmp / "warm_e2e.mp4", w, h, 2)  # the first calls' one-time costs, as model-only's warm-up
        build(Job(str(warm), str(tmp / "warm_out.mp4"), _config(args), overwrite=True), warn=lambda m: None).run()
        with PeakRSS() as rss:
            pipe = build(Job(str(clip), str(tmp / "out.mp4"), _config(args), overwrite=True), warn=lambda m: None)
            result = pipe.run()
        if result.error:
            raise RuntimeError(result.error)
        p = result.progress
        res["end_to_end_fps"] = p.fps
        res["busy_s"] = {k: round(v, 3) for k, v in p.busy.items()}
        res["peak_rss_mib"] = round(rss.peak)
        if device.type == "cuda":
            res["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
        # naive serial loop: decode one, infer fp32 batch 1, encode, repeat (after a 2-frame warm-up, as the others)
        res["naive_fps"] = naive_loop(clip, tmp / "naive.mp4", args.model, device, warm=make_clip(tmp / "warm.mp4", w, h, 2))
        res["load_after"] = load_average()
        res["e2e_over_model_only"] = res["end_to_end_fps"] / res["model_only_fps"]
        res["speedup_over_naive"] = res["end_to_end_fps"] / res["naive_fps"]
        return res


def naive_loop(clip: Path, out: Path, model_name: str, device: torch.device, warm: Path | None = None) -> float:
    """The public tools' loop (the ladder's first rung, :func:`~streamdeblur.bench.ladder.serial_loop`):
    one frame at a time, fp32, NCHW, synchronous; returns fps (after running ``warm`` once, untimed)."""
    from ..models import create_model, model_info
    from .ladder import RUNGS, serial_loop

    model = create_model(model_name, device=device)
    multiple = model_info(model_name).multiple  # FDIKP: 16 (640×360 is not a multiple of it)
    if warm is not None:
        serial_loop(warm, out, model, RUNGS[0], multiple)
    t0 = time.perf_counter()
    n = serial_loop(clip, out, model, RUNGS[0], multiple)
    return n / (time.perf_counter() - t0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def scan_bench(length: int = 65536, d: int = 64, n: int = 8, repeats: int = 3) -> dict:
    """Seconds of each selective-scan implementation on one ``1×d×length`` input: the best of
    ``repeats`` timed calls after an untimed one on a short input (a first, cold call and other work on
    the machine had made two runs a minute apart say inference was 0.1× and 13.1× the sequential loop)."""
    from ..models.scan import selective_scan_chunked, selective_scan_inference, selective_scan_sequential

    g = torch.Generator().manual_seed(0)
    u = torch.randn(1, d, length, generator=g)
    # slow decay (Δ ≈ 0.02, A in [-1, -0.1]: state memory of thousands of steps), so the carries
    # between chunks matter and the difference to the sequential loop is a real check
    delta = torch.randn(1, d, length, generator=g) * 0.5 - 4
    A = -torch.rand(d, n, generator=g) * 0.9 - 0.1
    B, C = torch.randn(1, n, length, generator=g), torch.randn(1, n, length, generator=g)
    out = {"L": length, "channels": d, "state": n, "repeats": repeats, "load": load_average()}
    ys = {}
    D, z = torch.ones(d), torch.zeros(d)
    short = slice(0, min(length, 2048))
    for name, fn in (
        ("inference", selective_scan_inference),
        ("chunked", selective_scan_chunked),
        ("sequential", selective_scan_sequential),
    ):
        fn(u[..., short], delta[..., short], A, B[..., short], C[..., short], D, z)  # warm-up, untimed
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            ys[name] = fn(u, delta, A, B, C, D, z)
            best = min(best, time.perf_counter() - t)
        out[f"{name}_s"] = best
    out["max_abs_diff"] = float((ys["chunked"] - ys["sequential"]).abs().max())
    out["max_abs_diff_inference"] = float((ys["inference"] - ys["sequential"]).abs().max())
    out["speedup"] = out["sequential_s"] / out["chunked_s"]
    out["speedup_inference"] = out["sequential_s"] / out["inference_s"]
    return out


#: The stage that runs each task, and the committed eval subset ``--what bf16`` measures it on.
BF16_TASKS = {
    "motion": ("deblur", "tests/data/eval_subset_motion.pt"),
    "defocus": ("defocus", "tests/data/eval_subset_defocus.pt"),
}


#: the checkout this package runs from (the committed eval subsets are in its tests/data)
REPOSITORY = Path(__file__).resolve().parents[2]


def subset_path(subset: str, given: bool) -> Path:
    """An eval subset's file: as given, or (the committed ones) in the checkout, from any working folder.

    Raises:
        FileNotFoundError: not there (one line).
    """
    path = Path(subset)
    if not path.is_file() and not given and (REPOSITORY / subset).is_file():
        path = REPOSITORY / subset  # "run from the repository root" was asked of the user
    if not path.is_file():
        raise FileNotFoundError(
            f"eval subset {subset} not found" + ("" if given else f" (it is in the repository's {subset}; pass --subset FILE)")
        )
    return path


def _through(stage, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` (CPU, ``N×3×H×W``) through one stage on ``device``."""
    return stage(Batch(x.to(device), [], x)).images


def bf16_bench(args) -> dict:
    """PSNR of the bundled weights with and without bf16 autocast on each task's eval subset
    (or on ``--subset``), through the same stage the pipeline runs (channels-last, inference
    mode, tiling)."""
    from ..train.metrics import psnr

    device = choose_device(args.device)
    configure(device, args.threads)
    res: dict = {}
    for subset in [args.subset] if args.subset else [s for _, s in BF16_TASKS.values()]:
        path = subset_path(subset, given=bool(args.subset))
        data = torch.load(path, weights_only=True)
        task = data.get("task", "motion")
        blurry, sharp = data["blurry"].float() / 255, data["sharp"].float() / 255
        row: dict = {"crops": len(blurry), "size": blurry.shape[-1]}
        outs = {}
        for bf16 in (False, True):
            stage = create_stage(BF16_TASKS[task][0], {}, StageContext(device=device, bf16=bf16))
            _through(stage, blurry[:1], device)  # warm-up
            t = time.perf_counter()
            out = torch.cat([_through(stage, blurry[i : i + 1], device) for i in range(len(blurry))])
            _sync(device)
            key = "bf16" if bf16 else "fp32"
            row[f"{key}_ms"] = (time.perf_counter() - t) / len(blurry) * 1000
            outs[key] = out.float().clamp(0, 1).cpu()
            row[f"{key}_psnr"] = float(np.mean([psnr(outs[key][i : i + 1], sharp[i : i + 1]) for i in range(len(sharp))]))
        row["psnr_change"] = row["bf16_psnr"] - row["fp32_psnr"]
        row["max_abs_diff"] = float((outs["bf16"] - outs["fp32"]).abs().max())
        res[task] = row
    return res


def memory_bench(args) -> dict:
    """Peak RSS vs clip length (10 s, 60 s; identity pipeline, 640×360) and a 4K frame through 256-px tiles."""
    with scratch_folder("streamdeblur-mem-") as tmp:
        res: dict = {}
        for seconds in (10, 60):
            clip = make_clip(tmp / f"c{seconds}.mp4", 640, 360, 30 * seconds)
            cfg = PipelineConfig(batch=4, stages=[StageSpec("identity")])
            cfg.output.preset = "ultrafast"
            with PeakRSS() as rss:
                r = build(Job(str(clip), str(tmp / f"o{seconds}.mp4"), cfg, overwrite=True), warn=lambda m: None).run()
            res[f"peak_rss_{seconds}s_mib"] = round(rss.peak)
            res[f"frames_{seconds}s"] = r.progress.done
        stage = create_stage("deblur", {"model": args.model, "weights": "none", "tile": 256, "overlap": 32, "max_tiles": 4})
        x = torch.rand(1, 3, 2160, 3840)
        gc.collect()
        with PeakRSS() as rss:
            base = rss.current()
            stage(Batch(x, [], x))
        res["uhd_tile256_peak_rss_mib"] = round(rss.peak)
        res["uhd_tile256_increase_mib"] = round(rss.peak - base)
        # one 4K frame fused with ten registered neighbours and the memory's frame, as motion's first fusion
        # (lucky blocks; the neighbours here are noisy copies: the same arithmetic, none of the registration)
        del x, stage
        g = torch.Generator().manual_seed(0)
        cur = torch.rand(3, 2160, 3840, generator=g)
        nb = (cur[None] + 0.05 * torch.randn(11, 3, 2160, 3840, generator=g)).clamp_(0, 1)
        conf = torch.rand(11, 1, 2160, 3840, generator=g)
        gc.collect()
        with PeakRSS() as rss:
            base = rss.current()
            t = time.perf_counter()
            fba_fuse(cur, nb, conf, FBAParams(p=0, q=24, pixel_tol=0.12), return_weights=True)
            res["uhd_fusion_k11_s"] = round(time.perf_counter() - t, 1)
        res["uhd_fusion_k11_increase_mib"] = round(rss.peak - base)
        return res


def train_memory_bench(args) -> dict:
    """Peak RSS of one training step (forward+backward) with and without recomputation.

    Each mode runs in a fresh process (peak RSS is per process). ``--batch`` crops of
    ``--crop``² pixels; ``deeprftv2-b`` stores ~19 GB for 4 × 128² without recomputation, so the
    default is small enough for a laptop.
    """
    import multiprocessing as mp
    import queue as queue_mod

    ctx = mp.get_context("spawn")
    out: dict = {"batch": args.batch, "crop": args.crop}
    for save in (False, True):
        q = ctx.Queue()
        p = ctx.Process(target=_train_step_child, args=(args.model, save, args.batch, args.crop, q))
        p.start()
        key = "recompute" if save else "store"
        while True:
            try:
                out[key] = q.get(timeout=1.0)
                break
            except queue_mod.Empty:
                if not p.is_alive():  # killed (out of memory) or crashed: report it, never hang
                    out[key] = {"peak_mib": "killed", "increase_mib": 0, "step_s": f"exit {p.exitcode}"}
                    break
        p.join()
    inc = [out[k]["increase_mib"] for k in ("store", "recompute")]
    out["ratio"] = inc[1] / inc[0] if all(inc) else float("nan")
    return out


def _train_step_child(model_name: str, save: bool, batch: int, crop: int, q) -> None:
    from ..models import create_model
    from ..train.losses import model_loss

    torch.set_flush_denormal(True)
    m = create_model(model_name).train()
    m.global_model.save_memory = save
    x = torch.rand(batch, 3, crop, crop)
    gc.collect()
    with PeakRSS(0.005) as rss:
        base = rss.current()
        t = time.perf_counter()
        loss = model_loss(m.heads(x), x)
        loss.backward()
        dt = time.perf_counter() - t
    q.put({"peak_mib": round(rss.peak), "increase_mib": round(rss.peak - base), "step_s": round(dt, 2)})


def ladder_bench(args) -> dict:
    """The speed ladder (:mod:`streamdeblur.bench.ladder`) on a generated clip of ``--size`` × ``--frames``."""
    from ..compute.cpus import cpu_description
    from ..compute.runtime import default_threads
    from .ladder import run_ladder

    w, h = (int(v) for v in args.size.lower().split("x"))
    with scratch_folder("streamdeblur-ladder-") as tmp:
        clip = make_clip(tmp / "clip.mp4", w, h, args.frames or DEFAULT_FRAMES)
        warm = make_clip(tmp / "warm.mp4", w, h, 2)
        threads = args.threads or default_threads()
        load = load_average()
        r = run_ladder(clip, warm, args.model, args.rounds, threads, tmp)
        r.update(
            model=args.model,
            size=f"{w}x{h}",
            threads=threads,
            cpu=cpu_description(),
            rounds=args.rounds,
            load=f"{load} → {load_average()}",
        )
        return r


def _two(title: str, columns: tuple[str, str], rows) -> Report:
    return Report(title, columns, list(rows))


@register_bench("throughput", in_all=True, help="model-only vs end-to-end vs a naive loop, fps")
def throughput_report(args) -> list[Report]:
    r = throughput(args)
    rows = [
        ("model-only fps", f"{r['model_only_fps']:.3f}"),
        ("end-to-end fps", f"{r['end_to_end_fps']:.3f}"),
        ("end-to-end / model-only", f"{r['e2e_over_model_only']:.2f}"),
        ("naive serial loop fps", f"{r['naive_fps']:.3f}"),
        ("speed-up over naive", f"{r['speedup_over_naive']:.2f}×"),
        *((f"busy: {k}", f"{v:.2f} s") for k, v in r["busy_s"].items()),
        ("peak RSS", f"{r['peak_rss_mib']} MiB"),
    ]
    if "peak_cuda_mib" in r:
        rows.append(("peak CUDA memory", f"{r['peak_cuda_mib']} MiB"))
    title = (
        f"throughput: {r['model']} {r['size']}, {r['frames']} frames, {r['device']}, "
        f"batch {r['batch']}, bf16 {r['bf16']}, {r['threads']} threads; {cpu_description()}; "
        f"load average {r['load_before']} → {r['load_after']}; one timed run each, after a warm-up"
    )
    rows.append(("to compare like with like", "--what ladder: every rung in one run, rounds shuffled, each round shown"))
    if _busy(r["load_before"]):  # three runs minutes apart gave "speed-up over naive" 1.45×, 0.85× and 1.42×
        rows.append(("the machine was busy before it started", f"load {r['load_before']}: these numbers move run to run"))
    return [_two(title, ("measure", "value"), rows)]


def _busy(load: str) -> bool:
    """Whether other work was running: a 1-minute load average of at least half the usable cores."""
    from ..compute.runtime import default_threads

    try:
        return float(load) >= max(1.0, default_threads() / 2)
    except ValueError:
        return False


@register_bench("scan", in_all=True, help="selective scan: inference and chunked vs sequential; training, chunked vs parallel")
def scan_report(args) -> list[Report]:
    r = scan_bench()
    rows = [
        ("inference (no autograd; used when no gradient is needed)", f"{r['inference_s']:.3f}"),
        ("chunked (with autograd; training)", f"{r['chunked_s']:.3f}"),
        ("sequential loop", f"{r['sequential_s']:.3f}"),
        ("speed-up, inference / chunked", f"{r['speedup_inference']:.1f}× / {r['speedup']:.1f}×"),
        ("max |diff| to sequential, inference / chunked", f"{r['max_abs_diff_inference']:.1e} / {r['max_abs_diff']:.1e}"),
    ]
    title = (
        f"selective scan, L={r['L']}, {r['channels']} channels, state {r['state']}, CPU; {cpu_description()}; "
        f"load average {r['load']}; best of {r['repeats']} after a warm-up"
    )
    if _busy(r["load"]):
        rows.append(("the machine was busy before it started", f"load {r['load']}: these numbers move run to run"))
    from ..train.scan_check import training_scan_times

    t = training_scan_times(choose_device(args.device))
    train_rows = [
        ("chunked (the CPU's training scan)", f"{t['chunked_s']:.3f}"),
        ("parallel (doubling; the CUDA training scan)", f"{t['parallel_s']:.3f}"),
        ("max relative gradient difference", f"{t['max_grad_rel_diff']:.1e}"),
    ]
    train_title = (
        f"selective scan, training (forward + backward), {t['batch']} × {t['channels']} channels × L={t['L']}, "
        f"state {t['state']}, {t['device']}"
    )
    return [_two(title, ("implementation", "seconds"), rows), _two(train_title, ("implementation", "seconds"), train_rows)]


@register_bench("bf16", in_all=True, help="PSNR and speed with and without bf16 autocast on the eval subsets")
def bf16_report(args) -> list[Report]:
    if args.what == "all" and not args.subset and not all((REPOSITORY / sub).is_file() for _, sub in BF16_TASKS.values()):
        # an installed package has no tests/data: `--what all` ran its other benchmarks, then failed here
        why = "not measured: the eval subsets are in a source checkout's tests/data (pass --subset FILE)"
        return [_two("bf16 vs fp32", ("measure", "value"), [("PSNR with and without bf16", why)])]
    reports = []
    for task, r in bf16_bench(args).items():
        rows = [
            ("PSNR fp32", f"{r['fp32_psnr']:.4f} dB"),
            ("PSNR bf16 autocast", f"{r['bf16_psnr']:.4f} dB"),
            ("change", f"{r['psnr_change']:+.4f} dB"),
            ("max |pixel difference|", f"{r['max_abs_diff']:.4f}"),
            ("ms per crop fp32 / bf16", f"{r['fp32_ms']:.0f} / {r['bf16_ms']:.0f}"),
        ]
        title = f"bf16 vs fp32, {task}: {r['crops']} crops of {r['size']}² (eval subset), bundled weights"
        reports.append(_two(title, ("measure", "value"), rows))
    return reports


@register_bench("memory", help="peak RSS for a 10 s and a 60 s clip, a 4K frame through tiles and through fusion")
def memory_report(args) -> list[Report]:
    r = memory_bench(args)
    rows = [
        ("peak RSS, 10 s clip (300 frames)", f"{r['peak_rss_10s_mib']} MiB"),
        ("peak RSS, 60 s clip (1800 frames)", f"{r['peak_rss_60s_mib']} MiB"),
        ("frames written, 10 s / 60 s", f"{r['frames_10s']} / {r['frames_60s']}"),
        (f"3840x2160 frame through {args.model} in 256-px tiles: peak RSS", f"{r['uhd_tile256_peak_rss_mib']} MiB"),
        ("   … increase over before it", f"{r['uhd_tile256_increase_mib']} MiB"),
        ("3840x2160 frame fused with 11 neighbours (motion's first fusion): time", f"{r['uhd_fusion_k11_s']} s"),
        ("   … memory increase", f"{r['uhd_fusion_k11_increase_mib']} MiB"),
    ]
    title = "memory: peak RSS against clip length (identity pipeline, 640x360, so the pipeline's own buffers), and 4K frames"
    return [_two(title, ("measure", "value"), rows)]


@register_bench("train-memory", help="training-step peak memory with and without recomputation")
def train_memory_report(args) -> list[Report]:
    r = train_memory_bench(args)
    rows = [(k, str(r[k]["peak_mib"]), str(r[k]["increase_mib"]), str(r[k]["step_s"])) for k in ("store", "recompute")]
    rows.append(("ratio recompute/store", f"{r['ratio']:.2f}", "", ""))
    title = f"training step (fwd+bwd), {args.model}, batch {r['batch']} × {r['crop']}²"
    return [Report(title, ("mode", "peak RSS MiB", "increase MiB", "step s"), rows)]


@register_bench("temporal", in_all=True, help="temporal_fusion vs deblur, per-frame time at --size, alternated in one run")
def temporal_report(args) -> list[Report]:
    from .temporal import temporal_bench

    r = temporal_bench(args.size, frames=args.frames or 6, model=args.model, device=str(choose_device(args.device)))
    rows = [
        ("temporal_fusion (interp: lanczos, as shipped), per frame", f"{r['fusion_s'] * 1000:.0f} ms"),
        ("temporal_fusion (interp: bicubic), per frame", f"{r['fusion_bicubic_s'] * 1000:.0f} ms"),
        (f"deblur ({r['model']}), per frame", f"{r['deblur_s'] * 1000:.0f} ms"),
        ("fusion / deblur (lanczos)", f"{r['ratio']:.2f}"),
        ("fusion / deblur (bicubic)", f"{r['ratio_bicubic']:.2f}"),
    ]
    title = f"temporal fusion vs deblur: {r['size']}, R = {r['radius']}, {r['frames']} frames alternated, {r['threads']} threads"
    return [_two(title, ("stage", "time"), rows)]


@register_bench("ladder", help="naive → channels_last → bf16 → codec threads → pipeline, each rung measured in one run")
def ladder_report(args) -> list[Report]:
    r = ladder_bench(args)
    title = (
        f"speed ladder: {r['model']} {r['size']}, {r['frames']} frames, {r['rounds']} rounds (shuffled), "
        f"{r['threads']} threads; {r['cpu']}; bf16 auto here: {'on' if r['auto_bf16'] else 'off'}; "
        f"load average {r['load']}"
    )
    naive = prev = r["rungs"][0]["fps"]
    rows = []
    for rung in r["rungs"]:
        runs = " ".join(f"{v:.3f}" for v in rung["runs"])
        rows.append((rung["name"], f"{rung['fps']:.3f}", f"{rung['fps'] / prev:.2f}", f"{rung['fps'] / naive:.2f}", runs))
        prev = rung["fps"]
    return [Report(title, ("rung", "fps (median)", "× previous", "× naive", "fps of each round"), rows)]
