"""Image folders: one image per frame — named and formatted like its input image when it came from
one (``IMG_0012.jpg`` → ``IMG_0012.jpg``), else numbered PNGs (frames of a video)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ...errors import OutputExistsError
from ..formats import JPEG_EXTS
from ..frames import Frame
from ..heif import HEIF_EXTS, encode_heif
from ..photo_meta import (
    cicp_name,
    describes_photo,
    full_chroma,
    is_cmyk,
    is_greyscale,
    jpeg_sampling,
    metadata_for,
    photo_metadata,
    png_with_chunks,
    profile_space,
    with_metadata,
    without_profile,
)
from ..sources.base import IMAGE_EXTS
from .base import SinkError, publish, refuse_overwrite, temporary_path

#: Image formats written under their input's name; others (and frames of videos) become PNG.
KEEP_FORMATS = tuple(sorted(IMAGE_EXTS))  # the formats read as images are the ones written back
JPEG_QUALITY = 95
#: Formats that cannot hold a 16-bit image.
EIGHT_BIT_FORMATS = (*JPEG_EXTS, ".bmp", ".webp")


def write_image(
    path: Path,
    image: np.ndarray,
    metadata_from: str | Path | None = None,
    overwrite: bool = True,
    warn: Callable[[str], None] | None = None,
) -> bool:
    """Write RGB ``image`` to ``path`` atomically (a new temporary file renamed when complete:
    :func:`~.base.temporary_path`), in the format of its extension (JPEG at :data:`JPEG_QUALITY`).

    A picture made from a greyscale photo is written grey, one channel, the mean of the three: the
    models treat R, G and B apart, so a grey photo came back as a colour file with up to 4–6 levels of
    colour noise between its channels.

    Args:
        path: the output file.
        image: ``H×W×3`` RGB, uint8 or uint16.
        metadata_from: the photo this one was made from: a JPEG written from a JPEG takes over its
            EXIF, XMP and ICC profile, a PNG from a PNG its colour and text chunks (:mod:`..photo_meta`).
        overwrite: replace a file that is at ``path`` when the picture is complete (False: refuse).
        warn: hears what of the photo's metadata cannot go along (a CMYK profile on the RGB picture).

    Returns:
        Whether the photo's EXIF, XMP or colour profile were left out because ``path``'s format keeps none
        (TIFF, WebP, BMP: OpenCV's writers); the sinks say so, once per run.
    """
    jpeg = path.suffix.lower() in JPEG_EXTS
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if jpeg else []
    pixels = np.ascontiguousarray(image[..., ::-1])
    source = _read_source(metadata_from)  # read once: grey or not, its JPEG sampling, its metadata
    if path.suffix.lower() == ".webp" and source[:4] == b"RIFF" and not full_chroma(source):
        # a lossy WebP stays lossy (OpenCV's default is lossless: 5.5 times the size of the photo it came from)
        params = [cv2.IMWRITE_WEBP_QUALITY, JPEG_QUALITY]
    sampling = jpeg_sampling(source) if jpeg else None
    if is_greyscale(source):
        pixels = (image.astype(np.float32).mean(axis=2) + 0.5).astype(image.dtype)
    elif sampling in JPEG_SAMPLINGS:  # a 4:4:4 photo stays 4:4:4 (OpenCV writes 4:2:0)
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling]
    elif jpeg and source and full_chroma(source):  # a PNG, TIFF, BMP or lossless WebP has a colour per pixel:
        # kept so (OpenCV's 4:2:0 cost a saturated chart 26.4 dB against 52.2, a photo 39.2 against 41.3)
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    own = photo_metadata(metadata_from, source) if source else []  # parsed once: what goes along, what cannot
    meta = metadata_for(path.suffix, own)  # EXIF, XMP, ICC (PNG's colour, text)
    if jpeg and warn is not None:  # a JPEG segment holds 64 KiB: a larger EXIF (a maker note) or XMP was left out unsaid
        kinds = (("EXIF", b"eXIf", b""), ("XMP", b"iTXt", b"XML:com.adobe.xmp"))  # (PNG-form metadata: PNG, TIFF, WebP, HEIC)
        big = [w for w, kind, key in kinds if any(c[4:8] == kind and c[8:].startswith(key) and len(c) > 0xFFF0 for c in own)]
        if big:
            name = Path(metadata_from).name
            warn(f"{name}'s {' and '.join(big)} is larger than a JPEG can hold (64 KiB): left out (.png keeps it)")
    space = profile_space(meta)
    if space in ("CMYK", "CMY") or (space or "").endswith("CLR"):  # a CMYK JPEG's profile on RGB pixels: an invalid file
        meta = without_profile(meta)
        if warn is not None:
            how = " (its colours converted to sRGB through it when read)" if space == "CMYK" and is_cmyk(source) else ""
            warn(f"{Path(metadata_from).name}'s {space} colour profile is left out: the picture is written RGB{how}")
    # a HEIC's or PNG's CICP colour space: JPEG has no place for it; a profile saying it was made where one
    # can (Display P3 and the like: io/icc.py), else it is said
    cicp = cicp_name(own) if jpeg and profile_space(meta) is None else None
    if cicp and warn is not None:
        warn(
            f"{Path(metadata_from).name}'s colour space ({cicp}) is given as CICP, which a JPEG cannot hold (it takes "
            "ICC profiles only, and no simple profile says this one): read as sRGB, its colours look wrong "
            "(.png or .heic keep it)"
        )
    if path.suffix.lower() in HEIF_EXTS:  # grey as three equal channels: a HEIC written here is RGB
        try:
            data = encode_heif(image if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2), meta)
        except (ValueError, RuntimeError, OSError) as exc:  # libheif's encoder refused
            raise SinkError(f"cannot write {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    else:
        try:
            # by the format, not the name: OpenCV knows no .jfif (a JPEG by another name)
            ok, buf = cv2.imencode(".jpg" if jpeg else path.suffix, pixels, params)
        except cv2.error:
            ok = False
        if not ok:
            raise SinkError(f"cannot write {path}")
        data = buf.tobytes()
        if meta:
            data = with_metadata(data, meta) if jpeg else png_with_chunks(data, meta)
    tmp = temporary_path(path)
    try:
        tmp.write_bytes(data)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SinkError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        publish(tmp, path, overwrite)
    except SinkError:
        tmp.unlink(missing_ok=True)  # a picture is made again in a moment: no partial to keep
        raise
    return path.suffix.lower() not in (*JPEG_EXTS, ".png", *HEIF_EXTS) and bool(describes_photo(own))


#: the chroma samplings OpenCV's JPEG writer takes (``IMWRITE_JPEG_SAMPLING_FACTOR_*``)
JPEG_SAMPLINGS = {getattr(cv2, f"IMWRITE_JPEG_SAMPLING_FACTOR_{n}") for n in ("411", "420", "422", "440", "444")}


def _read_source(path: str | Path | None) -> bytes:
    """The bytes of the photo a picture was made from (b"" when there is none or it cannot be read):
    its header says whether it is grey and how its JPEG chroma is sampled (a TIFF's directory may be at its end)."""
    if path is None:
        return b""
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


class ImageSink:
    """Frames as images in a folder, each written atomically.

    A frame that came from an image file keeps its name and format (a 16-bit frame whose format
    cannot hold 16 bits becomes PNG); other frames are numbered PNGs (16-bit for deep sources).

    Args:
        folder: the output folder (created).
        pattern: names of frames that did not come from image files.
        overwrite: replace images already in the folder; without it an existing image is an error
            (:class:`OutputExistsError`), checked for every frame before it is written.
        inputs: the input images: never written over, even with ``overwrite``.
    """

    def __init__(
        self,
        folder: str | Path,
        pattern: str = "frame_{index:06d}.png",
        overwrite: bool = False,
        inputs: list[Path] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.warn = warn
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():  # /dev/stdout, a file without a suffix
            raise SinkError(
                f"{self.folder} is not a folder: an output without a suffix is a folder of images "
                "(give a video file name such as out.mp4, or a folder)"
            )
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create the output folder {self.folder}: {exc.strerror or exc}") from None
        self.pattern = pattern
        self.overwrite = overwrite
        self.inputs = list(inputs or [])
        self.frames_written = 0
        self._bare_said: set[str] = set()  #: formats said to be written without the photos' metadata

    def check(self, frame_sources: list[Path] | None) -> None:
        """Refuse, before anything is written, outputs that would replace an input or (without
        ``overwrite``) an existing image: every input image's name, or the numbered frames of a video.

        Raises:
            SinkError: an output is one of the inputs (``-o`` the input folder).
            OutputExistsError: an output exists and ``overwrite`` was not given.
        """
        if frame_sources is None:  # frames of a video: numbered; any numbered frame there is met sooner or later
            taken = self._numbered() if not self.overwrite else []
            if taken:  # (frame_000040.png alone was found after 40 frames had been written: a mixed folder)
                raise OutputExistsError(taken[0])
            return
        for src in frame_sources:
            self._check_one(self.folder / src.name, src)

    def _numbered(self) -> list[Path]:
        """The files in the folder that the numbered pattern names (``frame_000040.png``), sorted."""
        head, _, rest = self.pattern.partition("{")
        tail = rest.partition("}")[2]
        number = re.compile(re.escape(head) + r"\d+" + re.escape(tail) + r"\Z")
        return sorted(p for p in self.folder.iterdir() if number.match(p.name))

    def _check_one(self, target: Path, src: Path | None) -> None:
        if target.exists():  # the common case, a new name, costs one stat
            inputs = ([src] if src is not None else []) + self.inputs
            refuse_overwrite(target, inputs, self.overwrite, what="an input image (give another folder)")

    def path_for(self, frame: Frame) -> Path:
        """Where ``frame`` goes: its source image's name and format, or the numbered pattern."""
        src = Path(frame.source) if frame.source else None
        if src is None or src.suffix.lower() not in KEEP_FORMATS:
            return self.folder / self.pattern.format(index=frame.index)
        if frame.image.dtype == np.uint16 and src.suffix.lower() in EIGHT_BIT_FORMATS:
            return self.folder / f"{src.stem}.png"
        return self.folder / src.name

    def write(self, frame: Frame) -> None:
        path = self.path_for(frame)
        self._check_one(path, Path(frame.source) if frame.source else None)  # the safety net behind check()
        bare = write_image(path, frame.image, metadata_from=frame.source or None, overwrite=self.overwrite, warn=self.warn)
        suffix = path.suffix.lower()
        if bare and self.warn is not None and suffix not in self._bare_said:
            # as a single photo's run says it: a folder's Adobe RGB TIFFs came out untagged without a word
            self._bare_said.add(suffix)
            self.warn(
                f"{suffix} photos are written without their EXIF, XMP and colour profile, {Path(frame.source).name} "
                "the first (.jpg, .png and .heic keep them)"
            )
        self.frames_written += 1

    def close(self, complete: bool = True) -> Path:
        return self.folder


class ImageFileSink:
    """One picture to one image file (``streamdeblur run photo.jpg -o sharp.jpg``), written atomically.

    The format is the file's extension; a 16-bit frame written to a format without 16 bits (JPEG,
    BMP, WebP) is rounded to 8 bits. A second frame is an error: an image file holds one picture.
    """

    def __init__(self, path: str | Path, warn: Callable[[str], None] | None = None, overwrite: bool = True) -> None:
        self.path = Path(path)
        self.overwrite = overwrite  #: replace a file that took the name while the picture was made
        if self.path.suffix.lower() not in KEEP_FORMATS:
            raise SinkError(f"{self.path}: not an image format ({', '.join(KEEP_FORMATS)})")
        self.frames_written = 0
        self.warn = warn or (lambda msg: None)

    def write(self, frame: Frame) -> None:
        if self.frames_written:
            raise SinkError(f"{self.path} is one image file and the input has more than one frame: give a folder (-o out/)")
        img = frame.image
        suffix = self.path.suffix.lower()
        if img.dtype == np.uint16 and suffix in EIGHT_BIT_FORMATS:
            img = ((img.astype(np.float32) / 257.0) + 0.5).astype(np.uint8)
            bits = frame.color.bit_depth if frame.color.bit_depth > 8 else 16  # a 10-bit HEIC's pixels are scaled to 16
            self.warn(f"the picture has {bits} bits per channel; {suffix} holds 8: written 8-bit (.png or .tif keep them)")
        if write_image(self.path, img, metadata_from=frame.source or None, overwrite=self.overwrite, warn=self.warn):
            self.warn(f"{suffix} is written without the photo's EXIF, XMP and colour profile (.jpg, .png and .heic keep them)")
        self.frames_written += 1

    def close(self, complete: bool = True) -> Path:
        return self.path
