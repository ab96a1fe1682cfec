"""Teacher masks and backbone features for distilling the salient-object head (offline, cached).

The teacher is U²-Netp (``$PROCROP_SHARED/models/saliency/u2netp_float16.tflite``, Apache-2.0,
run with ``ai-edge-litert``): each photo squashed to 320 x 320, ImageNet-normalised, its fused
map min-max normalised, as U²-Net's own inference does. It runs once per photo (the full frame);
the augmented views (mirror, random crops, mirrored crops) take their target from the teacher's
full-frame mask, resampled into the view.

Per photo :func:`cache_photo` writes ``<work>/cache/<name>.npz`` (``c3``, ``c4``, ``c5`` float16
per view, ``target`` uint8 ``(views, 64, 64)``, the teacher's ``teacher`` uint8 ``(320, 320)``);
an existing file is kept, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from ...errors import UsageError
from ...imaging.load import load_image

#: Side of the teacher's input and mask.
TEACHER_SIDE = 320
#: Side of the cached targets (the head's 32 x 32 output is upsampled to it for the loss).
TARGET_SIDE = 64
#: Long side photos are loaded at (views are cut from this copy).
LOAD_SIDE = 640
_MEAN = np.asarray([0.485, 0.456, 0.406], np.float32)
_STD = np.asarray([0.229, 0.224, 0.225], np.float32)


def teacher_path() -> Path:
    """U²-Netp in the shared models folder (``PROCROP_SHARED``, default ``../shared``)."""
    return Path(os.environ.get("PROCROP_SHARED", "../shared")) / "models" / "saliency" / "u2netp_float16.tflite"


class Teacher:
    """U²-Netp's fused salient-object map of an RGB uint8 photo, ``(320, 320)`` float32 in [0, 1]
    over the photo squashed to a square.

    Raises:
        UsageError: one line when the model file or ``ai-edge-litert`` is missing.
    """

    def __init__(self, path: str | os.PathLike | None = None, threads: int = 1) -> None:
        self.path = Path(path) if path else teacher_path()
        if not self.path.is_file():
            raise UsageError(f"{self.path}: the U²-Netp teacher is missing (set PROCROP_SHARED)")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise UsageError("the U²-Netp teacher needs ai-edge-litert (pip install ai-edge-litert)") from None
        self.interpreter = Interpreter(str(self.path), num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = next(o["index"] for o in self.interpreter.get_output_details() if o["name"] == "Identity")

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        x = cv2.resize(rgb, (TEACHER_SIDE, TEACHER_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
        x = (x / max(float(x.max()), 1e-6) - _MEAN) / _STD
        self.interpreter.set_tensor(self.input, x[None])
        self.interpreter.invoke()
        d = self.interpreter.get_tensor(self.output)[0, :, :, 0].astype(np.float32)
        lo, hi = float(d.min()), float(d.max())
        return (d - lo) / (hi - lo) if hi - lo > 1e-6 else np.zeros_like(d)


def photo_key(name: str) -> str:
    """A file-name-safe, stable key of a photo's relative name."""
    stem = Path(name).stem.replace(" ", "_")[:40]
    return f"{stem}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def views(W: int, H: int, count: int, rng: np.random.Generator) -> list[tuple[int, int, int, int, bool]]:
    """``count`` augmented views of a ``W x H`` photo as ``(x, y, w, h, mirrored)``: the whole
    photo, its mirror, then random crops (55-100 % of each side), every other one mirrored."""
    out = [(0, 0, W, H, False), (0, 0, W, H, True)]
    while len(out) < count:
        w = int(W * rng.uniform(0.55, 1.0))
        h = int(H * rng.uniform(0.55, 1.0))
        x, y = int(rng.integers(0, W - w + 1)), int(rng.integers(0, H - h + 1))
        out.append((x, y, w, h, len(out) % 2 == 1))
    return out[:count]


def photometric(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``rgb`` (uint8) with a random change of light and colour, as another camera or grade would
    give it: exposure, contrast, saturation and gamma, sometimes grey or slightly soft."""
    x = rgb.astype(np.float32) / 255.0
    x = x * rng.uniform(0.7, 1.3)  # exposure
    mean = x.mean()
    x = (x - mean) * rng.uniform(0.7, 1.3) + mean  # contrast
    grey = x.mean(axis=2, keepdims=True)
    saturation = 0.0 if rng.random() < 0.1 else rng.uniform(0.6, 1.4)
    x = np.clip(grey + (x - grey) * saturation, 0.0, 1.0) ** rng.uniform(0.8, 1.25)  # gamma
    out = np.round(x * 255.0).astype(np.uint8)
    if rng.random() < 0.2:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    return out


def cache_photo(
    path: Path, name: str, out: Path, teacher: Teacher, backbone: Callable[[np.ndarray], Any],
    count: int, seed: int, recolour: bool = False,
) -> Path:
    """Teacher mask, views' backbone maps and targets of one photo into ``out`` (kept if present).

    ``recolour``: every view after the whole photo and its mirror also gets :func:`photometric`
    (the teacher's mask, from the untouched photo, stays its target)."""
    if out.exists():
        return out
    rgb = load_image(path, LOAD_SIDE).pixels
    H, W = rgb.shape[:2]
    mask = teacher(rgb)
    full = cv2.resize(mask, (W, H), interpolation=cv2.INTER_LINEAR)
    rng = np.random.default_rng(seed)
    c3, c4, c5, target = [], [], [], []
    for k, (x, y, w, h, mirrored) in enumerate(views(W, H, count, rng)):
        crop, m = rgb[y:y + h, x:x + w], full[y:y + h, x:x + w]
        if mirrored:
            crop, m = crop[:, ::-1], m[:, ::-1]
        if recolour and k >= 2:
            crop = photometric(np.ascontiguousarray(crop), rng)
        maps = backbone(np.ascontiguousarray(crop))
        c3.append(maps.c3[0].astype(np.float16))
        c4.append(maps.c4[0].astype(np.float16))
        c5.append(maps.c5[0].astype(np.float16))
        t = cv2.resize(np.ascontiguousarray(m), (TARGET_SIDE, TARGET_SIDE), interpolation=cv2.INTER_AREA)
        target.append(np.round(t * 255).astype(np.uint8))
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, c3=np.stack(c3), c4=np.stack(c4), c5=np.stack(c5), target=np.stack(target),
             teacher=np.round(mask * 255).astype(np.uint8))
    os.replace(tmp, out)
    return out


def load_cache(files: list[Path]) -> dict[str, np.ndarray]:
    """The cached views of ``files`` stacked: ``c3``, ``c4``, ``c5`` float16, ``target`` uint8."""
    parts: dict[str, list[np.ndarray]] = {"c3": [], "c4": [], "c5": [], "target": []}
    for f in files:
        with np.load(f) as z:
            for k in parts:
                parts[k].append(z[k])
    return {k: np.concatenate(v) for k, v in parts.items()}
