"""Readers for the cropping benchmarks, all returning :class:`~procrop.data.records.CropDataset`.

Formats (boxes are converted to ``x, y, w, h`` pixels):

* **GAICD v1** (``imdb_GAIC1000.mat``, MATLAB struct ``imdb``): ``meta.img_path`` (1,236 paths),
  ``images.set`` codes 1 = train (1,000), 3 = val (36), 2 = test (200), ``bbox.boxes`` 4xN uint16
  rows ``y1, x1, y2, x2``, ``bbox.gt_scores`` 1xN MOS. Images are looked up by file name in the
  data folder, ``images/``, ``images/<train|test>/``.
* **GAICD v2**: ``annotations/<split>/<id>.txt`` with lines ``y1 x1 y2 x2 MOS`` (a MOS of -2 marks
  an invalid crop and is dropped) and ``images/<split>/<id>.jpg``.
* **FCDB**: ``cropping_training_set.json`` / ``cropping_testing_set.json``, lists of
  ``{"url", "flickr_photo_id", "crop": [x, y, w, h]}``; the image is the URL's file name, in the
  data folder or ``images/``.
* **FLMS**: the original ``500_image_dataset.mat`` (struct array ``img_gt`` with a file name and up
  to 10 expert boxes, 1-indexed inclusive ``[h_min w_min h_max w_max]``, rows of -1 missing), or
  the human-centric ``image_crop.json`` layout (``{name: [[x1, y1, x2, y2], ...]}``, 0-indexed).
* **CPC**: ``CollectedAnnotationsRaw/<image>.txt``, a JSON object (sometimes JSON-encoded twice)
  with ``bboxes`` (24 views ``x1, y1, x2, y2``) and ``scores`` (one list of per-view votes per
  annotator); a view's score is the **mean** of its annotators' votes, as ProCrop's CPC loader
  computes it (its ``good_thresh = 2.0`` applies to that mean; the per-annotator votes stay in
  ``extra["votes"]``). Split subfolders (``train``/``val``) are honoured when present.
* **ProCrop weak-label set** (as published, and as ``procrop dataset generate`` writes it):
  ``images/<id>.jpg`` and ``annotations/<id>.txt``, one crop per line ``y1 x1 y2 x2 [score]``
  (pixels, row-first like GAICD v2); a line without a score is the pseudo-label (score 5), a score
  of -2 marks an ignored line. Optional split subfolders. A score token that is not a number is
  read, as ProCrop's loader does, from its first 5 characters (``4.5231]`` -> 4.523).
* **SACD** (subject-aware cropping, as ProCrop's loader reads it): ``images/<id>.jpg`` and
  ``annotations/<id>.txt``, one box per line, 4 numbers (score 5) or 5; row-first ``y1 x1 y2 x2``
  as the released loader parses every set (``order="xy"`` for files written ``x1 y1 x2 y2``, the
  variant left commented out in that loader). Optional split subfolders.

Malformed files raise :class:`~procrop.data.records.DatasetError` naming the file (and line);
annotated images missing on disk are kept with ``image=None`` and listed in ``dataset.missing``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import require
from .records import (
    PSEUDO_LABEL_SCORE,
    CropDataset,
    CropSample,
    DatasetError,
    check_boxes,
    find_image,
    xyxy_rows,
    yxyx_rows,
)


def _loadmat(path: Path) -> dict[str, Any]:
    sio = require("scipy.io", "reading MATLAB annotation files", "eval", "scipy")
    try:
        return sio.loadmat(str(path))
    except Exception as exc:  # scipy raises several error types for bad files
        raise DatasetError(f"{path}: cannot read MATLAB file: {exc}") from exc


def _finish(name: str, samples: list[CropSample], root: Path, kind: str) -> CropDataset:
    missing = [s.id for s in samples if s.image is None]
    return CropDataset(name, samples, missing, root, kind)


# --------------------------------------------------------------------------------------------
# GAICD
# --------------------------------------------------------------------------------------------


def read_gaicd_v1(data: str | os.PathLike, images: str | os.PathLike | None = None) -> CropDataset:
    """GAICD v1 from ``imdb_GAIC1000.mat`` (``data`` is the file or its folder)."""
    data = Path(data)
    mat_path = data if data.suffix == ".mat" else data / "imdb_GAIC1000.mat"
    if not mat_path.exists():
        raise DatasetError(f"{mat_path}: GAICD v1 annotation file not found")
    root = Path(images) if images else mat_path.parent
    try:
        imdb = _loadmat(mat_path)["imdb"][0, 0]
        paths = [str(np.ravel(p)[0]) for p in imdb["meta"][0, 0]["img_path"][0]]
        codes = np.ravel(imdb["images"][0, 0]["set"]).astype(int)
        boxes = imdb["bbox"][0, 0]["boxes"][0]
        scores = imdb["bbox"][0, 0]["gt_scores"][0]
    except (KeyError, IndexError, ValueError) as exc:
        raise DatasetError(f"{mat_path}: not the GAICD v1 imdb struct ({exc})") from exc
    if not (len(paths) == len(codes) == len(boxes) == len(scores)):
        raise DatasetError(f"{mat_path}: field lengths differ ({len(paths)}, {len(codes)}, {len(boxes)}, {len(scores)})")
    split_name = {1: "train", 2: "test", 3: "val"}
    samples = []
    for i, (p, code, b, s) in enumerate(zip(paths, codes, boxes, scores)):
        name = Path(p).name
        folder = Path(p).parent.name  # train / test
        b = np.asarray(b, dtype=np.float64)
        s = np.asarray(s, dtype=np.float64).reshape(-1)
        if b.ndim != 2 or b.shape[0] != 4 or b.shape[1] != len(s):
            raise DatasetError(f"{mat_path}: image {i + 1} ({name}): boxes {b.shape} do not match {len(s)} scores")
        xywh = check_boxes(yxyx_rows(b.T), f"{mat_path}: image {i + 1} ({name})")
        image = find_image(name, [root, root / "images", root / "images" / folder, root / folder])
        samples.append(CropSample(Path(name).stem, image, xywh, s, split_name.get(int(code), "train")))
    return _finish("gaicd-v1", samples, root, "candidates")


def read_gaicd_v2(data: str | os.PathLike) -> CropDataset:
    """GAICD v2: ``annotations/<split>/*.txt`` (``y1 x1 y2 x2 MOS``) and ``images/<split>/*``."""
    root = Path(data)
    ann_root = root / "annotations"
    if not ann_root.is_dir():
        raise DatasetError(f"{root}: no annotations/ folder (GAICD v2 layout)")
    samples = []
    for split_dir in sorted(p for p in ann_root.iterdir() if p.is_dir()) or [ann_root]:
        split = split_dir.name if split_dir != ann_root else "all"
        for txt in sorted(split_dir.glob("*.txt")):
            boxes, scores = read_row_first_txt(txt, default_score=None)
            keep = scores != -2
            if not keep.any():
                raise DatasetError(f"{txt}: no valid crop (every MOS is -2)")
            image = find_image(txt.stem, [root / "images" / split, root / "images"])
            samples.append(CropSample(txt.stem, image, boxes[keep], scores[keep], split))
    if not samples:
        raise DatasetError(f"{ann_root}: no annotation files")
    return _finish("gaicd-v2", samples, root, "candidates")


def _parse_values(parts: list[str], where: str, lenient_score: bool) -> list[float]:
    """The numbers of one annotation line. With ``lenient_score`` a 5th token that is not a number
    is read from its first 5 characters, as ProCrop's loader does (``4.5231]`` -> 4.523)."""
    values: list[float] = []
    for i, token in enumerate(parts):
        try:
            values.append(float(token))
        except ValueError:
            if not (lenient_score and i == 4):
                raise DatasetError(f"{where}: expected numbers, got {' '.join(parts)!r}") from None
            try:
                values.append(float(token[:5]))
            except ValueError:
                raise DatasetError(f"{where}: unreadable score {token!r}") from None
    return values


def read_row_first_txt(path: Path, default_score: float | None, order: str = "yx",
                       lenient_score: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Lines ``y1 x1 y2 x2 [score]`` (``order="xy"``: ``x1 y1 x2 y2 [score]``) -> ``(xywh, scores)``;
    names the file and line on errors. ``lenient_score``: see :func:`_parse_values`."""
    if order not in ("yx", "xy"):
        raise ValueError(f"order must be 'yx' or 'xy', not {order!r}")
    rows = []
    scores = []
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from exc
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        values = _parse_values(parts, f"{path}:{lineno}", lenient_score)
        if len(values) == 4 and default_score is not None:
            values.append(default_score)
        if len(values) != 5:
            raise DatasetError(f"{path}:{lineno}: expected 'y1 x1 y2 x2 score', got {len(values)} values")
        a1, b1, a2, b2, score = values
        y1, x1, y2, x2 = (a1, b1, a2, b2) if order == "yx" else (b1, a1, b2, a2)
        if score != -2 and (x2 <= x1 or y2 <= y1):
            raise DatasetError(f"{path}:{lineno}: empty box {values[:4]}")
        rows.append((x1, y1, x2 - x1, y2 - y1))
        scores.append(score)
    if not rows:
        raise DatasetError(f"{path}: no crops")
    return np.asarray(rows, dtype=np.float64), np.asarray(scores, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# FCDB
# --------------------------------------------------------------------------------------------


def read_fcdb(data: str | os.PathLike, images: str | os.PathLike | None = None) -> CropDataset:
    """FCDB from ``cropping_training_set.json`` and ``cropping_testing_set.json``."""
    root = Path(data)
    img_root = Path(images) if images else root
    files = {"train": root / "cropping_training_set.json", "test": root / "cropping_testing_set.json"}
    if not any(p.exists() for p in files.values()):
        raise DatasetError(f"{root}: no cropping_training_set.json / cropping_testing_set.json (FCDB)")
    samples = []
    for split, path in files.items():
        if not path.exists():
            continue
        entries = _load_json(path)
        if not isinstance(entries, list):
            raise DatasetError(f"{path}: expected a JSON list of {{url, crop}} objects")
        for i, e in enumerate(entries):
            try:
                url = str(e["url"])
                crop = [float(v) for v in e["crop"]]
            except (KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"{path}: entry {i}: missing or bad field ({exc})") from None
            if len(crop) != 4:
                raise DatasetError(f"{path}: entry {i}: crop must be [x, y, w, h]")
            name = url.rsplit("/", 1)[-1]
            box = check_boxes(np.asarray([crop]), f"{path}: entry {i} ({name})")
            image = find_image(name, [img_root, img_root / "images", img_root / "data"])
            samples.append(
                CropSample(Path(name).stem, image, box, None, split, extra={"url": url, "flickr_photo_id": e.get("flickr_photo_id")})
            )
    return _finish("fcdb", samples, root, "boxes")


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc


# --------------------------------------------------------------------------------------------
# FLMS
# --------------------------------------------------------------------------------------------


def read_flms(data: str | os.PathLike, images: str | os.PathLike | None = None) -> CropDataset:
    """FLMS from ``500_image_dataset.mat`` or the human-centric ``image_crop.json``."""
    root = Path(data)
    img_root = Path(images) if images else root
    roots = [img_root, img_root / "image", img_root / "images"]
    mat = root if root.suffix == ".mat" else root / "500_image_dataset.mat"
    js = root if root.suffix == ".json" else root / "image_crop.json"
    samples = []
    if mat.exists():
        try:
            img_gt = np.ravel(_loadmat(mat)["img_gt"])
        except KeyError as exc:
            raise DatasetError(f"{mat}: no img_gt struct array") from exc
        for i, entry in enumerate(img_gt):
            try:
                name = str(np.ravel(entry[0])[0])
                raw = np.asarray(entry[1], dtype=np.float64).reshape(-1, 4)
            except (IndexError, ValueError, TypeError) as exc:
                raise DatasetError(f"{mat}: img_gt({i + 1}) is not (filename, boxes): {exc}") from exc
            raw = raw[(raw >= 0).all(axis=1)]  # rows of -1 are missing experts
            # 1-indexed inclusive [h_min w_min h_max w_max] -> 0-indexed exclusive x1, y1, x2, y2
            corners = np.stack([raw[:, 1] - 1, raw[:, 0] - 1, raw[:, 3], raw[:, 2]], axis=1)
            xywh = xyxy_rows(corners, order_corners=True)
            xywh = check_boxes(xywh, f"{mat}: img_gt({i + 1}) ({name})")
            samples.append(CropSample(Path(name).stem, find_image(name, roots), xywh, None, "test", extra={"file": name}))
    elif js.exists():
        data_json = _load_json(js)
        if not isinstance(data_json, dict):
            raise DatasetError(f"{js}: expected {{image name: [[x1, y1, x2, y2], ...]}}")
        for name, boxes in data_json.items():
            try:
                xywh = xyxy_rows(np.asarray(boxes, dtype=np.float64), order_corners=True)
            except ValueError as exc:
                raise DatasetError(f"{js}: {name}: boxes must be [x1, y1, x2, y2] lists ({exc})") from None
            xywh = check_boxes(xywh, f"{js}: {name}")
            samples.append(CropSample(Path(name).stem, find_image(name, roots), xywh, None, "test", extra={"file": name}))
    else:
        raise DatasetError(f"{root}: neither 500_image_dataset.mat nor image_crop.json (FLMS)")
    return _finish("flms", samples, root, "boxes")


# --------------------------------------------------------------------------------------------
# CPC
# --------------------------------------------------------------------------------------------


def read_cpc(data: str | os.PathLike) -> CropDataset:
    """CPC from ``CollectedAnnotationsRaw/`` (plus ``images/``)."""
    root = Path(data)
    ann_root = root / "CollectedAnnotationsRaw"
    if not ann_root.is_dir():
        raise DatasetError(f"{root}: no CollectedAnnotationsRaw/ folder (CPC)")
    split_dirs = [p for p in sorted(ann_root.iterdir()) if p.is_dir()]
    samples = []
    for folder in split_dirs or [ann_root]:
        split = folder.name if folder != ann_root and folder.name in ("train", "val", "test") else "all"
        for txt in sorted(folder.glob("*.txt")):
            obj = _load_json(txt)
            if isinstance(obj, str):  # some copies encode the object twice
                try:
                    obj = json.loads(obj)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{txt}: invalid doubly-encoded JSON: {exc.msg}") from exc
            try:
                boxes = np.asarray(obj["bboxes"], dtype=np.float64)
                votes = np.asarray(obj["scores"], dtype=np.float64)
            except (KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"{txt}: expected {{bboxes, scores}} ({exc})") from None
            if votes.ndim == 1:
                votes = votes[None]
            if boxes.ndim != 2 or boxes.shape[1] != 4 or votes.shape[1] != len(boxes):
                raise DatasetError(f"{txt}: {boxes.shape} boxes but votes of shape {votes.shape}")
            name = txt.name[:-4]  # <image>.jpg.txt -> <image>.jpg
            xywh = check_boxes(xyxy_rows(boxes), str(txt))
            image = find_image(name, [root / "images" / folder.name, root / "images", root / "images" / "all_images"])
            samples.append(
                CropSample(Path(name).stem, image, xywh, votes.mean(axis=0), split, extra={"votes": votes.tolist(), "file": name})
            )
    if not samples:
        raise DatasetError(f"{ann_root}: no annotation files")
    return _finish("cpc", samples, root, "candidates")


# --------------------------------------------------------------------------------------------
# ProCrop weak-label set
# --------------------------------------------------------------------------------------------

def read_weak(data: str | os.PathLike) -> CropDataset:
    """A ProCrop-style weak-label set: ``images/`` + ``annotations/*.txt`` (see the module doc).

    The first line of each file is the pseudo-label (the photographer's original frame). With a
    ``manifest.jsonl`` (a set ``procrop dataset generate`` made) only the items it lists are read:
    a stopped generation's uncommitted files are not (``dataset info`` counts the same items).
    """
    root = Path(data)
    ann_root = root / "annotations"
    if not ann_root.is_dir():
        raise DatasetError(f"{root}: no annotations/ folder (weak-label layout)")
    manifest = _weak_manifest(root)
    samples = []
    for folder in sorted(p for p in ann_root.iterdir() if p.is_dir()) or [ann_root]:
        split = folder.name if folder != ann_root else "all"
        for txt in sorted(folder.glob("*.txt")):
            if manifest and txt.stem not in manifest:  # written by a stopped generation, not committed
                continue
            boxes, scores = read_row_first_txt(txt, default_score=PSEUDO_LABEL_SCORE, lenient_score=True)
            keep = scores != -2
            image = find_image(txt.stem, [root / "images" / folder.name, root / "images"])
            extra = dict(manifest.get(txt.stem, {}))
            samples.append(CropSample(txt.stem, image, boxes[keep], scores[keep], split,
                                      width=extra.get("width"), height=extra.get("height"), extra=extra))
    if not samples:
        raise DatasetError(f"{ann_root}: no annotation files")
    return _finish("weak", samples, root, "boxes")


def _weak_manifest(root: Path) -> dict[str, dict[str, Any]]:
    path = root / "manifest.jsonl"
    out: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return out
    for lineno, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from exc
        if "id" in row:
            out[str(row["id"])] = row
    return out


# --------------------------------------------------------------------------------------------
# SACD
# --------------------------------------------------------------------------------------------


def read_sacd(data: str | os.PathLike, order: str = "yx") -> CropDataset:
    """SACD as ProCrop's loader reads it: ``annotations/<id>.txt`` + ``images/<id>.jpg`` (see the
    module doc). Every line is a ground-truth box; ``order`` is the coordinate order of the lines."""
    root = Path(data)
    ann_root = root / "annotations"
    if not ann_root.is_dir():
        raise DatasetError(f"{root}: no annotations/ folder (SACD layout)")
    samples = []
    for folder in sorted(p for p in ann_root.iterdir() if p.is_dir()) or [ann_root]:
        split = folder.name if folder != ann_root else "all"
        for txt in sorted(folder.glob("*.txt")):
            boxes, scores = read_row_first_txt(txt, default_score=PSEUDO_LABEL_SCORE, order=order, lenient_score=True)
            keep = scores != -2
            if not keep.any():
                raise DatasetError(f"{txt}: no valid box")
            image = find_image(txt.stem, [root / "images" / folder.name, root / "images"])
            samples.append(CropSample(txt.stem, image, boxes[keep], scores[keep], split))
    if not samples:
        raise DatasetError(f"{ann_root}: no annotation files")
    return _finish("sacd", samples, root, "boxes")


READERS = {
    "gaicd-v1": read_gaicd_v1,
    "gaicd-v2": read_gaicd_v2,
    "fcdb": read_fcdb,
    "flms": read_flms,
    "cpc": read_cpc,
    "weak": read_weak,
    "sacd": read_sacd,
}


def read_benchmark(name: str, data: str | os.PathLike, split: str | None = None) -> CropDataset:
    """Read a benchmark by name (see :data:`READERS`) and keep one split (``None``: all)."""
    try:
        reader = READERS[name]
    except KeyError:
        from ..errors import UsageError

        raise UsageError(f"unknown benchmark {name!r}; choose from {', '.join(READERS)}") from None
    return reader(data).split(split)
