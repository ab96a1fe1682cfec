"""Subjects whole: candidates that keep every salient region (and group) whole, and protection that
does not let a box rule drop every such crop (issue 18).

Synthetic analyses on a 200 x 100 photo whose saliency map is 20 x 10 cells of 10 px.
"""

from __future__ import annotations

import numpy as np

from procrop.candidates import CandidateConfig, photo_candidates, region_candidates
from procrop.geometry import largest_size, parse_ratio
from procrop.perception.analysis import ColourStats, CompositionAnalysis, Region
from procrop.perception.detectors import Detection
from procrop.scoring.protection import (MASK_KEPT, MASK_OUT, allowed_crops, fills_frame, inside_fractions,
                                        main_subject, mask_inside_fractions)

W, H = 200, 100
CONFIG = CandidateConfig()


def region(x0: int, y0: int, x1: int, y1: int, mass: float = 0.5, label: str = "") -> Region:
    """A salient region covering map cells ``[y0:y1, x0:x1]``."""
    m = np.zeros((10, 20), bool)
    m[y0:y1, x0:x1] = True
    box = (x0 * 10.0, y0 * 10.0, (x1 - x0) * 10.0, (y1 - y0) * 10.0)
    return Region(box, (box[0] + box[2] / 2, box[1] + box[3] / 2), mass, "salient", "orange", label, m)


def analysis(subjects: list[Region], people: list[Detection] | None = None,
             objects: list[Detection] | None = None,
             faces: list[Detection] | None = None) -> CompositionAnalysis:
    sal = np.zeros((10, 20), np.float32)
    for s in subjects:
        sal[s.mask] = 1.0
    colour = ColourStats(0.5, 0.5, 0.5, 0.5, 0.0, ("grey",))
    return CompositionAnalysis(W, H, sal, np.zeros_like(sal), faces or [], people or [], subjects, [], None,
                               None, colour, (0.5, 0.5), objects=objects or [], saliency_source="head")


def test_each_region_gets_exact_ratio_crops_that_hold_it_with_a_margin() -> None:
    r = region(14, 3, 17, 6, 0.3)  # x 140..170, y 30..60
    a = analysis([region(2, 1, 6, 9, 0.6), r])
    for label in ("1:1", "4:5", "16:9", "9:16"):
        value = parse_ratio(label).resolve(W, H).value
        boxes = region_candidates(a, value, CONFIG)
        assert len(boxes)
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
        assert (boxes[:, 0] + boxes[:, 2] <= W).all() and (boxes[:, 1] + boxes[:, 3] <= H).all()
        assert (np.abs(boxes[:, 2] - boxes[:, 3] * value) <= 0.5 * max(1.0, value) + 1e-9).all()
        holds = ((boxes[:, 0] <= 140 - 10) & (boxes[:, 0] + boxes[:, 2] >= 170 + 10)
                 & (boxes[:, 1] <= 30 - 10) & (boxes[:, 1] + boxes[:, 3] >= 60 + 10))
        assert holds.any(), label  # one cell of room all round
        full = photo_candidates(a, parse_ratio(label), CONFIG)
        assert (mask_inside_fractions(full, r.mask[None], W, H)[0] >= MASK_KEPT).any()


def test_a_group_that_fits_gets_crops_holding_it_together() -> None:
    a = analysis([region(4, 2, 7, 8, 0.4), region(8, 2, 11, 8, 0.35)])  # two cyclists, 10 px apart
    boxes = region_candidates(a, 1.0, CONFIG)
    inside = mask_inside_fractions(boxes, np.stack([s.mask for s in a.subjects]), W, H)
    assert ((inside[0] >= MASK_KEPT) & (inside[1] >= MASK_KEPT)).any()


def test_a_region_too_long_for_the_ratio_gets_the_window_that_holds_most_of_it() -> None:
    m = region(1, 2, 19, 8, 0.8)  # 180 px wide: no 9:16 box (56 x 100) holds it
    mask = m.mask.copy()
    mask[:, 14:19] = True  # most of it on the right
    heavy = Region(m.box, m.centroid, m.mass, m.kind, m.colour, m.label, mask)
    boxes = region_candidates(analysis([heavy]), 9 / 16, CONFIG)
    # the largest exact 9:16 box (54 x 96) leaves room to slide vertically, not sideways
    assert len(boxes) and (boxes[:, 2:] == largest_size(W, H, 9 / 16)).all()
    assert len(set(boxes[:, 0].tolist())) == 1
    assert (boxes[:, 0] >= 130).all()  # over the heavy part, not centred on the box


def test_free_and_light_regions_get_no_crops_of_their_own() -> None:
    assert len(region_candidates(analysis([region(4, 2, 7, 8, 0.02)]), 1.0, CONFIG)) == 0
    free = photo_candidates(analysis([region(4, 2, 7, 8, 0.5)]), parse_ratio("free"), CONFIG)
    assert len(free)


