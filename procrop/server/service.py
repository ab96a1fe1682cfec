"""The blocking work behind each endpoint, on top of the public :class:`procrop.Cropper` API.

This module owns :class:`CropService`: one per server process, holding the process's single
:class:`Cropper` (models and the reference database are loaded once) and the analysis cache. Its
methods take the uploaded bytes and validated parameters and return JSON-ready dicts or encoded
image bytes; they are called from the thread pool of :class:`~procrop.server.limits.WorkLimiter`.
No method writes to disk or returns a server path: the image is named by the sanitised upload name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from procrop import Cropper, CropResult

from ..perception.describe import describe
from .boxscore import AnalysisCache, score_box
from .errors import ApiError
from .imaging import crop_to_bytes, output_size
from .settings import ServerSettings
from .uploads import EXTENSIONS, ImageInfo, parse_box, sniff_image


def build_cropper(settings: ServerSettings) -> Cropper:
    """The process's cropper: bundled reference database, none, or a given folder."""
    db = settings.reference_db
    if db == "default":
        return Cropper(max_pixels=settings.max_pixels)
    return Cropper(reference_db=None if db == "none" else db, max_pixels=settings.max_pixels)


@dataclass(frozen=True)
class ImageReply:
    """An encoded crop and what the client is told about it."""

    data: bytes
    mime: str
    filename: str
    box: tuple[int, int, int, int]
    score: float | None


def split_ratios(text: str, max_ratios: int) -> list[str]:
    """Comma-separated ratio specs (validated later by the cropper); at most ``max_ratios``."""
    items = [s.strip() for s in (text or "").split(",") if s.strip()]
    if len(items) > max_ratios:
        raise ApiError(422, "invalid_parameter", f"at most {max_ratios} ratios per request, got {len(items)}")
    return items or ["free"]


class CropService:
    """Crop, describe and score uploaded images with one shared :class:`Cropper`."""

    def __init__(self, settings: ServerSettings, cropper: Cropper | None = None) -> None:
        self.settings = settings
        self.cropper = cropper if cropper is not None else build_cropper(settings)
        self.cache = AnalysisCache(self.cropper, settings.analysis_cache)

    def sniff(self, data: bytes) -> ImageInfo:
        """Format and size from the bytes; 422 for non-images and oversized images."""
        return sniff_image(data, self.settings.max_pixels)

    def process(self, data: bytes, ratios: list[str], top_k: int) -> CropResult:
        """The cropper's full result for the uploaded bytes."""
        return self.cropper.process(data, ratios, top_k)

    def crop_json(self, data: bytes, name: str, ratios: list[str], top_k: int) -> dict[str, Any]:
        """The CLI's JSON schema for one image, named by the upload, with no file paths."""
        self.sniff(data)
        result = self.process(data, ratios, top_k)
        d = result.to_dict()
        d["image"] = name
        for crop in d["crops"]:
            crop.pop("file", None)
        return d

    def describe(self, data: bytes, name: str) -> dict[str, Any]:
        """The composition in words plus the analysis (faces, subjects, lines, horizon...)."""
        self.sniff(data)
        prepared = self.cache.get(data)
        return {
            "image": name,
            "width": prepared.loaded.width,
            "height": prepared.loaded.height,
            "description": describe(prepared.analysis),
            "analysis": prepared.analysis.to_dict(),
        }

    def score(self, data: bytes, name: str, box: str) -> dict[str, Any]:
        """Score a user-given box ``x,y,w,h``: score, confidence, terms, reason, references."""
        self.sniff(data)
        prepared = self.cache.get(data)
        parsed = parse_box(box, prepared.loaded.width, prepared.loaded.height)
        return {"image": name, "width": prepared.loaded.width, "height": prepared.loaded.height,
                **score_box(self.cropper, prepared, parsed).to_dict()}

    def crop_image(self, data: bytes, name: str, params: dict[str, Any]) -> ImageReply:
        """One cropped image in the upload's format.

        ``params``: ``box`` (``x,y,w,h`` text, skips the search), ``ratio``, ``rank``, ``width``,
        ``height`` (output size; both -> exactly that size, one -> aspect kept).
        """
        info = self.sniff(data)
        width, height = params.get("width"), params.get("height")
        if params.get("box"):
            loaded = self.cropper.load(data)  # the oriented size (EXIF may swap the axes)
            box = parse_box(params["box"], loaded.width, loaded.height)
            score, default_size, label, rank = None, None, "box", 1
        else:
            ratio = params.get("ratio") or (f"{width}x{height}" if width and height else "free")
            rank = int(params.get("rank") or 1)
            result = self.process(data, [ratio], rank)
            if len(result.crops) < rank:
                raise ApiError(422, "no_such_crop",
                               f"only {len(result.crops)} crop(s) of ratio {ratio} for this image, asked for rank {rank}")
            crop = result.crops[rank - 1]
            box, score, default_size, label = crop.box, crop.score, crop.output_size, crop.ratio
        size = output_size(box[2], box[3], width, height, default_size)
        if size is not None and size[0] * size[1] > self.settings.max_pixels:
            raise ApiError(422, "too_many_pixels", f"output size {size[0]}x{size[1]} is over the pixel limit")
        encoded = crop_to_bytes(data, info, box, size)
        fmt = "JPEG" if info.format == "MPO" else info.format
        stem = PurePath(name).stem or "image"
        filename = f"{stem}_{label.replace(':', 'x')}_{rank}.{EXTENSIONS.get(fmt, 'png')}"
        return ImageReply(encoded, info.mime, filename, tuple(int(v) for v in box), score)  # type: ignore[arg-type]

