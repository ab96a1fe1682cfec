"""The "analyse this photo" role: load an image, run the detectors, compute the analysis.

:class:`Analyzer` is what every part of procrop uses to look at a photo (the cropper, the neural
predictor, training, weak-label generation, the CLI); :func:`analyze` is the single step from a
loaded image to a :class:`~procrop.perception.analysis.CompositionAnalysis`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from ..errors import UsageError
from ..imaging.load import DEFAULT_MAX_PIXELS, ImageSource, LoadedImage, load_image
from .analysis import AnalysisConfig, CompositionAnalysis, importance
from .colour import colour_stats
from .borders import content_box
from .cat_faces import CatFaceFinder, mark_cat_faces
from .detectors import Detection, Detector, HaarFaceDetector, merge_detections, person_from_face
from .lines import find_horizon, lines_inside, vanishing_point
from .naming import animal_names, region_names
from .backdrop import studio_backdrop
from .saliency import edge_map, map_size, normalise, paint_box, saliency_cues
from .salient import HEAD_ONNX, SalientHead, mask_subjects
from .subjects import find_subjects

if TYPE_CHECKING:
    from .pose import PoseEstimator


#: Perception profiles: ``default`` runs the pretrained detectors (YuNet faces, YOLOX-nano people,
#: animals and objects) on a 416-px copy; ``fast`` only YuNet, on the working image, and no object
#: detector. Both take the saliency and the subjects from the salient-object head when the learned
#: scorer's backbone runs. (``fast`` ran OpenCV's Haar cascades until 2026-12-05: YuNet, hidden
#: behind the backbone like them, cut 8 faces of 272 avoidable BSDS500 cases where they cut 20.)
PROFILES = ("default", "fast")

#: Long side of the copy the neural detectors look at (YOLOX-nano's input is 416 px).
DETAIL_SIDE = 416

#: One background thread per process finds faces while the object detector runs, then runs the
#: salient-object head as soon as the backbone is done, beside the lines (all release the GIL; on two
#: cores the slower one alone sets the time). Results do not depend on it.
_FACES = ThreadPoolExecutor(max_workers=1, thread_name_prefix="procrop-faces")
_CAT_FACES = CatFaceFinder()


class Analyzer:
    """Loads photos at a working size and analyses their composition. Thread-safe.

    Args:
        config: analysis settings.
        face_detector: default: YuNet (both profiles; :class:`~.detectors.HaarFaceDetector` is the
            classical alternative).
        people_detector: optional extra whole-person detector (people are also found by the
            object detector, and extrapolated below faces no detected person holds).
        analysis_size: long side of the working image.
        max_pixels: refuse images with more pixels (decompression bombs).
        profile: ``"default"`` or ``"fast"`` (see :data:`PROFILES`).
        object_detector: default: YOLOX-nano with profile ``default``, none with ``fast``.
        pose: body keypoints for detected people (MoveNet, extra ``procrop[pose]``), so that
            crops cut people between joints by where the joints really are rather than by the
            proportions of a standing figure. Off by default.
        salient_head: the salient-object head that turns backbone maps handed to
            :meth:`analyze` into the saliency map and subject masks (default: the shipped one;
            none, so the hand cues, in a source tree where it is not built). Both profiles use
            it: the backbone runs for the learned scorer anyway, and without it ``--fast`` cut
            salient objects in 118 of 424 avoidable held-out cases instead of 69.
    """

    def __init__(
        self,
        config: AnalysisConfig | None = None,
        face_detector: Detector | None = None,
        people_detector: Detector | None = None,
        analysis_size: int = 224,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        *,
        profile: str = "default",
        object_detector: Detector | None = None,
        pose: bool = False,
        salient_head: SalientHead | None = None,
    ) -> None:
        if profile not in PROFILES:
            raise UsageError(f"unknown perception profile {profile!r}; use one of {', '.join(PROFILES)}")
        neural = profile == "default"
        if face_detector is None:
            from .faces import YuNetFaceDetector

            face_detector = YuNetFaceDetector()
        if object_detector is None and neural:
            from .objects import YoloxObjectDetector

            object_detector = YoloxObjectDetector()
        self.config = config or AnalysisConfig()
        self.profile = profile
        self.face_detector = face_detector
        self.people_detector = people_detector
        self.object_detector = object_detector
        self.analysis_size = analysis_size
        self.max_pixels = max_pixels
        self.detail_side = DETAIL_SIDE if neural else 0
        if salient_head is None and HEAD_ONNX.exists():
            salient_head = SalientHead()
        self.salient_head = salient_head
        self.pose_estimator = None
        if pose:
            from .pose import PoseEstimator

            self.pose_estimator = PoseEstimator(backend="litert")

    def load(self, image: ImageSource | LoadedImage) -> LoadedImage:
        """Load an image at the working size (a :class:`LoadedImage` passes through)."""
        if isinstance(image, LoadedImage):
            return image
        return load_image(image, self.analysis_size, self.max_pixels, detail_side=self.detail_side)

    def analyze(self, image: ImageSource | LoadedImage, backbone: Any = None) -> CompositionAnalysis:
        """Composition analysis of an image (a path, bytes, a Pillow image, an array or a loaded image).

        ``backbone``: the learned scorer's backbone maps of this photo (or a future of them, as
        :meth:`procrop.scoring.terms.learned.LearnedTerm.prefetch` starts): the saliency and the
        subjects then come from the salient-object head.
        """
        head = self.salient_head if backbone is not None else None
        return analyze(
            self.load(image), self.face_detector, self.people_detector, self.config, self.object_detector,
            self.pose_estimator, backbone=backbone, salient_head=head,
        )


#: Faces scoring this much, under the face detector's own threshold, still mark an animal's head.
ANIMAL_FACE_FLOOR = 0.3
#: A face that no person the object detector found holds is kept only from this score (YuNet's own
#: threshold is 0.6): on the 517 pool and 300 BSDS500 photos, 13 of the 15 such faces under it were a
#: clog, lanterns, bottles, a jellyfish, grass, a net, a koala's ear, a fish (the other two: a diver's
#: masked face, a distant pilot); the 2 above it were real.
UNHELD_FACE_SCORE = 0.8


def _faces_and_weak(detector: Detector, rgb: np.ndarray) -> tuple[list[Detection], list[Detection]]:
    """The detector's faces, and (YuNet) the weaker ones down to :data:`ANIMAL_FACE_FLOOR`, in the
    pixels of ``rgb``."""
    with_weak = getattr(detector, "detect_with_weak", None)
    return with_weak(rgb, ANIMAL_FACE_FLOOR) if with_weak is not None else (detector.detect(rgb), [])


def _with_head(animal: Detection, heads: list[Detection]) -> Detection:
    """``animal`` with a ``"head"`` keypoint at the centre of the surest face found on it, if any."""
    on = [f for f in heads if _holds(animal, f)]
    if not on:
        return animal
    f = max(on, key=lambda d: d.score)
    head = ("head", f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2, f.score)
    return replace(animal, keypoints=(*animal.keypoints, head))


def _holds(outer: Detection, inner: Detection) -> bool:
    """Whether most of ``inner``'s box lies inside ``outer``'s."""
    ox, oy, ow, oh = outer.box
    ix, iy, iw, ih = inner.box
    w = max(0.0, min(ox + ow, ix + iw) - max(ox, ix))
    h = max(0.0, min(oy + oh, iy + ih) - max(oy, iy))
    return w * h >= 0.6 * iw * ih


def detect_subjects(
    image: LoadedImage,
    face_detector: Detector | None,
    people_detector: Detector | None,
    object_detector: Detector | None,
    config: AnalysisConfig,
    pose_estimator: PoseEstimator | None = None,
) -> tuple[list[Detection], list[Detection], list[Detection]]:
    """Faces, people and other objects (animals first) in original pixels.

    Detectors look at :attr:`LoadedImage.detection_pixels`. A face that no detected person holds
    gets a person extrapolated below it.
    """
    rgb = image.detection_pixels
    W, H = image.width, image.height
    sx, sy = W / rgb.shape[1], H / rgb.shape[0]  # detection pixels -> original
    faces: list[Detection] = []
    people: list[Detection] = []
    objects: list[Detection] = []
    found_faces, weak = None, []
    if config.detect_faces:
        detector = face_detector if face_detector is not None else HaarFaceDetector()
        if object_detector is not None:  # faces beside the (slower) object detector
            found_faces = _FACES.submit(_faces_and_weak, detector, rgb)
        else:
            faces, weak = _faces_and_weak(detector, rgb)
    if people_detector is not None:
        people = [d.scaled(sx, sy) for d in people_detector.detect(rgb)]
    if object_detector is not None:
        min_area = config.min_object_area * W * H
        found = object_detector.detect(rgb)
        if pose_estimator is not None:
            found = pose_estimator.annotate(rgb, found)
        for d in found:
            d = d.scaled(sx, sy)
            if d.kind == "person":
                people.append(d)
            elif d.score >= config.min_object_score and d.box[2] * d.box[3] >= min_area:
                objects.append(d)
    if found_faces is not None:
        faces, weak = found_faces.result()
    faces = [d.scaled(sx, sy) for d in faces]
    detected = [p for p in people if p.label == "person"]
    animals = [o for o in objects if o.kind == "animal"]
    # a "face" on an animal that no person holds is the animal's head (horses, lambs, dogs), as is a
    # weaker one (a bear's face at 0.59): it marks the animal's "head" keypoint instead (protection
    # keeps it when the animal cannot fit)
    candidates = faces + [d.scaled(sx, sy) for d in weak]
    heads = [f for f in candidates
             if any(_holds(a, f) for a in animals) and not any(_holds(p, f) for p in detected)]
    faces = [f for f in faces if f not in heads]
    if object_detector is not None:  # a face no person holds must be sure of itself: clogs, lanterns, bottles
        faces = [f for f in faces if f.score >= UNHELD_FACE_SCORE or any(_holds(p, f) for p in detected)]
    objects = [_with_head(o, heads) if o.kind == "animal" else o for o in objects]
    if config.detect_faces:  # a cat's face where none was found (a kitten's, filling the frame)
        objects = mark_cat_faces(objects, rgb, sx, sy, _CAT_FACES)
    guessed = [person_from_face(f, W, H) for f in faces if not any(_holds(p, f) for p in detected)]
    people = merge_detections(people + guessed, max_iou=0.5)
    return faces, people, objects


def saliency_map(
    lab: np.ndarray, gray_work: np.ndarray, detections: list[tuple[Detection, float]], size: tuple[int, int],
    config: AnalysisConfig, base: np.ndarray | None = None,
) -> np.ndarray:
    """Saliency ``(mh, mw)`` in [0, 1]: the weighted cues (``base``, when already computed by
    :func:`cue_saliency`), with each detection painted in at its boost, scaled by its confidence.

    ``detections`` pairs boxes in original pixels with their boost; ``size`` is ``(W, H)`` of the
    original.
    """
    mh, mw = lab.shape[:2]
    sal = (cue_saliency(lab, gray_work, config) if base is None else base).copy()
    msx, msy = mw / size[0], mh / size[1]
    for d, boost in detections:
        paint_box(sal, d.box, msx, msy, boost * (0.6 + 0.4 * d.score))
    return normalise(sal)


def cue_saliency(lab: np.ndarray, gray_work: np.ndarray, config: AnalysisConfig) -> np.ndarray:
    """The photo's own saliency ``(mh, mw)`` in [0, 1]: the weighted cues, no detection painted in."""
    mh, mw = lab.shape[:2]
    cues = saliency_cues(lab, gray_work, (mw, mh))
    weights = np.asarray(config.saliency_weights, dtype=np.float32)
    return normalise(np.tensordot(weights / weights.sum(), cues, axes=1).astype(np.float32))


