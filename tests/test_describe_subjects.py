"""What the main subject is called (brief H6b items 1, 2 and 4), on synthetic analyses (a 200 x 100
photo, maps of 20 x 10 cells of 10 px: tests/test_describe.py builds them).

Item 2: a new user read "a small orange subject" and "an orange region" for people: a region
that overlaps a detected person (or holds a face) is a person, never a colour.
Item 1: the beach photo read "Two people, at the left" and "the main subject ... in the centre":
when the main subject is every detection named, one sentence places both; when it is some of
them, it is "one of the two people", never a second place for what reads as the same group.
Item 4: a lone tree and horses were not named: a region is named by the detections it is made
of, else told by size, place and colour (never by a class that only grazes it), and a tree
crown as wide as a band but reaching neither side is a subject, not a band."""

from __future__ import annotations

from procrop.perception.analysis import Region
from procrop.perception.describe import describe
from procrop.perception.detectors import Detection

from test_describe import analysis, face, person, region


def _animal(x: float, y: float, w: float, h: float, label: str = "horse", score: float = 0.9) -> Detection:
    return Detection((x, y, w, h), score, kind="animal", label=label)


def _main(text: str) -> str:
    """The sentence of ``text`` that tells the main subject ('' when none does)."""
    return next((s for s in text.split(". ") if "main subject" in s), "")


# --- item 1: the group and the main subject agree ----------------------------------------------------

def test_a_couple_that_is_the_main_subject_is_placed_once() -> None:
    """The beach: the head's region is the couple, their boxes' centre is left of the middle, the
    mask's centre on the left thirds line. One sentence: 'Two people, the main subject, ...'."""
    couple = region(4, 2, 9, 9, 0.9)
    people = [person(40, 15, 30, 75), person(60, 10, 30, 80)]
    text = describe(analysis([couple], people=people))
    assert "Two people, the main subject, on the left thirds line (about 18% of the frame)." in text, text
    assert text.count("the main subject") == 1 and text.count("third") == 1, text
    # one bird: named with its size and colour in the same sentence
    bird = Detection((100.0, 20.0, 40.0, 50.0), 0.9, kind="animal", label="bird")
    text = describe(analysis([region(10, 2, 14, 7, 0.8, colour="red")], objects=[bird]))
    expected = "A bird, the main subject: small and red, on the right thirds line (about 10% of the frame)"
    assert _main(text) == expected, text


def test_one_of_a_group_is_said_to_be_one_of_them() -> None:
    """Five people across the frame, the head's region one of them: 'one of the five people', not
    'a medium-sized person' beside 'Five people, in the centre'."""
    people = [person(10 + 38 * i, 10, 30, 80) for i in range(5)]
    text = describe(analysis([region(16, 2, 19, 9, 0.8)], people=people))
    assert "Five people, in the centre" in text, text
    expected = "The main subject, one of the five people, sits in the right third (about 10% of the frame)"
    assert _main(text) == expected, text
    # the only horse among a rider and a horse keeps its own words: it cannot be taken for the pair
    text = describe(analysis([region(10, 3, 16, 8, 0.8, colour="brown")],
                             people=[person(20, 10, 30, 80)], objects=[_animal(100, 30, 60, 50)]))
    assert "A person and a horse, in the centre" in text
    assert "The main subject, a medium-sized brown horse, sits on the right thirds line" in text, text


# --- item 2: people are named as people -----------------------------------------------------------

def test_a_region_a_detected_person_overlaps_is_a_person_not_a_colour() -> None:
    """A person with something beside them: the person's box holds 3 of the region's 7 columns
    (43 %, under the half that names a region by any detection), yet the region is the person."""
    text = describe(analysis([region(8, 2, 15, 9, 0.7)], people=[person(120, 0, 80, 100)]))
    main = _main(text)
    assert "person" in main and "orange" not in main, text
    # an unsure detection is a figure, still never a colour
    text = describe(analysis([region(8, 2, 15, 9, 0.7)], people=[person(120, 0, 80, 100, score=0.5)]))
    main = _main(text)
    assert "figure" in main and "orange" not in main, text


def test_a_tiny_person_on_a_large_region_does_not_make_it_a_person() -> None:
    """A hiker 20 px tall on a dune: the dune is told by its size, place and colour."""
    text = describe(analysis([region(2, 3, 14, 9, 0.8)], people=[person(60, 40, 10, 20, score=0.4)]))
    assert "The main subject, large and orange, sits" in text, text


def test_a_face_in_a_region_makes_it_a_person_and_a_face_sized_region_is_the_face() -> None:
    """No person detected (the --fast profile detects faces only): a head and shoulders around a
    face is a person; a region no larger than the face is the face, which the face sentence tells."""
    text = describe(analysis([region(6, 1, 14, 8, 0.8)], faces=[face(80, 10, 30, 30)]))
    main = _main(text)
    assert main.startswith("The main subject, a medium-sized person, sits"), text
    text = describe(analysis([region(8, 1, 11, 4, 0.8)], faces=[face(80, 10, 30, 30)]))
    assert "main subject" not in text and "orange" not in text and "One medium-sized face" in text, text


