"""Register a neighbouring frame to the current one: a global homography plus dense residual flow.

Both come from OpenCV's DIS optical flow (``cv2.DISOpticalFlow_create``) on small grey images:

1. DIS flow from the current frame to the neighbour (``flow_tn``: pixel ``x`` of frame t is seen
   at ``x + flow_tn(x)`` in frame n);
2. a homography fitted to that flow on a grid of points with RANSAC (camera shake, pan and roll
   of a distant scene are projective), which replaces the flow wherever the two agree — the
   homography is smooth and sub-pixel accurate where DIS is noisy (blurred or flat regions);
3. DIS once more, started from the homography's field (``calc`` with an initial flow): the
   residual flow. DIS from scratch loses its way where a large camera move meets a flat region (a
   lake under a 40-px pan: half of the frame off by tens of pixels, self-consistent both ways, and
   a far neighbour's boat pasted into the water); started from the camera's motion it only has
   to find what moves differently;
4. where the residual flow and the homography disagree (a moving subject, parallax) the flow is
   kept, blended by a smooth mask, so moving regions are registered too.

The forward–backward check (``flow_tn(x) + flow_nt(x + flow_tn(x)) ≈ 0``) flags occlusions and
regions whose flow cannot be trusted; :func:`fb_consistency` turns it into a 0–1 confidence.

Example:
    >>> g0 = np.random.default_rng(0).integers(0, 255, (90, 160), dtype=np.uint8)
    >>> g1 = np.roll(g0, 2, axis=1)
    >>> f = register_pair(g0, g1)
    >>> bool(abs(np.median(f[..., 0]) - 2) < 0.2)
    True
"""

from __future__ import annotations

import functools
import threading

import cv2
import numpy as np
import torch
from torch.nn import functional as F


def luma(images: torch.Tensor) -> torch.Tensor:
    """``N×3×H×W`` RGB → ``N×1×H×W`` luma (BT.601 weights), in one pass (no 3-channel temporary)."""
    w = torch.tensor([0.299, 0.587, 0.114], device=images.device, dtype=images.dtype)
    return torch.einsum("nchw,c->nhw", images, w)[:, None]


def small_grey(images: torch.Tensor, scale: float) -> list[np.ndarray]:
    """``N×3×H×W`` in [0, 1] → N uint8 grey images scaled by ``scale`` (area interpolation)."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"small_grey expects N×3×H×W, got {tuple(images.shape)}")
    grey = luma(images)
    if scale != 1.0:
        h, wd = images.shape[-2:]
        size = (max(8, round(h * scale)), max(8, round(wd * scale)))
        grey = F.interpolate(grey, size=size, mode="area")
    q = grey.clamp(0, 1).mul(255).round().to(torch.uint8)[:, 0].cpu().numpy()
    return list(q)


#: the smallest image side DIS is given. OpenCV refuses sides under 12 ("the input image must have
#: either width or height >= 12"), and a height of 12-15 px at widths from about 40 px crashed the
#: process inside it (SIGSEGV: a 1280×64 camera fused at 256×13, a 200×14 clip)
MIN_SIDE = 16
_DIS = threading.local()  # per thread: a DIS instance keeps its pyramids and fields between calls


@functools.lru_cache(maxsize=6)
def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``(xx, yy)``: float32 ``H×W`` pixel coordinates, cached per size (read-only; every frame of a
    clip asks for the same three or so: the flow's, the work size and the full frame; 6 sizes of 4K
    frames would hold 400 MB, so the cache stays small)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    xx.flags.writeable = yy.flags.writeable = False
    return xx, yy


def _length(v: np.ndarray) -> np.ndarray:
    """``|v|`` of an ``H×W×2`` field (``np.hypot``: one pass, where ``linalg.norm`` squares, sums and roots)."""
    return np.hypot(v[..., 0], v[..., 1])


def dis(preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> cv2.DISOpticalFlow:
    """One DIS instance per preset and thread (creating one costs more than a small flow).

    Not one per process: ``calc`` keeps its working pyramids and flow fields in the instance and
    releases the GIL, so two pipelines in two threads (two :class:`~streamdeblur.api.Deblurrer`
    users) computing on one instance overwrite each other's fields; it crashed the process
    (segmentation fault) where it did not silently return the other clip's flow.
    """
    cache = _DIS.__dict__.setdefault("by_preset", {})
    if preset not in cache:
        cache[preset] = cv2.DISOpticalFlow_create(preset)
    return cache[preset]


def homography_flow(h: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The displacement field ``H·x − x`` of a 3×3 homography on an ``H×W`` grid (``H×W×2``, float32)."""
    hh, ww = shape
    m = h.astype(np.float32)
    x = np.arange(ww, dtype=np.float32)[None, :]
    y = np.arange(hh, dtype=np.float32)[:, None]
    z = m[2, 0] * x + m[2, 1] * y + m[2, 2]  # each row of H·x built from a row and a column (broadcast)
    z = np.where(np.abs(z) < 1e-6, np.float32(1e-6), z)
    out = np.empty((hh, ww, 2), np.float32)
    np.subtract((m[0, 0] * x + m[0, 1] * y + m[0, 2]) / z, x, out=out[..., 0])
    np.subtract((m[1, 0] * x + m[1, 1] * y + m[1, 2]) / z, y, out=out[..., 1])
    return out


