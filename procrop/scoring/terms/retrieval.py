"""The retrieval term: reward crops composed like the professional photos most similar to the query.

The references and the layout similarity of each crop to them come from
:class:`~procrop.retrieval.references.ReferenceRetriever`; this term caches them per image in the
scoring context, scores candidates with them and names the references that drove a crop.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ...retrieval.encoders.registry import Encoder
from ...retrieval.references import ReferenceRetriever, Retrieved
from ...retrieval.store import ReferenceDB
from ..context import ScoringContext


class RetrievalTerm:
    """:class:`~procrop.scoring.context.ExtraTerm` backed by a reference database.

    Args:
        db_path: the database folder.
        k: references per image (ProCrop uses 10).
        temperature: softmax temperature over reference similarities.
        min_similarity: below this best vector similarity the term does not apply (nothing
            similar enough in the database).
        encoder: an encoder instance to use instead of re-creating the database's one.
        index: ``"auto"``, ``"exact"``, ``"hnsw"`` or ``"ivf"``.
    """

    name = "retrieval"

    def __init__(
        self,
        db_path: str | os.PathLike,
        k: int = 10,
        temperature: float = 0.05,
        min_similarity: float = 0.15,
        encoder: Encoder | None = None,
        index: str = "auto",
    ) -> None:
        self.retriever = ReferenceRetriever(db_path, k, temperature, min_similarity, encoder, index)

    @property
    def db(self) -> ReferenceDB:
        """The reference database."""
        return self.retriever.db

    def retrieve(self, ctx: ScoringContext) -> Retrieved | None:
        """Top-k references for the image in ``ctx`` (cached in ``ctx.cache``)."""
        return self.retriever.retrieve_cached(ctx.cache, ctx.image, ctx.analysis)

    def evaluate(self, ctx: ScoringContext, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated layout similarity of each crop to the weighted references."""
        n = len(boxes)
        got = self.retrieve(ctx)
        if got is None:
            return np.zeros(n), np.zeros(n, dtype=bool)
        a = ctx.analysis
        values, sims = self.retriever.crop_similarities(got, np.asarray(boxes), a.width, a.height)
        # keep the similarities so that the crops finally chosen can name their references
        ctx.cache.setdefault("retrieval_sims", []).append((np.asarray(boxes), sims))
        return values, np.ones(n, dtype=bool)

    def crop_references(self, ctx: ScoringContext, box: np.ndarray, top: int = 3) -> list[dict[str, Any]]:
        """The references a crop resembles most (weight x layout similarity), best first."""
        got = ctx.cache.get("retrieval")
        if got is None:
            return []
        key = np.asarray(box)
        for boxes, sims in ctx.cache.get("retrieval_sims", []):
            hit = np.flatnonzero((boxes == key).all(axis=1))
            if hit.size:
                row = sims[hit[0]]
                order = np.argsort(-(row * got.weights))[:top]
                return [
                    {"source": got.refs[j]["source"], "similarity": round(float(row[j]), 4)} for j in order
                ]
        return []

    def explain(self, ctx: ScoringContext, box: np.ndarray, value: float) -> str | None:
        """Names the closest reference of a crop the term liked."""
        refs = self.crop_references(ctx, box, top=1)
        if not refs or value < 0.5:
            return None
        return f"framed like professional references such as {refs[0]['source']}"


def retrieval_term_for(reference_db: str | os.PathLike | None) -> RetrievalTerm | None:
    """The retrieval term of a reference database folder, of the database bundled with procrop
    (``"default"``; none when this installation has none), or no term (``None``)."""
    if reference_db is None:
        return None
    if reference_db == "default":
        from ...retrieval.references import bundled_db_path

        path = bundled_db_path()
        return None if path is None else RetrievalTerm(path)
    return RetrievalTerm(reference_db)
