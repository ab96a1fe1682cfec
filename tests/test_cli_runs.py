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
    flat = " ".join(again.stderr.split())  # said before the repeated summary, not only after it (a trial)
    assert flat.index("2 image(s) already done in out by an earlier run") < flat.index("2 of 2 image(s) done")
    expected = {f"{n}{suffix}" for n in names for suffix in (".json", "_preview.png")}
    expected |= {f"{n}_1x1_1{Path(next(photos.glob(n + '.*'))).suffix}" for n in names}
    assert {p.name for p in (photos / "out").iterdir()} == expected
    # another output folder: the first run's crops and previews (named by out/*.json) stay out too
    other = run("crop", ".", "-r", "1:1", "-k", "1", "-o", str(photos.parent / "elsewhere"), *FAST)
    assert other.exit_code == 0, other.stderr
    assert sorted(p.stem for p in (photos.parent / "elsewhere").glob("*.json")) == names
    # a folder of nothing but earlier outputs: one line saying so, even with -q ("no input images" said
    # nothing of why: a photographer's trial)
    only = run("crop", "out", "-r", "1:1", "-q", *FAST)
    assert only.exit_code == 2, only.stderr
    assert "no input images: the 4 file(s) found are procrop's own outputs" in " ".join(only.stderr.split())


def test_a_photo_named_like_an_output_is_still_an_input(photos: Path, tmp_path: Path) -> None:
    src = next(photos.iterdir())
    lookalike = photos / f"holiday_1x1_1{src.suffix}"  # no holiday.json names it: a photo
    shutil.copy(src, lookalike)
    r = run("crop", str(photos), "-r", "1:1", "-k", "1", "-o", str(tmp_path / "out"), "-q", *FAST)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "out" / "holiday_1x1_1.json").exists()


def _without(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Make ``module`` look uninstalled to importlib.util.find_spec."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name.split(".")[0] == module else real(name, *a, **k))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_pose_without_its_extra_is_one_usage_error(photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   workers: str) -> None:
    _without(monkeypatch, "ai_edge_litert")
    r = run("crop", str(photos), "--pose", "-j", workers, "-o", str(tmp_path / "out"), *FAST)
    assert r.exit_code == 2, r.stderr
    assert "pip install 'procrop[pose]'" in r.stderr and "failed" not in r.stderr
    assert not (tmp_path / "out").exists()
    from procrop import Cropper
    from procrop.errors import MissingExtraError

    with pytest.raises(MissingExtraError, match=r"procrop\[pose\]"):
        Cropper(pose=True, reference_db=None, scorer="classic")  # the API too, before any photo


@pytest.mark.parametrize("suffix", [".pt", ".onnx"])
def test_model_without_torch_is_one_usage_error(photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                suffix: str) -> None:
    """An exported .onnx model ran into a traceback (ModuleNotFoundError: torch) where a .pt one
    was one line: the paper's network code needs torch for both (a developer's trial)."""
    model = tmp_path / f"m{suffix}"
    model.write_bytes(b"junk")
    _without(monkeypatch, "torch")
    r = run("crop", str(photos), "--model", str(model), "-o", str(tmp_path / "out"), *FAST)
    assert r.exit_code == 2 and "pip install 'procrop[torch]'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "out").exists()
    import builtins

    from procrop.scoring.terms.neural import NeuralTerm
    from procrop.errors import MissingExtraError

    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(
        ModuleNotFoundError("No module named 'torch'")) if name == "torch" else real(name, *a, **k))
    monkeypatch.delitem(__import__("sys").modules, "torch", raising=False)
    with pytest.raises(MissingExtraError, match=r"procrop\[torch\]"):
        NeuralTerm.from_checkpoint(model)  # the API: the package's own error, not ModuleNotFoundError


def test_a_tiny_output_size_is_refused_with_a_hint(photos: Path, tmp_path: Path) -> None:
    r = run("crop", str(photos), "-r", "4x5", "-o", str(tmp_path / "out"), *FAST)
    assert r.exit_code == 2 and "use 4:5" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()
    from procrop.geometry import parse_ratio

    assert parse_ratio("1080x1350").output_size == (1080, 1350) and parse_ratio("64x32").output_size == (64, 32)