def fit_homography(flow: np.ndarray, step: int = 6, exclude: np.ndarray | None = None) -> np.ndarray | None:
    """Robust homography (RANSAC, 1 px) from a flow field sampled every ``step`` pixels; None if it fails.

    ``exclude`` (``H×W``, optional): points where it is above ½ are left out of the fit (moving subjects).
    """
    hh, ww = flow.shape[:2]
    yy, xx = np.mgrid[step // 2 : hh : step, step // 2 : ww : step]
    if exclude is not None:
        keep = exclude[yy, xx] <= 0.5
        yy, xx = yy[keep], xx[keep]
    src = np.stack([xx.ravel(), yy.ravel()], -1).astype(np.float32)
    dst = src + flow[yy, xx].reshape(-1, 2)
    if len(src) < 8:
        return None
    h, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 1.0, maxIters=500, confidence=0.995)
    if h is None or inliers is None or inliers.sum() < 0.2 * len(src):
        return None
    return h


def register_pair(
    grey_t: np.ndarray, grey_n: np.ndarray, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, return_moving: bool = False
):
    """Flow from frame t to frame n (``H×W×2`` float32, at the grey images' scale).

    Args:
        grey_t: current frame, uint8 ``H×W``.
        grey_n: neighbour, uint8 ``H×W``.
        preset: DIS preset.
        return_moving: also return where the flow is not the homography's (``H×W`` float32 in
            [0, 1]: 1 on moving subjects and parallax; all 1 when no homography fits).

    Returns:
        ``flow`` such that ``grey_t(x) ≈ grey_n(x + flow(x))``: the homography's field where DIS
        agrees with it within ~1 px, DIS's own flow where it does not (moving subjects).
    """
    if min(grey_t.shape[:2]) < MIN_SIDE:  # DIS refuses images this small: nothing registered, all "moving"
        flow = np.zeros((*grey_t.shape[:2], 2), np.float32)
        return (flow, np.ones(flow.shape[:2], np.float32)) if return_moving else flow
    flow = dis(preset).calc(grey_t, grey_n, None)
    for residual_pass in (False, True):
        h = fit_homography(flow)
        if h is None:
            return (flow, np.ones(flow.shape[:2], np.float32)) if return_moving else flow
        hflow = homography_flow(h, flow.shape[:2])
        resid = _length(flow - hflow)
        if residual_pass or not (resid > 2.0).any():
            break
        # DIS strayed somewhere: the residual flow, started from the camera's motion, on a fresh
        # instance (0.3 ms): a DIS object once given an initial flow carries state into its later
        # calls, and the same pair then registers differently with the call history (a segmented run
        # no longer equals a single run, nor a run itself)
        flow = cv2.DISOpticalFlow_create(preset).calc(grey_t, grey_n, hflow)
    # 0 where DIS agrees with the homography (≤ 0.75 px), 1 where it clearly does not (≥ 2 px)
    m = np.clip((resid - 0.75) / 1.25, 0, 1)
    m = cv2.GaussianBlur(m, (0, 0), 2.0)
    out = (hflow + m[..., None] * (flow - hflow)).astype(np.float32)
    return (out, m.astype(np.float32, copy=False)) if return_moving else out


