"""Video quality and temporal consistency against a sharp reference, on lists of ``H×W×3`` uint8 RGB frames.

* :func:`psnr_frames` / :func:`ssim_frames` — per-frame fidelity (8-bit scale; identical frames give the 100 dB cap).
* :func:`tpsnr` — temporal PSNR: PSNR of the consecutive-frame differences ``out_t − out_{t−1}`` against
  ``ref_t − ref_{t−1}``. Flicker (a change the reference does not have) lowers it even when every frame
  alone is as close to its reference as before.
* :func:`warping_error` — Lai et al., "Learning Blind Video Temporal Consistency" (ECCV 2018): the flow
  ``F_t`` from input frame ``t`` to ``t+1`` (OpenCV DIS, on the *input*, so every output is judged with
  the same flow), pixels whose forward and backward flows disagree masked out as occluded, then the mean
  masked squared difference between ``O_t`` and ``O_{t+1}`` warped back by ``F_t``. Lower is steadier;
  it needs no reference.
* :func:`worst_frame_delta` — min over frames of ``PSNR(out_t) − PSNR(in_t)``: how much the worst frame lost.
* :func:`aligned_psnr_frames` — PSNR after the best global sub-pixel shift (≤ 2 px), on the interior: a
  diagnostic, not a score. The dev set's reference is the scene at the exposure's *midpoint*; a blurred
  frame shows the scene at its blur path's *centroid*, and a hand's tremor decorrelates within a frame,
  so where exactly inside the blur the sharp scene belongs cannot be told from the frames. A sharpened
  frame placed a pixel off loses PSNR that no deblurrer could win back; this measures how much.
* :func:`lucky_ceiling_frames` — per frame, the PSNR of the best single input frame of a window of
  neighbours, registered onto it by the *references'* homographies: what whole-frame lucky selection
  with perfect placement and perfect choice could reach. A diagnostic of how much the neighbours hold
  (and, against a pipeline's gain, how much of it is lost to placement and choice), not a score.

Frames are read with :func:`read_frames` (a video through PyAV, our colour rule, to the final flush
packet; or a folder of PNGs as ``streamdeblur run`` writes them).

Example:
    >>> import numpy as np
    >>> ref = [np.full((32, 32, 3), 10 * i, np.uint8) for i in range(4)]
    >>> out = [np.clip(r.astype(int) + (i % 2) * 8, 0, 255).astype(np.uint8) for i, r in enumerate(ref)]
    >>> round(float(tpsnr(out, ref)), 2)
    30.07
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..io.color import describe_frame, frame_to_rgb
from ..io.orientation import Orientation, frame_display_matrix
from ..io.paths import open_input
from ..io.streams import video_stream
from ..temporal.registration import MIN_SIDE
from .metrics import PSNR_CAP

Frames = list[np.ndarray]


def read_frames(path: str | Path) -> Frames:
    """All frames of a video file (decode order = presentation order for our clips) or a PNG folder.

    Args:
        path: video file, or a folder of ``*.png`` (sorted by name).

    Returns:
        ``H×W×3`` uint8 RGB frames.
    """
    p = Path(path)
    if p.is_dir():
        out = []
        for f in sorted(p.glob("*.png")):
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"cannot read {f}")
            out.append(np.ascontiguousarray(img[..., ::-1]))
        return out
    frames, turn = [], None
    with open_input(p) as c:
        # decode() also drains the decoder at the end (the final flush packet), so no frame is lost
        vs = video_stream(c)  # the stream `streamdeblur run` deblurs (not a thumbnail track before it)
        if vs is None:
            raise IndexError(f"no video stream in {p}")  # as PyAV's decode(video=0) did; eval says "no video stream"
        for f in c.decode(vs):
            if not frames:  # a phone's portrait clip: turned upright as `streamdeblur run` turns it
                matrix = frame_display_matrix(f)
                try:
                    turn = Orientation.from_matrix(matrix) if matrix is not None else None
                except ValueError:  # not a right-angle turn: the pictures as decoded, as the source does
                    turn = None
            rgb = frame_to_rgb(f, describe_frame(f))
            frames.append(np.ascontiguousarray(turn.apply(rgb)) if turn is not None else rgb)
    # a 10-bit clip decodes to 16-bit RGB: judged on the same 8-bit scale as the rest (it scored −45 dB
    # against an 8-bit reference, and the flow refused it)
    return [f if f.dtype == np.uint8 else (f.astype(np.float32) / 257.0 + 0.5).astype(np.uint8) for f in frames]


def _check(a: Frames, b: Frames, what: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{what}: {len(a)} frames vs {len(b)}")
    if len(a) and a[0].shape != b[0].shape:
        raise ValueError(f"{what}: frame shapes differ: {a[0].shape} vs {b[0].shape}")


def _psnr_from_mse(mse: np.ndarray | float) -> np.ndarray:
    """PSNR in dB of 8-bit MSEs, :data:`~.metrics.PSNR_CAP` for a zero one (identical frames)."""
    mse = np.asarray(mse, np.float64)
    return np.minimum(10 * np.log10(255.0**2 / np.maximum(mse, 1e-300)), PSNR_CAP)


def psnr_frames(out: Frames, ref: Frames) -> np.ndarray:
    """Per-frame PSNR in dB (8-bit RGB; :data:`~.metrics.PSNR_CAP` for identical frames).

    Args:
        out, ref: equally long lists of equally sized ``H×W×3`` uint8 frames.

    Returns:
        ``len(out)`` values.
    """
    _check(out, ref, "psnr")
    return _psnr_from_mse([np.mean((o.astype(np.float64) - r) ** 2) for o, r in zip(out, ref)])


def ssim_frame(out: np.ndarray, ref: np.ndarray) -> float:
    """SSIM of one ``H×W×3`` uint8 pair: Wang et al. 2004 (11×11 Gaussian σ = 1.5, K1 0.01, K2 0.03), per RGB
    channel on 8-bit values, mean over the 'valid' window positions — the same number as
    :func:`streamdeblur.train.metrics.ssim`, computed with OpenCV's separable filter (~100× faster on CPU)."""
    p, t = out.astype(np.float64), ref.astype(np.float64)
    r = 5  # half window: keep only positions where the whole window lies inside the frame

    def f(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]

    mu_p, mu_t = f(p), f(t)
    s_pp, s_tt, s_pt = f(p * p) - mu_p**2, f(t * t) - mu_t**2, f(p * t) - mu_p * mu_t
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    m = ((2 * mu_p * mu_t + c1) * (2 * s_pt + c2)) / ((mu_p**2 + mu_t**2 + c1) * (s_pp + s_tt + c2))
    return float(m.mean())


