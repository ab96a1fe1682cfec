"""Request bodies: bounded in-memory reading, multipart parsing, content sniffing, form fields.

This module owns everything between the raw HTTP body and validated Python values:

* :func:`read_body` reads the body into memory, refusing (413) as soon as it exceeds the limit,
  with or without a ``Content-Length`` header; nothing is spooled to disk.
* :func:`parse_multipart` splits a ``multipart/form-data`` body into text fields and one file.
* :func:`sniff_image` decides the format from the bytes alone (magic numbers, then Pillow reads
  the header): the client's content type and file name are never trusted. It also enforces the
  pixel limit (422) before anything is decoded.
* :func:`safe_name` turns a client file name into a harmless label; ``parse_*`` read form fields.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..cropper import checked_upscale
from ..errors import UsageError
from ..geometry import checked_boxes
from ..scoring.setup import DEFAULT_SCORER
from .errors import ApiError

#: Slack allowed on top of the file limit for the multipart envelope and text fields.
_FORM_SLACK = 64 * 1024
_MAX_FIELD_BYTES = 4096
_MAX_PARTS = 16

#: Magic numbers of the formats procrop reads -> Pillow format name and MIME type.
_MAGIC: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG", "image/png"),
    (b"GIF87a", 0, "GIF", "image/gif"),
    (b"GIF89a", 0, "GIF", "image/gif"),
    (b"WEBP", 8, "WEBP", "image/webp"),
    (b"II*\x00", 0, "TIFF", "image/tiff"),
    (b"MM\x00*", 0, "TIFF", "image/tiff"),
    (b"BM", 0, "BMP", "image/bmp"),
)
#: ``scorer`` values a client may send -> the :class:`procrop.Cropper` scorer they select.
SCORERS = {"default": DEFAULT_SCORER, "learned": "learned", "preference": "preference", "classic": "classic"}

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "TIFF": "tif", "BMP": "bmp"}


@dataclass(frozen=True)
class Upload:
    """An uploaded file held in memory."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class ImageInfo:
    """What sniffing found: Pillow format name, MIME type and original size (before EXIF)."""

    format: str
    mime: str
    width: int
    height: int


async def read_body(headers: dict[str, str], stream: AsyncIterator[bytes], max_upload_bytes: int) -> bytes:
    """Read a request body into memory, 413 as soon as it exceeds the upload limit."""
    limit = max_upload_bytes + _FORM_SLACK
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "bad_request", "invalid Content-Length header")
        if int(declared) > limit:
            raise _too_large(max_upload_bytes)
    from starlette.requests import ClientDisconnect

    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                raise _too_large(max_upload_bytes)
            chunks.append(chunk)
    except ClientDisconnect:  # a phone that lost its network: an ordinary event, one log line, no traceback
        logging.getLogger("uvicorn.error").info("upload abandoned by the client after %d bytes", size)
        raise ApiError(400, "client_disconnected",
                       "the client closed the connection before the upload ended") from None
    return b"".join(chunks)


def _too_large(max_upload_bytes: int) -> ApiError:
    return ApiError(413, "too_large", f"the upload exceeds the limit of {max_upload_bytes:,} bytes")