def test_an_object_box_does_not_drop_every_crop_that_keeps_a_salient_object_whole() -> None:
    # the head's mask of the kite is x 40..90; its detection box is far wider (x 10..190), no square
    # crop holds it, and its cut rules keep only crops whose edges miss its middle half: crops that
    # cut the mask
    kite = region(4, 2, 9, 8, 0.7, "kite")
    a = analysis([kite], objects=[Detection((10.0, 10.0, 180.0, 80.0), 0.9, "object", "kite")])
    boxes = np.asarray([[0, 0, 100, 100], [50, 0, 100, 100], [100, 0, 100, 100]], float)  # keeps, cuts, out
    inside = mask_inside_fractions(boxes, kite.mask[None], W, H)[0]
    assert inside[0] >= MASK_KEPT and MASK_OUT < inside[1] < MASK_KEPT and inside[2] <= MASK_OUT
    # (the kite, the main subject no square holds whole, keeps its top: the crop without it goes too)
    assert allowed_crops(boxes, a, np.zeros((0, 3))).tolist() == [True, False, False]


def test_keeping_a_salient_object_whole_never_cuts_a_face() -> None:
    face = Detection((120.0, 20.0, 30.0, 30.0), 0.95, "face")
    a = analysis([region(4, 2, 9, 8, 0.6)], objects=[Detection((10.0, 10.0, 180.0, 80.0), 0.9, "object")],
                 faces=[face])
    boxes = np.asarray([
        [0, 0, 100, 100],    # the region whole, the face out
        [40, 0, 100, 100],   # the region whole, the face cut
        [60, 0, 100, 100],   # the face whole, the region cut
        [35, 0, 125, 100],   # both whole
    ], float)
    face_inside = inside_fractions(boxes, [face.box])
    assert allowed_crops(boxes, a, face_inside).tolist() == [False, False, False, True]


def test_a_tight_portrait_keeps_the_lower_lip_when_a_crop_can() -> None:
    points = (("right_eye", 80.0, 40.0, 1.0), ("left_eye", 120.0, 40.0, 1.0), ("nose", 100.0, 55.0, 1.0),
              ("mouth_right", 85.0, 70.0, 1.0), ("mouth_left", 115.0, 70.0, 1.0))
    face = Detection((60.0, 10.0, 80.0, 90.0), 0.95, "face", keypoints=points)  # too tall for a 16:9 crop
    a = analysis([], faces=[face])
    boxes = np.asarray([
        [50, 12, 114, 64],   # eyes at 0.44 of the height, the mouth's corners in, the lower lip cut
        [40, 30, 128, 72],   # eyes at 0.14: too high in the frame
        [45, 25, 128, 72],   # eyes at 0.21, the lower lip in (the edge 27 px below the corners)
    ], float)
    face_inside = inside_fractions(boxes, [face.box])
    assert allowed_crops(boxes, a, face_inside).tolist() == [False, False, True]


def test_a_weak_small_person_beside_a_confident_large_object_is_not_the_main_subject() -> None:
    """Two ground-crew figures found at 0.56 beside a shuttle found at 0.81 (zelex 021.jpg): the
    shuttle is the main subject; alone, or found confidently, a small person stays the main one."""
    crew = Detection((10.0, 70.0, 8.0, 20.0), 0.56, "person", "person")
    shuttle = Detection((60.0, 10.0, 90.0, 80.0), 0.81, "object", "airplane")
    assert main_subject(analysis([], people=[crew], objects=[shuttle])) is shuttle
    assert main_subject(analysis([], people=[crew])) is crew
    sure = Detection(crew.box, 0.9, "person", "person")
    assert main_subject(analysis([], people=[sure], objects=[shuttle])) is sure
    face = Detection((12.0, 70.0, 4.0, 4.0), 0.9, "face", "face")
    assert main_subject(analysis([], people=[crew], objects=[shuttle], faces=[face])) is face
    boxes = np.array([[0, 0, 100, 100], [90, 0, 100, 100], [50, 0, 100, 100]], np.float64)
    allowed = allowed_crops(boxes, analysis([], people=[crew], objects=[shuttle]), np.zeros((0, 3)))
    assert allowed.tolist() == [False, False, True]  # the shuttle whole, not the crew with half of it


def test_an_object_box_over_the_whole_photo_is_the_scene_not_a_subject() -> None:
    """A "dining table" found at 0.45 over a whole ceiling (zelex 031.jpg): no crop of another shape
    keeps it whole, and cutting it cleanly (no edge through its middle half) left only crops against
    the photo's sides, away from the medallion in its centre. Such a box is the scene: it is not the
    main subject and no box rule reads it; the medallion's mask is protected as before."""
    medallion = region(8, 2, 12, 8, 0.7)
    table = Detection((0.0, 0.0, 200.0, 100.0), 0.45, "object", "dining table")
    a = analysis([medallion], objects=[table])
    assert fills_frame(table, a) and main_subject(a) is None
    boxes = np.asarray([[0, 0, 56, 100], [72, 0, 56, 100], [144, 0, 56, 100]], float)  # left, centre, right
    assert allowed_crops(boxes, a, np.zeros((0, 3))).tolist() == [True, True, True]
    # a box short of the frame on one side is still a subject (a truck along the whole width)
    truck = Detection((0.0, 20.0, 200.0, 70.0), 0.9, "object", "truck")
    assert not fills_frame(truck, analysis([medallion], objects=[truck]))
    assert main_subject(analysis([medallion], objects=[truck])) is truck


