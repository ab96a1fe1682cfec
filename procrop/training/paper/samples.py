"""The *training set*: data-set samples prepared as network inputs (augmentation, targets and
box-scoring candidates for one image), and their collation into batches.

Owns :class:`TrainingSet`, :func:`select_good` (the target boxes of a sample), :func:`collate`, and
:func:`load_training_samples` / :func:`data_fingerprint` (which samples a run trains on).
With annotation paths (weak labels refined online), a sample's boxes are re-read whenever its
file changed since it was last read (the trainer's refinement, or another process's), so the next
step trains on the refined labels.
The annotation files are read by :mod:`procrop.data` (the readers); weak-label sets are written by
:mod:`procrop.weaklabels.driver` (the generator driver).

Every random choice of a sample comes from a generator seeded by ``(seed, epoch, index)``, so an
epoch is the same whatever the number of workers, and a resumed run sees exactly the samples the
interrupted one would have.

Augmentation (ProCrop): a random crop that keeps the first/best box and cuts at most 20 % of each
margin, SSD-style photometric distortion (brightness +-32, contrast and saturation x[0.5, 1.5], hue
+-18, each with probability 0.5), and a random short side from ``train_short``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ...data.records import PSEUDO_LABEL_SCORE, CropSample
from ...errors import UsageError
from ...geometry import iou_matrix, select_diverse, xyxy_to_xywh
from ...imaging.load import load_image
from ...model.paper.box_ops import cxcywh_to_xyxy
from ...model.paper.config import Config
from ...model.paper.inputs import normalise, resize_short
from ...model.paper.losses import Target


@dataclass
class Item:
    """One prepared training image."""

    image: np.ndarray  # (3, h, w) normalised
    target: Target
    candidates: np.ndarray  # (M, 4) normalised x1, y1, x2, y2 for the box-scoring head
    candidate_mos: np.ndarray  # (M,)
    refs: np.ndarray
    ref_missing: np.ndarray
    text_ids: np.ndarray
    # mapping back to the original image (online refinement): original = crop_xy + norm * crop_wh
    crop: tuple[float, float, float, float]
    original_size: tuple[int, int]
    index: int


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index]))


def select_good(boxes: np.ndarray, scores: np.ndarray, cfg: Config) -> np.ndarray:
    """Indices of the target ("good") boxes: ties at the top score (``good_num = -1``) or the
    ``good_num`` best, at least ``good_thresh``, de-duplicated by NMS at ``good_nms``."""
    t = cfg.train
    order = np.argsort(-scores, kind="mergesort")
    if t.good_num == -1:
        order = order[scores[order] == scores[order[0]]]
    elif t.good_num > 0:
        order = order[: t.good_num]
    order = order[scores[order] >= t.good_thresh] if t.good_thresh else order
    if len(order) == 0:  # none good enough: every box tied at the top score, as the official code
        order = np.argsort(-scores, kind="mergesort")
        order = order[scores[order] == scores[order[0]]]
    if t.good_nms > 0 and len(order) > 1:
        # greedy NMS in ``order`` (already best first, ties by index, as select_diverse ranks);
        # a box survives at IoU <= good_nms, select_diverse keeps IoU < max_iou: the next float up
        # makes the two identical
        kept = select_diverse(scores[order], boxes[order], len(order), float(np.nextafter(t.good_nms, np.inf)))
        order = order[kept]
    return order


def _photometric(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = rgb.astype(np.float32)
    if rng.random() < 0.5:
        img += rng.uniform(-32, 32)
    contrast_first = rng.random() < 0.5
    if contrast_first and rng.random() < 0.5:
        img *= rng.uniform(0.5, 1.5)
    hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    if rng.random() < 0.5:
        hsv[:, :, 1] *= rng.uniform(0.5, 1.5)
    if rng.random() < 0.5:
        hsv[:, :, 0] = (hsv[:, :, 0] + rng.uniform(-18, 18) / 2) % 180  # OpenCV hue is 0..180
    img = cv2.cvtColor(np.clip(hsv, 0, [180, 255, 255]).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    if not contrast_first and rng.random() < 0.5:
        img *= rng.uniform(0.5, 1.5)
    return np.clip(img, 0, 255).astype(np.uint8)


def _random_crop(W: float, H: float, key: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """A crop ``x, y, w, h`` containing ``key`` (xywh) that cuts at most 20 % of each margin."""
    kx, ky, kw, kh = key
    left, top = kx, ky
    right, bottom = W - (kx + kw), H - (ky + kh)
    x0 = rng.uniform(0, 0.2 * max(left, 0))
    y0 = rng.uniform(0, 0.2 * max(top, 0))
    x1 = rng.uniform(kx + kw + 0.8 * max(right, 0), W)
    y1 = rng.uniform(ky + kh + 0.8 * max(bottom, 0), H)
    return x0, y0, x1 - x0, y1 - y0


def _xywh_to_norm_cxcywh(b: np.ndarray, crop: tuple[float, float, float, float]) -> np.ndarray:
    cx, cy, cw, ch = crop
    x = (b[:, 0] - cx) / cw
    y = (b[:, 1] - cy) / ch
    w = b[:, 2] / cw
    h = b[:, 3] / ch
    return np.stack([x + w / 2, y + h / 2, w, h], axis=1)


class TrainingSet:
    """Samples of a cropping data set prepared for the network.

    Args:
        samples: available samples (with image files).
        cfg: the configuration.
        conditioning: per sample ``(refs, ref_missing, text_ids)``.
        train: augment (training) or not (evaluation of the training loss).
        annotation_paths: per sample, its annotation file, watched for changes (online
            refinement); ``None`` serves the boxes read at start.
    """

    def __init__(self, samples: list[CropSample], cfg: Config, conditioning: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                 train: bool = True, annotation_paths: list[Path] | None = None) -> None:
        self.samples = samples
        self.cfg = cfg
        self.conditioning = conditioning
        self.train = train
        self.paths = annotation_paths
        self._stamps: dict[int, tuple[int, int, int]] = {}
        if annotation_paths is not None:
            for i, p in enumerate(annotation_paths):
                self._stamps[i] = self._stamp(p)

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int, int]:
        try:
            st = os.stat(path)
        except OSError:
            return (0, 0, 0)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def reload(self, index: int) -> None:
        """Re-read sample ``index``'s annotation file into memory (after it was rewritten)."""
        import dataclasses

        from ...data.readers import read_row_first_txt

        assert self.paths is not None
        path = self.paths[index]
        boxes, scores = read_row_first_txt(path, default_score=PSEUDO_LABEL_SCORE)
        keep = scores != -2
        self.samples[index] = dataclasses.replace(self.samples[index], boxes=boxes[keep], scores=scores[keep])
        self._stamps[index] = self._stamp(path)

    def _refresh(self, index: int) -> None:
        if self.paths is not None and self._stamp(self.paths[index]) != self._stamps.get(index):
            self.reload(index)

    def __len__(self) -> int:
        return len(self.samples)

    def get(self, index: int, epoch: int) -> Item:
        cfg = self.cfg
        m = cfg.model
        self._refresh(index)
        s = self.samples[index]
        rng = sample_rng(cfg.train.seed, epoch, index)
        loaded = load_image(s.image, max_side=m.max_long)
        W, H = loaded.width, loaded.height
        k0 = loaded.pixels.shape[1] / W  # original -> loaded pixels
        scores = np.asarray(s.scores if s.scores is not None else np.full(len(s.boxes), PSEUDO_LABEL_SCORE), dtype=np.float64)
        boxes = np.asarray(s.boxes, dtype=np.float64)
        good_idx = select_good(boxes, scores, cfg)
        key = boxes[good_idx[0]]
        if self.train and cfg.train.augment:
            crop = _random_crop(W, H, key, rng)
        else:
            crop = (0.0, 0.0, float(W), float(H))
        cx, cy, cw, ch = crop
        px = loaded.pixels[
            int(round(cy * k0)) : max(int(round((cy + ch) * k0)), int(round(cy * k0)) + 1),
            int(round(cx * k0)) : max(int(round((cx + cw) * k0)), int(round(cx * k0)) + 1),
        ]
        if self.train and cfg.train.augment:
            px = _photometric(px, rng)
        short = int(rng.choice(cfg.train.train_short)) if self.train else m.test_short
        max_long = m.max_long
        if m.canvas:
            short, max_long = min(short, m.canvas), min(max_long, m.canvas)
        resized, _ = resize_short(px, short, max_long)
        image = normalise(resized, m.normalize)
        inside = (
            (boxes[:, 0] >= cx - 1e-6) & (boxes[:, 1] >= cy - 1e-6)
            & (boxes[:, 0] + boxes[:, 2] <= cx + cw + 1e-6) & (boxes[:, 1] + boxes[:, 3] <= cy + ch + 1e-6)
        )
        good = [i for i in good_idx if inside[i]]
        norm_all = np.clip(_xywh_to_norm_cxcywh(boxes[inside], crop), 0, 1)
        target = Target(
            good=torch.as_tensor(np.clip(_xywh_to_norm_cxcywh(boxes[good], crop), 0, 1), dtype=torch.float32),
            all_boxes=torch.as_tensor(norm_all, dtype=torch.float32),
            all_scores=torch.as_tensor(scores[inside], dtype=torch.float32),
        )
        cand, mos = self._candidates(boxes[inside], scores[inside], target, rng)
        refs, missing, ids = self.conditioning[index]
        return Item(image, target, cand, mos, refs, missing, ids, crop, (W, H), index)

    def _candidates(self, boxes: np.ndarray, scores: np.ndarray, target: Target, rng: np.random.Generator,
                    limit: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Boxes with a quality for the box-scoring head: the annotated candidates when they carry
        graded scores (GAICD, CPC), else random boxes scored ``1 + 4 * IoU`` with the best target."""
        xyxy = cxcywh_to_xyxy(target.all_boxes).numpy()
        if len(np.unique(scores)) >= 3:
            idx = rng.permutation(len(xyxy))[:limit]
            return xyxy[idx].astype(np.float32), scores[idx].astype(np.float32)
        gx = cxcywh_to_xyxy(target.good).numpy()
        n = limit - len(gx)
        w = rng.uniform(0.3, 1.0, n)
        h = np.clip(w * rng.uniform(0.6, 1.6, n), 0.2, 1.0)
        x0 = rng.uniform(0, 1 - w)
        y0 = rng.uniform(0, 1 - h)
        rand = np.stack([x0, y0, x0 + w, y0 + h], 1)
        cand = np.concatenate([gx, rand])
        # gx is float32: its sizes are rounded to float32 as before the helper (which works in float64)
        gx_xywh = xyxy_to_xywh(gx).astype(gx.dtype)
        mos = 1 + 4 * iou_matrix(xyxy_to_xywh(cand), gx_xywh).max(axis=1)
        return cand.astype(np.float32), mos.astype(np.float32)


def collate(items: list[Item], canvas: int) -> dict[str, Any]:
    """Stack items into network inputs plus per-image targets and bookkeeping."""
    from ...model.paper.inputs import Batch, pad_batch

    images, mask, rects = pad_batch([it.image for it in items], canvas)
    batch = Batch(
        images,
        mask,
        rects,
        torch.as_tensor(np.stack([it.refs for it in items])),
        torch.as_tensor(np.stack([it.ref_missing for it in items])),
        torch.as_tensor(np.stack([it.text_ids for it in items])),
    )
    cand = [torch.as_tensor(it.candidates) for it in items]
    return {
        "batch": batch,
        "targets": [it.target for it in items],
        "candidates": cand,
        "candidate_batch": torch.cat([torch.full((len(c),), i, dtype=torch.long) for i, c in enumerate(cand)]),
        "candidate_mos": [torch.as_tensor(it.candidate_mos) for it in items],
        "items": items,
    }


def data_fingerprint(paths: list[str]) -> str:
    """A short hash of the training image list and annotation files' sizes and times."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.encode())
        try:
            st = os.stat(p)
            h.update(f"{st.st_size}".encode())
        except OSError:
            pass
    return h.hexdigest()[:16]


def load_training_samples(cfg: Config):
    from ...data import read_benchmark, read_weak

    t = cfg.train
    if not t.data:
        raise UsageError("train.data is empty: set the data folder in the config")
    if t.mode == "weak":
        ds = read_weak(t.data)
    elif t.mode == "supervised":
        if t.benchmark not in ("gaicd-v1", "gaicd-v2", "fcdb", "cpc"):
            raise UsageError(f"train.benchmark must be gaicd-v1, gaicd-v2, fcdb or cpc, not {t.benchmark!r}")
        ds = read_benchmark(t.benchmark, t.data, None if t.split == "all" else t.split)
    else:
        raise UsageError(f"train.mode must be supervised or weak, not {t.mode!r}")
    samples = ds.available()
    if t.limit:
        samples = samples[: t.limit]
    if not samples:
        raise UsageError(f"{t.data}: no training images found ({len(ds.missing)} annotated images missing)")
    return ds, samples
