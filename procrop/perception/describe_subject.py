"""What a salient region is, for :func:`procrop.perception.describe.describe`: the detections that
name it, whether it is only a part of one, and where it sits and how large it is.

A region from the salient-object head has a mask; a detection is measured against it two ways:
how much of the mask its box *holds* and how much of its box the mask *covers*. The region is
named by the detections it covers (each at least :data:`COVERED` of its box and holding at least
:data:`MIN_HOLD` of the mask) when together they hold at least :data:`MASK_NAMED` of the mask
(a rider and her horse, two people side by side), else by the one detection holding most of it
(at least :data:`MASK_NAMED`: a collar in a portrait, a part of the person). A detected person
holding at least :data:`PERSON_HOLD` of the mask, or a face in it, makes the region a person
even when less of it is (a person region is never named by its colour). Anything else is
unnamed: the description gives its size, place and colour, never a class that does not cover it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .analysis import CompositionAnalysis, Region, importance
from .detectors import Detection

#: A detection names a salient region with a mask when its box holds this share of the mask, and
#: the detections in a region name it when their boxes together do (a flower a confident "vase"
#: box holds a quarter of stays a flower, told by size, place and colour).
MASK_NAMED = 0.5
#: A detection is in a region when the mask covers this share of its box and its box holds at
#: least :data:`MIN_HOLD` of the mask (a 20-pixel hiker on a dune does not make the dune a person).
COVERED = 0.25
MIN_HOLD = 0.05
#: A detected person whose box holds this share of a region's mask makes the region a person.
PERSON_HOLD = 0.25
#: A face whose box holds this share of a region (its centre in the mask) makes it a person, or
#: the face itself when the region is at most :data:`FACE_SIZED` times the face's area.
FACE_HOLD = 0.1
FACE_SIZED = 2.5
#: A salient region smaller than this share of the detection it lies in is called a part of it
#: ("a small part of the bird"), not the detection itself, unless it spans at least
#: :data:`WHOLE_SPAN` of the detection's width and height (a slim heron's body in the box its
#: neck and legs widen is the heron).
PART_OF = 0.5
WHOLE_SPAN = 0.6
#: A region spanning the frame is a band (sea, a tree line) only when it reaches this close to
#: both edges it spans, as a share of the frame; a lone tree's crown 80 % wide is a subject.
BAND_EDGE = 0.05


@dataclass(frozen=True)
class Subject:
    """A salient region and what it is.

    Attributes:
        region: the region.
        members: the detections that name it, most important first (empty: unnamed).
        part: the region is only a part of its one member (:func:`is_part`), or a face.
        share, u, v: its share of the frame and its centre as fractions of the width and height,
            from the mask inside the members' boxes (a bird merged with its branch is the bird).
    """

    region: Region
    members: tuple[Detection, ...]
    part: bool
    share: float
    u: float
    v: float


def point_in(x: float, y: float, box: tuple[float, float, float, float]) -> bool:
    """Whether the point ``(x, y)`` lies in ``box`` ``(x, y, w, h)``, edges included."""
    return box[0] <= x <= box[0] + box[2] and box[1] <= y <= box[1] + box[3]


def is_part(s: Region, d: Detection) -> bool:
    """Whether salient region ``s`` is only a part of detection ``d`` (a collar, a hand, a tie)."""
    dw, dh = max(d.box[2], 1e-9), max(d.box[3], 1e-9)
    if s.box[2] * s.box[3] >= PART_OF * dw * dh:
        return False
    return not (s.box[2] >= WHOLE_SPAN * dw and s.box[3] >= WHOLE_SPAN * dh)


def _cells(a: CompositionAnalysis, box: tuple[float, float, float, float], shape: tuple[int, ...]
           ) -> tuple[slice, slice]:
    """The map cells a box in original pixels overlaps."""
    mh, mw = shape[0], shape[1]
    x, y, w, h = box
    return (slice(max(0, int(y * mh / a.height)), int(np.ceil((y + h) * mh / a.height))),
            slice(max(0, int(x * mw / a.width)), int(np.ceil((x + w) * mw / a.width))))


def _inside(a: CompositionAnalysis, mask: np.ndarray, boxes: list[Detection]) -> np.ndarray:
    """The cells of ``mask`` inside any of the boxes."""
    keep = np.zeros_like(mask)
    for d in boxes:
        keep[_cells(a, d.box, mask.shape)] = True
    return mask & keep


def holds(a: CompositionAnalysis, s: Region, d: Detection) -> float:
    """The share of a region's mask that the detection's box holds."""
    assert s.mask is not None
    return float(s.mask[_cells(a, d.box, s.mask.shape)].sum()) / max(float(s.mask.sum()), 1.0)


def covers(a: CompositionAnalysis, s: Region, d: Detection) -> float:
    """The share of the detection's box (in map cells) that a region's mask covers."""
    assert s.mask is not None
    cells = s.mask[_cells(a, d.box, s.mask.shape)]
    return float(cells.sum()) / max(cells.size, 1)


def members(a: CompositionAnalysis, s: Region, named: list[Detection]) -> list[Detection]:
    """The detections among ``named`` that region ``s`` is (see the module docstring); for a
    region without a mask (a hand-cue blob), the one holding its centroid. Whether the region is
    mostly made of detections is judged on all of them (:attr:`CompositionAnalysis.subjects_to_keep`:
    a row of boats, three of them confident), its name on ``named`` alone."""
    if s.mask is None or not s.mask.any():
        cx, cy = s.centroid
        return [d for d in named if point_in(cx, cy, d.box)][:1]
    inside = [d for d in a.subjects_to_keep
              if (covers(a, s, d) >= COVERED and holds(a, s, d) >= MIN_HOLD)
              or (holds(a, s, d) >= MASK_NAMED and not is_part(s, d))]
    found = [d for d in inside if any(d is n for n in named)]
    if found and float(_inside(a, s.mask, inside).sum()) >= MASK_NAMED * float(s.mask.sum()):
        return sorted(found, key=importance)
    best = max(named, key=lambda d: holds(a, s, d), default=None)
    return [best] if best is not None and holds(a, s, best) >= MASK_NAMED else []


def _from_face(a: CompositionAnalysis, s: Region, f: Detection) -> Detection:
    """A face in a region as what the region is: the face (``kind`` ``"face"``) when the region is
    face-sized (:data:`FACE_SIZED`), else a person with the region's box and the face's score."""
    area = s.mask.mean() * a.width * a.height if s.mask is not None else s.box[2] * s.box[3]
    if area <= FACE_SIZED * f.box[2] * f.box[3]:
        return Detection(f.box, f.score, kind="face", label="face")
    return Detection(s.box, f.score, kind="person", label="person")


def person_in(a: CompositionAnalysis, s: Region) -> Detection | None:
    """A detected person (any score) whose box holds :data:`PERSON_HOLD` of the region, else a
    face in it holding :data:`FACE_HOLD` (:func:`_from_face`)."""
    people = [p for p in a.people if p.label == "person"]
    if s.mask is not None and s.mask.any():
        best = max(people, key=lambda p: holds(a, s, p), default=None)
        if best is not None and holds(a, s, best) >= PERSON_HOLD:
            return best
        mh, mw = s.mask.shape
        for f in a.faces:
            cx, cy = f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2
            row, col = min(mh - 1, int(cy * mh / a.height)), min(mw - 1, int(cx * mw / a.width))
            if s.mask[row, col] and holds(a, s, f) >= FACE_HOLD:
                return _from_face(a, s, f)
        return None
    cx, cy = s.centroid
    for p in people:
        if point_in(cx, cy, p.box):
            return p
    area = max(s.box[2] * s.box[3], 1e-9)
    for f in a.faces:
        iw = max(0.0, min(s.box[0] + s.box[2], f.box[0] + f.box[2]) - max(s.box[0], f.box[0]))
        ih = max(0.0, min(s.box[1] + s.box[3], f.box[1] + f.box[3]) - max(s.box[1], f.box[1]))
        if iw * ih >= 0.5 * f.box[2] * f.box[3] and f.box[2] * f.box[3] >= FACE_HOLD * area:
            return _from_face(a, s, f)
    return None


def subject(a: CompositionAnalysis, s: Region, named: list[Detection]) -> Subject:
    """What region ``s`` is, among the detections a description names (``named``), and its extent."""
    found = members(a, s, named)
    if not found:
        p = person_in(a, s)
        found = [p] if p is not None else []
    part = len(found) == 1 and (found[0].kind == "face" or (s.mask is not None and is_part(s, found[0])))
    share, u, v = _extent(a, s, found)
    return Subject(s, tuple(found), part, share, u, v)


def _extent(a: CompositionAnalysis, s: Region, inside: list[Detection]) -> tuple[float, float, float]:
    """A region's share of the frame and its centre ``(u, v)`` as fractions: from its mask (the
    part inside the detections that name it), else from its box."""
    if s.mask is None or not s.mask.any():
        return (s.box[2] * s.box[3] / (a.width * a.height), s.centroid[0] / a.width, s.centroid[1] / a.height)
    m = s.mask
    if inside and _inside(a, m, inside).any():
        m = _inside(a, m, inside)
    rows, cols = np.nonzero(m)
    return float(m.mean()), (float(cols.mean()) + 0.5) / m.shape[1], (float(rows.mean()) + 0.5) / m.shape[0]


def spans_frame(a: CompositionAnalysis, s: Region) -> bool:
    """Whether a region wide or tall as a band (:attr:`CompositionAnalysis.bands`) reaches
    across the frame: within :data:`BAND_EDGE` of both edges it spans."""
    if s.mask is not None and s.mask.any():
        rows, cols = np.nonzero(s.mask)
        mh, mw = s.mask.shape
        x0, x1, y0, y1 = cols.min() / mw, (cols.max() + 1) / mw, rows.min() / mh, (rows.max() + 1) / mh
    else:
        x0, y0 = s.box[0] / a.width, s.box[1] / a.height
        x1, y1 = x0 + s.box[2] / a.width, y0 + s.box[3] / a.height
    across = x0 <= BAND_EDGE and x1 >= 1 - BAND_EDGE
    down = y0 <= BAND_EDGE and y1 >= 1 - BAND_EDGE
    return across or down


def regions(a: CompositionAnalysis) -> tuple[list[Region], list[Region]]:
    """The salient regions a description calls subjects and bands: a region as wide or tall as a
    band that does not reach across the frame (a lone tree) is a subject, in its place by mass."""
    bands = [s for s in a.bands if spans_frame(a, s)]
    return [s for s in a.subjects if s.kind == "salient" and not any(s is b for b in bands)], bands