def ssim_frames(out: Frames, ref: Frames) -> np.ndarray:
    """Per-frame SSIM (:func:`ssim_frame`)."""
    _check(out, ref, "ssim")
    return np.array([ssim_frame(o, r) for o, r in zip(out, ref)])


def tpsnr_frames(out: Frames, ref: Frames) -> np.ndarray:
    """PSNR of each consecutive-frame difference against the reference's (``len - 1`` values, dB).

    The differences span −255…255; the peak stays 255 so the scale matches :func:`psnr_frames`.
    """
    _check(out, ref, "tpsnr")
    mse = []
    for t in range(1, len(out)):
        d_out = out[t].astype(np.float64) - out[t - 1]
        d_ref = ref[t].astype(np.float64) - ref[t - 1]
        mse.append(np.mean((d_out - d_ref) ** 2))
    return _psnr_from_mse(mse)


def tpsnr(out: Frames, ref: Frames) -> float:
    """Temporal PSNR of a clip: the mean of :func:`tpsnr_frames` (the cap where a difference matches exactly)."""
    v = tpsnr_frames(out, ref)
    return float(np.mean(v)) if len(v) else float("nan")


def _grey_small(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def _dis() -> cv2.DISOpticalFlow:
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)


def _warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``img`` sampled at ``x + flow(x)`` (bilinear, border replicated)."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def flow_pairs(inp: Frames) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each ``t``: the warp flow ``t → t+1`` and the non-occlusion mask, both from the input frames.

    Occlusion by the forward–backward check of Sundaram et al. (used by Lai et al.): a pixel is
    kept when ``|F_f + F_b(x + F_f)|² < 0.01 (|F_f|² + |F_b(x + F_f)|²) + 0.5`` and its target
    lies inside the frame.

    Returns:
        ``len(inp) - 1`` pairs ``(flow H×W×2 float32, mask H×W bool)``.
    """
    dis = _dis()
    grey = [_grey_small(f) for f in inp]
    out = []
    if grey and min(grey[0].shape[:2]) < MIN_SIDE:  # too small for DIS (it crashes): nothing measurable
        shape = grey[0].shape[:2]
        return [(np.zeros((*shape, 2), np.float32), np.zeros(shape, bool)) for _ in range(len(inp) - 1)]
    for t in range(len(inp) - 1):
        fwd = dis.calc(grey[t], grey[t + 1], None)
        bwd = dis.calc(grey[t + 1], grey[t], None)
        bwd_at = _warp(bwd, fwd)
        diff = ((fwd + bwd_at) ** 2).sum(-1)
        bound = 0.01 * ((fwd**2).sum(-1) + (bwd_at**2).sum(-1)) + 0.5
        h, w = fwd.shape[:2]
        gx, gy = np.meshgrid(np.arange(w), np.arange(h))
        tx, ty = gx + fwd[..., 0], gy + fwd[..., 1]
        inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
        out.append((fwd, (diff < bound) & inside))
    return out


def warping_error(out: Frames, inp: Frames | None = None, flows: list | None = None) -> float:
    """Warping error (Lai et al. 2018) of ``out``, with flows from the input ``inp``.

    Args:
        out: the frames judged.
        inp: the input frames the flow is computed from (ignored when ``flows`` is given).
        flows: precomputed :func:`flow_pairs` of the input (to judge several outputs with one flow).

    Returns:
        mean over ``t`` of the masked mean, over pixels, of the squared difference between ``O_t`` and
        warped ``O_{t+1}`` summed over R, G and B in [0, 1] (Lai et al.'s sum: a steady 8-level difference
        in every channel is 2.95e-3, and 1e-3 about 4.7 levels in each); 0 for a clip of one frame.
    """
    if flows is None:
        if inp is None:
            raise ValueError("warping_error: give the input frames or their flows")
        _check(out, inp, "warping error")
        flows = flow_pairs(inp)
    if len(flows) != len(out) - 1:
        raise ValueError(f"warping error: {len(flows)} flows for {len(out)} frames")
    errs = []
    for t, (flow, mask) in enumerate(flows):
        a = out[t].astype(np.float32) / 255.0
        b = _warp(out[t + 1].astype(np.float32) / 255.0, flow)
        m = mask.astype(np.float32)
        errs.append(float((((a - b) ** 2).sum(-1) * m).sum() / max(m.sum(), 1.0)))
    return float(np.mean(errs)) if errs else 0.0


def _shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def best_shift(out: np.ndarray, ref: np.ndarray, radius: float = 2.0, margin: int = 8) -> tuple[float, float, float]:
    """The global shift (≤ ``radius`` px) of ``out`` that brings it closest to ``ref``, and the MSE there.

    Integer shifts first (the whole ``(2r+1)²`` grid), then ¼ and ⅛ px around the best; MSE over the
    interior (``margin`` px in from every edge), float RGB. Returns ``(dx, dy, mse)``.
    """
    o, r = out.astype(np.float32), ref.astype(np.float32)
    inner = (slice(margin, -margin), slice(margin, -margin))

    def mse(dx: float, dy: float) -> float:
        return float(np.mean((_shift(o, dx, dy)[inner] - r[inner]) ** 2))

    n = int(radius)
    best = min(((mse(dx, dy), dx, dy) for dx in range(-n, n + 1) for dy in range(-n, n + 1)), key=lambda t: t[0])
    for step in (0.5, 0.25, 0.125):
        c = best
        for dx in (-step, 0, step):
            for dy in (-step, 0, step):
                x, y = c[1] + dx, c[2] + dy
                if (dx or dy) and abs(x) <= radius and abs(y) <= radius:
                    best = min(best, (mse(x, y), x, y), key=lambda t: t[0])
    return best[1], best[2], best[0]


def aligned_psnr_frames(out: Frames, ref: Frames, radius: float = 2.0, margin: int = 8) -> np.ndarray:
    """Per frame: PSNR (dB) of ``out`` against ``ref`` after :func:`best_shift` (interior only).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> ref = [cv2.GaussianBlur(rng.integers(0, 255, (48, 64, 3)).astype(np.uint8), (0, 0), 2)]
        >>> out = [_shift(ref[0], 1.0, -0.5)]
        >>> bool(aligned_psnr_frames(out, ref)[0] > psnr_frames(out, ref)[0] + 10)
        True
    """
    _check(out, ref, "aligned PSNR")
    return _psnr_from_mse(np.array([best_shift(o, r, radius, margin)[2] for o, r in zip(out, ref)]))


def _ecc_greys(frames: Frames) -> list[np.ndarray]:
    """Float grey images, lightly smoothed (σ 1 px), as the ECC registrations below compare them."""
    return [cv2.GaussianBlur(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0) for f in frames]


def reference_homographies(ref: Frames, grey: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Per frame ``k``, the homography ``A_k`` taking its pixel coordinates to frame 0's, from the references.

    Consecutive references are registered by ECC over a homography (``cv2.findTransformECC``, started
    from the phase-correlation shift) on grey images, and the steps chained. The references are sharp
    and clean, so each step is placed to a few hundredths of a pixel; a step ECC cannot fit (a cut, a
    scene too flat) is taken as the identity. ``grey``: the references' :func:`_ecc_greys`, if already made.
    """
    grey = _ecc_greys(ref) if grey is None else grey
    acc = [np.eye(3)]
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-6)
    for k in range(1, len(ref)):
        m = np.eye(3, dtype=np.float32)
        (dx, dy), _ = cv2.phaseCorrelate(grey[k - 1], grey[k])
        m[0, 2], m[1, 2] = -dx, -dy  # frame k's coordinates → frame k−1's
        try:
            _, m = cv2.findTransformECC(grey[k], grey[k - 1], m, cv2.MOTION_HOMOGRAPHY, crit, None, 1)
        except cv2.error:
            m = np.eye(3, dtype=np.float32)
        acc.append(acc[-1] @ m.astype(np.float64))
    return acc


