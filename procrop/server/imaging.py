"""Full-resolution crops encoded in the upload's own format, entirely in memory.

This module owns :func:`crop_to_bytes`: decode the uploaded bytes (first frame), apply the EXIF
orientation (boxes are in the oriented frame, as everywhere in procrop), cut the box, resize it
when asked, and encode it in the format the bytes were sniffed as. Metadata other than the ICC
profile is dropped, so no EXIF (GPS, camera serials...) is echoed back.
"""

from __future__ import annotations

import io
import warnings

from .errors import ApiError
from .uploads import ImageInfo

#: Pillow format name -> format used to encode the crop.
_ENCODE_AS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "GIF": "GIF", "TIFF": "TIFF",
              "BMP": "BMP"}


def output_size(box_w: int, box_h: int, width: int | None, height: int | None,
                default: tuple[int, int] | None, ratio: float | None = None) -> tuple[int, int] | None:
    """The size a crop is resized to: both given -> exactly that; one -> the other follows the
    fixed ``ratio`` (width / height) when one was asked, else the crop's aspect; none ->
    ``default`` (a ``WxH`` ratio's size) or the crop's own size (``None``). (A 4:5 crop kept
    inside a scan border is 405 x 507: at width 1080 it gave 1080 x 1352 where 4:5 is 1080 x 1350.)"""
    aspect = ratio if ratio else box_w / box_h
    if width and height:
        return width, height
    if width:
        return width, max(1, round(width / aspect))
    if height:
        return max(1, round(height * aspect)), height
    return default


def crop_to_bytes(data: bytes, info: ImageInfo, box: tuple[int, int, int, int], size: tuple[int, int] | None,
                  fmt: str | None = None, quality: int | None = None) -> tuple[bytes, list[str]]:
    """Cut ``box`` (oriented original pixels) out of the encoded image and re-encode it, in the
    upload's format or ``fmt`` (a Pillow name: ``"JPEG"``, ``"PNG"``, ``"WEBP"``), at ``quality``
    (JPEG, WebP) when given, else a JPEG upload's own quality; with what the crop loses, in words
    (the CLI's warnings: a transparent photo's JPEG crop is white there, a 16-bit colour photo's
    PNG or TIFF crop has 8 bits a channel).

    Cutting, resizing and encoding are the CLI's own (:mod:`procrop.imaging.save`), so the two
    write the same pixels in every format (16-bit and float TIFFs included); only the EXIF is
    left out here.
    """
    from PIL import Image, ImageOps

    from ..imaging.load import keep_encoding
    from ..imaging.save import (CLEAR_IN_JPEG, CMYK_IN_JPEG, colour_depth_loss, crop_resized, encode_image,
                                has_clear_parts)

    x, y, w, h = box
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[info.format]) as src:
                if getattr(src, "n_frames", 1) > 1:
                    src.seek(0)
                src.load()
                oriented = keep_encoding(src, ImageOps.exif_transpose(src))  # JPEG tables, as open_full
    except Exception as exc:
        truncated = "truncated" in str(exc).lower()
        raise ApiError(422, "truncated_image" if truncated else "not_an_image",
                       "file is truncated (incomplete image data)" if truncated
                       else "the image data cannot be decoded") from exc
    if x + w > oriented.width or y + h > oriented.height:
        raise ApiError(422, "invalid_parameter", "box lies outside the image")
    out = crop_resized(oriented, box, size)
    fmt = fmt or _ENCODE_AS.get(info.format, "PNG")
    notes = []
    if quality is not None and fmt not in ("JPEG", "WEBP"):
        notes.append(f"quality applies to JPEG and WebP crops; this one is {fmt}")
    if fmt == "JPEG" and has_clear_parts(out):
        notes.append(CLEAR_IN_JPEG)
    if fmt == "JPEG" and oriented.mode == "CMYK":
        notes.append(CMYK_IN_JPEG)
    if fmt in ("PNG", "TIFF") and (deep := colour_depth_loss(data)):
        notes.append(deep)
    return encode_image(out, fmt, oriented, quality=quality, keep_exif=False), notes
