"""Reading images for analysis: orientation, colour modes, shrink-on-load and size limits.

Reading (:func:`load_image`) is built for speed on large photos: JPEGs are decoded at a reduced
scale with Pillow's draft mode (the DCT scaling of libjpeg), so a 24 MP photo is analysed at a few
hundred pixels without a full decode. Whatever the source (JPEG, PNG, WebP, TIFF, BMP, GIF; grey,
palette, CMYK, 16-bit, alpha), the result is an oriented 8-bit RGB array plus the size of the
*oriented original*, which is the coordinate system of every box procrop reports.

Writing lives in :mod:`procrop.imaging.save`, listing input files in :mod:`procrop.imaging.files`."""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import ImageLoadError

#: Default limit on decoded pixels (width x height of the original) before a file is refused.
DEFAULT_MAX_PIXELS = 180_000_000
#: The decode before its shrink to the working size is kept (:attr:`LoadedImage.decoded`) when it
#: is at most this many times that size on its long side (a JPEG's DCT-scaled decode always is).
DECODED_KEPT = 2.5
#: Formats procrop reads. Others that Pillow happens to open are refused with a clear message.
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "TIFF", "BMP", "GIF"})
#: File extensions that folder scans pick up.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"})

ImageSource = Union[str, os.PathLike, Image.Image, np.ndarray, bytes]

