"""Rule 3 of :mod:`procrop.scoring.protection`, "cut it cleanly": where a crop edge must not run
through a person, an animal or an object that no crop keeps whole.

A person: no horizontal edge through (or just above, :data:`HEAD_ROOM`) the head or neck, the knees
or the ankles (bands round confident body keypoints when pose ran, else :data:`PERSON_BAD_BANDS` of
a standing figure's box), no vertical edge down the middle of the body; an animal or an object: no
edge through the middle half of its extent. Each function returns masks of the crops that break a
rule; protection drops them one rule at a time, where a crop is left.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..perception.detectors import Detection
from ..perception.pose import face_of

#: Bands (fractions of a standing person's box height, from the top) where a horizontal crop
#: edge must not run: the head and neck, the knees, the ankles.
PERSON_BAD_BANDS: tuple[tuple[float, float], ...] = ((0.0, 0.26), (0.66, 0.80), (0.88, 0.985))

#: Half-width of a joint band around a keypoint, as a share of the person's box height.
JOINT_MARGIN = 0.04
#: Nor just above the head: a top edge within this share of the person's height above the box's top
#: touches the hair (a performer's spikes against the frame).
HEAD_ROOM = 0.02
#: A person (no pose) whose box is shorter than this many heights of the face it holds is a
#: half-length figure, a bust or a waist-up portrait, not a standing one (a standing figure is about
#: 8 face heights): its box ends above the knees, so its bands are the head (down to the chin), then
#: the neck, down to :data:`SHOULDERS` face heights below the chin, each a rule of its own, the head
#: first. With a standing figure's proportions the bottom edge of a bust's square fell in its
#: "ankles" (Grace Hopper at 1:1 got a headshot cut at the chin).
HALF_FIGURE_FACES = 4.5
SHOULDERS = 0.5


def _edges_through(lo: np.ndarray, hi: np.ndarray, a: float, b: float) -> np.ndarray:
    """Whether a crop edge (``lo`` or ``hi``) lies strictly between ``a`` and ``b``."""
    return ((lo > a) & (lo < b)) | ((hi > a) & (hi < b))


def _joints(person: Detection) -> list[tuple[str, float]]:
    """The person's confident body keypoints (pose ran): names and heights."""
    return [(n, py) for n, _, py, s in person.keypoints if s > 0.2]


def half_length(person: Detection, face: Detection) -> bool:
    """Whether a person whose face is ``face`` is a half-length figure (:data:`HALF_FIGURE_FACES`)."""
    return person.box[3] < HALF_FIGURE_FACES * face.box[3]


def person_bad_bands(person: Detection, face: Detection | None = None) -> list[tuple[float, float]]:
    """Absolute y ranges where a horizontal crop edge must not cross this person: from the top of
    the head to below the shoulders, and around the knees, ankles and wrists (from confident body
    keypoints when pose ran, else from the proportions of a standing figure, or, for a half-length
    figure by its ``face`` (:func:`half_length`), the head and the neck alone)."""
    x, y, w, h = person.box
    joints = _joints(person)
    if not joints:
        bands = [(y + a * h, y + b * h) for a, b in PERSON_BAD_BANDS]
        top = max(0.0, y - HEAD_ROOM * h)
        if face is not None and half_length(person, face):
            chin = face.box[1] + face.box[3]
            return [(top, max(chin, bands[0][1])), (chin, max(chin + SHOULDERS * face.box[3], bands[0][1]))]
        return [(top, bands[0][1]), *bands[1:]]
    m = JOINT_MARGIN * h
    shoulders = [py for n, py in joints if n.endswith("shoulder")]
    top = max(0.0, y - HEAD_ROOM * h)  # the picture's own top edge is no cut
    bands = [(top, (min(shoulders) + m) if shoulders else y + PERSON_BAD_BANDS[0][1] * h)]
    bands += [(py - m, py + m) for n, py in joints if n.endswith(("knee", "ankle", "wrist"))]
    return bands


def person_cuts(b: np.ndarray, person: Detection, faces: Sequence[Detection] = ()) -> tuple[np.ndarray, ...]:
    """Crops whose top or bottom edge crosses a person at the head, neck or a joint; crops whose
    left or right edge runs down the middle of the body. ``faces``: the photo's; a half-length
    figure (:func:`half_length`, by its face: :func:`~procrop.perception.pose.face_of`) without pose
    gets a rule for its head before the one for its head and neck."""
    x, y, w, h = person.box
    top, bottom = b[:, 1], b[:, 1] + b[:, 3]
    left, right = b[:, 0], b[:, 0] + b[:, 2]
    overlaps_x = (right > x) & (left < x + w)
    overlaps_y = (bottom > y) & (top < y + h)
    face = face_of(person, faces)
    bands = person_bad_bands(person, face)
    through = [overlaps_x & _edges_through(top, bottom, lo, hi) for lo, hi in bands]
    across = np.any(through, axis=0)
    down = overlaps_y & _edges_through(left, right, x + 0.2 * w, x + 0.8 * w)
    # a half-length figure without pose: its head's rule first (pose's bands stay one rule, as before)
    split = face is not None and half_length(person, face) and not _joints(person)
    return (through[0], across, down) if split else (across, down)


def object_cuts(b: np.ndarray, obj: Detection) -> tuple[np.ndarray, np.ndarray]:
    """Crops whose top or bottom edge, and crops whose left or right edge, run through the middle
    half of an animal or object."""
    x, y, w, h = obj.box
    top, bottom = b[:, 1], b[:, 1] + b[:, 3]
    left, right = b[:, 0], b[:, 0] + b[:, 2]
    overlaps_x = (right > x) & (left < x + w)
    overlaps_y = (bottom > y) & (top < y + h)
    across = overlaps_x & _edges_through(top, bottom, y + 0.25 * h, y + 0.75 * h)
    down = overlaps_y & _edges_through(left, right, x + 0.25 * w, x + 0.75 * w)
    return across, down
