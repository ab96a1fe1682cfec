"""Reference databases that behave at scale (issue 20, item 5; issue 17's researcher path):

* a database opened lazily (over ``LAZY_LIMIT`` photos: vectors and tokens left in the shard files)
  serves the scorer's trainer exactly as one loaded whole (``db.similarities``, ``db.tokens[ids]``);
* opening checks sizes and headers and hashes only the data files changed since they were last
  hashed (their stamp), while ``procrop index verify`` hashes everything; a truncated or modified
  file is one line naming it;
* ``procrop index build``'s progress counts photos, and a resumed build starts where it stopped;
* ``procrop index info`` names the search index, its size on disk and its memory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from procrop.cli.app import app
from procrop.retrieval import integrity, store
from procrop.retrieval.build import build_database
from procrop.retrieval.references import bundled_db_path
from procrop.retrieval.rows import ShardedRows
from procrop.retrieval.store import DatabaseError, NewItem, ReferenceDB, commit_items, create_db

runner = CliRunner()


@pytest.fixture()
def sharded_copy(tmp_path: Path) -> Path:
    """The bundled (mobilenet) database's 517 photos rewritten as 6 shards of up to 100."""
    src = ReferenceDB.open(bundled_db_path())
    root = tmp_path / "refs"
    create_db(root, src.encoder_info)
    for a in range(0, len(src), 100):
        ids = range(a, min(len(src), a + 100))
        commit_items(root, src.encoder_info, [NewItem(dict(src.items[i]), src.vectors[i], src.tokens[i]) for i in ids])
    return root


def test_trainer_references_are_the_same_from_a_lazily_opened_database(sharded_copy: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from procrop.training.scorer.boxtrain import retrieve_refs

    rng = np.random.default_rng(0)
    c5 = rng.standard_normal((4, 1280, 8, 8)).astype(np.float16)
    photos = [ReferenceDB.open(sharded_copy).items[i]["source"] for i in (3, 250, 516)] + ["elsewhere.jpg"]
    eager_refs, eager_mask = retrieve_refs(c5, photos, str(sharded_copy), k=6)
    monkeypatch.setattr(store, "LAZY_LIMIT", 50)  # a small threshold: the 517 photos count as a large database
    lazy = ReferenceDB.open(sharded_copy)
    assert isinstance(lazy.vectors, ShardedRows) and isinstance(lazy.tokens, ShardedRows)
    refs, mask = retrieve_refs(c5, photos, str(sharded_copy), k=6)
    assert np.array_equal(refs, eager_refs) and np.array_equal(mask, eager_mask)
    assert not mask.any() and refs.shape == (4, 6, 64, 64)
    # the accessor itself: the same inner products either way
    q = rng.standard_normal((3, lazy.vectors.shape[1])).astype(np.float32)
    eager = ReferenceDB.open(sharded_copy, lazy=False)
    assert np.allclose(lazy.similarities(q), q @ eager.vectors.T, atol=1e-5)


def _count_hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    hashed: list[str] = []
    real = integrity.file_sha256

    def spy(path, progress=None):  # noqa: ANN001, ANN202
        hashed.append(Path(path).name)
        return real(path, progress)

    monkeypatch.setattr(integrity, "file_sha256", spy)
    return hashed


def test_open_hashes_only_data_files_changed_since_last_hashed(sharded_copy: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    hashed = _count_hashes(monkeypatch)
    ReferenceDB.open(sharded_copy)
    assert hashed == []  # stamped when written: nothing to hash
    (sharded_copy / integrity.STAMPS).unlink()  # e.g. a copied database: hashed once, then stamped
    ReferenceDB.open(sharded_copy)
    assert len(hashed) == 6 and all(n.endswith(".npz") for n in hashed)
    hashed.clear()
    ReferenceDB.open(sharded_copy)
    assert hashed == []
    ReferenceDB.open(sharded_copy, verify="full")
    assert len(hashed) == 6


def test_a_truncated_or_modified_shard_is_one_line_naming_it(sharded_copy: Path) -> None:
    shard = sorted(sharded_copy.glob("shard-*.npz"))[2]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) - 5000])
    with pytest.raises(DatabaseError, match=rf"{shard.name}: truncated shard file \(\d+ bytes, the manifest says "):
        ReferenceDB.open(sharded_copy)
    # an old manifest without sizes: the headers still catch it, lazily opened too
    manifest = json.loads((sharded_copy / "manifest.json").read_text())
    for s in manifest["shards"]:
        s.pop("bytes"), s.pop("meta_bytes")
    (sharded_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatabaseError, match=rf"{shard.name}: "):
        ReferenceDB.open(sharded_copy, lazy=True)
    # the same size, other bytes: the stamp no longer matches, so it is hashed
    broken = bytearray(data)
    broken[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(broken))
    with pytest.raises(DatabaseError, match=rf"{shard.name}: checksum mismatch"):
        ReferenceDB.open(sharded_copy, lazy=True)
    result = runner.invoke(app, ["index", "info", str(sharded_copy)])
    assert result.exit_code == 2 and "checksum mismatch" in result.output and "Traceback" not in result.output


