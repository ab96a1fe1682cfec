"""The "analyse this photo" role: load an image, run the detectors, compute the analysis.

:class:`Analyzer` is what every part of procrop uses to look at a photo (the cropper, the neural
predictor, training, weak-label generation, the CLI); :func:`analyze` is the single step from a
loaded image to a :class:`~procrop.perception.analysis.CompositionAnalysis`.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from ..imaging.load import DEFAULT_MAX_PIXELS, ImageSource, LoadedImage, load_image
from .analysis import AnalysisConfig, CompositionAnalysis
from .colour import colour_stats
from .detectors import Detection, Detector, HaarFaceDetector, merge_detections, person_from_face
from .lines import dominant_lines, find_horizon, vanishing_point
from .saliency import edge_map, map_size, normalise, paint_box, saliency_cues
from .subjects import find_subjects


class Analyzer:
    """Loads photos at a working size and analyses their composition. Thread-safe.

    Args:
        config: analysis settings.
        face_detector: defaults to a :class:`~procrop.perception.detectors.HaarFaceDetector`.
        people_detector: optional whole-person detector; people are otherwise extrapolated
            below detected faces.
        analysis_size: long side of the working image.
        max_pixels: refuse images with more pixels (decompression bombs).
    """

    def __init__(
        self,
        config: AnalysisConfig | None = None,
        face_detector: Detector | None = None,
        people_detector: Detector | None = None,
        analysis_size: int = 224,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.config = config or AnalysisConfig()
        self.face_detector = face_detector if face_detector is not None else HaarFaceDetector()
        self.people_detector = people_detector
        self.analysis_size = analysis_size
        self.max_pixels = max_pixels

    def load(self, image: ImageSource | LoadedImage) -> LoadedImage:
        """Load an image at the working size (a :class:`LoadedImage` passes through)."""
        if isinstance(image, LoadedImage):
            return image
        return load_image(image, self.analysis_size, self.max_pixels)

    def analyze(self, image: ImageSource | LoadedImage) -> CompositionAnalysis:
        """Composition analysis of an image (a path, bytes, a Pillow image, an array or a loaded image)."""
        return analyze(self.load(image), self.face_detector, self.people_detector, self.config)


def detect_people_and_faces(
    image: LoadedImage, face_detector: Detector | None, people_detector: Detector | None, detect_faces: bool
) -> tuple[list[Detection], list[Detection]]:
    """Faces and people in original pixels; people are also extrapolated below each face."""
    rgb = image.pixels
    sx, sy = image.width / rgb.shape[1], image.height / rgb.shape[0]  # working -> original
    faces: list[Detection] = []
    people: list[Detection] = []
    if detect_faces:
        detector = face_detector if face_detector is not None else HaarFaceDetector()
        faces = [d.scaled(sx, sy) for d in detector.detect(rgb)]
    if people_detector is not None:
        people = [d.scaled(sx, sy) for d in people_detector.detect(rgb)]
    W, H = image.width, image.height
    people = merge_detections(people + [person_from_face(f, W, H) for f in faces], max_iou=0.5)
    return faces, people


def saliency_map(
    lab: np.ndarray, gray_work: np.ndarray, detections: list[tuple[Detection, float]], size: tuple[int, int],
    config: AnalysisConfig,
) -> np.ndarray:
    """Saliency ``(mh, mw)`` in [0, 1]: the weighted cues, with each detection painted in at its boost.

    ``detections`` pairs boxes in original pixels with their boost; ``size`` is ``(W, H)`` of the
    original.
    """
    mh, mw = lab.shape[:2]
    cues = saliency_cues(lab, gray_work, (mw, mh))
    weights = np.asarray(config.saliency_weights, dtype=np.float32)
    sal = normalise(np.tensordot(weights / weights.sum(), cues, axes=1).astype(np.float32))
    msx, msy = mw / size[0], mh / size[1]
    for d, boost in detections:
        paint_box(sal, d.box, msx, msy, boost * (0.6 + 0.4 * d.score))
    return normalise(sal)


def _centroid(sal: np.ndarray) -> tuple[float, float]:
    """Centre of saliency mass as fractions of the map's width and height."""
    mh, mw = sal.shape
    total = float(sal.sum())
    if total <= 0:
        return (0.5, 0.5)
    ys, xs = np.mgrid[0:mh, 0:mw]
    return (float((sal * (xs + 0.5)).sum() / total / mw), float((sal * (ys + 0.5)).sum() / total / mh))


def analyze(
    image: LoadedImage,
    face_detector: Detector | None = None,
    people_detector: Detector | None = None,
    config: AnalysisConfig | None = None,
) -> CompositionAnalysis:
    """Analyse the composition of a loaded image (see :mod:`procrop.perception.analysis`).

    Args:
        image: from :func:`procrop.imaging.load.load_image`.
        face_detector: defaults to a :class:`~procrop.perception.detectors.HaarFaceDetector`.
        people_detector: optional whole-person detector.
        config: analysis settings.
    """
    config = config or AnalysisConfig()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    rgb = image.pixels
    W, H = image.width, image.height
    sx, sy = W / rgb.shape[1], H / rgb.shape[0]
    faces, people = detect_people_and_faces(image, face_detector, people_detector, config.detect_faces)
    t1 = time.perf_counter()
    timings["faces"] = (t1 - t0) * 1e3

    mw, mh = map_size(W, H, config.map_side)
    small = cv2.resize(rgb, (mw, mh), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    gray_work = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    boosts = [(f, config.face_boost) for f in faces] + [(p, config.person_boost) for p in people]
    sal = saliency_map(lab, gray_work, boosts, (W, H), config)
    edges = edge_map(lab[:, :, 0])
    t2 = time.perf_counter()
    timings["saliency"] = (t2 - t1) * 1e3

    lines = dominant_lines(gray_work, sx, sy, config.max_lines, config.lines_side)
    vp = vanishing_point(lines, W, H)
    horizon = find_horizon(lab, lines, W, H)
    t3 = time.perf_counter()
    timings["lines"] = (t3 - t2) * 1e3

    subjects = find_subjects(sal, small, faces, W, H)
    colour = colour_stats(small, lab)
    centroid = _centroid(sal)
    timings["regions"] = (time.perf_counter() - t3) * 1e3
    return CompositionAnalysis(
        width=W, height=H, saliency=sal, edges=edges, faces=faces, people=people, subjects=subjects,
        lines=lines, vanishing_point=vp, horizon=horizon, colour=colour, centroid=centroid, lab=lab,
        timings=timings,
    )