def test_a_person_too_wide_for_the_ratio_is_not_left_out_for_the_backdrop() -> None:
    """A performer with arms spread (zelex 037.jpg, no face found) is wider than any 9:16 crop: "no
    edge down the middle of the body" alone left only crops beside the body, of empty backdrop. As
    the main subject it keeps most of itself (MOST_OF_MAIN of the most a crop can hold), the way an
    animal too big for the ratio does."""
    performer = Detection((40.0, 5.0, 140.0, 95.0), 0.75, "person", "person")  # (not headless: below the top)
    a = analysis([], people=[performer])
    boxes = np.asarray([[0, 0, 56, 100], [82, 0, 56, 100], [144, 0, 56, 100]], float)  # beside, on, beside
    assert allowed_crops(boxes, a, np.zeros((0, 3))).tolist() == [False, True, False]


def test_a_weak_detection_away_from_what_stands_out_is_not_the_main_subject() -> None:
    """A "sheep" found at 0.47 on a shore (BSDS500 92059) was the main subject, so every 16:9 crop
    kept it and left out the rowing boat the photo is of. An animal or object whose box holds under
    OFF_SALIENCY of the saliency, beside a region holding DOMINANT_MASS of it, gives way to that
    region; a person, or a detection over the salient region, stays the main subject."""
    boat = region(12, 5, 18, 9, 0.8)
    sheep = Detection((20.0, 10.0, 20.0, 20.0), 0.47, "animal", "sheep")
    a = analysis([boat], objects=[sheep])
    assert main_subject(a) is boat
    boxes = np.asarray([[0, 0, 100, 56], [100, 44, 100, 56]], float)  # the sheep, the boat
    assert allowed_crops(boxes, a, np.zeros((0, 3))).tolist() == [False, True]
    walker = Detection(sheep.box, 0.9, "person", "person")
    assert main_subject(analysis([boat], people=[walker])) is walker
    on_it = Detection((120.0, 50.0, 60.0, 40.0), 0.47, "object", "boat")
    assert main_subject(analysis([boat], objects=[on_it])) is on_it


def test_a_small_person_or_face_apart_from_what_stands_out_gives_way_to_it() -> None:
    """A pilot walking beside his jet (BSDS500 37073) was the main subject, so the 9:16 crop was
    the pilot and tarmac; a bather's small face beside the elephant (147062) likewise. A face under
    FACE_MINOR of the dominant region's box, or a person under MINOR_AREA of it, apart from it,
    gives way to the region; a larger person, or a face inside the region (a portrait), does not."""
    jet = region(2, 0, 14, 6, 0.8)  # x 20..140, y 0..60
    pilot = Detection((160.0, 60.0, 10.0, 20.0), 0.81, "person", "person")
    assert main_subject(analysis([jet], people=[pilot])) is jet
    near = Detection((150.0, 20.0, 40.0, 70.0), 0.81, "person", "person")
    assert main_subject(analysis([jet], people=[near])) is near
    face = Detection((170.0, 70.0, 4.0, 4.0), 0.9, "face", "face")
    assert main_subject(analysis([jet], faces=[face])) is jet
    inside = Detection((60.0, 20.0, 4.0, 4.0), 0.9, "face", "face")
    assert main_subject(analysis([jet], faces=[inside])) is inside


def test_an_unsure_faceless_person_gives_way_to_what_stands_out_more() -> None:
    """A hand holding out seed, found as a "person" at 0.37 with no face, was the main subject of a
    chickadee's photo (fresh31's feed.jpg), so the 1:1, 4:5 and 9:16 crops kept the hand and cut
    the bird. An unsure person apart from the dominant region, whose box holds less of the saliency
    than the region, gives way to it; a confident one, or one inside the region (a boat's crew),
    does not."""
    bird = region(1, 2, 8, 9, 0.7)  # x 10..80
    hand = Detection((70.0, 40.0, 130.0, 60.0), 0.37, "person", "person")
    assert main_subject(analysis([bird], people=[hand])) is bird
    sure = Detection(hand.box, 0.9, "person", "person")
    assert main_subject(analysis([bird], people=[sure])) is sure
    crew = Detection((30.0, 60.0, 20.0, 20.0), 0.37, "person", "person")
    assert main_subject(analysis([bird], people=[crew])) is crew
    # nor one whose box holds more of the saliency than the region does (0.71 of it against 0.7)
    small_bird = region(1, 2, 6, 9, 0.7)  # 35 of the map's 119 salient cells
    figure = region(8, 3, 20, 10, 0.3)  # 84 cells, all inside the person's box
    holder = Detection((70.0, 30.0, 130.0, 70.0), 0.37, "person", "person")
    assert main_subject(analysis([small_bird, figure], people=[holder])) is holder
    boxes = np.asarray([[0, 0, 100, 100], [100, 0, 100, 100]], float)  # the bird, the hand
    assert allowed_crops(boxes, analysis([bird], people=[hand]), np.zeros((0, 2))).tolist() == [True, False]


