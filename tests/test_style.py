"""References that steer the learned default (issue 20): ``--db`` / ``Cropper(reference_db=...)`` with
the learned scorer, databases built with default options, the composition statistics and the style
term (``style_strength``).

Before: the learned scorer refused ``--db`` ("usage error") and ``Cropper(reference_db=PATH)`` ignored
it, even a path that did not exist; ``build_database`` defaulted to the ``layout`` encoder, which the
learned model cannot read; nothing measured the references' composition.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from typer.testing import CliRunner

from procrop import Cropper
from procrop.cli.app import app
from procrop.errors import UsageError
from procrop.retrieval import ReferenceDB, build_database
from procrop.retrieval.composition import SIDECAR, crop_stats, read_composition
from procrop.retrieval.store import DatabaseError
from procrop.scoring.terms.style import DEFAULT_STRENGTH

runner = CliRunner()


def scene(path: Path, cx: float, w: int = 480, h: int = 320, seed: int = 0) -> Path:
    """A textured field under a sky, with one bright subject whose centre is at ``cx`` of the width."""
    rng = np.random.default_rng(seed)
    px = np.zeros((h, w, 3), np.uint8)
    px[: h // 2] = (120, 160, 215)
    px[h // 2:] = (70, 110, 50)
    px = np.clip(px + rng.normal(0, 6, px.shape), 0, 255).astype(np.uint8)
    im = Image.fromarray(px)
    d = ImageDraw.Draw(im)
    r = h // 7
    x, y = int(cx * w), int(0.55 * h)
    d.ellipse([x - r, y - r, x + r, y + r], fill=(235, 40, 30))
    im.filter(ImageFilter.GaussianBlur(0.8)).save(path, quality=92)
    return path


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two databases built with default options: subjects on the left third, on the right third."""
    out = {}
    for name, cx in (("left", 1 / 3), ("right", 2 / 3)):
        folder = tmp_path_factory.mktemp(f"photos_{name}")
        paths = [str(scene(folder / f"{name}{i}.jpg", cx + 0.02 * (i - 1), seed=i)) for i in range(3)]
        db = tmp_path_factory.mktemp("db") / name
        report = build_database(paths, db)  # the Python default
        assert report.added == 3 and not report.failed
        out[name] = db
    return out


