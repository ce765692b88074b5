"""``streamdeblur bench --what ladder``: where the speed-up over a naive loop comes from, one step at a time.

Each rung adds one thing to the rung before it, and all rungs run the same clip, model and weights in
the same run of the program:

1. ``naive`` — decode a frame, run the model (fp32, NCHW, batch 1, ``no_grad``), encode it, repeat;
   FFmpeg's default codec threads (one per core). What the public tools do, with our model code.
2. ``+ channels_last`` — the model and its input in NHWC memory format.
3. ``+ bf16`` — bfloat16 autocast, forced on whatever the CPU (on a CPU without AMX or AVX-512 BF16
   it is emulated; the rung shows what that costs; the pipeline's ``auto`` leaves it off there).
4. ``+ codec threads`` — one decoder and one encoder thread (what the pipeline does on CPU).
5. ``pipeline`` — the real pipeline with the settings above: reader, worker and writer threads with
   bounded queues, the stage's ``inference_mode`` and tiling wrapper.
6. ``pipeline, auto`` — the real pipeline with this machine's automatic choices (``bf16: auto``);
   the same as rung 5 where the CPU computes bf16 natively.

Fair comparison: every contender is warmed up once (a short run) before anything is timed; then
``rounds`` rounds time each contender over the whole clip, in an order shuffled anew every round
(seeded), so a slow spell on a shared machine does not always hit the same rung. The table gives
each rung's median fps, its ratio to the rung before and to ``naive``.

Example (shell)::

    streamdeblur bench --what ladder --size 320x180 --frames 6 --rounds 3
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import torch

from ..compute.runtime import auto_bf16
from ..compute.tiling import pad_to_multiple
from ..engine.build import Job, build
from ..engine.config import PipelineConfig, StageSpec
from ..io.color import describe_frame, frame_to_rgb, rgb_to_frame
from ..models import create_model, model_info


@dataclass(frozen=True)
class Rung:
    """One contender of the ladder."""

    name: str
    channels_last: bool = False
    bf16: bool | None = False  #: None: the pipeline's automatic choice
    codec_threads: int = 0  #: 0: FFmpeg's default (one per core)
    pipeline: bool = False


RUNGS = (
    Rung("naive"),
    Rung("+ channels_last", channels_last=True),
    Rung("+ bf16", channels_last=True, bf16=True),
    Rung("+ codec threads", channels_last=True, bf16=True, codec_threads=1),
    Rung("pipeline", channels_last=True, bf16=True, codec_threads=1, pipeline=True),
    Rung("pipeline, auto", channels_last=True, bf16=None, codec_threads=1, pipeline=True),
)


def serial_loop(clip: Path, out: Path, model: torch.nn.Module, rung: Rung, multiple: int = 8) -> int:
    """Decode, infer, encode one frame at a time with ``rung``'s settings; returns the frame count.
    Frames are padded to ``multiple`` (the model's, :attr:`~streamdeblur.models.registry.ModelInfo.multiple`)."""
    fmt = torch.channels_last if rung.channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    device = next(model.parameters()).device
    n = 0
    with av.open(str(clip)) as inp, av.open(str(out), "w") as o:
        vs = inp.streams.video[0]
        vs.thread_type = "AUTO"
        if rung.codec_threads:
            vs.codec_context.thread_count = rung.codec_threads
        s = o.add_stream("libx264", rate=vs.average_rate)
        s.width, s.height, s.pix_fmt = vs.codec_context.width, vs.codec_context.height, "yuv420p"
        s.options = {"crf": "18", "preset": "veryfast"}
        if rung.codec_threads:
            s.codec_context.thread_count = rung.codec_threads
        for f in inp.decode(vs):
            info = describe_frame(f)
            x = torch.from_numpy(frame_to_rgb(f, info)).permute(2, 0, 1)[None].float().div(255).to(device)
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bool(rung.bf16)):
                xp, _ = pad_to_multiple(x, multiple)
                y = model.deblur(xp.contiguous(memory_format=fmt))[..., : x.shape[-2], : x.shape[-1]]
            img = (y.float().clamp(0, 1)[0].permute(1, 2, 0) * 255).round().byte().cpu().numpy()
            vf = rgb_to_frame(img, info, "yuv420p", "left")  # x264: decoders read its chroma left-sited
            vf.pts, vf.time_base = f.pts, f.time_base
            for p in s.encode(vf):
                o.mux(p)
            n += 1
        for p in s.encode(None):
            o.mux(p)
    return n


def model_stage(model_name: str) -> str:
    """The pipeline stage that runs ``model_name``: ``defocus`` for a defocus model, else ``deblur``
    (a defocus model in the ``deblur`` stage is said to be one, in the middle of a benchmark's tables)."""
    return "defocus" if model_info(model_name).task == "defocus" else "deblur"


def pipeline_run(clip: Path, out: Path, model_name: str, rung: Rung, threads: int) -> int:
    """The real pipeline (CPU, batch 1) with ``rung``'s bf16 choice; returns the frames written."""
    cfg = PipelineConfig(
        batch=1, device="cpu", threads=threads, bf16=rung.bf16, stages=[StageSpec(model_stage(model_name), {"model": model_name})]
    )
    cfg.output.preset = "veryfast"
    cfg.output.audio = False
    pipe = build(Job(str(clip), str(out), cfg, overwrite=True), warn=lambda m: None)
    result = pipe.run()
    if result.error:
        raise RuntimeError(result.error)
    return result.progress.done


def _contender(rung: Rung, model: torch.nn.Module, model_name: str, threads: int, work: Path) -> Callable[[Path], int]:
    if rung.pipeline:
        return lambda clip: pipeline_run(clip, work / "pipeline.mp4", model_name, rung, threads)
    return lambda clip: serial_loop(clip, work / "serial.mp4", model, rung, model_info(model_name).multiple)


def run_ladder(clip: Path, warm_clip: Path, model_name: str, rounds: int, threads: int, work: Path, seed: int = 0) -> dict:
    """Time every rung of :data:`RUNGS` on ``clip`` (module docstring).

    Args:
        clip: the timed clip.
        warm_clip: a short clip each contender runs once before timing starts.
        model_name: registered model, with its bundled weights.
        rounds: timed runs per contender, in a freshly shuffled order each round.
        threads: PyTorch intra-op threads (the same for every rung).
        work: a folder for the outputs.
        seed: the shuffle's seed.

    Returns:
        ``{"rungs": [{"name", "fps", "runs"}...], "order": [[names] per round], "auto_bf16": bool}``.
    """
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    model = create_model(model_name, weights="default").eval()
    contenders = {r.name: _contender(r, model, model_name, threads, work) for r in RUNGS}
    for run in contenders.values():
        run(warm_clip)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    frames = 0
    orders = []
    rng = random.Random(seed)
    for _ in range(rounds):
        order = list(contenders)
        rng.shuffle(order)
        orders.append(order)
        for name in order:
            t = time.perf_counter()
            frames = contenders[name](clip)
            times[name].append(time.perf_counter() - t)
    rows = [{"name": name, "fps": frames / statistics.median(ts), "runs": [frames / t for t in ts]} for name, ts in times.items()]
    return {"rungs": rows, "order": orders, "frames": frames, "auto_bf16": auto_bf16(torch.device("cpu"))}
