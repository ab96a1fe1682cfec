"""Licence rows follow a photo's content, not where it sits: copies of listed photos keep theirs."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from procrop.retrieval.build import licence_for, read_licences
from procrop.weaklabels.driver import plan


def test_copied_photos_keep_their_licence(photos_dir: Path, manifest: list[dict[str, str]], tmp_path: Path) -> None:
    """`dataset generate --licences MANIFEST.csv` on copied photos recorded "(not recorded)" for all."""
    rows = manifest[:3]
    copies = []
    for i, row in enumerate(rows):
        copies.append(tmp_path / f"copy{i}" / Path(row["file"]).name)
        copies[-1].parent.mkdir()
        shutil.copy(photos_dir / row["file"], copies[-1])
    (tmp_path / "other.jpg").write_bytes(copies[0].read_bytes() + b"\0")  # another file: not listed
    licences = read_licences(photos_dir / "MANIFEST.csv")
    jobs, failed = plan([str(c) for c in copies] + [str(tmp_path / "other.jpg")], str(tmp_path), 1, licences)
    assert not failed and len(jobs) == 4
    assert [j.licence.get("licence") for j in jobs] == [r["licence"] for r in rows] + [None]
    assert [j.licence.get("attribution") for j in jobs[:3]] == [r["attribution"] for r in rows]
    # the listed files themselves, by path
    assert licence_for(licences, photos_dir / rows[1]["file"])["source_repo"] == rows[1]["source_repo"]
    assert licence_for(None, copies[0]) == {} and licence_for(licences, tmp_path / "missing.jpg") == {}


def test_index_build_finds_the_photo_folder_s_licence_list(photos_dir: Path, manifest: list[dict[str, str]],
                                                           tmp_path: Path) -> None:
    """`procrop index build` reads a MANIFEST.csv in (or above) the photo folder as `dataset
    generate` does (a researcher's trial: 14 photos "(not recorded)" there, their licences here)."""
    from typer.testing import CliRunner

    from procrop.cli.app import app
    from procrop.retrieval import ReferenceDB

    folder = tmp_path / "pool" / "photos"
    folder.mkdir(parents=True)
    rows = manifest[:2]
    for row in rows:
        shutil.copy(photos_dir / row["file"], folder / Path(row["file"]).name)
    with open(tmp_path / "pool" / "MANIFEST.csv", "w", newline="") as fh:  # the pool's list, one folder up
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "file": "photos/" + Path(r["file"]).name} for r in rows)
    r = CliRunner().invoke(app, ["index", "build", str(folder), "--out", str(tmp_path / "db"),
                                 "--encoder", "layout"])
    assert r.exit_code == 0 and "licences from" in r.stderr, r.output
    got = sorted(it.get("licence") for it in ReferenceDB.open(tmp_path / "db").items)
    assert got == sorted(r["licence"] for r in rows)
