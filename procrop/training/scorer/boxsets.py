"""Box sets: the learned scorer's training data, made from professional photos and cached as features.

``procrop learned boxsets PHOTOS... --out DIR`` (:func:`build_boxsets`) shrinks every photo into
``canvases`` wider canvases (the photographer's frame is the answer), each drawn with:

* a fill from :data:`~procrop.weaklabels.outpaint.TRAINING_FILLS` (cycled by canvas index; index 0,
  the photo alone, takes the place of one ``classical`` canvas, so with 12 canvases ``classical`` is
  used twice and the others three times; the recovery benchmark's fills are none of them);
* a canvas ratio among :data:`~procrop.weaklabels.canvas.CANVAS_RATIOS` and a coverage of 30-95 %
  of the canvas; one canvas in :data:`SELF_EVERY` is the photo alone (coverage 1): there the frame
  must beat tighter, shifted and zoomed crops of itself (the self-supervised pairs);
* geometric augmentation (mirror, a random working size) before the fill and photometric
  augmentation (brightness, contrast, gamma, saturation, JPEG quality, noise) of the whole canvas
  after it, so no step at the frame's edge comes from the augmentation.

Each canvas is loaded exactly as :class:`~procrop.cropper.Cropper` loads a photo
(:class:`~procrop.perception.analyzer.Analyzer`), described in words (the text input), and passed
through the frozen MobileNetV2 (:data:`~procrop.retrieval.encoders.mobilenet.INPUT_SIDE` square): its ``c3``,
``c4`` and ``c5`` maps are stored in float16 with the frame (normalised ``x1, y1, x2, y2``), so
training never runs the backbone. The label is the frame itself, exactly: never enlarged.

Shards of :data:`PHOTOS_PER_SHARD` photos are written atomically; a rerun skips finished shards
(resume after a kill).
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ProcropError, UsageError
from ...executor import describe_error, make_executor
from ...files import atomic_write_bytes
from ...weaklabels.canvas import CANVAS_RATIOS, CanvasSpec, sample_canvas
from ...weaklabels.outpaint import TRAINING_FILLS, create_outpainter

PHOTOS_PER_SHARD = 8
SELF_EVERY = 12  # canvas index 0 of every 12 is the photo alone


class BoxSetError(ProcropError, FileNotFoundError):
    """A box-set folder holds no shards."""


@dataclass(frozen=True)
class BoxSetOptions:
    """How box sets are drawn (see the module docstring)."""

    canvases: int = 12
    fills: tuple[str, ...] = TRAINING_FILLS
    coverage: tuple[float, float] = (0.3, 0.95)
    photo_side: tuple[int, int] = (360, 640)
    seed: int = 0
    backbone: str = "pretrained"  # or "random": the no-pretraining ablation


def photometric(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random brightness, contrast, gamma, saturation, noise and JPEG re-encoding of a canvas."""
    import cv2
    from PIL import Image

    x = canvas.astype(np.float32) / 255.0
    x = x ** float(np.exp(rng.normal(0, 0.15)))
    mean = x.mean()
    x = (x - mean) * float(rng.uniform(0.8, 1.2)) + mean * float(rng.uniform(0.85, 1.15))
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * float(rng.uniform(0.7, 1.3))
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(0.005, 0.02), x.shape).astype(np.float32)
    out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.4, 1.0)))
    if rng.random() < 0.6:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=int(rng.integers(55, 96)))
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out


