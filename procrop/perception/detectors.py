"""Face and person detectors behind one small interface.

A detector takes the working-size RGB array and returns :class:`Detection` boxes in *working*
pixels; :func:`procrop.perception.analysis.analyze` maps them to the original image. The default
:class:`HaarFaceDetector` uses the frontal and profile Haar cascades that ship with
``opencv-python-headless`` 4.x (OpenCV 5 dropped them). A better detector (YuNet, RetinaFace...)
plugs in by implementing :class:`Detector`.

Speed: Haar cascades are the costliest step of the analysis, so by default they run only inside
regions with skin-coloured pixels (or on the whole frame for grey or colour-cast images, where the
skin test means nothing). ``skin_gate=False`` always scans the whole frame.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from ..errors import ModelLoadError
from ..geometry import iou_matrix


#: Where a face box's eyes lie when the detector gives no eye landmarks: the eye line's share of
#: the box height from its top, and the eyes' horizontal span as shares of its width.
EYES_IN_FACE_BOX = (0.42, 0.25, 0.75)


@dataclass(frozen=True)
class Detection:
    """One detected object.

    Attributes:
        box: ``(x, y, w, h)`` in the pixel frame of the image it was detected in.
        score: detector confidence in [0, 1].
        kind: the role in composition: ``"face"``, ``"profile"``, ``"person"``, ``"animal"`` or
            ``"object"``.
        label: the detector's own class name (``"dog"``, ``"cup"``...); empty when the kind says
            it all.
        keypoints: named points ``{name: (x, y, score)}`` in the same frame as ``box``: a face's
            ``"right_eye"``, ``"left_eye"``, ``"nose"``, ``"mouth_right"``, ``"mouth_left"``; a
            person's body joints (``"left_shoulder"``, ``"right_knee"``...); an animal's ``"head"``
            (the centre of a face the face detector, or the cat-face cascade, found on it).
        support: how far the photo's own saliency backs the box: the mean saliency inside it over
            the photo's mean, before any detection is painted in (1.0 when not measured).
    """

    box: tuple[float, float, float, float]
    score: float
    kind: str
    label: str = ""
    keypoints: tuple[tuple[str, float, float, float], ...] = ()
    support: float = 1.0

    def scaled(self, sx: float, sy: float) -> Detection:
        """The same detection in a frame scaled by ``(sx, sy)``."""
        x, y, w, h = self.box
        points = tuple((n, px * sx, py * sy, s) for n, px, py, s in self.keypoints)
        return Detection((x * sx, y * sy, w * sx, h * sy), self.score, self.kind, self.label, points, self.support)

    def point(self, name: str) -> tuple[float, float] | None:
        """The keypoint called ``name`` as ``(x, y)``, or None when it was not found."""
        for n, px, py, _ in self.keypoints:
            if n == name:
                return (px, py)
        return None

    def eyes(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """A face's right and left eye ``(x, y)``: its landmarks, else where a face box's eyes
        usually lie (:data:`EYES_IN_FACE_BOX`: Haar faces have no landmarks)."""
        right, left = self.point("right_eye"), self.point("left_eye")
        if right is not None and left is not None:
            return right, left
        x, y, w, h = self.box
        line, a, b = EYES_IN_FACE_BOX
        return (x + a * w, y + line * h), (x + b * w, y + line * h)


@runtime_checkable
class Detector(Protocol):
    """Anything that finds objects in an RGB uint8 array ``(h, w, 3)``."""

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Detections in the pixel frame of ``rgb``."""
        ...


def skin_mask(rgb: np.ndarray) -> np.ndarray:
    """Boolean mask of skin-coloured pixels, shape ``(h, w)``.

    A conservative rule combining a YCrCb box (after Chai and Ngan) with an HSV hue/saturation
    band, so that warm landscapes (sand, sunsets, wood) mostly stay out.
    """
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL)
    cr, cb = ycrcb[:, :, 1], ycrcb[:, :, 2]
    hue, sat, val = hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2]
    # hue is 0..255 for 0..360 degrees: keep red-orange (<= 35 deg) and the magenta side (>= 340)
    warm_hue = (hue <= 25) | (hue >= 241)
    return (
        (cr >= 138) & (cr <= 170) & (cb >= 85) & (cb <= 125)
        & warm_hue & (sat >= 45) & (sat <= 175) & (val >= 80)
    )


