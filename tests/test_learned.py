"""The learned default scorer: the shipped bundle on real photos, its options, errors, and the
train -> resume -> export -> crop path on tiny data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from procrop import Cropper
from procrop.candidates import CandidateConfig
from procrop.cli.app import app
from procrop.errors import ModelLoadError
from procrop.geometry import iou, largest_size, parse_ratio
from procrop.model.scorer.runtime import DEFAULT_BUNDLE, LearnedModel

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def cropper(learned_cropper: Cropper) -> Cropper:
    return learned_cropper  # Cropper(scorer="learned")


@pytest.fixture(scope="module")
def heldout(photos_dir: Path) -> list[Path]:
    split = json.loads((ROOT / "benchmarks" / "split.json").read_text())
    return [photos_dir / f for f in split["heldout"][::15]]


def letterbox(photo: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The photo inside a wider canvas filled with its own blurred, enlarged copy (a fill the
    training never used); returns the canvas and the photo's box."""
    h, w = photo.shape[:2]
    k = math.sqrt(1 / rng.uniform(0.45, 0.75))
    W, H = round(w * k * rng.uniform(0.9, 1.1)), round(h * k * rng.uniform(0.9, 1.1))
    W, H = max(W, w + 8), max(H, h + 8)
    x, y = int(rng.integers(0, W - w + 1)), int(rng.integers(0, H - h + 1))
    canvas = cv2.GaussianBlur(cv2.resize(photo, (W, H)), (0, 0), 0.03 * max(W, H))
    canvas[y:y + h, x:x + w] = photo
    return canvas, (x, y, w, h)


def test_learned_scorer_is_the_shipped_learned_model(cropper: Cropper) -> None:
    card = json.loads((DEFAULT_BUNDLE / "model.json").read_text())
    assert cropper.scorer_name == "learned" and cropper.model_name == card["name"]
    assert set(cropper.weights.weights.values()) <= {0.0, 1.0} and cropper.weights.weight("learned") == 1.0
    size = sum(f.stat().st_size for f in DEFAULT_BUNDLE.glob("*.onnx"))
    assert size <= 20_000_000
    assert Cropper(scorer="classic").model_name is None


def test_learned_default_recovers_professional_frames(cropper: Cropper, heldout: list[Path],
                                                      classic_cropper: Cropper) -> None:
    """Held-out professional photos (no reference or training example of theirs) shrunk into
    blurred-cover canvases: the default free crop finds the photographer's frame."""
    from procrop.imaging.load import load_image

    rng = np.random.default_rng(3)
    classic = classic_cropper  # Cropper(scorer="classic", reference_db=None)
    ious, classic_ious = [], []
    for p in heldout:
        canvas, frame = letterbox(load_image(p, 640).pixels, rng)
        ious.append(iou(cropper.crop(canvas, "free", top_k=1)[0].box, frame))
        classic_ious.append(iou(classic.crop(canvas, "free", top_k=1)[0].box, frame))
    assert np.mean(ious) >= 0.85, ious  # 0.945 when written
    assert np.mean(ious) >= np.mean(classic_ious) + 0.15, (ious, classic_ious)


def test_learned_crops_keep_exact_ratios_and_min_area(photo_paths: list[Path]) -> None:
    cropper = Cropper(candidates=CandidateConfig(min_area=0.6))
    for p in photo_paths[::101]:
        result = cropper.process(p, ["free", "1:1", "9:16"], top_k=3)
        W, H = result.width, result.height
        for c in result.crops:
            x, y, w, h = c.box
            assert x >= 0 and y >= 0 and x + w <= W and y + h <= H
            value = parse_ratio(c.ratio).value
            largest = W * H if value is None else np.prod(largest_size(W, H, value))
            assert w * h >= 0.6 * largest * 0.99
            assert "learned" in c.terms and "learned model" in c.reason
        assert result.references  # the bundle's professional photos that guided it


