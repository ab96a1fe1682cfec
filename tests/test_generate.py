"""Weak-label generation on real photos: canvases, exact frames, label rules, resume, determinism,
Ray, and the diffusers backend with a tiny pipeline built here."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from procrop.cli.app import app
from procrop.data import read_weak
from procrop.weaklabels import ClassicalOutpainter, GenerateParams, generate_dataset, sample_canvas
from procrop.weaklabels.seam import seam_report
from procrop.geometry import STANDARD_RATIOS
from procrop.imaging.load import load_image
from procrop.weaklabels.refine import coverage, procrop_distance

runner = CliRunner()


@pytest.fixture(scope="module")
def few_photos(photo_paths: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for p in photo_paths[5::120]:  # 5 photos from several sources
        shutil.copy(p, folder / p.name)
    return folder


def small_params(**kw) -> GenerateParams:
    return GenerateParams(**{"per_photo": 2, "max_side": 256, "rounds": 2, **kw})


def test_canvas_sampling() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        w, h = int(rng.integers(50, 1000)), int(rng.integers(50, 1000))
        spec = sample_canvas(w, h, rng, coverage=(0.35, 0.9))
        x, y, fw, fh = spec.frame
        assert (fw, fh) == (w, h) and x >= 0 and y >= 0 and x + w <= spec.width and y + h <= spec.height
        assert spec.coverage <= 0.9 + 1e-6


def test_classical_fill_keeps_the_photo_exactly_and_hides_the_seam(photo_paths: list[Path]) -> None:
    outpainter = ClassicalOutpainter()
    items = []
    for i, p in enumerate(photo_paths[::40]):
        photo = load_image(p, 512).pixels
        rng = np.random.default_rng(i)
        spec = sample_canvas(photo.shape[1], photo.shape[0], rng)
        canvas = outpainter.fill(photo, spec, rng)
        x, y, w, h = spec.frame
        assert canvas.shape == (spec.height, spec.width, 3)
        assert np.array_equal(canvas[y : y + h, x : x + w], photo)
        items.append((canvas, spec.frame))
    report = seam_report(items)
    assert report["seam_auc"] < 0.7  # a patch classifier barely tells the two sides apart
    # while a plain grey border is trivially found
    grey = []
    for canvas, (x, y, w, h) in items:
        g = np.full_like(canvas, 128)
        g[y : y + h, x : x + w] = canvas[y : y + h, x : x + w]
        grey.append((g, (x, y, w, h)))
    assert seam_report(grey)["seam_auc"] > 0.9


def _check_labels(out: Path) -> int:
    ds = read_weak(out)
    rows = {json.loads(line)["id"]: json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()}
    assert {s.id for s in ds} == set(rows)
    for s in ds:
        r = rows[s.id]
        W, H = s.size()
        assert (W, H) == (r["width"], r["height"])
        fx, fy, fw, fh = r["frame"]
        np.testing.assert_allclose(s.boxes[0], [fx, fy, fw, fh], atol=0.05)  # exact frame (one decimal in the file)
        assert 0.0 <= s.scores[0] <= 10.0 and s.scores[0] != 5.0 and 1 <= len(s.boxes) <= 5  # the frame scored
        pseudo = (fx, fy, fx + fw, fy + fh)
        chosen = [pseudo]
        for (x, y, w, h), score in zip(s.boxes[1:], s.scores[1:]):
            assert score > 2.0
            assert x >= -0.05 and y >= -0.05 and x + w <= W + 0.1 and y + h <= H + 0.1
            ratio = max(w, h) / min(w, h)
            assert min(abs(ratio - r_) for r_ in STANDARD_RATIOS) < 0.01
            box = (x, y, x + w, y + h)
            assert coverage(box, pseudo) > 0.8 - 1e-3
            assert all(procrop_distance(box, c, W, H) > 0.2 - 1e-3 for c in chosen)
            chosen.append(box)
    return len(ds)


def test_generate_info_preview_and_labels(few_photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "weak"
    r = runner.invoke(app, ["dataset", "generate", "--photos", str(few_photos), "--out", str(out), "-n", "2", "--max-side", "256", "-q"])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert _check_labels(out) == 10
    info = runner.invoke(app, ["dataset", "info", str(out), "--json"])
    data = json.loads(info.stdout)
    assert data["items"] == 10 and data["photos"] == 5 and not data["missing_files"]
    # one label count: every box of each file, the frame included, as the preview's captions count
    lines = [len(f.read_text().splitlines()) for f in sorted((out / "annotations").rglob("*.txt"))]
    assert data["labels_per_item"]["total"] == sum(lines) and data["labels_per_item"]["max"] == max(lines)
    assert 0.0 <= data["seam"]["seam_auc"] <= 1.0
    text = runner.invoke(app, ["dataset", "info", str(out)]).stdout  # each count under its heading
    assert "items by source folder:\n" in text and "items by licence:\n" in text
    for licence, n in data["licences"].items():
        assert f"  {n:6d}  {licence}" in text
    sheet = tmp_path / "sheet.png"
    assert runner.invoke(app, ["dataset", "preview", str(out), "--n", "4", "-o", str(sheet)]).exit_code == 0
    assert sheet.stat().st_size > 10_000
    # licence and provenance travel with each item (MANIFEST.csv is found above the photos)
    row = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert row["source_sha256"] and row["seed"] == 0 and row["backend"] == "classical"
    # a different seed into the same folder is refused rather than mixed
    r = runner.invoke(app, ["dataset", "generate", "--photos", str(few_photos), "--out", str(out), "-n", "2", "--max-side", "256", "--seed", "1"])
    assert r.exit_code == 2 and "other parameters" in r.stderr


def test_generate_without_licences_says_so_and_info_of_a_stopped_set_says_the_seam_is_not_measured(
        few_photos: Path, tmp_path: Path) -> None:
    """A researcher's trial: no licence list found was silent (only `dataset info` showed "(not
    recorded)" later), and a stopped set's info printed "seam check: AUC None"."""
    import shutil

    photos = tmp_path / "mine" / "a" / "b" / "c" / "d"  # no MANIFEST.csv within three folders above
    shutil.copytree(few_photos, photos)
    out = tmp_path / "weak"
    r = runner.invoke(app, ["dataset", "generate", "--photos", str(photos), "--out", str(out), "-n", "1",
                            "--max-side", "256"])
    assert r.exit_code == 0 and "note: no licence list" in r.stderr, r.stderr
    meta = json.loads((out / "dataset.json").read_text())
    meta.pop("seam", None)  # as a stopped generation leaves it
    (out / "dataset.json").write_text(json.dumps(meta))
    text = runner.invoke(app, ["dataset", "info", str(out)]).stdout
    assert "seam check: not measured yet" in text and "None" not in text
    listed = sorted(photos.iterdir())[0]  # a list naming one photo of several: the others are said
    (photos / "list.csv").write_text(f"file,licence\n{listed.name},CC0\n")
    r = runner.invoke(app, ["dataset", "generate", "--photos", str(photos), "--out", str(tmp_path / "w2"),
                            "-n", "1", "--max-side", "256", "--licences", str(photos / "list.csv")])
    n = len([p for p in photos.iterdir() if p.suffix != ".csv"])
    assert r.exit_code == 0 and f"note: {n - 1} of {n} photo(s) have no row in" in r.stderr, r.stderr


