"""Never cut what matters, on real photos with people and animals (default perception).

For each photo and ratio the best crop must not cut a detected face when some box of that ratio
keeps every face whole, must not cut the most important person or animal when a box keeps it (and
the faces) whole, and must not run an edge through a person's head, neck, knees or ankles when a
box of that ratio avoids it. "Some box" is searched exhaustively here, on a fine grid of positions
and scales, independently of the cropper's own candidates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from procrop import Cropper
from procrop.geometry import largest_size, parse_ratio
from procrop.perception.analysis import CompositionAnalysis
from procrop.perception.pose import face_of
from procrop.scoring.protection import EYE_LINE, inside_fractions, person_bad_bands

PHOTOS = [
    "zelex-kodak/kodim04.jpg",
    "zelex-kodak/kodim12.jpg",
    "zelex-kodak/kodim15.jpg",
    "zelex-kodak/kodim18.jpg",
    "zelex-wikipedia-photos/025.jpg",
    "zelex-wikipedia-photos/029.jpg",
    "zelex-wikipedia-photos/035.jpg",
    "zelex-wikipedia-photos/038.jpg",
    "zelex-wikipedia-photos/044.jpg",
    "zelex-wikipedia-photos/040.jpg",
]
RATIOS = ["1:1", "4:5", "16:9", "9:16"]


@pytest.fixture(scope="module", params=["learned", "classic"])
def cropper(request: pytest.FixtureRequest) -> Cropper:
    return Cropper(scorer=request.param, reference_db=None)


def exhaustive_boxes(width: int, height: int, ratio: float, steps: int = 24,
                     content: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Boxes of one ratio at 8 scales (100 % down to 30 % of the largest) on a fine position grid,
    inside ``content`` (the picture within a scan border) when given, each :func:`framed`."""
    cx0, cy0, cw, ch = content or (0, 0, width, height)
    mw, mh = largest_size(cw, ch, ratio)
    out = []
    for k in np.linspace(1.0, np.sqrt(0.3), 8):
        w, h = max(1, int(mw * k)), max(1, int(mh * k))
        for x in np.linspace(cx0, cx0 + cw - w, steps):
            for y in np.linspace(cy0, cy0 + ch - h, steps):
                out.append(_framed((x, y, w, h), (cx0, cy0, cw, ch), width, height))
    return np.asarray(out)


def cuts(inside: np.ndarray) -> np.ndarray:
    return (inside > 0.02) & (inside < 0.97)


def keeps_faces(boxes: np.ndarray, a: CompositionAnalysis) -> np.ndarray:
    if not a.faces:
        return np.ones(len(boxes), bool)
    return (inside_fractions(boxes, [f.box for f in a.faces]) >= 0.97).all(axis=0)


def bad_person_edge(boxes: np.ndarray, person, faces=()) -> np.ndarray:
    """Crops with an edge through the person's bands (a half-length figure's by the face it holds)."""
    x, y, w, h = person.box
    top, bottom = boxes[:, 1], boxes[:, 1] + boxes[:, 3]
    over_x = (boxes[:, 0] + boxes[:, 2] > x) & (boxes[:, 0] < x + w)
    bad = np.zeros(len(boxes), bool)
    for lo, hi in person_bad_bands(person, face_of(person, faces)):
        bad |= over_x & (((top > lo) & (top < hi)) | ((bottom > lo) & (bottom < hi)))
    return bad


def framed(box: tuple[int, int, int, int], a) -> np.ndarray:
    """``box`` with each edge that lies on the picture's scan border (``a.content``) moved out to the
    frame: there it is the picture's own edge, not a cut (the detectors' boxes reach into the border)."""
    content = a.content or (0, 0, a.width, a.height)
    return np.asarray([_framed(box, content, a.width, a.height)], dtype=np.float64)


def _framed(box, content, width: int, height: int) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box[0], box[1], box[0] + box[2], box[1] + box[3]
    cx0, cy0, cw, ch = content
    x0, y0 = (0 if x0 <= cx0 + 1 else x0), (0 if y0 <= cy0 + 1 else y0)
    x1, y1 = (width if x1 >= cx0 + cw - 1 else x1), (height if y1 >= cy0 + ch - 1 else y1)
    return (x0, y0, x1 - x0, y1 - y0)


