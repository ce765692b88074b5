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
from ..train.dataset import read_set


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
        data = read_set(path, "eval subset")  # a text file: one line naming it, exit 3 (was PyTorch's paragraph)
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


#: ``--what train-memory`` with ``--batch 0`` (the pipeline's "auto", which means nothing for a training step)
TRAIN_MEMORY_BATCH = 2


def check_train_memory(model: str, crop: int, batch: int) -> None:
    """What ``--what train-memory`` can measure, checked before any child process starts: ``--batch 0``
    (the default) ran a training step on an empty batch, a crop that is not a multiple of 8 or a model
    without recomputation (``fdikp``, ``deeprftv2-rt``) failed in the children with tracebacks, and the
    table said "killed", exit 0.

    Raises:
        UsageError: a crop that is not a multiple of 8, a negative batch, a model without recomputation.
    """
    from ..errors import UsageError
    from ..models import create_model

    if crop % 8:
        raise UsageError(f"--crop {crop}: train-memory's crops must be a multiple of 8 (the model halves them three times)")
    if batch < 0:
        raise UsageError(f"--batch {batch}: train-memory needs at least 1 crop (0: {TRAIN_MEMORY_BATCH})")
    if not hasattr(create_model(model), "global_model"):  # an unknown name: one line from the registry
        raise UsageError(
            f"--model {model}: train-memory compares recomputation in backward (save_memory), which only "
            "deeprftv2-t, deeprftv2-s and deeprftv2-b have"
        )


def train_memory_bench(args) -> dict:
    """Peak RSS of one training step (forward+backward) with and without recomputation.

    Each mode runs in a fresh process (peak RSS is per process). ``--batch`` crops of
    ``--crop``² pixels (``--batch 0``: :data:`TRAIN_MEMORY_BATCH`); ``deeprftv2-b`` stores ~19 GB for
    4 × 128² without recomputation, so the default is small enough for a laptop. A child that fails
    (an exception) is ``error`` with its one line; one killed (out of memory) is said so in its row.
    """
    import multiprocessing as mp
    import queue as queue_mod

    check_train_memory(args.model, args.crop, args.batch)
    batch = args.batch or TRAIN_MEMORY_BATCH
    ctx = mp.get_context("spawn")
    out: dict = {"batch": batch, "crop": args.crop, "errors": []}
    for save in (False, True):
        q = ctx.Queue()
        p = ctx.Process(target=_train_step_child, args=(args.model, save, batch, args.crop, q))
        p.start()
        key = "recompute" if save else "store"
        while True:
            try:
                got = q.get(timeout=1.0)
                break
            except queue_mod.Empty:
                if not p.is_alive():  # killed (out of memory) or crashed before it could say: report it, never hang
                    code = p.exitcode or 0
                    why = f"killed by signal {-code}" if code < 0 else f"exit {code}"
                    got = {"error": f"{key}: the measuring process ended without a result ({why})", "killed": code < 0}
                    break
        p.join()
        if "error" in got:
            out["errors"].append(got["error"])
            got = {"peak_mib": "killed" if got.get("killed") else "failed", "increase_mib": 0, "step_s": ""}
        out[key] = got
    inc = [out[k]["increase_mib"] for k in ("store", "recompute")]
    out["ratio"] = inc[1] / inc[0] if all(inc) else float("nan")
    return out


def _train_step_child(model_name: str, save: bool, batch: int, crop: int, q) -> None:
    """One training step in this (spawned) process; its peak memory, or its error in one line, put on ``q``."""
    from ..errors import one_line
    from ..models import create_model
    from ..train.losses import model_loss

    try:
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
    except Exception as exc:  # noqa: BLE001 - said by the parent in one line (the child printed a traceback)
        q.put({"error": f"{'recompute' if save else 'store'}: {type(exc).__name__}: {one_line(exc, 300)}"})
        return
    q.put({"peak_mib": round(rss.peak), "increase_mib": round(rss.peak - base), "step_s": round(dt, 2)})


def ladder_bench(args) -> dict:
    """The speed ladder (:mod:`streamdeblur.bench.ladder`) on a generated clip of ``--size`` × ``--frames``."""
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