def refine_homography(
    grey_t: np.ndarray, grey_n: np.ndarray, flow: np.ndarray, moving: np.ndarray, iterations: int = 30
) -> tuple[np.ndarray, bool]:
    """Sharpen a registration's camera part with ECC (Evangelidis & Psarakis 2008) on larger grey images.

    DIS on small images places a far frame within a few tenths of a pixel; a sharp frame registered
    to the current one a fraction of a pixel off loses exactly the detail it was fetched for. ECC
    maximises the correlation of the two images over a homography (``cv2.findTransformECC``, started
    from the homography fitted to ``flow`` where it is the camera's), and uses every pixel.

    Args:
        grey_t: current frame, uint8, any size (typically larger than the flow's).
        grey_n: the other frame, same size.
        flow: ``h×w×2`` flow from t to n at its own (smaller) scale.
        moving: ``h×w`` in [0, 1], where ``flow`` is not the camera's (kept as it is there).
        iterations: ECC's iteration cap.

    Returns:
        ``(flow', refined)``: the flow at ``flow``'s scale, the refined homography's field where the
        scene is static; ``refined`` is False (and ``flow`` returned) when no homography fits or
        ECC does not converge.
    """
    hh, ww = flow.shape[:2]
    # moving subjects are left out of the fit (not given a placeholder flow: a constant placeholder is
    # itself a translation, and RANSAC took it for the camera where more than half the frame "moved")
    h0 = fit_homography(flow, exclude=moving)
    if h0 is None:
        return flow, False
    s = grey_t.shape[1] / ww  # flow scale -> ECC scale
    up, down = np.diag([s, s, 1.0]), np.diag([1 / s, 1 / s, 1.0])
    init = (up @ h0 @ down).astype(np.float32)
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-4)
    # the static scene only: a walking person would pull the camera's homography towards its own motion
    mask = cv2.resize((moving < 0.5).astype(np.uint8), grey_t.shape[::-1], interpolation=cv2.INTER_NEAREST)
    try:
        _, h1 = cv2.findTransformECC(grey_t, grey_n, init, cv2.MOTION_HOMOGRAPHY, crit, mask, 3)
    except cv2.error:  # no convergence (flat or too different images)
        return flow, False
    hflow = homography_flow(down @ h1.astype(np.float64) @ up, (hh, ww))
    m = moving[..., None]
    return (hflow * (1 - m) + flow * m).astype(np.float32), True


def fb_consistency(flow_tn: np.ndarray, flow_nt: np.ndarray | None, tol: float = 1.0) -> np.ndarray:
    """0–1 confidence from the forward–backward check, at the flows' scale (``H×W`` float32).

    Args:
        flow_tn: flow from t to n.
        flow_nt: flow from n to t (None: no round trip, only where ``x + flow_tn`` stays inside).
        tol: round-trip error (pixels at this scale) where confidence reaches ~0.

    Returns:
        1 where the round trip returns within a fraction of ``tol``, 0 where it misses by ``tol``
        or more (occlusion, unreliable flow), and 0 where ``x + flow_tn`` leaves frame n.
    """
    hh, ww = flow_tn.shape[:2]
    xx, yy = pixel_grid(hh, ww)
    mx, my = xx + flow_tn[..., 0], yy + flow_tn[..., 1]
    inside = (mx >= 0) & (mx <= ww - 1) & (my >= 0) & (my <= hh - 1)
    if flow_nt is None:
        return inside.astype(np.float32)
    back = cv2.remap(flow_nt, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = _length(flow_tn + back)
    scale = tol + 0.05 * _length(flow_tn)  # large motions get a little more slack
    conf = np.clip(1.5 - err / scale * 1.5, 0, 1)
    return (conf * inside).astype(np.float32)


#: :func:`warp`'s interpolations and their OpenCV flags (the CPU path)
WARP_MODES = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}


