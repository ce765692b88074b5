"""Realistic synthetic blur: camera-shake kernels, frame averaging, spatially varying blur,
sensor noise and compression — in linear light.

A camera integrates *light*, so blur is applied to linear intensities: undo the sRGB transfer,
blur, add sensor noise, re-apply the transfer, then compress as a phone or camera would. Every
sample keeps its true kernel(s) for evaluation (non-blind references) and analysis.

Camera-shake kernels follow Boracchi & Foi, "Modeling the performance of image restoration from
motion blur" (IEEE TIP 2012): a random 2-D trajectory with inertia (velocity kept between
samples), a random pull towards the centre, Gaussian velocity perturbations and rare impulsive
jerks; the kernel is the trajectory's occupation density over the exposure, rasterised with
bilinear sub-pixel splatting.

All functions take ``numpy.random.Generator`` for reproducibility.

Example:
    >>> rng = np.random.default_rng(0)
    >>> k = shake_kernel(rng, size=21)
    >>> k.shape, round(float(k.sum()), 6)
    ((21, 21), 1.0)
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import cv2
import numpy as np

# -- colour transfer -------------------------------------------------------------------------


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] → linear light (IEC 61966-2-1)."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] → sRGB-encoded values."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


# -- kernels ----------------------------------------------------------------------------------


def trajectory(
    rng: np.random.Generator, length: float, samples: int = 1024, anxiety: float | None = None, impulse_prob: float | None = None
) -> np.ndarray:
    """Random camera-shake trajectory (complex positions, pixels), Boracchi–Foi style.

    Args:
        rng: random generator.
        length: target total path length in pixels (the path is rescaled to it).
        samples: number of time samples over the exposure.
        anxiety: amount of random velocity change (default random in [0.005, 0.1]).
        impulse_prob: probability per sample of an abrupt jerk (default random in [0, 0.05]).

    Returns:
        ``samples`` complex positions, centred on their mean.
    """
    anxiety = rng.uniform(0.005, 0.1) if anxiety is None else anxiety
    impulse_prob = rng.uniform(0.0, 0.05) if impulse_prob is None else impulse_prob
    centripetal = 0.7 * rng.uniform()
    gaussian_term = 10.0 * rng.uniform()
    v = np.exp(1j * rng.uniform(0, 2 * np.pi)) * length / (samples - 1)
    x = np.zeros(samples, dtype=np.complex128)
    for t in range(samples - 1):
        if rng.uniform() < impulse_prob:
            jerk = 2 * v * np.exp(1j * np.pi * (rng.uniform() - 0.5))
        else:
            jerk = 0.0
        dv = jerk + anxiety * (gaussian_term * complex(rng.normal(), rng.normal()) - centripetal * x[t]) * (
            length / (samples - 1)
        )
        v = v + dv
        v = v / (abs(v) + 1e-12) * length / (samples - 1)
        x[t + 1] = x[t] + v
    x -= x.mean()
    path = np.abs(np.diff(x)).sum()
    if path > 0:
        x *= length / path
    return x


def rasterise(points: np.ndarray, size: int) -> np.ndarray:
    """Occupation density of complex ``points`` on a ``size×size`` grid (bilinear splatting), sum 1."""
    k = np.zeros((size, size), dtype=np.float64)
    c = (size - 1) / 2
    xs = np.clip(points.real + c, 0, size - 1 - 1e-6)
    ys = np.clip(points.imag + c, 0, size - 1 - 1e-6)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    np.add.at(k, (y0, x0), (1 - fx) * (1 - fy))
    np.add.at(k, (y0, x0 + 1), fx * (1 - fy))
    np.add.at(k, (y0 + 1, x0), (1 - fx) * fy)
    np.add.at(k, (y0 + 1, x0 + 1), fx * fy)
    return (k / k.sum()).astype(np.float32)


def shake_kernel(rng: np.random.Generator, size: int, exposure: float | None = None) -> np.ndarray:
    """A camera-shake kernel of odd ``size`` (7..65 px) from a random trajectory.

    Args:
        rng: random generator.
        size: kernel side (odd); the trajectory's extent is between ``size/2`` and ``size``.
        exposure: fraction of the trajectory recorded (default random in [0.5, 1]).

    Returns:
        ``size×size`` float32 kernel summing to 1.
    """
    if size % 2 == 0 or size < 3:
        raise ValueError(f"kernel size must be odd and >= 3, got {size}")
    exposure = rng.uniform(0.5, 1.0) if exposure is None else exposure
    pts = trajectory(rng, length=rng.uniform(0.5, 1.5) * size)
    pts = pts[: max(2, int(len(pts) * exposure))]
    pts = pts - (pts.real.max() + pts.real.min()) / 2 - 1j * (pts.imag.max() + pts.imag.min()) / 2
    span = max(np.ptp(pts.real), np.ptp(pts.imag), 1e-6)
    # the blur's extent is what ``size`` promises: between half the kernel and the whole of it
    target = float(np.clip(span, 0.5 * (size - 3), size - 3))
    return rasterise(pts * (target / span), size)


def small_kernel(rng: np.random.Generator, extent: float, size: int = 7) -> np.ndarray:
    """A nearly sharp kernel: a shake trajectory of at most ``extent`` px (0: the identity).

    Args:
        rng: random generator.
        extent: largest side of the trajectory's bounding box, pixels (0..``size - 3``).
        size: kernel side (odd).

    Returns:
        ``size×size`` float32 kernel summing to 1.
    """
    if extent <= 0:
        k = np.zeros((size, size), dtype=np.float32)
        k[size // 2, size // 2] = 1.0
        return k
    pts = trajectory(rng, length=rng.uniform(1.0, 2.0) * extent)
    pts = pts - (pts.real.max() + pts.real.min()) / 2 - 1j * (pts.imag.max() + pts.imag.min()) / 2
    span = max(np.ptp(pts.real), np.ptp(pts.imag), 1e-6)
    return rasterise(pts * (min(extent, size - 3) / span), size)


def line_kernel(size: int, angle_deg: float, length: float | None = None) -> np.ndarray:
    """Straight-line motion kernel at ``angle_deg`` (0° = horizontal, counter-clockwise)."""
    length = size - 2 if length is None else length
    t = np.linspace(-0.5, 0.5, 4 * size) * length
    a = np.deg2rad(angle_deg)
    return rasterise(t * np.cos(a) - 1j * t * np.sin(a), size)


# -- applying blur -----------------------------------------------------------------------------


def convolve(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve an ``H×W×C`` float image with a 2-D kernel (reflect border)."""
    return cv2.filter2D(img, -1, kernel[::-1, ::-1].copy(), borderType=cv2.BORDER_REFLECT)


