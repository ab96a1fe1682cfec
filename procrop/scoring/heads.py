"""A face's head, eyes and mouth, as the face rules of :mod:`procrop.scoring.protection` measure them.

A face box ends at the forehead: rule 1b keeps the head round a face whole (:func:`head_box`: a
share of the face's size on each side and above it, or up to the hair the saliency map holds above
it: :mod:`procrop.perception.face_extent` measures the head). Rule 2 keeps a face too big for the
frame by its eyes (:func:`eyes_kept`, :data:`EYE_LINE`) and its mouth (:func:`mouth_kept`).
"""

from __future__ import annotations

import numpy as np

from ..perception.analysis import CompositionAnalysis
from ..perception.detectors import Detection
from ..perception.face_extent import HEAD_SIDE, HEAD_TOP, face_head, grown, hair_top  # noqa: F401

#: Where the eye line of a face too big for the crop may lie: shares of the crop's height from
#: its top (an editor's tight portrait puts the eyes about a third of the way down).
EYE_LINE = (0.18, 0.5)


def head_box(face: Detection, width: int, height: int, analysis: CompositionAnalysis | None = None
             ) -> tuple[float, float, float, float]:
    """The head round a face box, ``(x, y, w, h)`` inside the photo: :data:`HEAD_SIDE` of the face's
    width on each side (ears, the back of a turned head) and :data:`HEAD_TOP` of its height above
    (hair, a hat's crown), or up to the top of its hair that ``analysis``'s map holds
    (:func:`hair_top`) where that is higher, down to the chin."""
    x, y, w, h = face_head(face, width, height)
    top = min(y, hair_top(face, analysis)) if analysis is not None else y
    return (x, top, w, h + y - top)


def eyes_kept(b: np.ndarray, face: Detection) -> np.ndarray:
    """Crops ``b (N, 4)`` with both eyes inside (a margin of a quarter of their distance on every
    side) and the eye line in the upper part of the frame (:data:`EYE_LINE`)."""
    (rx, ry), (lx, ly) = face.eyes()
    m = 0.25 * max(float(np.hypot(lx - rx, ly - ry)), 1.0)
    x0, x1 = min(rx, lx) - m, max(rx, lx) + m
    y0, y1 = min(ry, ly) - m, max(ry, ly) + m
    inside = (b[:, 0] <= x0) & (b[:, 0] + b[:, 2] >= x1) & (b[:, 1] <= y0) & (b[:, 1] + b[:, 3] >= y1)
    line = ((ry + ly) / 2 - b[:, 1]) / np.maximum(b[:, 3], 1e-9)
    return inside & (line >= EYE_LINE[0]) & (line <= EYE_LINE[1])


def mouth_kept(b: np.ndarray, face: Detection, below: float) -> np.ndarray:
    """Crops ``b (N, 4)`` with both corners of the mouth inside, with a margin, and ``below`` of the
    face's height below them (the lower lip; all crops when the face has no mouth landmarks)."""
    corners = [p for p in (face.point("mouth_right"), face.point("mouth_left")) if p is not None]
    if len(corners) < 2:
        return np.ones(len(b), dtype=bool)
    m = 0.05 * face.box[3]
    x0, x1 = min(c[0] for c in corners), max(c[0] for c in corners)
    y0, y1 = min(c[1] for c in corners) - m, max(c[1] for c in corners) + below * face.box[3]
    return (b[:, 0] <= x0) & (b[:, 0] + b[:, 2] >= x1) & (b[:, 1] <= y0) & (b[:, 1] + b[:, 3] >= y1)