def warp(images: torch.Tensor, flow: torch.Tensor, mode: str = "bicubic") -> torch.Tensor:
    """Sample ``images`` (``N×C×H×W``) at ``x + flow(x)`` (``N×2×H×W``, pixels, full scale).

    Bicubic by default: bilinear sampling at half-pixel shifts halves the highest frequencies,
    which would make every warped neighbour look blurrier than it is. ``lanczos`` (8×8 taps,
    Lanczos-4) keeps more of them still: a fine texture shifted by (0.5, 0.3) px and back comes
    out at 26 / 32 / 36 dB bilinear / bicubic / Lanczos.
    """
    n, _, h, w = images.shape
    if flow.shape != (n, 2, h, w):
        raise ValueError(f"warp: flow must be {(n, 2, h, w)}, got {tuple(flow.shape)}")
    if mode not in WARP_MODES:
        raise ValueError(f"warp: mode must be one of {', '.join(WARP_MODES)}, got {mode!r}")
    if images.device.type == "cpu" and images.dtype == torch.float32:  # cv2.remap: ~10× faster than grid_sample on CPU
        xx, yy = pixel_grid(h, w)
        out = []
        for img, fl in zip(images.permute(0, 2, 3, 1).numpy(), flow.numpy()):
            out.append(cv2.remap(img, xx + fl[0], yy + fl[1], WARP_MODES[mode], borderMode=cv2.BORDER_REPLICATE))
        return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)
    if mode == "lanczos":
        return _lanczos_warp(images, flow)
    ys = torch.arange(h, device=images.device, dtype=images.dtype)
    xs = torch.arange(w, device=images.device, dtype=images.dtype)
    gx = (xs.view(1, 1, w) + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys.view(1, h, 1) + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], -1)
    return F.grid_sample(images, grid, mode=mode, padding_mode="border", align_corners=True)


def _lanczos_weights(frac: torch.Tensor) -> torch.Tensor:
    """Lanczos-4 weights of the 8 taps ``floor(p) − 3 … floor(p) + 4`` for the fractions ``p − floor(p)``
    (``…×8``, normalised to sum 1, as OpenCV's ``INTER_LANCZOS4``)."""
    d = frac[..., None] - torch.arange(-3, 5, device=frac.device, dtype=frac.dtype)
    wts = torch.sinc(d) * torch.sinc(d / 4)
    return wts / wts.sum(-1, keepdim=True)


def _lanczos_warp(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """:func:`warp`'s ``lanczos`` for devices without OpenCV's remap (CUDA): 8×8 gathered taps, the
    border replicated. Matches ``cv2.remap`` up to its 1/32-px quantisation of the positions."""
    n, c, h, w = images.shape
    px = torch.arange(w, device=images.device, dtype=torch.float32).view(1, 1, w) + flow[:, 0].float()
    py = torch.arange(h, device=images.device, dtype=torch.float32).view(1, h, 1) + flow[:, 1].float()
    x0, y0 = px.floor(), py.floor()
    wx, wy = _lanczos_weights(px - x0), _lanczos_weights(py - y0)  # N×H×W×8
    taps = torch.arange(-3, 5, device=images.device)
    ix = (x0.long()[..., None] + taps).clamp(0, w - 1)
    iy = (y0.long()[..., None] + taps).clamp(0, h - 1) * w
    flat = images.reshape(n, c, h * w)
    out = torch.zeros_like(images)
    for j in range(8):
        row = torch.zeros_like(images)
        for i in range(8):
            idx = (iy[..., j] + ix[..., i]).view(n, 1, h * w).expand(n, c, h * w)
            row += flat.gather(2, idx).view(n, c, h, w) * wx[..., i][:, None].to(images.dtype)
        out += row * wy[..., j][:, None].to(images.dtype)
    return out


def upsample_flow(flow: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """A small flow (``h×w×2``, small-scale pixels) → ``2×H×W`` at full scale (values rescaled)."""
    hh, ww = size
    sy, sx = hh / flow.shape[0], ww / flow.shape[1]
    # cv2's bilinear resize uses the same half-pixel centres as F.interpolate(align_corners=False),
    # and scales each component on the way out: one pass instead of a resize and two multiplies
    big = cv2.resize(flow, (ww, hh), interpolation=cv2.INTER_LINEAR)
    out = np.empty((2, hh, ww), np.float32)
    np.multiply(big[..., 0], np.float32(sx), out=out[0])
    np.multiply(big[..., 1], np.float32(sy), out=out[1])
    return torch.from_numpy(out)
