"""The blocking work behind each endpoint, on top of the public :class:`procrop.Cropper` API.

This module owns :class:`CropService`: one per server process, holding one :class:`Cropper` per
scorer (``preference``, the default, ``learned`` and ``classic``), each built on first use (models and the
reference database are then loaded once) with its own analysis cache. Its methods take the
uploaded bytes and validated parameters (the scorer as :func:`~procrop.server.uploads.parse_scorer`
returns it) and return JSON-ready dicts or encoded image bytes; they are called from the thread
pool of :class:`~procrop.server.limits.WorkLimiter`. No method writes to disk or returns a server
path: the image is named by the sanitised upload name.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from procrop import Cropper, CropResult

from ..errors import UsageError
from ..scoring.terms.style import DEFAULT_STRENGTH
from ..geometry import parse_ratios, stretches
from ..verdict import UPSCALE_NOTED
from ..perception.describe import describe
from .boxscore import AnalysisCache, score_box
from .errors import ApiError
from .imaging import crop_to_bytes, output_size
from .refsets import ReferenceSets, require_one_worker
from .settings import ServerSettings
from .uploads import EXTENSIONS, SCORERS, ImageInfo, parse_box, sniff_image

#: The scorer of requests that name none (``scorer=default``).
DEFAULT_SCORER = SCORERS["default"]


def build_cropper(settings: ServerSettings, scorer: str = DEFAULT_SCORER) -> Cropper:
    """A cropper of ``scorer`` (``learned``, ``preference`` or ``classic``) with the settings' reference database
    (bundled, none, or a folder: the learned scorer then retrieves from it and follows its
    composition with ``settings.style_strength``; the classic scorer's retrieval)."""
    db = settings.reference_db
    style = settings.style_strength if scorer != "classic" and db not in ("default", "none") else None
    return Cropper(scorer=scorer, reference_db=None if db == "none" else db, max_pixels=settings.max_pixels,
                   style_strength=style)


@dataclass(frozen=True)
class Steer:
    """Reference photos a request follows: the id of a set uploaded to ``/v1/references`` and the
    style strength (``None``: the default, :data:`~procrop.scoring.terms.style.DEFAULT_STRENGTH`)."""

    references: str | None = None
    strength: float | None = None


def scorer_info(cropper: Cropper) -> dict[str, Any]:
    """What a response says about its scorer: ``scorer`` and, for a learned one, ``model``, the
    ``reference_db`` it retrieves from and, when references steer it, the ``style_strength``."""
    info: dict[str, Any] = {"scorer": cropper.scorer_name}
    if cropper.model_name:
        info["model"] = cropper.model_name
    learned = next((t for t in cropper.extra_terms if t.name == "learned"), None)
    if learned is not None:  # a folder by its name only: no server path in a response
        ref = str(learned.reference_db)  # type: ignore[attr-defined]
        info["reference_db"] = PurePath(ref).name if learned.user_db else ref  # type: ignore[attr-defined]
    style = next((t for t in cropper.extra_terms if t.name == "style"), None)
    if style is not None:
        info["style_strength"] = style.strength  # type: ignore[attr-defined]
    return info


@dataclass(frozen=True)
class ImageReply:
    """An encoded crop and what the client is told about it."""

    data: bytes
    mime: str
    filename: str
    box: tuple[int, int, int, int]
    score: float | None
    #: what the CLI would warn of (a crop enlarged to its output size), else ``None``
    warning: str | None = None


def split_ratios(text: str, max_ratios: int) -> list[str]:
    """Comma-separated ratio specs, read as the CLI reads ``--ratio`` (``1:1,`` is refused, a
    repeated ratio counts once; empty: ``free``); at most ``max_ratios``."""
    try:
        labels = [r.label for r in parse_ratios(text or None)]
    except UsageError as exc:
        raise ApiError(422, "invalid_parameter", str(exc)) from None
    if len(labels) > max_ratios:
        many = f"at most {max_ratios} ratios" if max_ratios > 1 else "one ratio (one image)"
        raise ApiError(422, "invalid_parameter", f"{many} per request, got {len(labels)}")
    return labels


class CropService:
    """Crop, describe and score uploaded images with one shared :class:`Cropper` per scorer.

    Args:
        settings: limits, cache size and reference database.
        cropper: a ready cropper serving its own scorer (``cropper.scorer_name``); croppers of
            the other scorers are built from ``settings`` on first use.
    """

    def __init__(self, settings: ServerSettings, cropper: Cropper | None = None) -> None:
        self.settings = settings
        self._caches: dict[str, AnalysisCache] = {}
        self._lock = threading.Lock()
        # /v1/describe needs no scorer: it analyses with the given cropper, or the default one
        self._describer = DEFAULT_SCORER if cropper is None else cropper.scorer_name
        self.refsets = ReferenceSets()
        if cropper is not None:
            self._caches[cropper.scorer_name] = AnalysisCache(cropper, settings.analysis_cache)

    def cache(self, scorer: str) -> AnalysisCache:
        """The analysis cache of ``scorer``'s cropper, both built on first use (once, thread-safe)."""
        cache = self._caches.get(scorer)
        if cache is None:
            with self._lock:
                cache = self._caches.get(scorer)
                if cache is None:
                    cache = AnalysisCache(build_cropper(self.settings, scorer), self.settings.analysis_cache)
                    self._caches[scorer] = cache
        return cache

    def cropper(self, scorer: str) -> Cropper:
        """The cropper of ``scorer`` (``learned`` or ``classic``), built on first use."""
        return self.cache(scorer).cropper

    def steered(self, scorer: str, steer: Steer | None) -> AnalysisCache:
        """The analysis cache of ``scorer``'s cropper, steered by ``steer``'s reference set if any."""
        if steer is None or not steer.references:
            return self.cache(scorer)
        require_one_worker(self.settings.workers)
        strength = DEFAULT_STRENGTH if steer.strength is None else steer.strength
        return self.refsets.cache(steer.references, strength, self.cropper(scorer))

    def add_reference(self, data: bytes, name: str, set_id: str | None) -> dict[str, Any]:
        """Encode an uploaded reference photo into a set held in memory ("crop like these")."""
        self.sniff(data)
        return self.refsets.add(set_id, name, data, self.cropper("learned"))

    def sniff(self, data: bytes) -> ImageInfo:
        """Format and size from the bytes; 422 for non-images and oversized images."""
        return sniff_image(data, self.settings.max_pixels)

    def process(self, data: bytes, ratios: list[str], top_k: int, scorer: str, steer: Steer | None = None,
                max_upscale: float | None = None, choice: dict[str, float] | None = None) -> CropResult:
        """``scorer``'s cropper's full result for the uploaded bytes (steered by ``steer``; crops a
        ``WxH`` size enlarges at most ``max_upscale`` times; ``choice``: ``min_score_ratio`` and
        ``diversity_iou`` of :meth:`procrop.Cropper.process`)."""
        return self.steered(scorer, steer).cropper.process(data, ratios, top_k, max_upscale=max_upscale,
                                                           **(choice or {}))

    def crop_json(self, data: bytes, name: str, ratios: list[str], top_k: int, scorer: str,
                  steer: Steer | None = None, max_upscale: float | None = None,
                  choice: dict[str, float] | None = None) -> dict[str, Any]:
        """The CLI's JSON schema for one image, named by the upload, with no file paths, plus
        the ``scorer`` (and ``model``, ``reference_db``, ``style_strength``) that ranked the crops."""
        self.sniff(data)
        result = self.process(data, ratios, top_k, scorer, steer, max_upscale, choice)
        d = result.to_dict()  # its warnings say which crops an output size enlarges, as procrop crop does
        d["image"] = name
        d.update(scorer_info(self.steered(scorer, steer).cropper))
        for crop in d["crops"]:
            crop.pop("file", None)
        return d

    def describe(self, data: bytes, name: str) -> dict[str, Any]:
        """The composition in words plus the analysis (faces, subjects, lines, horizon...)."""
        self.sniff(data)
        prepared = self.cache(self._describer).get(data)
        return {
            "image": name,
            "width": prepared.loaded.width,
            "height": prepared.loaded.height,
            "description": describe(prepared.analysis, for_people=True),
            "analysis": prepared.analysis.to_dict(),
        }

    def score(self, data: bytes, name: str, box: str, scorer: str, steer: Steer | None = None,
              ratio: str = "free") -> dict[str, Any]:
        """Score a user-given box ``x,y,w,h`` with ``scorer`` (steered by ``steer``) as a crop of
        ``ratio``: score, confidence, terms, reason, references, and the ``scorer`` (and ``model``) used."""
        self.sniff(data)
        cache = self.steered(scorer, steer)
        prepared = cache.get(data)
        parsed = parse_box(box, prepared.loaded.width, prepared.loaded.height)
        return {"image": name, "width": prepared.loaded.width, "height": prepared.loaded.height,
                **score_box(cache.cropper, prepared, parsed, ratio).to_dict(), **scorer_info(cache.cropper)}

    def crop_image(self, data: bytes, name: str, params: dict[str, Any], scorer: str,
                   steer: Steer | None = None) -> ImageReply:
        """One cropped image in the upload's format, the box searched with ``scorer``.

        ``params``: ``box`` (``x,y,w,h`` text, skips the search), ``ratio``, ``rank``, ``width``,
        ``height`` (output size; both -> exactly that size, one -> aspect kept).
        """
        info = self.sniff(data)
        width, height = params.get("width"), params.get("height")
        if params.get("box"):
            loaded = self.cropper(scorer).load(data)  # the oriented size (EXIF may swap the axes)
            box = parse_box(params["box"], loaded.width, loaded.height)
            score, default_size, label, rank = None, None, "box", 1
        else:
            ratio = params.get("ratio") or (f"{width}x{height}" if width and height else "free")
            rank = int(params.get("rank") or 1)
            result = self.process(data, [ratio], rank, scorer, steer, params.get("max_upscale"))
            if len(result.crops) < rank:
                raise ApiError(422, "no_such_crop",
                               f"only {len(result.crops)} crop(s) of ratio {ratio} for this image, asked for rank {rank}")
            crop = result.crops[rank - 1]
            box, score, default_size, label = crop.box, crop.score, crop.output_size, crop.ratio
        stretched = width and height and stretches(box[2], box[3], width, height)
        if stretched and params.get("ratio") and not params.get("box"):
            raise ApiError(422, "invalid_parameter",
                           f"width x height {width}x{height} is not the shape of the {label} crop "
                           f"({box[2]}x{box[3]}): give one of them (the other follows the crop), or "
                           "leave the ratio out to crop to that size")  # a box given with both: resized
        fixed = parse_ratios(label)[0].value if params.get("ratio") and not params.get("box") else None
        size = output_size(box[2], box[3], width, height, default_size, fixed)
        side = self.settings.max_output_side  # a side worked out from the other one is held to it too
        if size is not None and max(size) > side:
            raise ApiError(422, "invalid_parameter", f"output size {size[0]}x{size[1]} has a side over "
                           f"{side} pixels (the side not given follows the crop's shape): ask for less")
        if size is not None and size[0] * size[1] > self.settings.max_pixels:
            raise ApiError(422, "too_many_pixels", f"output size {size[0]}x{size[1]} is over the limit of "
                           f"{self.settings.max_pixels:,} pixels")
        asked = params.get("format")
        encoded, notes = crop_to_bytes(data, info, box, size, asked, params.get("quality"))
        fmt = asked or ("JPEG" if info.format == "MPO" else info.format)
        stem = PurePath(name).stem or "image"
        filename = f"{stem}_{label.replace(':', 'x')}_{rank}.{EXTENSIONS.get(fmt, 'png')}"
        if size is not None and size[0] > box[2] * UPSCALE_NOTED:
            enlarged = f"{size[0]}x{size[1]}: the {box[2]}x{box[3]} crop enlarged {size[0] / box[2]:.2f}x"
            notes.insert(0, enlarged)
        if stretched:  # a box given with both sides: exactly that size, as asked, said (a trial)
            notes.insert(0, f"{width}x{height} is not the shape of the {box[2]}x{box[3]} box: the crop is "
                            "stretched to it")
        warning = "; ".join(notes) or None
        kept = tuple(int(v) for v in box)
        mime = f"image/{fmt.lower()}" if asked else info.mime
        return ImageReply(encoded, mime, filename, kept, score, warning)  # type: ignore[arg-type]

