"""Rule 3 of :mod:`procrop.scoring.protection`, "cut it cleanly": where a crop edge must not run
through a person, an animal or an object that no crop keeps whole.

A person: no horizontal edge through (or just above, :data:`HEAD_ROOM`) the head or neck, the knees
or the ankles (bands round confident body keypoints when pose ran, else :data:`PERSON_BAD_BANDS` of
a standing figure's box), no vertical edge down the middle of the body; an animal or an object: no
edge through the middle half of its extent. Each function returns masks of the crops that break a
rule; protection drops them one rule at a time, where a crop is left.
"""

from __future__ import annotations

import numpy as np

from ..perception.detectors import Detection

#: Bands (fractions of a standing person's box height, from the top) where a horizontal crop
#: edge must not run: the head and neck, the knees, the ankles.
PERSON_BAD_BANDS: tuple[tuple[float, float], ...] = ((0.0, 0.26), (0.66, 0.80), (0.88, 0.985))

#: Half-width of a joint band around a keypoint, as a share of the person's box height.
JOINT_MARGIN = 0.04
#: Nor just above the head: a top edge within this share of the person's height above the box's top
#: touches the hair (a performer's spikes against the frame).
HEAD_ROOM = 0.02


def _edges_through(lo: np.ndarray, hi: np.ndarray, a: float, b: float) -> np.ndarray:
    """Whether a crop edge (``lo`` or ``hi``) lies strictly between ``a`` and ``b``."""
    return ((lo > a) & (lo < b)) | ((hi > a) & (hi < b))


def person_bad_bands(person: Detection) -> list[tuple[float, float]]:
    """Absolute y ranges where a horizontal crop edge must not cross this person: from the top of
    the head to below the shoulders, and around the knees, ankles and wrists (from confident body
    keypoints when pose ran, else from the proportions of a standing figure)."""
    x, y, w, h = person.box
    joints = [(n, py) for n, _, py, s in person.keypoints if s > 0.2]
    if not joints:
        bands = [(y + a * h, y + b * h) for a, b in PERSON_BAD_BANDS]
        return [(max(0.0, y - HEAD_ROOM * h), bands[0][1]), *bands[1:]]
    m = JOINT_MARGIN * h
    shoulders = [py for n, py in joints if n.endswith("shoulder")]
    top = max(0.0, y - HEAD_ROOM * h)  # the picture's own top edge is no cut
    bands = [(top, (min(shoulders) + m) if shoulders else y + PERSON_BAD_BANDS[0][1] * h)]
    bands += [(py - m, py + m) for n, py in joints if n.endswith(("knee", "ankle", "wrist"))]
    return bands


def person_cuts(b: np.ndarray, person: Detection) -> tuple[np.ndarray, np.ndarray]:
    """Crops whose top or bottom edge crosses a person at the head, neck or a joint; crops whose
    left or right edge runs down the middle of the body."""
    x, y, w, h = person.box
    top, bottom = b[:, 1], b[:, 1] + b[:, 3]
    left, right = b[:, 0], b[:, 0] + b[:, 2]
    overlaps_x = (right > x) & (left < x + w)
    overlaps_y = (bottom > y) & (top < y + h)
    across = np.zeros(len(b), dtype=bool)
    for lo, hi in person_bad_bands(person):
        across |= overlaps_x & _edges_through(top, bottom, lo, hi)
    down = overlaps_y & _edges_through(left, right, x + 0.2 * w, x + 0.8 * w)
    return across, down


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
