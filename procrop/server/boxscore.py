"""Scoring one user-given box with its term breakdown, confidence and reason (drag-to-adjust).

**Public-API gap.** :meth:`procrop.Cropper.score_boxes` returns bare scores; the page needs, for
any box, what :class:`procrop.Crop` carries: terms, confidence, reason and references. Until a
``Cropper.score_box`` exists, :func:`score_box` rebuilds them here from the cropper's public
attributes (``scorer.terms``/``combine``/``contributions``, ``extra_terms``, ``weights``). Two
helpers have no public home: the per-image scoring context and the reason writer; they are looked
up in the modules that define the cropper's own scorer and cropper classes (so moving those
modules does not break this), and when either is missing the score still comes from
``score_boxes`` with an empty breakdown. This module is the only place in the server that looks
below the public API; it should move into :class:`~procrop.Cropper` as a method.

It also owns :class:`AnalysisCache`: an LRU of prepared images (decoded at working size,
analysed, scoring context built) keyed by the bytes' SHA-256, so dragging a box re-scores in
about a millisecond instead of re-analysing the photo on every step.
"""

from __future__ import annotations

import hashlib
import math
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from procrop import Cropper


@dataclass
class Prepared:
    """One image ready for box scoring (working-size pixels, analysis, scoring context)."""

    loaded: Any
    analysis: Any
    context: Any | None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class BoxScore:
    """A scored box: everything :class:`procrop.Crop` reports, for any box."""

    box: tuple[int, int, int, int]
    score: float
    confidence: float
    uncropped_score: float
    terms: dict[str, float]
    contributions: dict[str, float]
    reason: str
    references: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": list(self.box),
            "score": round(self.score, 4),
            "confidence": round(self.confidence, 4),
            "uncropped_score": round(self.uncropped_score, 4),
            "terms": {k: round(v, 4) for k, v in self.terms.items()},
            "contributions": {k: round(v, 4) for k, v in self.contributions.items()},
            "reason": self.reason,
            "references": list(self.references),
        }


def _lookup(owner: type, name: str) -> Any | None:
    """``name`` from the module defining ``owner`` or, failing that, one of its parent packages
    (so a helper re-exported by a package such as ``procrop.scoring`` is still found)."""
    parts = owner.__module__.split(".")
    for depth in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:depth]))
        value = getattr(module, name, None) if module is not None else None
        if value is not None:
            return value
    return None


class AnalysisCache:
    """Thread-safe LRU of :class:`Prepared` images keyed by content hash."""

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
    """Decode at working size, analyse, and build the scoring context when available."""
    loaded = cropper.load(data)
    analysis = cropper.analyze(loaded)
    context_type = _lookup(type(cropper.scorer), "ScoringContext")
    context = context_type(loaded, analysis) if context_type is not None else None
    return Prepared(loaded, analysis, context)


def score_box(cropper: Cropper, prepared: Prepared, box: tuple[int, int, int, int]) -> BoxScore:
    """Score ``box`` (oriented original pixels) with terms, confidence, reason and references."""
    full = (0, 0, int(prepared.loaded.width), int(prepared.loaded.height))
    boxes = np.asarray([full, box], dtype=np.float64)
    if prepared.context is None:
        scores = cropper.score_boxes(prepared.loaded, boxes)
        return BoxScore(box, float(scores[1]), _confidence(cropper, float(scores[1]), float(scores[0])),
                        float(scores[0]), {}, {}, "")
    with prepared.lock:  # extra terms may fill the context's cache
        ctx = prepared.context
        tv = cropper.scorer.terms(ctx, boxes)
        for term in cropper.extra_terms:
            if cropper.weights.weight(term.name) > 0:
                values, applicable = term.evaluate(ctx, boxes)
                tv.add(term.name, values, applicable)
        scores = cropper.scorer.combine(tv)
        terms = {k: float(v[1]) for k, v in tv.values.items() if tv.applicable[k][1]}
        details = {k: float(v[1]) for k, v in tv.details.items()}
        contributions = cropper.scorer.contributions(tv, 1)
        extra = [t for term in cropper.extra_terms if term.name in terms
                 and (t := term.explain(ctx, boxes[1], terms[term.name]))]
        references = _references(cropper, ctx, boxes[1])
    explain: Callable[..., str] | None = _lookup(type(cropper), "explain_crop")
    reason = explain(terms, details, contributions, extra) if explain else _fallback_reason(contributions, extra)
    uncropped, score = float(scores[0]), float(scores[1])
    return BoxScore(box, score, _confidence(cropper, score, uncropped), uncropped, terms,
                    contributions, reason, references)


def _references(cropper: Cropper, ctx: Any, box: np.ndarray) -> tuple[dict[str, Any], ...]:
    for term in cropper.extra_terms:
        refs = getattr(term, "crop_references", None)
        if refs is not None:
            return tuple(refs(ctx, box))
    return ()


def _confidence(cropper: Cropper, score: float, uncropped: float) -> float:
    """``sigmoid((score - uncropped - margin) / temperature)``, as :class:`procrop.Crop` reports."""
    temperature = cropper.weights.param("confidence", "temperature", 0.02)
    margin = cropper.weights.param("confidence", "margin", 0.03)
    z = (score - uncropped - margin) / max(temperature, 1e-9)
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def _fallback_reason(contributions: dict[str, float], extra: list[str]) -> str:
    top = sorted(contributions.items(), key=lambda kv: -kv[1])[:3]
    words = [f"{name} adds {value:.2f}" for name, value in top]
    return "; ".join(words + [e for e in extra if e])
