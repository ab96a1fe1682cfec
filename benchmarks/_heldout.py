"""Shared by the benchmark scripts: the held-out split of the photo pool and mirrored padding."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

DEFAULT_PHOTOS = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "photos")


def split_pool(photos: str, limit: int = 0) -> tuple[list[str], list[str]]:
    """Every 5th photo (sorted) is held out; the rest build the reference database."""
    files = sorted(str(p) for p in Path(photos).rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    held = [f for i, f in enumerate(files) if i % 5 == 0]
    train = [f for i, f in enumerate(files) if i % 5]
    return (held[:limit] if limit else held), train


def heldout_split(photos: str, limit: int = 0) -> tuple[list[str], list[str]]:
    """The held-out and training photos of ``benchmarks/split.json`` (whole sources on each side)."""
    import json

    split = json.loads((Path(__file__).resolve().parent / "split.json").read_text(encoding="utf-8"))
    held = [str(Path(photos) / f) for f in split["heldout"]]
    return (held[:limit] if limit else held), [str(Path(photos) / f) for f in split["train"]]


def build_train_db(train: list[str], workers: int) -> Path:
    from procrop.retrieval import build_database

    db = Path(tempfile.mkdtemp()) / "train_db"
    build_database(train, db, encoder="layout", workers=workers, composition=False)
    return db


def pad_with_mirror(photo: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The photo with 8-30 % of mirrored context on each side, and its frame ``x, y, w, h``."""
    h, w = photo.shape[:2]
    left, right = (rng.uniform(0.08, 0.3, 2) * w).astype(int)
    top, bottom = (rng.uniform(0.08, 0.3, 2) * h).astype(int)
    canvas = cv2.copyMakeBorder(photo, top, bottom, left, right, cv2.BORDER_REFLECT_101)
    return canvas, np.array([left, top, w, h])
