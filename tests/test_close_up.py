"""A bust's square: the eyes high in the frame, the tie the person's (procrop.scoring.protection,
procrop.candidates.head_top_candidates, procrop.perception.analysis.worn_by).

The synthetic analysis is a trial's portrait (face-recognition's obama2.jpg, 626 x 1200): a head-and-
shoulders figure whose face box is 396 px tall, a tie under it, a flag above.
"""

from __future__ import annotations

import numpy as np

from procrop.candidates import (CandidateConfig, candidate_sizes, head_top_candidates, photo_candidates,
                                protected_regions)
from procrop.geometry import parse_ratio
from procrop.perception.analysis import ColourStats, CompositionAnalysis, Region, worn_by
from procrop.perception.detectors import Detection
from procrop.perception.face_extent import face_head
from procrop.scoring.protection import allowed_crops, inside_fractions, main_subject

W, H = 626, 1200
FACE = Detection((199.0, 235.0, 275.0, 396.0), 0.94, "face", "face",
                 keypoints=(("right_eye", 246.0, 376.0, 0.94), ("left_eye", 376.0, 386.0, 0.94),
                            ("nose", 286.0, 455.0, 0.94), ("mouth_right", 241.0, 517.0, 0.94),
                            ("mouth_left", 356.0, 525.0, 0.94)))
PERSON = Detection((1.0, 154.0, 617.0, 941.0), 0.91, "person", "person")
TIE = Detection((224.0, 690.0, 129.0, 397.0), 0.88, "object", "tie")


def bust(objects: list[Detection], subjects: list[Region] | None = None) -> CompositionAnalysis:
    sal = np.zeros((96, 50), np.float32)
    colour = ColourStats(0.5, 0.5, 0.5, 0.5, 0.0, ("grey",))
    return CompositionAnalysis(W, H, sal, np.zeros_like(sal), [FACE], [PERSON], subjects or [], [], None, None,
                               colour, (0.5, 0.5), objects=objects, saliency_source="head")


def test_a_tie_inside_a_person_is_worn_and_not_protected_on_its_own() -> None:
    a = bust([TIE])
    assert a.worn == [TIE] and worn_by(TIE, [PERSON.box])
    assert not worn_by(Detection(TIE.box, 0.9, "object", "cup"), [PERSON.box])  # a cup held stays a subject
    assert not worn_by(TIE, [])  # no person, no wearer
    assert main_subject(a) is FACE
    mask = np.zeros((96, 50), bool)
    mask[55:87, 18:28] = True
    tie_region = Region(TIE.box, (288.0, 888.0), 0.3, "salient", "red", "tie", mask)
    assert protected_regions(bust([TIE], [tie_region])) == []  # no crop is made or kept for it alone
    # a square through the tie's middle is as good as one that leaves the tie out
    boxes = np.array([[0.0, 16.0, 626.0, 626.0], [0.0, 84.0, 626.0, 626.0]])
    face_inside = inside_fractions(boxes, [FACE.box])
    assert allowed_crops(boxes, a, face_inside).tolist() == [False, True]


def test_a_close_up_keeps_its_eyes_in_the_upper_half_where_a_crop_can() -> None:
    """The square under the flag (eyes 58 % down) gives way to one starting just above the head
    (eyes 47 % down); a face small in the crop has no such rule."""
    a = bust([])
    boxes = np.array([[0.0, 16.0, 626.0, 626.0], [0.0, 84.0, 626.0, 626.0]])
    face_inside = inside_fractions(boxes, [FACE.box])
    assert allowed_crops(boxes, a, face_inside).tolist() == [False, True]
    assert allowed_crops(boxes[:1], a, face_inside[:, :1]).tolist() == [True]  # the only crop stays
    small = Detection((300.0, 500.0, 40.0, 50.0), 0.9, "face", "face")
    far = CompositionAnalysis(W, H, a.saliency, a.edges, [small], [], [], [], None, None, a.colour, (0.5, 0.5))
    low = np.array([[0.0, 0.0, 626.0, 626.0], [0.0, 100.0, 626.0, 626.0]])  # eyes 82 % and 66 % down
    assert allowed_crops(low, far, inside_fractions(low, [small.box])).tolist() == [True, True]
    mid = Detection((200.0, 300.0, 150.0, 200.0), 0.9, "face", "face")  # eyes at y 370 (no landmarks)
    one = CompositionAnalysis(W, H, a.saliency, a.edges, [mid], [], [], [], None, None, a.colour, (0.5, 0.5))
    boxes = np.array([[0.0, 0.0, 626.0, 626.0], [0.0, 80.0, 626.0, 626.0], [0.0, 0.0, 626.0, 1200.0]])
    # eyes 59 % down in a close-up: out; 46 %: in; the whole frame, where the face is no close-up, stays
    assert allowed_crops(boxes, one, inside_fractions(boxes, [mid.box])).tolist() == [False, True, True]


def test_head_top_candidates_start_just_above_the_head() -> None:
    a = bust([])
    sizes = candidate_sizes(W, H, 1.0, CandidateConfig())
    boxes = head_top_candidates(a, sizes)
    hx, hy, hw, hh = face_head(FACE, W, H)
    assert len(boxes) and (boxes[:, 2] == boxes[:, 3]).all()
    assert (boxes[:, 1] <= hy).all() and (boxes[:, 1] >= hy - 0.02 * boxes[:, 3] - 1).all()
    assert (inside_fractions(boxes.astype(float), [(hx, hy, hw, hh)])[0] >= 0.97).all()
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= W).all()
    assert head_top_candidates(CompositionAnalysis(W, H, a.saliency, a.edges, [], [], [], [], None, None,
                                                   a.colour, (0.5, 0.5)), sizes).shape == (0, 4)
    every = photo_candidates(a, parse_ratio("1:1"), CandidateConfig())
    assert any(int(b[1]) == int(round(hy - 0.02 * 626)) and b[2] == 626 for b in every)


def test_what_the_head_wears_stays_in_before_the_eyes_go_high() -> None:
    """A fez above the face (the person's box starts 0.6 face heights over the face box, higher than
    the head's own room): the square keeping the fez whole stays although its eyes sit low, since
    no square keeps both; the crown is measured at most HAIR_MAX face heights up."""
    from procrop.perception.face_extent import HAIR_MAX, crown_top

    fez = Detection((1.0, 235.0 - 0.6 * 396, 617.0, 1100.0), 0.9, "person", "person")
    a = CompositionAnalysis(W, H, np.zeros((96, 50), np.float32), np.zeros((96, 50), np.float32), [FACE], [fez],
                            [], [], None, None, bust([]).colour, (0.5, 0.5), saliency_source="head")
    assert crown_top(FACE, [fez], W, H) == fez.box[1]
    assert crown_top(FACE, [PERSON], W, H) == face_head(FACE, W, H)[1]  # the head's room is higher
    low_face = Detection((199.0, 300.0, 275.0, 200.0), 0.9, "face", "face")
    tall = Detection((1.0, 0.0, 617.0, 1100.0), 0.9, "person", "person")  # a raised arm: capped
    assert crown_top(low_face, [tall], W, H) == 300.0 - HAIR_MAX * 200.0
    boxes = np.array([[0.0, 0.0, 626.0, 626.0], [0.0, 84.0, 626.0, 626.0]])  # fez whole; fez cut, eyes high
    face_inside = inside_fractions(boxes, [FACE.box])
    assert allowed_crops(boxes, a, face_inside).tolist() == [True, True]  # no rule: the scorer chooses
