"""HDR10's static metadata, carried from the source to the encoder: the mastering display and light levels.

An HDR10 clip (PQ transfer; Android phones, action cams, graded footage) says how bright and how
wide a display it was mastered on (SMPTE ST 2086) and how bright its brightest pixel and frame are
(MaxCLL, MaxFALL). Players and TVs tone-map with these; without them they guess. The transfer,
primaries and matrix are carried by :mod:`.color`; this module carries the rest into H.265 (the
encoder a 10-bit source gets by default). FFmpeg's decoder attaches both to every decoded frame;
x265 takes them as encoder parameters.

Example:
    >>> m = HdrMetadata(((0.68, 0.32), (0.265, 0.69), (0.15, 0.06)), (0.3127, 0.329), (0.005, 1000.0), 1000, 400)
    >>> m.encoder_params("libx265")
    'master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50):max-cll=1000,400'
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class HdrMetadata:
    """Static HDR metadata.

    Attributes:
        primaries: the mastering display's red, green, blue CIE 1931 xy, or None.
        white: its white point xy, or None.
        luminance: its (min, max) luminance in cd/m², or None.
        max_cll: brightest pixel of the content, cd/m² (None: unknown).
        max_fall: brightest frame average, cd/m² (None: unknown).
    """

    primaries: tuple[tuple[float, float], tuple[float, float], tuple[float, float]] | None = None
    white: tuple[float, float] | None = None
    luminance: tuple[float, float] | None = None
    max_cll: int | None = None
    max_fall: int | None = None

    def encoder_params(self, codec: str) -> str:
        """The ``x265-params`` (or ``svtav1-params``) string that writes this metadata (empty for other
        encoders: this build's x264 takes ``mastering-display`` without writing it; VP9 has no field)."""
        if codec == "libsvtav1":
            return self._svt_params()
        if codec != "libx265":
            return ""
        parts = []
        if self.primaries is not None and self.white is not None and self.luminance is not None:
            (rx, ry), (gx, gy), (bx, by) = self.primaries

            def xy(x: float, y: float) -> str:  # chromaticity in units of 0.00002
                return f"({round(x * 50000)},{round(y * 50000)})"

            lum = f"L({round(self.luminance[1] * 10000)},{round(self.luminance[0] * 10000)})"  # 0.0001 cd/m², max first
            parts.append(f"master-display=G{xy(gx, gy)}B{xy(bx, by)}R{xy(rx, ry)}WP{xy(*self.white)}{lum}")
        if self.max_cll is not None:
            parts.append(f"max-cll={self.max_cll},{self.max_fall or 0}")
        return ":".join(parts)

    def _svt_params(self) -> str:
        """SVT-AV1's spelling: chromaticities and luminance as decimals (cd/m², max first)."""
        parts = []
        if self.primaries is not None and self.white is not None and self.luminance is not None:
            (rx, ry), (gx, gy), (bx, by) = self.primaries

            def xy(x: float, y: float) -> str:
                return f"({x:.4f},{y:.4f})"

            lum = f"L({self.luminance[1]:.4f},{self.luminance[0]:.4f})"
            parts.append(f"mastering-display=G{xy(gx, gy)}B{xy(bx, by)}R{xy(rx, ry)}WP{xy(*self.white)}{lum}")
        if self.max_cll is not None:
            parts.append(f"content-light={self.max_cll},{self.max_fall or 0}")
        return ":".join(parts)


def _rationals(raw: bytes, n: int) -> list[float]:
    vals = struct.unpack(f"<{2 * n}i", raw[: 8 * n])
    return [num / den if den else 0.0 for num, den in zip(vals[::2], vals[1::2])]


def frame_hdr(frame) -> HdrMetadata | None:
    """The HDR10 metadata a decoded PyAV frame carries, or None."""
    try:
        from av.sidedata.sidedata import Type

        md = frame.side_data.get(Type.MASTERING_DISPLAY_METADATA)
        cl = frame.side_data.get(Type.CONTENT_LIGHT_LEVEL)
    except Exception:  # noqa: BLE001 - an old PyAV or an odd frame: nothing known
        return None
    primaries = white = luminance = None
    if md is not None and len(bytes(md)) >= 88:
        raw = bytes(md)
        v = _rationals(raw, 10)  # r, g, b (x, y), white (x, y), min, max
        has_primaries, has_luminance = struct.unpack("<ii", raw[80:88])
        if has_primaries:
            primaries = ((v[0], v[1]), (v[2], v[3]), (v[4], v[5]))
            white = (v[6], v[7])
        if has_luminance:
            luminance = (v[8], v[9])
    max_cll = max_fall = None
    if cl is not None and len(bytes(cl)) >= 8:
        max_cll, max_fall = struct.unpack("<II", bytes(cl)[:8])
    if primaries is None and luminance is None and max_cll is None:
        return None
    return HdrMetadata(primaries, white, luminance, max_cll, max_fall)