def test_an_empty_ratio_is_refused_and_w_slash_h_is_read_as_w_colon_h(photos: Path, tmp_path: Path) -> None:
    """`-r ""` (an unset shell variable) cropped free without a word; W/H is documented beside W:H."""
    for values in (("",), ("1:1", " ")):
        ratios = [a for v in values for a in ("-r", v)]
        r = run("crop", str(photos), *ratios, "-o", str(tmp_path / "out"), *FAST)
        assert r.exit_code == 2 and "--ratio is empty" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()
    from procrop.geometry import parse_ratio

    assert parse_ratio("16/9").label == "16:9"


def test_a_huge_output_size_is_refused(photos: Path, tmp_path: Path) -> None:
    """10800x13500 (a zero too many for 1080x1350) wrote 146-megapixel files with a PIL warning past
    -q, and 100000x100000 was killed for memory without a word."""
    for size in ("10800x13500", "100000x100000", "20000x100"):
        r = run("crop", str(photos), "-r", size, "-o", str(tmp_path / "out"), *FAST)
        assert r.exit_code == 2, r.stderr
        assert "is too large (at most 16384 pixels a side and 100 megapixels)" in r.stderr
    assert not (tmp_path / "out").exists()


def test_upscaling_is_reported_and_can_be_refused(photos: Path, tmp_path: Path) -> None:
    from PIL import Image

    small = tmp_path / "small" / "small.jpg"
    small.parent.mkdir()
    Image.open(next(photos.iterdir())).convert("RGB").resize((480, 320)).save(small, quality=95)
    r = run("crop", str(small), "-r", "1080x1350", "-k", "1", "-o", str(tmp_path / "up"), *FAST)
    assert r.exit_code == 0, r.stderr
    data = json.loads((tmp_path / "up" / "small.json").read_text())
    crop = data["crops"][0]
    assert "enlarged" in r.stderr and any("enlarged" in w for w in data["warnings"])
    assert Image.open(crop["file"]).size == (1080, 1350) and crop["output_size"] == [1080, 1350]
    # the Python API says it too (it said nothing: a developer's trial), without the CLI's option hint;
    # the CLI's JSON holds its own wording once
    from procrop import Cropper

    api = Cropper(reference_db=None, scorer="classic", profile="fast")
    said = api.process(small, "1080x1350", 1).warnings
    assert said == [line.split(" (--no-upscale")[0] for line in data["warnings"]]
    assert "enlarged up to" in said[0]
    r = run("crop", str(small), "-r", "1080x1350", "-k", "1", "-o", str(tmp_path / "kept"), "--no-upscale", *FAST)
    assert r.exit_code == 0, r.stderr
    data = json.loads((tmp_path / "kept" / "small.json").read_text())
    crop = data["crops"][0]
    assert any("not enlarged" in w for w in data["notes"])  # as asked: a note, not a warning
    assert data["warnings"] == [] and "note:" in r.stderr
    assert list(Image.open(crop["file"]).size) == crop["box"][2:] == crop["output_size"]
    # several photos enlarged: one line for them all (a photographer's 9 photos at 3 sizes printed 27)
    Image.open(small).resize((240, 160)).save(small.parent / "smaller.jpg", quality=95)
    r = run("crop", str(small.parent), "-r", "1080x1350,1080x1080", "-k", "1", "-o", str(tmp_path / "two"),
            *FAST)
    said = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert r.exit_code == 0 and len(said) == 1, r.stderr
    assert "2 photos have crops enlarged" in said[0]
    assert "smaller.jpg, 1080x1350" in " ".join(r.stderr.split())
    assert len(json.loads((tmp_path / "two" / "smaller.json").read_text())["warnings"]) == 2
    # and with --no-upscale, the photos kept small are counted as such, apart from those with fewer
    # crops than asked (all were counted as "fewer crops": a trial)
    r = run("crop", str(small.parent), "-r", "1080x1350,1080x1080", "-k", "1", "-o", str(tmp_path / "own"),
            "--no-upscale", *FAST)
    flat = " ".join(r.stderr.split())
    assert r.exit_code == 0 and "2 photos have crops kept at their own size, smaller than asked" in flat
    fewer = sum(any("not enlarged" not in n for n in json.loads(f.read_text())["notes"])
                for f in (tmp_path / "own").glob("*.json"))
    assert ("photos have fewer crops than asked" in flat) == (fewer > 1), r.stderr


