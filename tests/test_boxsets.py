"""Box sets (the learned scorer's cached training data): records of a real photo, the shard format,
and the resumable build."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

from procrop.training.scorer import boxsets
from procrop.training.scorer.boxsets import BoxSetOptions, build_boxsets, photo_records, read_boxsets, write_shard

MAPS = {"c3": (32, 32, 32), "c4": (96, 16, 16), "c5": (1280, 8, 8)}
FAST = BoxSetOptions(canvases=2, photo_side=(200, 260))


@pytest.fixture(scope="module")
def two_photos(photo_paths: list[Path]) -> list[Path]:
    names = ("budgie-backgrounds/beacon-street-sunset.jpg",
             "smartcrop-js-unsplash/makhmutova-dina-1580313.jpg")
    return [next(p for p in photo_paths if p.as_posix().endswith(n)) for n in names]


@pytest.fixture(scope="module")
def records(two_photos: list[Path]) -> list[dict[str, Any]]:
    path = str(two_photos[0])
    return photo_records(path, "sunset.jpg", [str(p) for p in two_photos], BoxSetOptions(canvases=2))


def test_photo_records_of_a_real_photo(records: list[dict[str, Any]]) -> None:
    assert len(records) == 2
    for r in records:
        for key, shape in MAPS.items():
            assert r[key].shape == shape and r[key].dtype == np.float16
            assert np.isfinite(r[key]).all()
        x1, y1, x2, y2 = r["frame"]
        assert r["frame"].dtype == np.float32
        assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
        assert isinstance(r["text"], str) and r["text"].strip()
        assert r["photo"] == "sunset.jpg"
    # canvas 0 is the photo alone (the frame is the whole canvas), canvas 1 the first training fill
    assert records[0]["fill"] == "none" and records[0]["frame"].tolist() == [0, 0, 1, 1]
    assert records[1]["fill"] == BoxSetOptions().fills[1]
    x1, y1, x2, y2 = records[1]["frame"]
    assert (x2 - x1) * (y2 - y1) < 0.96


def test_photo_records_are_seeded(records: list[dict[str, Any]], two_photos: list[Path]) -> None:
    pool = [str(p) for p in two_photos]
    again = photo_records(str(two_photos[0]), "sunset.jpg", pool, BoxSetOptions(canvases=2))
    for a, b in zip(records, again):
        assert np.array_equal(a["frame"], b["frame"]) and a["canvas"] == b["canvas"]
        assert a["text"] == b["text"]
        assert np.array_equal(a["c5"], b["c5"])


def test_shard_round_trip(records: list[dict[str, Any]], tmp_path: Path) -> None:
    write_shard(tmp_path / "shard-0000.npz", records)
    write_shard(tmp_path / "shard-0001.npz", records[:1])
    data = read_boxsets(tmp_path)
    rows = records + records[:1]
    for key in (*MAPS, "frame"):
        assert data[key].dtype == rows[0][key].dtype
        assert np.array_equal(data[key], np.stack([r[key] for r in rows]))
    assert data["canvas"].tolist() == [list(r["canvas"]) for r in rows]
    assert data["meta"] == [{"photo": r["photo"], "fill": r["fill"], "text": r["text"]} for r in rows]


def test_read_boxsets_of_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no box-set shards"):
        read_boxsets(tmp_path)


def test_build_boxsets_resumes(two_photos: list[Path], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boxsets, "PHOTOS_PER_SHARD", 1)  # one shard per photo
    out = tmp_path / "boxsets"
    root = str(two_photos[0].parents[1])
    shards = build_boxsets([str(p) for p in two_photos], out, FAST, root=root, progress=False)
    assert [s.name for s in shards] == ["shard-0000.npz", "shard-0001.npz"]
    assert (out / "options.json").exists()
    data = read_boxsets(out)
    assert len(data["meta"]) == 4 and data["c5"].shape == (4, *MAPS["c5"])
    assert {m["photo"] for m in data["meta"]} == {os.path.relpath(p, root) for p in two_photos}
    stamps = {s.name: s.stat().st_mtime_ns for s in shards}
    # a rerun rewrites nothing; a lost shard is rebuilt alone, identically
    assert build_boxsets([str(p) for p in two_photos], out, FAST, root=root, progress=False) == shards
    assert {s.name: s.stat().st_mtime_ns for s in shards} == stamps
    lost = shards[1].read_bytes()
    shards[1].unlink()
    build_boxsets([str(p) for p in two_photos], out, FAST, root=root, progress=False)
    assert shards[0].stat().st_mtime_ns == stamps["shard-0000.npz"]
    with np.load(shards[1]) as rebuilt, np.load(io.BytesIO(lost)) as before:
        for key in ("frame", "c5"):
            assert np.array_equal(rebuilt[key], before[key])
