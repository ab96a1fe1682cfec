"""A crop's reason never contradicts itself: one test of a cut (protection.cuts) behind every clause."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from procrop.geometry import largest_size, parse_ratio
from procrop.perception.describe import describe
from procrop.scoring.explain import (EDGE_PRESSED, REGION_CUT, REGIONS_WHOLE, SUBJECT_CUT, SUBJECT_CUT_START,
                                     SUBJECT_GRAZED, explain_crop, subject_cut_words)
from procrop.scoring.protection import cuts, grazes, inside_fractions

CLEAN = "cut no detected subject"


def test_cuts_is_the_protection_rules_cut():
    inside = np.array([[0.0, 0.02, 0.03, 0.5, 0.96, 0.97, 1.0]])
    assert cuts(inside).tolist() == [False, False, True, True, True, False, False]
    assert cuts(np.zeros((0, 3))).tolist() == [False, False, False]


def test_clean_edges_are_not_claimed_for_a_crop_that_cuts_a_subject():
    terms = {"boundary": 0.9}
    assert CLEAN in explain_crop(terms, {"cuts_subject": 0.0}, {})
    cut = explain_crop(terms, {"cuts_subject": 1.0}, {})
    assert CLEAN not in cut and SUBJECT_CUT in cut
    # with the preference term the cut is told once, by its reason (from the same test)
    with_pref = explain_crop({**terms, "preference": 0.5}, {"cuts_subject": 1.0}, {}, [f"editors: {SUBJECT_CUT}"])
    assert CLEAN not in with_pref and with_pref.count(SUBJECT_CUT) == 1
    # nor "clean" beside the preference term's own cut of a region no detector names (a trial's
    # product cut-out, sliced at 9:16)
    region = explain_crop({**terms, "preference": 0.5}, {"cuts_subject": 0.0}, {},
                          [f"editors (against: {REGION_CUT})"])
    assert CLEAN not in region and REGION_CUT in region
    # nor beside detail pressed against an edge (a trial: 6 of 55 reasons said both)
    clause = f"editors: keeps whole the salient regions it holds (against it: {EDGE_PRESSED})"
    pressed = explain_crop({**terms, "preference": 0.5}, {"cuts_subject": 0.0}, {}, [clause])
    assert CLEAN not in pressed and EDGE_PRESSED in pressed


def test_the_edge_clause_is_left_to_the_preference_terms_reason():
    """403 of 5,300 top crops read "an edge runs through busy or salient content" beside the preference
    term's "keeps whole the salient regions it holds", and a trial read "busy detail" of a hazy sea's
    plain edges: under the preference scorer its own reason says what an edge cuts or crowds; the
    classic scorer's reason still says it, of an edge inside the photo."""
    terms, busy = {"boundary": 0.2}, "an edge runs through busy or salient content"
    assert busy in explain_crop(terms, {}, {})
    assert busy not in explain_crop(terms, {"inner_edge": 0.0}, {})  # the uncropped photo's own edges
    for clause in (REGIONS_WHOLE, f"(against it: {REGION_CUT})", f"(against it: {EDGE_PRESSED})"):
        said = explain_crop({**terms, "preference": 0.5}, {}, {}, [f"editors' preference model: {clause}"])
        assert "runs through busy" not in said and said.count("edge") == clause.count("edge")


def test_an_edge_through_a_subject_kept_whole_is_not_called_clean():
    """A trial's soldier: 98 % of his box inside (kept whole by the cut test's tolerance) and his
    outstretched fist trimmed by 31 px, under "clean edges that cut no detected subject"."""
    inside = np.array([[0.98, 0.995, 1.0, 0.5, 0.0, 0.015, 0.004], [1.0, 1.0, 1.0, 0.98, 0.98, 0.0, 0.0]])
    assert grazes(inside).tolist() == [True, False, False, False, True, True, False]  # a 1.5 % sliver too
    terms = {"boundary": 0.9}
    grazed = explain_crop(terms, {"cuts_subject": 0.0, "grazes_subject": 1.0}, {})
    assert CLEAN not in grazed and SUBJECT_GRAZED in grazed
    assert CLEAN in explain_crop(terms, {"cuts_subject": 0.0, "grazes_subject": 0.0}, {})


