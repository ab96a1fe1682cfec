"""Room at the edge: a subject kept whole but pressed against a crop edge (procrop/scoring/edge_room.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from procrop.perception.analysis import ColourStats, CompositionAnalysis, Region
from procrop.perception.detectors import Detection
from procrop.scoring.edge_room import PENALTY, ROOM, edge_pressure, room_penalty

W, H = 400, 200


def analysis(people=(), regions=()) -> CompositionAnalysis:
    sal = np.zeros((20, 40), np.float32)
    colour = ColourStats(0.5, 0.5, 0.5, 0.5, 0.0, ("grey",))
    dets = [Detection(box, 0.9, "person", "person") for box in people]
    subjects = [Region(box, (box[0] + box[2] / 2, box[1] + box[3] / 2), mass, "salient", mask=np.ones((20, 40), bool))
                for box, mass in regions]
    return CompositionAnalysis(W, H, sal, np.zeros_like(sal), [], dets, subjects, [], None, None, colour, (0.5, 0.5))


def test_a_subject_touching_an_inner_edge_is_pressed_and_room_relieves_it() -> None:
    """A person whose right side meets the crop's right edge (not the photo's) is pressed (1); with
    ROOM of the crop's width between them, not at all; half of it, half."""
    a = analysis(people=[(150.0, 50.0, 40.0, 100.0)])
    boxes = np.array([[90, 0, 100, 200], [90 + ROOM * 100, 0, 100, 200], [90 + ROOM * 50, 0, 100, 200]], float)
    assert np.allclose(edge_pressure(a, boxes), [1.0, 0.0, 0.5])
    assert np.allclose(room_penalty(a, boxes), PENALTY * np.array([1.0, 0.0, 0.5]))


def test_the_photos_own_edge_and_subjects_that_cannot_have_room_are_not_pressed() -> None:
    """A subject at the photo's own edge is where the photographer put it; a subject cut by the
    crop is protection's business; one as wide as the crop less its margins fills it (a close-up)."""
    at_photo_edge = analysis(people=[(0.0, 50.0, 40.0, 100.0)])
    assert edge_pressure(at_photo_edge, np.array([[0, 0, 200, 200]], float))[0] == 0.0
    cut = analysis(people=[(150.0, 50.0, 60.0, 100.0)])
    assert edge_pressure(cut, np.array([[100, 0, 100, 200]], float))[0] == 0.0  # a third of it outside
    filling = analysis(people=[(101.0, 50.0, 98.0, 100.0)])
    assert edge_pressure(filling, np.array([[100, 0, 100, 200]], float))[0] == 0.0


def test_only_regions_holding_enough_saliency_count_and_the_most_pressed_subject_decides() -> None:
    """A faint salient region is not a subject; of two subjects the more pressed one sets the value."""
    faint = analysis(regions=[((150.0, 50.0, 40.0, 100.0), 0.05)])
    box = np.array([[90, 0, 100, 200]], float)
    assert edge_pressure(faint, box)[0] == 0.0
    strong = replace(faint, subjects=[replace(faint.subjects[0], mass=0.5)])
    assert edge_pressure(strong, box)[0] == 1.0
    two = analysis(people=[(100.0, 60.0, 20.0, 50.0), (160.0, 60.0, 28.0, 50.0)])  # 10 px and 2 px of room
    assert np.isclose(edge_pressure(two, np.array([[90, 0, 100, 200]], float))[0], 1 - 2 / (ROOM * 100))