def test_preview_needs_an_output_folder(photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(photos.parent)
    r = run("crop", str(photos), "--preview", *FAST)
    assert r.exit_code == 2 and "--out" in r.stderr
    assert not list(photos.parent.glob("*_preview.png"))


def test_a_rerun_with_other_options_replaces_the_outputs(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    src = sorted(photos.iterdir())[0]
    assert run("crop", str(src), "-r", "1:1,16:9", "-k", "2", "-o", str(out), "--preview", *FAST).exit_code == 0
    assert len(list(out.glob(f"{src.stem}_*"))) >= 3
    assert run("crop", str(src), "-r", "4:5", "-k", "1", "-o", str(out), *FAST).exit_code == 0
    assert {p.name for p in out.iterdir()} == {f"{src.stem}.json", f"{src.stem}_4x5_1{src.suffix}"}


def test_a_copied_output_folder_is_replaced_like_the_first(photos: Path, tmp_path: Path) -> None:
    # the trial's `cp -r out1 out1b`: the copied results still name out1's files
    out, copy = tmp_path / "out", tmp_path / "copy"
    src = sorted(photos.iterdir())[0]
    first = run("crop", str(src), "-r", "1:1,16:9", "-k", "2", "-o", str(out), "--preview", *FAST)
    assert first.exit_code == 0
    shutil.copytree(out, copy)
    assert run("crop", str(src), "-r", "4:5", "-k", "1", "-o", str(copy), *FAST).exit_code == 0
    assert {p.name for p in copy.iterdir()} == {f"{src.stem}.json", f"{src.stem}_4x5_1{src.suffix}"}
    assert len(list(out.glob(f"{src.stem}_*"))) >= 3  # the first folder untouched
    # the same options in another copy: its results named the first folder's files, so nothing was redone
    again = tmp_path / "again"
    shutil.copytree(out, again)
    rerun = run("crop", str(src), "-r", "1:1,16:9", "-k", "2", "-o", str(again), "--preview", *FAST)
    assert rerun.exit_code == 0
    files = [c["file"] for c in json.loads((again / f"{src.stem}.json").read_text())["crops"]]
    assert files and all(Path(f).parent == again for f in files)


def test_an_image_interrupted_before_its_json_leaves_no_files(photos: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import procrop.output.preview as preview

    def ctrl_c(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(preview, "save_preview", ctrl_c)  # Ctrl-C while the preview is drawn
    out = tmp_path / "out"
    src = sorted(photos.iterdir())[0]
    result = CliRunner().invoke(app, ["crop", str(src), "-r", "1:1", "-o", str(out), "--preview", *FAST])
    assert result.exit_code == 130 and "interrupted: at least 0 of 1 image(s) done" in result.output
    assert not out.exists() or not list(out.iterdir())


def test_help_names_every_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich reads "[pose]" as markup; every "procrop[extra]" in a command's help must show."""
    import re

    import click
    import typer.main

    monkeypatch.setenv("COLUMNS", "250")
    root = typer.main.get_command(app)

    def walk(cmd: click.Command, path: list[str]):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, path + [name])

    checked = 0
    for path, cmd in walk(root, []):
        texts = [cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params]
        extras = {m for t in texts for m in re.findall(r"procrop\\?\[(\w+)\]", t.split("\f")[0])}
        if not extras:
            continue
        shown = run(*path, "--help").stdout
        for extra in extras:
            assert f"procrop[{extra}]" in shown, f"procrop {' '.join(path)} --help hides procrop[{extra}]"
            checked += 1
    assert checked >= 3


def test_fast_help_gives_the_measured_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    """--fast was sold as "about half the time"; the README measures 42 vs 53 ms a photo."""
    monkeypatch.setenv("COLUMNS", "300")
    shown = run("crop", "--help").stdout
    assert "about 20 % faster than the default" in shown and "half the time" not in shown


def test_a_resumed_run_counts_what_is_done(photos: Path, tmp_path: Path) -> None:
    from procrop.output.batch import CropOptions, OutputOptions, crop_files

    files = [str(p) for p in sorted(photos.iterdir())]
    options = CropOptions(ratios=("1:1",), top_k=1, reference_db=None, scorer="classic", profile="fast")
    output = OutputOptions(out_dir=str(tmp_path / "out"))
    first: list[tuple[int, int]] = []
    crop_files(files, options, output, progress=lambda done, total: first.append((done, total)))
    assert first[0] == (0, 2) and first[-1] == (2, 2)
    again: list[tuple[int, int]] = []
    report = crop_files(files, options, output, progress=lambda done, total: again.append((done, total)))
    assert report.skipped == 2 and again == [(2, 2)]  # not 0/0


def test_every_crop_lists_its_references(photos: Path) -> None:
    """The JSON the README shows: ``references`` on each crop (the learned default's too), and the
    key present, empty, with retrieval off."""
    src = str(sorted(photos.iterdir())[0])
    data = json.loads(run("crop", src, "-r", "1:1", "-k", "1", "--no-analysis").stdout)
    assert data["references"] and all(c["references"] for c in data["crops"])
    assert all({"source", "similarity"} <= set(r) for c in data["crops"] for r in c["references"])
    off = json.loads(run("crop", src, "-r", "1:1", "-k", "1", "--no-analysis", *FAST).stdout)
    assert off["references"] == [] and all(c["references"] == [] for c in off["crops"])


def test_outputs_written_beside_the_photos_leave_the_photos_in(photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``procrop crop . -o .``: the output folder is the input folder; its photos stay inputs and
    only what procrop wrote there is left out on the re-run."""
    monkeypatch.chdir(photos)
    first = run("crop", ".", "-r", "1:1", "-k", "1", "-o", ".", "--preview", *FAST)
    assert first.exit_code == 0 and "2 of 2 image(s) done" in first.stderr, first.stderr
    again = run("crop", ".", "-r", "1:1", "-k", "1", "-o", ".", "--preview", *FAST)
    assert again.exit_code == 0 and "2 of 2 image(s) done (2 already done" in again.stderr, again.stderr
    assert "4 file(s) that procrop wrote" in again.stderr


def test_max_upscale_chooses_crops_wide_enough_for_the_size(photos: Path, tmp_path: Path) -> None:
    """A photographer's 1080x1920 file came from a 252-px crop (enlarged 4.3 times, soft): with
    --max-upscale X only crops the size enlarges at most X times are chosen, the widest the photo
    has when none is wide enough; the JSON's options name it (a re-run without it crops again)."""
    from PIL import Image

    from procrop import Cropper
    from procrop.errors import UsageError

    small = tmp_path / "in" / "small.jpg"
    small.parent.mkdir()
    Image.open(next(photos.iterdir())).convert("RGB").resize((480, 320)).save(small, quality=95)
    loose = Cropper(reference_db=None).process(small, "1080x1350", top_k=5)
    for limit in (4.5, 1.0):
        sharp = Cropper(reference_db=None, max_upscale=limit).process(small, "1080x1350", top_k=5)
        widest = max(c.box[2] for c in loose.crops + sharp.crops)
        assert sharp.crops and all(c.box[2] >= min(1080 / limit, widest) for c in sharp.crops), sharp.crops
    for bad in (0.5, True, "2", float("inf")):
        with pytest.raises(UsageError, match="max_upscale must be a number of at least 1"):
            Cropper(reference_db=None, max_upscale=bad)  # type: ignore[arg-type]
    # one call's limit, over the cropper's (none here); a limit no crop meets is noted
    call = Cropper(reference_db=None).process(small, "1080x1350", top_k=5, max_upscale=1.0)
    assert {c.box[2] for c in call.crops} == {max(c.box[2] for c in loose.crops + call.crops)}
    assert any("wide enough for 1 times at most (max_upscale)" in n for n in call.notes), call.notes
    assert not any("max_upscale" in n for n in loose.notes)
    with pytest.raises(UsageError, match="max_upscale"):
        Cropper(reference_db=None).crop(small, "1080x1350", max_upscale=0.5)
    r = run("crop", str(small), "-r", "1080x1350", "-k", "1", "-o", str(tmp_path / "out"),
            "--max-upscale", "2", *FAST)
    data = json.loads((tmp_path / "out" / "small.json").read_text())
    assert r.exit_code == 0 and data["options"]["max_upscale"] == 2.0, r.stderr
    assert data["crops"][0]["box"][2] == max(c.box[2] for c in loose.crops)  # none reaches 540: the widest
    assert run("crop", str(small), "-r", "1080x1350", "--max-upscale", "0.5", *FAST).exit_code == 2
    # with --no-upscale too, the note says the crop is kept at its own size, not "is enlarged"
    run("crop", str(small), "-r", "1080x1350", "-k", "1", "-o", str(tmp_path / "own"), "--max-upscale", "2",
        "--no-upscale", *FAST)
    notes = json.loads((tmp_path / "own" / "small.json").read_text())["notes"]
    unmet = [n for n in notes if "(max_upscale)" in n]
    assert unmet and all("kept at its own size" in n and "is enlarged" not in n for n in unmet), notes


def test_ctrl_c_says_how_many_images_were_done(photos: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import procrop.output.batch as batch

    def two_then_ctrl_c(files: list, *args: object, progress: object = None, **kwargs: object) -> None:
        progress(1, len(files))  # type: ignore[operator]
        progress(2, len(files))  # type: ignore[operator]
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "crop_files", two_then_ctrl_c)
    result = CliRunner().invoke(app, ["crop", str(photos), "-r", "1:1", "-o", str(tmp_path / "out"), *FAST])
    n = len(list(photos.iterdir()))
    assert result.exit_code == 130 and f"interrupted: at least 2 of {n} image(s) done" in result.output


@pytest.mark.parametrize("workers,twice", [(1, False), (2, True)])
def test_sigterm_stops_a_batch_like_ctrl_c(photo_paths: list[Path], tmp_path: Path, workers: int,
                                           twice: bool) -> None:
    """`kill` of a running crop was silent and left an image with crops but no JSON; now it
    unwinds as Ctrl-C: one line, exit 130, and every image either whole or without files. The same
    stop sent twice at once (`timeout` signals the command and its process group) killed a -j 2
    batch with 143 half the time, leaving its workers running: the second is ignored."""
    import os
    import signal
    import subprocess
    import sys
    import time

    folder, out = tmp_path / "many", tmp_path / "out"
    folder.mkdir()
    for i in range(40):
        shutil.copy(photo_paths[3], folder / f"p{i:02d}.jpg")
    cmd = [sys.executable, "-c", "from procrop.cli import run; run()", "crop", str(folder), "-r", "1:1,4:5",
           "-o", str(out), "-j", str(workers), *FAST]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 120
    while not (out.exists() and list(out.glob("*.json"))) and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the batch ended before it could be stopped"
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True)
    workers_seen = [int(p) for p in children.stdout.split()]
    proc.send_signal(signal.SIGTERM)
    if twice:  # after the first has begun to unwind
        time.sleep(0.03)
        proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted: at least" in stderr and "Traceback" not in stderr, stderr
    done = {p.stem for p in out.glob("*.json")}
    crops = {p.name.split("_")[0] for p in out.glob("*.jpg")}
    assert done and crops == done  # no image's crops without its JSON
    if workers > 1:  # and no worker left behind, waiting for work
        assert workers_seen
        time.sleep(2)
        alive = [pid for pid in workers_seen if os.path.exists(f"/proc/{pid}")
                 and "Z" not in open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0]]
        assert not alive, alive


def test_an_interrupted_index_build_says_how_far_it_got(photos: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C in 'procrop index build' is one line with the photos encoded and how to go on, as
    'dataset generate' says it (a researcher's trial read only "interrupted"), exit 130."""
    import procrop.retrieval as retrieval

    def build(files, out, progress, **kwargs):  # noqa: ANN001, ANN202 - stops after the first photo
        progress(1, len(files))
        raise KeyboardInterrupt

    monkeypatch.setattr(retrieval, "build_database", build)
    r = CliRunner().invoke(app, ["index", "build", str(photos), "--out", str(tmp_path / "db")])
    assert r.exit_code == 130, r.output
    said = " ".join(r.stderr.split())
    assert "interrupted after encoding 1 of 2 photo(s):" in said
    assert "keeps the chunks of 256 committed" in said
    assert "the same command goes on from there" in said