def test_a_tiny_unsure_person_gives_way_to_a_region_that_does_not_dominate() -> None:
    """A figure found at 0.64 in the crowd below fireworks (held-out 017.jpg) and one at 0.51 at the
    end of a sushi bar (fresh7) were the main subject, so every crop kept that figure and left out
    what the photo is of; the fireworks hold 0.35 of the saliency, under DOMINANT_MASS. An unsure
    person under TINY_PERSON of the photo, apart from a region holding TINY_PERSON_REGION of the
    saliency, gives way to it; a confident or a larger one does not, nor does it give way to a
    region holding less."""
    fireworks = region(12, 1, 18, 6, 0.35)  # x 120..180, y 10..60
    figure = Detection((20.0, 60.0, 10.0, 20.0), 0.64, "person", "person")  # 1 % of the photo
    assert main_subject(analysis([fireworks], people=[figure])) is fireworks
    sure = Detection(figure.box, 0.8, "person", "person")
    assert main_subject(analysis([fireworks], people=[sure])) is sure
    larger = Detection((10.0, 40.0, 30.0, 60.0), 0.64, "person", "person")  # 9 % of the photo
    assert main_subject(analysis([fireworks], people=[larger])) is larger
    faint = region(12, 1, 18, 6, 0.15)
    assert main_subject(analysis([faint], people=[figure])) is figure
    boxes = np.asarray([[0, 0, 100, 100], [100, 0, 100, 100]], float)  # the figure, the fireworks
    allowed = allowed_crops(boxes, analysis([fireworks], people=[figure]), np.zeros((0, 2)))
    assert allowed.tolist() == [False, True]


def test_an_animal_too_wide_for_the_ratio_keeps_its_head() -> None:
    """A horse side-on, its body low across the box and its neck and head raised at the right: a
    narrow crop that cannot hold it keeps the head (the highest part of its outline), not the
    flank, although the flank holds as much of its box."""
    from procrop.scoring.main_subject import animal_head

    sal = np.zeros((10, 20), np.float32)
    sal[5:9, 4:17] = 1.0  # the body
    sal[1:5, 13:17] = 1.0  # the neck and head, raised at the right
    horse = Detection((40.0, 10.0, 130.0, 80.0), 0.9, "animal", "horse")
    a = analysis([], objects=[horse])
    a = CompositionAnalysis(W, H, sal, np.zeros_like(sal), [], [], [], [], None, None, a.colour, (0.5, 0.5),
                            objects=[horse], saliency_source="head")
    assert main_subject(a) is horse
    hx, hy, hw, hh = animal_head(a, horse)
    assert hx + hw / 2 > 130 and hy < 20  # round the head, at the top right of the box
    flank, head = [60.0, 0.0, 56.0, 100.0], [118.0, 0.0, 56.0, 100.0]
    ok = allowed_crops(np.array([flank, head]), a, np.zeros((0, 2)))
    assert ok.tolist() == [False, True]


def test_a_face_found_on_an_animal_is_its_head() -> None:
    """The face detector's face on an animal (a macaw's) marks its head: the head box is centred
    there, wherever the outline is highest."""
    from procrop.scoring.main_subject import MARKED_HEAD_SIZE, animal_head

    sal = np.zeros((10, 20), np.float32)
    sal[2:9, 4:17] = 1.0
    bird = Detection((40.0, 20.0, 130.0, 70.0), 0.9, "animal", "bird", (("head", 90.0, 60.0, 0.7),))
    a = CompositionAnalysis(W, H, sal, np.zeros_like(sal), [], [], [], [], None, None,
                            analysis([]).colour, (0.5, 0.5), objects=[bird], saliency_source="head")
    hx, hy, hw, hh = animal_head(a, bird)
    assert (hw, hh) == (MARKED_HEAD_SIZE[0] * 130.0, MARKED_HEAD_SIZE[1] * 70.0)
    assert abs(hx + hw / 2 - 90.0) < 1e-9 and abs(hy + hh / 2 - 60.0) < 1e-9


def test_a_wide_animal_highest_in_the_middle_keeps_one_end() -> None:
    """A tiger walking toward the camera: its back is its highest part, its face at the left end,
    lower. Without a found face, a narrow crop must hold one end of it whole (the scorer picks
    which), never a slice of its flank."""
    from procrop.scoring.main_subject import animal_heads

    sal = np.zeros((10, 20), np.float32)
    sal[2:9, 6:15] = 1.0  # the back, highest across the middle
    sal[4:9, 3:6] = 1.0  # the head at the left, lower
    sal[4:9, 15:18] = 1.0  # the hindquarters at the right
    tiger = Detection((30.0, 20.0, 150.0, 70.0), 0.9, "animal", "tiger")
    a = CompositionAnalysis(W, H, sal, np.zeros_like(sal), [], [], [], [], None, None,
                            analysis([]).colour, (0.5, 0.5), objects=[tiger], saliency_source="head")
    ends = animal_heads(a, tiger)
    assert len(ends) == 2 and ends[0][0] == 30.0 and ends[1][0] + ends[1][2] == 180.0
    flank, left, right = [78.0, 0.0, 56.0, 100.0], [28.0, 0.0, 56.0, 100.0], [126.0, 0.0, 56.0, 100.0]
    ok = allowed_crops(np.array([flank, left, right]), a, np.zeros((0, 3)))
    assert ok.tolist() == [False, True, True]


