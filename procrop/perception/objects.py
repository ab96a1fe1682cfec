"""COCO object detection with YOLOX-nano (people, animals and 69 other object classes).

This module owns :class:`YoloxObjectDetector`. The net was trained at ``[1, 3, 416, 416]``; the
shipped file declares its height and width free (``tools/vendor_models.py``), so the image is
scaled until its long side is 416 and padded (right/bottom, grey 114) only up to the next multiple
of 32 (a 3:2 photo runs at 416x288, 30 % fewer pixels than the square, with the same detail), in
**BGR, 0..255, no mean/std normalisation** (the YOLOX convention; RGB input or /255 scaling lowers
the scores, checked on the photo pool). Its raw output ``[1, n, 85]`` holds, for each cell of the
grids at strides 8, 16 and 32 (52x52, 26x26 and 13x13 at 416x416: n = 3549), ``dx, dy, log w,
log h, objectness, 80 class probabilities``; :func:`decode` turns it into boxes, then a
class-aware NMS keeps the best.

Runtimes: ``backend="auto"`` uses onnxruntime when it is installed (about 3x faster on the CPU)
and OpenCV DNN otherwise (``cv2.dnn.readNetFromONNX``: same outputs to 1e-4, no extra
dependency). No model is loaded at import time.
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

import cv2
import numpy as np

from ..errors import ModelLoadError
from ..geometry import fit_long_side, select_diverse
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


def preprocess(rgb: np.ndarray, side: int = SIDE, square: bool = False) -> tuple[np.ndarray, float]:
    """``rgb`` (h, w, 3) uint8 → YOLOX input ``(1, 3, H, W)`` float32 BGR 0..255 and the scale ``r``
    (image px * r = input px): the image scaled so its long side is ``side`` and padded right/bottom
    with grey 114 up to multiples of 32, the coarsest stride (a wide photo is not padded to a
    square), or to ``side x side`` if ``square`` (:func:`~procrop.geometry.fit_long_side`)."""
    nh, nw, ih, iw, r = fit_long_side(*rgb.shape[:2], side, 0 if square else STRIDES[-1])
    resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    padded = np.full((ih, iw, 3), 114, np.uint8)
    padded[:nh, :nw] = resized[:, :, ::-1]  # RGB → BGR
    return padded.transpose(2, 0, 1)[None].astype(np.float32), r


def _grids(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell offsets ``(n, 2)`` and strides ``(n, 1)`` in the net's output order, for an input of
    ``height x width``."""
    cells, strides = [], []
    for s in STRIDES:
        ys, xs = np.meshgrid(np.arange(height // s), np.arange(width // s), indexing="ij")
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full((xs.size, 1), s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)


def decode(raw: np.ndarray, height: int = SIDE, width: int = SIDE
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw output ``(1, n, 85)`` of a ``height x width`` input → boxes ``(n, 4)`` as ``(x, y, w, h)``
    in input pixels, the best class score ``(n,)`` (objectness x class probability) and its class
    index ``(n,)``."""
    out = raw.reshape(-1, raw.shape[-1])
    cells, strides = _grids(height, width)
    if len(out) != len(cells):
        raise ValueError(f"YOLOX output has {len(out)} rows, expected {len(cells)} for {width}x{height}")
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
        backend: ``"auto"``, ``"onnxruntime"`` or ``"opencv"``.
        max_detections: most boxes returned (best first).
        cross_class_iou: after the class-aware NMS, also drop a box overlapping a better box of
            another class by more than this IoU (one animal read as bear *and* sheep); 1 disables.

    ``detect`` returns kind ``"person"``, ``"animal"`` (the ten COCO animals) or ``"object"``, with
    ``label`` the COCO class name. Instances are safe to share between threads (one onnxruntime
    session per process, or one OpenCV net per thread).
    """

    def __init__(
        self,
        score_threshold: float = 0.35,
        nms_threshold: float = 0.45,
        backend: str = "auto",
        max_detections: int = 100,
        cross_class_iou: float = 0.8,
    ) -> None:
        if backend not in ("auto", "onnxruntime", "opencv"):
            raise ValueError(f"backend must be 'auto', 'onnxruntime' or 'opencv', not {backend!r}")
        if backend == "auto":
            backend = "onnxruntime" if importlib.util.find_spec("onnxruntime") else "opencv"
        self.backend = backend
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_detections = max_detections
        self.cross_class_iou = cross_class_iou
        self._local = threading.local()

    def forward(self, blob: np.ndarray) -> np.ndarray:
        """Run the net on a preprocessed ``(1, 3, H, W)`` blob; raw ``(1, n, 85)`` (n = 3549 at 416x416)."""
        if self.backend == "onnxruntime":
            session = load_once(f"ort:{model_path(MODEL)}", _ort_session)
            return session.run(None, {session.get_inputs()[0].name: blob})[0]
        net = getattr(self._local, "net", None)
        if net is None:
            path = model_path(MODEL)
            try:
                square = square_input_model(path.read_bytes(), SIDE)
                net = cv2.dnn.readNetFromONNX(np.frombuffer(square, np.uint8))
            except cv2.error as exc:
                raise ModelLoadError(f"{path}: OpenCV {cv2.__version__} cannot load it ({exc})") from exc
            self._local.net = net
        net.setInput(blob)
        return net.forward()

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Objects in ``rgb`` (h, w, 3) uint8 RGB; boxes ``(x, y, w, h)`` clipped to the image."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 array of shape (h, w, 3), got {rgb.shape} {rgb.dtype}")
        blob, r = preprocess(rgb, square=self.backend == "opencv")
        boxes, scores, cls = decode(self.forward(blob), *blob.shape[2:])
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


def square_input_model(data: bytes, side: int) -> bytes:
    """The shipped file's bytes with its free input height and width (the one-letter ``h`` and
    ``w`` of ``tools/vendor_models.py``) fixed at ``side`` (< 16384), for OpenCV, which cannot import
    this graph with free sizes. Each dimension ``dim_param "h"`` (3 bytes: tag, length, letter)
    becomes ``dim_value side`` (3 bytes: tag and a two-byte varint), so no enclosing length changes."""
    if not 128 <= side < 16384:
        raise ValueError(f"side must take a two-byte varint (128..16383), not {side}")
    value = bytes((0x08, 0x80 | (side & 0x7F), side >> 7))
    free = b"\x0a\x03\x12\x01h\x0a\x03\x12\x01w"
    if data.count(free) != 1:
        raise ModelLoadError(f"{MODEL}: its input does not declare the free sizes h and w once; "
                             "re-run tools/vendor_models.py")
    return data.replace(free, b"\x0a\x03" + value + b"\x0a\x03" + value)


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