def test_index_verify_hashes_what_the_stamps_cannot_see(sharded_copy: Path) -> None:
    ok = runner.invoke(app, ["index", "verify", str(sharded_copy)])
    assert ok.exit_code == 0, ok.output
    assert "517 photos in 6 shard(s)" in ok.output and "every file matches" in ok.output
    # bit rot: a byte changes, the stamp (size, times, inode) does not
    shard = sorted(sharded_copy.glob("shard-*.npz"))[4]
    broken = bytearray(shard.read_bytes())
    broken[-100] ^= 0xFF
    shard.write_bytes(bytes(broken))
    stamps = json.loads((sharded_copy / integrity.STAMPS).read_text())
    st = shard.stat()
    stamps["files"][shard.name]["stat"] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    (sharded_copy / integrity.STAMPS).write_text(json.dumps(stamps))
    assert len(ReferenceDB.open(sharded_copy)) == 517  # the quick check cannot see it
    bad = runner.invoke(app, ["index", "verify", str(sharded_copy), "--quiet"])
    assert bad.exit_code == 1
    lines = [ln for ln in bad.output.splitlines() if ln.strip()]
    assert lines == [f"error: {shard}: checksum mismatch (the file is corrupt or was modified)"]
    missing = runner.invoke(app, ["index", "verify", str(sharded_copy / "nothing")])
    assert missing.exit_code == 2 and "no such reference database" in missing.output


def _fake_analysis(path: str) -> SimpleNamespace:
    """An analysis with no subject and no horizon (the statistics of the frame only): fast."""
    return SimpleNamespace(width=300, height=200, people=[], subjects=[], horizon=None)


def test_build_progress_counts_photos_and_resumes(photo_paths: list[Path], tmp_path: Path) -> None:
    photos = [str(p) for p in photo_paths[:5]]
    db = tmp_path / "db"
    calls: list[tuple[int, int]] = []
    stages: list[str] = []
    build_database(photos[:2], db, encoder="layout", analyze=_fake_analysis,
                   progress=lambda d, t: calls.append((d, t)), stage=stages.append)
    assert calls[0] == (0, 2) and calls[-1] == (2, 2) and {t for _, t in calls} == {2}
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert stages == ["encoding", "calibrating", "indexing"]
    # a build killed after encoding, before measuring: resumed, the 2 photos are measured, 3 encoded
    sidecar = json.loads((db / "composition.json").read_text())
    assert len(sidecar["stats"]) == 2
    (db / "composition.json").unlink()
    calls.clear(), stages.clear()
    report = build_database(photos, db, encoder="layout", analyze=_fake_analysis,
                            progress=lambda d, t: calls.append((d, t)), stage=stages.append)
    assert report.already_present == 2 and report.added == 3
    assert calls[0] == (0, 5) and calls[-1] == (5, 5) and {t for _, t in calls} == {5}
    assert stages[:2] == ["measuring", "encoding"]
    assert len(json.loads((db / "composition.json").read_text())["stats"]) == 5
    # all there: nothing to do, the bar starts full
    calls.clear()
    build_database(photos, db, encoder="layout", analyze=_fake_analysis, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(5, 5)]


