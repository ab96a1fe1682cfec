"""Room in front of a subject that faces a side (procrop/scoring/lead_room.py)."""

from __future__ import annotations

import numpy as np

from procrop.perception.analysis import ColourStats, CompositionAnalysis
from procrop.perception.detectors import Detection
from procrop.scoring.lead_room import LEAD, PENALTY, facing, lead_penalty, lead_pressure

W, H = 400, 200


def face(x: float, nose_shift: float, width: float = 40.0) -> Detection:
    """A face box at ``x`` whose nose lies ``nose_shift`` eye distances right of its eyes' middle."""
    eyes = (x + 0.3 * width, x + 0.7 * width)
    nose = (eyes[0] + eyes[1]) / 2 + nose_shift * (eyes[1] - eyes[0])
    points = (("right_eye", eyes[0], 80.0, 0.9), ("left_eye", eyes[1], 80.0, 0.9), ("nose", nose, 95.0, 0.9))
    return Detection((x, 60.0, width, 50.0), 0.9, "face", "face", keypoints=points)


def analysis(faces=(), animals=()) -> CompositionAnalysis:
    sal = np.zeros((20, 40), np.float32)
    colour = ColourStats(0.5, 0.5, 0.5, 0.5, 0.0, ("grey",))
    return CompositionAnalysis(W, H, sal, np.zeros_like(sal), list(faces), [], [], [], None, None, colour,
                               (0.5, 0.5), objects=list(animals))


def animal(head_x: float, label: str) -> Detection:
    """An animal box 20..120 with a face found at ``head_x`` (its ``head`` keypoint)."""
    head = (("head", head_x, 110.0, 0.8),)
    return Detection((20.0, 100.0, 100.0, 60.0), 0.8, "animal", label, keypoints=head)


def test_directions_from_a_faces_nose_and_an_animals_head() -> None:
    """A nose off the eyes' middle turns the face that way; a frontal face and a small face in a
    crowd face no side; an animal faces its head's end, not a head near its middle."""
    turned_left, frontal, small = face(200, -0.6), face(100, 0.05), face(300, 0.8, width=10)
    head_right, head_mid = animal(110.0, "dog"), animal(75.0, "cat")
    found = facing(analysis([turned_left, frontal, small], [head_right, head_mid]))
    assert found == [(turned_left.box, -1), (head_right.box, 1)]


def test_a_background_animal_much_smaller_than_the_largest_sets_no_direction() -> None:
    """A trial's blurred cow behind a horse and rider was said to have "little room ahead"."""
    head = (("head", 338.0, 25.0, 0.8),)
    small = Detection((300.0, 20.0, 40.0, 30.0), 0.8, "animal", "cow", keypoints=head)
    assert facing(analysis(animals=[animal(110.0, "horse"), small])) == [(animal(110.0, "horse").box, 1)]


def test_room_ahead_short_of_lead_is_pressed_only_against_an_inner_edge() -> None:
    """A face turned left with 2 % of the crop's width ahead and more behind: pressed by how short of
    LEAD that room falls; the same at the photo's own left edge, or with more room ahead than
    behind, or once it has LEAD of room, is not."""
    a = analysis([face(104, -0.6)])  # box 104..144
    crop = np.array([[100, 0, 200, 200]], float)  # 4 px = 2 % ahead (left), 156 behind
    expected = 1 - 4 / (LEAD * 200)
    assert np.isclose(lead_pressure(a, crop)[0], expected)
    assert np.isclose(lead_penalty(a, crop)[0], PENALTY * expected)
    assert lead_pressure(analysis([face(4, -0.6)]), np.array([[0, 0, 200, 200]], float))[0] == 0.0
    assert lead_pressure(a, np.array([[104 - LEAD * 200, 0, 200, 200]], float))[0] == 0.0
    right = analysis([face(104, 0.6)])  # the same face turned right: 156 px ahead
    assert lead_pressure(right, crop)[0] == 0.0


def test_a_subject_facing_right_and_the_room_behind() -> None:
    """Turned right, 4 px from the crop's inner right edge: pressed. A wide face with a little less
    room ahead than behind is pressed; with a little more ahead than behind, not (it is centred as
    well as the crop allows)."""
    facing_right = analysis([face(256, 0.6)])  # box 256..296 in a crop 100..300
    crop = np.array([[100, 0, 200, 200]], float)
    assert np.isclose(lead_pressure(facing_right, crop)[0], 1 - 4 / (LEAD * 200))
    less_ahead = analysis([face(118, -0.6, width=160)])  # 18 px ahead, 22 behind
    assert np.isclose(lead_pressure(less_ahead, crop)[0], 1 - 18 / (LEAD * 200))
    more_ahead = analysis([face(122, -0.6, width=160)])  # 22 px ahead, 18 behind
    assert lead_pressure(more_ahead, crop)[0] == 0.0


def test_a_cut_subject_or_one_too_wide_for_the_lead_is_not_measured() -> None:
    cut = analysis([face(90, -0.6)])  # a quarter of the face outside the crop
    assert lead_pressure(cut, np.array([[100, 0, 200, 200]], float))[0] == 0.0
    wide = analysis([face(101, -0.6, width=180)])  # 180 + 1.5 x 24 > 200
    assert lead_pressure(wide, np.array([[100, 0, 200, 200]], float))[0] == 0.0
