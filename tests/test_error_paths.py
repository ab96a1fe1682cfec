"""Every ``procrop`` subcommand, given a missing file, a wrong database (or data folder, or
checkpoint: whatever the command reads) and a bad option, exits 1 or 2 with one line on stderr
naming the problem, and no traceback (issue 17). The commands are discovered from the CLI app, so a
new command without cases here fails ``test_every_command_has_cases``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from procrop.cli.app import app

runner = CliRunner()

M = "{tmp}/missing.jpg"      # a file that does not exist
MD = "{tmp}/missing_dir"     # a folder that does not exist
W = "{tmp}/wrongdb"          # a folder that is no database / data set / bundle (holds a text file)
WF = "{tmp}/junk.pt"         # a file that is not what the command reads (text)
P = "{tmp}/photos/a.jpg"     # a real photo
PD = "{tmp}/photos"          # a folder with that photo
OUT = "{tmp}/out"            # a fresh output path

# command -> (missing file, wrong database/data, bad option); each a list of arguments, and the
# words the one line must contain (the path or the option). None: the command reads no such input.
CASES: dict[str, dict[str, tuple[list[str], str] | None]] = {
    "crop": {
        "missing": ([M], "missing.jpg"),
        "wrong": ([P, "--scorer", "classic", "--db", W], "wrongdb"),
        "option": ([P, "-k", "0"], "--top-k"),
    },
    "describe": {
        "missing": ([M], "missing.jpg"),
        "wrong": ([WF], "junk.pt"),
        "option": ([P, "--analysis-size", "1"], "--analysis-size"),
    },
    "eval": {
        "missing": (["-b", "fcdb", "-d", MD, "-o", OUT], "missing_dir"),
        "wrong": (["-b", "fcdb", "-d", W, "-o", OUT], "wrongdb"),
        "option": (["-b", "nonsense", "-d", PD, "-o", OUT], "nonsense"),
    },
    "train": {
        "missing": ([M], "missing.jpg"),
        "wrong": ([WF], "junk.pt"),
        "option": (["configs/small_weak.toml", "--set", "nosuch.key=1", "-o", OUT], "nosuch"),
    },
    "export": {
        "missing": ([M, OUT + ".onnx"], "missing.jpg"),
        "wrong": ([WF, OUT + ".onnx"], "junk.pt"),
        "option": ([WF, OUT + ".onnx", "--size", "banana"], "--size"),
    },
    "import-checkpoint": {
        "missing": (["procrop-official", M, OUT + ".pt"], "missing.jpg"),
        "wrong": (["procrop-official", WF, OUT + ".pt"], "junk.pt"),
        "option": (["nonsense", WF, OUT + ".pt"], "nonsense"),
    },
    "serve": {"missing": None, "wrong": None, "option": (["--port", "0"], "--port")},
    "index build": {
        "missing": ([M, "-o", OUT], "missing.jpg"),
        "wrong": ([P, "-o", WF], "junk.pt"),
        "option": ([P, "-o", OUT, "--encoder", "nonsense"], "nonsense"),
    },
    "index add": {
        "missing": ([MD, P], "missing_dir"),
        "wrong": ([W, P], "wrongdb"),
        "option": ([W, P, "--chunk", "0"], "--chunk"),
    },
    "index info": {
        "missing": ([MD], "missing_dir"),
        "wrong": ([W], "wrongdb"),
        "option": ([W, "--bogus"], "--bogus"),
    },
    "index verify": {
        "missing": ([MD], "missing_dir"),
        "wrong": ([W], "wrongdb"),
        "option": ([W, "--bogus"], "--bogus"),
    },
    "index query": {
        "missing": ([MD, P], "missing_dir"),
        "wrong": ([W, P], "wrongdb"),
        "option": ([W, P, "-k", "0"], "--top-k"),
    },
    "dataset generate": {
        "missing": (["--photos", MD, "-o", OUT], "missing_dir"),
        "wrong": (["--photos", PD, "-o", WF], "junk.pt"),
        "option": (["--photos", PD, "-o", OUT, "--coverage", "banana"], "--coverage"),
    },
    "dataset info": {
        "missing": ([MD], "missing_dir"),
        "wrong": ([W], "wrongdb"),
        "option": ([W, "--bogus"], "--bogus"),
    },
    "dataset preview": {
        "missing": ([MD, "-o", OUT + ".png"], "missing_dir"),
        "wrong": ([W, "-o", OUT + ".png"], "wrongdb"),
        "option": ([W, "--n", "0"], "--n"),
    },
    "learned boxsets": {
        "missing": ([M, "-o", OUT], "missing.jpg"),
        "wrong": ([WF, "-o", OUT], "junk.pt"),
        "option": ([P, "-o", OUT, "-n", "0"], "--canvases"),
    },
    "learned train": {
        "missing": (["--train", MD, "--val", MD, "-o", OUT], "missing_dir"),
        "wrong": (["--train", W, "--val", W, "-o", OUT], "wrongdb"),
        "option": (["--train", W, "--val", W, "-o", OUT, "--epochs", "0"], "--epochs"),
    },
    "learned export": {
        "missing": ([M, OUT], "missing.jpg"),
        "wrong": ([WF, OUT], "junk.pt"),
        "option": ([WF, OUT, "--bogus"], "--bogus"),
    },
    "learned build": {
        "missing": (["--photos", PD, "--split", M, "--work", OUT + "w", "-o", OUT], "missing.jpg"),
        "wrong": (["--photos", PD, "--split", WF, "--work", OUT + "w", "-o", OUT], "junk.pt"),
        "option": (["--photos", PD, "--split", WF, "--work", OUT + "w", "-o", OUT, "--epochs", "0"], "--epochs"),
    },
    "learned finetune": {
        "missing": ([P, P, "--from", M, "--work", OUT + "w", "-o", OUT], "missing.jpg"),
        "wrong": ([P, P, "--from", WF, "--work", OUT + "w", "-o", OUT], "junk.pt"),
        "option": ([P, "--from", WF, "--work", OUT + "w", "-o", OUT, "--lr", "-1"], "--lr"),
    },
    "prefs sheets": {
        "missing": (["--photos", MD, "--part", "train", "--data", OUT, "--work", OUT + "w"], "missing_dir"),
        "wrong": (["--photos", PD, "--split", WF, "--part", "train", "--data", OUT, "--work", OUT + "w"], "junk.pt"),
        "option": (["--photos", PD, "--part", "nonsense", "--data", OUT, "--work", OUT + "w"], "nonsense"),
    },
    "prefs batches": {
        "missing": (["--part", "train", "--data", MD, "--work", OUT + "w"], "missing_dir"),
        "wrong": (["--part", "train", "--data", W, "--work", OUT + "w"], "wrongdb"),
        "option": (["--part", "nonsense", "--data", W, "--work", OUT + "w"], "nonsense"),
    },
    "prefs merge": {
        "missing": ([M, "--data", MD], "missing"),
        "wrong": ([WF, "--data", W], "wrongdb"),
        "option": ([WF, "--data", W, "--bogus"], "--bogus"),
    },
    "prefs stats": {
        "missing": (["--data", MD], "missing_dir"),
        "wrong": (["--data", W], "wrongdb"),
        "option": (["--data", W, "--bogus"], "--bogus"),
    },
    "prefs build": {
        "missing": (["--photos", PD, "--data", MD, "--work", OUT + "w", "-o", OUT], "missing_dir"),
        "wrong": (["--photos", PD, "--split", WF, "--data", W, "--work", OUT + "w", "-o", OUT], "junk.pt"),
        "option": (["--photos", PD, "--data", W, "--work", OUT + "w", "-o", OUT, "--epochs", "0"], "--epochs"),
    },
    "prefs fit-weights": {
        "missing": (["--photos", PD, "--data", MD, "--work", OUT + "w", "-o", OUT], "missing_dir"),
        "wrong": (["--photos", PD, "--data", W, "--work", OUT + "w", "-o", OUT], "wrongdb"),
        "option": (["--photos", PD, "--data", W, "--work", OUT + "w", "-o", OUT, "--bogus"], "--bogus"),
    },
    "prefs fit": {
        "missing": (["--photos", PD, "--data", MD, "--work", OUT + "w", "-o", OUT + ".npz"], "missing_dir"),
        "wrong": (["--photos", PD, "--data", W, "--work", OUT + "w", "-o", OUT + ".npz"], "wrongdb"),
        "option": (["--photos", PD, "--data", W, "--work", OUT + "w", "-o", OUT + ".npz", "--seeds", "0"], "--seeds"),
    },
}


def _commands() -> list[str]:
    """Every leaf command of the app, as it is typed ('index build')."""
    found: list[str] = []

    def walk(cmd, path: list[str]) -> None:  # noqa: ANN001 - a click command
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            found.append(" ".join(path))

    walk(typer.main.get_command(app), [])
    return sorted(found)


def test_every_command_has_cases() -> None:
    assert not set(_commands()) - set(CASES), "commands without error-path cases"


@pytest.fixture()
def places(tmp_path: Path, photo_paths: list[Path]) -> Path:
    (tmp_path / "photos").mkdir()
    shutil.copy(photo_paths[3], tmp_path / "photos" / "a.jpg")
    (tmp_path / "wrongdb").mkdir()
    (tmp_path / "wrongdb" / "notes.txt").write_text("not a database\n")
    (tmp_path / "junk.pt").write_text("not a checkpoint, a photo, a config or a split\n")
    return tmp_path


@pytest.mark.parametrize("kind", ["missing", "wrong", "option"])
@pytest.mark.parametrize("command", sorted(CASES))
def test_bad_input_is_one_line(command: str, kind: str, places: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[command][kind]
    if command not in _commands():
        pytest.skip(f"no {command} command in this checkout")
    if case is None:
        pytest.skip(f"{command} reads no {kind} input")
    args, words = case
    from conftest import ROOT

    monkeypatch.chdir(ROOT)  # configs/ and benchmarks/ as documented
    argv = [*command.split(), *(a.format(tmp=places) for a in args)]
    before = sorted(p.relative_to(places) for p in places.rglob("*"))
    r = runner.invoke(app, argv)
    shown = f"{argv}\nstdout: {r.stdout}\nstderr: {r.stderr}\nexception: {r.exception!r}"
    assert r.exit_code in (1, 2), shown
    assert isinstance(r.exception, SystemExit) or r.exception is None, shown
    assert "Traceback" not in r.stdout + r.stderr, shown
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, shown
    assert words in lines[0], shown
    after = sorted(p.relative_to(places) for p in places.rglob("*"))
    assert after == before, f"{shown}\nwrote {set(after) - set(before)}"  # nothing half written


def test_a_failed_photo_is_named_once(places: Path) -> None:
    """``prefs sheets`` lists a photo that fails with its path once (it was printed twice)."""
    split = places / "split.json"
    split.write_text('{"train": ["gone.jpg"], "heldout": []}')
    r = runner.invoke(app, ["prefs", "sheets", "--photos", str(places / "photos"), "--split", str(split),
                            "--part", "train", "--data", str(places / "data"), "--work", str(places / "work")])
    assert r.exit_code == 1, r.stderr
    failed = [x for x in r.stderr.splitlines() if "gone.jpg" in x]
    assert len(failed) == 1 and failed[0].count("gone.jpg") == 1, r.stderr


def test_no_image_in_a_folder_is_one_line_naming_it(places: Path) -> None:
    (places / "empty").mkdir()
    for command in ("crop", "describe"):
        r = runner.invoke(app, [command, str(places / "empty")])
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert r.exit_code == 2 and lines == [f"error: {places / 'empty'}: folder contains no image files"], r.stderr


def test_a_mixed_batch_counts_images_apart_from_empty_folders(places: Path) -> None:
    """1 of 3 images done, 2 images failed and 1 folder held none: the counts add up (a trial read
    "4 of 10 image(s) done" beside "7 input(s) failed")."""
    (places / "empty").mkdir()
    (places / "photos" / "x.jpg").write_text("a text file named like a photo\n")
    args = [str(places / "photos"), str(places / "empty"), str(places / "gone.jpg"),
            "-o", str(places / "out"), "--scorer", "classic", "--no-db", "--fast"]
    r = runner.invoke(app, ["crop", *args])
    assert r.exit_code == 1, r.stderr
    assert "1 of 3 image(s) done" in r.stderr
    assert "2 image(s) failed, and 1 folder(s) or pattern(s) held none:" in r.stderr


def test_the_only_photo_failing_is_one_line(places: Path) -> None:
    """No "0 of 1 image(s) done" beside the error: nothing done, the error line alone says so."""
    bad = places / "x.jpg"
    bad.write_text("a text file named like a photo\n")
    r = runner.invoke(app, ["crop", str(bad), "-o", str(places / "out"), "--scorer", "classic", "--no-db", "--fast"])
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.exit_code == 1 and len(lines) == 1 and lines[0].startswith(f"error: {bad}: "), r.stderr
    assert not (places / "out").exists()


def test_prefs_help_says_where_relative_defaults_are_read() -> None:
    group = runner.invoke(app, ["prefs", "--help"], env={"COLUMNS": "300"})
    assert group.exit_code == 0 and "fit-weights, fit" in group.stdout, group.stdout
    for command in ("sheets", "batches", "merge", "stats", "build", "fit-weights", "fit"):
        r = runner.invoke(app, ["prefs", command, "--help"], env={"COLUMNS": "300"})
        assert r.exit_code == 0 and "relative to the current folder" in r.stdout, (command, r.stdout)


def test_prefs_part_shows_its_choices() -> None:
    for command in ("sheets", "batches"):
        r = runner.invoke(app, ["prefs", command, "--help"], env={"COLUMNS": "200"})
        assert r.exit_code == 0 and "train|heldout" in r.stdout, r.stdout


# the second trial of session 15: bad numbers and outputs that gave tracebacks, exit 0 or litter
MORE: list[tuple[list[str], str]] = [
    (["train", "configs/small_weak.toml", "-d", PD, "-o", OUT, "--set", "train.batch_size=0"],
     "train.batch_size"),
    (["train", "configs/small_weak.toml", "-d", PD, "-o", OUT, "--set", "train.epochs=-1"], "train.epochs"),
    (["train", "configs/small_weak.toml", "-d", MD, "-o", OUT], "missing_dir"),  # and no empty run folder
    # a database that cannot be read: before the progress bar, no empty run folder (a researcher's trial)
    (["train", "configs/small_weak.toml", "-d", PD, "-o", OUT, "--set", "train.reference_db={tmp}/nodb"],
     "nodb"),
    (["train", "configs/small_weak.toml", "-d", PD, "-o", OUT, "--set", "train.reference_db={tmp}/wrongdb"],
     "wrongdb"),
    (["export", WF, OUT + ".onnx", "--size", "0x0"], "--size"),
    (["export", WF, PD], "is a folder"),
    (["describe", "--json", OUT + ".jsonl", P], "takes no file name"),
    (["dataset", "generate", "--photos", PD, "-o", OUT, "--backend", "nonsense"], "--backend"),
    (["dataset", "generate", "--photos", PD, "-o", OUT, "--scorer", WF], "junk.pt"),
    (["index", "build", P, "-o", OUT, "--licences", WF], "not a licence CSV"),
    (["train", "configs/small_weak.toml", "-d", PD, "-o", OUT, "--set", "train.lr=inf"], "train.lr"),
    (["train", "configs/small_weak.toml", "-d", PD, "-o", OUT, "--set", "model.num_queries=0"],
     "num_queries"),
    (["serve", "--style-strength", "4"], "--db"),
    (["dataset", "generate", "--photos", PD, "-o", OUT, "--licences", WF], "not a licence CSV"),
    # an output under a file: refused before the work (a researcher's trial: tracebacks after it)
    (["eval", "-b", "weak", "-d", PD, "-m", "center", "-o", WF + "/report"], "junk.pt is a file"),
    (["prefs", "sheets", "--photos", PD, "--part", "train", "--data", WF + "/d", "--work", OUT],
     "junk.pt is a file"),
    # a bundle that cannot load: one line before any photo (it failed once per photo)
    (["prefs", "sheets", "--photos", PD, "--part", "train", "--data", OUT, "--work", OUT + "w",
      "--learned-model", MD], "not a learned-scorer bundle (no model.json)"),
    # options that would be loaded for nothing (session 20's researcher: without a word)
    (["crop", P, "--learned-model", W, "--scorer", "classic"], "--scorer classic ranks without it"),
    (["eval", "-b", "weak", "-d", PD, "-m", "center", "--db", W], "only model:CKPT methods read"),
]


@pytest.mark.parametrize("args, words", MORE, ids=[f"{' '.join(a[:2])} {i}" for i, (a, _) in enumerate(MORE)])
def test_more_bad_input_is_one_line(args: list[str], words: str, places: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    argv = [a.format(tmp=places) for a in args]
    before = sorted(p.relative_to(places) for p in places.rglob("*"))
    r = runner.invoke(app, argv)
    shown = f"{argv}\nstdout: {r.stdout}\nstderr: {r.stderr}\nexception: {r.exception!r}"
    assert r.exit_code == 2 and (isinstance(r.exception, SystemExit) or r.exception is None), shown
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in r.stdout + r.stderr, shown
    assert sorted(p.relative_to(places) for p in places.rglob("*")) == before, shown  # nothing left behind


def test_a_data_set_of_only_failed_photos_is_not_left_behind(places: Path) -> None:
    """Every input failing left an empty data set and 'seam AUC nan'."""
    (places / "broken").mkdir()
    (places / "broken" / "a.jpg").write_text("not a photo")
    broken, ds = str(places / "broken"), str(places / "ds")
    r = runner.invoke(app, ["dataset", "generate", "--photos", broken, "-o", ds, "-q"])
    assert r.exit_code == 1 and "a.jpg" in r.stderr and "nan" not in r.stdout + r.stderr, r.stderr
    assert not (places / "ds").exists()


def test_an_output_path_in_the_way_is_one_line_not_a_traceback(places: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands that make their output folder as they go (train -o, export, dataset preview -o...)
    showed a NotADirectoryError traceback for a path under a file: one line naming it, exit 2 (a
    usage error, as eval -o says it)."""
    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    argv = ["train", "configs/small_weak.toml", "-d", str(places / "photos"),
            "-o", str(places / "junk.pt" / "run")]
    r = runner.invoke(app, argv)
    shown = f"stdout: {r.stdout}\nstderr: {r.stderr}\nexception: {r.exception!r}"
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit), shown
    assert "Traceback" not in r.stdout + r.stderr, shown
    assert len(lines) == 1 and "junk.pt" in lines[0] and "a file is where a folder must be" in lines[0], shown