@pytest.mark.parametrize("name", PHOTOS)
def test_best_crop_cuts_nothing_it_could_keep(cropper: Cropper, photos_dir: Path, name: str) -> None:
    path = photos_dir / name
    result = cropper.process(str(path), RATIOS, top_k=1)
    a = result.analysis
    assert a.faces or a.subjects_to_keep, f"{name}: the detectors should find someone or something"
    for label in RATIOS:
        best = result.for_ratio(label)[0]
        box = framed(best.box, a)
        x, y, w, h = best.box
        assert x >= 0 and y >= 0 and x + w <= a.width and y + h <= a.height
        # the crops procrop may make: inside the picture, not its scan border
        grid = exhaustive_boxes(a.width, a.height, parse_ratio(label).value, content=a.content)
        faces_ok = keeps_faces(grid, a)
        if faces_ok.any() and a.faces:
            face_cut = cuts(inside_fractions(box, [f.box for f in a.faces])).any()
            assert not face_cut, f"{name} {label}: cuts a face that a crop keeps whole"
            largest = max(a.faces, key=lambda f: f.box[2] * f.box[3])
            assert inside_fractions(box, [largest.box])[0, 0] >= 0.97, f"{name} {label}: the main face is out"
        pool = grid[faces_ok] if faces_ok.any() else grid
        main = a.subjects_to_keep[0] if a.subjects_to_keep else None
        if main is None:
            continue
        whole = inside_fractions(pool, [main.box])[0] >= 0.97
        if whole.any():
            assert not cuts(inside_fractions(box, [main.box])[0])[0], (
                f"{name} {label}: cuts the {main.label} although a crop keeps it whole"
            )
        elif main.kind == "person" and (~bad_person_edge(pool, main, a.faces)).any():
            assert not bad_person_edge(box, main, a.faces)[0], f"{name} {label}: an edge runs through a joint"


def test_describe_names_what_the_detectors_found(cropper: Cropper, photos_dir: Path) -> None:
    assert "people" in cropper.describe(str(Path(__file__).resolve().parents[1] / "examples" / "beach.jpg"))
    assert "horse" in cropper.describe(str(photos_dir / "zelex-wikipedia-photos/025.jpg"))


def test_fast_profile_finds_faces_without_the_object_detector(cropper: Cropper, photos_dir: Path) -> None:
    fast = Cropper(reference_db=None, profile="fast")
    a = fast.analyze(str(photos_dir / "zelex-kodak/kodim04.jpg"))
    assert a.objects == [] and all(p.label != "person" for p in a.people)
    assert fast.analyzer.object_detector is None and len(a.faces) == 1
    assert a.faces[0].point("right_eye") is not None  # YuNet's landmarks
    with pytest.raises(Exception, match="profile"):
        Cropper(profile="turbo")


def test_pose_places_the_joints(photos_dir: Path) -> None:
    """With --pose the people carry MoveNet keypoints, and the bands follow them."""
    pytest.importorskip("ai_edge_litert")
    result = Cropper(reference_db=None, pose=True).process(str(photos_dir / "zelex-kodak/kodim04.jpg"), ["16:9"], 1)
    person = next(p for p in result.analysis.people if p.label == "person")
    names = {n for n, *_ in person.keypoints}
    assert {"nose", "left_shoulder", "right_knee", "left_ankle"} <= names
    x, y, w, h = person.box
    assert all(y - 0.05 * h <= lo < hi for lo, hi in person_bad_bands(person))


PORTRAITS = ["zelex-kodak/kodim04.jpg", "smartcrop-js-unsplash/makhmutova-dina-1580313.jpg"]