def test_index_info_names_the_search_index(sharded_copy: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["index", "info", str(sharded_copy)])
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("search index:"))
    vectors_mb = 517 * ReferenceDB.open(sharded_copy).vectors.shape[1] * 4 / 1e6
    assert line.startswith("search index: exact (chosen by size ('auto')), nothing stored;")
    assert f"vectors in memory: {vectors_mb:.0f} MB" in line and "loaded on open" in line
    lines = result.output.splitlines()  # the licence counts come under a label: the commonest licences'
    at = next(i for i, ln in enumerate(lines) if ln.startswith("photos per licence"))
    counts = [int(ln.split()[0]) for ln in lines[at + 1:]]
    assert 0 < len(counts) <= 12 and counts == sorted(counts, reverse=True) and sum(counts) <= 517, result.output
    if sum(counts) < 517:
        assert "the 12 commonest of" in lines[at], result.output
    as_json = json.loads(runner.invoke(app, ["index", "info", str(sharded_copy), "--json"]).output)
    assert as_json["index"]["kind"] == "exact" and as_json["index"]["rows_memory"] > 0
    store.set_index_kind(sharded_copy, "compressed")
    line = next(ln for ln in runner.invoke(app, ["index", "info", str(sharded_copy)]).output.splitlines()
                if ln.startswith("search index:"))
    assert line.startswith("search index: compressed (as recorded at build), not built yet")
    assert "codes in memory: about" in line
    pytest.importorskip("faiss")
    from procrop.retrieval.build import build_index

    build_index(sharded_copy)
    info = json.loads(runner.invoke(app, ["index", "info", str(sharded_copy), "--json"]).output)["index"]
    stored = next(sharded_copy.glob("index-compressed-*.faiss")).stat().st_size
    assert info["stored"] == stored == info["memory"] and not info["memory_estimated"]
    assert os.path.exists(sharded_copy / integrity.STAMPS)


def test_a_bad_item_line_is_named(sharded_copy: Path) -> None:
    meta = sorted(sharded_copy.glob("shard-*.jsonl"))[1]
    lines = meta.read_text().splitlines()
    lines[7] = lines[7][:-3]  # cut short
    meta.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatabaseError, match=rf"{meta.name}: checksum mismatch"):
        ReferenceDB.open(sharded_copy)
    with pytest.raises(DatabaseError, match=rf"{meta.name}:8: invalid JSON"):
        ReferenceDB.open(sharded_copy, verify=False)


def test_a_photo_in_the_database_is_not_its_own_reference_as_a_path_or_as_bytes(
        photo_paths: list[Path], tmp_path: Path) -> None:
    """The classic scorer left a photo of the database out of its own references when given its
    path, not its bytes (the HTTP API's upload): a developer's trial got other crops and higher scores
    over HTTP for 8 of 11 photos."""
    from procrop import Cropper

    photos = photo_paths[:4]
    build_database([str(p) for p in photos], tmp_path / "db", encoder="layout")
    cropper = Cropper(scorer="classic", reference_db=tmp_path / "db")
    by_path = cropper.process(photos[0], "1:1")
    by_bytes = cropper.process(photos[0].read_bytes(), "1:1")
    assert str(photos[0]) not in {r["source"] for r in by_path.references}
    assert [r["source"] for r in by_bytes.references] == [r["source"] for r in by_path.references]
    assert by_bytes.crops[0].box == by_path.crops[0].box and by_bytes.crops[0].score == by_path.crops[0].score


def test_the_bundled_database_keeps_its_stamps_out_of_the_package(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening the bundled references wrote .verified.json into site-packages, which pip's uninstall
    left behind and which then hid an editable install (a new user's trial): its stamps live in the
    user's cache; a database of the user's own keeps them beside its shards."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bundled = bundled_db_path()
    kept = integrity.stamps_path(bundled)
    assert tmp_path / "cache" / "procrop" / "verified" in kept.parents
    ReferenceDB.open(bundled, verify="full")  # hashes every shard and stamps them
    assert kept.is_file() and json.loads(kept.read_text("utf-8"))["files"]
    mine = tmp_path / "db"
    assert integrity.stamps_path(mine) == mine / integrity.STAMPS
