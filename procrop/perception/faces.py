"""Face detection with YuNet (libfacedetection), run by onnxruntime (or OpenCV's ``cv2.FaceDetectorYN``).

This module owns :class:`YuNetFaceDetector`, the learned replacement of the Haar cascades in
:mod:`.detectors`. Every image is scaled (aspect ratio kept) until its long side is 320 px, the
size YuNet was trained at, and padded with black at the right/bottom: to a 320x320 square for
YuNet-s (its file fixes that input), only up to the next multiple of 32 for YuNet-n, the default,
whose shipped file declares its height and width free (``tools/vendor_models.py``; a 3:2 photo
runs at 320x224, 30 % fewer pixels). Boxes and the five landmarks are mapped back to the pixels of
the image given to :meth:`YuNetFaceDetector.detect`. An optional zoomed pass (``tiles=2``) also
runs the net on an overlapping 2x2 grid of tiles for small faces in large photos; it costs four more
runs.

No model is loaded at import. With onnxruntime (the default when installed: about 10 ms a pass
on one thread against OpenCV's 27) the process shares one session and :func:`decode` turns the
net's twelve outputs into faces exactly as OpenCV's ``FaceDetectorYN`` does (same scores, boxes,
landmarks and NMS); with OpenCV each thread builds its own ``FaceDetectorYN`` (it keeps per-call
state). Both load the verified shipped file on first use.
"""

from __future__ import annotations

import importlib.util
import threading

import cv2
import numpy as np

from ..errors import ModelLoadError
from ..geometry import fit_long_side
from .detectors import Detection, merge_detections
from .model_files import load_once, model_path

SIDE = 320
STRIDES = (8, 16, 32)
LANDMARKS = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")
VARIANTS = {"s": "yunet_s_320_320.onnx", "n": "yunet_n_320_320.onnx"}
FREE_SIZE = frozenset({"n"})  # variants whose shipped file takes any input height and width


def letterbox(image: np.ndarray, side: int, fill: int = 0, multiple: int = 0) -> tuple[np.ndarray, float]:
    """``image`` (h, w, c) scaled so its long side is ``side`` and padded (right/bottom) to
    ``(side, side, c)``, or with ``multiple`` only up to the next multiples of it; returns the
    padded array and the scale ``k`` (original px * k = padded px)."""
    nh, nw, ph, pw, k = fit_long_side(*image.shape[:2], side, multiple)
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    out = np.full((ph, pw, image.shape[2]), fill, dtype=image.dtype)
    out[:nh, :nw] = resized
    return out, k


def _tiles(h: int, w: int, n: int, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """An ``n x n`` grid of overlapping tiles ``(x, y, w, h)`` covering an ``h x w`` image."""
    tw = int(np.ceil(w / (n - (n - 1) * overlap)))
    th = int(np.ceil(h / (n - (n - 1) * overlap)))
    xs = np.linspace(0, w - tw, n).round().astype(int)
    ys = np.linspace(0, h - th, n).round().astype(int)
    return [(int(x), int(y), tw, th) for y in ys for x in xs]


def decode(outputs: dict[str, np.ndarray], score_threshold: float, nms_threshold: float,
           top_k: int = 5000, width: int = SIDE) -> np.ndarray:
    """YuNet's raw outputs (``cls_S, obj_S (1, n, 1)``, ``bbox_S (1, n, 4)``, ``kps_S (1, n, 10)``
    for strides ``S`` 8, 16, 32 of an input ``width`` wide) -> faces ``(k, 15)``: ``x, y, w, h``,
    five ``(x, y)`` landmarks, score, in input pixels; OpenCV's ``FaceDetectorYN`` post-processing
    (score ``sqrt(cls * obj)``, boxes about the grid cell, NMS on integer boxes, best first)."""
    rows = []
    for stride in STRIDES:
        n = width // stride  # cells in a row
        cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0, 1)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0, 1)
        score = np.sqrt(cls * obj)
        keep = np.flatnonzero(score >= score_threshold)
        if len(keep) == 0:
            continue
        r, c = (keep // n).astype(np.float32), (keep % n).astype(np.float32)
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)[keep]
        kps = outputs[f"kps_{stride}"].reshape(-1, 10)[keep]
        w, h = np.exp(bbox[:, 2]) * stride, np.exp(bbox[:, 3]) * stride
        x1 = (c + bbox[:, 0]) * stride - w / 2
        y1 = (r + bbox[:, 1]) * stride - h / 2
        marks = np.empty((len(keep), 10), np.float32)
        marks[:, 0::2] = (kps[:, 0::2] + c[:, None]) * stride
        marks[:, 1::2] = (kps[:, 1::2] + r[:, None]) * stride
        rows.append(np.concatenate([np.stack([x1, y1, w, h], 1), marks, score[keep, None]], 1))
    if not rows:
        return np.zeros((0, 15), np.float32)
    faces = np.concatenate(rows).astype(np.float32)
    if len(faces) == 1:
        return faces
    boxes = [[int(v) for v in row[:4]] for row in faces]  # OpenCV truncates to integer boxes
    keep = cv2.dnn.NMSBoxes(boxes, faces[:, 14].tolist(), score_threshold, nms_threshold, top_k=top_k)
    return faces[np.asarray(keep, dtype=int).reshape(-1)]