@pytest.fixture(scope="module")
def photo_044(photos_dir: Path) -> Path:
    return photos_dir / "zelex-wikipedia-photos" / "044.jpg"


def test_reasons_on_a_photo_with_a_person_never_contradict(default_cropper, photo_044: Path):
    """Wikipedia photo 044 (a sailor examining a patient): its 16:9 crop [185, 0, 839, 472] was
    "clean edges that cut no detected subject" and "an edge crosses a detected person, animal or object"
    at once. Every crop of a spread of boxes now says one or the other, as protection.cuts decides."""
    ctx = default_cropper.prepare(str(photo_044))
    a = ctx.analysis
    assert a.subjects_to_keep, "the photo's person is detected"
    boxes = [(185, 0, 839, 472), (0, 0, a.width, a.height)]
    for label in ("16:9", "1:1", "4:5"):
        w, h = largest_size(a.width, a.height, parse_ratio(label).value)
        for scale in (1.0, 0.8, 0.6):
            bw, bh = int(w * scale), int(h * scale)
            for fx in (0.0, 0.5, 1.0):
                for fy in (0.0, 1.0):
                    boxes.append((int(fx * (a.width - bw)), int(fy * (a.height - bh)), bw, bh))
    said = {True: 0, False: 0}
    for box in boxes:
        crop, _ = default_cropper.score_box(ctx, box)
        b = np.array([box], np.float64)
        face = bool(cuts(inside_fractions(b, [f.box for f in a.faces]))[0])
        subject = bool(cuts(inside_fractions(b, [s.box for s in a.subjects_to_keep]))[0])
        assert not (CLEAN in crop.reason and (SUBJECT_CUT_START in crop.reason or "cuts a face" in crop.reason
                                           or "cuts into a face" in crop.reason)), crop.reason
        if subject and not face:
            assert SUBJECT_CUT_START in crop.reason and CLEAN not in crop.reason, (box, crop.reason)
        elif not face:
            assert SUBJECT_CUT_START not in crop.reason, (box, crop.reason)
        said[subject] += 1
    assert said[True] and said[False]  # the spread has crops of both kinds
    first, _ = default_cropper.score_box(ctx, boxes[0])  # the edge's subjects named (a trial asked which)
    unsure = [d for d in a.subjects_to_keep if d.label == "chair"]  # named as the description names it
    assert unsure and all(d.score < 0.7 for d in unsure)
    assert "(against it: an edge crosses detected subjects: a person and an object; " in first.reason
    assert CLEAN not in first.reason


def test_a_cut_names_an_animal_as_the_description_does(default_cropper, shared: Path):
    """BSDS500's camels drinking, found as two "elephants" that the backbone's classifier reads as a
    camel and a llama: the description says "animals", and so does a reason whose edge crosses them
    (a trial read "the detected elephant" under a description of "an animal")."""
    ctx = default_cropper.prepare(str(shared / "data" / "bsds500_trainval" / "images" / "16077.jpg"))
    a = ctx.analysis
    assert {name for _, name in a.animal_names} == {"animal"}
    assert "elephant" not in describe(a, for_people=True)
    camel = next(d for d in a.objects if d.label == "elephant")
    x, y, w, h = camel.box
    crop, _ = default_cropper.score_box(ctx, (int(x + w / 2), 0, a.width - int(x + w / 2), a.height))
    assert SUBJECT_CUT_START in crop.reason and "animal" in crop.reason, crop.reason
    assert "elephant" not in crop.reason, crop.reason


def test_a_cut_names_the_detected_subjects() -> None:
    assert subject_cut_words(["cat"]) == "an edge crosses the detected cat"
    two = "an edge crosses detected subjects: two people and a dog"
    assert subject_cut_words(["person", "dog", "person"]) == two
    three = "an edge crosses detected subjects: an elephant, a bird and a cow"
    assert subject_cut_words(["elephant", "bird", "cow"]) == three
    assert subject_cut_words(["cat", ""]) == SUBJECT_CUT and SUBJECT_CUT.startswith(SUBJECT_CUT_START)


