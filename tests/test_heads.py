"""The head round a face: its hair, kept where a crop can (rule 1b of protection, after the people's
rules), on the synthetic 300 x 100 photo of ``test_group_faces``."""

from __future__ import annotations

from test_group_faces import allowed, analysis

from procrop.scoring.heads import hair_top


def test_the_hair_above_a_face_is_kept_where_a_crop_can() -> None:
    """A face at y 50-80 whose hot saliency (hair, a hat) runs up to y 20: where a crop can, it keeps
    that too, after the head's usual tenth above the face; a map cold above the face asks nothing."""
    a = analysis([(135, 50, 30, 30)])
    a.saliency[5:8, 13:17] = 1.0  # the face's cells (10 px each)
    assert hair_top(a.faces[0], a) == 50.0  # nothing hot above it
    a.saliency[2:5, 13:17] = 1.0  # hair up to y 20
    assert hair_top(a.faces[0], a) == 26.0  # at most 0.8 face heights above the face
    boxes = [(100, 10, 100, 90), (100, 30, 100, 70)]  # the hair whole; only the usual head above
    assert allowed(a, boxes) == [True, False]
