"""A reference database held in memory only: photos a user drops on the web page ("crop like these").

:func:`encode_reference` encodes one photo's bytes with the ``mobilenet`` encoder (the one the
learned scorer reads) and measures its composition
(:func:`~procrop.retrieval.composition.composition_stats`); :func:`memory_database` puts such photos
into a :class:`~procrop.retrieval.store.ReferenceDB` whose ``path`` is only a label and whose
``composition`` holds the statistics: nothing is written anywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..imaging.load import load_image
from ..perception.analysis import CompositionAnalysis
from .composition import composition_stats
from .encoders.registry import Encoder, create_encoder
from .store import SCHEMA, SCHEMA_VERSION, ReferenceDB

#: The encoder of in-memory databases (the learned scorer's).
ENCODER = "mobilenet"


@dataclass(frozen=True)
class MemoryItem:
    """One encoded reference photo: search vector, tokens, metadata and composition statistics."""

    vector: np.ndarray
    tokens: np.ndarray
    meta: dict[str, Any]
    stats: dict[str, float]


def encode_reference(name: str, data: bytes, analyze: Callable[[Any], CompositionAnalysis],
                     encoder: Encoder | None = None) -> MemoryItem:
    """Encode one photo's bytes (the ``mobilenet`` encoder, default a new one) and measure its
    composition with ``analyze`` (e.g. a cropper's).

    Raises:
        ProcropError: when the bytes are not a readable image.
    """
    encoder = encoder or create_encoder(ENCODER)
    enc = encoder.encode(load_image(data, max_side=encoder.load_side))
    analysis = analyze(data)
    meta = {"source": name, "sha256": hashlib.sha256(data).hexdigest(), "width": analysis.width,
            "height": analysis.height}
    return MemoryItem(enc.vector.astype(np.float32), enc.tokens.astype(np.float16), meta, composition_stats(analysis))


def memory_database(items: list[MemoryItem], label: str = "uploaded references",
                    encoder_info: dict[str, Any] | None = None) -> ReferenceDB:
    """Encoded photos -> an in-memory database (``path`` is only ``label``; ``composition`` holds
    the statistics). ``encoder_info``: the encoder's description (default: the ``mobilenet`` one's)."""
    info = encoder_info or create_encoder(ENCODER).describe()
    manifest = {"schema": SCHEMA, "version": SCHEMA_VERSION, "encoder": info, "count": len(items), "shards": [],
                "calibration": {}}
    dim, shape = int(info["dim"]), tuple(int(v) for v in info["token_shape"])
    return ReferenceDB(
        path=Path(label),
        manifest=manifest,
        vectors=np.stack([it.vector for it in items]) if items else np.zeros((0, dim), np.float32),
        tokens=np.stack([it.tokens for it in items]) if items else np.zeros((0, *shape), np.float16),
        items=[dict(it.meta, id=i) for i, it in enumerate(items)],
        thumbnails=[None] * len(items),
        composition={it.meta["sha256"]: it.stats for it in items},
    )
