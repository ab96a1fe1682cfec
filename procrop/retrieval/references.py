"""The retrieval term: reward crops composed like the professional photos most similar to the query.

For an image, the term (once per image, cached in the scoring context):

1. encodes the uncropped photo with the database's encoder (the layout encoder reuses the
   cropper's analysis, so this costs about a millisecond);
2. retrieves the top-``k`` references by vector similarity, searching with the photo and with its
   mirror image (a mirrored composition is as good; the reference grid is then mirrored too);
3. weights them by ``softmax(similarity / temperature)``.

For each candidate crop it pools the encoder's feature map over the crop into an 8x8 grid, and
compares it with each reference's grid (:func:`~procrop.retrieval.encoders.layout.grid_similarity`). The
weighted similarity is mapped linearly from the database's typical random-pair similarity (0) to
its typical nearest-neighbour similarity (1), so the term means "as close to a professional frame
as professional photos are to each other". The crop result names the references that drove it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..scoring.composition import ScoringContext
from .encoders.layout import Encoder, Encoding, create_encoder, encoder_class, grid_similarity
from .search import SearchIndex, make_index
from .store import ReferenceDB


@dataclass
class _Retrieved:
    encoding: Encoding
    ref_grids: np.ndarray  # (k, 64, C)
    weights: np.ndarray  # (k,)
    refs: list[dict[str, Any]]


class RetrievalTerm:
    """:class:`~procrop.scoring.composition.ExtraTerm` backed by a reference database.

    Args:
        db_path: the database folder.
        k: references per image (ProCrop uses 10).
        temperature: softmax temperature over reference similarities.
        min_similarity: below this best vector similarity the term does not apply (nothing
            similar enough in the database).
        encoder: an encoder instance to use instead of re-creating the database's one (for
            neural encoders that are already loaded).
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
        self.db_path = Path(db_path)
        self.k = k
        self.temperature = temperature
        self.min_similarity = min_similarity
        self.index_kind = index
        self._encoder = encoder
        self._lock = threading.Lock()
        self._loaded: tuple[ReferenceDB, Encoder, SearchIndex] | None = None
        # fail early and clearly on a missing or corrupt database
        self._load()

    def _load(self) -> tuple[ReferenceDB, Encoder, SearchIndex]:
        with self._lock:
            if self._loaded is None:
                db = ReferenceDB.open(self.db_path)
                info = db.encoder_info
                encoder = self._encoder or create_encoder(info["name"], **info.get("config", {}))
                if encoder.version != info["version"]:
                    from .store import DatabaseError

                    raise DatabaseError(
                        f"{self.db_path}: built with encoder version {info['version']}, "
                        f"this procrop has {encoder.version}; rebuild the database"
                    )
                index = make_index(db.vectors, self.index_kind, cache_dir=self.db_path, fingerprint=db.fingerprint)
                self._loaded = (db, encoder, index)
            return self._loaded

    @property
    def db(self) -> ReferenceDB:
        return self._load()[0]

    def retrieve(self, ctx: ScoringContext) -> _Retrieved | None:
        """Top-k references for the image in ``ctx`` (cached in ``ctx.cache``)."""
        if "retrieval" in ctx.cache:
            return ctx.cache["retrieval"]
        db, encoder, index = self._load()
        result = None
        if len(db) and ctx.image is not None:
            enc = encoder.encode(ctx.image, ctx.analysis)
            ranked = neighbours(index, enc, min(self.k + 1, len(db)))
            # a photo that is itself in the database is not its own reference (hash the file only
            # when a near-identical vector makes that possible)
            if ranked and ranked[0][1][0] > 0.95:
                own = _file_hash(ctx.image.path)
                ranked = [kv for kv in ranked if not own or db.items[kv[0]].get("sha256") != own]
            ranked = ranked[: self.k]
            if ranked and ranked[0][1][0] >= self.min_similarity:
                ids = np.asarray([i for i, _ in ranked])
                sim = np.asarray([s for _, (s, _) in ranked])
                mirrored = np.asarray([m for _, (_, m) in ranked])
                cls = encoder_class(db.encoder_info["name"])
                grids = cls.grid_from_tokens(db.tokens[ids])
                if mirrored.any():
                    grids[mirrored] = cls.flip_grid(grids[mirrored])
                w = np.exp((sim - sim.max()) / self.temperature)
                w /= w.sum()
                refs = []
                for i, s, m, wi in zip(ids, sim, mirrored, w):
                    item = db.items[int(i)]
                    ref = {
                        "id": int(item.get("id", i)),
                        "source": item.get("source", ""),
                        "similarity": round(float(s), 4),
                        "weight": round(float(wi), 4),
                    }
                    if m:
                        ref["mirrored"] = True
                    for key in ("licence", "attribution"):
                        if item.get(key):
                            ref[key] = item[key]
                    refs.append(ref)
                result = _Retrieved(enc, grids, w, refs)
                ctx.cache["references"] = refs
        ctx.cache["retrieval"] = result
        return result

    def evaluate(self, ctx: ScoringContext, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(boxes)
        got = self.retrieve(ctx)
        if got is None:
            return np.zeros(n), np.zeros(n, dtype=bool)
        db, encoder, _ = self._load()
        a = ctx.analysis
        grids = encoder.crop_grids(got.encoding, np.asarray(boxes), a.width, a.height)
        sims = grid_similarity(grids, got.ref_grids, type(encoder).grid_weights)  # (N, k)
        score = sims @ got.weights
        cal = db.manifest.get("calibration") or {}
        lo = float(cal.get("grid_random", 0.0))
        hi = float(cal.get("grid_neighbour", 1.0))
        values = np.clip((score - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
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
        refs = self.crop_references(ctx, box, top=1)
        if not refs or value < 0.5:
            return None
        return f"framed like professional references such as {refs[0]['source']}"


MIRROR_MARGIN = 0.005


def neighbours(index: SearchIndex, encoding: Encoding, k: int) -> list[tuple[int, tuple[float, bool]]]:
    """Top-k database rows for an encoding, searching with the photo and its mirror image:
    ``[(row, (similarity, mirrored)), ...]`` best first. A mirrored match counts only when it is
    clearly better (by :data:`MIRROR_MARGIN`) than the direct one, so symmetric photos are not
    reported as mirrored."""
    sims, idx = index.search(encoding.vector[None], k)
    best: dict[int, tuple[float, bool]] = {int(i): (float(s), False) for s, i in zip(sims[0], idx[0]) if i >= 0}
    if encoding.flipped_vector is not None:
        fs, fi = index.search(encoding.flipped_vector[None], k)
        for s, i in zip(fs[0], fi[0]):
            direct = best.get(int(i), (-2.0, False))[0]
            if i >= 0 and float(s) > direct + MIRROR_MARGIN:
                best[int(i)] = (float(s), True)
    return sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))


def _file_hash(path: str | None) -> str | None:
    """sha256 of an image file (how database items are identified), or ``None``."""
    if not path or not os.path.isfile(path):
        return None
    from .store import file_sha256

    try:
        return file_sha256(path)
    except OSError:
        return None


def bundled_db_path() -> Path | None:
    """The reference database shipped inside the package, if this installation has one."""
    from importlib import resources

    root = Path(str(resources.files("procrop.resources"))) / "reference_db"
    return root if (root / "manifest.json").exists() else None