def test_a_close_up_animal_keeps_the_face_that_stands_out_not_an_end() -> None:
    """A black cat's face filling the frame: the detector's box spans the photo, its dark fur on
    either side, and what stands out (the salient region) is the face in the middle. A narrow crop
    keeps that face whole, not one end of the box (a trial's 4:5 crop ran through an eye; blind
    judges preferred the change on 9 of 13 sheets, ``data/preferences/checks/close_up_face``)."""
    from procrop.scoring.main_subject import COMPACT, animal_heads

    face = region(6, 1, 14, 10, 0.8, "cat")  # x 60..140: under COMPACT of the box's width
    cat = Detection((0.0, 0.0, 200.0, 100.0), 0.7, "animal", "cat")
    a = analysis([face], objects=[cat])
    a.saliency[1:3, 1:19] = np.maximum(a.saliency[1:3, 1:19], 0.9)  # the ears' line, highest in the middle
    assert face.box[2] <= COMPACT * cat.box[2]
    assert animal_heads(a, cat) == [face.box]
    left, middle, right = [0.0, 0.0, 80.0, 100.0], [58.0, 0.0, 84.0, 100.0], [120.0, 0.0, 80.0, 100.0]
    ok = allowed_crops(np.array([left, middle, right]), a, np.zeros((0, 3)))
    assert ok.tolist() == [False, True, False]
    # crops too narrow for the face keep most of it (70 % of the most any holds), none through it
    narrow = np.array([[0.0, 0.0, 60.0, 100.0], [70.0, 0.0, 60.0, 100.0], [30.0, 0.0, 60.0, 100.0]])
    assert allowed_crops(narrow, a, np.zeros((0, 3))).tolist() == [False, True, False]

    def ends_when(region_: Region) -> bool:  # not the close-up's face: the box's two ends again
        b = analysis([region_], objects=[cat])
        b.saliency[1:3, 1:19] = np.maximum(b.saliency[1:3, 1:19], 0.9)
        return len(animal_heads(b, cat)) == 2

    assert ends_when(region(9, 6, 11, 8, 0.01, "cat"))  # a small bright spot, not a face
    assert ends_when(region(6, 1, 14, 10, 0.8, "dog"))  # another animal in front of it
    assert ends_when(region(1, 1, 19, 10, 0.8, "cat"))  # the whole body stands out: a side-on animal


def test_a_weak_face_no_person_holds_is_dropped_when_the_object_detector_ran() -> None:
    """A clog, a lantern, a bottle read as a face (YuNet 0.65-0.75) with no person around it: not a
    face, so no "small person" in the description and nothing protected for it; a sure face (0.9), or
    a weak one inside a person the object detector found, stays; without the object detector
    (``--fast``) there is nothing to confirm a face with, so every face stays."""
    from procrop.imaging.load import LoadedImage
    from procrop.perception.analysis import AnalysisConfig
    from procrop.perception.analyzer import UNHELD_FACE_SCORE, detect_subjects

    clog = Detection((20.0, 20.0, 10.0, 10.0), UNHELD_FACE_SCORE - 0.06, "face")
    held = Detection((120.0, 20.0, 10.0, 10.0), 0.65, "face")
    sure = Detection((60.0, 60.0, 10.0, 10.0), 0.9, "face")
    person = Detection((110.0, 10.0, 40.0, 80.0), 0.8, "person", "person")

    class Found:
        def __init__(self, found: list[Detection]) -> None:
            self.found = found

        def detect(self, rgb: np.ndarray) -> list[Detection]:
            return list(self.found)

    image = LoadedImage(np.zeros((100, 200, 3), np.uint8), 200, 100)
    faces = Found([clog, held, sure])
    found, config = Found([person]), AnalysisConfig()
    with_objects, _, _ = detect_subjects(image, faces, None, found, config)  # type: ignore[arg-type]
    assert [f.box for f in with_objects] == [held.box, sure.box]
    fast, _, _ = detect_subjects(image, faces, None, None, AnalysisConfig())  # type: ignore[arg-type]
    assert [f.box for f in fast] == [clog.box, held.box, sure.box]


def test_a_region_the_frame_already_cuts_may_lose_a_fifth_on_that_side() -> None:
    """A church (BSDS500 118035): the bell tower (top) and the building with its dome, whose wall
    runs out of the photo at the bottom. Kept whole or out, each forced the other out: a 16:9 crop was
    a fragment of the tower. The building touches the bottom border, so a crop may trim up to a fifth
    of it there: the full-width crop that keeps the tower and the dome is allowed; one through the
    dome, or through the tower, is not."""
    from procrop.scoring.protection import BORDER_TRIM, trimmed_at_border

    tower = region(3, 0, 8, 6, 0.3)  # y 0..60: touches the top border too (its cross at the edge)
    building = region(10, 5, 20, 10, 0.6)  # y 50..100, x 100..200: touches the bottom and right borders
    a = analysis([building, tower])
    full_width = [0.0, 10.0, 200.0, 82.0]  # trims 18 px of the building's 50 at the bottom: within a fifth
    through_dome = [0.0, 0.0, 200.0, 70.0]  # cuts 30 of its 50
    boxes = np.asarray([full_width, through_dome], float)
    assert allowed_crops(boxes, a, np.zeros((0, 2))).tolist() == [True, False]
    kept = trimmed_at_border(building.mask)
    assert kept.sum() < building.mask.sum() and not kept[9].any() and kept[5:8, 10:18].all()
    assert BORDER_TRIM == 0.2 and trimmed_at_border(region(5, 3, 9, 6).mask).sum() == 12  # inside: unchanged


