"""The head round a face box: a face detector's box ends at the forehead and the cheeks, the head
(hair, a hat's crown, the ears) reaches further. Protection keeps it whole
(:func:`procrop.scoring.heads.head_box`, which also reads the hair the saliency map holds) and the
candidates make crops that start just above it and what it wears (:func:`crown_top`,
:func:`procrop.candidates.head_top_candidates`), and
around the eyes of a face too big for the frame (:func:`eye_anchors`).
"""

from __future__ import annotations

from collections.abc import Sequence

from .detectors import Detection
from .pose import face_of

#: The head round a face kept whole (rule 1b of :mod:`procrop.scoring.protection`): shares of the
#: face box's width on each side and of its height above. Blind judges preferred the crops that
#: keep it on 13 of 17 changed sheets (``data/preferences/checks/head_whole``): a headdress, a fez,
#: a hat, the top of a head, an ear.
HEAD_SIDE, HEAD_TOP = 0.35, 0.35
#: The highest a head's top may lie above its face box, in face heights (a tall hat's crown).
HAIR_MAX = 0.8
#: A face at least this share of a crop's height is a close-up in it: its eyes belong in the upper
#: part of the frame, at most :data:`LOW_EYES` of its height down (rule 1c of
#: :mod:`procrop.scoring.protection`; :func:`procrop.candidates.head_top_candidates`). Judged: crops
#: whose eyes sat 58-61 % down lost to ones starting just above the head (5 of 5 sheets); at 54 % the
#: judges kept the first (3 of 3: the hair crowded against the edge instead).
CLOSE_UP, LOW_EYES = 0.25, 0.55


def grown(box: tuple[float, float, float, float], side: float, above: float, below: float, width: int,
          height: int) -> tuple[float, float, float, float]:
    """``box`` grown by ``side`` of its width left and right, ``above`` and ``below`` of its height,
    within the ``width`` x ``height`` photo."""
    x, y, w, h = box
    x0, y0 = max(0.0, x - side * w), max(0.0, y - above * h)
    x1, y1 = min(float(width), x + w + side * w), min(float(height), y + h + below * h)
    return (x0, y0, x1 - x0, y1 - y0)


def face_head(face: Detection, width: int, height: int) -> tuple[float, float, float, float]:
    """The head round ``face``'s box, ``(x, y, w, h)`` inside the photo, down to the chin
    (:data:`HEAD_SIDE`, :data:`HEAD_TOP`)."""
    return grown(face.box, HEAD_SIDE, HEAD_TOP, 0.0, width, height)


def crown_top(face: Detection, people: Sequence[Detection], width: int, height: int) -> float:
    """The y of the top of ``face``'s head with what it wears, as far as boxes tell: its head's
    (:func:`face_head`) or the top of the box of the person it belongs to (:func:`~.pose.face_of`: a
    fez, a turban, a hood), at most :data:`HAIR_MAX` face heights above the face box."""
    floor = face.box[1] - HAIR_MAX * face.box[3]
    tops = [max(p.box[1], floor) for p in people if p.label == "person" and face_of(p, [face]) is face]
    return min([face_head(face, width, height)[1], *tops])


def eye_anchors(faces: list[Detection], largest: tuple[int, int]) -> list[tuple[float, float, float, float]]:
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
