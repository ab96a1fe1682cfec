"""The command line: outputs, exit codes, resume, workers, previews, crop files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import ROOT
from procrop.cli.app import app
from procrop.cli.common import err

runner = CliRunner()


@pytest.fixture()
def three_photos(photo_paths: list[Path], tmp_path: Path) -> list[Path]:
    out = []
    for p in (photo_paths[3], photo_paths[100], photo_paths[200]):
        dst = tmp_path / "in" / p.name
        dst.parent.mkdir(exist_ok=True)
        shutil.copy(p, dst)
        out.append(dst)
    return out


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_version_and_help() -> None:
    r = run("--version")
    assert r.exit_code == 0 and r.stdout.startswith("procrop ")
    for cmd in ([], ["crop"], ["describe"]):
        r = run(*cmd, "--help")
        assert r.exit_code == 0 and "Usage" in r.stdout


def test_python_dash_m_procrop_is_the_command() -> None:
    """``python -m procrop`` runs the ``procrop`` command (a trial's user tried it first)."""
    r = subprocess.run([sys.executable, "-m", "procrop", "--version"], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("procrop "), r.stderr


def test_single_image_json_to_stdout(three_photos: list[Path]) -> None:
    r = run("crop", str(three_photos[0]), "-r", "1:1,16:9", "-k", "2")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["image"] == str(three_photos[0])
    assert {"width", "height", "crops", "description", "confidence", "uncropped_score"} <= set(data)
    assert {c["ratio"] for c in data["crops"]} == {"1:1", "16:9"}
    scores = [c["score"] for c in data["crops"]]
    assert scores == sorted(scores, reverse=True)
    for c in data["crops"]:
        assert len(c["box"]) == 4 and 0 <= c["score"] <= 1 and c["terms"] and c["reason"]


def test_many_images_json_lines(three_photos: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    r = run("crop", str(three_photos[0].parent), "--json", str(out), "-q")
    assert r.exit_code == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 3
    assert {json.loads(x)["image"] for x in lines} == {str(p) for p in three_photos}


def test_out_dir_files_preview_and_resume(three_photos: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run("crop", *map(str, three_photos), "-r", "4:5,1080x1350", "-k", "2", "-o", str(out), "--preview", "-q")
    assert r.exit_code == 0, r.stderr
    for p in three_photos:
        data = json.loads((out / f"{p.stem}.json").read_text())
        assert (out / f"{p.stem}_preview.png").exists()
        for c in data["crops"]:
            f = Path(c["file"])
            assert f.exists() and f.suffix == p.suffix
            im = Image.open(f)
            if c["ratio"] == "1080x1350":
                assert im.size == (1080, 1350)
            else:
                assert im.size == tuple(c["box"][2:])
    # no temp files left behind
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    # a re-run skips everything that is done...
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    r = run("crop", *map(str, three_photos), "-r", "4:5,1080x1350", "-k", "2", "-o", str(out), "--preview")
    assert r.exit_code == 0 and "3 already done" in r.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    # ...unless the options change
    r = run("crop", *map(str, three_photos), "-r", "1:1", "-k", "2", "-o", str(out), "-q")
    assert r.exit_code == 0
    assert json.loads((out / f"{three_photos[0].stem}.json").read_text())["crops"][0]["ratio"] == "1:1"


def test_partial_failure_exit_1_and_others_written(three_photos: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "in" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    empty = tmp_path / "in" / "empty.png"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    r = run("crop", str(tmp_path / "in"), str(tmp_path / "nope.jpg"), "-o", str(out), "-q")
    assert r.exit_code == 1
    assert "broken.jpg" in r.stderr and "empty.png: empty file" in r.stderr and "nope.jpg: no such file" in r.stderr
    assert len(list(out.glob("*.json"))) == 3


def test_alternatives_options_let_more_crops_through(three_photos: list[Path]) -> None:
    """--min-score-ratio and --diversity-iou reach the cropper: a photographer asking for options gets
    them."""
    def crops(*extra: str) -> tuple[int, dict]:
        r = run("crop", str(three_photos[0]), "-r", "1:1,16:9", "-k", "5", "--no-analysis", *extra)
        assert r.exit_code == 0, r.stderr
        data = json.loads(r.stdout)
        return len(data["crops"]), data["options"]
    default, options = crops()
    more, more_options = crops("--min-score-ratio", "0", "--diversity-iou", "1")
    assert more >= default + 5  # at IoU 1 only identical boxes are near-duplicates: up to 5 a ratio
    assert "min_score_ratio" not in options and more_options["min_score_ratio"] == 0.0
    assert run("crop", str(three_photos[0]), "--diversity-iou", "0").exit_code == 2


def test_a_failed_input_has_its_json_line_after_the_results(three_photos: list[Path], tmp_path: Path) -> None:
    """A script reading the JSON Lines learns which inputs failed and why (they were on stderr only)."""
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    out = tmp_path / "all.jsonl"
    missing = str(tmp_path / "nope.jpg")
    r = run("crop", str(three_photos[0]), str(bad), missing, "-r", "1:1", "--json", str(out), "-q")
    assert r.exit_code == 1 and "broken.jpg" in r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["image"] for x in lines] == [str(three_photos[0]), str(bad), str(tmp_path / "nope.jpg")]
    assert "crops" in lines[0] and lines[2] == {"image": str(tmp_path / "nope.jpg"), "error": "no such file"}
    assert lines[1]["error"].startswith("not an image")
    streamed = run("crop", str(three_photos[0]), str(bad), "-r", "1:1")  # no --json, no --out: stdout
    assert [json.loads(x).get("error", "")[:12] for x in streamed.stdout.splitlines()] == ["", "not an image"]
    # every input failing: the file holds the errors, never an earlier run's results (a trial's stale file)
    r = run("crop", str(bad), str(tmp_path / "nope.jpg"), "--json", str(out), "-q")
    assert r.exit_code == 1 and [json.loads(x)["image"] for x in out.read_text().splitlines()] == [
        str(bad), str(tmp_path / "nope.jpg")]
    r = run("crop", str(bad), "--json", str(out), "-q")  # one image: one object
    assert r.exit_code == 1 and json.loads(out.read_text())["error"].startswith("not an image")


def test_a_failed_photo_leaves_its_error_and_no_output_folder(tmp_path: Path) -> None:
    out, report = tmp_path / "out", tmp_path / "r.json"
    r = run("crop", str(tmp_path / "missing.jpg"), "-o", str(out), "--preview", "--json", str(report))
    assert r.exit_code == 1 and "missing.jpg: no such file" in r.stderr
    assert json.loads(report.read_text()) == {"image": str(tmp_path / "missing.jpg"), "error": "no such file"}
    assert not out.exists() and "outputs in" not in r.stderr


def test_an_output_folder_that_cannot_be_made_is_refused_before_any_photo(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for out, says in ((blocker, "it is a file"), (blocker / "sub", f"{blocker} is a file")):
        r = run("crop", str(tmp_path / "missing.jpg"), "-o", str(out))  # the photo is never looked at
        assert r.exit_code == 2 and says in r.stderr and "missing.jpg" not in r.stderr
        assert r.stderr.count("error:") == 1


def test_write_problems_are_said_in_words(three_photos: list[Path], tmp_path: Path) -> None:
    """A trial read 'no such folder outfile' for a file in the way, and a crop's write failure quoted a
    temporary file's name and an errno."""
    (tmp_path / "afile").write_text("x")
    r = run("crop", str(three_photos[0]), "--json", str(tmp_path / "afile" / "r.json"))
    assert r.exit_code == 2 and f"{tmp_path / 'afile'} is a file, not a folder" in r.stderr
    out = tmp_path / "out"
    r = run("crop", str(three_photos[0]), "-r", "1:1", "-k", "1", "-o", str(out), "-q")
    crop = Path(json.loads((out / f"{three_photos[0].stem}.json").read_text())["crops"][0]["file"])
    crop.unlink()
    crop.mkdir()  # a folder where the crop goes
    r = run("crop", str(three_photos[0]), "-r", "1:1", "-k", "1", "-o", str(out), "-q", "--force")
    assert r.exit_code == 1 and "cannot write: a folder is in the way" in r.stderr
    assert ".tmp" not in r.stderr and "Errno" not in r.stderr


def test_a_json_file_that_cannot_be_written_is_refused_before_any_photo(tmp_path: Path) -> None:
    """One line, exit 2, nothing written, before the photo is read (it was a traceback after the work)."""
    cases = [(tmp_path / "nowhere" / "r.json", "no such folder"), (tmp_path, "is a folder")]
    if Path("/proc/self").is_dir():  # writable by its mode bits for root, yet no file can be made there
        cases.append((Path("/proc/r.json"), "cannot write in /proc"))
    for report, says in cases:
        r = run("crop", str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "out"), "--json", str(report))
        assert r.exit_code == 2 and says in r.stderr and "missing.jpg" not in r.stderr, r.stderr
        assert r.stderr.count("error:") == 1 and not (tmp_path / "out").exists()


def test_a_json_file_inside_the_output_folder_the_run_creates_is_accepted(three_photos: list[Path],
                                                                          tmp_path: Path) -> None:
    """A trial's first command, '--out r1/beach --json r1/beach/r.json' in an empty folder, was refused
    with 'no such folder r1/beach': the run creates that folder."""
    out = tmp_path / "r1" / "beach"
    report = out / "r.json"
    r = run("crop", str(three_photos[0]), "-r", "1:1", "-k", "1", "-o", str(out), "--json", str(report), "-q")
    assert r.exit_code == 0, r.stderr
    assert json.loads(report.read_text())["crops"]


def test_style_strength_with_the_classic_scorer_names_the_scorer(three_photos: list[Path], tmp_path: Path) -> None:
    r = run("crop", str(three_photos[0]), "--scorer", "classic", "--db", str(tmp_path), "--style-strength", "2")
    assert r.exit_code == 2 and "not the classic scorer" in r.stderr


def test_usage_errors_exit_2(three_photos: list[Path], tmp_path: Path) -> None:
    assert run("crop", str(three_photos[0]), "-r", "banana").exit_code == 2
    assert run("crop", str(three_photos[0]), "-k", "0").exit_code == 2
    assert run("crop", str(tmp_path / "empty_dir_*.jpg")).exit_code == 2
    assert run("crop", str(three_photos[0]), "--scorer", "classic", "--db", str(tmp_path / "nodb")).exit_code == 2
    r = run("crop", str(three_photos[0]), "--no-db")  # a classic-scorer option without --scorer classic
    assert r.exit_code == 2 and "--no-db applies to the classic scorer" in r.stderr
    assert run("crop").exit_code == 2
    assert run("nonsense").exit_code == 2


def test_workers_match_serial(three_photos: list[Path], tmp_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    assert run("crop", *map(str, three_photos), "--json", str(a), "-q", "--no-analysis").exit_code == 0
    assert run("crop", *map(str, three_photos), "--json", str(b), "-q", "-j", "2", "--no-analysis").exit_code == 0

    def boxes(path: Path) -> dict:
        return {d["image"]: [c["box"] for c in d["crops"]] for d in map(json.loads, path.read_text().splitlines())}

    assert boxes(a) == boxes(b)


def test_describe(photo_paths: list[Path], tmp_path: Path) -> None:
    kodak = next(p for p in photo_paths if p.name == "kodim15.jpg")
    r = run("describe", str(kodak))
    assert r.exit_code == 0 and "face" in r.stdout
    r = run("describe", str(kodak), "--json")
    assert json.loads(r.stdout)["analysis"]["faces"]
    r = run("describe", str(kodak), "--json", "-")  # as procrop crop takes it: no '-: no such file'
    assert r.exit_code == 0 and json.loads(r.stdout)["analysis"]["faces"] and not r.stderr.strip(), r.stderr
    # a JSON-lines reader sees the failures too, as procrop crop's JSON gives them
    r = run("describe", "missing.jpg", str(kodak), "--json")
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.exit_code == 1 and lines[0] == {"image": "missing.jpg", "error": "no such file"}, r.stdout
    assert lines[1]["analysis"]["faces"]
    fake = tmp_path / "not_a_photo.jpg"  # found, then refused by the decoder
    fake.write_text("hello")
    r = run("describe", str(fake), "--json")
    assert r.exit_code == 1 and json.loads(r.stdout)["error"].startswith("not an image file"), r.stdout


def test_fewer_crops_than_top_k_says_why(photos_dir: Path, tmp_path: Path) -> None:
    """Alternatives under 80 % of their ratio's best and near-duplicates are dropped: the JSON's
    notes and the CLI say how many, per ratio (044 returned one crop per ratio for -k 3 without a word), as
    notes, not warnings: nothing is wrong (a first run of the README's command read them as faults)."""
    from procrop.verdict import dropped_alternatives

    assert dropped_alternatives({"1:1": (3, 1, 2), "4:5": (3, 2, 0), "16:9": (3, 1, 1), "free": (3, 3, 0)},
                                0.8, 0.6) == [
        "1:1: 1 crop of the 3 asked; the others scored under 80 % of the best",
        "4:5: 2 crops of the 3 asked; the others overlap a better crop (IoU 0.6 or more)",
        "16:9: 1 crop of the 3 asked; the others scored under 80 % of the best or overlap a better crop "
        "(IoU 0.6 or more)"]
    assert dropped_alternatives({"1:1": (3, 3, 0)}, 0.8, 0.6) == []
    ran_out = {"4:5": (5, 4, 0, 4), "1:1": (5, 2, 1, 4)}  # fewer candidates left than asked
    assert dropped_alternatives(ran_out, 0.8, 0.6) == [
        "4:5: 4 crops of the 5 asked; only 4 candidates of this ratio keep whole the subjects they could",
        "1:1: 2 crops of the 5 asked; the others scored under 80 % of the best or overlap a better crop "
        "(IoU 0.6 or more); only 4 candidates of this ratio keep whole the subjects they could"]
    assert dropped_alternatives({"16:9": (3, 1, 0, 1)}, 0.8, 0.6) == [  # "1 candidate ... keeps" (a trial)
        "16:9: 1 crop of the 3 asked; only 1 candidate of this ratio keeps whole the subjects it could"]
    assert dropped_alternatives({"9:16": (3, 2, 0, 40, 1)}, 0.8, 0.6) == [  # a square of empty sky left out
        "9:16: 2 crops of the 3 asked; 1 other kept under a third of the salient content the best keeps"]
    assert dropped_alternatives({"4:5": (3, 1, 1, 40, 0, 1)}, 0.8, 0.6) == [  # both rules, named
        "4:5: 1 crop of the 3 asked; the others scored under 80 % of the best or overlap a better crop "
        "(IoU 0.6 or more)"]
    assert dropped_alternatives({"4:5": (3, 1, 1, 40, 1)}, 0.8, 0.6) == [
        "4:5: 1 crop of the 3 asked; the others scored under 80 % of the best; 1 other kept under a third of "
        "the salient content the best keeps"]
    photo = photos_dir / "zelex-wikipedia-photos" / "044.jpg"
    out = tmp_path / "r.json"
    r = run("crop", str(photo), "-r", "1:1,4:5,16:9", "-k", "3", "--no-analysis", "--json", str(out))
    assert r.exit_code == 0, r.stderr
    data = json.loads(out.read_text())
    counts = {label: sum(c["ratio"] == label for c in data["crops"]) for label in ("1:1", "4:5", "16:9")}
    assert min(counts.values()) < 3  # the case of the report: some ratio lost alternatives
    said = data.get("notes", [])
    assert not any("asked" in w for w in data.get("warnings", []))
    told_terminal = " ".join(r.stderr.split())
    if len(said) == 1:  # and on the terminal: a ratio's note as it is
        assert " ".join(said[0].split()) in told_terminal and "note:" in r.stderr
    elif said:  # several ratios short: one line counting them (a trial counted 5-6 note lines a photo)
        short = ", ".join(f"{w.split(': ')[0]} {w.split(': ')[1].split()[0]}" for w in said)
        assert f"fewer crops than the 3 asked ({short}); why, ratio by ratio, under 'notes'" in told_terminal
    told = {w.split(": ")[0]: int(w.split(": ")[1].split()[0]) for w in said}  # ratio -> crops returned
    assert told == {label: n for label, n in counts.items() if n < 3}
    if any("the others" in w for w in said):  # and, once, the two options that let more through (trials)
        hint = "a lower --min-score-ratio or a higher --diversity-iou lets more alternatives through"
        assert " ".join(r.stderr.split()).count(hint) == 1


def test_warnings_are_capped_on_the_terminal_and_quiet_silences_them() -> None:
    from procrop.cli.crop import _print_warnings

    results = [{"image": f"p{i}.jpg", "warnings": ["w"]} for i in range(25)] + [{"image": "ok.jpg"}]
    with err.capture() as captured:
        _print_warnings(results, most=20)
    lines = captured.get().strip().splitlines()
    assert len(lines) == 21 and "p19.jpg" in lines[19] and "5 more photo(s) with warnings" in lines[20]
    assert all(line.startswith("warning: ") for line in lines)
    with err.capture() as captured:  # notes (information) are told apart from warnings (problems)
        _print_warnings([{"image": "a.jpg", "warnings": ["w"], "notes": ["n"]}])
    assert captured.get().strip().splitlines() == ["warning: a.jpg: w", "note: a.jpg: n"]
    with err.capture() as captured:  # several photos' notes: one line counts them
        _print_warnings([{"image": f"p{i}.jpg", "notes": ["n"]} for i in range(8)])
    lines = captured.get().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("note: 8 photos have fewer crops than asked")


def test_quiet_keeps_notes_in_the_json_only(photos_dir: Path, tmp_path: Path) -> None:
    photo = photos_dir / "zelex-wikipedia-photos" / "044.jpg"
    out = tmp_path / "r.json"
    r = run("crop", str(photo), "-r", "1:1,4:5,16:9", "-k", "3", "--no-analysis", "--json", str(out), "-q")
    assert r.exit_code == 0 and json.loads(out.read_text())["notes"] and "note" not in r.stderr


@pytest.mark.parametrize("profile", [[], ["--fast"]])
def test_describe_says_what_crop_says(photos_dir: Path, profile: list[str]) -> None:
    """procrop describe runs the perception procrop crop runs (on 044 it described from the hand-set
    cues, 'the main subject, a large person', where crop's salient head found a small part of it)."""
    photo = photos_dir / "zelex-wikipedia-photos" / "044.jpg"
    r = run("crop", str(photo), "--no-analysis", "-q", *profile)
    assert r.exit_code == 0, r.stderr
    r2 = run("describe", str(photo), *profile)
    assert r2.exit_code == 0 and r2.stdout.strip() == json.loads(r.stdout)["description"]


def test_console_script_runs_as_a_program(tmp_path: Path) -> None:
    img = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 90, 3), dtype=np.uint8)).save(img)
    r = subprocess.run(
        [sys.executable, "-m", "procrop.cli", "crop", str(img), "-r", "1:1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["width"] == 90
    r = subprocess.run([sys.executable, "-m", "procrop.cli", "crop", str(img), "-r", "x"], capture_output=True, text=True)
    assert r.returncode == 2 and "invalid ratio" in r.stderr


def test_re_runs_keep_the_output_folder_true(three_photos: list[Path], tmp_path: Path) -> None:
    """A trial: adding --preview to a re-run skipped every image (no preview written); a folder in the
    way of a preview quoted a temporary name and an errno; and an image that failed on a re-run left
    its earlier JSON naming crop files that were gone."""
    out, photo = tmp_path / "out", three_photos[0]
    assert run("crop", str(photo), "-r", "1:1", "-o", str(out), "-q").exit_code == 0
    r = run("crop", str(photo), "-r", "1:1", "-o", str(out), "-q", "--preview")
    assert r.exit_code == 0 and (out / f"{photo.stem}_preview.png").is_file()
    first = json.loads((out / f"{photo.stem}.json").read_text())
    crop = Path(first["crops"][0]["file"])
    (out / f"{photo.stem}_preview.png").unlink()
    (out / f"{photo.stem}_preview.png").mkdir()  # a folder in the preview's way
    r = run("crop", str(photo), "-r", "1:1", "-o", str(out), "-q", "--preview", "--force")
    assert r.exit_code == 1 and "_preview.png: cannot write: a folder is in the way" in r.stderr
    assert "Errno" not in r.stderr and ".tmp" not in r.stderr
    assert not crop.exists() and not (out / f"{photo.stem}.json").exists()  # no result naming gone files


def test_options_that_do_nothing_here_are_refused(three_photos: list[Path]) -> None:
    """As --format without --out is: --no-upscale and --max-upscale without a WxH size, --no-save-crops
    without --out (a trial found them accepted without a word)."""
    for extra, says in ((["-r", "1:1", "--no-upscale"], "--no-upscale applies to WxH output sizes"),
                        (["-r", "4:5", "--max-upscale", "2"], "--max-upscale applies to WxH output sizes"),
                        (["--no-save-crops"], "--no-save-crops applies to --out")):
        r = run("crop", str(three_photos[0]), *extra)
        assert r.exit_code == 2 and says in r.stderr and r.stderr.count("error:") == 1

