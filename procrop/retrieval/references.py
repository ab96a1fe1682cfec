"""Retrieving professional references for a photo: neighbours, their weights and their layouts.

For an image, :class:`ReferenceRetriever`:

1. encodes the uncropped photo with the database's encoder (the layout encoder reuses the
   analysis, so this costs about a millisecond);
2. retrieves the top-``k`` references by vector similarity, searching with the photo and with its
   mirror image (a mirrored composition is as good; the reference grid is then mirrored too);
3. weights them by ``softmax(similarity / temperature)``.

For candidate crops it pools the encoder's feature map over each crop into an 8x8 grid and
compares it with each reference's grid (:func:`~procrop.retrieval.encoders.layout.grid_similarity`).
The weighted similarity is mapped linearly from the database's typical random-pair similarity (0)
to its typical nearest-neighbour similarity (1), so a value means "as close to a professional
frame as professional photos are to each other". The retrieval *term* that turns this into a crop
score lives in :mod:`procrop.scoring.terms.retrieval`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..imaging.load import LoadedImage
from ..perception.analysis import CompositionAnalysis
from .encoders.registry import Encoder, Encoding, create_encoder, encoder_class, grid_similarity
from .search import SearchIndex, make_index
from .store import DatabaseError, ReferenceDB

#: Key under which a per-image cache holds the :class:`Retrieved` references (shared by every
#: consumer of the same database, so a photo is searched once).
CACHE_KEY = "retrieval"


@dataclass
class Retrieved:
    """The references retrieved for one photo.

    Attributes:
        encoding: the photo's own encoding.
        ref_grids: ``(k, 64, C)`` layout grids of the references (mirrored where they matched
            mirrored).
        weights: ``(k,)`` softmax weights, summing to 1.
        refs: JSON-ready descriptions (id, source, similarity, weight, licence...), best first.
    """

    encoding: Encoding
    ref_grids: np.ndarray
    weights: np.ndarray
    refs: list[dict[str, Any]]


class ReferenceRetriever:
    """Finds and weights the references of a photo in a reference database. Thread-safe.

    Args:
        db_path: the database folder.
        k: references per image (ProCrop uses 10).
        temperature: softmax temperature over reference similarities.
        min_similarity: below this best vector similarity nothing is retrieved (nothing similar
            enough in the database).
        encoder: an encoder instance to use instead of re-creating the database's one (for
            neural encoders that are already loaded).
        index: ``"auto"`` (the kind the database was built with, else by size),
            ``"exact"``, ``"hnsw"``, ``"ivf"`` or ``"compressed"`` (:func:`~.search.make_index`).
    """

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
                    raise DatabaseError(
                        f"{self.db_path}: built with encoder version {info['version']}, "
                        f"this procrop has {encoder.version}; rebuild the database"
                    )
                kind = self.index_kind if self.index_kind != "auto" else db.manifest.get("index", "auto")
                index = make_index(db.vectors, kind, cache_dir=self.db_path, fingerprint=db.fingerprint)
                self._loaded = (db, encoder, index)
            return self._loaded

    @property
    def db(self) -> ReferenceDB:
        """The reference database."""
        return self._load()[0]

    @property
    def encoder(self) -> Encoder:
        """The encoder the database was built with."""
        return self._load()[1]

    def retrieve_cached(
        self, cache: dict[str, Any], image: LoadedImage | None, analysis: CompositionAnalysis
    ) -> Retrieved | None:
        """:meth:`retrieve`, computed once per image: the result is kept in ``cache`` (the
        per-image cache of a scoring context), with its ``refs`` under ``"references"``."""
        if CACHE_KEY in cache:
            return cache[CACHE_KEY]
        result = self.retrieve(image, analysis) if image is not None else None
        if result is not None:
            cache["references"] = result.refs
        cache[CACHE_KEY] = result
        return result

    def retrieve(self, image: LoadedImage, analysis: CompositionAnalysis) -> Retrieved | None:
        """Top-k references for a photo, or None when the database holds nothing similar enough."""
        db, encoder, index = self._load()
        if not len(db):
            return None
        enc = encoder.encode(image, analysis)
        ranked = neighbours(index, enc, min(self.k + 1, len(db)))
        # a photo that is itself in the database is not its own reference, given as a path or as
        # its bytes (hash them only when a near-identical vector makes that possible)
        if ranked and ranked[0][1][0] > 0.95:
            own = _source_hash(image)
            ranked = [kv for kv in ranked if not own or db.items[kv[0]].get("sha256") != own]
        ranked = ranked[: self.k]
        if not ranked or ranked[0][1][0] < self.min_similarity:
            return None
        ids = np.asarray([i for i, _ in ranked])
        sim = np.asarray([s for _, (s, _) in ranked])
        mirrored = np.asarray([m for _, (_, m) in ranked])
        cls = encoder_class(db.encoder_info["name"])
        grids = cls.grid_from_tokens(db.tokens[ids])
        if mirrored.any():
            grids[mirrored] = cls.flip_grid(grids[mirrored])
        w = np.exp((sim - sim.max()) / self.temperature)
        w /= w.sum()
        refs = [_describe_ref(db.items[int(i)], i, s, m, wi) for i, s, m, wi in zip(ids, sim, mirrored, w)]
        return Retrieved(enc, grids, w, refs)

    def crop_similarities(
        self, got: Retrieved, boxes: np.ndarray, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """For ``(N, 4)`` crops: calibrated values ``(N,)`` in [0, 1] and the raw layout
        similarity of each crop to each reference ``(N, k)``."""
        db, encoder, _ = self._load()
        grids = encoder.crop_grids(got.encoding, np.asarray(boxes), width, height)
        sims = grid_similarity(grids, got.ref_grids, type(encoder).grid_weights)  # (N, k)
        score = sims @ got.weights
        cal = db.manifest.get("calibration") or {}
        lo = float(cal.get("grid_random", 0.0))
        hi = float(cal.get("grid_neighbour", 1.0))
        return np.clip((score - lo) / max(hi - lo, 1e-6), 0.0, 1.0), sims


def _describe_ref(item: dict[str, Any], row: int, sim: float, mirrored: bool, weight: float) -> dict[str, Any]:
    """A reference as the JSON output names it."""
    ref: dict[str, Any] = {
        "id": int(item.get("id", row)),
        "source": item.get("source", ""),
        "similarity": round(float(sim), 4),
        "weight": round(float(weight), 4),
    }
    if mirrored:
        ref["mirrored"] = True
    for key in ("licence", "attribution"):
        if item.get(key):
            ref[key] = item[key]
    return ref


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


def _source_hash(image: LoadedImage) -> str | None:
    """sha256 of the file or the bytes an image was read from (how database items are identified:
    the same for both), or ``None`` (a Pillow image, an array)."""
    if image.encoded is not None:
        return hashlib.sha256(image.encoded).hexdigest()
    path = image.path
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
