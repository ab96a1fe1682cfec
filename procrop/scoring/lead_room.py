"""Room in front: a subject that faces one way keeps more of the frame ahead of it than behind it.

Editors leave space in front of a face seen in profile, a bird, a walking animal: the judges of
procrop's blind checks asked for it again and again ("more space in front of the profile's gaze",
"room ahead of the pheasant's beak", "room in the direction the budgie faces"). Which way a subject
faces is read from what perception already found:

* a face the face detector found, with its landmarks: turned to the side its nose lies on, when the
  nose is at least :data:`TURNED` eye distances from the middle of the eyes (a frontal face faces
  no side); faces much smaller than the largest (:data:`MIN_FACE_SHARE`) are left out;
* an animal: towards its head (:func:`procrop.scoring.main_subject.animal_heads`: round a face found
  on it, a close-up's face, else the highest part of its outline), when the head lies at least
  :data:`HEAD_OFF_CENTRE` of the box's width off its middle; not when the head may be at either end
  (a grazing animal, its head low and its rump highest, is read as facing backwards), nor for an
  animal much smaller than the largest (:data:`MIN_ANIMAL_SHARE`: a blurred cow behind a horse).

:func:`lead_pressure` measures, for each crop, how short of :data:`LEAD` of the crop's width the
room ahead of such a subject falls, where that room is also less than the room behind it and the
edge ahead is not the photo's own (the photographer's frame is as it is); a subject cut by the
crop, or too wide to have :data:`FIT` times that room beside it, is not measured.
:func:`lead_penalty` is what the preference term (:mod:`procrop.scoring.terms.preference`) takes
off its logits. Judged blind on every top crop it moved (``data/preferences/checks/lead_room/``).
"""

from __future__ import annotations

import numpy as np

from ..candidates import inner_edges
from ..geometry import inside_fractions
from ..perception.analysis import CompositionAnalysis
from .main_subject import animal_heads
from .protection import KEPT

#: ``(x, y, w, h)`` in original pixels.
Box = tuple[float, float, float, float]

#: A face is turned when its nose lies this many eye distances from the middle of its eyes.
TURNED = 0.25
#: A face narrower than this share of the widest face sets no direction (a crowd's faces).
MIN_FACE_SHARE = 0.5
#: The eye distance a turn is measured in is at least this share of the face's width (in a profile
#: the two eyes nearly meet).
MIN_EYE_SPAN = 0.2
#: An animal faces its head's side when the head lies this share of its box's width off the middle.
HEAD_OFF_CENTRE = 0.2
#: An animal whose box is smaller than this share of the largest animal's sets no direction.
MIN_ANIMAL_SHARE = 0.5
#: The room ahead a facing subject should keep, as a share of the crop's width.
LEAD = 0.12
#: A subject is measured only when it and FIT times that room fit in the crop's width.
FIT = 1.5
#: The logits the preference term takes off a crop with no room at all ahead of such a subject
#: (about the logits' spread within a judged sheet: the rule binds rarely, and then it should win).
PENALTY = 2.0


def facing(analysis: CompositionAnalysis) -> list[tuple[Box, int]]:
    """The subjects that face a side: ``(box, direction)``, direction ``1`` (right) or ``-1`` (left)."""
    out: list[tuple[Box, int]] = []
    faces = [f for f in analysis.faces if f.box[2] > 0]
    widest = max((f.box[2] for f in faces), default=0.0)
    for f in faces:
        points = {name: x for name, x, _, _ in f.keypoints}
        if f.box[2] < MIN_FACE_SHARE * widest or not {"right_eye", "left_eye", "nose"} <= points.keys():
            continue
        middle = (points["right_eye"] + points["left_eye"]) / 2
        eyes = max(abs(points["right_eye"] - points["left_eye"]), MIN_EYE_SPAN * f.box[2])
        turn = (points["nose"] - middle) / eyes
        if abs(turn) >= TURNED:
            out.append((f.box, 1 if turn > 0 else -1))
    animals = [o for o in analysis.objects if o.kind == "animal" and o.box[2] > 0]
    largest = max((o.box[2] * o.box[3] for o in animals), default=0.0)
    for o in animals:  # not a background animal much smaller than the largest (a trial's blurred cow)
        heads = animal_heads(analysis, o) if o.box[2] * o.box[3] >= MIN_ANIMAL_SHARE * largest else []
        if len(heads) != 1:  # not an animal, or its head at either end (a bear's shoulders highest)
            continue
        off = (heads[0][0] + heads[0][2] / 2 - (o.box[0] + o.box[2] / 2)) / o.box[2]
        if abs(off) >= HEAD_OFF_CENTRE:
            out.append((o.box, 1 if off > 0 else -1))
    return out


def lead_pressure(analysis: CompositionAnalysis, boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` in [0, 1]: how short of :data:`LEAD` the room ahead of the most cramped facing subject
    kept whole falls in each of ``boxes (N, 4)`` ``xywh`` (original pixels); 0 without one."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.zeros(len(b))
    subjects = facing(analysis)
    if not subjects or not len(b):
        return out
    x, y, w, h = b.T
    lead = np.maximum(LEAD * w, 1.0)
    inside = inside_fractions(b, [box for box, _ in subjects])
    inner_left, inner_right = inner_edges(analysis, b)[:2]
    for ((sx, sy, sw, sh), direction), kept in zip(subjects, inside):
        left, right = sx - x, x + w - sx - sw  # the room on either side
        ahead, behind, inner = (right, left, inner_right) if direction > 0 else (left, right, inner_left)
        fits = sw + FIT * lead <= w
        press = np.clip(1.0 - ahead / lead, 0.0, 1.0) * (ahead < behind) * inner * fits * (kept >= KEPT)
        out = np.maximum(out, press)
    return out


def lead_penalty(analysis: CompositionAnalysis, boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` logits taken off ``boxes (N, 4)`` for a facing subject with too little room ahead."""
    return PENALTY * lead_pressure(analysis, boxes)