def test_an_object_too_tall_for_the_ratio_keeps_its_top() -> None:
    """A drum standing on a beanbag, taller than a wide crop (a new photo's 16:9 crop kept the bag
    and cut the drum's head): a crop that cannot hold the object keeps its top, the highest part of
    its outline, where a crop can; an object the photo's own top edge already cuts is not pushed up."""
    sal = np.zeros((10, 20), np.float32)
    sal[1:4, 7:11] = 1.0  # the drum's head, at the top
    sal[4:10, 5:15] = 1.0  # the bag under it, wider
    drum = Detection((50.0, 10.0, 100.0, 90.0), 0.9, "object", "drum")
    a = CompositionAnalysis(W, H, sal, np.zeros_like(sal), [], [], [], [], None, None, analysis([]).colour,
                            (0.5, 0.5), objects=[drum], saliency_source="head")
    assert main_subject(a) is drum
    low, high = [20.0, 40.0, 160.0, 60.0], [20.0, 5.0, 160.0, 60.0]  # each holds most of the drum's box
    assert allowed_crops(np.array([low, high]), a, np.zeros((0, 2))).tolist() == [False, True]
    cut = Detection((50.0, 0.0, 100.0, 100.0), 0.9, "object", "drum")  # its top beyond the photo's edge
    a = CompositionAnalysis(W, H, sal, np.zeros_like(sal), [], [], [], [], None, None, analysis([]).colour,
                            (0.5, 0.5), objects=[cut], saliency_source="head")
    assert allowed_crops(np.array([low, high]), a, np.zeros((0, 2))).tolist() == [True, True]


def test_a_dominant_region_with_no_detection_keeps_its_top() -> None:
    """A pagoda no detector names, a little taller than a 16:9 crop (fresh39's, judged: the top crop
    had cut its finial): with no face or detection, the region holding half the saliency or more
    keeps its top where a crop can (9 of 14 moved crops preferred by five judges, votes 47 to 23:
    data/preferences/checks/lone_top/); a region the photo's own top edge cuts is not pushed up."""
    pagoda = region(5, 1, 15, 10, 0.9)  # y 10..100
    low, high = [20.0, 40.0, 160.0, 60.0], [20.0, 5.0, 160.0, 60.0]  # each cuts its bottom or its top
    a = analysis([pagoda])
    assert main_subject(a) is None
    assert allowed_crops(np.array([low, high]), a, np.zeros((0, 2))).tolist() == [False, True]
    light = analysis([region(5, 1, 15, 10, 0.4)])  # under half the saliency: no rule
    assert allowed_crops(np.array([low, high]), light, np.zeros((0, 2))).tolist() == [True, True]
    edge = [20.0, 0.0, 160.0, 60.0]  # from the photo's top edge
    cut = analysis([region(5, 0, 15, 10, 0.9)])  # its top beyond the photo's edge: no crop is pushed up
    assert allowed_crops(np.array([low, high, edge]), cut, np.zeros((0, 2))).tolist() == [True, True, True]


def test_a_vehicle_too_wide_for_the_ratio_keeps_one_end_whole() -> None:
    """A motorcycle wider than a 4:5 crop (a new photo's crop nibbled both wheels): a crop that cannot
    hold a vehicle keeps one end of it whole (the scorer picks which), never a middle slice cutting
    both ends; an object that is not a vehicle (a leaf, whose middle matters) is left to the other
    rules."""
    from procrop.scoring.main_subject import vehicle_end_kept

    sal = np.zeros((10, 20), np.float32)
    sal[0:9, 2:18] = 1.0  # the bike, level across its width, its top cut by the photo's (no top rule)
    bike = Detection((20.0, 0.0, 160.0, 90.0), 0.9, "object", "motorcycle")
    a = CompositionAnalysis(W, H, sal, np.zeros_like(sal), [], [], [], [], None, None, analysis([]).colour,
                            (0.5, 0.5), objects=[bike], saliency_source="head")
    middle, rear, front = [60.0, 0.0, 80.0, 100.0], [18.0, 0.0, 80.0, 100.0], [102.0, 0.0, 80.0, 100.0]
    boxes = np.array([middle, rear, front])
    assert vehicle_end_kept(boxes, bike, W).tolist() == [False, True, True]
    assert allowed_crops(boxes, a, np.zeros((0, 3))).tolist() == [False, True, True]
    assert allowed_crops(boxes[:1], a, np.zeros((0, 1))).tolist() == [True]  # never an empty set
    leaf = Detection(bike.box, 0.9, "object", "pizza")  # COCO's nearest word for a round leaf
    assert vehicle_end_kept(boxes, leaf, W) is None
    # a train across the whole photo: both its "ends" are the photographer's cuts, not the train's
    assert vehicle_end_kept(boxes, Detection((1.0, 0.0, 198.0, 90.0), 0.9, "object", "train"), W) is None
    a = CompositionAnalysis(W, H, sal, np.zeros_like(sal), [], [], [], [], None, None, analysis([]).colour,
                            (0.5, 0.5), objects=[leaf], saliency_source="head")
    assert allowed_crops(boxes, a, np.zeros((0, 3))).tolist() == [True, False, False]  # no edge mid-leaf