def smooth_weights(rng: np.random.Generator, h: int, w: int, n: int) -> np.ndarray:
    """``n`` smooth non-negative maps summing to 1 per pixel (for blending spatially varying blur)."""
    low = rng.normal(size=(n, 4, 4)).astype(np.float32) * 2.5
    maps = np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_CUBIC) for m in low])
    maps = np.exp(maps - maps.max(0, keepdims=True))
    return maps / maps.sum(0, keepdims=True)


def add_sensor_noise(rng: np.random.Generator, lin: np.ndarray, shot: float, read: float) -> np.ndarray:
    """Shot (signal-dependent) plus read noise on linear intensities."""
    var = shot * np.clip(lin, 0, None) + read**2
    return lin + rng.normal(size=lin.shape).astype(np.float32) * np.sqrt(var).astype(np.float32)


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A value between ``lo`` and ``hi``, uniform in log scale."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def crf_to_jpeg_quality(crf: int) -> int:
    """JPEG quality with roughly the PSNR of one H.264 intra frame at ``crf`` (17 → 95, 28 → 75)."""
    return int(np.clip(round(95 - (crf - 17) * 20 / 11), 50, 98))


def jpeg(img_u8: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img_u8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def h264(img_u8: np.ndarray, crf: int, preset: str = "ultrafast") -> np.ndarray:
    """Round-trip one frame through libx264 (4:2:0) at ``crf``, as a phone's encoder would.

    Without PyAV (e.g. a bare GPU machine) the frame goes through a 4:2:0 JPEG at the quality
    :func:`crf_to_jpeg_quality` maps ``crf`` to instead: block-DCT quantisation and chroma
    subsampling, like an intra-coded H.264 frame (an approximation, recorded in ``info``).
    """
    try:
        import av
    except ImportError:
        return jpeg(img_u8, crf_to_jpeg_quality(crf))

    h, w = img_u8.shape[:2]
    bio = io.BytesIO()
    with av.open(bio, "w", format="matroska") as out:
        s = out.add_stream("libx264", rate=25, options={"crf": str(crf), "preset": preset, "tune": "zerolatency"})
        s.width, s.height, s.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img_u8[: s.height, : s.width]), format="rgb24")
        for p in s.encode(frame):
            out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    bio.seek(0)
    with av.open(bio) as inp:
        dec = next(inp.decode(video=0)).to_ndarray(format="rgb24")
    res = img_u8.copy()
    res[: dec.shape[0], : dec.shape[1]] = dec
    return res


