"""``streamdeblur info``: what this installation can do (versions, devices, codecs, and everything
registered: models, stages, pipelines, executors, benchmarks); ``streamdeblur info FILE…``: what it
reads in each video file and what it will do with it (turn, deinterlace, pixel shape, colour and
HDR, metadata carried, the encoder an output gets), before a long run."""

from __future__ import annotations

import argparse
import platform

from rich.markup import escape
from rich.table import Table

from ..errors import EXIT_OK, exit_code, one_line
from .console import error, out
from .parser import version

# PyAV, OpenCV, PyTorch and the registries are imported where they are used: building the parser
# (``streamdeblur --help``, ``--version``, a usage error) must not load them (tests/cli/test_startup.py)

VIDEO_ENCODERS = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "libaom-av1", "mpeg4", "mjpeg", "ffv1")
AUDIO_ENCODERS = ("aac", "libopus", "libmp3lame", "flac")


def _has(name: str) -> bool:
    import av

    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:  # noqa: BLE001
        return False


NAME = "info"
HELP = "versions, devices, codecs, models, stages, pipelines, executors, benchmarks"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", help="video files, photos or photo folders to describe (none: this installation)")


def run(args) -> int:
    from ..io.sources import reads_as_images

    if not args.files:
        out.print(info_table())
        return EXIT_OK
    code = EXIT_OK
    for f in args.files:  # an unreadable file is the usual one-line error; the others are still described
        try:
            out.print(image_table(f) if reads_as_images(f) else file_table(f))
        except Exception as exc:  # noqa: BLE001 - one line per file; the first failure's exit code (3 for an input)
            if len(args.files) == 1 or args.debug:
                raise
            error(one_line(exc))
            code = code or exit_code(exc)
    return code


def image_table(spec: str) -> Table:
    """What ``streamdeblur run`` will read in a photo, a folder of photos or a glob, and do with it."""
    from collections import Counter
    from pathlib import Path

    from ..io.sources.images import ImageSource

    warnings: list[str] = []
    src = ImageSource(spec, on_warning=warnings.append)  # no images: the usual one-line error (exit 3)
    try:
        i, files = src.info, src.files
    finally:
        src.close()
    kinds = Counter(f.suffix.lower().lstrip(".") for f in files)
    t = Table(title=escape(Path(spec).name or spec), show_header=False)
    what = "1 image" if len(files) == 1 else f"{len(files)} images"
    t.add_row("photos", escape(f"{what} ({', '.join(f'{n} {k}' for k, n in kinds.most_common())}), in name order"))
    first = f"{files[0].name}: {i.width}x{i.height}, {i.color.bit_depth}-bit"
    t.add_row("size", escape(first + ("; each image keeps its own size" if len(files) > 1 else "")))
    t.add_row("orientation", "EXIF orientation applied, as a photo viewer shows it")
    t.add_row("path", "single-frame: photos have no neighbouring frames, so no temporal fusion")
    t.add_row(
        "output",
        "-o FOLDER/ keeps each name and format (nothing overwritten); -o NAME.png|jpg for one image; "
        + "-o NAME.mp4 makes a video of them",
    )
    for w in warnings:
        t.add_row("note", escape(w))
    return t


def _variable_rate(path: str) -> float | None:
    """The fastest frame rate of a video whose rate varies (its container's base rate, FFmpeg's
    ``r_frame_rate``, more than 1 % above the average), else None."""
    import av

    from ..io.paths import open_input
    from ..io.streams import video_stream

    try:
        with open_input(path) as c:
            vs = video_stream(c)
            if vs is None:
                return None
            base, avg = vs.base_rate, vs.average_rate
    except (av.FFmpegError, OSError):
        return None
    if not base or not avg or float(base) <= float(avg) * 1.01 or float(base) > 240:
        return None
    return float(base)