@pytest.mark.parametrize("profile", ["default", "fast"])
@pytest.mark.parametrize("name", PORTRAITS)
def test_a_face_too_big_for_the_frame_keeps_its_eyes(cropper: Cropper, photos_dir: Path, name: str,
                                                     profile: str) -> None:
    """A portrait at 16:9 and 21:9: the face cannot fit, so every crop keeps both eyes inside, in
    the upper part of the frame, and cuts forehead and chin (eyes from YuNet's landmarks, in both
    profiles)."""
    path = str(photos_dir / name)
    truth = Cropper(reference_db=None, scorer="classic").analyze(path)
    face = max(truth.faces, key=lambda f: f.box[2] * f.box[3])
    eyes = [face.point("right_eye"), face.point("left_eye")]
    run = cropper if profile == "default" else Cropper(scorer=cropper.scorer_name, reference_db=None, profile="fast")
    result = run.process(path, ["16:9", "21:9"], top_k=3)
    assert {c.ratio for c in result.crops} == {"16:9", "21:9"}
    own = max(result.analysis.faces, key=lambda f: f.box[2] * f.box[3])  # the eyes protection saw
    for crop in result.crops:
        x, y, w, h = crop.box
        assert h < face.box[3], f"{name}: the face should not fit a {crop.ratio} crop"
        for ex, ey in eyes:
            assert x < ex < x + w and y < ey < y + h, f"{name} {crop.ratio} {crop.box}: an eye is cut off"
        line = (eyes[0][1] + eyes[1][1]) / 2  # the full analysis' eyes: the fast profile's differ a little
        assert 0.1 * h <= line - y <= 0.6 * h, f"{name} {crop.ratio} {crop.box}: eyes not in the upper part"
        own_line = (own.point("right_eye")[1] + own.point("left_eye")[1]) / 2 - y
        assert EYE_LINE[0] * h - 1e-6 <= own_line <= EYE_LINE[1] * h + 1e-6, f"{crop.box}: protection's rule"
        assert y > face.box[1], f"{name} {crop.ratio} {crop.box}: the forehead should be cut, not the chin alone"


def test_an_animal_too_big_for_the_ratio_keeps_most_of_itself(photos_dir: Path) -> None:
    """A close-up of a big cat at 9:16: no crop keeps it whole, and "cut it cleanly" alone would
    leave a scrap at its edge (the snout without the eyes); the crop keeps at least 70 % of the
    most any 9:16 box can hold of it."""
    from procrop.scoring.protection import MOST_OF_MAIN

    result = Cropper(reference_db=None).process(str(photos_dir / "zelex-wikipedia-photos/001.jpg"), "9:16", top_k=1)
    a = result.analysis
    animal = next(s for s in a.subjects_to_keep if s.kind == "animal")
    w, h = largest_size(a.width, a.height, parse_ratio("9:16").value or 1.0)
    slides = np.array([[x, 0, w, h] for x in range(0, a.width - w + 1, 4)], dtype=np.float64)
    best = inside_fractions(slides, [animal.box])[0].max()
    kept = inside_fractions(np.asarray([result.crops[0].box], np.float64), [animal.box])[0, 0]
    assert kept >= MOST_OF_MAIN * best - 0.02, (kept, best)


def test_the_macaw_keeps_its_beak_at_9x16(photos_dir: Path) -> None:
    """kodim23: YuNet finds the red macaw's face (a 'face' on an animal is its head, not a face);
    the 9:16 crop, which cannot hold the whole bird, keeps that head with its beak (it cut the beak
    when the head was taken to be the highest part of the outline)."""
    from procrop import Cropper
    from procrop.scoring.main_subject import animal_head

    result = Cropper(reference_db=None).process(str(photos_dir / "zelex-kodak/kodim23.jpg"), ["9:16"], top_k=1)
    birds = [o for o in result.analysis.objects if o.label == "bird" and any(k[0] == "head" for k in o.keypoints)]
    assert birds and not result.analysis.faces
    head = animal_head(result.analysis, max(birds, key=lambda o: o.box[2] * o.box[3]))
    assert inside_fractions(np.asarray([result.crops[0].box], float), [head])[0, 0] >= 0.97


def test_a_half_length_figure_is_cut_below_the_shoulders_not_at_standing_knees() -> None:
    """A bust (Grace Hopper, 512 x 600: the person's box 536 high holds a face 227 high) has no knees
    or ankles in its box: its bands are the head, then the neck, and a square from the top passes."""
    from procrop.perception.detectors import Detection
    from procrop.scoring.clean_cuts import person_cuts

    person = Detection((9, 40, 503, 536), 0.94, "person", "person")
    face = Detection((169, 110, 184, 227), 0.9, "face")
    head, neck = person_bad_bands(person, face)
    assert head[1] == neck[0] == 337 and neck[1] == pytest.approx(337 + 0.5 * 227)
    assert len(person_bad_bands(person)) == 3  # no face: a standing figure's head, knees and ankles
    standing = Detection((100, 40, 120, 536), 0.9, "person", "person")  # a face an eighth of its height
    assert len(person_bad_bands(standing, Detection((140, 50, 40, 60), 0.9, "face"))) == 3
    squares = np.asarray([[0, 0, 512, 512], [0, 60, 512, 512]], float)
    through_head, across, _ = person_cuts(squares, person, [face])
    assert through_head.tolist() == [False, True]  # the top edge at 60 runs through the hair
    assert not across[0]  # the bottom edge at 512 is below the shoulders