def lucky_ceiling_frames(
    inp: Frames, ref: Frames, back: int = 35, ahead: int = 5, margin: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame ``t``: the best PSNR any single input frame of ``t−back … t+ahead`` reaches once
    registered onto ``t`` by the references, and which frame gave it.

    Registration is the oracle's: each candidate's homography onto ``t`` is the chained consecutive
    one (:func:`reference_homographies`) refined by ECC between the two references directly, whichever
    of the two brings reference ``s`` closer to reference ``t``. Over long gaps both can stay a fraction
    of a pixel off (the chain drifts, ECC stops in a local optimum), so the result is a *lower bound* of
    what perfect placement would give (on ``still_1`` of the dev set a slower search found +4.1 dB
    where this gives +3.2). Frame ``t`` itself is a candidate, so the ceiling is never below the input.
    Pixels a candidate does not cover are the current frame's (as a fusion fills them); PSNR over the
    whole frame (as :func:`psnr_frames`) or the interior (``margin`` px in). The defaults cover what
    ``motion``'s first fusion sees (±5 neighbours, a memory of 30 frames).

    Returns:
        ``(psnr, source)``: per-frame dB and the index of the frame that gave it.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> scene = cv2.GaussianBlur(rng.integers(0, 255, (60, 90, 3)).astype(np.uint8), (0, 0), 1.5)
        >>> ref = [np.roll(scene, k, axis=1) for k in range(3)]
        >>> inp = [cv2.blur(ref[0], (9, 1)), ref[1], cv2.blur(ref[2], (9, 1))]
        >>> best, src = lucky_ceiling_frames(inp, ref, back=2, ahead=2)
        >>> src.tolist(), bool(best[0] > psnr_frames(inp, ref)[0] + 10)
        ([1, 1, 1], True)
    """
    _check(inp, ref, "lucky ceiling")
    grey = _ecc_greys(ref)
    acc = reference_homographies(ref, grey)
    inp_f = [f.astype(np.float32) for f in inp]  # once, not once per (frame, candidate) pair
    ref_f = [f.astype(np.float32) for f in ref]
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-5)
    h, w = ref[0].shape[:2]
    inner = (slice(margin, h - margin), slice(margin, w - margin))
    ones = np.ones((h, w), np.float32)

    def placed(img: np.ndarray, m: np.ndarray, inside: np.ndarray, cur: np.ndarray) -> np.ndarray:
        """``img`` warped onto the current frame by ``m``; where it does not reach, ``cur``."""
        return inside * cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP) + (1 - inside) * cur

    def err(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean((a[inner] - b[inner]) ** 2))

    best, src = np.zeros(len(inp)), np.zeros(len(inp), np.int64)
    for t in range(len(inp)):
        cur, r = inp_f[t], ref_f[t]
        best[t], src[t] = err(cur, r), t
        for s in range(max(0, t - back), min(len(inp), t + ahead + 1)):
            if s == t:
                continue
            chained = (np.linalg.inv(acc[s]) @ acc[t]).astype(np.float32)  # frame t's coordinates → frame s's
            options = [chained]
            try:
                options.append(cv2.findTransformECC(grey[t], grey[s], chained.copy(), cv2.MOTION_HOMOGRAPHY, crit, None, 1)[1])
            except cv2.error:
                pass
            scored = []
            for m in options:
                inside = cv2.warpPerspective(ones, m, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)[..., None]
                scored.append((err(placed(ref_f[s], m, inside, r), r), m, inside))
            _, m, inside = min(scored, key=lambda o: o[0])
            e = err(placed(inp_f[s], m, inside, cur), r)
            if e < best[t]:
                best[t], src[t] = e, s
    return _psnr_from_mse(best), src


def worst_frame_delta(out_psnr: np.ndarray, in_psnr: np.ndarray) -> float:
    """``min_t (PSNR(out_t) − PSNR(in_t))`` in dB: negative when some frame came out worse than it went in."""
    with np.errstate(invalid="ignore"):
        d = np.asarray(out_psnr, np.float64) - np.asarray(in_psnr, np.float64)
    d = np.where(np.isnan(d), 0.0, d)  # inf − inf (a frame identical in both): no change
    return float(d.min())