def draw_canvas(photo: np.ndarray, index: int, fill: str, rng: np.random.Generator, pool: list[np.ndarray],
                options: BoxSetOptions) -> tuple[np.ndarray, CanvasSpec]:
    """One augmented canvas of ``photo`` (RGB uint8) and where the photo sits in it."""
    import cv2

    side = int(rng.integers(*options.photo_side))
    h, w = photo.shape[:2]
    k = side / max(h, w)
    img = cv2.resize(photo, (max(8, round(w * k)), max(8, round(h * k))), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        img = np.ascontiguousarray(img[:, ::-1])
    h, w = img.shape[:2]
    if index % SELF_EVERY == 0:
        spec = CanvasSpec(w, h, (0, 0, w, h))
        canvas = img
    else:
        spec = sample_canvas(w, h, rng, options.coverage, CANVAS_RATIOS)
        kwargs = {"pool": pool} if fill == "foreign" else {}
        canvas = create_outpainter(fill, **kwargs).fill(img, spec, rng)
    return photometric(canvas, rng), spec


class _Worker:
    """Per-process state: the analyser and the frozen backbone (one torch thread)."""

    def __init__(self, options: BoxSetOptions) -> None:
        import torch

        from ...model.scorer.boxnet import frozen_backbone
        from ...perception.analyzer import Analyzer

        torch.set_num_threads(1)
        self.analyzer = Analyzer()
        self.backbone = frozen_backbone(options.backbone)
        self.options = options

    def features(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        from ...model.scorer.boxnet import backbone_input

        with torch.inference_mode():
            maps = self.backbone(torch.from_numpy(backbone_input(pixels)[None]))
        return {k: v[0].numpy().astype(np.float16) for k, v in maps.items()}


_WORKER: _Worker | None = None


def _photo_rng(options: BoxSetOptions, name: str) -> np.random.Generator:
    key = int.from_bytes(name.encode("utf-8")[-16:].rjust(16, b"\0"), "little") % (2**63)
    return np.random.default_rng([options.seed, key])


def photo_records(path: str, name: str, pool_paths: Sequence[str], options: BoxSetOptions) -> list[dict[str, Any]]:
    """The ``options.canvases`` records of one photo (features, frame, description, fill)."""
    global _WORKER
    from ...imaging.load import load_image
    from ...perception.describe import describe

    if _WORKER is None or _WORKER.options.backbone != options.backbone:
        _WORKER = _Worker(options)
    rng = _photo_rng(options, name)
    photo = load_image(path, max_side=max(options.photo_side)).pixels
    others = [p for p in pool_paths if p != path]
    pool = [load_image(str(others[int(i)]), max_side=320).pixels
            for i in rng.choice(len(others), size=min(2, len(others)), replace=False)] if others else []
    out = []
    for i in range(options.canvases):
        fill = options.fills[i % len(options.fills)]
        canvas, spec = draw_canvas(photo, i, fill, rng, pool, options)
        loaded = _WORKER.analyzer.load(canvas)
        text = describe(_WORKER.analyzer.analyze(loaded))
        x, y, w, h = spec.frame
        frame = np.array([x / spec.width, y / spec.height, (x + w) / spec.width, (y + h) / spec.height], np.float32)
        out.append({"photo": name, "fill": "none" if i % SELF_EVERY == 0 else fill, "frame": frame,
                    "canvas": (spec.width, spec.height), "text": text,
                    **_WORKER.features(loaded.detection_pixels)})
    return out


def _shard_job(args: tuple[list[tuple[str, str]], list[str], BoxSetOptions, str]) -> str:
    """Write one shard; a failure is a :class:`ProcropError` that names the photo."""
    items, pool, options, target = args
    records = []
    for path, name in items:
        try:
            records.extend(photo_records(path, name, pool, options))
        except ProcropError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported with the photo's name
            raise ProcropError(f"{path}: {describe_error(exc)}") from exc
    write_shard(Path(target), records)
    return target


def write_shard(path: Path, records: list[dict[str, Any]]) -> None:
    """Records -> one ``.npz`` (maps stacked) written atomically."""
    arrays: dict[str, np.ndarray] = {k: np.stack([r[k] for r in records]) for k in ("c3", "c4", "c5", "frame")}
    arrays["canvas"] = np.array([r["canvas"] for r in records], np.int32)
    meta = [{"photo": r["photo"], "fill": r["fill"], "text": r["text"]} for r in records]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _check_photos(photos: Sequence[str]) -> None:
    """Raise :class:`UsageError` naming the first photo that does not exist or is no image."""
    from PIL import Image, UnidentifiedImageError

    for p in photos:
        if not os.path.isfile(p):
            what = "a folder: give the photos (files, or a glob)" if os.path.isdir(p) else "no such file"
            raise UsageError(f"{p}: {what}")
        try:
            with Image.open(p):
                pass
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise UsageError(f"{p}: not a readable image ({exc.__class__.__name__})") from None


def build_boxsets(photos: Sequence[str], out: str | os.PathLike, options: BoxSetOptions | None = None,
                  root: str | None = None, workers: int = 1, progress: bool = True) -> list[Path]:
    """Write the box sets of ``photos`` under ``out`` (resumable); returns the shard paths.

    ``root``: photo names are stored relative to it (so retrieval can exclude a photo's own entry)."""
    options = options or BoxSetOptions()
    out = Path(out)
    _check_photos(photos)  # a missing or unreadable photo stops the build before anything is written
    out.mkdir(parents=True, exist_ok=True)
    stored, wanted = out / "options.json", json.loads(json.dumps(asdict(options)))
    if stored.exists() and json.loads(stored.read_text(encoding="utf-8")) != wanted:
        raise UsageError(f"{out}: made with other options ({stored}); use a new folder or the same options")
    stored.write_text(json.dumps(wanted, indent=1) + "\n", encoding="utf-8")
    named = [(p, os.path.relpath(p, root) if root else Path(p).name) for p in sorted(photos)]
    jobs = []
    for start in range(0, len(named), PHOTOS_PER_SHARD):
        target = out / f"shard-{start // PHOTOS_PER_SHARD:04d}.npz"
        if not target.exists():
            jobs.append((named[start:start + PHOTOS_PER_SHARD], list(photos), options, str(target)))
    done = len(range(0, len(named), PHOTOS_PER_SHARD)) - len(jobs)
    total = done + len(jobs)
    if progress and done:
        print(f"box sets: {done}/{total} shards already written", file=sys.stderr, flush=True)
    if workers > 1 and jobs:
        failed = None
        with make_executor(workers) as pool:  # a worker's error comes back as a message; a watchdog
            for outcome in pool.run(_shard_job, jobs):
                if not outcome.ok:
                    failed = outcome.error
                    break  # the shards being written are finished (kept for the rerun), no more start
                done += 1
                if progress:
                    print(f"box sets: {done}/{total} shards ({Path(str(outcome.value)).name})",
                          file=sys.stderr, flush=True)
        if failed is not None:
            raise ProcropError(f"box sets stopped: {failed}")
    else:
        for job in jobs:
            _shard_job(job)
            done += 1
            if progress:
                print(f"box sets: {done}/{total} shards", file=sys.stderr, flush=True)
    return sorted(out.glob("shard-*.npz"))


def read_boxsets(folder: str | os.PathLike) -> dict[str, Any]:
    """Every shard of a box-set folder concatenated: ``c3, c4, c5, frame, canvas`` arrays and
    ``meta`` (a list of dicts: photo, fill, text)."""
    shards = sorted(Path(folder).glob("shard-*.npz"))
    if not shards:
        raise BoxSetError(f"{folder}: no box-set shards (make them with `procrop learned boxsets`)")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("c3", "c4", "c5", "frame", "canvas")}
    meta: list[dict[str, Any]] = []
    for s in shards:
        with np.load(s) as z:
            for k in parts:
                parts[k].append(z[k])
            meta.extend(json.loads(z["meta"].tobytes().decode("utf-8")))
    data: dict[str, Any] = {k: np.concatenate(v) for k, v in parts.items()}
    data["meta"] = meta
    return data
