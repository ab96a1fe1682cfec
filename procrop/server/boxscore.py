"""Scoring one user-given box with its term breakdown, confidence and reason (drag-to-adjust).

:func:`score_box` wraps :meth:`procrop.Cropper.score_box` (a box scored and explained like a
returned crop) and adds each term's share of the score. :class:`AnalysisCache` keeps prepared images
(:meth:`procrop.Cropper.prepare`: decoded at working size, analysed, scoring context built) in an
LRU keyed by the bytes' SHA-256, so dragging a box re-scores in milliseconds instead of
re-analysing the photo at every step.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from procrop import Crop, Cropper


@dataclass
class Prepared:
    """One image ready for box scoring: its scoring context (image, analysis, per-image cache)."""

    context: Any
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def loaded(self) -> Any:
        """The image at working size (``width``/``height`` of the original)."""
        return self.context.image

    @property
    def analysis(self) -> Any:
        """The composition analysis."""
        return self.context.analysis


@dataclass(frozen=True)
class BoxScore:
    """A scored box: the :class:`procrop.Crop` :meth:`procrop.Cropper.score_box` makes of it (its
    ratio ``free`` unless one was named), the uncropped photo's score, and each weighted term's share
    of the crop's score."""

    crop: Crop
    uncropped_score: float
    contributions: dict[str, float]
    image_size: tuple[int, int] | None = None  # the photo's: versus_original words as a returned crop's

    def to_dict(self) -> dict[str, Any]:
        """The crop's JSON (:meth:`procrop.Crop.to_dict`, without its rank), with
        ``uncropped_score`` and ``contributions``."""
        d = self.crop.to_dict(self.image_size, None, self.uncropped_score)
        return {
            **{k: d[k] for k in ("box", "ratio", "score", "confidence", "versus_original")},
            "uncropped_score": round(self.uncropped_score, 4),
            "terms": d["terms"],
            "contributions": {k: round(v, 4) for k, v in self.contributions.items()},
            "reason": d["reason"],
            "references": d["references"],
        }


class AnalysisCache:
    """Thread-safe LRU of :class:`Prepared` images of one cropper, keyed by content hash.

    A prepared context also holds per-image state of that cropper's terms (the learned model's
    encoding, retrieved references), so every cropper needs a cache of its own.
    """

    def __init__(self, cropper: Cropper, size: int = 16) -> None:
        self.cropper = cropper
        self.size = size
        self._items: OrderedDict[str, Prepared] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, data: bytes) -> Prepared:
        """The prepared image for ``data`` (decoded and analysed on a miss)."""
        key = hashlib.sha256(data).hexdigest()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        prepared = prepare(self.cropper, data)
        if self.size > 0:
            with self._lock:
                self._items[key] = prepared
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return prepared


def prepare(cropper: Cropper, data: bytes) -> Prepared:
    """Decode at working size and analyse, once."""
    return Prepared(cropper.prepare(data))


def score_box(cropper: Cropper, prepared: Prepared, box: tuple[int, int, int, int],
              ratio: str = "free") -> BoxScore:
    """Score ``box`` (oriented original pixels) with terms, confidence, reason and references, as
    a crop of ``ratio`` (:meth:`procrop.Cropper.score_box`: a fixed one must be the box's shape).

    Raises:
        UsageError: ``ratio`` is not a ratio, or a fixed one the box is not the shape of."""
    with prepared.lock:  # extra terms may fill the context's per-image cache
        crop, uncropped = cropper.score_box(prepared.context, box, ratio)
    weights = {k: cropper.weights.weight(k) for k in crop.terms}
    total = sum(w for w in weights.values() if w > 0)
    contributions = {k: weights[k] * v / total for k, v in crop.terms.items() if weights[k] > 0} if total else {}
    size = (prepared.analysis.width, prepared.analysis.height)
    return BoxScore(crop, uncropped, contributions, size)