def test_a_placed_region_that_is_not_the_main_subject_is_not_called_so() -> None:
    """The placement term places the first compact salient region; when that is not the main
    subject (a "sheep" region beside the bear of BSDS500 100075, whose own region spans the frame),
    the reason says "a salient region", not "the main subject" (a new user read it as the bear)."""
    other, main = ({"subject_kind": 1.0, "subject_is_main": flag} for flag in (0.0, 1.0))
    assert "a salient region sits" in explain_crop({"placement": 0.1}, other, {})
    assert "the main subject sits" in explain_crop({"placement": 0.1}, main, {})


def test_several_faces_kept_are_placed_as_the_faces(default_cropper) -> None:
    """The placement term places the kept faces' weighted centre: with two kept, the reason says "the
    faces sit" (the README's beach photo read "the face sits" for a couple)."""
    assert "the faces sit centred" in explain_crop({"placement": 0.9}, {"subject_kind": 3.0}, {})
    assert "the face sits centred" in explain_crop({"placement": 0.9}, {"subject_kind": 2.0}, {})
    placed = {"subject_kind": 3.0, "subject_u": 0.45, "subject_v": 0.2}  # near no line, not centred
    assert "the faces are well placed" in explain_crop({"placement": 0.9}, placed, {})
    beach = Path(__file__).resolve().parents[1] / "examples" / "beach.jpg"
    crop = default_cropper.process(str(beach), "1:1", 1).crops[0]
    assert "the faces sit" in crop.reason and "the face sits" not in crop.reason


def test_a_crop_that_holds_no_salient_region_is_not_said_to_keep_them_whole(default_cropper, photo_044: Path):
    """A trial's alternative read "keeps 0% of the salient content; ... keeps whole the salient regions
    it holds": true of a crop that holds none, and read as praise. A corner of photo 044 that holds
    no region gets neither that clause nor "busy detail" for its edges."""
    ctx = default_cropper.prepare(str(photo_044))
    corner, _ = default_cropper.score_box(ctx, (0, 0, 120, 120))
    assert "keeps 0% of the salient content" in corner.reason and REGIONS_WHOLE not in corner.reason
    whole, _ = default_cropper.score_box(ctx, (0, 0, ctx.analysis.width, ctx.analysis.height))
    assert REGIONS_WHOLE in whole.reason


def test_only_plain_space_is_called_empty():
    """"much empty space" ended 2,256 of 5,297 top crops' reasons, a dense city view's among them (the
    head's saliency is low all over a scene no subject stands out in): the words now need the space
    to be plain too, even in lightness. A map 40 x 20 with one salient spot: a crop of its flat half
    is plain, one of its half of fine alternating rows is not."""
    from procrop.imaging.load import load_image
    from procrop.perception.analysis import ColourStats, CompositionAnalysis
    from procrop.scoring.context import ScoringContext
    from procrop.scoring.preference_features import plain_share

    sal = np.zeros((20, 40), np.float32)
    sal[9:11, 19:21] = 1.0
    lab = np.full((20, 40, 3), 128, np.float32)
    lab[::2, 20:, 0] = 60.0  # the right half: rows of dark and light (a city's windows)
    a = CompositionAnalysis(400, 200, sal, np.zeros_like(sal), [], [], [], [], None, None,
                            ColourStats(0.5, 0.5, 0.5, 0.5, 0.0, ("grey",)), (0.5, 0.5), lab=lab)
    ctx = ScoringContext(load_image(np.full((200, 400, 3), 128, np.uint8)), a)
    flat, busy = plain_share(ctx, np.array([[0, 0, 180, 200], [220, 0, 180, 200]]))
    assert flat > 0.9 and busy < 0.1