def _digest(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "dataset.json"
    }


def test_same_seed_same_dataset_whatever_the_workers(few_photos: Path, tmp_path: Path) -> None:
    files = sorted(str(p) for p in few_photos.iterdir())
    generate_dataset(files, tmp_path / "a", small_params(), photo_root=str(few_photos))
    generate_dataset(files, tmp_path / "b", small_params(), photo_root=str(few_photos), workers=2)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    generate_dataset(files, tmp_path / "c", small_params(seed=5), photo_root=str(few_photos))
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_resume_after_a_killed_run(photo_paths: list[Path], tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in photo_paths[200:230]:
        shutil.copy(p, photos / p.name)
    out = tmp_path / "weak"
    cmd = [sys.executable, "-m", "procrop.cli", "dataset", "generate", "--photos", str(photos), "--out", str(out),
           "-n", "2", "--max-side", "256", "-q"]
    proc = subprocess.Popen(cmd)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        manifest = out / "manifest.jsonl"
        if manifest.exists() and len(manifest.read_text().splitlines()) >= 6:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len((out / "manifest.jsonl").read_text().splitlines())
    assert 0 < done_before < 60, "the run was not interrupted mid-way"
    # an interrupted write may leave a torn last line: simulate it too
    with open(out / "manifest.jsonl", "a") as fh:
        fh.write('{"id": "torn')
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ids = [json.loads(line)["id"] for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 60
    assert _check_labels(out) == 60
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]
    # and a fresh run with the same seed made exactly the same items
    generate_dataset(sorted(str(p) for p in photos.iterdir()), tmp_path / "fresh", small_params(), photo_root=str(photos))
    a = _digest(out)
    b = _digest(tmp_path / "fresh")
    assert {k: v for k, v in a.items() if k != "manifest.jsonl"} == {k: v for k, v in b.items() if k != "manifest.jsonl"}


def test_ray_executor_matches_the_local_pool(few_photos: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    files = sorted(str(p) for p in few_photos.iterdir())
    generate_dataset(files, tmp_path / "local", small_params(), photo_root=str(few_photos), workers=2)
    report = generate_dataset(files, tmp_path / "ray", small_params(), photo_root=str(few_photos), workers=2, ray="local")
    assert report.written == 10 and report.throughput > 0
    assert _digest(tmp_path / "local") == _digest(tmp_path / "ray")


def _tiny_inpaint_pipeline(folder: Path, controlnet: bool = False) -> Path:
    """A randomly initialised (ControlNet-)in-painting pipeline, saved locally."""
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    transformers = pytest.importorskip("transformers")
    from conftest import tiny_clip_tokenizer

    torch.manual_seed(0)
    blocks = dict(block_out_channels=(16, 32), layers_per_block=1, cross_attention_dim=16, attention_head_dim=4, norm_num_groups=8)
    unet = diffusers.UNet2DConditionModel(
        sample_size=16, in_channels=9, out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), **blocks,
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=(16, 32), down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4, norm_num_groups=8, sample_size=32,
    )
    tokenizer = tiny_clip_tokenizer(folder / "tokenizer")
    text = transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=len(tokenizer.get_vocab()), hidden_size=16, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    ))
    scheduler = diffusers.DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                                        set_alpha_to_one=False, steps_offset=1)
    common = dict(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler, safety_checker=None,
                  feature_extractor=None, requires_safety_checker=False)
    if controlnet:
        cn = diffusers.ControlNetModel(in_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                       conditioning_embedding_out_channels=(8, 16), **blocks)
        pipe = diffusers.StableDiffusionControlNetInpaintPipeline(controlnet=cn, **common)
    else:
        pipe = diffusers.StableDiffusionInpaintPipeline(**common)
    pipe.save_pretrained(folder / "pipe")
    return folder / "pipe"


