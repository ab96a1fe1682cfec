"""benchmarks/blind_peers.py: blind sheets against the peers, and a tally that checks every answer."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "blind_peers.py"
PEERS = ("smartcrop", "vips-attention")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


def _work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "answers").mkdir(parents=True)
    keys = [{"sheet": "s001", "photo": "a.jpg", "ratio": "1:1", "boxes": [[0, 0, 9, 9], [1, 0, 9, 9]],
             "methods": ["procrop", "smartcrop"]},
            {"sheet": "s002", "photo": "a.jpg", "ratio": "1:1", "boxes": [[0, 0, 9, 9], [2, 0, 9, 9]],
             "methods": ["vips-attention", "procrop"]}]
    (work / "keys.jsonl").write_text("".join(json.dumps(k) + "\n" for k in keys))
    (work / "brief_version.txt").write_text("judging-v1\n")
    return work


def test_the_tally_counts_valid_answers_once_and_says_what_it_left_out(tmp_path: Path) -> None:
    """A trial's malformed lines were dropped silently, a one-label ranking counted, a judge's second
    answer counted as another judge, and an unknown sheet crashed the tally."""
    work = _work(tmp_path)
    lines = [{"sheet": "j0-s001", "ranking": [1, 2], "reason": "a"},
             {"sheet": "j0-s002.png", "ranking": [2, 1], "reason": "b"},  # procrop is crop 2 here
             {"sheet": "j0-s001", "ranking": [2, 1], "reason": "again"},  # the same judge twice
             {"sheet": "j0-s009", "ranking": [1, 2]},  # no such sheet
             {"sheet": "j0-s002", "ranking": [1]}]  # not an order of the sheet's two crops
    (work / "answers" / "j0b0.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + "not json\n")
    (work / "answers" / "j1b0.jsonl").write_text(json.dumps({"sheet": "j1-s001", "ranking": [2, 1]}) + "\n")
    r = _run("tally", "--work", str(work))
    assert r.returncode == 0, r.stderr
    assert "3 answers on 2 of the 2 sheets (1-2 judges a sheet; 4 lines left out" in r.stdout
    assert "j0b0 answered s001 before" in r.stdout and "no sheet s009" in r.stdout
    assert "| smartcrop | **all** | 1 | 0 | 0 | 1 | 1 : 1 (50%) |" in r.stdout
    assert "| vips-attention | **all** | 1 | 1 | 0 | 0 | 1 : 0 (100%) |" in r.stdout
    r = _run("merge", "--work", str(work))
    assert r.returncode == 0 and "4 lines" not in r.stdout and r.stderr.count("left out") == 4
    merged = [json.loads(x) for x in (work / "answers.jsonl").read_text().splitlines()]
    assert [(m["judge"], m["sheet"], m["brief"]) for m in merged] == [
        ("j0b0", "s001", "judging-v1"), ("j0b0", "s002", "judging-v1"), ("j1b0", "s001", "judging-v1")]
    assert _run("merge", "--work", str(work)).returncode == 1  # never overwritten


def test_bad_folders_are_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = str(tmp_path / "o")
    for args, says in ((["sheets", "--photos", str(tmp_path / "nope"), "--out", out], "no such folder"),
                       (["sheets", "--photos", str(empty), "--out", out], "no photos"),
                       (["tally", "--work", str(empty)], "no keys.jsonl")):
        r = _run(*args)
        assert r.returncode == 1 and says in r.stderr and "Traceback" not in r.stderr


def test_sheets_hide_the_methods_from_the_judges(shared: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("12003.jpg", "2092.jpg", "26031.jpg"):
        shutil.copy(shared / "data" / "bsds500_trainval" / "images" / name, photos / name)
    work = tmp_path / "work"
    r = _run("sheets", "--photos", str(photos), "--n", "3", "--out", str(work), "--judges", "2",
             "--batch", "2")
    assert r.returncode == 0, r.stderr
    keys = [json.loads(x) for x in (work / "keys.jsonl").read_text().splitlines()]
    assert keys and all("procrop" in k["methods"] and set(k["methods"]) - {"procrop"} <= set(PEERS)
                        for k in keys)
    for folder in (work / "judges").iterdir():  # only sheets, named by judge and sheet id
        assert all(f.suffix == ".png" and f.name.split("-")[0] == folder.name[:2] for f in folder.iterdir())
    prompt = next((work / "prompts").iterdir()).read_text()
    assert "You are a photo editor" in prompt and "TWO crops" in prompt
    assert not any(word in prompt for word in ("procrop", "smartcrop", "vips", "keys.jsonl"))
    again = _run("sheets", "--photos", str(photos), "--out", str(work))
    assert again.returncode == 1 and "already holds sheets" in again.stderr  # never over judged sheets


def test_sheets_of_a_split_name_their_photos_by_path(shared: Path, tmp_path: Path) -> None:
    """--split takes the photos benchmarks/split.json lists (under --photos), named by their path there."""
    split = json.loads((ROOT / "benchmarks" / "split.json").read_text())["heldout"]
    work = tmp_path / "held"
    r = _run("sheets", "--photos", str(shared / "data" / "photos"), "--split", "heldout", "--n", "2",
             "--out", str(work))
    assert r.returncode == 0, r.stderr
    keys = [json.loads(x) for x in (work / "keys.jsonl").read_text().splitlines()]
    assert keys and all(k["photo"] in split for k in keys)
    assert json.loads((work / "meta.json").read_text())["photos"] == "photos (split heldout)"
    r = _run("sheets", "--photos", str(shared / "data" / "photos"), "--split", "nope",
             "--out", str(tmp_path / "x"))
    assert r.returncode == 1 and "no split 'nope'" in r.stderr


def test_sheets_can_show_the_classic_scorer_at_several_ratios(shared: Path, tmp_path: Path) -> None:
    """--peers classic puts procrop's hand-set scorer's own top crop beside the default's, and
    --per-photo 2 draws two different ratios of a photo; the tally reports the peers drawn."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(shared / "data" / "bsds500_trainval" / "images" / "2092.jpg", photos / "2092.jpg")
    work = tmp_path / "work"
    r = _run("sheets", "--photos", str(photos), "--n", "1", "--out", str(work), "--peers", "classic",
             "--per-photo", "2")
    assert r.returncode == 0, r.stderr
    keys = [json.loads(x) for x in (work / "keys.jsonl").read_text().splitlines()]
    assert all(set(k["methods"]) == {"procrop", "classic"} for k in keys)
    assert len({k["ratio"] for k in keys}) == len(keys) <= 2
    assert json.loads((work / "meta.json").read_text())["peers"] == ["classic"]
    r = _run("tally", "--work", str(work))
    assert r.returncode == 0 and "| classic | **all** |" in r.stdout and "| smartcrop |" not in r.stdout