@dataclass
class BlurConfig:
    """Strengths of the synthetic degradations (defaults: hand-held phone video, the do-no-harm mix).

    Every sample gets sensor noise and compression (what every real frame has); a share
    ``p_sharp`` gets no blur or very small blur (extent up to ``sharp_extent`` px) so the model
    learns to leave sharp frames alone; the rest get camera shake up to ``kernel_sizes[1] - 3`` px
    (hand-held 30 fps video: 1/30 s exposure at up to ~20°/s of shake or pan at ~30 px/° for
    1080p gives ≤ 20 px, fast pans up to ~40 px).
    """

    kernel_sizes: tuple[int, int] = (7, 45)
    p_sharp: float = 0.25
    p_identity: float = 0.4  #: of the sharp share: exactly no blur (the rest: 0.5..sharp_extent px)
    sharp_extent: float = 3.0
    p_spatially_varying: float = 0.25
    p_noise: float = 1.0
    shot: tuple[float, float] = (1e-5, 1e-3)  #: log-uniform; linear-light variance per unit intensity
    read: tuple[float, float] = (2e-4, 3e-3)  #: log-uniform; linear-light read-noise σ
    p_jpeg: float = 0.2
    jpeg_quality: tuple[int, int] = (75, 95)
    p_h264: float = 0.8
    h264_crf: tuple[int, int] = (17, 28)  #: phones record ≈ crf 17-23; streamdeblur encodes at 18; shared video ≈ 23-28
    h264_presets: tuple[str, ...] = ("ultrafast", "veryfast", "medium")
    #: share of samples from a *clean* camera: no sensor noise and nearly lossless H.264 at ``clean_crf``
    #: (screen recordings, downscaled 4K, high-bitrate files): a model that has only seen noisy, compressed
    #: input has no way to learn to leave clean input alone (tried: ``configs/motion-t-clean.yaml``, not shipped).
    #: Drawn only when > 0, so older recipes draw as before.
    p_clean: float = 0.0
    clean_crf: tuple[int, int] = (8, 12)


@dataclass
class BlurSample:
    """One synthetic pair; images are ``H×W×3`` uint8 sRGB."""

    blurry: np.ndarray
    sharp: np.ndarray
    kernels: list[np.ndarray]
    weights: np.ndarray | None = None  #: ``n×H×W`` blend maps when spatially varying
    info: dict = field(default_factory=dict)
    radius: np.ndarray | None = None  #: defocus: per-pixel PSF radius (``H×W``)


def random_kernel_size(rng: np.random.Generator, lo: int, hi: int) -> int:
    """Odd size in [lo, hi], biased towards small kernels (most real shake is mild)."""
    s = lo + (hi - lo) * rng.uniform() ** 1.7
    return int(s) | 1


