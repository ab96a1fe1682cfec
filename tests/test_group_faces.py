"""Everyone in: when some crop keeps every face of the group whole, no crop leaves one out.

A synthetic 300 x 100 photo with two faces of the same size at x 40-70 and 200-230: a 1:1 crop of
100 x 100 cannot hold both, a 200-wide crop can.
"""

from __future__ import annotations

import numpy as np

from procrop.perception.analysis import ColourStats, CompositionAnalysis
from procrop.perception.detectors import Detection
from procrop.scoring.protection import allowed_crops, inside_fractions

W, H = 300, 100


def analysis(faces: list[tuple[float, float, float, float]]) -> CompositionAnalysis:
    sal = np.zeros((10, 30), np.float32)
    colour = ColourStats(0.5, 0.5, 0.5, 0.5, 0.0, ("grey",))
    dets = [Detection(box, 0.9, "face") for box in faces]
    return CompositionAnalysis(W, H, sal, np.zeros_like(sal), dets, [], [], [], None, None, colour, (0.5, 0.5))


def allowed(a: CompositionAnalysis, boxes: list[tuple[float, float, float, float]]) -> list[bool]:
    b = np.asarray(boxes, float)
    face_inside = inside_fractions(b, [f.box for f in a.faces])
    return allowed_crops(b, a, face_inside).tolist()


def test_a_crop_that_leaves_one_of_two_faces_out_is_dropped_when_both_fit() -> None:
    a = analysis([(40, 30, 30, 30), (200, 30, 30, 30)])
    boxes = [(0, 0, 100, 100), (20, 0, 240, 100), (180, 0, 100, 100)]  # one face, both, the other face
    assert allowed(a, boxes) == [False, True, False]


def test_room_round_the_faces_is_kept_where_a_crop_can() -> None:
    a = analysis([(40, 30, 30, 30), (200, 30, 30, 30)])
    boxes = [(40, 0, 190, 100), (30, 0, 210, 100)]  # both whole but flush against the edges; both with room
    assert allowed(a, boxes) == [False, True]


def test_a_much_smaller_face_is_not_part_of_the_group() -> None:
    a = analysis([(40, 30, 30, 30), (250, 40, 10, 10)])  # a face in the background, a ninth of the area
    boxes = [(0, 0, 100, 100), (20, 0, 250, 100)]
    assert allowed(a, boxes) == [True, True]


def test_when_nobody_fits_with_everyone_as_many_of_the_group_as_fit_are_kept() -> None:
    # three friends, the largest (the main subject) in the middle: no 150-px crop holds all three
    a = analysis([(110, 30, 32, 32), (20, 30, 30, 30), (200, 30, 30, 30)])
    boxes = [(5, 0, 150, 100), (95, 0, 150, 100), (95, 0, 60, 100)]  # two, two, the main face alone
    assert allowed(a, boxes) == [True, True, False]
    # a crop that keeps two whole and a sliver of the third counts as none (it cuts a face)
    a = analysis([(100, 30, 30, 30), (135, 30, 30, 30), (170, 30, 30, 30)])
    assert allowed(a, [(100, 0, 75, 100), (60, 0, 75, 100)]) == [False, True]
    assert allowed_crops(np.zeros((0, 4)), a, np.zeros((3, 0))).tolist() == []  # no candidates: none
