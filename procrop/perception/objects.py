"""COCO object detection with YOLOX-nano (people, animals and 69 other object classes).

This module owns :class:`YoloxObjectDetector`. The shipped net takes ``[1, 3, H, W]`` float32, H and
W multiples of 32: the image scaled so that its longer side is 416 (aspect kept), padded right and
bottom with grey 114 to the next multiple of 32 (a 3:2 photo: 416 x 288, a third less work than the
416 x 416 square the upstream export was fixed to; ``tools/vendor_models.py`` frees its input size,
weights unchanged), in **BGR, 0..255, no mean/std normalisation** (the YOLOX convention; RGB input
or /255 scaling lowers the scores, checked on the photo pool). Its raw output ``[1, n, 85]`` holds,
for each cell of the grids of strides 8, 16 and 32 (``H/8 x W/8`` first), ``dx, dy, log w, log h,
objectness, 80 class probabilities``; :func:`decode` turns it into boxes, then a class-aware NMS
keeps the best.

Runtime: onnxruntime (a base dependency). OpenCV's DNN (``cv2.dnn.readNetFromONNX``, 4.14), which
ran the fixed 416 x 416 export to 1e-4 of onnxruntime at a third of its speed, cannot import a
net with a free input size, so it is no longer offered. No model is loaded at import time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from ..errors import ModelLoadError
from ..geometry import select_diverse
from .detectors import Detection
from .model_files import coco_labels, load_once, model_path

SIDE = 416
STRIDES = (8, 16, 32)
MODEL = "yolox_nano.onnx"
ANIMALS = frozenset({"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"})


def kind_of(label: str) -> str:
    """The composition role of a COCO class: ``"person"``, ``"animal"`` or ``"object"``."""
    if label == "person":
        return "person"
    return "animal" if label in ANIMALS else "object"


def input_size(h: int, w: int, side: int = SIDE) -> tuple[int, int, float]:
    """The net's input ``(height, width)`` for an ``h x w`` image (longer side ``side``, each a
    multiple of 32) and the scale ``r`` (image px * r = input px)."""
    r = min(side / h, side / w)
    nh, nw = max(1, min(side, round(h * r))), max(1, min(side, round(w * r)))
    step = STRIDES[-1]
    return -(-nh // step) * step, -(-nw // step) * step, r


def preprocess(rgb: np.ndarray, side: int = SIDE, square: bool = False) -> tuple[np.ndarray, float]:
    """``rgb`` (h, w, 3) uint8 → YOLOX input ``(1, 3, H, W)`` float32 BGR 0..255 (see the module
    docstring; ``square``: padded to ``side x side``, as the upstream export needs) and the scale
    ``r`` (image px * r = input px)."""
    h, w = rgb.shape[:2]
    ph, pw, r = input_size(h, w, side)
    if square:
        ph = pw = side
    nw, nh = max(1, min(side, round(w * r))), max(1, min(side, round(h * r)))
    resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    padded = np.full((ph, pw, 3), 114, np.uint8)
    padded[:nh, :nw] = resized[:, :, ::-1]  # RGB → BGR
    return padded.transpose(2, 0, 1)[None].astype(np.float32), r


@lru_cache(maxsize=32)
def _grids(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell offsets ``(n, 2)`` and strides ``(n, 1)`` in the net's output order (read-only)."""
    cells, strides = [], []
    for s in STRIDES:
        gh, gw = height // s, width // s
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full((gh * gw, 1), s))
    out = np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)
    for a in out:
        a.setflags(write=False)
    return out


