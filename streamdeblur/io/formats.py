"""File kinds by suffix: what is read as a photo, what a folder's videos are, and the containers
the writer can make. Plain tables with no imports, so that the command line can build its parser
and check names without loading PyAV, OpenCV or PyTorch (``streamdeblur --help`` stays fast).

Example:
    >>> ".heic" in IMAGE_EXTS, ".mts" in VIDEO_EXTS, FORMAT_BY_SUFFIX[".mkv"]
    (True, True, 'matroska')
"""

from __future__ import annotations

#: the names a JPEG goes by: Windows saves a picture from the web as ``.jfif``, old cameras and tools wrote ``.jpe``
JPEG_EXTS = (".jpg", ".jpeg", ".jpe", ".jfif")
#: read as image sequences; HEIC/HEIF (iPhone photos) through pillow-heif (io/heif.py)
IMAGE_EXTS = {".png", *JPEG_EXTS, ".bmp", ".tif", ".tiff", ".webp", ".heic", ".heif"}
#: what a folder's videos are (batch, data build): the containers cameras, phones and editors write —
#: AVCHD's .m2ts/.mts, HDV's .m2t, JVC's .mod/.tod, phones' .3gp/.3g2, pro cameras' .mxf, DV, DVD's .vob
VIDEO_EXTS = {
    *(".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v", ".ts", ".mts", ".m2ts", ".m2t", ".mpg", ".mpeg"),
    *(".wmv", ".asf", ".flv", ".3gp", ".3g2", ".mxf", ".dv", ".vob", ".mod", ".tod", ".ogv"),
}
#: the containers the video writer makes, by the output's suffix (FFmpeg's format names)
FORMAT_BY_SUFFIX = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
    ".ts": "mpegts",
}

#: x264's and x265's preset names (the writer's --preset; training's compression of its inputs)
X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")

__all__ = ["FORMAT_BY_SUFFIX", "IMAGE_EXTS", "JPEG_EXTS", "VIDEO_EXTS", "X26X_PRESETS"]
