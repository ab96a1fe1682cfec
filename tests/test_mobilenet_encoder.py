"""The ``mobilenet`` reference encoder (procrop.retrieval.encoders.mobilenet).

* ``procrop index build PHOTOS --out DB --encoder mobilenet`` builds a database of 12 pool photos with
  64 tokens x 64 (float16) and 1280-d normalised vectors;
* querying with one of the photos finds it first; querying with its mirror image finds it first,
  flagged ``mirrored``;
* the tokens, crop grids and mirror grids agree: the frame's crop grid is the stored grid, and a
  retriever on the database scores crops (the retrieval term's path);
* importing the encoder module needs no torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from procrop.cli.app import app  # noqa: E402
from procrop.errors import UsageError  # noqa: E402
from procrop.retrieval import ReferenceDB, create_encoder  # noqa: E402
from procrop.retrieval.references import ReferenceRetriever  # noqa: E402

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mobilenet_db(photo_paths: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    photos = photo_paths[5::43][:12]
    folder = tmp_path_factory.mktemp("pool")
    for i, p in enumerate(photos):  # a folder of the 12 photos, as a user would index
        (folder / f"{i:02d}_{p.name}").symlink_to(p)
    out = tmp_path_factory.mktemp("db") / "mobilenet"
    r = runner.invoke(app, ["index", "build", str(folder), "--out", str(out), "--encoder", "mobilenet", "--quiet"])
    assert r.exit_code == 0, r.output
    return out, sorted(folder.iterdir())


def _top(db: Path, query: Path) -> dict:
    r = runner.invoke(app, ["index", "query", str(db), str(query), "-k", "3", "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["neighbours"][0]


def test_database_shapes(mobilenet_db: tuple[Path, list[Path]]) -> None:
    out, photos = mobilenet_db
    db = ReferenceDB.open(out, expect_encoder="mobilenet")
    assert len(db) == len(photos) == 12
    assert db.vectors.shape == (12, 1280) and db.tokens.shape == (12, 64, 64)
    assert db.tokens.dtype == np.float16
    np.testing.assert_allclose(np.linalg.norm(db.vectors, axis=1), 1.0, atol=1e-5)


def test_self_and_mirror_are_top_hits(mobilenet_db: tuple[Path, list[Path]], tmp_path: Path) -> None:
    out, photos = mobilenet_db
    for p in photos[:4]:
        top = _top(out, p)
        assert Path(top["source"]).name == p.name and not top.get("mirrored"), top
        mirror = tmp_path / f"mirror_{p.stem}.png"
        Image.open(p).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirror)
        top = _top(out, mirror)
        assert Path(top["source"]).name == p.name and top.get("mirrored") is True, top


def test_grids_and_retrieval_term_path(mobilenet_db: tuple[Path, list[Path]]) -> None:
    out, photos = mobilenet_db
    enc = create_encoder("mobilenet")
    image = enc.load(photos[0])
    e = enc.encode(image)
    h, w = image.pixels.shape[:2]
    frame = enc.crop_grids(e, np.array([[0, 0, w, h]]), w, h)
    stored = type(enc).grid_from_tokens(e.tokens[None])
    np.testing.assert_allclose(frame, stored, rtol=1e-4, atol=1e-4)
    assert type(enc).flip_grid(stored).shape == (1, 64, 64)
    retriever = ReferenceRetriever(out, k=5, min_similarity=0.0, encoder=enc)
    got = retriever.retrieve(image, None)  # the photo itself is excluded by content hash
    assert got is not None and len(got.refs) == 5
    boxes = np.array([[0, 0, w, h], [w // 4, h // 4, w // 2, h // 2]])
    values, sims = retriever.crop_similarities(got, boxes, w, h)
    assert values.shape == (2,) and sims.shape == (2, 5) and np.isfinite(sims).all()


def test_module_imports_without_torch() -> None:
    code = (
        "import sys\n"
        "import procrop.retrieval.encoders.mobilenet\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_onnx_runtime_matches_torch(photo_paths: list[Path]) -> None:
    """Without torch (the base install) the encoder runs the learned bundle's backbone.onnx: the
    same vectors, tokens and mirror vectors as the torch network, so the bundled database serves both."""
    from procrop.imaging.load import load_image
    from procrop.retrieval.encoders.mobilenet import MobileNetEncoder

    image = load_image(photo_paths[3], 256)
    a = MobileNetEncoder(runtime="torch").encode(image)
    b = MobileNetEncoder(runtime="onnx").encode(image)
    for x, y in ((a.vector, b.vector), (a.tokens, b.tokens), (a.flipped_vector, b.flipped_vector)):
        assert np.abs(x - y).max() < 1e-4
    with pytest.raises(UsageError, match="packaged weights"):
        MobileNetEncoder(checkpoint="other.npz", runtime="onnx")