@pytest.fixture(scope="module")
def query(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scene(tmp_path_factory.mktemp("query") / "query.jpg", 0.5, w=720, h=320, seed=7)


def test_default_build_is_a_database_the_learned_scorer_reads(sides: dict[str, Path]) -> None:
    db = ReferenceDB.open(sides["left"])
    assert db.encoder_info["name"] == "mobilenet" and tuple(db.tokens.shape[1:]) == (64, 64)
    stats = read_composition(sides["left"])
    assert len(stats) == 3
    for s in stats.values():  # the subject measured where it was drawn
        assert abs(s["cx"] - 1 / 3) < 0.08 and 0.5 < s["cy"] < 0.65


def test_index_info_counts_the_measured_photos(sides: dict[str, Path]) -> None:
    r = runner.invoke(app, ["index", "info", str(sides["left"])])
    assert r.exit_code == 0 and "composition measured (steers the learned scorer's style): 3 of 3 photos" in r.output
    info = json.loads(runner.invoke(app, ["index", "info", str(sides["left"]), "--json"]).output)
    assert info["composition"] == 3 and "photos" not in info
    listed = runner.invoke(app, ["index", "info", str(sides["left"]), "--photos"])
    rows = [line for line in listed.output.splitlines() if line.startswith("  subject at")]
    assert listed.exit_code == 0 and len(rows) == 3 and all(line.rstrip().endswith(".jpg") for line in rows)
    as_json = runner.invoke(app, ["index", "info", str(sides["left"]), "--json", "--photos"])
    per_photo = json.loads(as_json.output)
    assert [abs(p["composition"]["cx"] - 1 / 3) < 0.08 for p in per_photo["photos"]] == [True] * 3


def test_references_steer_the_crop(sides: dict[str, Path], query: Path) -> None:
    placed = {}
    for name, db in sides.items():
        cropper = Cropper(reference_db=db, style_strength=3.0)
        result = cropper.process(query, "free", 1)
        crop = result.crops[0]
        assert "style" in crop.terms
        # the crop names the database's photos, the closest first, and says so
        assert crop.references and all(Path(r["source"]).parent.name.startswith(f"photos_{name}")
                                       for r in crop.references)
        assert "pull" in crop.references[0] and "closest to reference" in crop.reason
        placed[name] = float(crop_stats(cropper.analyze(query), np.asarray([crop.box]))[0, 0])
    assert placed["left"] < 0.45 < 0.55 < placed["right"], placed


def test_strength_zero_is_the_learned_default(sides: dict[str, Path], query: Path) -> None:
    off = Cropper(reference_db=sides["left"], style_strength=0).crop(query, "free", 1)[0]
    assert "style" not in off.terms
    for bad in (-1, float("inf"), float("nan"), 10.5):
        with pytest.raises(UsageError, match="must be a number from 0 to 10"):
            Cropper(reference_db=sides["left"], style_strength=bad)
    with pytest.raises(UsageError, match="must be a number, got 'abc'"):
        Cropper(reference_db=sides["left"], style_strength="abc")  # type: ignore[arg-type]


def test_missing_or_foreign_database_is_one_clear_error(tmp_path: Path, query: Path) -> None:
    with pytest.raises(DatabaseError, match="no such reference database"):
        Cropper(reference_db=tmp_path / "nowhere")
    layout = tmp_path / "layout"
    build_database([str(query)], layout, encoder="layout", composition=False)
    with pytest.raises(DatabaseError, match="'layout' encoder.*mobilenet") as err:
        Cropper(reference_db=layout)
    assert "\n" not in str(err.value)


def test_old_database_keeps_working_and_index_add_measures_it(tmp_path: Path, sides: dict[str, Path],
                                                               query: Path) -> None:
    old = tmp_path / "old"
    photos = [str(p) for p in sorted(Path(ReferenceDB.open(sides["right"]).items[0]["source"]).parent.glob("*.jpg"))]
    build_database(photos, old, composition=False)  # as built before the statistics existed
    assert not (old / SIDECAR).exists()
    crop = Cropper(reference_db=old).crop(query, "free", 1)[0]  # works, without the style term
    assert "style" not in crop.terms and crop.references
    with pytest.raises(DatabaseError, match="no composition statistics"):
        Cropper(reference_db=old, style_strength=1.0)
    empty = tmp_path / "empty"
    build_database([], empty)
    with pytest.raises(DatabaseError, match="holds no photos"):
        Cropper(reference_db=empty, style_strength=1.0)
    said = runner.invoke(app, ["crop", str(query), "--db", str(old), "-r", "1:1", "--no-analysis"])
    assert said.exit_code == 0 and "no composition statistics" in said.output  # why nothing steers
    out = tmp_path / "crops"
    first = runner.invoke(app, ["crop", str(query), "--db", str(old), "-r", "1:1", "-o", str(out), "-q"])
    r = runner.invoke(app, ["index", "add", str(old), *photos, "--quiet"])
    assert r.exit_code == 0, r.output
    assert len(read_composition(old)) == 3
    again = runner.invoke(app, ["crop", str(query), "--db", str(old), "-r", "1:1", "-o", str(out)])
    assert first.exit_code == again.exit_code == 0 and "skipped" not in again.output  # the database changed
    assert "style" in Cropper(reference_db=old).crop(query, "free", 1)[0].terms


def test_cli_db_on_the_default_scorer(tmp_path: Path, sides: dict[str, Path], query: Path) -> None:
    out = tmp_path / "r.json"
    r = runner.invoke(app, ["crop", str(query), "--db", str(sides["right"]), "--style-strength", "2",
                            "--json", str(out), "--no-analysis", "-q"])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert d["options"]["reference_db"] == str(sides["right"]) and d["options"]["style_strength"] == 2.0
    assert d["crops"][0]["references"][0]["source"].endswith(".jpg") and "style" in d["crops"][0]["terms"]
    left = tmp_path / "default.json"  # the strength in effect is recorded when left at its default too
    r = runner.invoke(app, ["crop", str(query), "--db", str(sides["right"]), "--json", str(left),
                            "--no-analysis", "-q"])
    options = json.loads(left.read_text())["options"]
    assert r.exit_code == 0 and options["style_strength"] == DEFAULT_STRENGTH
    said = runner.invoke(app, ["crop", str(query), "--db", str(sides["right"]), "--json", str(left),
                               "--no-analysis"])
    flat = " ".join(said.output.split())  # the terminal names the strength the run follows (a trial)
    assert said.exit_code == 0, said.output
    assert f"at style strength {DEFAULT_STRENGTH:g} (--style-strength" in flat, said.output
    assert options["style_term_version"] >= 2  # stored with the crops, so a changed style term crops again
    missing = runner.invoke(app, ["crop", str(query), "--db", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "nope" in missing.output and "Traceback" not in missing.output
    lone = runner.invoke(app, ["crop", str(query), "--style-strength", "1"])
    assert lone.exit_code == 2 and "--db" in lone.output
