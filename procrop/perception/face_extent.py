"""The head round a face box, and what it wears: a face detector's box ends at the forehead and the
cheeks, the head (hair, a hat's crown, the ears) reaches further.

* :func:`face_head`: a share of the face's size on each side and above it;
* :func:`hair_top`: where the saliency map (the salient-object head's, faces painted in) is hot at
  the face and that hot part runs up over the face's width, its highest point (curly hair, a hood);
* :func:`crown`: the top of the head with what it wears: the higher of those two and the top of the
  box of the person the face belongs to (a fez, a turban), at most :data:`HAIR_MAX` face heights up.

Protection keeps the head whole (:func:`procrop.scoring.heads.head_box`) and a close-up's crown
inside (rule 1c); the candidates include crops that start just above the crown
(:func:`head_top_crops`) and crops round the eyes of a face too big for the frame (:func:`eye_anchors`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .analysis import CONFIDENT, CompositionAnalysis
from .detectors import Detection
from .pose import face_of

Box = tuple[float, float, float, float]

#: The head round a face kept whole (rule 1b of :mod:`procrop.scoring.protection`): shares of the
#: face box's width on each side and of its height above. Blind judges preferred the crops that
#: keep it on 13 of 17 changed sheets (``data/preferences/checks/head_whole``): a headdress, a fez,
#: a hat, the top of a head, an ear.
HEAD_SIDE, HEAD_TOP = 0.35, 0.35
#: The highest a head's top may lie above its face box, in face heights (a tall hat's crown).
HAIR_MAX = 0.8
#: Saliency at which the map holds the head (the level the head's masks are cut at).
HAIR_LEVEL = 0.5
#: A face at least this share of a crop's height is a close-up in it: its eyes belong in the upper
#: part of the frame, at most :data:`LOW_EYES` of its height down (rule 1c of
#: :mod:`procrop.scoring.protection`; :func:`head_top_crops`). Judged: crops whose eyes sat 58-61 %
#: down lost to ones starting just above the head (5 of 5 sheets); at 54 % the judges kept the first
#: (3 of 3: the hair crowded against the edge instead).
CLOSE_UP, LOW_EYES = 0.25, 0.55
#: Room above the crown of the crops that start just above it (:func:`head_top_crops`): a share of
#: their height.
HEAD_ROOM_ABOVE = 0.06


def grown(box: Box, side: float, above: float, below: float, width: int, height: int) -> Box:
    """``box`` grown by ``side`` of its width left and right, ``above`` and ``below`` of its height,
    within the ``width`` x ``height`` photo."""
    x, y, w, h = box
    x0, y0 = max(0.0, x - side * w), max(0.0, y - above * h)
    x1, y1 = min(float(width), x + w + side * w), min(float(height), y + h + below * h)
    return (x0, y0, x1 - x0, y1 - y0)


def face_head(face: Detection, width: int, height: int) -> Box:
    """The head round ``face``'s box, ``(x, y, w, h)`` inside the photo, down to the chin
    (:data:`HEAD_SIDE`, :data:`HEAD_TOP`)."""
    return grown(face.box, HEAD_SIDE, HEAD_TOP, 0.0, width, height)


def hair_top(face: Detection, analysis: CompositionAnalysis) -> float:
    """The y of the highest hot map cell (:data:`HAIR_LEVEL`) above the face's own top cell that
    the hot cells over the face box's width join to its centre, at most :data:`HAIR_MAX` face heights
    above the face (0 at the photo's top); the face box's top where there is none, where its centre
    is cold, or where the map is not the salient-object head's (the hand-made cues mark no hair)."""
    x, y, w, h = face.box
    sal = np.asarray(analysis.saliency)
    if analysis.saliency_source != "head" or sal.ndim != 2:
        return float(max(y, 0.0))
    mh, mw = sal.shape
    sx, sy = mw / analysis.width, mh / analysis.height
    c0 = int(np.clip(x * sx, 0, mw - 1))
    c1 = int(np.clip(np.ceil((x + w) * sx), c0 + 1, mw))
    cx = int(np.clip((x + w / 2) * sx, c0, c1 - 1))
    cy, top_cell = (int(np.clip(v * sy, 0, mh - 1)) for v in (y + h / 2, y))
    band = (sal[:, c0:c1] >= HAIR_LEVEL).astype(np.uint8)  # over the face's width only
    _, labels = cv2.connectedComponents(band, connectivity=8)
    held = labels[cy, cx - c0]
    rows = np.flatnonzero((labels[:top_cell] == held).any(axis=1)) if held else np.zeros(0, int)
    if not len(rows):  # the face's own cells (faces are painted into the map) are no hair
        return float(max(y, 0.0))
    return float(max(min(rows.min() / sy, y), y - HAIR_MAX * h, 0.0))


def crown(face: Detection, analysis: CompositionAnalysis) -> float:
    """The y of the top of ``face``'s head with what it wears: the highest of its head's
    (:func:`face_head`), its hair's (:func:`hair_top`) and the top of the box of the confidently
    detected person whose face it is (:func:`~.pose.face_of`: a fez, a turban, a hood), the last at
    most :data:`HAIR_MAX` face heights above the face box."""
    return crown_worn(face, analysis)[0]


def crown_worn(face: Detection, analysis: CompositionAnalysis) -> tuple[float, bool]:
    """:func:`crown`, and whether it is the top of something the head wears (the person's box above
    its head and hair by more than a pixel) rather than of its head or hair."""
    floor = face.box[1] - HAIR_MAX * face.box[3]
    tops = [max(p.box[1], floor) for p in analysis.people
            if p.label == "person" and p.score >= CONFIDENT and face_of(p, analysis.faces) is face]
    bare = min(face_head(face, analysis.width, analysis.height)[1], hair_top(face, analysis))
    top = max(0.0, min([bare, *tops]))  # never above the photo
    return top, top < bare - 1.0


def head_top_crops(analysis: CompositionAnalysis, sizes: list[tuple[int, int]]) -> np.ndarray:
    """Crops ``(M, 4)`` of each of ``sizes`` in which the largest face is a close-up (:data:`CLOSE_UP`),
    starting :data:`HEAD_ROOM_ABOVE` of their height above its :func:`crown` (less where the chin
    would not fit) and holding its head (:func:`face_head`) whole, the face centred or on a thirds line
    where the head allows (a bust's square had shown the flag above its head, or a slice under its hair)."""
    if not analysis.faces:
        return np.zeros((0, 4), np.int64)
    W, H = analysis.width, analysis.height
    face = max(analysis.faces, key=lambda f: f.box[2] * f.box[3])
    (hx, y, hw, hh), top = face_head(face, W, H), crown(face, analysis)
    cx, out = face.box[0] + face.box[2] / 2, []
    for w, h in sizes:
        lo_y, hi_y = math.ceil(y + hh - h), math.floor(top)  # the chin in, the crown in
        if w > W or h > H or hw > w or lo_y > hi_y or h > face.box[3] / CLOSE_UP:
            continue
        cy = min(max(0, min(max(math.ceil(top - HEAD_ROOM_ABOVE * h), lo_y), hi_y)), H - h)
        for f in (1 / 3, 0.5, 2 / 3):  # the head whole across, inside the photo
            x = min(max(round(cx - f * w), math.ceil(hx + hw - w)), math.floor(hx))
            out.append((min(max(0, x), W - w), cy, w, h))
    return np.asarray(out, dtype=np.int64).reshape(-1, 4)


def eye_anchors(faces: list[Detection], largest: tuple[int, int]) -> list[Box]:
    """For each of ``faces`` too big for a ratio's ``largest`` box ``(w, h)``: a box around its eyes,
    and one from its eyes to its mouth, so that crops keeping the eyes in the upper part of the frame
    (and the mouth when it fits) exist when the face cannot be kept whole (the candidates' anchors)."""
    out = []
    for face in faces:
        if face.box[2] <= largest[0] and face.box[3] <= largest[1]:
            continue
        points = list(face.eyes())
        x0, y0 = min(p[0] for p in points), min(p[1] for p in points)
        out.append((x0, y0, max(p[0] for p in points) - x0, max(p[1] for p in points) - y0))
        points += [p for p in (face.point("mouth_right"), face.point("mouth_left")) if p is not None]
        if len(points) == 4:
            x0, y0 = min(p[0] for p in points), min(p[1] for p in points)
            out.append((x0, y0, max(p[0] for p in points) - x0, max(p[1] for p in points) - y0))
    return out
