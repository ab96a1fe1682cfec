"""Nearest-neighbour search over L2-normalised vectors (inner product = cosine similarity).

One API, :class:`SearchIndex`, three implementations:

* :class:`ExactIndex`: a numpy matrix product; exact, best up to ~50k vectors;
* :class:`FaissIndex` ``"hnsw"``: faiss ``IndexHNSWFlat`` (inner product), no training, strong
  recall at millisecond latency on millions of vectors;
* :class:`FaissIndex` ``"ivf"``: faiss ``IndexIVFFlat`` with ``nlist ~ 4 sqrt(N)`` lists and
  ``nprobe`` probed lists; faster to build than HNSW.

:func:`make_index` picks exact below ``exact_limit`` vectors and HNSW above. faiss is the extra
``procrop[retrieval]``; without it large databases fall back to exact search with a warning.
"""

from __future__ import annotations

import os
import warnings
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from ..errors import UsageError

EXACT_LIMIT = 50_000


class SearchIndex(ABC):
    """``search(queries (Q, D), k) -> (similarities (Q, k), indices (Q, k))``, best first."""

    kind: str = ""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ...

    @property
    @abstractmethod
    def size(self) -> int:
        ...


class ExactIndex(SearchIndex):
    """Brute-force inner-product search."""

    kind = "exact"

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    @property
    def size(self) -> int:
        return len(self.vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        k = min(k, self.size)
        if k <= 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        sims = q @ self.vectors.T
        if k < self.size:
            part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            part = np.tile(np.arange(self.size), (len(q), 1))
        part_sims = np.take_along_axis(sims, part, axis=1)
        order = np.lexsort((part, -part_sims), axis=1)
        idx = np.take_along_axis(part, order, axis=1)
        return np.take_along_axis(sims, idx, axis=1), idx.astype(np.int64)


class FaissIndex(SearchIndex):
    """faiss HNSW or IVF index over inner product.

    Args:
        vectors: ``(N, D)`` float32, L2-normalised.
        kind: ``"hnsw"`` or ``"ivf"``.
        m, ef_construction, ef_search: HNSW graph degree and beam widths.
        nlist, nprobe: IVF lists and lists probed per query.
        threads: faiss OpenMP threads (``None``: faiss default).
    """

    def __init__(
        self,
        vectors: np.ndarray | None,
        kind: str = "hnsw",
        m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 512,
        nlist: int | None = None,
        nprobe: int = 24,
        threads: int | None = None,
        _index=None,
    ) -> None:
        from ..errors import require

        self.faiss = require("faiss", "approximate search over a large reference database", "retrieval", "faiss-cpu")
        if threads:
            self.faiss.omp_set_num_threads(threads)
        self.kind = kind
        if _index is not None:
            self.index = _index
        else:
            assert vectors is not None
            x = np.ascontiguousarray(vectors, dtype=np.float32)
            d = x.shape[1]
            if kind == "hnsw":
                index = self.faiss.IndexHNSWFlat(d, m, self.faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efConstruction = ef_construction
                index.add(x)
            elif kind == "ivf":
                nlist = nlist or max(1, int(4 * np.sqrt(len(x))))
                quantizer = self.faiss.IndexFlatIP(d)
                index = self.faiss.IndexIVFFlat(quantizer, d, nlist, self.faiss.METRIC_INNER_PRODUCT)
                train = x if len(x) <= 64 * nlist else x[np.random.default_rng(0).choice(len(x), 64 * nlist, replace=False)]
                index.train(train)
                index.add(x)
            else:
                raise UsageError(f"unknown faiss index kind {kind!r} (use hnsw or ivf)")
            self.index = index
        self.set_search_params(ef_search=ef_search, nprobe=nprobe)

    def set_search_params(self, ef_search: int | None = None, nprobe: int | None = None) -> None:
        if self.kind == "hnsw" and ef_search is not None:
            self.index.hnsw.efSearch = ef_search
        if self.kind == "ivf" and nprobe is not None:
            self.index.nprobe = nprobe

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        sims, idx = self.index.search(q, min(k, self.size))
        return sims, idx.astype(np.int64)

    def save(self, path: str | os.PathLike) -> None:
        tmp = f"{path}.tmp{os.getpid()}"
        self.faiss.write_index(self.index, tmp)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike, kind: str) -> FaissIndex:
        from ..errors import require

        faiss = require("faiss", "approximate search", "retrieval", "faiss-cpu")
        return cls(None, kind=kind, _index=faiss.read_index(str(path)))


def make_index(
    vectors: np.ndarray,
    kind: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    fingerprint: str = "",
    exact_limit: int = EXACT_LIMIT,
) -> SearchIndex:
    """Build (or load from ``cache_dir``) a search index.

    ``kind``: ``"auto"`` (exact up to ``exact_limit`` vectors, else HNSW), ``"exact"``,
    ``"hnsw"`` or ``"ivf"``. Approximate indexes are cached as ``index-<kind>-<fingerprint>.faiss``.
    """
    if kind == "auto":
        kind = "exact" if len(vectors) <= exact_limit else "hnsw"
    if kind == "exact":
        return ExactIndex(vectors)
    try:
        import faiss  # noqa: F401
    except ImportError:
        warnings.warn(
            f"faiss is not installed: exact search over {len(vectors)} vectors will be slow "
            "(pip install 'procrop[retrieval]')",
            stacklevel=2,
        )
        return ExactIndex(vectors)
    if cache_dir is not None and fingerprint:
        path = Path(cache_dir) / f"index-{kind}-{fingerprint}.faiss"
        if path.exists():
            try:
                return FaissIndex.load(path, kind)
            except Exception:  # a damaged cache is rebuilt
                pass
        index = FaissIndex(vectors, kind=kind)
        try:
            index.save(path)
        except OSError:  # read-only database folder: keep the index in memory only
            pass
        return index
    return FaissIndex(vectors, kind=kind)