def test_json_options_name_the_model(tmp_path: Path) -> None:
    photo = ROOT / "examples" / "beach.jpg"
    r = runner.invoke(app, ["crop", str(photo), "--json", "-", "--no-analysis", "-q"])
    assert r.exit_code == 0, r.output
    options = json.loads(r.stdout)["options"]
    assert options["scorer"] == "preference" and options["learned_model_name"] == LearnedModel().name
    assert options["preference_model_name"] == "procrop-preference-v3"
    # the database named is the one the learned scorer retrieves from: its bundle's own
    assert options["reference_db"] == f"{LearnedModel().name}/references"
    r = runner.invoke(app, ["crop", str(photo), "--json", "-", "--no-analysis", "-q", "--scorer", "classic"])
    data = json.loads(r.stdout)
    assert data["options"]["scorer"] == "classic" and "learned_model_name" not in data["options"]
    assert data["options"]["reference_db"] == "default"
    assert all("learned" not in c["terms"] for c in data["crops"])


def test_bad_bundles_are_named(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=str(tmp_path)):
        LearnedModel(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"name": "broken", "config": {"refs": False}}))
    (tmp_path / "backbone.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelLoadError, match="backbone.onnx"):
        LearnedModel(tmp_path).encode(np.zeros((64, 64, 3), np.uint8))
    r = runner.invoke(app, ["crop", str(ROOT / "examples" / "beach.jpg"), "--learned-model", str(tmp_path / "none")])
    assert r.exit_code == 2 and "not a learned-scorer bundle" in r.output
    r = runner.invoke(app, ["crop", str(ROOT / "examples" / "beach.jpg"), "--scorer", "magic"])
    assert r.exit_code == 2 and "--scorer" in r.output


def test_train_resume_export_and_crop(photo_paths: list[Path], tmp_path: Path) -> None:
    """Two photos -> box sets -> a 2-epoch schedule stopped after one epoch -> resumed -> the same
    weights as an uninterrupted run -> export -> the bundle crops."""
    pytest.importorskip("torch")
    from procrop.model.scorer.boxnet_export import bundle_parity, export_bundle, load_checkpoint
    from procrop.training.scorer.boxsets import BoxSetOptions, build_boxsets
    from procrop.training.scorer.boxtrain import BoxTrainConfig, train_boxnet

    photos = [str(p) for p in photo_paths[:2]]
    opts = BoxSetOptions(canvases=3, photo_side=(200, 260))
    build_boxsets(photos, tmp_path / "sets", opts, progress=False)
    run = tmp_path / "run"
    cfg = BoxTrainConfig(epochs=2, batch=4, threads=1)
    train_boxnet(str(tmp_path / "sets"), str(tmp_path / "sets"), run, None, cfg, stop_after=1)
    first = (run / "log.jsonl").read_text().splitlines()
    best = train_boxnet(str(tmp_path / "sets"), str(tmp_path / "sets"), run, None, cfg)
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert len(first) == 1 and {"resumed_at_epoch": 1} in lines and lines[-1]["epoch"] == 1
    assert 0.0 <= best["recovery"]["all"] <= 1.0
    # the resumed run ends where an uninterrupted one does, bit for bit
    import torch

    straight = tmp_path / "straight"
    train_boxnet(str(tmp_path / "sets"), str(tmp_path / "sets"), straight, None, cfg)
    a, b = torch.load(run / "last.pt", weights_only=False), torch.load(straight / "last.pt", weights_only=False)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    model, state = load_checkpoint(run / "best.pt")
    bundle = export_bundle(model, tmp_path / "bundle", None, {"name": "tiny-test"})
    pixels = (np.random.default_rng(0).random((90, 120, 3)) * 255).astype(np.uint8)
    assert bundle_parity(model, bundle, pixels, "a test") < 2e-3
    onnx = pytest.importorskip("onnx")  # the TF padding went into the convolutions (the shipped file too)
    for folder in (bundle, ROOT / "procrop" / "resources" / "models" / "learned"):
        ops = [n.op_type for n in onnx.load(str(folder / "backbone.onnx")).graph.node]
        assert "Pad" not in ops and ops.count("Conv") == 52
    crops = Cropper(scorer="learned", learned_model=bundle).crop(str(photos[0]), "1:1", top_k=2)
    assert crops and Cropper(scorer="learned", learned_model=bundle).model_name == "tiny-test"


def test_learned_build_command_makes_a_bundle(photos_dir: Path, tmp_path: Path) -> None:
    """``procrop learned build`` on a three-photo split: references, box sets, one epoch, export."""
    pytest.importorskip("torch")
    split = json.loads((ROOT / "benchmarks" / "split.json").read_text())
    tiny = {"train": split["train"][:2], "heldout": split["heldout"][:1]}
    (tmp_path / "split.json").write_text(json.dumps(tiny))
    args = ["learned", "build", "--photos", str(photos_dir), "--split", str(tmp_path / "split.json"),
            "--work", str(tmp_path / "work"), "--out", str(tmp_path / "bundle"), "--epochs", "1", "-j", "1",
            "--name", "tiny-build"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    card = json.loads((tmp_path / "bundle" / "model.json").read_text())
    assert card["name"] == "tiny-build" and card["record"]["epoch"] == 0
    refs = json.loads((tmp_path / "bundle" / "references" / "manifest.json").read_text())
    assert refs["count"] == 2 and refs["encoder"]["name"] == "mobilenet"
    assert len(list((tmp_path / "work" / "boxsets_train").glob("shard-*.npz"))) == 1
    r = runner.invoke(app, ["learned", "build", "--photos", str(photos_dir), "--split", "/nonexistent.json",
                            "--work", str(tmp_path / "w2"), "--out", str(tmp_path / "b2")])
    assert r.exit_code == 2 and "split file" in r.output
    # export checks what the bundle needs before writing anything (a trial's layout database made a
    # bundle that failed on every photo; a missing --check photo stopped after "wrote")
    from procrop.retrieval import build_database

    layout = tmp_path / "layoutdb"
    build_database([str(photos_dir / n) for n in tiny["train"]], layout, encoder="layout")
    best = str(tmp_path / "work" / "run" / "best.pt")
    for extra, words in ((["--refs", str(layout)], "built with the 'layout' encoder, not 'mobilenet'"),
                         (["--no-refs", "--check", str(tmp_path / "nope.jpg")], "nope.jpg: no such file")):
        r = runner.invoke(app, ["learned", "export", best, str(tmp_path / "b3"), *extra])
        assert r.exit_code == 2 and words in r.output and "Traceback" not in r.output, r.output
        assert not (tmp_path / "b3").exists()
    mine = tmp_path / "mine"  # a folder of the user's own files takes no bundle
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    r = runner.invoke(app, ["learned", "export", best, str(mine), "--no-refs"])
    assert r.exit_code == 2 and "a folder holding other files, not a bundle" in r.output, r.output
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_ablation_bundles_without_references_or_text_run(tmp_path: Path) -> None:
    """A network without reference or description fusion exports without those inputs; the
    runtime feeds only the inputs a bundle declares."""
    torch = pytest.importorskip("torch")
    from procrop.model.scorer.boxnet import BoxNet, BoxNetConfig
    from procrop.model.scorer.boxnet_export import export_bundle

    torch.manual_seed(0)
    bundle = export_bundle(BoxNet(BoxNetConfig(refs=False, text=False)).eval(), tmp_path / "b", None, {"name": "bare"})
    crops = Cropper(scorer="learned", learned_model=bundle).crop(str(ROOT / "examples" / "beach.jpg"), "4:5", top_k=1)
    assert len(crops) == 1 and crops[0].ratio == "4:5"
    # its attribution says what it knows, not the shipped bundle's story (a researcher's trial: a
    # bundle of their own photos claimed procrop's pool and a references/ATTRIBUTION.md it lacked)
    text = (bundle / "ATTRIBUTION.md").read_text()
    assert "ships no reference database" in text and "references/ATTRIBUTION.md" not in text
    tuned = export_bundle(BoxNet(BoxNetConfig(refs=False, text=False)).eval(), tmp_path / "t", None,
                          {"name": "mine", "training": {"train": "my/boxsets"},
                           "finetuned_from": {"checkpoint": "a.pt"}})
    text = (tuned / "ATTRIBUTION.md").read_text()
    assert "fine-tuned from `a.pt`" in text and "`my/boxsets`" in text


def test_a_box_met_again_is_not_run_again(photo_paths: list[Path]) -> None:
    """The box search meets boxes it scored before (a move back, a box that did not move, moves
    clipped to the canvas): their scores come from the photo's record, equal to a fresh run's."""
    model = LearnedModel()
    pixels = cv2.cvtColor(cv2.imread(str(photo_paths[0])), cv2.COLOR_BGR2RGB)
    encoded = model.encode(pixels, "a photo")
    boxes = np.array([[0.1, 0.1, 0.8, 0.9], [0.0, 0.0, 1.0, 1.0], [0.2, 0.3, 0.7, 0.6]])
    fresh = model.score(model.encode(pixels, "a photo"), boxes)
    session = model._load()["score"]
    runs: list[int] = []

    class Counting:
        def run(self, names, feed):
            runs.append(feed["boxes"].shape[1])
            return session.run(names, feed)

    model._sessions["score"] = Counting()
    try:
        first = model.score(encoded, np.vstack([boxes, boxes[:1]]))  # a box twice: run once
        again = model.score(encoded, boxes[::-1])
        mixed = model.score(encoded, np.vstack([boxes[1:], [[0.3, 0.3, 0.9, 0.9]]]))
    finally:
        model._sessions["score"] = session
    assert runs == [3, 1]  # three new boxes, none, then the one new box
    np.testing.assert_array_equal(first[:3], fresh)
    assert first[3] == first[0]
    np.testing.assert_array_equal(again, fresh[::-1])
    np.testing.assert_array_equal(mixed[:2], fresh[1:])
    assert model.score(encoded, np.zeros((0, 4))).shape == (0,)


def test_a_checkpoint_of_the_other_family_is_named_for_what_it_is(tmp_path: Path) -> None:
    """A researcher's trial: the paper's checkpoint given to `learned export` read "TypeError:
    BoxNetConfig.__init__() got an unexpected keyword argument 'model'", a learned one given to
    `export` "format None", a procrop checkpoint given to import-checkpoint "13 shape mismatches",
    a file that is no checkpoint pickle's "Memo value not found"."""
    torch = pytest.importorskip("torch")
    from procrop.errors import ModelLoadError
    from procrop.model.paper.checkpoint import load_checkpoint as load_paper, save_checkpoint
    from procrop.model.paper.importers import read_source
    from procrop.model.scorer.boxnet_export import load_checkpoint as load_scorer

    paper = tmp_path / "paper.pt"
    save_checkpoint(paper, {"model": {"w": torch.zeros(1)}, "config": {}})
    scorer = tmp_path / "scorer.pt"
    torch.save({"model": {}, "config": {"roi": 5, "k_refs": 4, "ref_tokens": 64}}, scorer)
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(ModelLoadError, match="procrop learned export"):
        load_paper(scorer)
    with pytest.raises(ModelLoadError, match="procrop train"):
        load_scorer(paper)
    with pytest.raises(ModelLoadError, match="already procrop's"):
        read_source(paper)
    exported = tmp_path / "model.onnx"
    exported.write_bytes(b"\x08\x07\x12\x07pytorch")  # an ONNX file's first bytes
    for load in (load_paper, load_scorer):
        with pytest.raises(ModelLoadError, match=r"not a readable checkpoint \(not a file torch.save wrote"):
            load(junk)
        with pytest.raises(ModelLoadError, match=r"model.onnx: an ONNX model, not a checkpoint"):
            load(exported)
