"""The head round a face: its hair, kept where a crop can (rule 1b of protection, after the people's
rules), on the synthetic 300 x 100 photo of ``test_group_faces``."""

from __future__ import annotations

from dataclasses import replace

from test_group_faces import allowed
from test_group_faces import analysis as faces_only

from procrop.perception.detectors import Detection

from procrop.scoring.heads import hair_top


def analysis(faces, people=()):  # noqa: ANN001, ANN201 - the photo of test_group_faces, the head's map
    return replace(faces_only(faces), people=list(people), saliency_source="head")


def test_the_hair_above_a_face_is_kept_where_a_crop_can() -> None:
    """A face at y 53-83 painted into the map as the analysis paints it (whole 10-px cells, from y 50)
    asks nothing above its own cells; with hot hair up to y 20 over its width, a crop keeps that too,
    where one can: at most 0.8 face heights above the face."""
    a = analysis([(135, 53, 30, 30)])
    a.saliency[5:9, 13:17] = 1.0  # the face's own cells, y 50-90
    assert hair_top(a.faces[0], a) == 53.0  # its painted cells are no hair
    a.saliency[2:5, 13:17] = 1.0  # hair from y 20
    assert hair_top(a.faces[0], a) == 29.0  # 0.8 x 30 above the face
    boxes = [(100, 10, 100, 90), (100, 40, 100, 60)]  # the hair whole; only the head's usual 35 %
    assert allowed(a, boxes) == [True, False]
    a.saliency[2:5, 13:17] = 0.0
    a.saliency[2:5, 20:24] = 1.0  # hot beside the head, not over it (a raised hand, a sign)
    a.saliency[5:9, 17:20] = 1.0
    assert hair_top(a.faces[0], a) == 53.0


def test_the_hair_gives_way_to_a_person_kept_whole() -> None:
    """The hair rule comes after the people's rules: a crop that keeps a person whole is not dropped
    for the hair above another's face (here the hair and the standing person do not fit together)."""
    person = Detection((200, 30, 60, 70), 0.9, "person", "person")  # whole only from y 30 down
    a = analysis([(130, 50, 40, 40)], [person])
    a.saliency[1:9, 13:17] = 1.0  # a face (y 50-90) with hair up to y 10: its top is 18, 0.8 x 40 up
    assert hair_top(a.faces[0], a) == 18.0
    boxes = [(110, 30, 150, 70), (110, 18, 150, 72)]  # the person whole, hair cut; hair whole, person cut
    assert allowed(a, boxes) == [True, False]


def test_no_hair_is_read_from_the_hand_made_cues() -> None:
    a = replace(analysis([(135, 53, 30, 30)]), saliency_source="cues")
    a.saliency[2:9, 13:17] = 1.0
    assert hair_top(a.faces[0], a) == 53.0