def test_a_hand_cue_blob_around_a_face_is_a_person() -> None:
    """The --fast profile's regions have no mask: a blob around a face is a person, not 'a
    medium-sized brown region'; a blob the size of the face is the face."""
    a = analysis(faces=[face(75, 20, 30, 30)])
    a.subjects = [Region((40.0, 5.0, 100.0, 75.0), (90.0, 40.0), 0.7, "salient", "brown")]
    text = describe(a)
    assert "The main subject, a large person, sits" in text and "brown region" not in text, text
    a.subjects = [Region((72.0, 18.0, 36.0, 34.0), (90.0, 35.0), 0.7, "salient", "brown")]
    assert "main subject" not in describe(a) and "brown region" not in describe(a)


def test_a_part_of_a_person_reaching_out_of_its_box_is_no_main_subject() -> None:
    """A seated man's knee pokes out of his box: less than half of it lies in the box, but it is
    his, not 'the main subject, tiny and black'."""
    knee = region(15, 7, 18, 10, 0.6, colour="black")  # 30 x 30 px, 1 of 3 columns in the box
    text = describe(analysis([knee], people=[person(20, 0, 140, 100)], faces=[face(70, 5, 25, 30)]))
    assert "main subject" not in text and "black" not in text.split("The palette")[0], text


def test_a_second_region_of_the_same_person_is_not_a_second_colour_region() -> None:
    """The head's second region is the person the main one is named by: not 'a second brown region'."""
    pair = region(4, 2, 12, 9, 0.9)
    man = region(5, 2, 10, 9, 0.6, colour="brown")
    people = [person(40, 10, 60, 80), person(90, 10, 30, 80)]
    text = describe(analysis([pair, man], people=people))
    assert "brown region" not in text and "A second" not in text, text
    # a second person elsewhere is named as a person
    other = region(16, 2, 19, 9, 0.6, colour="brown")
    text = describe(analysis([pair, other], people=people + [person(150, 10, 50, 90)]))
    assert "A second subject, one of the three people, stands out in the right third." in text, text


# --- item 4: named by the class that covers it, else by what is known ------------------------------

def test_horses_merged_into_one_region_are_named_together() -> None:
    """Three horses the head merged into one region, none holding half of it: 'three horses',
    not 'medium-sized and brown'; a rider and her horse are both named."""
    herd = region(2, 3, 17, 7, 0.8, colour="brown")
    horses = [_animal(20, 30, 50, 40), _animal(70, 30, 50, 40), _animal(120, 30, 50, 40)]
    main = _main(describe(analysis([herd], objects=horses)))
    assert "three horses" in main.lower() and "brown" not in main, main
    rider = region(6, 1, 13, 8, 0.8, colour="brown")
    text = describe(analysis([rider], people=[person(80, 10, 30, 40)], objects=[_animal(60, 30, 70, 50)]))
    assert "a person and a horse" in _main(text).lower(), text


def test_a_confident_box_holding_a_quarter_of_a_region_does_not_name_it() -> None:
    """A flower with a beetle a 0.75 'vase' box holds: the flower is never 'a vase'."""
    flower = region(4, 2, 12, 7, 0.8, colour="grey")  # 8 x 5 cells
    vase = Detection((80.0, 40.0, 50.0, 50.0), 0.75, kind="object", label="vase")  # holds 12 of 40 cells
    main = _main(describe(analysis([flower], objects=[vase])))
    assert "vase" not in main and "medium-sized and grey" in main, main


def test_weak_detections_of_the_same_things_count_toward_naming_a_row_of_them() -> None:
    """A row of five boats, two of them confident: the row is the boats (the two named), not
    'medium-sized and red'."""
    row = region(2, 5, 18, 7, 0.8, colour="red")
    boats = [_animal(10 + 36 * i, 45, 36, 30, "boat", 0.9 if i < 2 else 0.6) for i in range(5)]
    boats = [Detection(b.box, b.score, kind="object", label="boat") for b in boats]
    main = _main(describe(analysis([row], objects=boats)))
    assert "boats" in main and "red" not in main, main


def test_a_lone_tree_wider_than_a_band_is_the_main_subject_not_a_band() -> None:
    """A lone tree's crown 85 % wide that reaches neither side of the frame: 'the main subject,
    medium-sized and grey', not 'a grey band' and 'no single subject stands out'; sea reaching
    both sides stays a band."""
    tree = region(2, 1, 19, 3, 0.8, colour="grey", extra=(9, 3, 11, 9))  # crown and trunk
    text = describe(analysis([tree]))
    assert "The main subject, medium-sized and grey, sits" in text and "band" not in text, text
    assert "No single subject" not in text
    sea = region(0, 6, 20, 9, 0.8, colour="blue")
    assert "A salient blue band runs across the frame" in describe(analysis([sea]))


def test_a_scrap_beside_a_close_up_face_is_not_the_main_subject() -> None:
    """--fast on a close-up portrait (no person detected): the face fills the frame and a bit of a
    red scarf was called 'The main subject, tiny and red'; the face sentence tells the subject."""
    big = face(60, 5, 70, 80)  # 28 % of the 200 x 100 frame
    text = describe(analysis([region(1, 7, 3, 9, 0.9, colour="red")], faces=[big]))
    assert "close-up portrait" in text and "main subject" not in text, text
    # a region as large as the face beside it is still told
    text = describe(analysis([region(14, 1, 19, 9, 0.9, colour="red")], faces=[face(40, 10, 40, 50)]))
    assert "main subject" in text, text
