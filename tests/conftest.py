"""Shared fixtures: where the real photos and benchmark annotations live, and synthetic images.

The real data sits in ``../shared`` beside the checkout (or wherever ``PROCROP_SHARED`` points).
Tests that need it are skipped locally when it is missing, but fail under CI (``CI=true``), where
it must be present.
"""

from __future__ import annotations

import csv
import os
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


@pytest.fixture(scope="session")
def face_photos(photo_paths: list[Path]) -> list[Path]:
    """Real photos in which the default detector finds at least one face."""
    from procrop import Cropper

    cropper = Cropper(reference_db=None)
    found = []
    for p in photo_paths:
        if "kodak" in str(p) or "wikipedia" in str(p) or "smartcrop" in str(p):
            if cropper.analyze(p).faces:
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
