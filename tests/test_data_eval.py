"""Dataset readers on the real annotation files, and ``procrop eval`` end to end on real data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from procrop.cli.app import app
from procrop.data import DatasetError, read_cpc, read_fcdb, read_flms, read_gaicd_v1, read_gaicd_v2, read_weak

runner = CliRunner()


def test_gaicd_v1_real_mat(benchmarks_dir: Path) -> None:
    ds = read_gaicd_v1(benchmarks_dir / "gaicd_v1")
    assert len(ds) == 1236
    assert ds.counts() == {"train": 1000, "val": 36, "test": 200}
    n = [len(s.boxes) for s in ds]
    assert min(n) == 54 and max(n) == 90 and sum(n) == 106_853
    assert {s.id for s in ds.available()} == {"302166", "309808"}
    assert len(ds.missing) == 1234
    by_id = {s.id: s for s in ds}
    assert len(by_id["302166"].boxes) == 87 and len(by_id["309808"].boxes) == 90
    for sid in ("302166", "309808"):
        s = by_id[sid]
        assert s.split == "test"
        W, H = s.size()
        b = s.boxes
        assert (b[:, 0] >= 0).all() and (b[:, 0] + b[:, 2] <= W).all() and (b[:, 1] + b[:, 3] <= H).all()
    # identical to the human-centric JSON copy (x1, y1, x2, y2, sorted by score)
    ref = json.loads((benchmarks_dir / "human_centric" / "GAICD" / "image_crop.json").read_text())
    for sid in ("302166", "211085", "309808"):
        s = by_id[sid]
        mine = {(tuple(np.round([x, y, x + w, y + h]).astype(int)), round(float(m), 4)) for (x, y, w, h), m in zip(s.boxes, s.scores)}
        theirs = {(tuple(b), round(float(m), 4)) for b, m in zip(ref[f"{sid}.jpg"]["bbox"], ref[f"{sid}.jpg"]["score"])}
        assert mine == theirs


def test_fcdb_real_json(benchmarks_dir: Path) -> None:
    ds = read_fcdb(benchmarks_dir / "fcdb")
    assert ds.counts() == {"train": 1369, "test": 345}
    assert len(ds.missing) == 1714  # the Flickr images are not here, and are reported
    s = ds.samples[-345]
    assert s.split == "test" and s.extra["url"].endswith(f"{s.id}.jpg") and s.boxes.shape == (1, 4)


def test_flms_real_json_and_mat_agree(benchmarks_dir: Path, tmp_path: Path) -> None:
    sio = pytest.importorskip("scipy.io")
    ds = read_flms(benchmarks_dir / "human_centric" / "FLMS")
    assert len(ds) == 500 and sum(len(s.boxes) for s in ds) == 4988
    # the original .mat layout: struct array img_gt(i) = {filename, 10 x 4 boxes, 1-indexed,
    # [h_min w_min h_max w_max], -1 rows for missing experts}
    js = json.loads((benchmarks_dir / "human_centric" / "FLMS" / "image_crop.json").read_text())
    dtype = [("filename", object), ("gtbbox", object)]
    arr = np.zeros((len(js), 1), dtype=dtype)
    for i, (name, boxes) in enumerate(js.items()):
        rows = np.full((10, 4), -1.0)
        for j, (x1, y1, x2, y2) in enumerate(boxes):
            x1, x2 = min(x1, x2), max(x1, x2)
            y1, y2 = min(y1, y2), max(y1, y2)
            rows[j] = [y1 + 1, x1 + 1, y2, x2]
        arr[i, 0] = (name, rows)
    sio.savemat(tmp_path / "500_image_dataset.mat", {"img_gt": arr})
    from_mat = read_flms(tmp_path)
    assert len(from_mat) == 500 and sum(len(s.boxes) for s in from_mat) == 4988
    for a, b in zip(ds.samples[:50], from_mat.samples[:50]):
        assert a.id == b.id
        np.testing.assert_allclose(a.boxes, b.boxes)


def test_gaicd_v2_layout_and_errors(tmp_path: Path) -> None:
    (tmp_path / "annotations" / "test").mkdir(parents=True)
    (tmp_path / "images" / "test").mkdir(parents=True)
    (tmp_path / "annotations" / "test" / "a.txt").write_text("10 20 110 220 3.5\n0 0 50 50 -2\n5 5 100 100 2.1\n")
    ds = read_gaicd_v2(tmp_path)
    s = ds.samples[0]
    np.testing.assert_allclose(s.boxes, [[20, 10, 200, 100], [5, 5, 95, 95]])
    np.testing.assert_allclose(s.scores, [3.5, 2.1])  # the -2 crop is dropped
    assert ds.missing == ["a"]
    (tmp_path / "annotations" / "test" / "b.txt").write_text("10 20 110 220 3.5\n1 2 three 4 1.0\n")
    with pytest.raises(DatasetError, match=r"b.txt:2: expected numbers"):
        read_gaicd_v2(tmp_path)
    (tmp_path / "annotations" / "test" / "b.txt").write_text("10 20 110\n")
    with pytest.raises(DatasetError, match=r"b.txt:1: expected 'y1 x1 y2 x2 score'"):
        read_gaicd_v2(tmp_path)


def test_cpc_layout(tmp_path: Path) -> None:
    ann = tmp_path / "CollectedAnnotationsRaw"
    ann.mkdir()
    (tmp_path / "images").mkdir()
    payload = {"bboxes": [[10, 0, 90, 80], [0, 8, 100, 72]], "scores": [[1, 0], [1, 1], [0, 1]]}
    (ann / "x.jpg.txt").write_text(json.dumps(json.dumps(payload)))  # doubly encoded, as some copies are
    (ann / "y.jpg.txt").write_text(json.dumps(payload))
    ds = read_cpc(tmp_path)
    assert [s.id for s in ds] == ["x", "y"]
    np.testing.assert_allclose(ds.samples[0].boxes, [[10, 0, 80, 80], [0, 8, 100, 64]])
    np.testing.assert_allclose(ds.samples[0].scores, [2 / 3, 2 / 3])  # mean of the votes (ProCrop's CPC rule; was the sum)
    (ann / "z.jpg.txt").write_text(json.dumps({"bboxes": [[0, 0, 1, 1]], "scores": [[1, 1]]}))
    with pytest.raises(DatasetError, match="z.jpg.txt"):
        read_cpc(tmp_path)


def test_weak_layout(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations" / "p_1.txt").write_text("10 20 110 220\n12 22 108 218 4.2\n0 0 5 5 -2\n")
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"id": "p_1", "width": 300, "height": 200, "licence": "CC0"}) + "\n")
    ds = read_weak(tmp_path)
    s = ds.samples[0]
    np.testing.assert_allclose(s.scores, [5.0, 4.2])  # 4 numbers: the pseudo-label, score 5
    assert s.size() == (300, 200) and s.extra["licence"] == "CC0"
    # a stopped generation's item, written but not in the manifest, is not read (dataset info skips it too)
    (tmp_path / "annotations" / "p_2.txt").write_text("10 20 110 220\n")
    assert [x.id for x in read_weak(tmp_path).samples] == ["p_1"]


def test_eval_gaicd_v1_end_to_end_on_the_two_real_images(benchmarks_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    r = runner.invoke(
        app,
        ["eval", "--benchmark", "gaicd-v1", "--data", str(benchmarks_dir / "gaicd_v1"),
         "-m", "default", "-m", "center", "--split", "test", "-o", str(out), "--plots", "-q"],
    )
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "2 image(s) evaluated, 198 annotated image(s) missing" in r.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["evaluated_images"] == 2 and report["missing_images"]["count"] == 198
    assert report["procrop_version"]
    for m in report["methods"]:
        assert {"SRCC", "PCC", "Acc1/5", "Acc4/5", "Acc1/10", "Acc4/10", "Acc5", "Acc10", "wAcc5", "AP10[.85:.95] (coco-style)", "AP10@0.85 (official)"} <= set(m["metrics"])
        assert {row["image"] for row in m["per_image"]} == {"302166", "309808"}
        assert -1 <= m["metrics"]["SRCC"] <= 1
    md = (out / "report.md").read_text()
    assert "| default |" in md and "| center |" in md
    assert (out / "plots" / "302166.png").exists() and list((out / "plots").glob("iou_histogram_*.png"))


def test_eval_box_benchmark_with_peers(photo_paths: list[Path], tmp_path: Path) -> None:
    """An FCDB-layout set built from real photos, with their own full frame as the ground truth
    crop of a padded copy (so the answer is known)."""
    from PIL import Image

    data = tmp_path / "fcdb"
    data.mkdir()
    entries = []
    for p in photo_paths[10:14]:
        im = Image.open(p).convert("RGB")
        canvas = Image.new("RGB", (im.width + 200, im.height + 100), (128, 128, 128))
        canvas.paste(im, (150, 60))
        name = f"{p.stem}.jpg"
        canvas.save(data / name, quality=90)
        entries.append({"url": f"https://example.invalid/{name}", "flickr_photo_id": 0, "crop": [150, 60, im.width, im.height]})
    (data / "cropping_testing_set.json").write_text(json.dumps(entries))
    r = runner.invoke(app, ["eval", "-b", "fcdb", "-d", str(data), "-m", "default", "-m", "center", "-m", "vips-attention", "-o", str(tmp_path / "r"), "-q"])
    assert r.exit_code == 0, r.stdout + r.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    metrics = {m["method"]: m["metrics"] for m in report["methods"]}
    assert set(metrics) == {"default", "center", "vips-attention"}
    for m in metrics.values():
        assert 0 <= m["IoU@1"] <= 1 and 0 <= m["BDE@1"] <= 1 and "acc5@0.85" in m and "AP10[.85:.95] (coco-style)" in m
    # the default cropper (which is not told the size, unlike the peers) finds most of the photo
    assert metrics["default"]["IoU@1"] > 0.6


def test_eval_usage_errors(benchmarks_dir: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["eval", "-b", "nope", "-d", str(tmp_path)]).exit_code == 2
    assert runner.invoke(app, ["eval", "-b", "gaicd-v1", "-d", str(tmp_path)]).exit_code == 2
    assert runner.invoke(app, ["eval", "-b", "gaicd-v1", "-d", str(benchmarks_dir / "gaicd_v1"), "-m", "magic"]).exit_code == 2
    copy = tmp_path / "g"
    shutil.copytree(benchmarks_dir / "gaicd_v1", copy)
    (copy / "imdb_GAIC1000.mat").write_bytes(b"garbage")
    r = runner.invoke(app, ["eval", "-b", "gaicd-v1", "-d", str(copy)])
    assert r.exit_code == 2 and "imdb_GAIC1000.mat" in r.stderr