def test_a_placed_region_inside_the_main_subject_is_called_the_main_subject(default_cropper) -> None:
    """A trial's man standing on a wall: the description said "A person, the main subject" while every
    reason said "a salient region sits on the upper-left thirds point": the region placed is his body,
    inside his box but less than half of it (his legs are not salient)."""
    from procrop.imaging.load import load_image
    from procrop.perception.analysis import ColourStats, CompositionAnalysis, Region
    from procrop.perception.detectors import Detection
    from procrop.scoring.context import ScoringContext

    sal, mask = np.zeros((20, 40), np.float32), np.zeros((20, 40), bool)
    mask[2:10, 8:12] = True  # 40 x 80 px (the region's box below) inside the man's 60 x 170 px box: his body
    sal[mask] = 1.0
    body = Region((80.0, 20.0, 40.0, 80.0), (100.0, 60.0), 0.9, "salient", "grey", "", mask)
    man = Detection((75.0, 15.0, 60.0, 170.0), 0.9, kind="person", label="person")
    a = CompositionAnalysis(400, 200, sal, np.zeros_like(sal), [], [man], [body], [], None, None,
                            ColourStats(0.5, 0.5, 0.5, 0.5, 0.0, ("grey",)), (0.25, 0.3), objects=[man],
                            saliency_source="head")
    ctx = ScoringContext(load_image(np.full((200, 400, 3), 128, np.uint8)), a)
    tv = default_cropper.scorer.terms(ctx, np.array([[0, 0, 200, 200]]))
    assert tv.details["subject_is_main"][0] == 1.0


def _flat_context(width: int = 400, height: int = 200, lab: np.ndarray | None = None):
    """A grey photo's context with no salient region at all (its saliency map is zero)."""
    from procrop.imaging.load import load_image
    from procrop.perception.analysis import ColourStats, CompositionAnalysis
    from procrop.scoring.context import ScoringContext

    sal = np.zeros((20, 40), np.float32)
    a = CompositionAnalysis(width, height, sal, np.zeros_like(sal), [], [], [], [], None, None,
                            ColourStats(0.5, 0.5, 0.5, 0.5, 0.0, ("grey",)), (0.5, 0.5), lab=lab)
    return ScoringContext(load_image(np.full((height, width, 3), 128, np.uint8)), a)


def test_words_for_a_photo_without_regions_and_for_the_uncropped_photo(default_cropper):
    """A review found "keeps whole the salient regions it holds" on every crop of the 34 pool photos
    with no salient region (the region features read 1 without any), and "an edge runs through busy
    ..." of the uncropped photo, whose edges are the photographer's."""
    from procrop.scoring.composition import CompositionScorer

    ctx = _flat_context()
    pref = next(t for t in default_cropper.extra_terms if t.name == "preference")
    said = pref.explain(ctx, np.array([100, 0, 200, 200]), 0.5) or ""  # None: nothing to say at all
    assert REGIONS_WHOLE not in said
    tv = CompositionScorer().terms(ctx, np.array([[0, 0, 400, 200], [100, 0, 200, 200], [0, 0, 200, 200]]))
    assert tv.details["inner_edge"].tolist() == [0.0, 1.0, 1.0]
    busy = {"boundary": 0.2}  # the classic scorer's reason (the preference scorer leaves the clause out)
    assert "runs through busy" not in explain_crop(busy, {"inner_edge": 0.0}, {})
    assert "runs through busy" in explain_crop(busy, {"inner_edge": 1.0}, {})


def test_much_empty_space_is_said_only_of_plain_space(default_cropper):
    """Through the preference term's own reason: the same empty crop (no saliency anywhere) is "much
    empty space" on an even grey photo, not on one of fine alternating rows (a city's windows)."""
    pref = next(t for t in default_cropper.extra_terms if t.name == "preference")
    even, rows = np.full((20, 40, 3), 128, np.float32), np.full((20, 40, 3), 128, np.float32)
    rows[::2, :, 0] = 60.0
    box = np.array([100, 0, 200, 200])
    assert "much empty space" in pref.explain(_flat_context(lab=even), box, 0.5)
    # nothing to say of it: no clause at all (a trial read reasons ending "...; editors' preference model")
    assert pref.explain(_flat_context(lab=rows), box, 0.5) is None
    assert "much empty space" in pref.explain(_flat_context(lab=None), box, 0.5)  # no colour map: as before