def with_support(objects: list[Detection], base: np.ndarray, size: tuple[int, int]) -> list[Detection]:
    """``objects`` with :attr:`~.detectors.Detection.support` measured on the cue saliency
    ``base``: the mean inside each box over the map's mean."""
    mh, mw = base.shape
    mean = float(base.mean()) or 1.0
    out = []
    for d in objects:
        x, y, w, h = d.box
        x0, x1 = int(x * mw / size[0]), max(int(x * mw / size[0]) + 1, int(np.ceil((x + w) * mw / size[0])))
        y0, y1 = int(y * mh / size[1]), max(int(y * mh / size[1]) + 1, int(np.ceil((y + h) * mh / size[1])))
        inside = base[y0:y1, x0:x1]
        out.append(replace(d, support=round(float(inside.mean()) / mean, 3) if inside.size else 1.0))
    return out


def _centroid(sal: np.ndarray) -> tuple[float, float]:
    """Centre of saliency mass as fractions of the map's width and height."""
    mh, mw = sal.shape
    total = float(sal.sum())
    if total <= 0:
        return (0.5, 0.5)
    ys, xs = np.mgrid[0:mh, 0:mw]
    return (float((sal * (xs + 0.5)).sum() / total / mw), float((sal * (ys + 0.5)).sum() / total / mh))