def _ort_session(variant: str):  # noqa: ANN202 - onnxruntime.InferenceSession
    """One onnxruntime session per YuNet variant for the process (``run`` is thread-safe)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1  # beside the object detector and the backbone
    options.inter_op_num_threads = 1
    path = model_path(VARIANTS[variant])
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelLoadError(f"{path}: onnxruntime cannot load it ({exc})") from exc


class YuNetFaceDetector:
    """Faces with five landmarks from YuNet; implements :class:`~.detectors.Detector`.

    Args:
        score_threshold: keep faces scoring at least this (YuNet's own score, 0..1).
        nms_threshold: IoU above which overlapping faces are merged.
        top_k: most faces kept per image.
        variant: ``"n"`` (default) or ``"s"`` (smaller, a few ms faster, lower recall: on the
            BSDS500 + pool benchmark it found 0.90 of the faces confirmed by a non-YuNet model
            against 0.99 for ``"n"``, with no more false faces on the 449 wallpaper photos).
        tiles: 0 or 1 for a single letterboxed pass; ``n >= 2`` adds an ``n x n`` zoomed pass
            over overlapping tiles (only when the image is larger than 1.5 x 320 px on its long side).
        min_face: drop faces whose box is smaller than this many pixels (input frame) on a side.
        backend: ``"auto"`` (onnxruntime when installed, else OpenCV), ``"onnxruntime"`` or
            ``"opencv"``; both give the same faces.

    ``detect`` returns ``Detection(kind="face", label="face")`` with keypoints ``right_eye,
    left_eye, nose, mouth_right, mouth_left`` (the subject's own right/left), each scored with
    the face's score. Instances are safe to share between threads.
    """

    def __init__(
        self,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 50,
        variant: str = "n",
        tiles: int = 0,
        min_face: float = 4.0,
        backend: str = "auto",
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, not {variant!r}")
        if backend not in ("auto", "onnxruntime", "opencv"):
            raise ValueError(f"backend must be 'auto', 'onnxruntime' or 'opencv', not {backend!r}")
        if backend == "auto":
            backend = "onnxruntime" if importlib.util.find_spec("onnxruntime") else "opencv"
        self.backend = backend
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.top_k = top_k
        self.variant = variant
        self.tiles = tiles
        self.min_face = min_face
        self._local = threading.local()

    def _net(self) -> cv2.FaceDetectorYN:
        net = getattr(self._local, "net", None)
        if net is None:
            path = model_path(VARIANTS[self.variant])
            try:
                net = cv2.FaceDetectorYN.create(
                    str(path), "", (SIDE, SIDE), self.score_threshold, self.nms_threshold, 5000
                )
            except cv2.error as exc:
                raise ModelLoadError(f"{path}: OpenCV {cv2.__version__} cannot load it ({exc})") from exc
            self._local.net = net
        return net

    def _run(self, bgr: np.ndarray, floor: float | None = None) -> np.ndarray:
        """Raw YuNet rows ``(n, 15)`` for one image, in that image's pixels, scoring at least
        ``floor`` (default: the score threshold; onnxruntime only, OpenCV keeps its own)."""
        free = self.variant in FREE_SIZE
        padded, k = letterbox(bgr, SIDE, multiple=STRIDES[-1] if free else 0)
        if self.backend == "onnxruntime":
            session = load_once(f"ort:{model_path(VARIANTS[self.variant])}", lambda: _ort_session(self.variant))
            blob = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)
            names = [o.name for o in session.get_outputs()]
            out = dict(zip(names, session.run(names, {session.get_inputs()[0].name: blob})))
            threshold = self.score_threshold if floor is None else floor
            faces = decode(out, threshold, self.nms_threshold, width=padded.shape[1])
        else:
            net = self._net()
            net.setInputSize((padded.shape[1], padded.shape[0]))
            _, faces = net.detect(padded)
        if faces is None or len(faces) == 0:
            return np.zeros((0, 15), np.float32)
        faces = faces.astype(np.float32).copy()
        faces[:, :14] /= k
        return faces

    def raw(self, rgb: np.ndarray, floor: float | None = None) -> np.ndarray:
        """All candidate faces ``(n, 15)``: ``x, y, w, h``, five ``(x, y)`` landmarks, score;
        in the pixels of ``rgb`` (h, w, 3), before the final NMS and clipping; scoring at least
        ``floor`` in the full pass (default: the score threshold)."""
        bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
        rows = [self._run(bgr, floor)]
        h, w = bgr.shape[:2]
        if self.tiles >= 2 and max(h, w) > 1.5 * SIDE:
            for x, y, tw, th in _tiles(h, w, self.tiles):
                found = _small_inner(self._run(bgr[y : y + th, x : x + tw]), (x, y, tw, th), (w, h))
                found[:, [0, 4, 6, 8, 10, 12]] += x
                found[:, [1, 5, 7, 9, 11, 13]] += y
                rows.append(found)
        return np.concatenate(rows, axis=0)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in ``rgb`` (h, w, 3) uint8 RGB; boxes ``(x, y, w, h)`` clipped to the image."""
        return self.detect_with_weak(rgb, self.score_threshold)[0]

    def detect_with_weak(self, rgb: np.ndarray, floor: float) -> tuple[list[Detection], list[Detection]]:
        """:meth:`detect`'s faces, and the weaker ones scoring ``floor`` up to the score threshold
        (one pass of the net; a weak candidate never suppresses a sure face, so the faces are
        :meth:`detect`'s exactly): an animal's face often scores there."""
        _check_rgb(rgb)
        rows = self.raw(rgb, min(floor, self.score_threshold))
        h, w = rgb.shape[:2]
        found = []
        for sure in (True, False):
            part = rows[(rows[:, 14] >= self.score_threshold) == sure] if len(rows) else rows
            dets = [_to_detection(row, w, h) for row in part]
            dets = [d for d in dets if d is not None and min(d.box[2], d.box[3]) >= self.min_face]
            # IoU NMS across passes, and drop halves of faces cut by a tile edge (mostly inside a kept box)
            out = merge_detections(dets, max_iou=self.nms_threshold)[: self.top_k]
            found.append(sorted(out, key=lambda d: -d.score))
        return found[0], found[1]


def _small_inner(
    faces: np.ndarray, tile: tuple[int, int, int, int], size: tuple[int, int], margin: float = 2.0
) -> np.ndarray:
    """Tile faces ``(n, 15)`` (tile pixels) worth keeping: small against the tile (big faces are
    the full pass's job, and a tile may show only part of one) and not cut by an inner tile edge."""
    x, y, tw, th = tile
    w, h = size
    small = np.maximum(faces[:, 2], faces[:, 3]) <= 0.4 * min(tw, th)
    left = (faces[:, 0] > margin) | (x == 0)
    top = (faces[:, 1] > margin) | (y == 0)
    right = (faces[:, 0] + faces[:, 2] < tw - margin) | (x + tw >= w)
    bottom = (faces[:, 1] + faces[:, 3] < th - margin) | (y + th >= h)
    return faces[small & left & top & right & bottom]


def _to_detection(row: np.ndarray, width: int, height: int) -> Detection | None:
    """One YuNet row as a face :class:`Detection` clipped to a ``width x height`` image."""
    x0, y0 = max(0.0, float(row[0])), max(0.0, float(row[1]))
    x1 = min(float(width), float(row[0] + row[2]))
    y1 = min(float(height), float(row[1] + row[3]))
    if x1 <= x0 or y1 <= y0:
        return None
    score = float(row[14])
    points = tuple(
        (
            name,
            float(np.clip(row[4 + 2 * j], 0, width)),
            float(np.clip(row[5 + 2 * j], 0, height)),
            score,
        )
        for j, name in enumerate(LANDMARKS)
    )
    return Detection((x0, y0, x1 - x0, y1 - y0), score, "face", "face", points)


def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        got = getattr(rgb, "shape", type(rgb)), getattr(rgb, "dtype", "")
        raise ValueError(f"expected an RGB uint8 array of shape (h, w, 3), got {got}")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"empty image of shape {rgb.shape}")