def file_table(path: str) -> Table:
    """What ``streamdeblur run`` will read in video file ``path`` and do with it."""
    from fractions import Fraction
    from pathlib import Path

    from ..engine.config import load_pipeline
    from ..io.color import UNSUPPORTED_MATRICES, chroma_label
    from ..io.formats import FORMAT_BY_SUFFIX
    from ..io.sinks.encoders import choose_encoder, for_deep_source
    from ..io.sinks.video import keeps_pixel_shape, output_chroma, written_size
    from ..io.sources.video import VideoSource
    from ..io.tags import read_tags

    src = VideoSource(path)
    try:
        i = src.info
        coded = i.orientation.size(i.width, i.height) if i.orientation is not None else (i.width, i.height)
    finally:
        src.close()
    c = i.color
    t = Table(title=escape(Path(path).name), show_header=False)
    t.add_row("video", escape(f"{i.codec}, {coded[0]}x{coded[1]} coded, {c.bit_depth}-bit"))
    t.add_row(
        "orientation",
        escape(f"{i.orientation.describe()}: processed and written upright, {i.width}x{i.height}")
        if i.orientation is not None
        else "as stored",
    )
    t.add_row("scan", "interlaced: deinterlaced at decode (bwdif, one frame per frame)" if i.interlaced else "progressive")
    o = load_pipeline("motion").output  # the default pipeline's encoder settings
    suffix = Path(path).suffix.lower() or ".mp4"  # a run without -o writes NAME_deblurred with the input's suffix (or .mp4)
    try:
        enc = choose_encoder(o.codec, suffix, o.crf, o.preset)
    except ValueError:  # a container we do not write (.m2ts …): say what an .mp4 gets
        suffix = ".mp4"
        enc = choose_encoder(o.codec, suffix, o.crf, o.preset)
    if c.bit_depth > 8:
        enc = for_deep_source(enc, suffix, c.bit_depth)
    if i.sample_aspect is not None:
        sar, shown = i.sample_aspect, Fraction(i.width) * i.sample_aspect / i.height
        kept = (
            "kept"
            if keeps_pixel_shape(enc.codec, FORMAT_BY_SUFFIX[suffix])
            else f"not kept by {enc.codec} in {suffix} (shown squeezed; an .mp4 output keeps it)"
        )
        t.add_row("pixels", f"non-square {sar.numerator}:{sar.denominator} (shown {shown.numerator}:{shown.denominator}), {kept}")
    tag = "" if c.tagged else " (untagged: assumed from the size)"
    if c.matrix in UNSUPPORTED_MATRICES.values():
        tag = " (that matrix cannot be read: the file cannot be processed)"
    t.add_row("colour", escape(f"{c.matrix} matrix, {c.range} range, {c.primaries} primaries, {c.transfer} transfer{tag}"))
    t.add_row(
        "chroma",
        f"{chroma_label(c.chroma)}, {c.bit_depth}-bit"
        + ("" if c.chroma == "420" else " (kept in the output where the encoder can; --chroma 420 for browsers and phones)"),
    )
    if i.hdr is not None:
        hdr = []
        if i.hdr.luminance is not None:
            hdr.append(f"mastering display {i.hdr.luminance[0]:g}–{i.hdr.luminance[1]:g} cd/m²")
        if i.hdr.max_cll is not None:
            hdr.append(f"MaxCLL {i.hdr.max_cll}, MaxFALL {i.hdr.max_fall or 0}")
        t.add_row("HDR10", escape(", ".join(hdr) + " (carried into H.265 and AV1 outputs)"))
    timing = [f"{float(i.fps):.3f} fps" if i.fps else "frame rate unknown"]
    fastest = None if i.interlaced else _variable_rate(path)  # (an interlaced file's base rate is its field rate)
    if fastest is not None and i.fps:  # a phone's variable rate read as one number ("16.667 fps") said nothing of it
        timing[0] = f"{float(i.fps):.3f} fps on average, variable (up to {fastest:.3f} fps)"
    if i.frames:
        timing.append(f"{i.frames} frames")
    if i.duration:
        timing.append(f"{i.duration:.2f} s")
    if i.start_time and abs(i.start_time) >= 0.005 and not i.origin:  # the duration counts from here, not from 0
        timing.append(f"starting at {i.start_time:.3f} s")
    keep = "every frame keeps its timestamp"
    if i.origin:  # a transport stream: its recorder's clock is taken off (io/frames.py, SourceInfo.origin)
        keep += f" from the file's start (its clock starts at {i.origin:.3f} s; the output at 0)"
    t.add_row("timing", ", ".join(timing) + "; " + keep)
    tags = read_tags(path)
    kept = sorted({*tags.file, *tags.video} - {"language", "handler_name"})
    t.add_row(
        "metadata kept",
        escape(", ".join(kept) if kept else "none to keep") + (f"; {len(tags.chapters)} chapters" if tags.chapters else ""),
    )
    t.add_row("audio", "copied" if i.has_audio else "none")
    opts = ", ".join(f"{k} {v}" for k, v in (("crf", enc.crf), ("preset", enc.preset)) if v is not None)
    size = written_size(output_chroma(enc.codec, c.bit_depth, c.chroma), i.width, i.height)
    padded = f"; {i.width}x{i.height} has an odd side: padded to {size[0]}x{size[1]}" if size != (i.width, i.height) else ""
    t.add_row(f"output {suffix}", f"encoder {enc.codec} ({opts}; --codec, --crf, --preset to change){padded}")
    return t