class _PartCollector:
    """python-multipart callbacks collecting parts into memory."""

    def __init__(self) -> None:
        self.parts: list[tuple[dict[bytes, bytes], bytearray]] = []
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_part_data": lambda d, s, e: self.parts[-1][1].extend(d[s:e]),
            "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
            "on_header_end": self._header_end,
        }

    def _begin(self) -> None:
        if len(self.parts) >= _MAX_PARTS:
            raise ApiError(422, "invalid_form", f"too many form parts (at most {_MAX_PARTS})")
        self._headers = {}
        self.parts.append((self._headers, bytearray()))

    def _header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], Upload | None]:
    """Split a ``multipart/form-data`` body into text fields and the file of field ``file``."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    ctype, params = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise ApiError(415, "unsupported_media_type", "send the image as multipart/form-data (field 'file')")
    collector = _PartCollector()
    try:
        parser = MultipartParser(params[b"boundary"], collector.callbacks())
        parser.write(body)
        parser.finalize()
    except ApiError:
        raise
    except Exception as exc:
        raise ApiError(400, "invalid_form", "the multipart body could not be parsed") from exc
    fields: dict[str, str] = {}
    upload: Upload | None = None
    extra: list[str] = []
    for headers, data in collector.parts:
        _, disp = parse_options_header(headers.get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in disp or name == "file":
            if name == "file" and upload is None:
                upload = Upload(safe_name(disp.get(b"filename", b"").decode("utf-8", "replace")), bytes(data))
            else:  # a second image was dropped without a word (a trial)
                extra.append(name)
            continue
        if len(data) > _MAX_FIELD_BYTES:
            raise ApiError(422, "invalid_form", f"form field {name!r} is too long")
        if name in fields:  # the last one won without a word: ratios=1:1 and ratios=4:5 gave only 4:5
            raise ApiError(422, "invalid_parameter", f"form field {name!r} is given twice: give it once "
                           "(ratios take a comma list: 1:1,4:5)")
        fields[name] = data.decode("utf-8", "replace")
    if upload is not None and extra:  # without a 'file', require_upload says where the image goes
        named = ("form field " if len(extra) == 1 else "form fields ") + ", ".join(map(repr, extra))
        verb = "holds" if len(extra) == 1 else "hold"
        raise ApiError(422, "invalid_parameter", f"{named} {verb} a second file: send one image a request, "
                       "in the field 'file'")
    return fields, upload


def require_upload(upload: Upload | None, max_upload_bytes: int) -> Upload:
    """The uploaded file, checked present, non-empty and within the size limit."""
    if upload is None:
        raise ApiError(422, "missing_file", "no file uploaded: send the image in the form field 'file'")
    if not upload.data:
        raise ApiError(422, "empty_file", "the uploaded file is empty (0 bytes)")
    if len(upload.data) > max_upload_bytes:
        raise _too_large(max_upload_bytes)
    return upload


def safe_name(name: str) -> str:
    """A harmless label from a client file name: base name only, no control or odd characters."""
    # browsers and curl send a quote and line breaks in a form's file name as %22, %0A and %0D (HTML's
    # multipart rules): read back, they become "_" below, not "_22" (a trial's 'pröduct "x".jpg')
    for code, char in (("%22", '"'), ("%0A", "\n"), ("%0D", "\r")):
        name = name.replace(code, char)
    base = re.split(r"[/\\]", name)[-1]
    base = unicodedata.normalize("NFKC", base)
    # each run of odd characters becomes one "_"; the name's own underscores stay (a trial's
    # "caer__gold_fish.jpg" came back as "caer_gold_fish.jpg", matched to no file)
    base = re.sub(r"[^\w.\-() ]+", "_", base).strip(" .")
    if len(base) > 100:  # shortened, its extension kept
        stem, dot, suffix = base.rpartition(".")
        base = (stem[:99 - len(suffix)] + dot + suffix) if dot and len(suffix) <= 10 else base[:100]
    return base or "upload"


def sniff_image(data: bytes, max_pixels: int) -> ImageInfo:
    """Identify an image from its bytes and check its pixel count, without decoding pixels."""
    from PIL import Image

    found = next(((fmt, mime) for magic, off, fmt, mime in _MAGIC if data[off:off + len(magic)] == magic), None)
    if found is None or (found[0] == "WEBP" and data[:4] != b"RIFF"):
        raise ApiError(422, "not_an_image",
                       "not an image file: the content is not JPEG, PNG, WebP, TIFF, BMP or GIF")
    fmt, mime = found
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as im:
                width, height = im.size
    except Image.DecompressionBombError as exc:
        raise ApiError(422, "too_many_pixels",
                       f"the image has more pixels than the limit of {max_pixels:,}") from exc
    except Exception as exc:
        raise ApiError(422, "not_an_image",
                       f"the file starts like a {fmt} image but its header cannot be read") from exc
    if width < 1 or height < 1:
        raise ApiError(422, "not_an_image", f"the image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ApiError(422, "too_many_pixels",
                       f"the image is {width}x{height} = {width * height:,} pixels, "
                       f"over the limit of {max_pixels:,} pixels")
    return ImageInfo(fmt, mime, width, height)


def parse_int(fields: dict[str, str], name: str, default: int | None, lo: int, hi: int) -> int | None:
    """An integer form field in ``[lo, hi]``, or ``default`` when absent or blank."""
    text = fields.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(422, "invalid_parameter", f"{name} must be an integer, got {text[:40]!r}") from None
    if not lo <= value <= hi:
        raise ApiError(422, "invalid_parameter", f"{name} must be between {lo} and {hi}, got {value}")
    return value


def parse_upscale(fields: dict[str, str]) -> float | None:
    """The ``max_upscale`` field, a number of at least 1 (:class:`procrop.Cropper`'s), or ``None``
    when absent or blank."""
    text = fields.get("max_upscale", "").strip()
    if not text:
        return None
    try:
        return checked_upscale(float(text))
    except (ValueError, UsageError):  # the field echoed, not the number it was read as
        raise ApiError(422, "invalid_parameter",
                       f"max_upscale must be a number of at least 1, got {text[:40]!r}") from None


def parse_choice(fields: dict[str, str]) -> dict[str, float]:
    """The ``min_score_ratio`` (0-1) and ``diversity_iou`` (over 0, at most 1) fields given, as
    :meth:`procrop.Cropper.process` takes them (an absent or blank one: the cropper's own)."""
    out = {}
    for name, lo, hi in (("min_score_ratio", 0.0, 1.0), ("diversity_iou", 0.0, 1.0)):
        text = fields.get(name, "").strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (lo <= value <= hi) or (name == "diversity_iou" and value == 0):
            raise ApiError(422, "invalid_parameter", f"{name} must be a number from {lo:g} to {hi:g}"
                           + (" (above 0)" if name == "diversity_iou" else "") + f", got {text[:40]!r}")
        out[name] = value
    return out


def parse_box(text: str, width: int, height: int) -> tuple[int, int, int, int]:
    """A box ``x,y,w,h`` in original pixels, checked to lie inside the image."""
    parts = [p.strip() for p in text.replace(" ", ",").split(",") if p.strip()]
    try:
        x, y, w, h = (round(float(p)) for p in parts)
    except (ValueError, OverflowError):
        raise ApiError(422, "invalid_parameter", "box must be four numbers x,y,w,h") from None
    try:
        checked_boxes((x, y, w, h), width, height)
    except UsageError as exc:
        raise ApiError(422, "invalid_parameter", str(exc)) from None
    return x, y, w, h


def parse_scorer(fields: dict[str, str]) -> str:
    """The ``scorer`` field as a :class:`procrop.Cropper` scorer: ``learned`` (also ``default``,
    blank or absent) or ``classic``."""
    name = fields.get("scorer", "").strip().lower() or "default"
    if name not in SCORERS:
        raise ApiError(422, "invalid_parameter",
                       f"unknown scorer {name[:40]!r}: use 'default', 'learned', 'preference' or 'classic'")
    return SCORERS[name]
