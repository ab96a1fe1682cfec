"""Retrieval that scales (issue 20, deliverable 5): the compressed index, databases opened lazily
(vectors and tokens left in the shard files), the index stored with the database, and
``procrop index build --index compressed`` (with Ray too)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from procrop.cli.app import app
from procrop.retrieval.build import build_index, calibrate
from procrop.retrieval.rows import ShardedRows
from procrop.retrieval.search import CompressedIndex, ExactIndex, index_path, make_index
from procrop.retrieval.store import NewItem, ReferenceDB, commit_items, create_db

pytest.importorskip("faiss")
runner = CliRunner()
DIM, TOKENS = 249, (64, 14)  # the layout encoder's shapes (calibration reads its grids)
ENCODER = {"name": "layout", "version": "layout-1", "dim": DIM, "token_shape": list(TOKENS), "config": {}}


def clustered(n: int, seed: int, centres: int = 300) -> np.ndarray:
    """Unit vectors around ``centres`` fixed cluster centres (the same centres for every seed)."""
    c = np.random.default_rng(123).standard_normal((centres, DIM)).astype(np.float32)
    rng = np.random.default_rng(seed)
    x = c[rng.integers(0, centres, n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return clustered(20_000, seed=0)


@pytest.fixture(scope="module")
def synthetic_db(vectors: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20k items in 4 shards; each item's tokens hold its row number (to check the rows read)."""
    root = tmp_path_factory.mktemp("scale") / "db"
    create_db(root, ENCODER)
    for a in range(0, len(vectors), 5000):
        items = [NewItem({"source": f"synthetic/{i}.jpg", "sha256": f"{i:064x}"}, vectors[i],
                         np.full(TOKENS, i % 2048, np.float16)) for i in range(a, a + 5000)]
        commit_items(root, ENCODER, items)
    return root


def test_compressed_index_finds_the_exact_neighbours(vectors: np.ndarray) -> None:
    index = CompressedIndex.build(vectors)
    import faiss

    assert index.size == len(vectors) and faiss.extract_index_ivf(index.index).nlist > 1  # compressed, not flat
    queries = clustered(300, seed=1)
    sims, got = index.search(queries, 10)
    want_sims, want = ExactIndex(vectors).search(queries, 10)
    assert (got[:, 0] == want[:, 0]).mean() >= 0.9
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)])
    assert recall >= 0.9
    # re-ranked exactly: the similarities are the true ones, best first
    assert np.allclose(sims, np.einsum("qd,qkd->qk", queries, vectors[got]), atol=1e-5)
    assert (np.diff(sims, axis=1) <= 1e-7).all()
    # a database's own vector finds itself
    _, own = index.search(vectors[:50], 1)
    assert (own[:, 0] == np.arange(50)).mean() >= 0.95


def test_lazy_database_reads_the_same_rows(synthetic_db: Path) -> None:
    eager = ReferenceDB.open(synthetic_db)
    lazy = ReferenceDB.open(synthetic_db, lazy=True)
    assert isinstance(lazy.vectors, ShardedRows) and isinstance(lazy.tokens, ShardedRows)
    assert lazy.vectors.shape == eager.vectors.shape and lazy.tokens.shape == eager.tokens.shape
    ids = np.array([0, 4999, 5000, 19_999, 12_345, 5000, -1])
    assert np.array_equal(lazy.vectors[ids], eager.vectors[ids])
    assert np.array_equal(lazy.tokens[ids], eager.tokens[ids])
    assert np.array_equal(lazy.vectors[4990:5010], eager.vectors[4990:5010])
    assert np.array_equal(np.asarray(lazy.vectors), eager.vectors)
    assert lazy.items == eager.items
    with pytest.raises(IndexError):
        lazy.vectors[np.array([20_000])]


def test_compressed_index_is_stored_with_the_database(synthetic_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_index(synthetic_db, "compressed") == "compressed"
    db = ReferenceDB.open(synthetic_db, lazy=True)
    assert db.manifest["index"] == "compressed"
    path = index_path(synthetic_db, "compressed", db.fingerprint)
    assert path.is_file()
    queries = clustered(100, seed=2)
    built = CompressedIndex.load(path, db.vectors)

    def no_rebuild(*args: object, **kwargs: object) -> None:
        raise AssertionError("the stored index was rebuilt")

    monkeypatch.setattr(CompressedIndex, "build", no_rebuild)
    loaded = make_index(db.vectors, "compressed", cache_dir=synthetic_db, fingerprint=db.fingerprint)
    assert isinstance(loaded, CompressedIndex)
    s1, i1 = built.search(queries, 5)
    s2, i2 = loaded.search(queries, 5)
    assert np.array_equal(i1, i2) and np.array_equal(s1, s2)
    # the tokens of the rows found are read from the shard files
    assert np.array_equal(db.tokens[i2[:, 0]][:, 0, 0], (i2[:, 0] % 2048).astype(np.float16))
    # calibration streams the vectors in blocks and finds the same neighbours as a full product
    cal = calibrate(synthetic_db, sample=50)
    full = ReferenceDB.open(synthetic_db)
    idx = np.sort(np.random.default_rng(0).choice(len(full), 50, replace=False))
    vs = full.vectors[idx] @ full.vectors.T
    vs[np.arange(50), idx] = -np.inf
    assert cal["vector_neighbour"] == pytest.approx(float(np.median(vs.max(axis=1))), abs=1e-6)


def test_auto_picks_the_compressed_index_above_the_limit(vectors: np.ndarray) -> None:
    assert isinstance(make_index(vectors[:3000], "auto", exact_limit=1000, compress_limit=2000), CompressedIndex)
    assert make_index(vectors[:500], "auto", exact_limit=1000).kind == "exact"


@pytest.mark.parametrize("ray", [None, "local"])
def test_index_build_with_the_compressed_index(photo_paths: list[Path], tmp_path: Path, ray: str | None) -> None:
    if ray:
        pytest.importorskip("ray")
    photos = [str(p) for p in photo_paths[:4]]
    out = tmp_path / "db"
    args = ["index", "build", *photos, "--out", str(out), "--encoder", "layout", "--index", "compressed", "-q"]
    r = runner.invoke(app, args + (["--ray", ray] if ray else []))
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["index"] == "compressed" and manifest["count"] == 4
    assert list(out.glob("index-compressed-*.faiss"))
    q = runner.invoke(app, ["index", "query", str(out), photos[1], "-k", "2", "--json"])
    assert q.exit_code == 0, q.output
    assert json.loads(q.stdout)["neighbours"][0]["similarity"] == pytest.approx(1.0, abs=1e-4)


def test_index_build_rejects_an_unknown_index(photo_paths: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "db"
    r = runner.invoke(app, ["index", "build", str(photo_paths[0]), "--out", str(out), "--encoder", "layout",
                            "--index", "pq"])
    assert r.exit_code != 0 and "--index pq" in r.output and "Traceback" not in r.output
    assert not out.exists()