def _head_map(head: SalientHead, backbone: Any, size: tuple[int, int]) -> tuple[Any, np.ndarray]:
    """The backbone's maps (``backbone`` or the future of them) and the salient-object head's map of
    ``size`` from them."""
    maps = backbone.result() if hasattr(backbone, "result") else backbone
    return maps, head(maps, size)


def analyze(
    image: LoadedImage,
    face_detector: Detector | None = None,
    people_detector: Detector | None = None,
    config: AnalysisConfig | None = None,
    object_detector: Detector | None = None,
    pose_estimator: PoseEstimator | None = None,
    *,
    backbone: Any = None,
    salient_head: SalientHead | None = None,
) -> CompositionAnalysis:
    """Analyse the composition of a loaded image (see :mod:`procrop.perception.analysis`).

    Args:
        image: from :func:`procrop.imaging.load.load_image`.
        face_detector: defaults to a :class:`~procrop.perception.detectors.HaarFaceDetector`.
        people_detector: optional whole-person detector.
        config: analysis settings.
        object_detector: optional detector of people, animals and objects (COCO classes).
        pose_estimator: optional body keypoints for the people the object detector found.
        backbone: backbone maps (``c3``, ``c4``, ``c5``), or a future of them; with
            ``salient_head`` the saliency map is the head's, faces painted in, and the subjects
            are its masks (:func:`~procrop.perception.salient.mask_subjects`).
        salient_head: the salient-object head.
    """
    config = config or AnalysisConfig()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    rgb = image.pixels
    W, H = image.width, image.height
    sx, sy = W / rgb.shape[1], H / rgb.shape[0]
    faces, people, objects = detect_subjects(
        image, face_detector, people_detector, object_detector, config, pose_estimator
    )
    t1 = time.perf_counter()
    timings["faces"] = (t1 - t0) * 1e3

    mw, mh = map_size(W, H, config.map_side)
    use_head = salient_head is not None and backbone is not None
    # the head in the faces' thread as soon as the backbone is done, beside the lines (both release the GIL)
    head_job = _FACES.submit(_head_map, salient_head, backbone, (mw, mh)) if use_head else None
    small = cv2.resize(rgb, (mw, mh), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    gray_work = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # lines first: they need no saliency, and the backbone keeps running in the background meanwhile
    backdrop = studio_backdrop(lab)
    # a studio backdrop's white round a tall product is not letterbox bars (a trial's parrot lost its head)
    content = content_box(image.border_pixels, W, H) if backdrop is None else (0, 0, W, H)
    lines = lines_inside(gray_work, content, sx, sy, config.max_lines, config.lines_side)
    vp = vanishing_point(lines, W, H)
    horizon = find_horizon(lab, lines, W, H)
    edges = edge_map(lab[:, :, 0])  # these two need no saliency either: done while the backbone runs
    colour = colour_stats(small, lab)
    t2 = time.perf_counter()
    timings["lines"] = (t2 - t1) * 1e3  # with the edge map and the colour statistics

    if head_job is not None:
        th = time.perf_counter()
        maps, base = head_job.result()
        timings["head"] = (time.perf_counter() - th) * 1e3  # waiting for the backbone and the head
    else:
        base = cue_saliency(lab, gray_work, config)
    objects = sorted(with_support(objects, base, (W, H)), key=importance)  # animals first, surest first
    if use_head:  # the head already sees people and objects: only faces are painted in
        sal = base.copy()
        for f in faces:
            paint_box(sal, f.box, mw / W, mh / H, config.face_boost * (0.6 + 0.4 * f.score))
        sal = np.clip(sal, 0.0, 1.0)
    else:
        boosts = [(f, config.face_boost) for f in faces] + [(p, config.person_boost) for p in people]
        boosts += [(o, config.animal_boost if o.kind == "animal" else config.object_boost) for o in objects]
        sal = saliency_map(lab, gray_work, boosts, (W, H), config, base)
    t3 = time.perf_counter()
    timings["saliency"] = (t3 - t2) * 1e3

    if use_head:
        named = sorted([p for p in people if p.label == "person"] + objects, key=importance)
        subjects = mask_subjects(base, small, faces, named, W, H, image.detection_pixels)
    else:
        subjects = find_subjects(sal, small, faces, W, H, image.detection_pixels)
    centroid = _centroid(sal)
    timings["regions"] = (time.perf_counter() - t3) * 1e3
    names = animal_names(maps.c5[0], objects + people, W, H) if use_head else ()  # + unsure "people"
    regions_named = region_names(maps.c5[0], subjects, W, H) if use_head else ()
    return CompositionAnalysis(
        width=W, height=H, saliency=sal, edges=edges, faces=faces, people=people, subjects=subjects,
        lines=lines, vanishing_point=vp, horizon=horizon, colour=colour, centroid=centroid, lab=lab,
        timings=timings, objects=objects, saliency_source="head" if use_head else "cues",
        content=content, animal_names=names, region_names=regions_named, backdrop=backdrop,
    )
