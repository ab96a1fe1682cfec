"""Writing cropped images: the source's format, quality, ICC profile and EXIF kept, written atomically."""

from __future__ import annotations

import copy
import io
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..files import atomic_write_bytes
from .load import _EXIF_ORIENTATION_TAG, exif_orientation, to_rgb_array

_SAVE_FORMAT_BY_EXT = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".gif": "GIF",
}



#: The extension crops take for each format procrop writes, when the photo's name does not say it.
_EXT_BY_FORMAT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp",
                  "GIF": ".gif"}


def crop_extension(path: str | os.PathLike, decoded_format: str | None) -> str:
    """The extension of the crops of the photo at ``path``, which Pillow decoded as
    ``decoded_format``: the name's own when it names that format (``.jpeg`` stays ``.jpeg``), else
    the format's (a PNG named ``.jpg`` gives lossless ``.png`` crops, a JPEG named ``.png`` JPEG
    ones); ``.jpg`` for a format procrop does not write (MPO, a camera's multi-picture JPEG)."""
    ext, fmt = Path(path).suffix.lower(), (decoded_format or "").upper()
    if _SAVE_FORMAT_BY_EXT.get(ext) == fmt:
        return ext
    return _EXT_BY_FORMAT.get(fmt, ".jpg")


def save_format(path: str | os.PathLike) -> str:
    """The Pillow format name for ``path``'s extension (``"JPEG"``, ``"PNG"``...)."""
    fmt = _SAVE_FORMAT_BY_EXT.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown output extension (use .jpg, .png, .webp, .tif, .bmp, .gif)")
    return fmt


#: Descriptive tags of a TIFF's first IFD that a crop may carry. Everything else there describes the
#: source's pixel layout (size, strips, bits per sample, compression, orientation) and would make
#: the crop's file claim the source's size and layout (unreadable), so it is never copied.
_DESCRIPTIVE_TAGS = (270, 271, 272, 305, 306, 315, 33432)  # description, make, model, software,
# date, artist, copyright

#: EXIF's sub-IFD and its PixelXDimension / PixelYDimension tags; IFD0's ImageWidth / ImageLength.
_EXIF_IFD, _PIXEL_X, _PIXEL_Y, _IMAGE_WIDTH, _IMAGE_LENGTH = 0x8769, 0xA002, 0xA003, 0x0100, 0x0101

