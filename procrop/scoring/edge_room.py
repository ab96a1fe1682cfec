"""Room at the edge: a subject kept whole but pressed against an edge of the crop.

Blind judges of crops of photos procrop never saw most often named, after a subject cut, a subject
*pushed against the edge*: a grazing deer's rump on the right edge, a walker's heel, a launch
platform, a bee's wing. Protection keeps such subjects whole (97 % inside is whole to it), and the
preference scorer's features read saliency across a cutting edge, not a whole subject touching one.

:func:`edge_pressure` measures, for each crop, how close the nearest subject it keeps whole comes to
one of its edges that is not the photo's own, as a share of the crop's side: 1 touching, 0 at
:data:`ROOM` or more. The subjects are the people and animals the detectors found (not other
objects; at least :data:`MIN_DETECTION_AREA` of the photo and :data:`MIN_DETECTION_SCORE` sure), the
faces, and the salient regions holding :data:`MIN_REGION_MASS` of the photo's saliency. A subject
that could not have that room on both sides in the crop (wider or taller than the crop less two
margins) is not pressed on that axis: a close-up fills its frame. The preference term
(:mod:`procrop.scoring.terms.preference`) takes :func:`room_penalty` off its logits.
Judged blind on every top crop it moved (``data/preferences/checks/edge_room/``).
"""

from __future__ import annotations

import numpy as np

from ..candidates import inner_edges
from ..geometry import inside_fractions
from ..perception.analysis import CompositionAnalysis
from .protection import KEPT

#: The room a subject should keep from an inner crop edge, as a share of the crop's side.
ROOM = 0.04
#: The share of the photo's saliency a salient region must hold to count as a subject.
MIN_REGION_MASS = 0.1
#: A detected person or animal counts from this share of the photo's area and this score (a trial's
#: 11 x 26 px distant figure at 0.37 was called "crowded against an edge").
MIN_DETECTION_AREA, MIN_DETECTION_SCORE = 0.005, 0.5
#: The logits the preference scorer takes off a crop whose subject touches an inner edge (linearly
#: less as the room grows to :data:`ROOM`); about a quarter of the logits' spread within a judged sheet.
PENALTY = 0.5


def room_subjects(analysis: CompositionAnalysis) -> list[tuple[float, float, float, float]]:
    """The ``(x, y, w, h)`` boxes whose room :func:`edge_pressure` measures (see the module)."""
    a = analysis
    least = MIN_DETECTION_AREA * a.width * a.height
    found = [d.box for d in a.subjects_to_keep if d.kind in ("person", "animal")
             and d.score >= MIN_DETECTION_SCORE and d.box[2] * d.box[3] >= least]
    found += [f.box for f in a.faces]
    found += [s.box for s in a.subjects if s.mask is not None and s.mass >= MIN_REGION_MASS]
    return found


def edge_pressure(analysis: CompositionAnalysis, boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` in [0, 1]: how pressed the most pressed subject kept whole is against an inner
    edge of each of ``boxes (N, 4)`` ``xywh`` (original pixels); 0 without subjects."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.zeros(len(b))
    subjects = room_subjects(analysis)
    if not subjects or not len(b):
        return out
    x, y, w, h = b.T
    room_x, room_y = np.maximum(ROOM * w, 1.0), np.maximum(ROOM * h, 1.0)
    inner = inner_edges(analysis, b)
    for (sx, sy, sw, sh), inside in zip(subjects, inside_fractions(b, subjects)):
        fits_x, fits_y = sw <= w - 2 * room_x, sh <= h - 2 * room_y
        gaps = ((sx - x) / room_x, (x + w - sx - sw) / room_x, (sy - y) / room_y, (y + h - sy - sh) / room_y)
        fits = (fits_x, fits_x, fits_y, fits_y)
        press = np.max([np.where(edge & fit, np.clip(1.0 - gap, 0.0, 1.0), 0.0)
                        for gap, edge, fit in zip(gaps, inner, fits)], axis=0)
        out = np.maximum(out, np.where(inside >= KEPT, press, 0.0))  # kept whole, as protection counts it
    return out


def room_penalty(analysis: CompositionAnalysis, boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` logits taken off ``boxes (N, 4)`` for a subject pressed against an inner edge."""
    return PENALTY * edge_pressure(analysis, boxes)