def test_a_face_kept_whole_keeps_its_whole_head_where_a_crop_can() -> None:
    """A woman in a headdress (BSDS500 189003 at 1:1 kept her face and cut the headdress off): a crop
    that holds the face box but cuts the head round it (hair, a hat, the ears) gives way to one that
    holds both; when no crop holds the head, the face alone is kept as before."""
    from procrop.scoring.protection import HEAD_SIDE, HEAD_TOP, head_box

    face = Detection((80.0, 40.0, 40.0, 40.0), 0.9, "face", "face")
    assert head_box(face, W, H) == (80.0 - HEAD_SIDE * 40, 40.0 - HEAD_TOP * 40, 40.0 * (1 + 2 * HEAD_SIDE),
                                    40.0 * (1 + HEAD_TOP))
    a = analysis([], faces=[face])
    tight, roomy = [78.0, 38.0, 50.0, 50.0], [60.0, 20.0, 80.0, 80.0]
    boxes = np.array([tight, roomy])
    face_inside = inside_fractions(boxes, [face.box])
    assert face_inside[0].tolist() == [1.0, 1.0]  # both hold the face box
    assert allowed_crops(boxes, a, face_inside).tolist() == [False, True]
    assert allowed_crops(boxes[:1], a, face_inside[:, :1]).tolist() == [True]  # no crop holds the head


def test_flowers_rising_out_of_a_vase_are_the_main_subject_not_the_vase() -> None:
    """fresh37's tulips: the pot, found as a "vase" at 0.84, was the main subject every crop kept
    whole, so the 1:1, 4:5 and 16:9 crops showed a pot and cut stems (judges: 0 votes of 9 against
    both peers). The salient region holding the vase and rising half its height above it is."""
    vase = Detection((80.0, 60.0, 40.0, 30.0), 0.84, "object", "vase")  # y 60..90
    bouquet = region(7, 1, 13, 9, 0.8)  # y 10..90: the tulips and their pot
    assert main_subject(analysis([bouquet], objects=[vase])) is bouquet
    pot = region(8, 6, 12, 9, 0.8)  # nothing rises out of it: the vase stays the main subject
    assert main_subject(analysis([pot], objects=[vase])) is vase
    post = region(2, 1, 4, 10, 0.9)  # an L: a post at x 20..40 and a floor line under the vase
    post.mask[9, 2:15] = True
    post = Region((20.0, 10.0, 130.0, 90.0), (30.0, 55.0), 0.9, "salient", "grey", "", post.mask)
    assert main_subject(analysis([post, bouquet], objects=[vase])) is bouquet  # its box holds the vase,
    assert main_subject(analysis([post], objects=[vase])) is vase  # its mask does not: no contents
    boxes = np.asarray([[0, 0, 200, 66], [0, 34, 200, 66]], float)  # the blooms, the pot
    allowed = allowed_crops(boxes, analysis([bouquet], objects=[vase]), np.zeros((0, 2)))
    assert allowed.tolist() == [True, False]


def test_a_regions_cores_are_never_kept_whole_or_out_by_small_crops_alone() -> None:
    """fresh36's cabin: a railing's band no crop keeps whole had cores that only squares of 44 % of
    the largest kept whole or left out, so every 1:1 crop was a square of the tree, the cabin cut
    out (judges 0 votes of 6); with the guard the full square came back (6 of 6 moved crops preferred,
    data/preferences/checks/cores_small_crops/)."""
    from dataclasses import replace as with_

    band = region(3, 6, 17, 8, 0.6)  # a band x 30..170, y 60..80, too long for any crop below
    a = analysis([band])
    sal = np.zeros((10, 20), np.float32)
    sal[6:8, 3:17] = 0.5
    sal[6:8, 3:7] = sal[6:8, 13:17] = 1.0  # two cores, x 30..70 and x 130..170
    a = with_(a, saliency=sal)
    big, small = [50, 0, 100, 100], [25, 50, 50, 50]  # cuts both cores; keeps the first, leaves the second
    assert allowed_crops(np.asarray([big, small], float), a, np.zeros((0, 2))).tolist() == [True, True]
    large = [10, 10, 90, 90]  # 81 % of the big one's area, the first core whole, the second out
    allowed = allowed_crops(np.asarray([big, small, large], float), a, np.zeros((0, 3)))
    assert allowed.tolist() == [False, True, True]  # a large crop keeps the rule: it narrows as before