def info_table() -> Table:
    """The ``info`` table."""
    import av
    import cv2
    import numpy as np
    import torch

    from ..bench import list_benches
    from ..compute.runtime import auto_bf16, cpu_threads_line
    from ..engine.config import list_pipelines
    from ..models import list_models
    from ..models.scan import mamba_available
    from ..scaleout import executor_class, list_executors
    from ..stages import list_stages, stage_class

    t = Table(title=f"streamdeblur {version()}", show_header=False)
    t.add_row("python", platform.python_version())
    t.add_row("torch", torch.__version__)
    t.add_row("CPU", escape(cpu_line()))
    t.add_row("CPU threads", cpu_threads_line())
    ffmpeg = av.ffmpeg_version_info
    t.add_row("PyAV / FFmpeg", f"{av.__version__} / {'.'.join(map(str, ffmpeg)) if isinstance(ffmpeg, tuple) else ffmpeg}")
    t.add_row("OpenCV", cv2.__version__)
    t.add_row("numpy", np.__version__)
    devs = ["cpu"] + [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
    t.add_row("devices", ", ".join(devs))
    t.add_row(
        "selective scan",
        "mamba_ssm CUDA kernel on GPUs; " * mamba_available() + "PyTorch inference scan (chunked, no autograd) on CPU",
    )
    cpu_bf16 = "on (native bf16)" if auto_bf16(torch.device("cpu")) else "off (no AMX / AVX-512 BF16: slower than fp32 here)"
    gpus = [f"cuda:{i} {'on' if auto_bf16(torch.device('cuda', i)) else 'off'}" for i in range(torch.cuda.device_count())]
    t.add_row("bf16 (auto)", ", ".join([f"cpu {cpu_bf16}", *gpus]) + "  (--bf16 / --no-bf16 to choose)")
    t.add_row("video encoders", ", ".join(c for c in VIDEO_ENCODERS if _has(c)))
    t.add_row("audio encoders", ", ".join(c for c in AUDIO_ENCODERS if _has(c)))
    t.add_row("models", ", ".join(list_models()))
    t.add_row(
        "stages", ", ".join(f"{s}{'*' if stage_class(s).needs_model else ''}" for s in list_stages()) + "  (* uses a model)"
    )
    t.add_row("pipelines", ", ".join(list_pipelines()))
    status = {n: executor_class(n).status() for n in list_executors()}
    t.add_row("executors", escape(", ".join(n if s == "ready" else f"{n} ({s})" for n, s in status.items())))
    t.add_row("benchmarks", f"{', '.join(list_benches())}  (all: {', '.join(list_benches(in_all=True))})")
    return t


def cpu_line() -> str:
    """``AMD EPYC 7B13, 2 usable cores, AVX2`` (model name, cores this process may use, PyTorch's kernel ISA)."""
    import torch

    from ..compute.cpus import cpu_model_name, usable_cpus

    return f"{cpu_model_name()}, {usable_cpus().count} usable cores, {torch.backends.cpu.get_cpu_capability()}"
