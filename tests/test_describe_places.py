"""Where things are, in words (brief H6b item 3): every place in a description follows the thirds
of the frame (boundaries at 1/3 and 2/3). A new user read "two faces at the top" for faces a fifth
and a quarter of the way down, well inside the frame: the old words split the frame at 0.4 and
0.6 and said "at the top", which reads as the top edge."""

from __future__ import annotations

import re

from procrop.perception.describe import describe, position_words
from procrop.perception.describe_words import place_words, third_words

from test_describe import H, W, analysis, face, person, region


def test_position_words_name_the_third_a_point_is_in() -> None:
    assert position_words(0.30, 0.5) == "in the left third"
    assert position_words(0.36, 0.5) == "in the centre"  # left of centre, but in the middle third
    assert position_words(0.64, 0.5) == "in the centre"
    assert position_words(0.70, 0.5) == "in the right third"
    assert position_words(0.5, 0.2) == "in the upper third"
    assert position_words(0.5, 0.38) == "in the centre"  # the old rule said "at the top"
    assert position_words(0.8, 0.8) == "in the lower and right thirds"
    assert position_words(0.1, 0.05) == "in the upper and left thirds"


def test_place_words_add_the_third_along_a_thirds_line() -> None:
    assert place_words(0.34, 0.5) == "on the left thirds line"
    assert place_words(0.32, 0.85) == "on the left thirds line, in the lower third"
    assert place_words(0.9, 0.64) == "on the lower thirds line, in the right third"
    assert place_words(0.68, 0.3) == third_words(0.68, 0.3) == "on the upper-right thirds point"
    assert place_words(0.5, 0.9) == "in the lower third"


def test_faces_in_the_upper_part_are_in_the_upper_third_not_at_the_top() -> None:
    """The beach photo: two faces 18 % and 27 % of the way down, both in the middle third across."""
    faces = [face(0.42 * W, 0.13 * H, 0.04 * W, 0.08 * H), face(0.34 * W, 0.23 * H, 0.04 * W, 0.08 * H)]
    text = describe(analysis(faces=faces))
    assert "Two faces, in the upper third." in text
    assert "at the top" not in text and "the largest" not in text  # nothing more to say of the largest
    # faces in the middle third are no longer "at the top" (the old split at 0.4)
    lower = [face(0.42 * W, 0.33 * H, 0.04 * W, 0.08 * H), face(0.34 * W, 0.35 * H, 0.04 * W, 0.08 * H)]
    assert "Two faces, in the centre." in describe(analysis(faces=lower))
    # the largest face is placed apart only when its third differs from the faces' third
    mixed = [face(0.15 * W, 0.05 * H, 0.1 * W, 0.2 * H), face(0.53 * W, 0.1 * H, 0.04 * W, 0.08 * H)]
    text = describe(analysis(faces=mixed))
    assert "Two faces, in the upper third; the largest in the upper and left thirds." in text
    # a place some face is not in is not theirs (a trial: "Two faces, in the left third; the largest in
    # the centre")
    apart = [face(0.17 * W, 0.45 * H, 0.04 * W, 0.08 * H), face(0.42 * W, 0.43 * H, 0.08 * W, 0.12 * H)]
    text = describe(analysis(faces=apart))
    assert "Two faces, in different thirds; the largest in the centre." in text and "left third" not in text
    high_low = [face(0.45 * W, 0.07 * H, 0.06 * W, 0.08 * H), face(0.45 * W, 0.81 * H, 0.04 * W, 0.06 * H)]
    assert "Two faces, spread across the frame; the largest in the upper third." in describe(
        analysis(faces=high_low))  # far apart up and down is spread too


def test_no_edge_words_anywhere_in_a_description() -> None:
    """'At the top', 'at the left'... are gone from every sentence: subjects, detections, faces,
    bands and vanishing points all say which third."""
    texts = [
        describe(analysis([region(1, 1, 5, 3, 0.6)], people=[person(150, 60, 40, 40)],
                          faces=[face(5, 5, 15, 15)])),
        describe(analysis([region(15, 7, 19, 10, 0.6), region(0, 0, 20, 2, 0.3, colour="blue")])),
    ]
    for text in texts:
        assert not re.search(r"\bat the (top|bottom|left|right)", text), text
        assert "third" in text, text
    assert "sits in the centre" in describe(analysis([region(8, 4, 12, 6, 0.6)]))


def test_an_off_thirds_subject_is_said_to_be_off_the_thirds() -> None:
    """The reason for a poorly placed subject says where it is without naming a third it is in
    ("the face is awkwardly placed (in the upper third)" read as a contradiction: the upper third
    is where the rule of thirds wants a face)."""
    from procrop.scoring.explain import off_thirds_words

    assert off_thirds_words(0.5, 0.1) == "near the top"
    assert off_thirds_words(0.9, 0.85) == "near the bottom and near the right edge"
    assert off_thirds_words(0.42, 0.45) == "between the thirds lines and the centre"