def test_a_main_object_no_crop_holds_keeps_most_of_itself_in_the_lean_pass_too() -> None:
    """fresh37's pizza, too wide for 9:16, beside a cup: the pass that leaves objects' boxes to the
    masks kept the cup whole and a sliver of pizza (0 votes of 6); now most of the pizza, as the full
    pass does (5 of 7 moved crops preferred, data/preferences/checks/main_most_in_lean/)."""
    pizza = Detection((10.0, 0.0, 130.0, 100.0), 0.83, "object", "pizza")  # x 10..140: 0.65 of the width
    cup = Detection((160.0, 10.0, 36.0, 40.0), 0.65, "object", "cup")
    crust, mug = region(1, 0, 14, 3, 0.4, "pizza"), region(16, 1, 20, 5, 0.3, "cup")
    a = analysis([crust, mug], objects=[pizza, cup])
    assert main_subject(a) is pizza
    boxes = np.asarray([[40, 0, 56, 100], [144, 0, 56, 100]], float)  # on the pizza; the cup and no pizza
    assert allowed_crops(boxes, a, np.zeros((0, 2))).tolist() == [True, False]


def test_an_unsure_object_holding_little_of_the_saliency_is_part_of_the_dominant_region() -> None:
    """fresh38's cosmetics on white: a palette found as a "keyboard" at 0.69 was the main subject,
    so every 16:9 crop kept it whole and cut every bottle's top; it lies inside the region of all
    the products (6 of 7 moved crops preferred, data/preferences/checks/unsure_small_object/)."""
    products = region(1, 1, 19, 9, 0.8)  # every product, y 10..90
    palette = Detection((100.0, 70.0, 40.0, 20.0), 0.69, "object", "keyboard")  # inside it, unsure
    a = analysis([products], objects=[palette])
    assert main_subject(a) is products
    sure = Detection(palette.box, 0.9, "object", "keyboard")  # sure of itself: the main subject
    assert main_subject(analysis([products], objects=[sure])) is sure
    heavy = region(1, 1, 19, 9, 0.8)
    heavy.mask[:, :] = False
    heavy.mask[7:9, 10:14] = True  # the map's saliency all in the palette's box: it is what stands out
    assert main_subject(analysis([heavy], objects=[palette])) is palette


def test_a_face_high_on_an_animal_has_its_head_reach_the_ears() -> None:
    """fresh38's three cats at 16:9: a cat face found on the tabby marked its head, a box round the
    face that its ears stood above, so the top crop cut the ears (judges, 3 votes to 0 for the crop
    that keeps them: data/preferences/checks/cat_ears/)."""
    from procrop.scoring.main_subject import EARS, animal_head

    face = ("head", 45.0, 34.0, 0.97)  # its centre, 0.27 of the box's height down
    tabby = Detection((20.0, 10.0, 50.0, 90.0), 0.83, "animal", "cat", keypoints=(face,))
    a = analysis([], objects=[tabby])
    x, y, w, h = animal_head(a, tabby)
    assert y == 10.0 and y + h >= 34.0 and x <= 45.0 <= x + w  # from the box's top past the face
    drinking = ("head", 45.0, 10.0 + (EARS + 0.1) * 90, 0.9)
    low = Detection(tabby.box, 0.83, "animal", "cat", keypoints=(drinking,))
    assert animal_head(a, low)[1] > 10.0  # a face low on its body (drinking): the head round it only


def test_a_headless_bystander_gives_way_to_the_animal_the_photo_is_of() -> None:
    """fresh38's dog at a parade: a man's torso, his head out of the frame and no face found, was
    the main subject and every crop cut the dog (judges 18 votes to 0 for the crops that keep it:
    data/preferences/checks/headless_person/)."""
    torso = Detection((140.0, 0.0, 60.0, 90.0), 0.89, "person", "person")  # from the photo's top edge
    dog = Detection((60.0, 10.0, 50.0, 85.0), 0.81, "animal", "dog")
    a = analysis([region(6, 1, 11, 10, 0.7, "dog"), region(15, 0, 20, 9, 0.2, "person")],
                 people=[torso], objects=[dog])
    assert main_subject(a) is dog
    walker = Detection((140.0, 20.0, 60.0, 70.0), 0.89, "person", "person")  # his head in the frame
    b = analysis(a.subjects, people=[walker], objects=[dog])
    assert main_subject(b) is walker


def test_a_headless_torso_is_not_kept_whole_at_the_cost_of_what_the_photo_is_of() -> None:
    """fresh38's crate of starfish held out by a man whose head is out of the frame: protection kept
    his torso whole and every 4:5 crop cut the crate (12 of 18 moved crops preferred without it,
    data/preferences/checks/headless_torso_unprotected/)."""
    torso = Detection((0.0, 0.0, 90.0, 100.0), 0.75, "person", "person")  # from the photo's top edge
    crate = Detection((40.0, 10.0, 100.0, 80.0), 0.56, "object", "suitcase")
    a = analysis([region(5, 1, 14, 9, 0.7, "suitcase")], people=[torso], objects=[crate])
    boxes = np.asarray([[0, 0, 100, 100], [45, 0, 100, 100]], float)  # the torso whole; the crate whole
    assert allowed_crops(boxes, a, np.zeros((0, 2))).tolist()[1]
    standing = Detection((0.0, 5.0, 90.0, 95.0), 0.75, "person", "person")  # his head in the frame
    b = analysis(a.subjects, people=[standing], objects=[crate])
    assert allowed_crops(boxes, b, np.zeros((0, 2))).tolist() == [True, False]