@pytest.mark.parametrize("controlnet", [False, True])
def test_diffusers_backend_with_a_tiny_pipeline(tmp_path: Path, photo_paths: list[Path], controlnet: bool) -> None:
    from procrop.weaklabels.outpaint import DiffusersOutpainter

    pipe = _tiny_inpaint_pipeline(tmp_path, controlnet)
    outpainter = DiffusersOutpainter(str(pipe), device="cpu", steps=2, max_side=64)
    assert (getattr(outpainter.pipe, "controlnet", None) is not None) == controlnet
    photo = load_image(photo_paths[3], 96).pixels
    rng = np.random.default_rng(0)
    spec = sample_canvas(photo.shape[1], photo.shape[0], rng)
    canvas = outpainter.fill(photo, spec, rng, "a quiet lake")
    x, y, w, h = spec.frame
    assert canvas.shape == (spec.height, spec.width, 3) and np.array_equal(canvas[y : y + h, x : x + w], photo)
    if controlnet:
        return
    # and through the CLI, end to end
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(photo_paths[3], photos / photo_paths[3].name)
    r = runner.invoke(app, ["dataset", "generate", "--photos", str(photos), "--out", str(tmp_path / "weak"), "-n", "1",
                            "--backend", "diffusers", "--model", str(pipe), "--max-side", "96", "-q"])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert json.loads((tmp_path / "weak" / "manifest.jsonl").read_text())["backend"] == "diffusers"


def test_diffusers_backend_offline_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("diffusers")
    from procrop.errors import ModelLoadError, UsageError
    from procrop.weaklabels.outpaint import DiffusersOutpainter, create_outpainter

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="offline"):
        DiffusersOutpainter("some-org/some-inpainting-model")
    with pytest.raises(UsageError, match="needs --model"):
        create_outpainter("diffusers")


def test_refined_labels_are_not_systematically_larger_than_the_frame() -> None:
    """Whatever the scorer prefers, the geometry of proposals and refinement is unbiased: with a
    scorer that rates every box alike, the kept labels are as often smaller as larger than the frame
    (log area ratio centred on 0), and every one overlaps the frame both ways by 80 %."""
    from procrop.weaklabels.proposals import weak_labels
    from procrop.weaklabels.refine import coverage

    rng = np.random.default_rng(0)
    logs = []
    for i in range(60):
        W, H = int(rng.integers(500, 900)), int(rng.integers(400, 700))
        fw, fh = int(W * rng.uniform(0.45, 0.8)), int(H * rng.uniform(0.45, 0.8))
        frame = (int(rng.integers(0, W - fw)), int(rng.integers(0, H - fh)), fw, fh)
        canvas = np.zeros((H, W, 3), np.uint8)
        labels = weak_labels(canvas, frame, lambda c, b: np.full(len(b), 0.6), np.random.default_rng(i))
        pseudo = (frame[0], frame[1], frame[0] + fw, frame[1] + fh)
        for box, _ in labels[1:]:
            assert coverage(box, pseudo) > 0.8 and coverage(pseudo, box) > 0.8
            logs.append(np.log((box[2] - box[0]) * (box[3] - box[1]) / (fw * fh)))
    assert len(logs) > 100
    assert abs(float(np.mean(logs))) < 0.03, np.mean(logs)
