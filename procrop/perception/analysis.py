"""What a composition analysis holds: :class:`CompositionAnalysis` and its parts, and its settings.

:func:`procrop.perception.analyzer.analyze` turns a loaded image into a :class:`CompositionAnalysis`:

* a **saliency map** combining spectral residual (Hou and Zhang 2007), frequency-tuned colour
  contrast (Achanta et al. 2009), multi-scale centre-surround colour contrast, a sharpness cue
  (subjects in focus against a soft background) and the detected faces and people;
* **faces** (and the people under them) from a pluggable :class:`~procrop.perception.detectors.Detector`;
* **subjects**: the salient regions, main subject first;
* **dominant lines** (Canny + probabilistic Hough), their **vanishing point**, and the **horizon**
  (a long near-level line or the strongest sky/ground transition of the row profile);
* **colour and contrast** statistics.

The maps live at a small "map" resolution (``map_side`` on the long side); every box, point and
line in the result is in pixels of the oriented original image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..geometry import has_border, inside_fractions
from .detectors import Detection


#: A detection at least this sure is named by its class in descriptions, and outranks every less
#: sure detection of its kind as a subject to keep.
CONFIDENT = 0.7

_KIND_RANK = {"person": 0, "animal": 1, "object": 2}


def importance(d: Detection) -> tuple[int, bool, float]:
    """Sort key of a detected subject, most important first: people, animals, then objects;
    within each, confident ones (:data:`CONFIDENT`) first, then by area times score times the
    photo's saliency support (capped at 2), so that a weak box on an empty branch cannot outrank
    the bird beside it."""
    weight = d.box[2] * d.box[3] * d.score * min(d.support, 2.0)
    return _KIND_RANK.get(d.kind, 3), d.score < CONFIDENT, -weight


@dataclass(frozen=True)
class Line:
    """A straight segment ``(x1, y1) -> (x2, y2)`` in original pixels.

    ``angle`` is in degrees in ``(-90, 90]``: 0 is level, 90 vertical, positive rises to the right.
    """

    x1: float
    y1: float
    x2: float
    y2: float
    length: float
    angle: float

    @property
    def orientation(self) -> str:
        a = abs(self.angle)
        if a <= 12:
            return "horizontal"
        if a >= 78:
            return "vertical"
        return "diagonal"


@dataclass(frozen=True)
class Horizon:
    """A horizon (or another dominant level divide) across the frame.

    ``y_left`` and ``y_right`` are its heights at the left and right edges, in original pixels;
    ``angle`` is its tilt in degrees (positive rises to the right); ``confidence`` is in [0, 1].
    """

    y_left: float
    y_right: float
    angle: float
    confidence: float
    source: str

    def y_at(self, x: float, width: float) -> float:
        """Height of the horizon at column ``x``."""
        t = x / max(width, 1e-9)
        return self.y_left + t * (self.y_right - self.y_left)


#: A detection (or a region named after one) of one of :data:`WORN` is worn by a person when its box
#: lies :data:`WORN_INSIDE` inside the person's and is at most :data:`WORN_AREA` of it (a trial read
#: "The main subject, a small blue tie" under a portrait, and a square of it kept the tie whole or
#: out: the face sat on the lower thirds line). A thing held (a cup, a phone) stays a subject.
WORN = frozenset({"tie", "backpack", "handbag"})
WORN_INSIDE, WORN_AREA = 0.8, 0.25


def worn_by(thing: Detection | Region, people: list[tuple[float, float, float, float]]) -> bool:
    """Whether ``thing`` (its ``label`` and ``box``) is worn by one of ``people`` (``xywh`` boxes):
    see :data:`WORN`."""
    if thing.label not in WORN or not people:
        return False
    boxes = np.asarray(people, dtype=np.float64)
    inside = inside_fractions(boxes, [thing.box])[0]  # the share of the thing in each person's box
    small = thing.box[2] * thing.box[3] <= WORN_AREA * boxes[:, 2] * boxes[:, 3]
    return bool(((inside >= WORN_INSIDE) & small).any())


@dataclass(frozen=True)
class Region:
    """A subject: a salient blob, a face or a person.

    ``box`` is ``(x, y, w, h)`` and ``centroid`` ``(x, y)`` in original pixels; ``mass`` is its
    share of the image's total saliency; ``kind`` is ``"face"``, ``"person"`` or ``"salient"``;
    ``colour`` names its dominant colour on the saliency map's cells (``""`` when unknown: the
    learned scorer's words), ``standout_colour`` the colour that sets it apart from what surrounds
    it on the analysed pixels where ``colour`` is its background's (a red ladybird on a green stem;
    what a reader is told: :func:`procrop.perception.colour.standout_colour_name`), ``""`` where no
    colour stands out or ``colour`` does itself. From the salient-object head
    (:mod:`procrop.perception.salient`), a salient region also has its extent, ``mask`` (a bool
    map at the saliency map's resolution, ``(mh, mw)``), and ``label``, the class of the detection
    that overlaps it (``"person"``, ``"dog"``...; ``""`` when none does).
    """

    box: tuple[float, float, float, float]
    centroid: tuple[float, float]
    mass: float
    kind: str
    colour: str = ""
    label: str = ""
    mask: np.ndarray | None = field(default=None, compare=False, repr=False)
    standout_colour: str = ""


@dataclass(frozen=True)
class ColourStats:
    """Global colour and tone: every value in [0, 1] except ``warmth`` in [-1, 1] (cool..warm)."""

    brightness: float
    contrast: float
    saturation: float
    colourfulness: float
    warmth: float
    dominant: tuple[str, ...]


@dataclass
class CompositionAnalysis:
    """Everything later stages need to know about a photo's composition.

    Attributes:
        width, height: size of the oriented original (the frame of every coordinate here).
        saliency: ``(mh, mw)`` float32 map in [0, 1] at map resolution: on the default path (a
            backbone handed to :func:`~procrop.perception.analyzer.analyze`) the salient-object
            head's probability that each cell belongs to a salient object, with faces painted in;
            otherwise (the classic scorer, which runs no backbone) the hand-made cues with detections
            painted in.
        saliency_source: ``"head"`` or ``"cues"``: which of the two made :attr:`saliency`.
        edges: ``(mh, mw)`` float32 gradient magnitude in [0, 1] at map resolution.
        faces: detected faces, original pixels.
        people: people (detected, or extrapolated below faces), original pixels. Detected ones
            have ``label == "person"`` (and body keypoints when a pose estimator ran).
        subjects: faces, then salient regions, main subject first; with the head each salient
            region has its ``mask`` and the ``label`` of the detection overlapping it
            (:attr:`subject_masks` stacks the masks).
        lines: dominant straight lines, longest first.
        vanishing_point: where the diagonal lines converge, if they do, or ``None``.
        horizon: the horizon, or ``None`` when there is no clear one.
        colour: colour and tone statistics.
        centroid: centre of saliency mass, as fractions ``(x/W, y/H)``.
        lab: ``(mh, mw, 3)`` float32 CIELAB image at map resolution (OpenCV's 8-bit scaling).
        timings: milliseconds spent per step.
        objects: animals and other objects found by the object detector (``kind`` ``"animal"``
            or ``"object"``, ``label`` the class name), original pixels.
        animal_names: ``(box, name)`` of the animal detections the backbone's ImageNet classifier
            names surely (:mod:`procrop.perception.naming`: "tiger" for a detector's "zebra"); the
            description's words, nothing else.
        region_names: ``(box, word)`` of the salient regions no detection names that the same
            classifier names surely (:func:`~procrop.perception.naming.region_names`: "lighthouse",
            "flower", "tiger"); words too.
        content: the picture inside a scan border or bars (:mod:`procrop.perception.borders`),
            ``(x, y, w, h)``; crops stay inside it (``None``: the whole frame).
        backdrop: ``(mh, mw)`` bool mask of the plain light ground of a subject on a studio
            backdrop (:mod:`procrop.perception.backdrop`; ``None``: not such a photo).
    """

    width: int
    height: int
    saliency: np.ndarray
    edges: np.ndarray
    faces: list[Detection]
    people: list[Detection]
    subjects: list[Region]
    lines: list[Line]
    vanishing_point: tuple[float, float] | None
    horizon: Horizon | None
    colour: ColourStats
    centroid: tuple[float, float]
    lab: np.ndarray | None = field(default=None, repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    objects: list[Detection] = field(default_factory=list)
    saliency_source: str = "cues"
    content: tuple[int, int, int, int] | None = None
    animal_names: tuple[tuple[tuple[float, float, float, float], str], ...] = ()
    region_names: tuple[tuple[tuple[float, float, float, float], str], ...] = ()
    backdrop: np.ndarray | None = field(default=None, repr=False)

    @property
    def backbone_names(self) -> bool:
        """Whether the backbone's classifier named an animal or a region: the description then
        has words the learned scorer's text (``describe(..., animal_words=False)``) lacks."""
        return bool(self.animal_names or self.region_names)

    def is_worn(self, thing: Detection | Region) -> bool:
        """Whether a confidently detected person wears ``thing`` (:func:`worn_by`: a tie, a
        backpack): a part of that person, which protection keeps or cuts with the person."""
        return worn_by(thing, [p.box for p in self.people if p.label == "person" and p.score >= CONFIDENT])

    @property
    def subjects_to_keep(self) -> list[Detection]:
        """Detected people, animals and objects that a crop should not cut, most important first
        (:func:`importance`: a weak detection never outranks a confident one of its kind)."""
        found = [p for p in self.people if p.label == "person"] + list(self.objects)
        return sorted(found, key=importance)

    @property
    def map_scale(self) -> tuple[float, float]:
        """Map pixels per original pixel, ``(sx, sy)``."""
        mh, mw = self.saliency.shape
        return mw / self.width, mh / self.height

    @property
    def subject_masks(self) -> np.ndarray:
        """``(len(subjects), mh, mw)`` bool: each subject's extent at the saliency map's resolution,
        in the order of :attr:`subjects` (a region without a mask, a face or a hand-cue blob, is
        its box). The salient-object head's masks on the default path; the feature other scorers read."""
        mh, mw = self.saliency.shape
        out = np.zeros((len(self.subjects), mh, mw), dtype=bool)
        sx, sy = mw / self.width, mh / self.height
        for i, s in enumerate(self.subjects):
            if s.mask is not None and s.mask.shape == (mh, mw):
                out[i] = s.mask
            else:
                x, y, w, h = s.box
                x0, y0 = int(max(0, np.floor(x * sx))), int(max(0, np.floor(y * sy)))
                out[i, y0:max(y0 + 1, int(np.ceil((y + h) * sy))), x0:max(x0 + 1, int(np.ceil((x + w) * sx)))] = True
        return out

    @property
    def main_subject(self) -> Region | None:
        return self.subjects[0] if self.subjects else None

    @property
    def compact_subjects(self) -> list[Region]:
        """Salient regions that are objects rather than structure: a salient band spanning the
        frame (a horizon, a shoreline) is left out (less than 80 % of the width and height)."""
        return [
            s for s in self.subjects
            if s.kind == "salient" and s.box[2] < 0.8 * self.width and s.box[3] < 0.8 * self.height
        ]

    @property
    def bands(self) -> list[Region]:
        """Salient regions spanning (almost) the whole width or height of the frame."""
        compact = self.compact_subjects
        return [s for s in self.subjects if s.kind == "salient" and s not in compact]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (maps left out). ``objects`` appears when the object detector
        found any (an animal the backbone names surely has its ``"name"`` beside the detector's
        ``"label"``, and so does a salient subject it names); a person the detector found (rather
        than one extrapolated below a face) has ``"detected": true``; a subject on a studio backdrop
        has ``"backdrop": "plain light"``."""
        d = self._summary()
        words = dict(self.region_names)
        for s, sd in zip(self.subjects, d["subjects"]):
            if s.kind == "salient" and not s.label and s.box in words:
                sd["name"] = words[s.box]
        if has_border(self.content, self.width, self.height):
            d["content"] = [int(v) for v in self.content]  # inside a scan border or bars
        if self.backdrop is not None:
            d["backdrop"] = "plain light"  # a subject on a studio backdrop: framed, not kept on it
        if self.objects:
            names = dict(self.animal_names)
            d["objects"] = [
                {"box": [round(float(v), 2) for v in o.box], "score": round(o.score, 3), "kind": o.kind,
                 "label": o.label, **({"name": names[o.box]} if o.box in names else {})}
                for o in self.objects
            ]
        return d

    def _summary(self) -> dict[str, Any]:

        def r(v: float) -> float:
            return round(float(v), 2)

        return {
            "faces": [
                {"box": [r(v) for v in f.box], "score": round(f.score, 3), "kind": f.kind}
                for f in self.faces
            ],
            "people": [_person_dict(p) for p in self.people],
            "subjects": [
                {
                    "box": [r(v) for v in s.box],
                    "centroid": [r(v) for v in s.centroid],
                    "mass": round(s.mass, 3),
                    "kind": s.kind,
                    **({"label": s.label} if s.label else {}),
                }
                for s in self.subjects
            ],
            "lines": [
                {"points": [r(ln.x1), r(ln.y1), r(ln.x2), r(ln.y2)], "angle": r(ln.angle)}
                for ln in self.lines
            ],
            "vanishing_point": None
            if self.vanishing_point is None
            else [r(v) for v in self.vanishing_point],
            "horizon": None
            if self.horizon is None
            else {
                "y_left": r(self.horizon.y_left),
                "y_right": r(self.horizon.y_right),
                "angle": r(self.horizon.angle),
                "confidence": round(self.horizon.confidence, 3),
                "source": self.horizon.source,
            },
            "colour": {
                "brightness": round(self.colour.brightness, 3),
                "contrast": round(self.colour.contrast, 3),
                "saturation": round(self.colour.saturation, 3),
                "colourfulness": round(self.colour.colourfulness, 3),
                "warmth": round(self.colour.warmth, 3),
                "dominant": list(self.colour.dominant),
            },
            "centroid": [round(v, 3) for v in self.centroid],
        }


@dataclass(frozen=True)
class AnalysisConfig:
    """Knobs of :func:`analyze`.

    Attributes:
        map_side: long side of the saliency/edge maps used for scoring.
        saliency_weights: mix of the saliency cues (spectral, frequency-tuned, centre-surround,
            sharpness).
        face_boost, person_boost, animal_boost, object_boost: saliency given to the boxes of
            faces, people, animals and other objects.
        min_object_score, min_object_area: animals and objects below this detector score or
            share of the image's area are ignored.
        detect_faces: run the face detector.
        max_lines: how many dominant lines to keep.
        lines_side: long side of the image the line detector runs on.
    """

    map_side: int = 96
    saliency_weights: tuple[float, float, float, float] = (0.25, 0.25, 0.3, 0.2)
    face_boost: float = 1.0
    person_boost: float = 0.45
    animal_boost: float = 0.8
    object_boost: float = 0.35
    min_object_score: float = 0.45
    min_object_area: float = 0.004
    detect_faces: bool = True
    max_lines: int = 12
    lines_side: int = 160




def _person_dict(p: Detection) -> dict[str, Any]:
    """A person as the JSON output lists it."""
    d: dict[str, Any] = {"box": [round(float(v), 2) for v in p.box], "score": round(p.score, 3)}
    if p.label == "person":
        d["detected"] = True
    if p.keypoints:  # --pose: the body points that place the joints a crop must not cut
        d["keypoints"] = {n: [round(float(x), 1), round(float(y), 1), round(float(s), 3)]
                          for n, x, y, s in p.keypoints}
    return d
