"""Salient objects from the shared backbone: the head's map, and subjects as masks.

:class:`SalientHead` runs ``procrop/resources/models/salient_head.onnx`` (a decoder of ~0.1 M
parameters distilled from U²-Netp, see :mod:`procrop.model.scorer.salient_head`, rebuilt by
``python -m procrop.training.scorer.saliency``) on the learned scorer's backbone maps (``c3``, ``c4``,
``c5`` of the photo squashed to 256 x 256), giving each cell's probability of belonging to a
salient object over the whole frame. :func:`mask_subjects` turns that map into subjects with
extent: the connected regions above :data:`THRESHOLD`, each named by the detection (person, animal,
COCO object) that overlaps it most; a detection the head missed becomes a region of its box.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ModelLoadError, require
from .analysis import Region
from .colour import dominant_colour_name, with_standout_colour
from .detectors import Detection

#: The shipped head.
HEAD_ONNX = Path(__file__).resolve().parents[1] / "resources" / "models" / "salient_head.onnx"
#: Probability above which a map cell is part of a salient object (the teacher's own cut).
THRESHOLD = 0.5
#: Regions smaller than this share of the frame are noise, not subjects.
MIN_AREA = 0.004
#: A detection names a region when this share of the region lies in its box, or of its box in the
#: region (of several, the one overlapping most of the region).
NAMES_AT = 0.3
#: Most salient regions kept as subjects.
MAX_REGIONS = 6
#: Levels of the map at which a region's cores are taken (:func:`subject_cores`): protection falls
#: back on them for a region no crop keeps whole (a map spread beyond the object).
CORE_LEVELS = (0.65, 0.8, 0.9)
#: The least share of its region's saliency a core needs.
CORE_MIN_SHARE = 0.15


class SalientHead:
    """The salient-object head (loaded on first use; thread-safe).

    Raises:
        ModelLoadError: naming the file when it is missing or unreadable.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else HEAD_ONNX
        self._session: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._session is None:
                ort = require("onnxruntime", "the salient-object head", "base")
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = 1
                opts.inter_op_num_threads = 1
                try:
                    self._session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
                except Exception as exc:  # onnxruntime raises its own types
                    raise ModelLoadError(f"{self.path}: cannot load the salient-object head ({exc})") from None
            return self._session

    def __call__(self, maps: Any, size: tuple[int, int]) -> np.ndarray:
        """The salient-object map ``(h, w)`` float32 in [0, 1] for ``size = (w, h)``, from backbone
        ``maps`` (anything with ``c3``, ``c4``, ``c5`` arrays, batch 1)."""
        feed = {k: np.ascontiguousarray(getattr(maps, k), dtype=np.float32) for k in ("c3", "c4", "c5")}
        (out,) = self._load().run(None, feed)
        return np.clip(cv2.resize(out[0, 0], size, interpolation=cv2.INTER_LINEAR), 0.0, 1.0).astype(np.float32)


def box_cells(box: tuple[float, float, float, float], sx: float, sy: float, shape: tuple[int, int]) -> tuple[slice, slice]:
    """The map cells ``(rows, cols)`` of a ``shape`` map covered by ``box`` (``xywh`` original pixels;
    ``sx``, ``sy`` map cells per pixel): at least one cell, within the map."""
    x, y, w, h = box
    mh, mw = shape
    x0, y0 = int(min(mw - 1, max(0, np.floor(x * sx)))), int(min(mh - 1, max(0, np.floor(y * sy))))
    x1, y1 = max(x0 + 1, int(min(mw, np.ceil((x + w) * sx)))), max(y0 + 1, int(min(mh, np.ceil((y + h) * sy))))
    return slice(y0, y1), slice(x0, x1)


