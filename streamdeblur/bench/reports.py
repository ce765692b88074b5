"""The benchmarks ``streamdeblur bench --what NAME`` runs, registered by name (:mod:`.registry`):
each turns what a measurement returns into :class:`~.registry.Report` tables. The measurements
themselves (:mod:`.benchmarks`, :mod:`.live`, :mod:`.temporal`) load PyTorch, PyAV and OpenCV when a
benchmark runs, not when the command's parser lists the names (``streamdeblur --help`` stays fast).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..compute.cpus import cpu_description
from .registry import Report, register_bench

if TYPE_CHECKING:
    from .live import LiveResult


def _two(title: str, columns: tuple[str, str], rows) -> Report:
    return Report(title, columns, list(rows))


@register_bench("throughput", in_all=True, help="model-only vs end-to-end vs a naive loop, fps")
def throughput_report(args) -> list[Report]:
    from .benchmarks import throughput

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
    from ..compute.runtime import choose_device
    from .benchmarks import scan_bench

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
    from .benchmarks import BF16_TASKS, REPOSITORY, bf16_bench

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
    from .benchmarks import memory_bench

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
    from .benchmarks import train_memory_bench

    r = train_memory_bench(args)
    rows = [(k, str(r[k]["peak_mib"]), str(r[k]["increase_mib"]), str(r[k]["step_s"])) for k in ("store", "recompute")]
    rows.append(("ratio recompute/store", f"{r['ratio']:.2f}", "", ""))
    title = f"training step (fwd+bwd), {args.model}, batch {r['batch']} × {r['crop']}²"
    failed = "; ".join(r["errors"]) or None  # a child that failed: an error and exit 1, not a table of "killed", exit 0
    return [Report(title, ("mode", "peak RSS MiB", "increase MiB", "step s"), rows, error=failed, exit_code=1 if failed else 0)]


@register_bench("temporal", in_all=True, help="temporal_fusion vs deblur, per-frame time at --size, alternated in one run")
def temporal_report(args) -> list[Report]:
    from ..compute.runtime import choose_device
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
    from .benchmarks import ladder_bench

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


def _fmt(v: float | None, spec: str = "+.2f") -> str:
    return "—" if v is None else format(v, spec)


@register_bench("live", help="live correction from a paced 30 fps MJPEG stream: delivered fps, latency, drops, gain")
def live_report(args) -> list[Report]:
    import numpy as np

    from .live import _clips, run_live_clip

    pipeline = getattr(args, "pipeline", None) or "webcam"
    overrides = {"device": args.device} if getattr(args, "device", "auto") != "auto" else {}
    if getattr(args, "threads", 0):
        overrides["threads"] = args.threads
    rows, said = [], []
    results = []
    harm: dict[str, LiveResult] = {}
    skipped: list[str] = []
    for name, blurry, sharp in _clips(getattr(args, "clips", None), args.size, skipped):
        r = run_live_clip(name, blurry, sharp, pipeline, overrides)
        results.append(r)
        if sharp:  # do no harm: the sharp clip as the camera
            harm[name] = run_live_clip(name, sharp, sharp, pipeline, overrides)
        said += [s for s in r.said if s not in said]
        st = r.stats
        rows.append(
            (
                r.clip,
                f"{r.size[0]}×{r.size[1]}",
                _fmt(st.fps, ".1f"),
                _fmt(None if st.p50 is None else st.p50 * 1000, ".0f"),
                _fmt(None if st.p95 is None else st.p95 * 1000, ".0f"),
                f"{r.dropped}/{r.frames_in_clip}",
                _fmt(r.psnr_in, ".2f"),
                _fmt(r.gain),
                _fmt(r.worst),
                _fmt(harm[r.clip].gain if r.clip in harm else None),
                _fmt(harm[r.clip].worst if r.clip in harm else None),
            )
        )
    if len(results) > 1:
        gains = [r.gain for r in results if r.gain is not None]
        fps = [r.stats.fps for r in results if r.stats.fps]
        rows.append(
            (
                "mean",
                "",
                _fmt(float(np.mean(fps)) if fps else None, ".1f"),
                _fmt(float(np.mean([r.stats.p50 for r in results if r.stats.p50])) * 1000, ".0f"),
                _fmt(float(np.mean([r.stats.p95 for r in results if r.stats.p95])) * 1000, ".0f"),
                f"{sum(r.dropped for r in results)}/{sum(r.frames_in_clip for r in results)}",
                "",
                _fmt(float(np.mean(gains)) if gains else None),
                _fmt(min((r.worst for r in results if r.worst is not None), default=None)),
                _fmt(float(np.mean([h.gain for h in harm.values() if h.gain is not None])) if harm else None),
                _fmt(min((h.worst for h in harm.values() if h.worst is not None), default=None)),
            )
        )
    cols = (
        "clip",
        "size",
        "delivered fps",
        "latency p50 ms",
        "latency p95 ms",
        "dropped",
        "input dB",
        "gain dB",
        "worst frame dB",
        "sharp camera: gain dB",
        "sharp camera: worst frame dB",
    )
    title = f"live: pipeline {pipeline}, paced 30 fps MJPEG on 127.0.0.1 — {cpu_description()}"
    reports = [Report(title, cols, rows)]
    parts = list(results[0].busy_ms) if results else []
    reports.append(
        Report(
            "where the time goes: busy ms per delivered frame (decode and encode run on their own threads)",
            ("clip", *parts),
            [(r.clip, *(f"{r.busy_ms.get(k, 0):.0f}" for k in parts)) for r in results],
        )
    )
    if said:
        reports.append(Report("what the pipeline chose", ("",), [(s,) for s in said]))
    if skipped:  # measured without them, named, and the command exits 3 (as eval --clips)
        n, names = len(skipped) + len(results), [s.split(":")[0] for s in skipped]
        reports.append(
            Report(
                "clips skipped (unreadable)",
                ("clip",),
                [(s,) for s in skipped],
                error=f"{len(skipped)} of {n} clips could not be read and were skipped: {', '.join(names)}",
                exit_code=3,
            )
        )
    return reports