def degrade(rng: np.random.Generator, blurred_lin: np.ndarray, cfg: BlurConfig, info: dict) -> np.ndarray:
    """Sensor noise on linear light, sRGB encoding, then JPEG or H.264 compression → uint8 (or, for a
    share ``p_clean``, no noise and nearly lossless H.264)."""
    if cfg.p_clean > 0 and rng.uniform() < cfg.p_clean:
        crf = int(rng.integers(cfg.clean_crf[0], cfg.clean_crf[1] + 1))
        out = (linear_to_srgb(blurred_lin) * 255.0 + 0.5).astype(np.uint8)
        info.update(clean=True, h264=crf)
        return h264(out, crf, str(cfg.h264_presets[int(rng.integers(len(cfg.h264_presets)))]))
    if rng.uniform() < cfg.p_noise:
        shot, read = log_uniform(rng, *cfg.shot), log_uniform(rng, *cfg.read)
        blurred_lin = add_sensor_noise(rng, blurred_lin, shot, read)
        info.update(shot=shot, read=read)
    out = (linear_to_srgb(blurred_lin) * 255.0 + 0.5).astype(np.uint8)
    r = rng.uniform()
    if r < cfg.p_jpeg:
        q = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        out, info["jpeg"] = jpeg(out, q), q
    elif r < cfg.p_jpeg + cfg.p_h264:
        crf = int(rng.integers(cfg.h264_crf[0], cfg.h264_crf[1] + 1))
        preset = str(cfg.h264_presets[int(rng.integers(len(cfg.h264_presets)))])
        out, info["h264"] = h264(out, crf, preset), crf
    return out


def synthesize(
    rng: np.random.Generator, sharp_u8: np.ndarray, cfg: BlurConfig | None = None, margin: int | None = None
) -> BlurSample:
    """Blur a sharp sRGB crop realistically.

    Args:
        rng: random generator.
        sharp_u8: ``H×W×3`` uint8 sRGB image; blurred with a reflect border, then ``margin``
            pixels are cut from every side of both outputs so no border effect remains.
        cfg: degradation strengths.
        margin: pixels trimmed per side (default: half the largest kernel).

    Returns:
        :class:`BlurSample` with the trimmed blurry/sharp pair and the true kernel(s).
    """
    cfg = cfg or BlurConfig()
    lin = srgb_to_linear(sharp_u8.astype(np.float32) / 255.0).astype(np.float32)
    h, w = lin.shape[:2]
    info: dict = {}
    if rng.uniform() < cfg.p_sharp:
        n = 1
        extent = 0.0 if rng.uniform() < cfg.p_identity else rng.uniform(0.5, cfg.sharp_extent)
        kernels = [small_kernel(rng, extent)]
        info["extent"] = round(float(extent), 3)
    else:
        n = 2 if rng.uniform() < cfg.p_spatially_varying else 1
        kernels = [shake_kernel(rng, random_kernel_size(rng, *cfg.kernel_sizes)) for _ in range(n)]
    if n == 1:
        blurred, weights = convolve(lin, kernels[0]), None
    else:
        weights = smooth_weights(rng, h, w, n)
        blurred = sum(convolve(lin, k) * wgt[..., None] for k, wgt in zip(kernels, weights))
    info["kernel_sizes"] = [k.shape[0] for k in kernels]
    out = degrade(rng, blurred, cfg, info)
    m = max(k.shape[0] for k in kernels) // 2 if margin is None else margin
    sl = (slice(m, h - m), slice(m, w - m))
    return BlurSample(out[sl], sharp_u8[sl].copy(), kernels, None if weights is None else weights[:, sl[0], sl[1]], info)


def average_frames(rng: np.random.Generator, frames_u8: list[np.ndarray], cfg: BlurConfig | None = None) -> BlurSample:
    """GoPro-style blur: average consecutive sharp frames in linear light; the middle frame is sharp."""
    cfg = cfg or BlurConfig()
    lin = np.mean([srgb_to_linear(f.astype(np.float32) / 255.0) for f in frames_u8], axis=0).astype(np.float32)
    info: dict = {"frames_averaged": len(frames_u8)}
    return BlurSample(degrade(rng, lin, cfg, info), frames_u8[len(frames_u8) // 2].copy(), [], None, info)
