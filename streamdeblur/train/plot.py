"""A dependency-free line plot (OpenCV drawing) for loss and PSNR curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

_COLOURS = [(200, 90, 30), (40, 140, 230), (60, 170, 60), (160, 60, 200)]


def line_plot(
    path: str | Path,
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    size: tuple[int, int] = (900, 500),
    logy: bool = False,
) -> Path:
    """Draw ``{label: (xs, ys)}`` as lines into a PNG and return its path."""
    w, h = size
    left, right, top, bottom = 80, 20, 40, 50
    img = np.full((h, w, 3), 255, np.uint8)
    pts_all = [(np.asarray(x, float), np.asarray(y, float)) for x, y in series.values() if len(x)]
    if not pts_all:
        cv2.putText(img, "no data", (w // 2 - 40, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 1)
        return _write_png(Path(path), img)
    tf = (lambda v: np.log10(np.maximum(v, 1e-12))) if logy else (lambda v: v)
    xmin = min(x.min() for x, _ in pts_all)
    xmax = max(x.max() for x, _ in pts_all)
    ymin = min(tf(y).min() for _, y in pts_all)
    ymax = max(tf(y).max() for _, y in pts_all)
    xmax, ymax = (xmax if xmax > xmin else xmin + 1), (ymax if ymax > ymin else ymin + 1)

    def px(x, y):
        fx, fy = (x - xmin) / (xmax - xmin), (y - ymin) / (ymax - ymin)
        return left + fx * (w - left - right), h - bottom - fy * (h - top - bottom)

    cv2.rectangle(img, (left, top), (w - right, h - bottom), (0, 0, 0), 1)
    for i in range(5):
        yv = ymin + (ymax - ymin) * i / 4
        _, yp = px(xmin, yv)
        cv2.line(img, (left, int(yp)), (w - right, int(yp)), (225, 225, 225), 1)
        label = f"{10**yv:.3g}" if logy else f"{yv:.3g}"
        cv2.putText(img, label, (5, int(yp) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        xv = xmin + (xmax - xmin) * i / 4
        xp, _ = px(xv, ymin)
        cv2.putText(img, f"{xv:.4g}", (int(xp) - 15, h - bottom + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    for j, (label, (x, y)) in enumerate(series.items()):
        if not len(x):
            continue
        c = _COLOURS[j % len(_COLOURS)]
        pts = np.array([px(a, b) for a, b in zip(np.asarray(x, float), tf(np.asarray(y, float)))], np.int32)
        cv2.polylines(img, [pts], False, c, 2, cv2.LINE_AA)
        cv2.putText(img, label, (left + 10, top + 20 + 18 * j), cv2.FONT_HERSHEY_SIMPLEX, 0.5, c, 1, cv2.LINE_AA)
    cv2.putText(img, title, (left, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, xlabel, (w // 2 - 30, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, ylabel, (5, top - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return _write_png(Path(path), img)


def _write_png(path: Path, img: np.ndarray) -> Path:
    """``img`` as a PNG at ``path``, written under a temporary name and renamed when complete: a plot
    rewritten at every checkpoint was written in place (a reader could see half of it, and a ``loss.png``
    that was a link to another file had that file overwritten)."""
    ok, data = cv2.imencode(".png", img)
    if not ok:
        raise ValueError(f"cannot encode the plot {path}")
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data.tobytes())
    tmp.replace(path)
    return path
