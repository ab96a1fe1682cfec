"""A new user's runs of ``procrop crop``: re-runs in the same folder, options checked up front,
outputs replaced when the options change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from procrop.cli.app import app

FAST = ("--scorer", "classic", "--no-db", "--fast")


def run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture()
def photos(photo_paths: list[Path], tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in (photo_paths[3], photo_paths[100]):
        shutil.copy(p, folder / p.name)
    return folder


def test_a_rerun_never_crops_its_own_outputs(photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(photos)
    names = sorted(p.stem for p in photos.iterdir())
    first = run("crop", ".", "-r", "1:1", "-k", "1", "-o", "out", "--preview", *FAST)
    assert first.exit_code == 0, first.stderr
    assert "2 of 2 image(s) done" in first.stderr
    again = run("crop", ".", "-r", "1:1", "-k", "1", "-o", "out", "--preview", *FAST)
    assert again.exit_code == 0, again.stderr
    assert "2 of 2 image(s) done (2 already done, skipped)" in again.stderr
    expected = {f"{n}{suffix}" for n in names for suffix in (".json", "_preview.png")}
    expected |= {f"{n}_1x1_1{Path(next(photos.glob(n + '.*'))).suffix}" for n in names}
    assert {p.name for p in (photos / "out").iterdir()} == expected
    # another output folder: the first run's crops and previews (named by out/*.json) stay out too
    other = run("crop", ".", "-r", "1:1", "-k", "1", "-o", str(photos.parent / "elsewhere"), *FAST)
    assert other.exit_code == 0, other.stderr
    assert sorted(p.stem for p in (photos.parent / "elsewhere").glob("*.json")) == names


def test_a_photo_named_like_an_output_is_still_an_input(photos: Path, tmp_path: Path) -> None:
    src = next(photos.iterdir())
    lookalike = photos / f"holiday_1x1_1{src.suffix}"  # no holiday.json names it: a photo
    shutil.copy(src, lookalike)
    r = run("crop", str(photos), "-r", "1:1", "-k", "1", "-o", str(tmp_path / "out"), "-q", *FAST)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "out" / "holiday_1x1_1.json").exists()
