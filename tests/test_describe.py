"""Words for what procrop sees: the rules of :func:`procrop.perception.describe.describe` that a
new-user trial found wrong (issue 18, item 4), on small synthetic analyses (a 200 x 100 photo whose
maps are 20 x 10 cells of 10 px), so each rule is checked exactly and without a model.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from procrop.perception.analysis import ColourStats, CompositionAnalysis, Horizon, Line, Region
from procrop.perception.colour import dominant_colour_name, standout_colour_name
from procrop.perception.describe import describe, for_reader
from procrop.perception.describe_words import format_words, readable_ratio
from procrop.perception.detectors import Detection
from procrop.perception.horizon_check import real_horizon

W, H = 200, 100


def region(x0: int, y0: int, x1: int, y1: int, mass: float = 0.5, colour: str = "orange",
           extra: tuple[int, int, int, int] | None = None) -> Region:
    """A salient region covering map cells ``[y0:y1, x0:x1]`` (and ``extra``, another block of cells)."""
    m = np.zeros((10, 20), bool)
    m[y0:y1, x0:x1] = True
    if extra is not None:
        m[extra[1]:extra[3], extra[0]:extra[2]] = True
    rows, cols = np.nonzero(m)
    box = (cols.min() * 10.0, rows.min() * 10.0, (cols.max() + 1 - cols.min()) * 10.0, (rows.max() + 1 - rows.min()) * 10.0)
    return Region(box, ((cols.mean() + 0.5) * 10, (rows.mean() + 0.5) * 10), mass, "salient", colour, "", m)


def analysis(subjects: list[Region] = (), people: list[Detection] = (), objects: list[Detection] = (),
             faces: list[Detection] = (), horizon: Horizon | None = None, rgb: np.ndarray | None = None) -> CompositionAnalysis:
    """An analysis with these parts; ``rgb`` (10 x 20) gives its CIELAB map."""
    sal = np.zeros((10, 20), np.float32)
    for s in subjects:
        sal[s.mask] = 1.0
    lab = None if rgb is None else cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2LAB).astype(np.float32)
    colour = ColourStats(0.5, 0.5, 0.5, 0.5, 0.0, ("grey",))
    return CompositionAnalysis(W, H, sal, np.zeros_like(sal), list(faces), list(people), list(subjects), [], None,
                               horizon, colour, (0.5, 0.5), lab=lab, objects=list(objects), saliency_source="head")


def person(x: float, y: float, w: float, h: float, score: float = 0.9) -> Detection:
    return Detection((x, y, w, h), score, kind="person", label="person")


def face(x: float, y: float, w: float, h: float) -> Detection:
    return Detection((x, y, w, h), 0.9, kind="face")


# --- portraits ---------------------------------------------------------------------------------

def test_a_face_filling_the_frame_is_a_close_up_portrait() -> None:
    text = describe(analysis(people=[person(10, 0, 180, 100)], faces=[face(60, 5, 80, 60)]))  # 24 % of the frame
    assert "A close-up portrait: the face fills the frame" in text and "One large face" not in text


def test_a_large_face_of_a_detected_person_is_a_portrait_but_not_on_a_carving() -> None:
    big = face(75, 10, 50, 40)  # 10 % of the frame: head and shoulders
    assert "A close-up portrait: one large face" in describe(analysis(people=[person(40, 0, 120, 100)], faces=[big]))
    # a half-length portrait (a face of 6 %) is a portrait, not a close-up
    text = describe(analysis(people=[person(40, 0, 120, 100)], faces=[face(85, 10, 30, 40)]))
    assert "A portrait: one face on the upper thirds line." in text and "close-up" not in text
    # the same face on a totem pole the detector is unsure is a person: a face, no portrait
    text = describe(analysis(people=[person(40, 0, 120, 100, score=0.54)], faces=[big]))
    assert "portrait" not in text and "face on the upper thirds line" in text
    # a small face is a face
    text = describe(analysis(people=[person(40, 0, 120, 100)], faces=[face(90, 10, 15, 15)]))
    assert "portrait" not in text and "face" in text


def test_large_faces_of_detected_people_are_a_portrait_of_them_but_lanterns_are_not_people() -> None:
    two = analysis(people=[person(0, 0, 100, 100), person(100, 0, 100, 100)],
                   faces=[face(20, 10, 50, 40), face(130, 10, 50, 40)])
    assert "A close-up portrait of two people: their faces spread across the frame" in describe(two)
    smaller = analysis(people=[person(0, 0, 100, 100), person(100, 0, 100, 100)],
                       faces=[face(20, 10, 30, 40), face(130, 10, 30, 40)])
    assert "A portrait of two people: their faces spread across the frame" in describe(smaller)
    # one man before a wall of lanterns, two of which the face detector took for faces
    lanterns = analysis(people=[person(120, 0, 60, 100)],
                        faces=[face(130, 10, 30, 40), face(10, 10, 25, 25), face(60, 50, 25, 25)])
    text = describe(lanterns)
    assert "portrait" not in text and "Three faces, spread across the frame" in text


def test_a_part_of_a_person_is_never_the_main_subject() -> None:
    """The striped collar of a portrait (a region much smaller than the person it lies in) is not
    'the main subject, a small part of the person'; the person and the face are."""
    collar = region(2, 6, 6, 10, 0.6)
    text = describe(analysis([collar], people=[person(0, 0, 200, 100)], faces=[face(60, 5, 80, 60)]))
    assert "main subject" not in text and "part of the person" not in text and "small person" not in text
    assert "A person," in text and "close-up portrait" in text


# --- subjects named by class, size and place -----------------------------------------------------

def test_a_small_part_of_an_animal_is_still_called_a_part() -> None:
    bird = Detection((0.0, 0.0, 200.0, 100.0), 0.9, kind="animal", label="bird")
    a = analysis([region(9, 1, 12, 4)], objects=[bird])
    learned = describe(a, animal_words=False)
    assert "The main subject, a small part of the bird, sits" in learned  # the scorer's training words
    # a reader: the bird is not small, the part is (a trial read "a tiny part of the bird" as a tiny bird)
    reader = "The main subject is part of the bird: a small part that sits"
    assert reader in describe(a, for_people=True) and reader in for_reader(learned, a)


def test_a_slim_subject_spanning_its_box_is_the_subject_not_a_part() -> None:
    """A heron's body fills most of the width and height of the box its neck and legs widen, in
    less than half its area: it is 'a small orange bird' (the helper's colour), not 'a part'."""
    heron = Detection((100.0, 20.0, 60.0, 70.0), 0.9, kind="animal", label="bird")
    body = region(11, 3, 14, 7, 0.6, extra=(10, 2, 11, 3))  # 30 x 40 px + the head: a 40 x 50 box in 60 x 70
    text = describe(analysis([body], objects=[heron]))
    assert "A bird, the main subject: small and orange, on" in text and "part of" not in text


def test_a_named_subject_is_placed_and_sized_by_its_mask_inside_the_detection() -> None:
    """An osprey merged with the branch it sits on: the bird names the region, and the bird's part
    of the mask (on the left thirds line, 6 % of the frame) says where and how large it is, not the
    bird-and-branch box (the centre, 40 %)."""
    osprey = Detection((50.0, 20.0, 30.0, 60.0), 0.9, kind="animal", label="bird")
    merged = region(6, 2, 8, 8, 0.7, colour="grey", extra=(8, 6, 13, 7))  # bird 20 x 60 px, branch 50 x 10
    text = describe(analysis([merged], objects=[osprey]))
    assert "A bird, the main subject: small and grey, on the left thirds line (about 6% of the frame)." in text


def test_an_unnamed_subject_is_told_by_size_place_and_colour_never_as_a_person() -> None:
    text = describe(analysis([region(2, 2, 8, 8, 0.6)], people=[person(150, 0, 50, 100)]))
    assert "The main subject, medium-sized and orange, sits in the left third (about 18% of the frame)." in text
    assert "main subject, a person" not in text and "orange person" not in text


# --- bands ---------------------------------------------------------------------------------------

def test_a_band_that_is_a_detected_subject_is_not_a_band() -> None:
    body = region(1, 3, 19, 10, 0.9, colour="red")  # a portrait's body spanning the width
    assert "band" not in describe(analysis([body], people=[person(0, 0, 200, 100)]))
    sea = region(0, 6, 20, 9, 0.9, colour="blue")
    assert "A salient blue band runs across the frame in the lower third." in describe(analysis([sea], people=[person(90, 0, 20, 40)]))


# --- horizons ------------------------------------------------------------------------------------

def sky_over_sea() -> np.ndarray:
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[:5] = (120, 170, 230)
    rgb[5:] = (30, 60, 110)
    return rgb


LEVEL = Horizon(50.0, 50.0, 0.0, 0.8, "line")


def test_a_sky_over_sea_is_a_horizon_even_behind_a_small_subject() -> None:
    a = analysis(horizon=LEVEL, rgb=sky_over_sea(), people=[person(90, 20, 20, 60)])
    assert real_horizon(a)
    assert "A level horizon runs through the middle (50% down)." in describe(a)


def test_a_colour_divide_is_not_called_level_or_tilted_to_a_reader() -> None:
    """A trial read "A horizon tilted 6° up to the right" on a level sea (a cliff ridge's divide) and
    "tilted 2°" on a hazy one: the row profile's slope is fitted to a few columns' strongest edges.
    A reader is told level or tilted only of a straight line found across the frame; the learned
    scorer keeps the words it was trained with."""
    for angle in (0.0, 2.0, -6.0):  # a positive angle rises to the right: the right end is higher
        a = analysis(horizon=Horizon(50.0 + angle, 50.0 - angle, angle, 0.6, "profile"), rgb=sky_over_sea())
        said = describe(a, for_people=True)
        assert "A horizon runs through the middle (50% down)." in said
        assert "level" not in said and "tilted" not in said
        assert ("level" if angle == 0 else "tilted") in describe(a, animal_words=False)  # its words
        assert for_reader(describe(a, animal_words=False), a) == said
    tilted = analysis(horizon=Horizon(47.0, 53.0, -3.0, 0.8, "line"), rgb=sky_over_sea())
    assert "A horizon tilted 3° down to the right runs" in describe(tilted, for_people=True)
    # an unsure divide is not told a reader at all (a trial's hazy sea: found at its dark bottom, 91 %
    # down, for a horizon 57 % down); the learned scorer still reads it
    unsure = analysis(horizon=Horizon(50.0, 50.0, 0.0, 0.35, "profile"), rgb=sky_over_sea())
    assert "horizon" not in describe(unsure, for_people=True)
    assert "horizon" in describe(unsure, animal_words=False)
    assert for_reader(describe(unsure, animal_words=False), unsure) == describe(unsure, for_people=True)


def test_short_segments_are_not_strong_lines_to_a_reader() -> None:
    """A trial's puffin among daisies and a portrait against leaves read "Strong diagonal lines dominate
    the structure": Hough segments of petals and leaves, none over a fifth of the frame's diagonal.
    A reader is told of lines only when one spans a quarter of the diagonal."""
    diag = float(np.hypot(W, H))
    side = 0.19 * diag / np.sqrt(2)  # four 45° segments, each 0.19 of the diagonal (0.76 in all)
    short = [Line(40.0 * i, 0.0, 40.0 * i + side, side, 0.19 * diag, 45.0) for i in range(4)]
    a = replace(analysis(), lines=short)
    assert "Strong diagonal lines" in describe(a, animal_words=False)  # the learned scorer's words
    assert "lines" not in describe(a, for_people=True)
    assert for_reader(describe(a, animal_words=False), a) == describe(a, for_people=True)
    long = replace(analysis(), lines=[*short, Line(0.0, 0.0, 180.0, 90.0, 0.9 * diag, 27.0)])
    assert "Strong diagonal lines dominate the structure." in describe(long, for_people=True)


def test_a_weak_person_with_a_face_is_counted_as_a_person() -> None:
    """The trial's runway: "Five people and four figures" beside eleven faces."""
    sure, weak = person(0, 20, 40, 80), person(100, 20, 40, 80, score=0.45)
    assert describe(analysis(people=[sure, weak])).count("A person") == 1  # the weak one is left out
    with_face = analysis(people=[sure, weak], faces=[face(110, 25, 20, 20), face(10, 25, 20, 20)])
    assert "Two people" in describe(with_face)


def test_a_backdrop_over_a_row_of_heads_is_no_horizon() -> None:
    """The trial's runway: a glittering backdrop over a line of people whose heads reach just below
    the divide; the band under it is their heads, not the ground."""
    heads_below = [person(x, 52, 18, 48) for x in range(0, 200, 20)]
    assert not real_horizon(analysis(horizon=LEVEL, rgb=sky_over_sea(), people=heads_below))
    well_below = [person(x, 85, 18, 15) for x in range(0, 200, 20)]  # a crowd well under a real horizon
    assert real_horizon(analysis(horizon=LEVEL, rgb=sky_over_sea(), people=well_below))


def test_a_line_through_a_portrait_sitter_is_no_horizon() -> None:
    """A studio portrait: a plain backdrop over dark clothes, the person filling the width; the
    divide runs through the body, not behind it."""
    rgb = sky_over_sea()
    a = analysis(horizon=LEVEL, rgb=rgb, people=[person(20, 0, 160, 100)], faces=[face(70, 5, 60, 40)])
    assert not real_horizon(a) and "horizon" not in describe(a)


def test_a_divide_that_changes_colour_across_the_frame_is_no_horizon() -> None:
    """Hair over a collar on the left, a bright backdrop over a dark coat on the right: a level
    colour step everywhere, but not the same one (no sky over ground)."""
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[:5, :10], rgb[5:, :10] = (20, 20, 20), (230, 230, 230)
    rgb[:5, 10:], rgb[5:, 10:] = (230, 230, 230), (20, 20, 20)
    a = analysis(horizon=LEVEL, rgb=rgb)
    assert not real_horizon(a) and "horizon" not in describe(a)


def test_a_divide_across_part_of_the_width_is_no_horizon() -> None:
    """A backdrop's edge behind one shoulder: the colour changes over a third of the width only."""
    rgb = np.full((10, 20, 3), 128, np.uint8)
    rgb[:5, :6] = (230, 230, 230)
    a = analysis(horizon=LEVEL, rgb=rgb)
    assert not real_horizon(a) and "horizon" not in describe(a)
    assert real_horizon(analysis(horizon=LEVEL, rgb=sky_over_sea()))  # the same line with the step everywhere


# --- the photo's shape -------------------------------------------------------------------------

def test_the_shape_reads_as_a_common_ratio_and_the_learned_text_keeps_its_exact_label() -> None:
    sizes = [(1024, 683), (683, 1024), (1024, 640), (1920, 1080), (1000, 1000), (1000, 1001)]
    assert [readable_ratio(w, h) for w, h in sizes] == ["3:2", "2:3", "16:10", "16:9", "1:1", "about 1:1"]
    assert readable_ratio(1024, 693) == "about 3:2"  # exactly 28:19, which reads like a typing error
    assert readable_ratio(1024, 472) == "2.17:1" and readable_ratio(472, 1024) == "1:2.17"
    # a whole number to one, and 7:5 and 5:2, by name; no trailing zeros (a trial read "4.00:1")
    more = [(4000, 1000), (1000, 30000), (700, 500), (2500, 1000), (1400, 1000)]
    assert [readable_ratio(w, h) for w, h in more] == ["4:1", "1:30", "7:5", "5:2", "7:5"]
    assert readable_ratio(1000, 1450) == "1:1.45"
    assert format_words(1000, 1030, readable=True).startswith("A square")
    a = replace(analysis([region(2, 2, 8, 8)]), width=1024, height=693)
    learned = describe(a, animal_words=False)
    assert learned.startswith("A landscape-format (28:19) photo.")  # the words the scorer was trained on
    assert describe(a).startswith("A landscape-format (28:19) photo.")  # as the trainers write them
    reader = describe(a, for_people=True)
    assert reader.startswith("A landscape-format (about 3:2) photo.") and for_reader(learned, a) == reader


def test_a_tiny_detection_reads_under_1_percent_for_people_and_the_learned_text_keeps_its_words() -> None:
    """A 0.47 car of 0.3 % of the frame read "(about 0% of the frame)" (a trial); the learned scorer
    keeps the words it was trained with, and the reader's shortcut from them says the same."""
    car = Detection((20.0, 60.0, 8.0, 6.0), 0.8, kind="object", label="car")
    a = analysis(objects=[car])
    learned = describe(a, animal_words=False)
    assert "(about 0% of the frame)" in learned
    reader = describe(a, for_people=True)
    assert "A car, " in reader and "(under 1% of the frame)" in reader and "0%" not in reader
    assert for_reader(learned, a) == reader


# --- the colour a reader is told ---------------------------------------------------------------

def test_a_small_subject_is_named_by_the_colour_that_sets_it_apart() -> None:
    """A red ladybird on a green stem: its coarse mask holds mostly green, which also fills the ring
    round it; the reader is told red, the learned scorer keeps the map's word it was trained with."""
    rgb = np.zeros((200, 400, 3), np.uint8)
    rgb[:] = (40, 140, 50)  # green leaves
    cv2.circle(rgb, (210, 110), 12, (200, 30, 20), -1)  # the ladybird, an eighth of its mask
    mask = np.zeros((10, 20), bool)
    mask[4:7, 9:12] = True
    assert dominant_colour_name(rgb[80:140, 180:240].reshape(-1, 3)) == "green"
    assert standout_colour_name(rgb, mask, "green") == "red"
    plain = np.full_like(rgb, (40, 140, 50))  # nothing sets the subject apart: no standout colour
    assert standout_colour_name(plain, mask, "green") == ""
    # a subject whose own dominant colour already sets it apart keeps it (a brown bear's black shadows)
    bear = rgb.copy()
    bear[80:140, 180:240] = (110, 70, 30)  # brown, with a dark patch an eighth of it
    cv2.circle(bear, (210, 110), 12, (10, 10, 10), -1)
    assert standout_colour_name(bear, mask, "brown") == ""
    assert standout_colour_name(bear, mask, "green") == "brown"  # told as its map would be wrong
    bug = replace(region(9, 4, 12, 7, colour="green"), standout_colour="red")
    a = analysis([bug])
    learned, reader = describe(a, animal_words=False), describe(a, for_people=True)
    assert "green" in learned and "red" not in learned  # the scorer's training words
    assert "red" in reader and "green" not in reader
    assert for_reader(learned, a) == reader  # the shortcut from the scorer's text describes again
    same = analysis([replace(bug, standout_colour="green")])
    assert describe(same) == describe(same, animal_words=False)


def test_the_colour_table_gives_the_formulas_classes() -> None:
    from procrop.perception.colour import _classes_of_hsv, _colour_classes

    rgb = np.random.default_rng(3).integers(0, 256, (200_000, 3), dtype=np.uint8)
    hsv = cv2.cvtColor(rgb.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3)
    assert (_colour_classes(rgb) == _classes_of_hsv(hsv)).all()  # all 2^24 colours agreed once, by hand


def test_what_a_person_wears_is_never_the_main_subject_told_to_people() -> None:
    """A trial read "The main subject, a small blue tie" under a portrait: for people the tie is a
    part of the person; the learned scorer keeps the words it was trained with."""
    tie_region = replace(region(9, 5, 11, 8, colour="blue"), label="tie")
    man = person(0, 0, W, H)
    tie = Detection(tie_region.box, 0.8, kind="object", label="tie")
    a = analysis([tie_region], people=[man], objects=[tie])
    learned, reader = describe(a, animal_words=False), describe(a, for_people=True)
    assert "main subject" in learned and "tie" in learned  # the scorer's training words, unchanged
    assert "The main subject" not in reader
    assert for_reader(learned, a) == reader


def test_only_a_named_person_wears_and_a_thing_held_stays_a_subject() -> None:
    """A weak "person" the description does not name wears nothing; a cup in a person's hands is
    no tie: it stays the main subject (a review)."""
    tie_region = replace(region(9, 5, 11, 8, colour="blue"), label="tie")
    tie = Detection(tie_region.box, 0.8, kind="object", label="tie")
    unsure = person(0, 0, W, H, score=0.3)
    worn_by_nobody = analysis([tie_region], people=[unsure], objects=[tie])
    assert "A tie, the main subject" in describe(worn_by_nobody, for_people=True)
    cup_region = replace(region(9, 5, 11, 8, colour="red"), label="cup")
    cup = Detection(cup_region.box, 0.8, kind="object", label="cup")
    held = analysis([cup_region], people=[person(0, 0, W, H)], objects=[cup])
    assert "The main subject, a small red cup" in describe(held, for_people=True)
