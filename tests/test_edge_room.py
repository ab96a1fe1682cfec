"""Room at the edge: a subject kept whole but pressed against a crop edge (procrop/scoring/edge_room.py)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from procrop.perception.analysis import ColourStats, CompositionAnalysis, Region
from procrop.perception.detectors import Detection
from procrop.scoring.edge_room import MIN_DETECTION_AREA, PENALTY, ROOM, edge_pressure, room_penalty

W, H = 400, 200


def analysis(people=(), regions=(), faces=(), content=None, score=0.9) -> CompositionAnalysis:
    sal = np.zeros((20, 40), np.float32)
    colour = ColourStats(0.5, 0.5, 0.5, 0.5, 0.0, ("grey",))
    dets = [Detection(box, score, "person", "person") for box in people]
    found = [Detection(box, 0.9, "face", "face") for box in faces]
    subjects = [Region(box, (box[0] + box[2] / 2, box[1] + box[3] / 2), mass, "salient",
                       mask=np.ones((20, 40), bool)) for box, mass in regions]
    return CompositionAnalysis(W, H, sal, np.zeros_like(sal), found, dets, subjects, [], None, None, colour,
                               (0.5, 0.5), content=content)


def test_a_subject_touching_an_inner_edge_is_pressed_and_room_relieves_it() -> None:
    """A person whose right side meets the crop's right edge (not the photo's) is pressed (1); with
    ROOM of the crop's width between them, not at all; half of it, half."""
    a = analysis(people=[(150.0, 50.0, 40.0, 100.0)])
    boxes = np.array([[90, 0, 100, 200], [90 + ROOM * 100, 0, 100, 200], [90 + ROOM * 50, 0, 100, 200]],
                     float)
    assert np.allclose(edge_pressure(a, boxes), [1.0, 0.0, 0.5])
    assert np.allclose(room_penalty(a, boxes), PENALTY * np.array([1.0, 0.0, 0.5]))


def test_left_top_and_bottom_edges_and_faces_count_too() -> None:
    """A face 2 px from the crop's left edge, a person 2 px under its top edge and 2 px above its
    bottom edge are pressed by the room their own axis asks (a share of the width, of the height)."""
    left = analysis(faces=[(102.0, 80.0, 30.0, 30.0)])
    assert np.isclose(edge_pressure(left, np.array([[100, 0, 200, 200]], float))[0], 1 - 2 / (ROOM * 200))
    top = analysis(people=[(150.0, 52.0, 40.0, 60.0)])
    assert np.isclose(edge_pressure(top, np.array([[0, 50, 400, 100]], float))[0], 1 - 2 / (ROOM * 100))
    bottom = analysis(people=[(150.0, 90.0, 40.0, 58.0)])
    assert np.isclose(edge_pressure(bottom, np.array([[0, 50, 400, 100]], float))[0], 1 - 2 / (ROOM * 100))


def test_the_pictures_own_edge_and_subjects_that_cannot_have_room_are_not_pressed() -> None:
    """A subject at the photo's own edge is where the photographer put it (a scan border's inside
    edge is not the photo's: blind judges preferred that); a subject cut by the crop is protection's
    business; one as wide as the crop less its margins fills it (a close-up)."""
    at_photo_edge = analysis(people=[(0.0, 50.0, 40.0, 100.0)])
    assert edge_pressure(at_photo_edge, np.array([[0, 0, 200, 200]], float))[0] == 0.0
    bordered = analysis(people=[(20.0, 50.0, 40.0, 100.0)], content=(20, 0, 360, 200))
    assert edge_pressure(bordered, np.array([[20, 0, 200, 200]], float))[0] == 1.0
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


def test_the_preference_score_and_reason_carry_the_penalty(tmp_path: Path, default_cropper,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Through Cropper: a crop whose left edge runs 2 px from a red disc (the photo's only subject)
    scores its room penalty lower, in the preference term's logits, than without the rule, and its
    reason says so; a crop with room says nothing of it."""
    import procrop.scoring.terms.preference as preference

    photo = tmp_path / "disc.png"
    im = Image.new("RGB", (480, 320), (120, 125, 118))
    ImageDraw.Draw(im).ellipse((270, 100, 390, 220), fill=(225, 30, 25))
    im.save(photo)
    ctx = default_cropper.prepare(str(photo))
    pressed, roomy = (268, 40, 200, 240), (230, 40, 200, 240)
    region = max(ctx.analysis.subjects, key=lambda s: s.mass)
    expected = room_penalty(ctx.analysis, np.array([pressed], float))[0]
    assert region.box[0] - pressed[0] < ROOM * 200 and expected > 0.2

    crop, _ = default_cropper.score_box(ctx, pressed)
    assert "a subject crowded against an edge" in crop.reason
    assert "clean edges" not in crop.reason
    assert "crowded against" not in default_cropper.score_box(ctx, roomy)[0].reason
    monkeypatch.setattr(preference, "room_penalty", lambda analysis, boxes: np.zeros(len(boxes)))
    without, _ = default_cropper.score_box(default_cropper.prepare(str(photo)), pressed)

    def logit(p: float) -> float:
        return math.log(p / (1 - p))

    drop = logit(without.terms["preference"]) - logit(crop.terms["preference"])
    drop *= preference.SCORE_TEMPERATURE
    assert drop == pytest.approx(expected, abs=1e-6)


def test_a_tiny_or_unsure_detection_is_no_subject_to_give_room() -> None:
    """A distant figure under MIN_DETECTION_AREA of the photo, or a detection under 0.5, is not a
    subject whose room counts (a trial's 11 x 26 px figure at 0.37 was called crowded)."""
    box = np.array([[90, 0, 100, 200]], float)
    side = (MIN_DETECTION_AREA * W * H) ** 0.5
    tiny = analysis(people=[(189.0 - 0.9 * side, 50.0, 0.9 * side, 0.9 * side)])
    assert edge_pressure(tiny, box)[0] == 0.0
    assert edge_pressure(analysis(people=[(150.0, 50.0, 40.0, 100.0)], score=0.4), box)[0] == 0.0
    assert edge_pressure(analysis(people=[(150.0, 50.0, 40.0, 100.0)]), box)[0] == 1.0
