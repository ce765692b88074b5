"""Judge pipelines on (blurry, sharp) video pairs by running the real product on each blurry clip.

For every clip and pipeline, the product's own pipeline (``engine.build``, what
``streamdeblur.process`` runs) writes the output as lossless PNGs, so the numbers measure the
pipeline, not our output encoder. Output, input and reference are then compared frame by frame
(matched by index) with :mod:`.video_metrics`. The flow for the warping error comes from the input
frames, once per clip, so every pipeline is judged with the same flow. The table has, per clip:
input PSNR, output PSNR, gain, worst-frame delta (min over frames of output − input PSNR), SSIM
in/out, tPSNR in/out, warping error in/out (×10³) and seconds per frame.

Clips are found as ``<name>.blurry.mp4`` next to ``<name>.sharp.mkv`` (what :mod:`.devset` writes).

Command line::

    python -m streamdeblur.train.video_eval --clips /work/scratch/devset --pipeline motion \\
        [--pipeline identity] [--pipeline other.yaml] [--only still_0 moving_0] [--aligned] [--ceiling] --out report.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from ..engine.build import Job, build
from ..engine.config import ConfigError, PipelineConfig, apply_overrides, load_pipeline, parse_pipeline
from ..errors import SourceError, StreamdeblurError, one_line
from .metrics import PSNR_CAP
from .video_metrics import (
    aligned_psnr_frames,
    flow_pairs,
    lucky_ceiling_frames,
    psnr_frames,
    read_frames,
    ssim_frames,
    tpsnr,
    warping_error,
    worst_frame_delta,
)

#: Pipelines known by name here in addition to the shipped ones.
EXTRA_PIPELINES = {"identity": "description: pass frames through unchanged (the evaluation's zero).\nstages:\n  - identity\n"}


@dataclass
class ClipPair:
    """One evaluation clip: the blurry input and its sharp reference."""

    name: str
    blurry: Path
    sharp: Path


@dataclass
class ClipResult:
    """Numbers for one clip through one pipeline (PSNR/tPSNR in dB; warping error ×10³ on [0, 1] RGB)."""

    clip: str
    pipeline: str
    frames: int
    psnr_in: float
    psnr_out: float
    gain: float
    worst_delta: float
    ssim_in: float
    ssim_out: float
    tpsnr_in: float
    tpsnr_out: float
    warp_in: float
    warp_out: float
    sec_per_frame: float
    psnr_out_frames: list[float]
    psnr_in_frames: list[float]
    #: with ``--aligned``: gain and worst-frame delta after each frame's best global shift (input and
    #: output each shifted to their reference; :func:`.video_metrics.aligned_psnr_frames`)
    aligned_gain: float | None = None
    aligned_worst_delta: float | None = None
    #: with ``--ceiling``: the clip's lucky-frame ceiling, gain over the input (the same for every
    #: pipeline; :func:`.video_metrics.lucky_ceiling_frames`)
    ceiling_gain: float | None = None

    def identical(self) -> tuple[int, int]:
        """How many input and output frames equal their reference (each counted at the PSNR cap)."""
        return sum(v >= PSNR_CAP for v in self.psnr_in_frames), sum(v >= PSNR_CAP for v in self.psnr_out_frames)


def find_clips(folder: str | Path, only: list[str] | None = None) -> list[ClipPair]:
    """``<name>.blurry.mp4`` + ``<name>.sharp.mkv`` pairs in ``folder``, by name (or in the order of ``only``)."""
    folder = Path(folder)
    pairs = []
    for b in sorted(folder.glob("*.blurry.mp4")):
        name = b.name[: -len(".blurry.mp4")]
        s = folder / f"{name}.sharp.mkv"
        if s.exists() and (not only or name in only):
            pairs.append(ClipPair(name, b, s))
    if only:  # in the order asked
        pairs.sort(key=lambda p: only.index(p.name))
    return pairs


def resolve_pipeline(spec: str) -> tuple[str, PipelineConfig]:
    """A shipped pipeline name, a YAML path, or one of :data:`EXTRA_PIPELINES` → (label, config)."""
    if spec in EXTRA_PIPELINES:
        return spec, parse_pipeline(EXTRA_PIPELINES[spec], spec)
    return Path(spec).stem if spec.endswith((".yaml", ".yml")) else spec, load_pipeline(spec)


def run_pipeline(cfg: PipelineConfig, blurry: Path, workdir: Path, overrides: dict | None = None) -> tuple[list, float]:
    """Run the product on ``blurry`` into a PNG folder under ``workdir``; returns (frames, seconds)."""
    out = workdir / "out"
    t0 = time.perf_counter()
    job = Job(str(blurry), str(out), apply_overrides(cfg, **(overrides or {})), overwrite=True)
    res = build(job, warn=lambda m: None).run()
    secs = time.perf_counter() - t0
    if not res.ok:
        raise RuntimeError(f"{blurry.name}: pipeline failed: {res.error or 'interrupted'}")
    frames = read_frames(out)
    for f in out.glob("*.png"):
        f.unlink()
    return frames, secs


def _f(v: float) -> float:
    return round(float(v), 4)


def evaluate_clip(
    pair: ClipPair,
    pipelines: list[tuple[str, PipelineConfig]],
    overrides: dict | None = None,
    log=print,
    aligned: bool = False,
    ceiling: bool = False,
) -> list[ClipResult]:
    """Every pipeline on one clip; input-side numbers, the flow and the ceiling are computed once.

    Raises:
        SourceError: a clip of the pair cannot be read, or the two differ in frame count.
    """
    inp, ref = read_pair(pair)
    p_in = psnr_frames(inp, ref)
    s_in = float(np.mean(ssim_frames(inp, ref)))
    t_in = tpsnr(inp, ref)
    flows = flow_pairs(inp)
    w_in = warping_error(inp, flows=flows)
    a_in = aligned_psnr_frames(inp, ref) if aligned else None
    c_gain = _f(np.mean(lucky_ceiling_frames(inp, ref)[0]) - np.mean(p_in)) if ceiling else None
    results = []
    for label, cfg in pipelines:
        with tempfile.TemporaryDirectory(prefix="sd-veval-") as tmp:
            out, secs = run_pipeline(cfg, pair.blurry, Path(tmp), overrides)
        if len(out) != len(inp):
            raise RuntimeError(f"{pair.name}: {label} wrote {len(out)} frames for {len(inp)} input frames")
        p_out = psnr_frames(out, ref)
        r = ClipResult(
            clip=pair.name,
            pipeline=label,
            frames=len(inp),
            psnr_in=_f(np.mean(p_in)),
            psnr_out=_f(np.mean(p_out)),
            gain=_f(np.mean(p_out) - np.mean(p_in)),
            worst_delta=_f(worst_frame_delta(p_out, p_in)),
            ssim_in=_f(s_in),
            ssim_out=_f(np.mean(ssim_frames(out, ref))),
            tpsnr_in=_f(t_in),
            tpsnr_out=_f(tpsnr(out, ref)),
            warp_in=_f(w_in * 1e3),
            warp_out=_f(warping_error(out, flows=flows) * 1e3),
            sec_per_frame=_f(secs / len(inp)),
            psnr_out_frames=[_f(v) for v in p_out],
            psnr_in_frames=[_f(v) for v in p_in],
            ceiling_gain=c_gain,
        )
        if a_in is not None:
            a_out = aligned_psnr_frames(out, ref)
            r.aligned_gain = _f(np.mean(a_out) - np.mean(a_in))
            r.aligned_worst_delta = _f(worst_frame_delta(a_out, a_in))
        log(format_row(r))
        results.append(r)
    return results


@dataclass
class VideoScore:
    """One finished video against its sharp reference and, if given, the input it was made from
    (PSNR/tPSNR in dB; warping error ×10³ on [0, 1] RGB; the ``*_in`` numbers only with an input)."""

    video: str
    frames: int
    psnr: float
    ssim: float
    tpsnr: float
    warp: float
    psnr_in: float | None = None
    ssim_in: float | None = None
    tpsnr_in: float | None = None
    warp_in: float | None = None
    gain: float | None = None
    #: min over frames of PSNR(out_t) − PSNR(in_t), and that frame's index
    worst_delta: float | None = None
    worst_frame: int | None = None


def _read_video(path: str | Path, what: str) -> list:
    try:
        frames = read_frames(path)
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file ({what})") from None
    except IndexError:  # read_frames: a file without a video stream (album art alone counts as none)
        raise SourceError(f"{path}: no video stream ({what})") from None
    except (OSError, ValueError, av.error.FFmpegError) as e:
        raise SourceError(f"{path}: cannot read it as a video ({what}): {str(e).splitlines()[0]}") from None
    if not frames:
        raise SourceError(f"{path}: no video frames ({what})")
    return frames


def _same_frames(a: list, b: list, pa: str | Path, pb: str | Path) -> None:
    if len(a) != len(b):
        n = f"{len(a)} frame" + ("s" if len(a) != 1 else "")
        raise SourceError(f"{pa} has {n}, {pb} {len(b)}: frames are compared by index, so both need every frame")
    if a[0].shape != b[0].shape:
        (h, w), (h2, w2) = a[0].shape[:2], b[0].shape[:2]
        raise SourceError(f"{pa} is {w}×{h}, {pb} {w2}×{h2}: frames are compared pixel by pixel at one size")


def score_video(video: str | Path, reference: str | Path, inp: str | Path | None = None) -> VideoScore:
    """Score a finished video against the sharp reference it should match, frame by frame.

    The frames are matched by index (every frame of each file, decoded to 8-bit RGB). Without an
    input the warping error's flow comes from the reference; with one, from the input, as the dev-set
    evaluation does (Lai et al. 2018), and the gain and worst frame are given against the input.

    Args:
        video: the output to judge (any file PyAV reads, or a folder of PNGs).
        reference: the sharp ground truth, with the same frames.
        inp: the blurry input the output was made from (optional).

    Returns:
        The :class:`VideoScore`.

    Example:
        >>> s = score_video("out/shaky_boats_deblurred.mp4", "samples/shaky_boats_sharp.mp4",
        ...                 "samples/shaky_boats.mp4")  # doctest: +SKIP
        >>> round(s.gain, 1)  # doctest: +SKIP
        3.3
    """
    out, ref = _read_video(video, "the video"), _read_video(reference, "the reference")
    _same_frames(out, ref, video, reference)
    frames_in = None
    if inp is not None:
        frames_in = _read_video(inp, "the input")
        _same_frames(frames_in, ref, inp, reference)
    flows = flow_pairs(frames_in if frames_in is not None else ref)
    p_out = psnr_frames(out, ref)
    s = VideoScore(
        video=str(video),
        frames=len(out),
        psnr=_f(np.mean(p_out)),
        ssim=_f(np.mean(ssim_frames(out, ref))),
        tpsnr=_f(tpsnr(out, ref)),
        warp=_f(warping_error(out, flows=flows) * 1e3),
    )
    if frames_in is not None:
        p_in = psnr_frames(frames_in, ref)
        delta = p_out - p_in
        s.psnr_in, s.gain = _f(np.mean(p_in)), _f(np.mean(p_out) - np.mean(p_in))
        s.ssim_in = _f(np.mean(ssim_frames(frames_in, ref)))
        s.tpsnr_in = _f(tpsnr(frames_in, ref))
        s.warp_in = _f(warping_error(frames_in, flows=flows) * 1e3)
        s.worst_frame = int(np.argmin(delta))
        s.worst_delta = _f(worst_frame_delta(p_out, p_in))
    return s


def format_score(s: VideoScore) -> str:
    """The score as a short Markdown table (input and change columns when an input was given)."""
    one = s.frames < 2  # no frame-to-frame change to judge: tPSNR and the warping error do not exist
    rows = [
        ("PSNR (dB, mean over frames)", s.psnr_in, s.psnr, "{:.2f}", False),
        ("SSIM (mean over frames)", s.ssim_in, s.ssim, "{:.4f}", False),
        ("tPSNR (dB; frame-to-frame changes against the reference's: flicker)", s.tpsnr_in, s.tpsnr, "{:.2f}", one),
        ("warping error ×10³ (Lai et al.; lower is steadier)", s.warp_in, s.warp, "{:.3f}", one),
    ]
    na = "n/a (one frame)"
    if s.psnr_in is None:
        lines = ["| measure | video |", "|---|---:|"]
        lines += [f"| {name} | {na if skip else fmt.format(v)} |" for name, _, v, fmt, skip in rows]
    else:
        lines = ["| measure | input | video | change |", "|---|---:|---:|---:|"]
        for name, a, b, fmt, skip in rows:
            cells = [na] * 3 if skip else [fmt.format(a), fmt.format(b), fmt.replace("{:", "{:+").format(b - a)]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", f"worst frame: {s.worst_frame} ({s.worst_delta:+.2f} dB against the input's)"]
    n = f"{s.frames} frame" + ("s" if s.frames != 1 else "")
    head = f"{s.video}: {n} against the reference, 8-bit RGB, frames matched by index"
    return "\n".join([head, "", *lines])


HEADER = (
    "| clip | pipeline | frames | PSNR in | PSNR out | gain | worst Δ | SSIM in | SSIM out | tPSNR in | tPSNR out "
    "| warp err in ×10³ | warp err out ×10³ | s/frame |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def format_row(r: ClipResult) -> str:
    return (
        f"| {r.clip} | {r.pipeline} | {r.frames} | {r.psnr_in:.2f} | {r.psnr_out:.2f} | {r.gain:+.2f} | {r.worst_delta:+.2f} "
        f"| {r.ssim_in:.4f} | {r.ssim_out:.4f} | {r.tpsnr_in:.2f} | {r.tpsnr_out:.2f} | {r.warp_in:.3f} | {r.warp_out:.3f} "
        f"| {r.sec_per_frame:.3f} |"
    )


def summary_rows(results: list[ClipResult]) -> list[str]:
    """Per pipeline: means over clips of gain and tPSNR change, and the worst frame of all clips."""
    rows = [
        "| pipeline | clips | mean gain | worst Δ (any frame) | mean tPSNR out − in | mean s/frame |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label in dict.fromkeys(r.pipeline for r in results):
        rs = [r for r in results if r.pipeline == label]
        rows.append(
            f"| {label} | {len(rs)} | {np.mean([r.gain for r in rs]):+.2f} | {min(r.worst_delta for r in rs):+.2f} "
            f"| {np.mean([r.tpsnr_out - r.tpsnr_in for r in rs]):+.2f} | {np.mean([r.sec_per_frame for r in rs]):.3f} |"
        )
    return rows


def report(results: list[ClipResult], command: str = "") -> str:
    """Markdown: the per-clip table, the per-pipeline summary, and how it was made."""
    lines = ["# Video evaluation", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [HEADER, *[format_row(r) for r in results], "", *summary_rows(results), ""]
    if any(r.aligned_gain is not None for r in results):
        lines += [
            "Aligned (diagnostic): each input and output frame shifted globally (≤ 2 px, ⅛-px steps) to its "
            "reference before PSNR, interior only. The difference to the table above is what a frame loses "
            "by sitting off the reference's exposure-midpoint pose, which the frames cannot tell.",
            "",
            "| clip | pipeline | gain | aligned gain | worst Δ | aligned worst Δ |",
            "|---|---|---:|---:|---:|---:|",
            *[
                f"| {r.clip} | {r.pipeline} | {r.gain:+.2f} | {r.aligned_gain:+.2f} | {r.worst_delta:+.2f} "
                f"| {r.aligned_worst_delta:+.2f} |"
                for r in results
                if r.aligned_gain is not None
            ],
            "",
        ]
    if any(r.ceiling_gain is not None for r in results):
        lines += [
            "Lucky-frame ceiling (diagnostic): per frame, the best single input frame of t−35 … t+5 registered onto "
            "it by the *references* (ECC homographies; a lower bound of perfect placement), the clip's mean gain "
            "over the input. What choosing whole frames could reach with perfect placement and choice; the "
            "pipeline's gain against it is how much is lost to placement and choice (or won by more than one frame).",
            "",
            "| clip | pipeline | gain | ceiling gain |",
            "|---|---|---:|---:|",
            *[
                f"| {r.clip} | {r.pipeline} | {r.gain:+.2f} | {r.ceiling_gain:+.2f} |"
                for r in results
                if r.ceiling_gain is not None
            ],
            "",
        ]
    same = [(r, *r.identical()) for r in results if any(r.identical())]
    if same:  # a mean over frames that holds capped ones says less than it seems: said, per clip
        lines += [
            f"Frames identical to their reference count at the {PSNR_CAP:.0f} dB cap: "
            + "; ".join(f"{r.clip} ({r.pipeline}): {i} of {r.frames} input, {o} of {r.frames} output" for r, i, o in same),
            "",
        ]
    lines += [
        "PSNR/SSIM: mean over frames, 8-bit RGB, against the sharp reference; gain = PSNR out − in; "
        "worst Δ = min over frames of PSNR(out_t) − PSNR(in_t); tPSNR: PSNR of consecutive-frame differences "
        "against the reference's; warping error (Lai et al. 2018): flow and occlusion from the input frames (DIS), "
        "×10³ on RGB in [0, 1]. Outputs written as PNG (no output encoding loss).",
        "",
    ]
    return "\n".join(lines)


def read_pair(pair: ClipPair) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The blurry and sharp frames of a dev-set pair.

    Raises:
        SourceError: a clip that cannot be read (one line naming it: a damaged one gave "[Errno 1094995529]
            Invalid data found when processing input" and ended the whole run), or the two differ in frame count.
    """
    frames = []
    for path in (pair.blurry, pair.sharp):
        try:
            frames.append(read_frames(path))
        except SourceError:
            raise
        except (OSError, ValueError, IndexError, av.FFmpegError) as exc:
            raise SourceError(f"cannot read {path}: {one_line(exc).removeprefix('[Errno 1094995529] ')}") from None
    inp, ref = frames
    if len(inp) != len(ref):
        raise SourceError(f"{pair.name}: {len(inp)} blurry frames vs {len(ref)} sharp")
    return inp, ref


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` under a temporary name and rename it: a reader never sees half a report."""
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text)
    os.replace(tmp, path)


def run_clips(
    clips: str | Path,
    pipelines: list[str] | None = None,
    only: list[str] | None = None,
    out: Path | None = None,
    tile: int | None = None,
    aligned: bool = False,
    ceiling: bool = False,
    command: str = "",
    log=print,
) -> list[ClipResult]:
    """Every pipeline on every clip of a dev-set folder; the report (and its JSON) rewritten after each clip.
    A clip that cannot be read is skipped and named, and the others measured.

    Raises:
        ValueError: no clips, no folder for ``out``; ConfigError: an unknown pipeline.
        SourceError: at the end, when clips were skipped (the report holds the others).
    """
    if out is not None and not Path(out).parent.is_dir():  # before the work, not after it
        raise ValueError(f"--out {out}: no folder {Path(out).parent}")
    if not Path(clips).is_dir():
        raise ValueError(f"{clips}: no such folder (a dev set: <name>.blurry.mp4 + <name>.sharp.mkv)")
    resolved = [resolve_pipeline(p) for p in (pipelines or ["motion"])]
    pairs = find_clips(clips)
    if not pairs:
        raise ValueError(f"{clips}: no <name>.blurry.mp4 with a <name>.sharp.mkv")
    if only:
        names = [c.name for c in pairs]
        unknown = [n for n in only if n not in names]
        if unknown:
            raise ValueError(f"{clips}: no clip named {', '.join(unknown)} (its clips: {', '.join(names)})")
        pairs = [pairs[names.index(n)] for n in dict.fromkeys(only)]  # in the order asked, each once
    overrides = {"tile": tile} if tile is not None else None
    log(HEADER)
    results: list[ClipResult] = []
    skipped: list[str] = []
    for pair in pairs:
        try:
            results += evaluate_clip(pair, resolved, overrides, log=log, aligned=aligned, ceiling=ceiling)
        except SourceError as exc:
            log(f"skipped {pair.name}: {exc}")
            skipped.append(pair.name)
            continue
        if out:  # after every clip, so a long run that is stopped keeps what it measured
            write_atomic(Path(out), report(results, command))
            write_atomic(Path(out).with_suffix(".json"), json.dumps([asdict(r) for r in results], indent=1))
    if results:
        log("\n".join(summary_rows(results)))
    for r in results:
        i, o = r.identical()
        if i or o:
            log(f"{r.clip} ({r.pipeline}): {i} input and {o} output frames equal their reference ({PSNR_CAP:.0f} dB, the cap)")
    if skipped:
        kept = f"; {out} holds the other {len(pairs) - len(skipped)}" if out and results else ""
        raise SourceError(f"{len(skipped)} of {len(pairs)} clips could not be read and were skipped: {', '.join(skipped)}{kept}")
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m streamdeblur.train.video_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", required=True, type=Path, help="folder of <name>.blurry.mp4 + <name>.sharp.mkv")
    ap.add_argument("--pipeline", action="append", help="shipped name, YAML path or 'identity' (repeatable; default motion)")
    ap.add_argument("--only", nargs="*", help="clip names")
    ap.add_argument("--out", type=Path, help="Markdown report (a .json with every number is written next to it)")
    ap.add_argument("--tile", type=int, help="override the pipeline's tile size")
    ap.add_argument("--aligned", action="store_true", help="also the gain after each frame's best global shift (diagnostic)")
    ap.add_argument("--ceiling", action="store_true", help="also each clip's lucky-frame ceiling (diagnostic, slow)")
    a = ap.parse_args(argv)
    cmd = "python -m streamdeblur.train.video_eval " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        run_clips(a.clips, a.pipeline, a.only, a.out, a.tile, a.aligned, a.ceiling, cmd, log=lambda m: print(m, flush=True))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except StreamdeblurError as e:  # clips skipped (exit 3), after the others were measured
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except (OSError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
