"""Reference database: encoders, storage, search, CLI, and retrieval-guided cropping on real photos."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from procrop import Cropper
from procrop.cli.app import app
from procrop.geometry import parse_ratio
from procrop.imaging.load import load_image
from procrop.retrieval import (
    DatabaseError,
    ExactIndex,
    FaissIndex,
    ReferenceDB,
    build_database,
    bundled_db_path,
    create_encoder,
    read_licences,
)
from procrop.retrieval.store import NewItem, commit_items
from procrop.scoring.context import ScoringContext
from procrop.scoring.terms.retrieval import RetrievalTerm

runner = CliRunner()


@pytest.fixture(scope="module")
def small_db(photo_paths: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    photos = photo_paths[::12]
    out = tmp_path_factory.mktemp("db") / "small"
    report = build_database([str(p) for p in photos], out, encoder="layout", thumbnails=True)
    assert report.added == len(photos) and not report.failed
    return out, photos


# ---- encoders -----------------------------------------------------------------------------


def test_layout_encoder_is_deterministic_and_normalised(photo_paths: list[Path]) -> None:
    enc = create_encoder("layout")
    a = enc.encode(load_image(photo_paths[5]))
    b = create_encoder("layout").encode(load_image(photo_paths[5]))
    assert a.vector.shape == (enc.dim,) and a.vector.dtype == np.float32
    assert abs(np.linalg.norm(a.vector) - 1) < 1e-5
    assert a.tokens.shape == enc.token_shape == (64, 14)
    np.testing.assert_array_equal(a.vector, b.vector)
    np.testing.assert_array_equal(a.tokens, b.tokens)


def test_layout_encoder_captures_layout_not_colour() -> None:
    """Same layout in other colours is closer than the same colours in another layout."""

    def scene(horizon: int, sky, ground, sun_x: int) -> np.ndarray:
        img = np.zeros((200, 300, 3), np.uint8)
        img[:horizon] = sky
        img[horizon:] = ground
        cv2.circle(img, (sun_x, 40), 15, (255, 255, 255), -1)
        return img

    enc = create_encoder("layout")
    base = enc.encode(load_image(scene(130, (90, 140, 220), (40, 90, 40), 70))).vector
    recoloured = enc.encode(load_image(scene(130, (220, 120, 60), (90, 40, 30), 70))).vector
    relaid = enc.encode(load_image(scene(60, (90, 140, 220), (40, 90, 40), 240))).vector
    assert base @ recoloured > base @ relaid


def test_encoder_registry_errors() -> None:
    from procrop.errors import ModelLoadError, UsageError

    with pytest.raises(UsageError, match="unknown encoder"):
        create_encoder("nope")
    with pytest.raises(ModelLoadError, match="checkpoint"):
        create_encoder("sam")
    with pytest.raises(ModelLoadError, match="no such checkpoint"):
        create_encoder("sam", checkpoint="/nonexistent/sam_vit_b_01ec64.pth")


def test_sam_loader_with_tiny_random_weights(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from procrop.retrieval.encoders.sam import build_sam_image_encoder, sam_config_from_state_dict

    arch = dict(embed_dim=32, depth=3, num_heads=2, patch_size=8, img_size=64, out_chans=16, window_size=4, global_attn_indexes=(1,))
    model = build_sam_image_encoder(**arch)
    torch.manual_seed(0)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    # the official checkpoint layout: the whole SAM model, image encoder under image_encoder.*
    sd = {f"image_encoder.{k}": v for k, v in model.state_dict().items()}
    sd["mask_decoder.dummy"] = torch.zeros(2)
    torch.save(sd, tmp_path / "sam_tiny.pth")
    assert sam_config_from_state_dict(model.state_dict()) == {**arch, "mlp_ratio": 4.0}
    enc = create_encoder("sam", checkpoint=str(tmp_path / "sam_tiny.pth"), device="cpu")
    img = load_image(np.random.default_rng(0).integers(0, 255, (60, 90, 3), dtype=np.uint8))
    e = enc.encode(img)
    assert e.tokens.shape == (16, 256) and e.vector.shape == (16 * 256,)
    assert abs(np.linalg.norm(e.vector) - 1) < 1e-5
    # same output as running the module directly (the loader kept every weight)
    x = torch.from_numpy(((cv2.resize(img.pixels, (64, 64)).astype(np.float32) - [123.675, 116.28, 103.53]) / [58.395, 57.12, 57.375]).transpose(2, 0, 1)[None].astype(np.float32))
    with torch.inference_mode():
        direct = model.eval()(x)[0].numpy()
    np.testing.assert_allclose(e.feature_map, direct.transpose(1, 2, 0), atol=1e-5)
    # ViT-B from the same code has the published encoder size
    vit_b = build_sam_image_encoder()
    assert abs(sum(p.numel() for p in vit_b.parameters()) / 1e6 - 89.67) < 0.05


def test_clip_and_dinov2_loaders_with_tiny_random_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from procrop.errors import ModelLoadError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clip_cfg = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8)
    transformers.CLIPVisionModel(clip_cfg).save_pretrained(tmp_path / "clip")
    dino_cfg = transformers.Dinov2Config(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=28, patch_size=7)
    transformers.Dinov2Model(dino_cfg).save_pretrained(tmp_path / "dino")
    img = load_image(np.random.default_rng(1).integers(0, 255, (60, 90, 3), dtype=np.uint8))
    for name, folder in (("clip", "clip"), ("dinov2", "dino")):
        enc = create_encoder(name, checkpoint=str(tmp_path / folder), device="cpu")
        e = enc.encode(img)
        assert e.vector.shape == (32,) and e.tokens.shape == (64, 32)
        assert enc.crop_grids(e, np.array([[0, 0, 45, 60]]), 90, 60).shape == (1, 64, 32)
    with pytest.raises(ModelLoadError, match="offline"):
        create_encoder("clip", checkpoint="openai/clip-vit-base-patch32")


def test_hub_weights_are_never_downloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the offline switches off, a hub id still loads only from the local cache."""
    from procrop.errors import ModelLoadError
    from procrop.pretrained import from_pretrained

    for switch in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(switch, raising=False)
    asked: list[dict[str, object]] = []

    def load(name: str, **kwargs: object) -> object:
        asked.append(kwargs)
        raise OSError(f"{name} is not in the cache")

    with pytest.raises(ModelLoadError, match="never downloads"):
        from_pretrained(load, "some-org/some-model", "test weights")
    assert asked == [{"local_files_only": True}]


