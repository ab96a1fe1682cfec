"""Nearest-neighbour search over L2-normalised vectors (inner product = cosine similarity).

One API, :class:`SearchIndex`, three implementations:

* :class:`ExactIndex`: a numpy matrix product; exact, best up to ~50k vectors;
* :class:`FaissIndex` ``"hnsw"``: faiss ``IndexHNSWFlat`` (inner product), no training, strong
  recall at millisecond latency on millions of vectors;
* :class:`FaissIndex` ``"ivf"``: faiss ``IndexIVFFlat`` with ``nlist ~ 4 sqrt(N)`` lists and
  ``nprobe`` probed lists; faster to build than HNSW;
* :class:`CompressedIndex` ``"compressed"``: for databases whose vectors do not fit in memory.
  faiss ``PCA256,IVF<nlist>,SQ8`` codes (256 bytes a vector instead of 4 x D) propose ``rerank``
  candidates, which are re-ranked exactly on their full-precision vectors read from the shard
  files (:class:`~.rows.ShardedRows`).

:func:`make_index` picks exact up to ``exact_limit`` vectors, HNSW up to ``compress_limit`` and
the compressed index above. faiss is the extra ``procrop[retrieval]``; without it large databases
fall back to exact search with a warning.
"""

from __future__ import annotations

import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError

EXACT_LIMIT = 50_000
#: Above this many vectors ``"auto"`` picks the compressed index (1280-d float32 vectors of 200k
#: items take 1 GB; HNSW keeps them all in memory).
COMPRESS_LIMIT = 200_000
#: Below this many vectors the compressed index keeps them whole (too few to train codes).
MIN_COMPRESSED = 1_000
KINDS = ("auto", "exact", "hnsw", "ivf", "compressed")


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


