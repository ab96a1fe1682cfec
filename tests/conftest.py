"""Shared fixtures: where the real photos and benchmark annotations live, and synthetic images.

The real data sits in ``../shared`` beside the checkout (or wherever ``PROCROP_SHARED`` points).
Tests that need it are skipped locally when it is missing, but fail under CI (``CI=true``), where
it must be present.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def find_shared() -> Path | None:
    candidates = []
    if os.environ.get("PROCROP_SHARED"):
        candidates.append(Path(os.environ["PROCROP_SHARED"]))
    candidates += [ROOT.parent / "shared", Path("/work/shared")]
    for c in candidates:
        if (c / "data" / "photos" / "MANIFEST.csv").exists():
            return c
    return None


SHARED = find_shared()


@pytest.fixture(autouse=True)
def _torch_on_one_thread():
    """Every test starts with torch on one intra-op thread (a test or the code under test may set
    more; the next test starts again from one). The tests' networks are tiny: on two threads
    their training steps took 7.5x the CPU time and 6x the wall time of one thread on the shared
    2-core machine (20 steps of test_model's overfit run: 49.7 vs 6.6 CPU-s), the second thread
    spinning in torch's OpenMP waits. Subprocesses the tests start keep torch's own default."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    yield


def _need_shared() -> Path:
    if SHARED is None:
        message = "../shared (real photos and benchmark annotations) not found; set PROCROP_SHARED"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED


@pytest.fixture(scope="session")
def shared() -> Path:
    return _need_shared()


@pytest.fixture(scope="session")
def photos_dir(shared: Path) -> Path:
    return shared / "data" / "photos"


@pytest.fixture(scope="session")
def manifest(photos_dir: Path) -> list[dict[str, str]]:
    with open(photos_dir / "MANIFEST.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def photo_paths(photos_dir: Path, manifest: list[dict[str, str]]) -> list[Path]:
    return [photos_dir / row["file"] for row in manifest]


@pytest.fixture(scope="session")
def benchmarks_dir(shared: Path) -> Path:
    return shared / "data" / "benchmarks"


# One cropper of each common configuration for the whole run: a Cropper holds no per-image state
# (it is thread-safe and reusable), so sharing one is what users do; building one per test only
# reloads the same ONNX sessions and reference data. Tests that pass other options build their own.


@pytest.fixture(scope="session")
def default_cropper():
    """``Cropper()``: the preference default (``reference_db`` has no effect on it)."""
    from procrop import Cropper

    return Cropper()


@pytest.fixture(scope="session")
def learned_cropper():
    """``Cropper(scorer="learned")`` (its own bundle's references, as with ``reference_db=None``)."""
    from procrop import Cropper

    return Cropper(scorer="learned")


@pytest.fixture(scope="session")
def classic_cropper():
    """``Cropper(scorer="classic", reference_db=None)``: the hand-set terms, retrieval off."""
    from procrop import Cropper

    return Cropper(scorer="classic", reference_db=None)


@pytest.fixture(scope="session")
def face_photos(photo_paths: list[Path], classic_cropper) -> list[Path]:
    """Real photos in which the default detector finds at least one face (the default profile's
    YuNet, whatever the scorer: the faces do not depend on the learned backbone)."""
    found = []
    for p in photo_paths:
        if "kodak" in str(p) or "wikipedia" in str(p) or "smartcrop" in str(p):
            if classic_cropper.analyze(p).faces:
                found.append(p)
    return found


def asymmetric_rgb(w: int = 96, h: int = 64) -> np.ndarray:
    """A test image whose orientation can be recovered: a red block top-left, blue bottom-right,
    and a horizontal gradient."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 1] = np.linspace(0, 200, w, dtype=np.uint8)[None, :]
    img[: h // 4, : w // 4] = (255, 0, 0)
    img[-h // 4 :, -w // 3 :] = (0, 0, 255)
    return img


def tiny_clip_tokenizer(folder: Path):
    """A CLIP tokenizer over single letters (enough for tests), saved in ``folder``."""
    import json

    import transformers

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for i, c in enumerate("abcdefghijklmnopqrstuvwxyz"):
        vocab[c] = 2 + 2 * i
        vocab[c + "</w>"] = 3 + 2 * i
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)
    tokenizer.save_pretrained(folder)
    return tokenizer