def test_a_damaged_onnx_model_is_one_line(places: Path) -> None:
    """A text or truncated file named .onnx given to --model printed protobuf's 120-line DecodeError
    traceback (a trial)."""
    bad = places / "bad.onnx"
    bad.write_text("not a model\n")
    r = runner.invoke(app, ["crop", str(places / "photos" / "a.jpg"), "--model", str(bad)])
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and "not a readable ONNX model" in lines[0], r.stderr
    bundle = places / "bundle"  # a learned bundle is a folder: named for where it goes
    bundle.mkdir()
    (bundle / "model.json").write_text("{}")
    r = runner.invoke(app, ["crop", str(places / "photos" / "a.jpg"), "--model", str(bundle)])
    assert r.exit_code == 2 and "a learned bundle goes to --learned-model" in r.stderr, r.stderr
    run = places / "run"  # a run folder: its checkpoint files are named (a trial was sent to --learned-model)
    run.mkdir()
    (run / "last.pt").write_bytes(b"")
    r = runner.invoke(app, ["export", str(run), str(places / "m.onnx")])
    assert r.exit_code == 2, r.stderr
    assert "a folder, not a checkpoint (a run folder: give its last.pt)" in r.stderr, r.stderr


def test_a_folder_of_other_files_is_not_written_into(places: Path) -> None:
    """A trial wrote a data set into a reference database and a database into a folder of the user's
    own photos and notes: a folder holding anything but the command's own output is refused, one
    line, nothing written; the command's own folder still resumes."""
    mine = places / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    db = places / "db"
    assert runner.invoke(app, ["index", "build", str(places / "photos"), "-o", str(db), "-q"]).exit_code == 0
    # a data set inside --photos is not read as more photos when it resumes (canvases of canvases)
    photos = places / "photos"
    inside = ["dataset", "generate", "--photos", str(photos), "-n", "1", "-o", str(photos / "weak")]
    assert runner.invoke(app, inside).exit_code == 0
    r = runner.invoke(app, inside)
    assert r.exit_code == 0 and ": 0 item(s) written, 1 already done" in r.stdout, r.stdout
    generate = ["dataset", "generate", "--photos", str(places / "photos"), "-n", "1", "-q", "--out"]
    cases = [(["index", "build", str(places / "photos"), "-q", "-o"], mine, "not a reference database"),
             (generate, mine, "not a data set"), (generate, db, "not a data set")]
    for argv, folder, words in cases:
        before = sorted(p.name for p in folder.iterdir())
        r = runner.invoke(app, [*argv, str(folder)])
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert r.exit_code == 2 and len(lines) == 1 and words in lines[0], r.stderr
        assert sorted(p.name for p in folder.iterdir()) == before
    assert runner.invoke(app, ["index", "build", str(places / "photos"), "-o", str(db), "-q"]).exit_code == 0


@pytest.mark.parametrize("args", [["prefs", "fit", "--photos", "."], ["train", "configs/small_weak.toml"],
                                  ["prefs", "build", "--photos", ".", "-o", "x"],
                                  ["import-checkpoint", "a", "b", "c"]])
def test_a_missing_torch_is_one_line(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the torch extra, the commands that need it said so in a two-traceback page, exit 1;
    every other extra was one line, exit 2."""
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch: ImportError
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "needs the optional package 'torch'. Install it with: pip install 'procrop[torch]'" in r.output
    assert "Traceback" not in r.output