class CompressedIndex(SearchIndex):
    """Compressed codes propose candidates; their full vectors, read from disk, rank them exactly.

    The faiss index is ``PCA<pca>,IVF<nlist>,SQ8`` under the L2 metric (for unit vectors the L2
    order is the inner-product order, and L2 survives PCA's centring): ``pca`` bytes a vector in
    memory (8-bit scalar codes; product quantisation trained far slower here for no gain once the
    candidates are re-ranked). A query takes the ``rerank`` best codes of ``nprobe`` lists, reads those rows
    of ``rows`` (``rows[ids] -> (n, D)`` float32: an array or :class:`~.rows.ShardedRows`) and
    returns their exact inner products, best first.

    Build with :meth:`build`; :meth:`save` / :meth:`load` keep the codes only (the vectors stay
    in the database).
    """

    kind = "compressed"

    def __init__(self, index: Any, rows: Any, rerank: int = 100, nprobe: int = 32) -> None:
        from ..errors import require

        self.faiss = require("faiss", "compressed search over a large reference database", "retrieval", "faiss-cpu")
        self.index = index
        self.rows = rows
        self.rerank = rerank
        self.set_search_params(nprobe=nprobe)

    def set_search_params(self, nprobe: int | None = None, rerank: int | None = None) -> None:
        """Lists probed per query (more: better recall, slower) and candidates re-ranked exactly."""
        if nprobe is not None and self.size >= MIN_COMPRESSED:
            self.faiss.extract_index_ivf(self.index).nprobe = nprobe
        if rerank is not None:
            self.rerank = rerank

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(
        cls,
        vectors: Any,
        pca: int = 256,
        nlist: int | None = None,
        max_train: int = 100_000,
        block: int = 65_536,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> CompressedIndex:
        """Train on a sample of ``vectors`` (at most ``max_train`` rows) and add them all, reading
        ``block`` rows at a time (an array or :class:`~.rows.ShardedRows`: the whole set is never
        in memory at once). ``nlist`` defaults to ``sqrt(N)`` (at most ``N / 39``). ``progress`` is
        called with ``(vectors added, N)``."""
        from ..errors import require

        faiss = require("faiss", "compressed search over a large reference database", "retrieval", "faiss-cpu")
        n, d = len(vectors), int(vectors.shape[1])
        if n == 0:
            raise UsageError("cannot build a compressed index over no vectors")
        out = min(pca, d, n)
        nlist = nlist or max(1, min(int(np.sqrt(n)), n // 39))
        pre = f"PCA{out}," if out < d else ""
        # too few vectors to train codes: keep them whole (every one is a candidate)
        spec = f"{pre}IVF{nlist},SQ8" if n >= MIN_COMPRESSED else "Flat"
        index = faiss.index_factory(d, spec, faiss.METRIC_L2)
        n_train = min(n, max_train)
        ids = np.sort(np.random.default_rng(seed).choice(n, n_train, replace=False))
        sample = np.ascontiguousarray(vectors[ids] if n_train < n else np.asarray(vectors), dtype=np.float32)
        index.train(sample)
        del sample
        for a in range(0, n, block):
            index.add(np.ascontiguousarray(vectors[a : min(n, a + block)], dtype=np.float32))
            if progress:
                progress(min(n, a + block), n)
        return cls(index, vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(k, self.size)
        _, cand = self.index.search(q, min(self.size, max(k, self.rerank)))
        sims = np.full((len(q), k), -np.inf, np.float32)
        idx = np.full((len(q), k), -1, np.int64)
        for r, row in enumerate(cand):
            ids = np.unique(row[row >= 0])
            if not len(ids):
                continue
            exact = np.asarray(self.rows[ids], dtype=np.float32) @ q[r]
            order = np.lexsort((ids, -exact))[:k]
            sims[r, : len(order)], idx[r, : len(order)] = exact[order], ids[order]
        return sims, idx

    def save(self, path: str | os.PathLike) -> None:
        """Write the codes (not the vectors) to ``path``, atomically."""
        tmp = f"{path}.tmp{os.getpid()}"
        self.faiss.write_index(self.index, tmp)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike, rows: Any) -> CompressedIndex:
        """Codes from ``path``, re-ranked on ``rows`` (the same vectors, in the same order)."""
        from ..errors import require

        faiss = require("faiss", "compressed search", "retrieval", "faiss-cpu")
        index = faiss.read_index(str(path))
        if int(index.ntotal) != len(rows):
            raise ValueError(f"{path}: {index.ntotal} codes for {len(rows)} vectors")
        return cls(index, rows)


def make_index(
    vectors: Any,
    kind: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    fingerprint: str = "",
    exact_limit: int = EXACT_LIMIT,
    compress_limit: int = COMPRESS_LIMIT,
    progress: Callable[[int, int], None] | None = None,
) -> SearchIndex:
    """Build (or load from ``cache_dir``) a search index.

    ``vectors``: ``(N, D)`` float32 L2-normalised, an array or :class:`~.rows.ShardedRows` (the
    compressed index reads only the rows it re-ranks). ``kind``: ``"auto"`` (see
    :func:`auto_kind`), ``"exact"``, ``"hnsw"``, ``"ivf"`` or ``"compressed"``. Approximate indexes are
    cached as ``index-<kind>-<fingerprint>.faiss``; ``progress`` follows a compressed build.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown index kind {kind!r} (use {', '.join(KINDS)})")
    if kind == "auto":
        kind = auto_kind(len(vectors), exact_limit, compress_limit)
    if kind == "exact":
        return ExactIndex(np.asarray(vectors))
    try:
        import faiss  # noqa: F401
    except ImportError:
        warnings.warn(
            f"faiss is not installed: exact search over {len(vectors)} vectors will be slow "
            "(pip install 'procrop[retrieval]')",
            stacklevel=2,
        )
        return ExactIndex(np.asarray(vectors))

    def build() -> SearchIndex:
        if kind == "compressed":
            return CompressedIndex.build(vectors, progress=progress)
        return FaissIndex(np.asarray(vectors), kind=kind)

    if cache_dir is not None and fingerprint:
        path = index_path(cache_dir, kind, fingerprint)
        if path.exists():
            try:
                if kind == "compressed":
                    return CompressedIndex.load(path, vectors)
                return FaissIndex.load(path, kind)
            except Exception:  # a damaged cache is rebuilt
                pass
        index = build()
        try:
            index.save(path)  # type: ignore[attr-defined]
        except OSError:  # read-only database folder: keep the index in memory only
            pass
        return index
    return build()


def auto_kind(n: int, exact_limit: int = EXACT_LIMIT, compress_limit: int = COMPRESS_LIMIT) -> str:
    """The index ``"auto"`` means for ``n`` vectors: ``"exact"``, ``"hnsw"`` or ``"compressed"``."""
    return "exact" if n <= exact_limit else "hnsw" if n <= compress_limit else "compressed"


def index_path(folder: str | os.PathLike, kind: str, fingerprint: str) -> Path:
    """Where a database folder caches its ``kind`` index for content ``fingerprint``."""
    return Path(folder) / f"index-{kind}-{fingerprint}.faiss"


def index_summary(folder: str | os.PathLike, manifest: dict[str, Any], fingerprint: str,
                  lazy_limit: int = 50_000) -> dict[str, Any]:
    """What searching a database takes: ``kind`` (the recorded index, else the one ``"auto"``
    picks by size), ``chosen`` (``"recorded"`` or ``"auto"``), ``stored`` (the index file's
    bytes, 0 for exact search or when not built yet), ``memory`` (bytes the search holds in memory:
    the index file for the faiss kinds, the vectors for exact search; an estimate when the index is
    not stored yet) and ``rows_memory`` (bytes of the vectors and tokens that opening the
    database loads: up to ``lazy_limit`` photos; above, they stay in the shard files: 0)."""
    enc = manifest["encoder"]
    n, dim = int(manifest["count"]), int(enc["dim"])
    recorded = manifest.get("index")
    kind = recorded if recorded in KINDS and recorded != "auto" else auto_kind(n)
    path = index_path(folder, kind, fingerprint)
    stored = path.stat().st_size if kind != "exact" and path.exists() else 0
    vectors = n * dim * 4
    estimate = {"exact": vectors, "hnsw": vectors + n * 32 * 2 * 4, "ivf": vectors + n * 8,
                "compressed": n * (min(256, dim) + 8)}[kind]
    tokens = n * int(np.prod(enc["token_shape"])) * 2
    return {"kind": kind, "chosen": "recorded" if kind == recorded else "auto", "stored": stored,
            "memory": stored or estimate, "memory_estimated": kind != "exact" and not stored,
            "rows_memory": vectors + tokens if n <= lazy_limit else 0}
