"""Full-resolution crops encoded in the upload's own format, entirely in memory.

This module owns :func:`crop_to_bytes`: decode the uploaded bytes (first frame), apply the EXIF
orientation (boxes are in the oriented frame, as everywhere in procrop), cut the box, resize it
when asked, and encode it in the format the bytes were sniffed as. Metadata other than the ICC
profile is dropped, so no EXIF (GPS, camera serials...) is echoed back.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from .errors import ApiError
from .uploads import ImageInfo

#: Pillow format name -> format used to encode the crop.
_ENCODE_AS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "GIF": "GIF", "TIFF": "TIFF",
              "BMP": "BMP"}


def output_size(box_w: int, box_h: int, width: int | None, height: int | None,
                default: tuple[int, int] | None) -> tuple[int, int] | None:
    """The size a crop is resized to: both given -> exactly that; one -> the other keeps the
    crop's aspect; none -> ``default`` (a ``WxH`` ratio's size) or the crop's own size (``None``)."""
    if width and height:
        return width, height
    if width:
        return width, max(1, round(box_h * width / box_w))
    if height:
        return max(1, round(box_w * height / box_h)), height
    return default


def crop_to_bytes(data: bytes, info: ImageInfo, box: tuple[int, int, int, int],
                  size: tuple[int, int] | None) -> bytes:
    """Cut ``box`` (oriented original pixels) out of the encoded image and re-encode it."""
    from PIL import Image, ImageOps

    x, y, w, h = box
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[info.format]) as src:
                if getattr(src, "n_frames", 1) > 1:
                    src.seek(0)
                icc = src.info.get("icc_profile")
                lossless = bool(src.info.get("lossless"))
                oriented = ImageOps.exif_transpose(src)
    except Exception as exc:
        truncated = "truncated" in str(exc).lower()
        raise ApiError(422, "truncated_image" if truncated else "not_an_image",
                       "file is truncated (incomplete image data)" if truncated
                       else "the image data cannot be decoded") from exc
    if x + w > oriented.width or y + h > oriented.height:
        raise ApiError(422, "invalid_parameter", "box lies outside the image")
    out = oriented.crop((x, y, x + w, y + h))
    if size is not None and out.size != size:
        if out.mode in ("P", "1"):
            out = out.convert("RGBA" if "transparency" in out.info else "RGB")
        elif out.mode not in ("RGB", "RGBA", "L", "LA", "CMYK"):
            out = out.convert("RGB")
        out = out.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return encode(out, _ENCODE_AS.get(info.format, "PNG"), icc, lossless)


def encode(im: Any, fmt: str, icc: bytes | None = None, lossless: bool = False) -> bytes:
    """Encode a Pillow image in ``fmt`` with sensible quality settings."""
    params: dict[str, Any] = {}
    if icc and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        params["icc_profile"] = icc
    if fmt == "JPEG":
        if im.mode not in ("RGB", "L", "CMYK"):
            im = _flatten(im)
        params["quality"] = 92
    elif fmt == "WEBP":
        params.update(lossless=lossless, quality=100 if lossless else 90)
    elif fmt == "GIF" and im.mode not in ("P", "L"):
        im = _flatten(im).convert("P", palette=1)  # 1 = adaptive palette
    elif fmt == "TIFF":
        params["compression"] = "tiff_deflate"
        if im.mode not in ("RGB", "RGBA", "L", "LA", "CMYK", "1", "P"):
            im = im.convert("RGB")
    elif fmt == "BMP" and im.mode not in ("RGB", "L", "P", "1", "RGBA"):
        im = _flatten(im)
    elif fmt == "PNG" and im.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16", "I"):
        im = im.convert("RGBA")
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


def _flatten(im: Any) -> Any:
    """RGB over white (alpha composited), for formats without transparency."""
    from PIL import Image

    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    return im.convert("RGB")