_EXIF_ORIENTATION_TAG = 0x0112  # EXIF orientation -> the Pillow transposition that undoes it (below)
_ORIENTATION_TRANSPOSE: dict[int, Image.Transpose | None] = {
    1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class LoadedImage:
    """An image ready for analysis.

    Attributes:
        pixels: ``(h, w, 3)`` uint8 RGB array of the oriented image at working size.
        width, height: size in pixels of the oriented original; boxes are reported in this frame.
        path: the file it came from, or ``None`` for in-memory input.
        format: Pillow's format name (``"JPEG"``, ``"PNG"``...) or ``None`` for arrays.
        orientation: the EXIF orientation (1-8) that was applied.
        icc_profile: the embedded ICC profile, kept for writing crops.
        has_alpha: the source had transparency (composited over white for analysis).
        decoded_size: ``(w, h)`` at which the file was actually decoded (smaller than the
            original for JPEGs thanks to shrink-on-load), before orientation.
        detail: a larger ``(h', w', 3)`` copy for the neural detectors (small faces need more
            pixels than the composition analysis), or ``None`` when none was asked for.
        decoded: without ``detail``, the decode before its shrink to the working size (a JPEG's
            DCT-scaled decode, up to twice as large), where a thin scan border still shows; else ``None``.
        encoded: the encoded bytes it was read from (``None`` for a path, a Pillow image or an array).
    """

    pixels: np.ndarray
    width: int
    height: int
    path: str | None = None
    format: str | None = None
    orientation: int = 1
    icc_profile: bytes | None = field(default=None, repr=False)
    has_alpha: bool = False
    decoded_size: tuple[int, int] | None = None
    detail: np.ndarray | None = field(default=None, repr=False)
    decoded: np.ndarray | None = field(default=None, repr=False)
    encoded: bytes | None = field(default=None, repr=False)

    @property
    def detection_pixels(self) -> np.ndarray:
        """The pixels detectors should look at: :attr:`detail` when there is one."""
        return self.detail if self.detail is not None else self.pixels

    @property
    def border_pixels(self) -> np.ndarray:
        """The largest copy at hand, for finding a thin scan border (a 1-px line of a 768-px scan
        is gone at 416 px): :attr:`decoded` (the decode before its shrink, kept when it is at most
        :data:`DECODED_KEPT` times the size asked for: a JPEG decoded by DCT scaling), :attr:`detail`
        or :attr:`pixels`."""
        copies = [c for c in (self.decoded, self.detail, self.pixels) if c is not None]
        return max(copies, key=lambda c: c.shape[0] * c.shape[1])

    @property
    def scale(self) -> float:
        """Original pixels per working pixel (the same on both axes up to rounding)."""
        return self.width / self.pixels.shape[1]

    @property
    def working_size(self) -> tuple[int, int]:
        """``(w, h)`` of :attr:`pixels`."""
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def name(self) -> str:
        """A label for messages and JSON: the path (or the ``name`` given), else ``<in-memory image>``
        (the word :class:`~procrop.errors.ImageLoadError` uses) for bytes, a Pillow image or an array."""
        return self.path if self.path is not None else "<in-memory image>"


# ---- Reading -------------------------------------------------------------------------------


def working_size_for(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Size ``(w, h)`` that fits ``max_side`` on the long side, never upscaling, each side >= 1."""
    k = min(1.0, max_side / max(width, height))
    return max(1, round(width * k)), max(1, round(height * k))


def exif_orientation(im: Image.Image) -> int:
    """The EXIF orientation of ``im`` (1-8); 1 when absent or invalid."""
    try:
        value = im.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # corrupt EXIF must not make an otherwise good image unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """Size ``(w, h)`` after applying an EXIF orientation (5-8 swap the axes)."""
    w, h = size
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def apply_orientation(im: Image.Image, orientation: int) -> Image.Image:
    """Return ``im`` transposed so that it displays upright for the given EXIF orientation."""
    op = _ORIENTATION_TRANSPOSE.get(orientation)
    return im if op is None else im.transpose(op)


def to_rgb_array(im: Image.Image) -> tuple[np.ndarray, bool]:
    """Convert any Pillow mode to an 8-bit RGB array.

    Grey, palette and CMYK go through Pillow's conversions (with the embedded ICC profile for
    CMYK when littleCMS is available); 16/32-bit integer and float images are scaled by their
    nominal range; transparency is composited over white.

    Returns:
        ``(array of shape (h, w, 3) uint8, had_alpha)``.
    """
    mode = im.mode
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode == "P" and "transparency" in im.info
    )
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im).astype(np.float32)
        if mode == "F":
            top = 1.0 if arr.size and float(np.nanmax(arr)) <= 1.0 else 255.0
            if arr.size and float(np.nanmax(arr)) > 255.0:
                top = float(np.nanmax(arr))
        else:
            peak = float(arr.max()) if arr.size else 0.0
            top = 255.0 if peak <= 255 else (65535.0 if peak <= 65535 else peak)
        arr = np.nan_to_num(arr, nan=0.0)
        grey = np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2), False
    if mode == "CMYK":
        rgb = _cmyk_to_rgb(im)
        return np.asarray(rgb), False
    if has_alpha:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        background.alpha_composite(rgba)
        return np.asarray(background.convert("RGB")), True
    if mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im), False


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    profile = im.info.get("icc_profile")
    if profile:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
        except Exception:  # no littleCMS, or a broken profile: fall back to the naive formula
            pass
    return im.convert("RGB")


def _open(source: str | os.PathLike | bytes, label: str | None) -> Image.Image:
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageLoadError(label, "empty data (0 bytes)")
        fp: Any = io.BytesIO(source)
    else:
        path = Path(source)
        if not path.exists():
            raise ImageLoadError(label, "no such file")
        if path.is_dir():
            raise ImageLoadError(label, "is a directory, not an image file")
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ImageLoadError(label, f"cannot read: {exc.strerror or exc}") from exc
        if size == 0:
            raise ImageLoadError(label, "empty file (0 bytes)")
        fp = path
    try:
        with warnings.catch_warnings():
            # procrop enforces its own pixel limit (max_pixels) with its own message; Pillow's
            # warning for images between its limit and twice it would only be noise
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(label, _bomb(exc)) from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(label, "not an image file (unknown or unsupported format)") from exc
    except PermissionError as exc:
        raise ImageLoadError(label, "permission denied") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(label, f"cannot open image: {exc}") from exc


def _bomb(exc: Image.DecompressionBombError) -> str:
    """Pillow's refusal of an image over its own limit, in :func:`_check_image`'s words when they parse."""
    found = re.search(r"\((\d+) pixels\) exceeds limit of (\d+)", str(exc))
    if found is None:
        return f"refused as a decompression bomb: {exc}"
    pixels, limit = int(found[1]), int(found[2])
    return f"{pixels:,} pixels exceeds the limit of {limit:,} (Pillow's decompression-bomb protection)"


def _check_image(im: Image.Image, label: str | None, max_pixels: int) -> None:
    if im.format not in SUPPORTED_FORMATS:
        raise ImageLoadError(
            label,
            f"format {im.format} is not supported (use JPEG, PNG, WebP, TIFF, BMP or GIF)",
        )
    w, h = im.size
    if w <= 0 or h <= 0:
        raise ImageLoadError(label, f"image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise ImageLoadError(
            label,
            f"{w}x{h} = {w * h:,} pixels exceeds the limit of {max_pixels:,} "
            "(decompression-bomb protection; raise max_pixels if the file is trusted)",
        )


def load_image(
    source: ImageSource,
    max_side: int = 256,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    *,
    name: str | None = None,
    detail_side: int = 0,
    keep_decoded: bool = True,
) -> LoadedImage:
    """Load an image for analysis, oriented and shrunk so its long side is at most ``max_side``.

    Args:
        source: a path, encoded bytes, a Pillow image (its EXIF orientation is applied if it still
            carries one) or an RGB(A)/grey array of shape ``(h, w)``, ``(h, w, 3)`` or ``(h, w, 4)``
            (uint8, uint16 or float in [0, 1]).
        max_side: long side of the working image; JPEGs are decoded directly near this size.
        max_pixels: refuse images whose original has more pixels (decompression bombs).
        name: label used in errors and results for in-memory input.
        detail_side: when larger than ``max_side``, the image is decoded near this size instead
            and also kept at it as :attr:`LoadedImage.detail` (for detectors).
        keep_decoded: keep :attr:`LoadedImage.decoded` where there is one (``False``: the copy is
            not made; the detail path, whose larger copy serves instead, asks for none).

    Raises:
        ImageLoadError: naming the file and the problem.
    """
    if max_side < 16:
        raise ValueError(f"max_side must be at least 16, got {max_side}")
    if not isinstance(source, (str, os.PathLike, bytes, bytearray, np.ndarray, Image.Image)):
        # a file object or BytesIO reached os.fspath's TypeError deep inside
        what = "None" if source is None else f"an object of type {type(source).__name__}"
        raise ImageLoadError(name, f"cannot read {what}: give a path, encoded bytes "
                             "(e.g. a file object's .read()), a Pillow image or an RGB array")
    if detail_side > max_side:
        return _with_detail(source, max_side, max_pixels, name, detail_side)
    if isinstance(source, np.ndarray):
        return _load_array(source, max_side, name)
    if isinstance(source, Image.Image):
        behind = _unread_jpeg_file(source)
        if behind is None:
            return _load_pil(source, max_side, max_pixels, name, draft=False, keep_decoded=keep_decoded)
        label: str | None = name  # read from its file, as its path would be: the same pixels
        im = _open(behind, label)
    else:
        label = name if isinstance(source, (bytes, bytearray)) else (name or os.fspath(source))
        im = _open(source, label)
    with im:
        loaded = _load_pil(im, max_side, max_pixels, label, draft=True, keep_decoded=keep_decoded)
    return replace(loaded, encoded=bytes(source)) if isinstance(source, (bytes, bytearray)) else loaded


def _with_detail(
    source: ImageSource, max_side: int, max_pixels: int, name: str | None, detail_side: int
) -> LoadedImage:
    """Decode once at ``detail_side``; the working pixels are that copy shrunk to ``max_side``."""
    big = load_image(source, detail_side, max_pixels, name=name)
    tw, th = working_size_for(big.width, big.height, max_side)
    pixels = big.pixels
    if (pixels.shape[1], pixels.shape[0]) != (tw, th):
        pixels = np.asarray(Image.fromarray(pixels).resize((tw, th), Image.Resampling.BOX))
    return replace(big, pixels=np.ascontiguousarray(pixels), detail=big.pixels)


def _load_pil(
    im: Image.Image, max_side: int, max_pixels: int, label: str | None, draft: bool, keep_decoded: bool = True
) -> LoadedImage:
    if draft or im.format is not None:
        _check_image(im, label, max_pixels)
    fmt = im.format
    orientation = exif_orientation(im)
    width, height = oriented_size(im.size, orientation)
    icc = im.info.get("icc_profile")
    try:
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)
        tw, th = working_size_for(im.size[0], im.size[1], max_side)
        if draft and im.format in ("JPEG", "MPO"):
            # Request the smallest DCT-scaled size that still covers the working size.
            im.draft(im.mode if im.mode == "CMYK" else "RGB", (tw, th))
        im.load()
        if not draft and im.format in ("JPEG", "MPO") and _dct_scale(im.size, (tw, th)) > 1:
            # a JPEG handed over as a Pillow image, already decoded in full: shrink it as the DCT
            # scaling of a file would, so a photo is analysed alike from its path and its image
            im = im.reduce(_dct_scale(im.size, (tw, th)))
        decoded_size = im.size
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(label, _bomb(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        message = str(exc)
        if "truncated" in message.lower():
            raise ImageLoadError(label, "file is truncated (incomplete image data)") from exc
        raise ImageLoadError(label, f"cannot decode image: {message}") from exc
    im = apply_orientation(im, orientation)
    tw, th = working_size_for(width, height, max_side)
    decoded = None
    small_enough = max(im.size) <= DECODED_KEPT * max(tw, th)
    if keep_decoded and im.size != (tw, th) and small_enough and im.mode in ("RGB", "L"):
        decoded = np.ascontiguousarray(to_rgb_array(im)[0])
    if im.size != (tw, th):
        if im.mode in ("P", "1"):
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        im = im.resize((tw, th), Image.Resampling.BOX if im.size[0] > tw else Image.BILINEAR)
    pixels, has_alpha = to_rgb_array(im)
    pixels = np.ascontiguousarray(pixels)
    return LoadedImage(
        pixels=pixels,
        width=width,
        height=height,
        path=label,
        format=fmt,
        orientation=orientation,
        icc_profile=icc,
        has_alpha=has_alpha,
        decoded_size=decoded_size,
        decoded=decoded,
    )


def _unread_jpeg_file(im: Image.Image) -> str | None:
    """The file behind a JPEG that ``Image.open`` opened and nothing has decoded yet (its pixels
    are exactly that file's), else None."""
    filename = getattr(im, "filename", "")
    if im.format in ("JPEG", "MPO") and im.tile and isinstance(filename, str) and os.path.isfile(filename):
        return filename
    return None


def _dct_scale(size: tuple[int, int], target: tuple[int, int]) -> int:
    """The factor (1, 2, 4 or 8) by which libjpeg's DCT scaling (Pillow's ``draft``) decodes an
    image of ``size`` asked for ``target``."""
    scale = min(size[0] // max(target[0], 1), size[1] // max(target[1], 1))
    return next(s for s in (8, 4, 2, 1) if scale >= s)


def _load_array(arr: np.ndarray, max_side: int, name: str | None) -> LoadedImage:
    label = name or "<in-memory image>"
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageLoadError(label, f"array of shape {arr.shape} is not an (h, w[, 3|4]) image")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageLoadError(label, f"array of shape {arr.shape} has no pixels")
    if arr.dtype == np.uint8:
        a8 = arr
    elif arr.dtype == np.uint16:
        a8 = (arr.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).any():  # all NaN: a black picture was cropped without a word
            raise ImageLoadError(label, f"array of shape {arr.shape} holds no finite value "
                                        "(all NaN or infinite)")
        finite = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        top = 255.0 if finite.size and finite.max() > 1.0 else 1.0
        a8 = np.clip(finite * (255.0 / top), 0, 255).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        a8 = np.clip(arr.astype(np.int64) * (255 if arr.dtype == np.bool_ else 1), 0, 255).astype(
            np.uint8
        )
    else:
        raise ImageLoadError(label, f"unsupported array dtype {arr.dtype}")
    im = Image.fromarray(np.ascontiguousarray(a8))  # L, RGB or RGBA from the shape
    loaded = _load_pil(im, max_side, DEFAULT_MAX_PIXELS * 100, label, draft=False)
    return LoadedImage(
        pixels=loaded.pixels,
        width=loaded.width,
        height=loaded.height,
        path=None,
        format=None,
        orientation=1,
        has_alpha=loaded.has_alpha,
    )


def open_full(path: str | os.PathLike | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open a file (or its encoded bytes) at full resolution, decoded and oriented (for writing crops).

    The returned image keeps the source mode (alpha, 16-bit) and ``info`` (ICC profile, EXIF).
    """
    label = "<in-memory image>" if isinstance(path, (bytes, bytearray)) else os.fspath(path)
    im = _open(path, label)
    _check_image(im, label, max_pixels)
    orientation = exif_orientation(im)
    try:
        im.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(label, f"cannot decode image: {exc}") from exc
    return keep_encoding(im, apply_orientation(im, orientation))


def keep_encoding(source: Image.Image, oriented: Image.Image) -> Image.Image:
    """``oriented`` (``source`` turned upright: a copy, or ``source`` itself) with what re-encoding
    reads of ``source``: ``info``, the format, a JPEG's quantisation tables and sampling layers."""
    if oriented is not source:
        oriented.info, oriented.format = dict(source.info), source.format  # type: ignore[misc]
        for attr in ("quantization", "layers", "layer"):  # quality-preserving saves
            if hasattr(source, attr):
                setattr(oriented, attr, getattr(source, attr))
    return oriented
