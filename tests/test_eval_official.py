"""Evaluation as ProCrop's / GAIC's official code does it: weighted accuracy, CPC targets, AP per
IoU threshold, readers (SACD, CAD weak labels, AVA subset), models with their own reference
database, and the checkpoint-selection hook.

Imports of new names happen inside the tests, so each test fails on its own without its fix.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


# ---- weighted accuracy (GAIC's official rule) ------------------------------------------------


def gaic_official_wacc(pred: list[float], mos: list[float], k: int, n: int) -> float:
    """An independent transcription of GAIC's test code: Python's stable ``sorted`` and
    ``list.index`` give each crop its position in the MOS order."""
    beta = 0.2 if n == 5 else 0.1
    id_gt = sorted(range(len(mos)), key=lambda i: mos[i], reverse=True)
    id_out = sorted(range(len(pred)), key=lambda i: pred[i], reverse=True)
    ranks = sorted(id_gt.index(id_out[j]) for j in range(k))
    return sum(math.exp(-beta * (r - j)) for j, r in enumerate(ranks) if r <= n - 1) / k


def test_wacc_synthetic_ties() -> None:
    from procrop.evaluation.metrics import acc_k_n_image, acc_weighted_image

    mos = [3, 3, 3, 3, 3, 3, 1, 1, 1, 1]  # six crops tie at the top
    pred = [0.0] * 10
    pred[5] = 1.0  # the 6th of the tied crops is predicted best: stable MOS rank 5
    pred[4] = 0.5  # then the 5th: rank 4
    assert acc_k_n_image(pred, mos, 1, 5) == 1.0  # ties count as hits in the plain Acc
    assert acc_weighted_image(pred, mos, 1, 5) == 0.0  # rank 5 > 4 (the old rule said rank 0 -> 1.0)
    # K = 2: ranks sorted (4, 5): only rank 4 counts, exp(-0.2 * (4 - 0)) / 2
    assert acc_weighted_image(pred, mos, 2, 5) == pytest.approx(math.exp(-0.8) / 2)
    # N = 10: (exp(-0.1 * 4) + exp(-0.1 * (5 - 1))) / 2
    assert acc_weighted_image(pred, mos, 2, 10) == pytest.approx(math.exp(-0.4))
    for k in range(1, 5):
        for n in (5, 10):
            assert acc_weighted_image(pred, mos, k, n) == pytest.approx(gaic_official_wacc(pred, mos, k, n))


def test_wacc_on_the_two_real_gaicd_v1_images(benchmarks_dir: Path) -> None:
    """Predictions that favour crops tied with the 5th-best MOS but placed after it: GAIC's rule
    gives wAcc5 = 0.00 (the old "ties share the best rank" rule gave > 0.2); every metric agrees
    with the independent transcription, also for seeded random predictions."""
    from procrop.data import read_gaicd_v1
    from procrop.evaluation.metrics import ranking_metrics

    samples = [s for s in read_gaicd_v1(benchmarks_dir / "gaicd_v1").split("test") if s.id in ("302166", "309808")]
    assert len(samples) == 2
    mos = [list(map(float, s.scores)) for s in samples]
    preds = []
    for m in mos:
        order = sorted(range(len(m)), key=lambda i: m[i], reverse=True)
        assert all(m[order[i]] == m[order[4]] for i in range(5, 9))  # positions 5..8 tie with the 5th
        p = [0.0] * len(m)
        for rank, i in enumerate(order[5:9]):
            p[i] = 1.0 - 0.1 * rank
        preds.append(p)
    out = ranking_metrics(preds, mos)
    assert round(out["wAcc5"], 2) == 0.00 and out["Acc5"] == 1.0
    rng = np.random.default_rng(7)
    for trial in (preds, [list(rng.random(len(m))) for m in mos]):
        got = ranking_metrics(trial, mos)
        for n in (5, 10):
            for k in range(1, 5):
                ref = float(np.mean([gaic_official_wacc(p, m, k, n) for p, m in zip(trial, mos)]))
                assert got[f"wAcc{k}/{n}"] == pytest.approx(ref, abs=1e-12)


# ---- CPC targets: the mean vote --------------------------------------------------------------


def write_cpc(root: Path) -> None:
    ann = root / "CollectedAnnotationsRaw"
    ann.mkdir(parents=True)
    (root / "images").mkdir()
    boxes = [[0, 0, 100, 100], [200, 0, 300, 100], [0, 200, 100, 300], [200, 200, 300, 300]]
    votes = [[3, 1, 2, 0], [3, 1, 2, 0], [3, 1, 3, 1]]  # 3 annotators x 4 views
    (ann / "c.jpg.txt").write_text(json.dumps({"bboxes": boxes, "scores": votes}))


def test_cpc_targets_use_the_mean_vote(tmp_path: Path) -> None:
    """Means 3, 1, 2.33, 0.33 against sums 9, 3, 7, 1: with good_thresh 2.0 the official targets
    are views 0 and 2 (the sum would add view 1)."""
    from procrop.data import read_cpc
    from procrop.model.paper.config import Config
    from procrop.training.paper.samples import select_good

    write_cpc(tmp_path)
    s = read_cpc(tmp_path).samples[0]
    np.testing.assert_allclose(s.scores, [3, 1, 7 / 3, 1 / 3])
    from procrop.evaluation.official import GOOD_RULES, good_indices

    assert good_indices(s.boxes, s.scores, GOOD_RULES["cpc"]).tolist() == [0, 2]
    # procrop's trainer: every box (good_num 0) scoring >= 2.0, NMS 0.8 -- the official CPC set
    cfg = Config().replace(train={"good_num": 0, "good_thresh": 2.0, "good_nms": 0.8})
    assert sorted(select_good(s.boxes, s.scores, cfg).tolist()) == [0, 2]


def test_good_set_rules() -> None:
    from procrop.evaluation.official import GOOD_RULES, GoodRule, good_indices

    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 9.5], [50, 50, 10, 10], [20, 20, 5, 5]], float)
    # GAICD: the boxes tied at the best score, best first
    assert good_indices(boxes, np.array([4, 5, 5, 3.0]), GOOD_RULES["gaicd-v1"]).tolist() == [1, 2]
    # CPC: nothing reaches 2.0 -> the ties at the top; NMS 0.8 drops box 1 (IoU 0.95 with box 0)
    assert good_indices(boxes, np.array([1.5, 1.5, 1.0, 0.2]), GOOD_RULES["cpc"]).tolist() == [0]
    assert good_indices(boxes, np.array([2.5, 2.4, 2.1, 0.2]), GOOD_RULES["cpc"]).tolist() == [0, 2]
    assert good_indices(boxes, None, GOOD_RULES.get("flms")).tolist() == [0, 1, 2, 3]
    assert good_indices(boxes, np.array([1, 2, 3, 4.0]), GoodRule(good_thresh=0.0, good_num=2)).tolist() == [3, 2]


# ---- AP as ProCrop's evaluator computes it --------------------------------------------------


def test_official_matching_takes_the_last_eligible_good_box() -> None:
    """Good G0 = (0,0,100,100), G1 = (0,0,100,90). d0 = (0,0,100,95) overlaps both (0.95, 0.947);
    d1 = (0,0,100,101) only G0 at 0.90 (0.990; 0.891 with G1). Official: d0 takes the LAST
    eligible box, G1, so d1 still gets G0: AP@0.90 = 1. COCO (highest IoU): d0 takes G0, d1 is a
    false positive: precision 1 up to recall 0.5, so 51/101."""
    from procrop.evaluation.metrics import average_precision
    from procrop.evaluation.official import official_ap, official_match

    good = np.array([[0, 0, 100, 100], [0, 0, 100, 90]], float)
    dets = np.array([[0, 0, 100, 95], [0, 0, 100, 101]], float)
    assert official_match(dets, good, 0.90).tolist() == [1, 0]
    preds = [(dets, np.array([0.9, 0.8]))]
    assert official_ap(preds, [good], 0.90) == pytest.approx(1.0)
    assert official_ap(preds, [good], 0.85) == pytest.approx(1.0)
    assert average_precision(preds, [good], thresholds=[0.90]) == pytest.approx(51 / 101)


def test_official_ap_pooled_over_images_per_threshold() -> None:
    """Image 1: good A; p1 (0.9, IoU 0.87), p2 (0.5, IoU 0.95). Image 2: good B; q1 (0.7, IoU 0.02).
    Pooled: p1, q1, p2; 2 good boxes.
    @0.85: TP FP FP -> precision 1 at recall 0.5 -> 51/101.
    @0.90: FP FP TP -> precision 1/3 at recall 0.5 (made monotone) -> 51 * (1/3) / 101 = 17/101.
    maxDets 1 @0.90: p1 and q1 are both false -> 0."""
    from procrop.evaluation.official import official_ap

    A = np.array([[0, 0, 100, 100]], float)
    B = np.array([[0, 0, 50, 50]], float)
    preds = [(np.array([[0, 0, 100, 87], [0, 0, 100, 95]], float), np.array([0.9, 0.5])),
             (np.array([[40, 40, 50, 50]], float), np.array([0.7]))]
    assert official_ap(preds, [A, B], 0.85) == pytest.approx(51 / 101)
    assert official_ap(preds, [A, B], 0.90) == pytest.approx(17 / 101)
    assert official_ap(preds, [A, B], 0.90, max_dets=1) == 0.0


def test_report_names_the_two_aps_apart(tmp_path: Path) -> None:
    from procrop.evaluation.evaluate import evaluate, make_method
    from tests.test_model import make_synthetic_set

    make_synthetic_set(tmp_path / "d", n=2)
    report = evaluate("gaicd-v2", tmp_path / "d", [make_method("center")], split="train")
    keys = set(report.methods[0].metrics)
    for md in (5, 10):
        assert {f"AP{md}@0.85 (official)", f"AP{md}@0.90 (official)", f"AP{md}[.85:.95] (coco-style)"} <= keys
    assert not any(k.startswith("AP@") for k in keys)


# ---- readers ---------------------------------------------------------------------------------


def test_sacd_reader_and_evaluation(tmp_path: Path) -> None:
    from PIL import Image

    from procrop.data import read_sacd
    from procrop.evaluation.evaluate import evaluate, make_method

    (tmp_path / "annotations").mkdir()
    (tmp_path / "images").mkdir()
    Image.new("RGB", (300, 200), (90, 90, 90)).save(tmp_path / "images" / "s1.jpg")
    # row-first as ProCrop's loader parses: y1 x1 y2 x2 [score]; no score = 5
    (tmp_path / "annotations" / "s1.txt").write_text("20 10 120 210\n25 15 115 205 4.1\n")
    s = read_sacd(tmp_path).samples[0]
    np.testing.assert_allclose(s.boxes, [[10, 20, 200, 100], [15, 25, 190, 90]])
    np.testing.assert_allclose(s.scores, [5, 4.1])
    xy = read_sacd(tmp_path, order="xy").samples[0]
    np.testing.assert_allclose(xy.boxes[0], [20, 10, 100, 200])
    report = evaluate("sacd", tmp_path, [make_method("center")], split=None)
    m = report.methods[0].metrics
    assert report.evaluated == 1 and 0 <= m["IoU@1"] <= 1 and "AP10@0.90 (official)" in m


def test_weak_reader_reads_the_published_cad_layout(tmp_path: Path) -> None:
    """CAD as published: flat ``annotations/<ava id>_<n>.txt``, row-first lines, the first one
    without a score (the pseudo-label, 5), refined proposals with ``sigmoid * 10`` scores, -2
    lines ignored, and a score token the official loader reads from its first 5 characters."""
    from procrop.data import read_weak

    (tmp_path / "annotations").mkdir()
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations" / "953417_1.txt").write_text(
        "100 50 400 650\n110 60 390 640 6.2817]\n0 0 10 10 -2\n105 55 395 645 5.5\n"
    )
    ds = read_weak(tmp_path)
    s = ds.samples[0]
    assert s.id == "953417_1" and s.split == "all"
    np.testing.assert_allclose(s.boxes[0], [50, 100, 600, 300])
    np.testing.assert_allclose(s.scores, [5.0, 6.281, 5.5])


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up while the module runs
    spec.loader.exec_module(mod)
    return mod


def test_select_ava_subset(tmp_path: Path) -> None:
    tool = load_tool("select_ava_subset")
    rows = [
        (1, 1001, [0, 0, 0, 0, 0, 0, 0, 10, 0, 0]),  # mean 8
        (2, 1002, [0, 0, 0, 0, 10, 0, 0, 0, 0, 0]),  # mean 5
        (3, 1003, [0, 0, 0, 0, 5, 5, 0, 0, 0, 0]),  # mean 5.5 (official weighted 4.5)
        (4, 1004, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),  # no votes
        (5, 1005, [0, 0, 0, 0, 0, 0, 3, 0, 0, 0]),  # mean 7, 3 votes
    ]
    ava = tmp_path / "AVA.txt"
    ava.write_text("".join(f"{i} {iid} {' '.join(map(str, v))} 1 2 3\n" for i, iid, v in rows))
    images = tool.read_ava(ava)
    assert images[2].mean == pytest.approx(5.5) and images[2].official_weighted == pytest.approx(4.5)
    assert [im.image_id for im in tool.select(images)] == ["1001", "1005", "1003"]
    assert [im.image_id for im in tool.select(images, min_votes=5)] == ["1001", "1003"]
    assert [im.image_id for im in tool.select(images, top=1)] == ["1001"]
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "1005.jpg").write_bytes(b"x")
    assert tool.main([str(ava), "--out", str(tmp_path / "ids.txt"), "--images", str(tmp_path / "img")]) == 0
    assert (tmp_path / "ids.txt").read_text() == f"{tmp_path / 'img' / '1005.jpg'}\n"
    ava.write_text("1 1001 0 0\n")
    assert tool.main([str(ava), "--out", str(tmp_path / "x.txt")]) == 2


# ---- models with their own reference database, and checkpoint selection ---------------------


def narrow_encoder_name() -> str:
    """A layout encoder keeping 6 of the 14 token channels: a database of another dimension."""
    from procrop.retrieval.encoders.layout import LayoutEncoder
    from procrop.retrieval.encoders.registry import register_encoder

    @register_encoder("layout-narrow-test")
    class NarrowLayout(LayoutEncoder):
        name = "layout-narrow-test"
        version = "layout-narrow-test-1"
        token_shape = (64, 6)
        grid_weights = LayoutEncoder.grid_weights[:6]

        def encode(self, image, analysis=None):
            enc = super().encode(image, analysis)
            enc.tokens = np.ascontiguousarray(enc.tokens[:, :6])
            return enc

        @classmethod
        def flip_grid(cls, grids: np.ndarray) -> np.ndarray:
            n, t, c = grids.shape
            return grids.reshape(n, 8, 8, c)[:, :, ::-1].reshape(n, t, c)

    return "layout-narrow-test"


@pytest.fixture(scope="module")
def narrow_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pytest.importorskip("torch")
    from procrop.retrieval import build_database
    from tests.test_model import make_synthetic_set

    root = tmp_path_factory.mktemp("narrow")
    make_synthetic_set(root / "data", n=3)
    photos = sorted((root / "data" / "images" / "train").glob("*.png"))
    build_database([str(p) for p in photos], root / "db", encoder=narrow_encoder_name())
    return root / "db", root / "data"


def save_tiny(path: Path, ref_dim: int, reference_db: str = "default") -> Path:
    from procrop.model.paper.checkpoint import save_checkpoint
    from procrop.model.paper.network import build_model
    from tests.test_model import tiny_config

    cfg = tiny_config(ref_dim=ref_dim).replace(train={"reference_db": reference_db})
    save_checkpoint(path, {"model": build_model(cfg.model).state_dict(), "config": cfg.to_dict()})
    return path


def test_model_evaluated_with_its_own_database(narrow_db: tuple[Path, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from procrop.cli.app import app
    from procrop.errors import UsageError
    from procrop.evaluation.evaluate import evaluate, make_method

    db, data = narrow_db
    ckpt = save_tiny(tmp_path / "m6.pt", ref_dim=6)
    method = make_method(f"model:{ckpt}", reference_db=str(db))
    assert method.model.conditioner.retriever.db_path == db
    report = evaluate("gaicd-v2", data, [method], split="train")
    assert report.evaluated == 3 and not report.methods[0].failed
    assert -1 <= report.methods[0].metrics["SRCC"] <= 1
    # the database the configuration records is the default
    recorded = make_method(f"model:{save_tiny(tmp_path / 'r6.pt', ref_dim=6, reference_db=str(db))}")
    assert recorded.model.conditioner.retriever.db_path == db
    # a database whose tokens do not fit the model: a clear error naming both shapes
    with pytest.raises(UsageError, match=r"\(64, 6\).*\(64, 14\)"):
        make_method(f"model:{save_tiny(tmp_path / 'm14.pt', ref_dim=14)}", reference_db=str(db))
    with pytest.raises(UsageError, match="not found"):
        make_method(f"model:{save_tiny(tmp_path / 'gone.pt', ref_dim=6, reference_db=str(tmp_path / 'nope'))}")
    r = CliRunner().invoke(app, ["eval", "-b", "gaicd-v2", "-d", str(data), "--split", "train", "-m", f"model:{ckpt}",
                                 "--db", str(db), "-o", str(tmp_path / "r"), "-q"])
    assert r.exit_code == 0, r.stdout + r.stderr


def test_evaluate_for_selection(narrow_db: tuple[Path, Path], tmp_path: Path) -> None:
    from PIL import Image

    from procrop.evaluation.evaluate import make_method
    from procrop.evaluation.selection import evaluate_for_selection
    from procrop.model.paper.checkpoint import load_model
    from procrop.model.paper.predictor import NeuralCropper

    flms = tmp_path / "flms"
    (flms / "image").mkdir(parents=True)
    crops = {}
    for i in range(2):
        Image.new("RGB", (200, 160), (40 * i + 50, 80, 80)).save(flms / "image" / f"{i}_Large.jpg")
        crops[f"{i}_Large.jpg"] = [[20, 10, 180, 150], [30, 20, 170, 140]]
    (flms / "image_crop.json").write_text(json.dumps(crops))
    res = evaluate_for_selection(make_method("center"), flms)
    assert res.key == "IoU@1" and res.evaluated == 2 and res.score == pytest.approx(res.metrics["IoU@1"])
    bde = evaluate_for_selection(make_method("center"), flms, key="BDE@1")
    assert bde.score == pytest.approx(-bde.metrics["BDE@1"])
    # an in-memory predictor, as a trainer holds it: evaluated in eval mode, its mode restored
    db, _ = narrow_db
    model, state = load_model(save_tiny(tmp_path / "m.pt", ref_dim=6), device="cpu")
    from procrop.model.paper.checkpoint import config_of

    model.train()
    pred = NeuralCropper(model, config_of(state), str(db))
    res = evaluate_for_selection(pred, flms, name="step100")
    assert res.evaluated == 2 and res.failed == 0 and model.training
    assert evaluate_for_selection(tmp_path / "m.pt", flms, reference_db=str(db)).evaluated == 2
