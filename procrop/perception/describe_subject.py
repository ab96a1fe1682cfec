"""What a salient region is, for :func:`procrop.perception.describe.describe`: the detections that
name it, whether it is only a part of one, and where it sits and how large it is.

A region from the salient-object head has a mask; a detection is measured against it by how
much of the mask its box *holds*. The region is named by the one detection holding most of it
(at least :data:`MASK_NAMED`; a collar in a portrait is a part of the person). A detected person
holding at least :data:`PERSON_HOLD` of the mask, or a face in it, makes the region a person
even when less of it is (a person region is never named by its colour). Anything else is
unnamed: the description gives its size, place and colour, never a class that does not cover it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .analysis import CompositionAnalysis, Region
from .detectors import Detection

#: A detection names a salient region with a mask when its box holds this share of the mask.
MASK_NAMED = 0.5
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


def members(a: CompositionAnalysis, s: Region, named: list[Detection]) -> list[Detection]:
    """The detections among ``named`` that region ``s`` is (see the module docstring); for a
    region without a mask (a hand-cue blob), the one holding its centroid."""
    if s.mask is None or not s.mask.any():
        cx, cy = s.centroid
        return [d for d in named if d.box[0] <= cx <= d.box[0] + d.box[2] and d.box[1] <= cy <= d.box[1] + d.box[3]][:1]
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
        if p.box[0] <= cx <= p.box[0] + p.box[2] and p.box[1] <= cy <= p.box[1] + p.box[3]:
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