def decode(raw: np.ndarray, size: tuple[int, int] = (SIDE, SIDE)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw output ``(1, n, 85)`` of an input of ``size = (height, width)`` → boxes ``(n, 4)`` as
    ``(x, y, w, h)`` in input pixels, the best class score ``(n,)`` (objectness x class
    probability) and its class index ``(n,)``."""
    out = raw.reshape(-1, raw.shape[-1])
    cells, strides = _grids(*size)
    if len(out) != len(cells):
        raise ValueError(f"YOLOX output has {len(out)} rows, expected {len(cells)} for {size[0]}x{size[1]}")
    centre = (out[:, :2] + cells) * strides
    size = np.exp(np.clip(out[:, 2:4], -10, 10)) * strides
    scores = out[:, 4:5] * out[:, 5:]
    cls = scores.argmax(axis=1)
    best = scores[np.arange(len(cls)), cls]
    return np.concatenate([centre - size / 2, size], axis=1), best, cls


class YoloxObjectDetector:
    """COCO objects from YOLOX-nano; implements :class:`~.detectors.Detector`.

    Args:
        score_threshold: keep boxes whose objectness x class probability reaches this.
        nms_threshold: IoU above which a box of the same class is suppressed.
        backend: ``"auto"`` or ``"onnxruntime"`` (the same: the only runtime).
        max_detections: most boxes returned (best first).
        cross_class_iou: after the class-aware NMS, also drop a box overlapping a better box of
            another class by more than this IoU (one animal read as bear *and* sheep); 1 disables.

    ``detect`` returns kind ``"person"``, ``"animal"`` (the ten COCO animals) or ``"object"``, with
    ``label`` the COCO class name. Instances are safe to share between threads (one onnxruntime
    session per process).
    """

    def __init__(
        self,
        score_threshold: float = 0.35,
        nms_threshold: float = 0.45,
        backend: str = "auto",
        max_detections: int = 100,
        cross_class_iou: float = 0.8,
    ) -> None:
        if backend == "opencv":
            raise ValueError("backend 'opencv': OpenCV's DNN cannot import YOLOX-nano with a free input size; "
                             "use 'onnxruntime'")
        if backend not in ("auto", "onnxruntime"):
            raise ValueError(f"backend must be 'auto' or 'onnxruntime', not {backend!r}")
        self.backend = "onnxruntime"
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_detections = max_detections
        self.cross_class_iou = cross_class_iou

    def forward(self, blob: np.ndarray) -> np.ndarray:
        """Run the net on a preprocessed ``(1, 3, H, W)`` blob; raw ``(1, n, 85)``."""
        session = load_once(f"ort:{model_path(MODEL)}", _ort_session)
        return session.run(None, {session.get_inputs()[0].name: blob})[0]

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Objects in ``rgb`` (h, w, 3) uint8 RGB; boxes ``(x, y, w, h)`` clipped to the image."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 array of shape (h, w, 3), got {rgb.shape} {rgb.dtype}")
        blob, r = preprocess(rgb)
        boxes, scores, cls = decode(self.forward(blob), blob.shape[2:])
        labels = coco_labels()
        keep = scores >= self.score_threshold
        boxes, scores, cls = boxes[keep] / r, scores[keep], cls[keep]
        if len(scores) == 0:
            return []
        idx = cv2.dnn.NMSBoxesBatched(
            boxes.tolist(), scores.tolist(), cls.tolist(), self.score_threshold, self.nms_threshold
        )
        idx = np.asarray(idx, dtype=int).reshape(-1)
        if self.cross_class_iou < 1 and len(idx) > 1:
            # boxes of different classes overlapping by more than cross_class_iou: keep the surer
            # (select_diverse keeps IoU < its bound, so the bound is nudged to mean <= cross_class_iou)
            bound = float(np.nextafter(self.cross_class_iou, np.inf))
            idx = idx[select_diverse(scores[idx], boxes[idx], len(idx), bound)]
        h, w = rgb.shape[:2]
        out = []
        for i in idx[: self.max_detections]:
            x0, y0 = max(0.0, float(boxes[i, 0])), max(0.0, float(boxes[i, 1]))
            x1 = min(float(w), float(boxes[i, 0] + boxes[i, 2]))
            y1 = min(float(h), float(boxes[i, 1] + boxes[i, 3]))
            if x1 - x0 >= 1 and y1 - y0 >= 1:
                label = labels[int(cls[i])]
                out.append(Detection((x0, y0, x1 - x0, y1 - y0), float(scores[i]), kind_of(label), label))
        return sorted(out, key=lambda d: -d.score)


def _ort_session() -> Any:
    """One onnxruntime session for the process (``run`` is thread-safe)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    # one thread: results that do not depend on scheduling (the same boxes in any worker), and no
    # oversubscription when several worker processes run side by side
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    path = model_path(MODEL)
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelLoadError(f"{path}: onnxruntime cannot load it ({exc})") from exc
