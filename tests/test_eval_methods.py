"""`procrop eval` names and reaches what it evaluates: no success on nothing, unique row names, the
checkpoint/bundle and database of every row in the report, learned bundles and ONNX models."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from procrop.cli.evaluate import eval_command

sys.path.insert(0, str(Path(__file__).parent))


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("other")(lambda: None)  # two commands: `eval` stays a subcommand
    return app


def _eval(*args: str):  # noqa: ANN202 - a click Result
    return CliRunner().invoke(_cli(), ["eval", *args])


@pytest.mark.parametrize("benchmark", ["fcdb", "flms"])
def test_nothing_evaluated_is_an_error(benchmarks_dir: Path, tmp_path: Path, benchmark: str) -> None:
    """FCDB's annotations without its Flickr images: it printed "0 image(s) evaluated" and exited 0."""
    data = benchmarks_dir / "fcdb" if benchmark == "fcdb" else tmp_path / "flms"
    if benchmark == "flms":  # FLMS annotations (image_crop.json) naming photos that are not there
        data.mkdir()
        (data / "image_crop.json").write_text(json.dumps({"a.jpg": [[10, 10, 90, 90]], "b.jpg": [[0, 0, 50, 40]]}))
    r = _eval("-b", benchmark, "-d", str(data), "-m", "center", "-o", str(tmp_path / "r"), "--split", "all", "-q")
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert f"no {benchmark} image to evaluate" in r.output and "missing on disk" in r.output
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A GAICD-v2 test split of 4 synthetic images, two checkpoints both called last.pt, an ONNX export."""
    pytest.importorskip("torch")
    from test_model import make_synthetic_set, tiny_config

    from procrop.model.paper.checkpoint import save_checkpoint
    from procrop.model.paper.export import export_onnx
    from procrop.model.paper.network import build_model

    root = tmp_path_factory.mktemp("eval")
    make_synthetic_set(root / "data")
    for part in ("annotations", "images"):
        (root / "data" / part / "train").rename(root / "data" / part / "test")
    out = {"data": root / "data"}
    for i, run in enumerate(("A", "E")):
        import torch

        torch.manual_seed(i)
        cfg = tiny_config()
        (root / "runs" / run).mkdir(parents=True)
        out[run] = root / "runs" / run / "last.pt"
        save_checkpoint(out[run], {"model": build_model(cfg.model).state_dict(), "config": cfg.to_dict()})
    out["onnx"] = export_onnx(out["A"], root / "small.onnx", (160, 160))
    return out


def test_rows_are_named_uniquely_and_record_what_they_ran(models: dict[str, Path], tmp_path: Path) -> None:
    a, e = models["A"], models["E"]
    r = _eval("-b", "gaicd-v2", "-d", str(models["data"]), "-m", f"model:{a}", "-m", f"model:{e}",
              "-m", "mine=center", "-m", "center", "-o", str(tmp_path / "r"), "--plots", "-q")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    names = [m["method"] for m in report["methods"]]
    assert names == [f"model:{a}", f"model:{e}", "mine", "center"]
    sources = [m["source"] for m in report["methods"]]
    assert sources[0]["checkpoint"] == str(a.resolve()) and sources[1]["checkpoint"] == str(e.resolve())
    assert sources[0]["reference_db"].startswith("default (") and sources[0]["format"] == "torch"
    assert sources[2]["kind"] == sources[3]["kind"] == "peer" and sources[2]["spec"] == "center"
    md = (tmp_path / "r" / "report.md").read_text()
    assert f"| model:{a} |" in md and f"checkpoint `{a.resolve()}`" in md
    histograms = sorted((tmp_path / "r" / "plots").glob("iou_histogram_*.png"))
    assert len(histograms) == 4  # one per row, none overwritten


def test_an_onnx_model_and_a_learned_bundle_are_evaluated(models: dict[str, Path], tmp_path: Path) -> None:
    from procrop.model.scorer.runtime import DEFAULT_BUNDLE

    r = _eval("-b", "gaicd-v2", "-d", str(models["data"]), "-m", f"model:{models['onnx']}",
              "-m", f"learned:{DEFAULT_BUNDLE}", "-m", "default", "-o", str(tmp_path / "r"), "-q")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    onnx, learned, default = report["methods"]
    assert onnx["method"] == "model:small.onnx" and onnx["source"]["format"] == "onnx"
    assert onnx["source"]["checkpoint"] == str(Path(models["onnx"]).resolve()) and not onnx["failed"]
    assert -1 <= onnx["metrics"]["SRCC"] <= 1 and "acc5@0.85" in onnx["metrics"]
    assert learned["method"] == f"learned:{DEFAULT_BUNDLE.name}" and not learned["failed"]
    assert learned["source"]["bundle"] == str(DEFAULT_BUNDLE.resolve())
    assert learned["source"]["reference_db"] == str((DEFAULT_BUNDLE / "references").resolve())
    assert learned["metrics"] == default["metrics"]  # the shipped bundle, named: the default cropper
    r = _eval("-b", "gaicd-v2", "-d", str(models["data"]), "-m", f"learned:{tmp_path / 'nowhere'}", "-q")
    assert r.exit_code == 2 and "no such learned-model folder" in r.output
    r = _eval("-b", "gaicd-v2", "-d", str(models["data"]), "-m", f"learned:{models['onnx']}", "-q")
    assert r.exit_code == 2 and "a file, not a learned-model folder (procrop learned export" in r.output
    r = _eval("-b", "gaicd-v2", "-d", str(models["data"]), "-m", "center", "--db", str(tmp_path / "nope"))
    assert r.exit_code == 2 and "only model:CKPT methods read a reference database" in r.output  # was ignored


def test_a_model_run_without_its_references_is_warned_about(models: dict[str, Path], tmp_path: Path) -> None:
    """`eval --db none` on a model trained with references ran (SRCC 0.41 vs -0.16) without a word."""
    a = models["A"]
    r = _eval("-b", "gaicd-v2", "-d", str(models["data"]), "-m", f"model:{a}", "--db", "none", "-o", str(tmp_path / "r"))
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "warning: model:last.pt was trained with references (default) and runs without them (--db none)" in out
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert "runs without them" in report["methods"][0]["source"]["warnings"][0]
    r = _eval("-b", "gaicd-v2", "-d", str(models["data"]), "-m", f"model:{a}", "-o", str(tmp_path / "r2"))
    assert r.exit_code == 0 and "warning" not in r.output


def test_default_noretrieval_retrieves_nothing(photo_paths) -> None:  # noqa: ANN001
    """``default:noretrieval`` runs the learned bundle with its reference slots empty; it still
    retrieved from the bundle before (issue 22)."""
    from procrop.evaluation.methods import make_method

    with_refs, without = make_method("default"), make_method("default:noretrieval")
    photo = str(photo_paths[3])
    assert with_refs.cropper.process(photo, "1:1").references
    result = without.cropper.process(photo, "1:1")
    assert result.references == [] and without.info["reference_db"] == "none"
    assert with_refs.info["reference_db"] != "none"