def _region(sal: np.ndarray, small_rgb: np.ndarray, mask: np.ndarray, total: float, sx: float, sy: float,
            label: str) -> Region:
    ys, xs = np.nonzero(mask)
    wts = sal[mask] + 1e-6
    cx = float((wts * (xs + 0.5)).sum() / wts.sum()) / sx
    cy = float((wts * (ys + 0.5)).sum() / wts.sum()) / sy
    x0, y0 = xs.min(), ys.min()
    box = (x0 / sx, y0 / sy, (xs.max() - x0 + 1) / sx, (ys.max() - y0 + 1) / sy)
    colour = dominant_colour_name(small_rgb[mask].reshape(-1, 3), wts)
    return Region(box, (cx, cy), float(sal[mask].sum()) / total, "salient", colour, label, mask)


def mask_subjects(
    sal: np.ndarray, small_rgb: np.ndarray, faces: list[Detection], detections: list[Detection], W: int, H: int,
    pixels: np.ndarray | None = None,
) -> list[Region]:
    """Subjects from the head's map ``sal`` ``(mh, mw)``: faces first (as :func:`.subjects.find_subjects`
    gives them), then the salient regions, largest share of saliency first.

    Each region is a connected component of ``sal >= THRESHOLD`` (8-connected, at least
    :data:`MIN_AREA` of the frame) with its ``mask``; the detection (``detections``: people, animals,
    objects, most important first) overlapping it most names it (``label``). A confident detection
    no region overlaps is added as a region of its box, so a subject the head missed stays. With the
    analysed ``pixels`` ``(h, w, 3)``, a region also has its ``standout_colour``.
    """
    from .subjects import box_mass

    mh, mw = sal.shape
    sx, sy = mw / W, mh / H
    total = float(sal.sum()) or 1.0
    out = [Region(f.box, (f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2), box_mass(sal, f.box, 1 / sx, 1 / sy) / total,
                  "face") for f in sorted(faces, key=lambda d: -d.box[2] * d.box[3])]
    n, labels = cv2.connectedComponents((sal >= THRESHOLD).astype(np.uint8), connectivity=8)
    masks = [m for m in (labels == i for i in range(1, n)) if m.sum() >= MIN_AREA * mh * mw]
    named: list[str] = [""] * len(masks)
    used: set[int] = set()
    boxes = [np.zeros((mh, mw), bool) for _ in detections]
    for b, d in zip(boxes, detections):
        b[box_cells(d.box, sx, sy, (mh, mw))] = True
    for i, m in enumerate(masks):
        # of the detections that name it, the one overlapping most of it: not two small figures
        # standing inside a space shuttle's region, ahead of the shuttle itself
        best, best_inter = -1, 0.0
        for j, b in enumerate(boxes):
            inter = float((m & b).sum())
            if max(inter / m.sum(), inter / max(b.sum(), 1)) > NAMES_AT and inter > best_inter:
                best, best_inter = j, inter
        if best >= 0:
            named[i] = detections[best].label or detections[best].kind
            used.add(best)
    regions = [_region(sal, small_rgb, m, total, sx, sy, lab) for m, lab in zip(masks, named)]
    for j, d in enumerate(detections):
        if j not in used and d.score >= 0.5 and boxes[j].any():
            regions.append(_region(sal, small_rgb, boxes[j], total, sx, sy, d.label or d.kind))
    regions.sort(key=lambda r: -r.mass)
    kept = regions[:MAX_REGIONS]
    if pixels is not None:
        kept = [with_standout_colour(r, r.mask, pixels) for r in kept]
    return out + kept


def subject_cores(saliency: np.ndarray, mask: np.ndarray, level: float) -> list[np.ndarray]:
    """The cores of a salient region: the connected parts of its ``mask (mh, mw)`` where the
    ``saliency`` map (same shape) reaches ``level``, each at least :data:`CORE_MIN_SHARE` of the
    region's saliency, most salient first."""
    hot = (mask & (saliency >= level)).astype(np.uint8)
    n, labels = cv2.connectedComponents(hot, connectivity=8)
    total = float(saliency[mask].sum()) or 1.0
    parts = [(float(saliency[labels == i].sum()), labels == i) for i in range(1, n)]
    return [m for w, m in sorted(parts, key=lambda p: -p[0]) if w >= CORE_MIN_SHARE * total]
