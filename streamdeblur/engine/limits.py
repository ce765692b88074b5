"""Allowed ranges of every numeric option: the one table the YAML loader, the command line and
the Python API check against.

A value outside its range is refused with a one-line reason before anything is built (no model
loaded, no file opened), e.g. ``tile must be 0 (whole frames when they fit) or 64…8192, got 7``.
The YAML loader adds the file and line, the command line and the API name the option their way.

Example:
    >>> check_value("tile", 256)
    >>> check_value("tile", 7)
    Traceback (most recent call last):
    ...
    ValueError: tile must be 0 (whole frames when they fit) or 64…8192, got 7
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """A closed interval ``[low, high]`` (``high`` None: unbounded), plus 0 when ``zero`` says what it means."""

    low: float
    high: float | None = None
    zero: str | None = None  #: meaning of 0 where 0 is allowed below ``low`` (e.g. "auto")
    note: str = ""  #: said after the span (where the real bound depends on something else)

    def describe(self) -> str:
        span = f"{self.low:g}…{self.high:g}" if self.high is not None else f"at least {self.low:g}"
        if self.note:
            span = f"{span} ({self.note})"
        return f"0 ({self.zero}) or {span}" if self.zero else span

    def contains(self, value: float) -> bool:
        if self.zero and value == 0:
            return True
        return value >= self.low and (self.high is None or value <= self.high)


#: Option name (``stage.key`` where two stages use a name differently) → allowed range.
RANGES: dict[str, Range] = {
    # pipeline
    "batch": Range(1, 64, zero="auto"),
    "threads": Range(1, 1024, zero="leave as is"),
    # encoder (the encoder's own upper bound is checked by io.encoders)
    "crf": Range(0, 63, note="0…51 for H.264/H.265/MPEG-4, 0…63 for VP9/AV1"),
    # deblur / defocus stages
    "tile": Range(64, 8192, zero="whole frames when they fit"),
    "overlap": Range(0, 1024),
    "max_tiles": Range(1, 4096, zero="auto: 1 on CPU, 8 on CUDA"),
    "max_pixels": Range(64 * 64),
    "work_pixels": Range(64 * 64, zero="no limit"),
    "kernel_size": Range(3, 255),
    # kernel_overlay, compare, unsharp
    "size": Range(16, 2048),
    "opacity": Range(0, 1),
    "compare.position": Range(0, 1),
    "sigma": Range(0.1, 100),
    "amount": Range(0, 20),
    # temporal_fusion (memory: -5 and max_width: 1 ran silently, block: 100000 tried to allocate a terabyte,
    # q_bonus: -7 failed mid-run with "math domain error")
    "temporal_fusion.radius": Range(0, 30),
    "temporal_fusion.block": Range(8, 1024, note="even"),
    "temporal_fusion.p": Range(0, 64),
    "temporal_fusion.gate_tol": Range(0.001, 100),
    "temporal_fusion.bonus": Range(0, 100),
    "temporal_fusion.q": Range(0, 100),
    "temporal_fusion.q_bonus": Range(0, 100),
    "temporal_fusion.pixel_tol": Range(0, 100),
    "temporal_fusion.pixel_sigma": Range(0.1, 100),
    "temporal_fusion.merge": Range(0, 1000),
    "temporal_fusion.flow_width": Range(32, 8192),
    "temporal_fusion.fb_tol": Range(0.01, 1000),
    "temporal_fusion.scale": Range(0.01, 1),
    "temporal_fusion.max_width": Range(64, 16384, zero="no limit"),
    "temporal_fusion.memory": Range(0, 600),
    "temporal_fusion.key_width": Range(32, 8192, zero="off"),
    # command-line only
    "fps": Range(0.001, 1000),
    "start": Range(0),
    "duration": Range(0.001),
    "frames": Range(1),
    "reconnect": Range(0, 1000),
    "segments": Range(1, 100000),
    "segment_seconds": Range(1),
    "workers": Range(1, 100000),
    "retries": Range(0, 100),
}


#: Option name → the values it takes (string options with a fixed set).
CHOICES: dict[str, tuple[str, ...]] = {
    "chroma": ("auto", "420", "422", "444"),
}


def range_of(key: str, owner: str = "") -> Range | None:
    """The range of option ``key`` (of stage ``owner`` when given), or None for options without one."""
    return RANGES.get(f"{owner}.{key}") or RANGES.get(key)


def check_value(key: str, value: object, owner: str = "") -> None:
    """Raise ``ValueError`` when a numeric ``value`` of option ``key`` is out of its range.

    Args:
        key: option name (``tile``, ``crf`` …).
        value: the value; a string is checked against :data:`CHOICES`, other non-numbers (and None:
            not given) are left to the type checks.
        owner: the stage the option belongs to, for names two stages use differently.
    """
    choices = CHOICES.get(key)
    if choices is not None and isinstance(value, str) and value not in choices:
        raise ValueError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    r = range_of(key, owner)
    if r is None or value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if not r.contains(value):
        raise ValueError(f"{key} must be {r.describe()}, got {value:g}")


def check_tiling(tile: int, overlap: int) -> None:
    """Raise ``ValueError`` when tiles would overlap by half or more (every pixel computed twice or more)."""
    if tile and overlap * 2 >= tile:
        raise ValueError(f"overlap must be less than half the tile ({(tile - 1) // 2} at most for tile {tile}), got {overlap}")