def merge_detections(dets: list[Detection], max_iou: float = 0.3) -> list[Detection]:
    """Merge overlapping detections (greedy by score; also drops boxes mostly inside a kept one)."""
    if not dets:
        return []
    dets = sorted(dets, key=lambda d: -d.score)
    kept: list[Detection] = []
    for d in dets:
        b = np.asarray(d.box)[None]
        if kept:
            kb = np.asarray([k.box for k in kept])
            if iou_matrix(b, kb).max() >= max_iou:
                continue
            # containment: intersection over the smaller box
            x1 = np.maximum(b[0, 0], kb[:, 0])
            y1 = np.maximum(b[0, 1], kb[:, 1])
            x2 = np.minimum(b[0, 0] + b[0, 2], kb[:, 0] + kb[:, 2])
            y2 = np.minimum(b[0, 1] + b[0, 3], kb[:, 1] + kb[:, 3])
            inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
            smaller = np.minimum(b[0, 2] * b[0, 3], kb[:, 2] * kb[:, 3])
            if (inter / np.maximum(smaller, 1e-9)).max() > 0.6:
                continue
        kept.append(d)
    return kept


class HaarFaceDetector:
    """Frontal + profile (both directions) Haar cascades from OpenCV's data folder.

    Args:
        min_face: smallest face side, as a fraction of the working image's short side.
        scale_factor, min_neighbors: ``detectMultiScale`` parameters.
        profile: also run the profile cascade on the image and its mirror.
        skin_gate: scan only around skin-coloured regions when the image has colour.
        scan_side: skin regions are scanned at this long side at most (speed); boxes are
            returned in the frame of the input.
        full_scan_side: long side for whole-frame scans (grey images, frames full of skin).
        profile_full_frame: run the (slow) profile cascade on whole-frame scans too; by default
            profiles are looked for only around face-shaped skin regions.

    Instances are safe to share between threads: each thread loads its own cascades (OpenCV's
    ``CascadeClassifier`` keeps per-image state and must not be used concurrently).
    """

    FRONTAL = "haarcascade_frontalface_alt2.xml"
    PROFILE = "haarcascade_profileface.xml"
    EYES = "haarcascade_eye.xml"

    def __init__(
        self,
        min_face: float = 0.07,
        scale_factor: float = 1.1,
        min_neighbors: int = 3,
        profile: bool = True,
        skin_gate: bool = True,
        scan_side: int = 256,
        full_scan_side: int = 224,
        profile_full_frame: bool = False,
        cascade_dir: str | None = None,
    ) -> None:
        self.min_face = min_face
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.profile = profile
        self.skin_gate = skin_gate
        self.scan_side = scan_side
        self.full_scan_side = full_scan_side
        self.profile_full_frame = profile_full_frame
        self.cascade_dir = cascade_dir or _default_cascade_dir()
        self._local = threading.local()

    def _cascades(
        self,
    ) -> tuple[cv2.CascadeClassifier, cv2.CascadeClassifier | None, cv2.CascadeClassifier]:
        cached = getattr(self._local, "cascades", None)
        if cached is None:
            frontal = _load_cascade(self.cascade_dir, self.FRONTAL)
            profile = _load_cascade(self.cascade_dir, self.PROFILE) if self.profile else None
            eyes = _load_cascade(self.cascade_dir, self.EYES)
            cached = (frontal, profile, eyes)
            self._local.cascades = cached
        return cached

    def regions(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Regions ``(x, y, w, h)`` of ``rgb`` worth scanning (the whole frame when ungated)."""
        return [r for r, _ in self._regions(rgb)]

    def _regions(self, rgb: np.ndarray) -> list[tuple[tuple[int, int, int, int], bool]]:
        """:meth:`regions`, each with whether it holds a face-shaped skin blob (compact, roughly
        as tall as wide): only those are worth the slow profile cascade."""
        h, w = rgb.shape[:2]
        full = [((0, 0, w, h), True)]
        if not self.skin_gate:
            return full
        if not _is_coloured(rgb):  # grey or nearly grey: skin colour says nothing
            return full
        mask = skin_mask(rgb).astype(np.uint8)
        min_side = self.min_face * min(h, w)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        boxes = []
        face_like = []
        for i in range(1, n):
            x, y, bw, bh, area = stats[i]
            if area < 0.25 * min_side * min_side:
                continue
            # grow each skin blob so that hair, a face's shaded side and the cascade margin fit
            gx, gy = 0.6 * max(bw, min_side), 0.6 * max(bh, min_side)
            boxes.append((max(0, x - gx), max(0, y - gy), min(w, x + bw + gx), min(h, y + bh + gy)))
            compact = area >= 0.35 * bw * bh and 0.4 <= bw / bh <= 2.0 and area >= 0.5 * min_side * min_side
            if compact:
                face_like.append((x + bw / 2, y + bh / 2))
        if not boxes:
            return []
        merged = _merge_rects(boxes)
        covered = sum((x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in merged)
        if covered > 0.6 * w * h:
            return full
        return [
            (
                (int(x1), int(y1), int(np.ceil(x2 - x1)), int(np.ceil(y2 - y1))),
                any(x1 <= cx <= x2 and y1 <= cy <= y2 for cx, cy in face_like),
            )
            for x1, y1, x2, y2 in merged
        ]

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        h0, w0 = rgb.shape[:2]
        k = min(1.0, self.scan_side / max(h0, w0))
        if k < 1.0:
            rgb = cv2.resize(rgb, (max(1, round(w0 * k)), max(1, round(h0 * k))), interpolation=cv2.INTER_AREA)
            return [d.scaled(1 / k, 1 / k) for d in self.detect(rgb)]
        h, w = rgb.shape[:2]
        regions = self._regions(rgb)
        if not regions:
            return []
        full_frame = [r for r, _ in regions] == [(0, 0, w, h)]
        if full_frame and max(h, w) > self.full_scan_side:
            k = self.full_scan_side / max(h, w)
            rgb = cv2.resize(rgb, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
            found = self._detect_in(rgb, [((0, 0, rgb.shape[1], rgb.shape[0]), self.profile_full_frame)])
            return [d.scaled(1 / k, 1 / k) for d in found]
        if full_frame:
            regions = [(regions[0][0], self.profile_full_frame)]
        return self._detect_in(rgb, regions)

    def _detect_in(self, rgb: np.ndarray, regions: list[tuple[tuple[int, int, int, int], bool]]) -> list[Detection]:
        """Cascades over regions; the profile cascade only where the region's flag allows it."""
        h, w = rgb.shape[:2]
        gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        coloured = _is_coloured(rgb)
        skin = skin_mask(rgb) if coloured else None
        min_side = max(20, int(round(self.min_face * min(h, w))))
        frontal, profile, eyes = self._cascades()
        found: list[Detection] = []
        for (rx, ry, rw, rh), profiles in regions:
            if rw < min_side or rh < min_side:
                continue
            roi = gray[ry : ry + rh, rx : rx + rw]
            candidates = self._run(frontal, roi, rx, ry, min_side, "face", flip=False)
            # profiles only where no frontal face was found (the profile cascade is the slow one)
            if profile is not None and profiles and not candidates:
                candidates += self._run(profile, roi, rx, ry, min_side, "profile", flip=False)
                candidates += self._run(profile, roi, rx, ry, min_side, "profile", flip=True)
            for det, weight in candidates:
                verified = self._verify(det, weight, gray, skin, eyes)
                if verified is not None:
                    found.append(verified)
        return merge_detections(found)

    def _verify(
        self,
        det: Detection,
        weight: float,
        gray: np.ndarray,
        skin: np.ndarray | None,
        eyes: cv2.CascadeClassifier,
    ) -> Detection | None:
        """Reject cascade false positives: faces need skin colour (colour images) or a visible eye;
        profiles, the weaker cascade, need more skin or a high cascade weight."""
        x, y, bw, bh = (int(round(v)) for v in det.box)
        skin_share = float(skin[y : y + bh, x : x + bw].mean()) if skin is not None else 0.0
        if det.kind == "face":
            if skin is not None and skin_share >= 0.12:
                return Detection(det.box, min(1.0, 0.6 + skin_share), "face")
            upper = gray[y : y + int(0.6 * bh), x : x + bw]
            min_eye = max(5, bw // 8)
            found = eyes.detectMultiScale(upper, 1.1, 3, minSize=(min_eye, min_eye)) if upper.size else ()
            return Detection(det.box, 0.7, "face") if len(found) else None
        if skin is not None:
            ok = skin_share >= 0.25 and weight >= 1.0
        else:
            ok = weight >= 2.5
        return Detection(det.box, min(1.0, 0.4 + skin_share + 0.05 * weight), "profile") if ok else None

    def _run(
        self,
        cascade: cv2.CascadeClassifier,
        roi: np.ndarray,
        ox: int,
        oy: int,
        min_side: int,
        kind: str,
        flip: bool,
    ) -> list[tuple[Detection, float]]:
        img = cv2.flip(roi, 1) if flip else roi
        rects, _, weights = cascade.detectMultiScale3(
            img,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side),
            outputRejectLevels=True,
        )
        out = []
        rw = roi.shape[1]
        for (x, y, bw, bh), weight in zip(np.asarray(rects).reshape(-1, 4), np.ravel(weights)):
            if flip:
                x = rw - x - bw
            box = (float(x + ox), float(y + oy), float(bw), float(bh))
            out.append((Detection(box, 1.0, kind), float(weight)))
        return out


def _is_coloured(rgb: np.ndarray) -> bool:
    """Whether an image has enough colour for the skin test to mean anything."""
    return float(np.mean(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[:, :, 1])) >= 25


class HogPeopleDetector:
    """OpenCV's HOG + linear SVM pedestrian detector (upright, whole people; slow, opt-in).

    Runs on a frame upscaled so that people of at least ``min_height`` of the image height fit
    the 64x128 window.
    """

    def __init__(self, min_height: float = 0.35, hit_threshold: float = 0.3) -> None:
        self.min_height = min_height
        self.hit_threshold = hit_threshold
        self._local = threading.local()

    def _hog(self) -> cv2.HOGDescriptor:
        hog = getattr(self._local, "hog", None)
        if hog is None:
            hog = cv2.HOGDescriptor()
            hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
            self._local.hog = hog
        return hog

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        k = 128.0 / max(1.0, self.min_height * h)  # a person of min_height fills the window
        img = cv2.resize(rgb, (max(64, int(w * k)), max(128, int(h * k))), interpolation=cv2.INTER_LINEAR)
        rects, weights = self._hog().detectMultiScale(
            img, hitThreshold=self.hit_threshold, winStride=(8, 8), padding=(8, 8), scale=1.1
        )
        dets = [
            Detection((x / k, y / k, bw / k, bh / k), float(1 / (1 + np.exp(-float(s)))), "person")
            for (x, y, bw, bh), s in zip(np.asarray(rects).reshape(-1, 4), np.ravel(weights))
        ]
        return merge_detections(dets, max_iou=0.4)


def person_from_face(face: Detection, width: float, height: float) -> Detection:
    """A conservative body box under a face: about 3 face widths wide, down to 6 face heights."""
    x, y, w, h = face.box
    cx = x + w / 2
    bw = 3.0 * w
    x0 = max(0.0, cx - bw / 2)
    x1 = min(width, cx + bw / 2)
    y0 = max(0.0, y - 0.35 * h)
    y1 = min(height, y + 7.0 * h)
    return Detection((x0, y0, x1 - x0, y1 - y0), face.score * 0.8, "person")


def _merge_rects(rects: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """Union overlapping ``x1, y1, x2, y2`` rectangles until none overlap."""
    rects = list(rects)
    changed = True
    while changed:
        changed = False
        out: list[tuple[float, float, float, float]] = []
        for r in rects:
            for i, o in enumerate(out):
                if r[0] < o[2] and o[0] < r[2] and r[1] < o[3] and o[1] < r[3]:
                    out[i] = (min(r[0], o[0]), min(r[1], o[1]), max(r[2], o[2]), max(r[3], o[3]))
                    changed = True
                    break
            else:
                out.append(r)
        rects = out
    return rects


def _default_cascade_dir() -> str:
    data = getattr(cv2, "data", None)
    path = getattr(data, "haarcascades", None)
    return path or ""


def _load_cascade(folder: str, name: str) -> cv2.CascadeClassifier:
    import os

    path = os.path.join(folder, name)
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():  # a ProcropError: the command line says it in one line
        raise ModelLoadError(
            f"cannot load the Haar cascade {path}: install opencv-python-headless 4.x "
            "(OpenCV 5 no longer ships the cascades) or pass cascade_dir"
        )
    return cascade
