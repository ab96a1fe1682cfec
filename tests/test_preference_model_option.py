"""``procrop crop --preference-model`` and ``Cropper(preference_model=...)``: the model ``procrop prefs fit``
writes is the one that ranks the crops, named in the JSON; a wrong file or scorer is one line, before any
photo, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from procrop import Cropper
from procrop.cli.app import app
from procrop.errors import UsageError
from procrop.scoring.terms.preference import DEFAULT_MODEL, PreferenceModel


def _photo(path: Path) -> Path:
    """A photo with one bright disc off-centre on a textured background (something to crop)."""
    rng = np.random.default_rng(4)
    img = rng.integers(40, 90, (200, 300, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:200, :300]
    img[(yy - 70) ** 2 + (xx - 210) ** 2 < 30 ** 2] = (240, 200, 60)
    Image.fromarray(img).save(path)
    return path


@pytest.fixture(scope="module")
def reversed_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped model with its output layer negated: it prefers what editors ranked last."""
    shipped = PreferenceModel.load()
    layers = [[*member[:-1], (-member[-1][0], -member[-1][1])] for member in shipped.layers]
    path = tmp_path_factory.mktemp("prefs") / "preference.npz"
    PreferenceModel(shipped.names, shipped.mean, shipped.std, layers, {**shipped.meta, "name": "reversed-prefs"}).save(path)
    return path


def test_the_cropper_ranks_with_the_preference_model_it_is_given(reversed_model: Path, default_cropper: Cropper):
    img = np.asarray(Image.open(_photo(Path(reversed_model).parent / "p.png")))
    mine = Cropper(preference_model=reversed_model)
    assert mine.scorer_name == "preference" and mine.model_name == "reversed-prefs"
    assert default_cropper.model_name == "procrop-preference-v3"
    ours = mine.process(img, ["free", "1:1"], top_k=3)
    theirs = default_cropper.process(img, ["free", "1:1"], top_k=3)
    assert [c.box for c in ours.crops] != [c.box for c in theirs.crops]
    # the shipped file named explicitly is the default, crop for crop
    same = Cropper(preference_model=DEFAULT_MODEL).process(img, ["free", "1:1"], top_k=3)
    assert [(c.box, c.score) for c in same.crops] == [(c.box, c.score) for c in theirs.crops]


def test_the_cropper_refuses_a_wrong_file_or_scorer(tmp_path: Path):
    with pytest.raises(UsageError, match="no such preference model file"):
        Cropper(preference_model=tmp_path / "none.npz")
    with pytest.raises(UsageError, match="a folder, not a preference model file"):
        Cropper(preference_model=tmp_path)
    with pytest.raises(UsageError, match="needs the preference scorer, not learned"):
        Cropper(scorer="learned", preference_model=DEFAULT_MODEL)
    with pytest.raises(UsageError, match="needs the preference scorer, not classic"):
        Cropper(scorer="classic", reference_db=None, preference_model=DEFAULT_MODEL)


def test_procrop_crop_uses_and_names_the_model(reversed_model: Path, tmp_path: Path):
    photo = _photo(tmp_path / "p.png")
    runs = {}
    for name, extra in (("default", []), ("mine", ["--preference-model", str(reversed_model)])):
        out = tmp_path / f"{name}.json"
        r = CliRunner().invoke(app, ["crop", str(photo), "-r", "free,1:1", "--no-analysis", "--json", str(out), *extra])
        assert r.exit_code == 0, r.output
        runs[name] = json.loads(out.read_text())
    mine, default = runs["mine"]["options"], runs["default"]["options"]
    assert mine["preference_model"] == str(reversed_model.resolve()) and mine["preference_model_name"] == "reversed-prefs"
    assert "preference_model" not in default and default["preference_model_name"] == "procrop-preference-v3"
    assert [c["box"] for c in runs["mine"]["crops"]] != [c["box"] for c in runs["default"]["crops"]]


def test_procrop_crop_refuses_a_bad_preference_model_before_any_photo(tmp_path: Path):
    photo = _photo(tmp_path / "p.png")
    text = tmp_path / "notes.npz"
    text.write_text("not a model")
    cut = tmp_path / "cut.npz"
    cut.write_bytes(DEFAULT_MODEL.read_bytes()[: DEFAULT_MODEL.stat().st_size // 2])
    cases = {
        "missing": (["--preference-model", str(tmp_path / "none.npz")], "none.npz: no such preference model file"),
        "text": (["--preference-model", str(text)], "notes.npz: not a preference model file"),
        "cut short": (["--preference-model", str(cut)], "cut.npz: not a preference model file"),
        "classic": (["--preference-model", str(DEFAULT_MODEL), "--scorer", "classic"],
                    "--preference-model applies to the preference scorer (the default), not --scorer classic"),
        "learned": (["--preference-model", str(DEFAULT_MODEL), "--scorer", "learned"], "not --scorer learned"),
    }
    for case, (args, expected) in cases.items():
        out = tmp_path / case
        r = CliRunner().invoke(app, ["crop", str(photo), "--out", str(out), "--json", str(out) + ".json", *args])
        lines = [line for line in r.output.splitlines() if line.strip()]
        assert r.exit_code == 2 and len(lines) == 1 and expected in lines[0], (case, r.output)
        assert "Traceback" not in r.output
        assert not out.exists() and not Path(str(out) + ".json").exists(), case


def test_prefs_fit_says_how_to_use_its_model():
    r = CliRunner().invoke(app, ["prefs", "fit", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "crop with it by procrop crop PHOTOS --preference-model FILE" in " ".join(r.output.split())