# ---- storage and search -------------------------------------------------------------------


def test_round_trip_and_self_is_top1(small_db: tuple[Path, list[Path]]) -> None:
    out, photos = small_db
    db = ReferenceDB.open(out, expect_encoder="layout")
    assert len(db) == len(photos)
    assert db.vectors.shape == (len(photos), db.encoder_info["dim"])
    assert db.tokens.dtype == np.float16 and sum(t is not None for t in db.thumbnails) == len(photos)
    enc = create_encoder("layout")
    index = ExactIndex(db.vectors)
    by_source = {it["source"]: i for i, it in enumerate(db.items)}
    for p in photos[:10]:
        e = enc.encode(enc.load(p))
        i = by_source[str(p)]
        np.testing.assert_allclose(db.vectors[i], e.vector, atol=1e-6)
        np.testing.assert_allclose(db.tokens[i].astype(np.float32), e.tokens, atol=2e-3)
        sims, idx = index.search(e.vector[None], 3)
        assert idx[0, 0] == i and sims[0, 0] > 0.999
    assert db.items[0]["sha256"] == hashlib.sha256(Path(db.items[0]["source"]).read_bytes()).hexdigest()


def test_flipped_and_rescaled_copies_rank_first(small_db: tuple[Path, list[Path]], tmp_path: Path) -> None:
    out, photos = small_db
    mirrored_flags = []
    for p in photos[:12]:
        im = Image.open(p).convert("RGB")
        for variant, name in ((im.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "flip.jpg"), (im.resize((im.width // 3, im.height // 3)), "small.jpg")):
            q = tmp_path / name
            variant.save(q, quality=85)
            r = runner.invoke(app, ["index", "query", str(out), str(q), "-k", "3", "--json"])
            assert r.exit_code == 0, r.stderr
            top = json.loads(r.stdout)["neighbours"][0]
            assert top["source"] == str(p), (name, p.name, top)
            if name == "flip.jpg":
                mirrored_flags.append(top["mirrored"])
    # a flipped copy is found as a mirror image (nearly symmetric photos may match either way)
    assert sum(mirrored_flags) >= 10


def test_incremental_add_dedupe_and_cli(small_db: tuple[Path, list[Path]], photo_paths: list[Path], tmp_path: Path) -> None:
    out, photos = small_db
    db_copy = tmp_path / "db"
    shutil.copytree(out, db_copy)
    extra = photo_paths[1::12][:6]
    r = runner.invoke(app, ["index", "add", str(db_copy), *map(str, extra), *map(str, photos[:3]), "-q"])
    assert r.exit_code == 0, r.stderr
    db = ReferenceDB.open(db_copy)
    assert len(db) == len(photos) + len(extra)
    assert len({it["sha256"] for it in db.items}) == len(db)
    assert [it["id"] for it in db.items] == list(range(len(db)))
    assert all(db.thumbnails)  # built with thumbnails: the added photos get theirs too
    # adding the same photos again adds nothing
    r = runner.invoke(app, ["index", "add", str(db_copy), *map(str, extra)])
    assert r.exit_code == 0 and "added 0, already present 6" in r.stderr
    info = runner.invoke(app, ["index", "info", str(db_copy), "--json"])
    assert json.loads(info.stdout)["count"] == len(db)
    sheet = tmp_path / "sheet.png"
    r = runner.invoke(app, ["index", "query", str(db_copy), str(extra[0]), "-k", "4", "--preview", str(sheet)])
    assert r.exit_code == 0 and Image.open(sheet).size[0] > 400


def test_unreadable_photos_are_listed_not_fatal(tmp_path: Path, photo_paths: list[Path]) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    r = runner.invoke(app, ["index", "build", str(photo_paths[0]), str(bad), "--out", str(tmp_path / "db"), "-q"])
    assert r.exit_code == 1 and "bad.jpg" in r.stderr
    assert len(ReferenceDB.open(tmp_path / "db")) == 1
    only_bad = runner.invoke(app, ["index", "build", str(bad), "--out", str(tmp_path / "none"), "-q"])
    assert only_bad.exit_code == 1 and not (tmp_path / "none").exists()  # no empty database left behind


def test_a_tiny_reference_photo_is_noted(tmp_path: Path, photo_paths: list[Path]) -> None:
    """A trial's 8 x 5 PNG entered a reference database without a word."""
    tiny = tmp_path / "micro.png"
    Image.new("RGB", (8, 5), (200, 30, 30)).save(tiny)
    r = runner.invoke(app, ["index", "build", str(photo_paths[0]), str(tiny), "--out", str(tmp_path / "db")])
    assert r.exit_code == 0 and "note: 1 photo(s) under 64 px" in r.stderr, r.stderr
    assert "micro.png (8x5)" in r.stderr
    again = runner.invoke(app, ["index", "build", str(photo_paths[0]), "--out", str(tmp_path / "db2")])
    assert "under 64 px" not in again.stderr


def test_corrupt_and_mismatched_databases_fail_clearly(small_db: tuple[Path, list[Path]], tmp_path: Path) -> None:
    out, _ = small_db

    def fresh() -> Path:
        d = tmp_path / f"db{len(list(tmp_path.iterdir()))}"
        shutil.copytree(out, d)
        return d

    d = fresh()
    shard = next(d.glob("shard-*.npz"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(DatabaseError, match="checksum mismatch"):
        ReferenceDB.open(d)

    d = fresh()
    next(d.glob("shard-*.jsonl")).unlink()
    with pytest.raises(DatabaseError, match="missing shard file"):
        ReferenceDB.open(d)

    d = fresh()
    m = json.loads((d / "manifest.json").read_text())
    m["version"] = 99
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DatabaseError, match="schema version 99"):
        ReferenceDB.open(d)

    d = fresh()
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(DatabaseError, match="corrupt manifest"):
        ReferenceDB.open(d)

    with pytest.raises(DatabaseError, match="no such reference database"):
        ReferenceDB.open(tmp_path / "missing")
    with pytest.raises(DatabaseError, match="not 'sam'"):
        ReferenceDB.open(out, expect_encoder="sam")

    d = fresh()
    other = {"name": "clip", "version": "clip-vision-1", "dim": 32, "token_shape": [64, 32], "config": {}}
    with pytest.raises(DatabaseError, match="cannot add clip"):
        commit_items(d, other, [NewItem({"sha256": "x"}, np.zeros(32, np.float32), np.zeros((64, 32)))])
    r = runner.invoke(app, ["crop", str(tmp_path / "x.jpg"), "--scorer", "classic", "--db", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "no such reference database" in r.output


def test_a_build_under_way_beside_is_not_a_foreign_folder(tmp_path: Path, photo_paths: list[Path]) -> None:
    """Two builds into one folder: the second may look in while the first has written its lock and a
    shard but not yet its manifest (a CI run saw "a folder holding other files" there); a folder of
    other files is still refused."""
    db = tmp_path / "db"
    db.mkdir()
    for name in (".lock", "shard-0a1b2c.npz", "shard-0a1b2c.jsonl", ".manifest.json.x1y2.tmp"):
        (db / name).write_bytes(b"")
    r = runner.invoke(app, ["index", "build", str(photo_paths[0]), "--out", str(db), "--encoder", "layout", "-q"])
    assert r.exit_code == 0, r.output
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"")
    r = runner.invoke(app, ["index", "build", str(photo_paths[0]), "--out", str(mine), "--encoder", "layout", "-q"])
    assert r.exit_code == 2 and "a folder holding other files" in r.output


def _build_cmd(db: Path, photos: list[Path], chunk: int) -> list[str]:
    return [sys.executable, "-m", "procrop.cli", "index", "build", *map(str, photos), "--out", str(db), "--chunk", str(chunk),
            "--encoder", "layout", "-q"]  # the storage under test, the cheapest encoder


def test_concurrent_builds_into_one_path(photo_paths: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "shared_db"
    a = photo_paths[2:42]
    b = photo_paths[22:62]  # 20 photos in common
    procs = [subprocess.Popen(_build_cmd(db, s, 3), stderr=subprocess.PIPE) for s in (a, b)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    d = ReferenceDB.open(db)
    expected = {hashlib.sha256(p.read_bytes()).hexdigest() for p in photo_paths[2:62]}
    assert {it["sha256"] for it in d.items} == expected
    assert len(d) == len(expected)
    assert [it["id"] for it in d.items] == list(range(len(d)))


def test_killed_build_resumes_without_loss_or_duplicates(photo_paths: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "killed"
    photos = photo_paths[100:220]
    proc = subprocess.Popen(_build_cmd(db, photos, 4))
    deadline = time.time() + 60
    count = 0
    while time.time() < deadline and proc.poll() is None:
        try:
            count = json.loads((db / "manifest.json").read_text())["count"]
        except (OSError, ValueError):
            count = 0
        if count >= 8:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = ReferenceDB.open(db)  # whatever was committed is intact
    assert 0 < len(partial) < len(photos), "the build was not interrupted mid-way"
    assert subprocess.run(_build_cmd(db, photos, 4)).returncode == 0
    d = ReferenceDB.open(db)
    assert len(d) == len({hashlib.sha256(p.read_bytes()).hexdigest() for p in photos})
    assert len({it["sha256"] for it in d.items}) == len(d)
    assert not list(db.glob("*.tmp"))


def test_next_writer_removes_temporaries_of_a_killed_writer(tmp_path: Path) -> None:
    """A writer killed inside ``atomic_write`` leaves ``.NAME.*.tmp``; the next lock holder removes
    those of the files only written under the lock and leaves everything else alone."""
    from procrop.retrieval.store import create_db

    info = {"name": "clip", "version": "clip-vision-1", "dim": 32, "token_shape": [64, 32], "config": {}}
    db = tmp_path / "db"
    create_db(db, info)
    stale = [db / ".manifest.json.k1.tmp", db / ".hashes.json.k2.tmp", db / ".shard-abc.npz.k3.tmp", db / ".shard-abc.jsonl.k4.tmp"]
    other = [db / ".ATTRIBUTION.md.k5.tmp", db / "notes.tmp"]
    for f in stale + other:
        f.write_bytes(b"partial")
    added = commit_items(db, info, [NewItem({"sha256": "x"}, np.zeros(32, np.float32), np.zeros((64, 32)))])
    assert added == 1 and len(ReferenceDB.open(db)) == 1
    assert not any(f.exists() for f in stale)
    assert all(f.exists() for f in other)


def test_faiss_indexes_agree_with_exact(small_db: tuple[Path, list[Path]], tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 64))
    x = centres[rng.integers(0, 50, 5000)] + 0.3 * rng.normal(size=(5000, 64))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    q = x[:50] + 0.05 * rng.normal(size=(50, 64)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    _, truth = ExactIndex(x).search(q, 10)
    for kind in ("hnsw", "ivf"):
        index = FaissIndex(x, kind=kind, nprobe=16)
        _, got = index.search(q, 10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, got)])
        assert recall >= 0.9, (kind, recall)
        index.save(tmp_path / f"{kind}.faiss")
        _, again = FaissIndex.load(tmp_path / f"{kind}.faiss", kind).search(q, 10)
        np.testing.assert_array_equal(again, got)


# ---- bundled database and guided cropping ---------------------------------------------------


def test_bundled_database(manifest: list[dict[str, str]]) -> None:
    path = bundled_db_path()
    assert path is not None
    db = ReferenceDB.open(path)
    assert len(db) == len(manifest)
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    assert size <= 10_000_000
    assert not any(t for t in db.thumbnails)  # derived data only, no pixels
    attribution = (path / "ATTRIBUTION.md").read_text()
    for row in manifest:
        assert row["file"] in attribution
    assert all(it.get("licence") for it in db.items)
    assert all(not os.path.isabs(it["source"]) for it in db.items)


def test_cropper_uses_bundled_db_by_default_and_a_users_db(small_db: tuple[Path, list[Path]], photo_paths: list[Path],
                                                            default_cropper: Cropper) -> None:
    photo = photo_paths[7]
    learned = default_cropper.process(photo, "1:1")  # Cropper(): retrieves from its own bundle
    assert learned.references and "learned" in learned.crops[0].terms
    default = Cropper(scorer="classic").process(photo, "1:1")
    assert default.references and "retrieval" in default.crops[0].terms
    assert default.crops[0].references
    json.dumps(default.to_dict())
    out, photos = small_db
    own = Cropper(scorer="classic", reference_db=out).process(photo, "1:1")
    assert {r["source"] for r in own.references} <= {str(p) for p in photos}
    off = Cropper(scorer="classic", reference_db=None).process(photo, "1:1")
    assert not off.references and "retrieval" not in off.crops[0].terms
    r = runner.invoke(app, ["crop", str(photo), "--scorer", "classic", "--db", str(out), "-r", "1:1"])
    data = json.loads(r.stdout)
    assert data["references"][0]["source"] in {str(p) for p in photos}


def pad_with_context(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Extend a photo on every side by mirrored content (8-30 % per side); returns the canvas and
    the original frame's box in it."""
    h, w = img.shape[:2]
    left, right = (rng.uniform(0.08, 0.3, 2) * w).astype(int)
    top, bottom = (rng.uniform(0.08, 0.3, 2) * h).astype(int)
    canvas = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_REFLECT_101)
    return canvas, np.array([left, top, w, h])


def test_retrieval_ranks_the_professional_frame_higher(photo_paths: list[Path], tmp_path: Path) -> None:
    """Held-out professional photos padded with context: with retrieval on, the crop that
    recovers the photographer's frame ranks higher than with it off, on most photos."""
    train = [p for i, p in enumerate(photo_paths) if i % 5]
    held_out = [p for i, p in enumerate(photo_paths) if i % 5 == 0][:30]
    db = tmp_path / "train_db"
    build_database([str(p) for p in train], db, encoder="layout", workers=2)
    term = RetrievalTerm(db)
    cropper = Cropper(scorer="classic", reference_db=None)
    rng = np.random.default_rng(0)
    better = worse = 0
    for p in held_out:
        canvas, frame = pad_with_context(load_image(p, 1024).pixels, rng)
        image = cropper.load(canvas)
        analysis = cropper.analyze(image)
        ctx = ScoringContext(image, analysis)
        boxes = np.concatenate([cropper.candidates(analysis, parse_ratio("free")), frame[None]])
        tv = cropper.scorer.terms(ctx, boxes)
        off = cropper.scorer.combine(tv)
        values, applicable = term.evaluate(ctx, boxes)
        tv.add("retrieval", values, applicable)
        on = cropper.scorer.combine(tv)
        rank_off = int((off > off[-1]).sum())
        rank_on = int((on > on[-1]).sum())
        better += rank_on < rank_off
        worse += rank_on > rank_off
    assert better > 0.7 * len(held_out), (better, worse)
    assert worse < 0.2 * len(held_out)


def test_licence_csv_reader(photos_dir: Path) -> None:
    rows = read_licences(photos_dir / "MANIFEST.csv")
    some = rows[str((photos_dir / "zelex-kodak" / "kodim12.jpg").resolve())]
    assert "Kodak" in some["licence"]
