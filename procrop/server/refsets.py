""""Crop like these": reference photos a page uploads, held in this process's memory only.

This module owns :class:`ReferenceSets`: each set (a random id) holds the encoded photos
(:func:`procrop.retrieval.memory.encode_reference`: search vector, tokens, composition statistics;
not the photos' bytes) and, per style strength, a cropper steered by them
(:func:`steered_cropper`) with its own analysis cache. Nothing is written to disk. A set is
deleted when its page says so (``DELETE /v1/references/{set}`` when the page is closed), when it
has been idle for ``ttl_s`` seconds, or, oldest first, when more than ``max_sets`` exist.
Sets live in one server process: with several uvicorn workers a page's requests may reach
another worker, which answers 404 ``no_such_reference_set`` (the page then uploads them again).
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from procrop import Cropper
from procrop.retrieval.memory import MemoryItem, encode_reference, memory_database
from procrop.scoring.composition import CompositionScorer
from procrop.errors import UsageError
from procrop.scoring.terms.style import checked_strength, style_term_for

from .boxscore import AnalysisCache
from .errors import ApiError


def steered_cropper(base: Cropper, items: list[MemoryItem], strength: float, label: str) -> Cropper:
    """A copy of the learned ``base`` cropper retrieving from ``items`` and following their
    composition with weight ``strength`` (its network, detectors and settings shared)."""
    learned = next((t for t in base.extra_terms if t.name == "learned"), None)
    if base.scorer_name == "classic" or learned is None:
        raise ApiError(422, "invalid_parameter",
                       "reference photos steer the learned and preference scorers: use scorer=default")
    twin = learned.with_references(memory_database(items, label))
    style = style_term_for(twin, strength, True)
    steered = copy.copy(base)
    steered.extra_terms = ((style,) if style else ()) + (twin,)
    preference = next((t for t in base.extra_terms if t.name == "preference"), None)
    if preference is not None:  # the same model, reading the steered learned term
        preference = copy.copy(preference)
        preference.learned = twin
        steered.extra_terms += (preference,)
    steered.scorer = CompositionScorer(base.scorer.weights.with_weights(style=style.strength if style else 0.0))
    return steered


@dataclass
class _Set:
    items: list[MemoryItem] = field(default_factory=list)
    used: float = field(default_factory=time.monotonic)
    caches: dict[float, AnalysisCache] = field(default_factory=dict)


class ReferenceSets:
    """The reference sets of one server process (see the module docstring). Thread-safe.

    Args:
        max_photos: photos per set.
        max_sets: sets at once (the least recently used goes first).
        ttl_s: a set idle this long is deleted.
        cache: prepared images kept per steered cropper.
    """

    def __init__(self, max_photos: int = 24, max_sets: int = 16, ttl_s: float = 1800.0, cache: int = 4) -> None:
        self.max_photos = max_photos
        self.max_sets = max_sets
        self.ttl_s = ttl_s
        self.cache_size = cache
        self._sets: OrderedDict[str, _Set] = OrderedDict()
        self._lock = threading.Lock()
        self._encoder: Any = None

    def __len__(self) -> int:
        return len(self._sets)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._sets.items() if now - s.used > self.ttl_s]:
            del self._sets[key]
        while len(self._sets) > self.max_sets:
            self._sets.popitem(last=False)

    def _get(self, set_id: str) -> _Set:
        with self._lock:
            self._expire()
            entry = self._sets.get(set_id)
            if entry is None:
                raise ApiError(404, "no_such_reference_set",
                               f"no reference set {set_id[:64]!r} here (never made, or closed or idle "
                               "too long): add the photos again")
            entry.used = time.monotonic()
            self._sets.move_to_end(set_id)
            return entry

    def add(self, set_id: str | None, name: str, data: bytes, cropper: Cropper) -> dict[str, Any]:
        """Encode one photo into set ``set_id`` (a new set when ``None``); what the page is told."""
        if set_id and len(self._get(set_id).items) >= self.max_photos:
            raise ApiError(422, "too_many_references", f"at most {self.max_photos} reference photos per set")
        if self._encoder is None:
            from procrop.retrieval.encoders.registry import create_encoder

            self._encoder = create_encoder("mobilenet")
        item = encode_reference(name, data, cropper.analyze, self._encoder)
        with self._lock:
            if not set_id:
                set_id = secrets.token_urlsafe(12)
                self._sets[set_id] = _Set()
                self._expire()
            entry = self._sets.get(set_id)
            if entry is None:
                raise ApiError(404, "no_such_reference_set", "this reference set is gone: add the photos again")
            if item.meta["sha256"] not in {it.meta["sha256"] for it in entry.items}:
                entry.items.append(item)
                entry.caches.clear()  # the steered croppers follow the new set
            entry.used = time.monotonic()
            return {"set": set_id, "count": len(entry.items), "max": self.max_photos,
                    "references": [{"source": it.meta["source"], "composition": it.stats} for it in entry.items]}

    def delete(self, set_id: str) -> bool:
        """Forget a set (its page was closed); whether it existed."""
        with self._lock:
            return self._sets.pop(set_id, None) is not None

    def cache(self, set_id: str, strength: float, base: Cropper) -> AnalysisCache:
        """The analysis cache of ``base`` steered by set ``set_id`` at ``strength`` (built once)."""
        entry = self._get(set_id)
        with self._lock:
            cache = entry.caches.get(strength)
            if cache is None:
                label = f"uploaded references ({len(entry.items)} photos)"
                cache = AnalysisCache(steered_cropper(base, list(entry.items), strength, label), self.cache_size)
                entry.caches[strength] = cache
            return cache


def require_one_worker(workers: int) -> None:
    """The 409 of a reference-set request to a server of several worker processes: a set lives in
    the memory of the worker that made it, so the next request could reach another (a trial's 404s)."""
    if workers > 1:
        raise ApiError(409, "one_worker_only", f"reference sets live in one worker process's memory and this "
                       f"server runs {workers}: start procrop serve with --workers 1 to use them")


def parse_strength(fields: dict[str, str]) -> float | None:
    """The ``style_strength`` field, a number from 0 to the style term's bound
    (:func:`~procrop.scoring.terms.style.checked_strength`, the CLI's words), or ``None`` when absent."""
    text = fields.get("style_strength", "").strip()
    if not text:
        return None
    try:
        return checked_strength(text)
    except UsageError as exc:  # the field echoed at most so far
        raise ApiError(422, "invalid_parameter", f"style_strength: {str(exc)[:120]}") from None