#: TIFF compressions written as they are; any other (JPEG-in-TIFF, fax codes...) becomes deflate.
_TIFF_COMPRESSIONS = ("tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "packbits")


def recorded_dpi(source: Image.Image) -> tuple[float, float] | None:
    """The photo's print resolution where its file records one: a JPEG's JFIF density in inches or
    centimetres or its EXIF resolution, a PNG's pHYs in metres, a TIFF's resolution in inches or
    centimetres. Pillow reads 72 for a JPEG whose EXIF holds none and 1 for a TIFF without a unit:
    those are not the photo's."""
    dpi = source.info.get("dpi")
    if not dpi or min(float(v) for v in dpi) <= 1:
        return None
    if source.format in ("JPEG", "MPO") and source.info.get("jfif_unit") not in (1, 2):
        try:
            if 0x011A not in source.getexif():  # XResolution
                return None
        except Exception:
            return None
    return float(dpi[0]), float(dpi[1])


def _metadata_params(fmt: str, source: Image.Image | None, keep_exif: bool = True,
                     size: tuple[int, int] | None = None) -> dict[str, Any]:
    """The source's ICC profile, print resolution (dpi) and EXIF (orientation reset to 1: pixels are
    written upright; the pixel dimensions it records, where it records them, are ``size``'s, the crop's).

    A TIFF's "EXIF" as Pillow reads it is the TIFF's own first IFD; from or to a TIFF only the
    descriptive tags (:data:`_DESCRIPTIVE_TAGS`) are kept.
    """
    params: dict[str, Any] = {}
    if source is None or fmt not in ("JPEG", "PNG", "WEBP", "TIFF"):
        return params
    icc = source.info.get("icc_profile")
    if icc:
        params["icc_profile"] = icc
    dpi = recorded_dpi(source)
    if dpi and fmt != "WEBP":
        params["dpi"] = dpi
    if not keep_exif:  # nor a JPEG comment, which Pillow writes from the photo's own (a trial's address)
        return {**params, "comment": b""} if fmt == "JPEG" else params
    try:
        exif = copy.deepcopy(source.getexif())  # Pillow's cached object: the photo's own stays as it was
        if fmt == "TIFF" or source.format == "TIFF":
            kept = Image.Exif()
            for tag in _DESCRIPTIVE_TAGS:
                if tag in exif:
                    kept[tag] = exif[tag]
            exif = kept
        elif len(exif):
            exif[_EXIF_ORIENTATION_TAG] = 1
            sub = exif.get_ifd(_EXIF_IFD) if _EXIF_IFD in exif else {}
            for ifd, (x, y) in ((sub, (_PIXEL_X, _PIXEL_Y)), (exif, (_IMAGE_WIDTH, _IMAGE_LENGTH))):
                if size is not None and (x in ifd or y in ifd):  # the photo's were kept (a trial)
                    ifd[x], ifd[y] = size
        if len(exif):
            params["exif"] = exif if fmt == "TIFF" else exif.tobytes()
    except Exception:
        pass
    return params


def _jpeg_params(out: Image.Image, source: Image.Image | None, quality: int | None) -> dict[str, Any]:
    """Reuse a JPEG source's quantisation tables and subsampling, so a crop keeps its quality."""
    qtables = getattr(source, "quantization", None) if source is not None else None
    params: dict[str, Any] = {"optimize": True}
    if quality is not None:
        params["quality"] = quality
    elif qtables and source is not None and source.format == "JPEG" and out.mode == source.mode:
        from PIL import JpegImagePlugin

        params["qtables"] = qtables
        sampling = JpegImagePlugin.get_sampling(source)
        if sampling != -1:
            params["subsampling"] = sampling
    else:
        params["quality"] = 95
    return params


def encode_image(
    im: Image.Image,
    fmt: str,
    source: Image.Image | None = None,
    *,
    quality: int | None = None,
    keep_exif: bool = True,
) -> bytes:
    """Encode ``im`` as ``fmt`` bytes, keeping ``source``'s metadata and quality (see :func:`save_image`).

    ``keep_exif=False`` keeps only the ICC profile: no EXIF, no JPEG comment (the server echoes no
    camera data back).

    Raises:
        OSError: the encoder failed, or what it wrote does not read back as ``fmt`` at ``im``'s size.
    """
    params = _metadata_params(fmt, source, keep_exif, im.size)
    out = im
    if fmt == "JPEG":
        if out.mode not in ("RGB", "L", "CMYK"):
            out = _eight_bit(out)
        params.update(_jpeg_params(out, source, quality))
    elif fmt == "WEBP":  # (another format's crop: CMYK, 16-bit or grey become RGB, alpha kept)
        if out.mode not in ("RGB", "RGBA"):  # a transparent palette colour is alpha too
            alpha = "A" in out.getbands() or "transparency" in out.info
            out = out.convert("RGBA") if alpha else Image.fromarray(to_rgb_array(out)[0])
        lossless = bool(source is not None and source.info.get("lossless"))
        params["lossless"] = lossless
        params["quality"] = quality if quality is not None else (100 if lossless else 92)
    elif fmt == "TIFF":
        compression = source.info.get("compression") if source is not None else None
        if compression in ("group3", "group4") and out.mode == "1":
            params["compression"] = compression
        elif compression and compression != "raw":
            params["compression"] = compression if compression in _TIFF_COMPRESSIONS else "tiff_deflate"
    elif fmt == "PNG" and out.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
        out = _eight_bit(out)  # a CMYK source's crop as RGB, a float grey one as grey
    elif fmt == "GIF" and out.mode not in ("P", "L"):
        out = out.convert("P", palette=Image.Palette.ADAPTIVE)
    elif fmt == "BMP" and out.mode not in ("RGB", "L", "P", "1", "RGBA"):
        out = Image.fromarray(to_rgb_array(out)[0])
    if out.mode != im.mode and im.mode in ("CMYK", "LAB", "YCbCr"):
        params.pop("icc_profile", None)  # now RGB: a CMYK profile would misdescribe it
    buf = io.BytesIO()
    out.save(buf, format=fmt, **params)
    data = buf.getvalue()
    _check_encoded(data, fmt, out.size)
    return data


def _eight_bit(im: Image.Image) -> Image.Image:
    """``im`` in 8 bits, scaled as :func:`to_rgb_array` scales it: grey (``L``) for 16/32-bit or float
    grey, RGB for anything else (CMYK, palette, bilevel...)."""
    rgb = to_rgb_array(im)[0]
    return Image.fromarray(rgb[:, :, 0] if im.getbands() in (("I",), ("F",)) else rgb)


def _check_encoded(data: bytes, fmt: str, size: tuple[int, int]) -> None:
    """Refuse an encoding whose header does not say ``fmt`` at ``size`` (read back, not decoded).

    Raises:
        OSError: the encoder wrote a file that would not open as the crop it should be.
    """
    try:
        with warnings.catch_warnings():  # a crop may be as large as the photo, within procrop's limits
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as back:
                got = (back.format, back.size)
    except Exception as exc:  # Pillow raises many kinds for a bad header
        raise OSError(f"the encoded {fmt} does not open: {exc}") from exc
    if got != (fmt, size):
        raise OSError(f"the encoded {fmt} reads back as {got[0]} {got[1][0]}x{got[1][1]}, not {size[0]}x{size[1]}")


def save_image(
    im: Image.Image,
    path: str | os.PathLike,
    source: Image.Image | None = None,
    *,
    quality: int | None = None,
    keep_exif: bool = True,
) -> None:
    """Save ``im`` atomically in the format of ``path``'s extension, preserving quality.

    When ``source`` is the image the pixels came from, its ICC profile and EXIF (with the
    orientation reset to 1, since pixels are written upright; ``keep_exif=False``: no EXIF and no
    JPEG comment) are kept, and a JPEG source's quantisation tables and chroma subsampling are
    reused so the crop keeps the original quality.
    """
    encoded = encode_image(im, save_format(path), source, quality=quality, keep_exif=keep_exif)
    atomic_write_bytes(path, encoded)


def copy_unchanged(source: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Write the file ``source``'s own bytes to ``path`` (atomically) when they are a whole-frame
    crop of it at its own size, which the caller has checked: ``path``'s format is the source's,
    the source has one frame and no EXIF orientation to apply (1 or absent). Returns whether it
    wrote; ``False`` leaves the encoding to :func:`save_image` (and nothing written).

    Raises:
        OSError: the source cannot be read or ``path`` cannot be written.
    """
    try:
        fmt = save_format(path)
    except ValueError:
        return False
    try:
        with warnings.catch_warnings():  # the photo passed procrop's own pixel limit when it was read
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as im:
                same = (im.format == fmt and getattr(im, "n_frames", 1) == 1 and exif_orientation(im) == 1)
    except (OSError, SyntaxError, ValueError):
        return False
    if not same:
        return False
    atomic_write_bytes(path, Path(source).read_bytes())
    return True


def crop_resized(im: Image.Image, box: tuple[int, int, int, int], size: tuple[int, int] | None) -> Image.Image:
    """Cut ``box`` ``(x, y, w, h)`` from ``im`` and, if ``size`` is given, resize it with Lanczos."""
    x, y, w, h = box
    out = im.crop((x, y, x + w, y + h))
    if size is not None and out.size != size:
        if out.mode in ("P", "1"):
            out = out.convert("RGBA" if "transparency" in im.info else "RGB")
        out = out.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return out


def checked_box(box: Any) -> tuple[int, int, int, int]:
    """``box`` as four pixels ``(x, y, w, h)`` (a fraction of a pixel is cut off, as before).

    Raises:
        UsageError: not four numbers (text, bytes and bools are not)."""
    from ..errors import UsageError
    from ..geometry import real_number

    text = isinstance(box, (str, bytes, bytearray, dict))
    numbers = not text and hasattr(box, "__len__") and all(map(real_number, box))
    values = [float(v) for v in box] if numbers else []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise UsageError(f"a crop is a Crop or a box (x, y, w, h) of pixels, got {box!r}")
    return tuple(int(v) for v in values)  # type: ignore[return-value]


def checked_size(size: Any) -> tuple[int, int] | None:
    """An output size ``(width, height)`` of whole pixels, within the limits of ``WxH`` ratios
    (:data:`~procrop.geometry.MAX_OUTPUT_SIDE` a side, :data:`~procrop.geometry.MAX_OUTPUT_PIXELS`
    in all: ``(100000, 100000)`` ran out of memory), or ``None``.

    Raises:
        UsageError: anything else."""
    from ..errors import UsageError
    from ..geometry import oversize, whole_number

    if size is None:
        return None
    if isinstance(size, str) or not hasattr(size, "__len__") or len(size) != 2 \
            or not all(whole_number(v) and v >= 1 for v in size):
        raise UsageError(f"size must be (width, height) in whole pixels of at least 1, got {size!r}")
    w, h = int(size[0]), int(size[1])
    if (too_large := oversize(w, h)) is not None:
        raise UsageError(f"size {w}x{h} {too_large}")
    return w, h


def save_crop(photo: str | os.PathLike | bytes, crop: Any, path: str | os.PathLike, *,
              size: tuple[int, int] | None = None, quality: int | None = None,
              keep_exif: bool = True) -> None:
    """Write one crop of the photo file ``photo`` to ``path`` as ``procrop crop --out`` does: cut
    from the oriented full-resolution photo, resized to ``size`` (default: the crop's
    ``output_size``, for a ``WxH`` ratio; a size of another shape stretches the crop, and a
    :class:`UserWarning` says so), in the format ``path``'s extension names, the photo's ICC
    profile, EXIF (orientation reset; ``keep_exif=False``: none, no camera, date or GPS position, as
    ``--strip-exif``) and JPEG quality kept (``quality`` 1-100 for JPEG and WebP instead), written
    atomically.

    Args:
        photo: the photo's file (the one the crop was made from), or its encoded bytes; a Pillow
            image or an array has no file to cut from (crop it with its own tools: ``image.crop``).
        crop: a :class:`~procrop.results.Crop`, or a box ``(x, y, w, h)`` in pixels of the oriented photo.
        path: the file to write (``.jpg``, ``.png``, ``.webp``, ``.tif``...).

    Raises:
        ImageLoadError: the photo cannot be read.
        UsageError: a box outside the photo or without area, a ``size`` or ``quality`` that is not
            one (:func:`checked_size`; quality a whole number from 1 to 100), an unknown
            extension, a folder that does not exist, a photo given as a Pillow image or an array.
        ImageWriteError: the file cannot be written (nothing is left at ``path``).
    """
    from ..errors import UsageError, writing
    from ..geometry import check_whole, stretches
    from .load import open_full

    if not isinstance(photo, (str, os.PathLike, bytes, bytearray)):  # a TypeError deep in os.fspath
        raise UsageError(f"save_crop cuts the crop from the photo's file: give its path or encoded bytes, "
                         f"not {type(photo).__name__} (crop a Pillow image or an array with its own tools: "
                         "image.crop)")
    box = checked_box(getattr(crop, "box", crop))
    size = checked_size(size if size is not None else getattr(crop, "output_size", None))
    if quality is not None:  # 0 and 101 were written
        check_whole("quality", quality, 1, 100)
    if not isinstance(keep_exif, (bool, np.bool_)):  # 'false' kept the GPS position (a trial)
        raise UsageError(f"keep_exif must be True or False, got {keep_exif!r}")
    quality = None if quality is None else int(quality)  # Pillow refuses numpy's integers
    try:
        fmt = save_format(path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if quality is not None and fmt not in ("JPEG", "WEBP"):  # it was ignored without a word (a review)
        raise UsageError(f"quality sets JPEG and WebP quality: {os.fspath(path)} is {fmt}")
    if not Path(path).parent.is_dir():  # not made on the way: a typo would write somewhere unexpected
        raise UsageError(f"{os.fspath(path)}: no such folder {Path(path).parent}")
    source = open_full(photo)
    x, y, w, h = box
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > source.width or y + h > source.height:
        named = "in memory" if isinstance(photo, (bytes, bytearray)) else os.fspath(photo)
        raise UsageError(f"box {box} is not inside the {source.width}x{source.height} photo {named}")
    if size is not None and stretches(w, h, *size):  # the HTTP API says so too (a trial)
        warnings.warn(f"size {size[0]}x{size[1]} is not the shape of the {w}x{h} box: the crop is stretched "
                      "to it (give a size of the box's shape, or a WxH ratio when cropping)", UserWarning,
                      stacklevel=2)
    with writing(path):
        save_image(crop_resized(source, box, size), path, source=source, quality=quality, keep_exif=keep_exif)


#: What a JPEG crop of a photo with transparent parts loses (the CLI's warning, the API's header).
CLEAR_IN_JPEG = "the photo has transparent parts; JPEG crops hold none: they are white there"
#: What a JPEG crop of a CMYK photo is (the CLI's warning, the API's header): CMYK too, as the photo,
#: which some browsers and upload forms show wrongly (two trials took it for a fault).
CMYK_IN_JPEG = ("the photo is CMYK and so are its JPEG crops (for the web, give --format png or webp, or "
                "format=png on the API: they are RGB)")


def crop_file_losses(photo: str | os.PathLike, written_kinds: set[str]) -> list[str]:
    """What crop files of ``written_kinds`` (upper-case suffixes: ``{"PNG"}``, ``{"JPG"}``...) lose of
    ``photo`` without a word elsewhere: a 16-bit colour PNG or TIFF's precision
    (:func:`colour_depth_loss`), transparency in a JPEG, and a CMYK photo's JPEG crops being CMYK."""
    notes = []
    if written_kinds & {"PNG", "TIF", "TIFF"} and (deep := colour_depth_loss(photo)):
        notes.append(deep)
    if written_kinds & {"JPG", "JPEG"}:
        try:
            with warnings.catch_warnings():  # no bomb to fear: the photo was within procrop's limit
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(photo) as im:
                    if has_clear_parts(im):
                        notes.append(CLEAR_IN_JPEG)
                    if im.mode == "CMYK":
                        notes.append(CMYK_IN_JPEG)
        except (OSError, Image.DecompressionBombError):
            pass  # the crops were written from it: nothing to add
    return notes


def colour_depth_loss(photo: str | os.PathLike | bytes) -> str | None:
    """The words for a PNG or TIFF crop of ``photo`` (a file, or its bytes) when the photo has more
    than 8 bits a colour channel (Pillow reads colour at 8 bits a channel; 16-bit grey stays 16-bit),
    else ``None``."""
    source = io.BytesIO(photo) if isinstance(photo, (bytes, bytearray)) else photo
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as im:
                fmt, bits = im.format, (im.tag_v2.get(258) if im.format == "TIFF" else None)  # BitsPerSample
        if fmt == "PNG":
            if isinstance(source, io.BytesIO):
                header = bytes(photo[:26])  # type: ignore[index]
            else:
                with open(source, "rb") as fh:
                    header = fh.read(26)  # IHDR: bit depth at byte 24, colour type at 25 (2 RGB, 6 RGBA)
            bits = (header[24],) * 3 if len(header) == 26 and header[25] in (2, 6) else None
    except (OSError, Image.DecompressionBombError):
        return None
    if isinstance(bits, tuple) and len(bits) >= 3 and max(bits) > 8:
        return (f"the photo has {max(bits)} bits a colour channel; its crops have 8 (procrop writes colour "
                "at 8 bits a channel)")
    return None


def has_clear_parts(im: Image.Image) -> bool:
    """Whether ``im`` has a pixel that is not fully opaque (an RGBA export of an opaque photo has none)."""
    if "A" not in im.getbands() and "transparency" not in im.info:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        rgba = im if im.mode in ("RGBA", "LA") else im.convert("RGBA")
        return rgba.getchannel("A").getextrema()[0] < 255
