"""Composition analysis and its description, on images with a known composition and real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from procrop import Cropper
from procrop.perception.colour import dominant_colour_name
from procrop.perception.describe import describe
from procrop.perception.detectors import Detection, Detector, HaarFaceDetector
from procrop.imaging.load import load_image


def _disc_image(cx: float, cy: float, colour=(220, 30, 30)) -> np.ndarray:
    img = np.full((300, 450, 3), (70, 90, 80), np.uint8)
    yy, xx = np.mgrid[0:300, 0:450]
    img[(xx - cx) ** 2 + (yy - cy) ** 2 < 35**2] = colour
    return img


def test_salient_subject_found_and_described(default_cropper: Cropper) -> None:
    cropper = default_cropper
    a = cropper.analyze(_disc_image(150, 100))
    main = a.main_subject
    assert main is not None and main.kind == "salient"
    assert abs(main.centroid[0] - 150) < 20 and abs(main.centroid[1] - 100) < 20
    assert main.colour == "red"
    text = describe(a)
    assert "upper-left thirds point" in text and "red" in text


def test_horizon_and_lines(default_cropper: Cropper) -> None:
    img = np.zeros((400, 600, 3), np.uint8)
    img[:260] = (110, 160, 225)
    img[260:] = (40, 110, 40)
    a = default_cropper.analyze(img)
    assert a.horizon is not None and abs(a.horizon.y_left - 260) < 12 and abs(a.horizon.angle) < 2
    assert "lower third" in describe(a)
    tilted = np.zeros((400, 600, 3), np.uint8)
    yy, xx = np.mgrid[0:400, 0:600]
    tilted[yy > 200 + (xx - 300) * np.tan(np.radians(-4))] = (200, 200, 200)
    hz = default_cropper.analyze(tilted).horizon
    assert hz is not None and 2.5 < hz.angle < 5.5  # rises to the right


def test_no_horizon_in_noise(default_cropper: Cropper) -> None:
    img = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    assert default_cropper.analyze(img).horizon is None


def test_real_face_photo_described(photo_paths: list[Path], default_cropper: Cropper) -> None:
    kodak = next(p for p in photo_paths if p.name == "kodim15.jpg")
    a = default_cropper.analyze(kodak)
    assert len(a.faces) == 1
    x, y, w, h = a.faces[0].box
    assert 0 <= x and x + w <= a.width and w > 0.2 * a.width  # a close portrait
    assert a.people and a.subjects[0].kind == "face"
    assert "A close-up portrait" in describe(a)


def test_boxes_are_in_original_pixels(photo_paths: list[Path]) -> None:
    kodak = next(p for p in photo_paths if p.name == "kodim15.jpg")
    small = Cropper(reference_db=None, analysis_size=256).analyze(kodak).faces[0].box
    large = Cropper(reference_db=None, analysis_size=512).analyze(kodak).faces[0].box
    assert np.abs(np.array(small) - np.array(large)).max() < 0.06 * 768


def test_detector_interface_plugs_in() -> None:
    class Fixed:
        def detect(self, rgb: np.ndarray) -> list[Detection]:
            h, w = rgb.shape[:2]
            return [Detection((0.6 * w, 0.2 * h, 0.1 * w, 0.15 * h), 0.9, "face")]

    assert isinstance(Fixed(), Detector) and isinstance(HaarFaceDetector(), Detector)
    img = np.full((200, 300, 3), 128, np.uint8)
    a = Cropper(reference_db=None, face_detector=Fixed()).analyze(img)
    assert len(a.faces) == 1 and a.faces[0].box[0] == pytest.approx(180, abs=2)
    crops = Cropper(reference_db=None, face_detector=Fixed()).crop(img, "1:1", top_k=3)
    for c in crops:  # the plugged-in face is never cut
        x, y, w, h = c.box
        assert x <= 180 and x + w >= 210 and y <= 40 and y + h >= 70


def test_haar_detector_finds_no_faces_in_landscapes(photo_paths: list[Path]) -> None:
    detector = HaarFaceDetector()
    landscapes = [p for p in photo_paths if "ubuntu" in str(p)][:40]
    false = sum(bool(detector.detect(load_image(p).pixels)) for p in landscapes)
    assert false <= 2


def test_colour_words() -> None:
    assert dominant_colour_name(np.array([[250, 250, 250]] * 3, np.uint8)) == "white"
    assert dominant_colour_name(np.array([[20, 40, 200]] * 3, np.uint8)) == "blue"
    assert dominant_colour_name(np.array([[20, 40, 200], [200, 30, 30], [200, 30, 30]], np.uint8)) == "red"


def test_hog_people_detector_finds_the_couple() -> None:
    from procrop.perception.detectors import HogPeopleDetector

    beach = Path(__file__).resolve().parents[1] / "examples" / "beach.jpg"
    a = Cropper(reference_db=None, people_detector=HogPeopleDetector()).analyze(beach)
    people = [p for p in a.people if p.kind == "person"]
    assert people
    x, y, w, h = people[0].box
    # the two walkers stand left of centre, in the upper two thirds (768 x 512 photo)
    assert 150 < x + w / 2 < 450 and y < 250 and h > 150


OSPREY = "budgie-backgrounds/perched-osprey.jpg"  # a 0.84 osprey and a 0.56 "bird" on an empty branch


@pytest.mark.parametrize("scorer", ["learned", "classic"])
def test_a_weak_detection_cannot_pull_the_crop_off_the_subject(photos_dir: Path, scorer: str) -> None:
    result = Cropper(scorer=scorer).process(str(photos_dir / OSPREY), ["1:1", "4:5"], top_k=2)
    a = result.analysis
    sure = max(a.objects, key=lambda d: d.score)
    weak = min(a.objects, key=lambda d: d.score)
    assert sure.score > 0.8 and weak.score < 0.6 and weak.box[2] * weak.box[3] > sure.box[2] * sure.box[3]
    assert sure.support > weak.support  # the photo's own saliency backs the osprey more
    assert a.subjects_to_keep[0] == sure
    bx, by, bw, bh = sure.box
    for crop in result.crops:
        x, y, w, h = crop.box
        assert x <= bx + 1 and bx + bw <= x + w + 1 and y <= by + 1 and by + bh <= y + h + 1, (crop.ratio, crop.box)


def test_importance_puts_confident_detections_first() -> None:
    from procrop.perception.analysis import importance

    big_weak = Detection((0, 0, 400, 400), 0.56, "animal", "bird", support=1.2)
    small_sure = Detection((500, 0, 150, 300), 0.84, "animal", "bird", support=2.0)
    person = Detection((0, 0, 10, 10), 0.5, "person", "person")
    assert sorted([big_weak, small_sure, person], key=importance) == [person, small_sure, big_weak]


def test_descriptions_name_only_confident_detections_and_colour_no_person(photos_dir: Path) -> None:
    cropper = Cropper(reference_db=None, scorer="classic")
    osprey = cropper.describe(str(photos_dir / OSPREY))
    assert "A bird," in osprey and "birds" not in osprey
    otters = cropper.analyze(str(photos_dir / "budgie-backgrounds/oakland-zoo-otters.jpg"))
    assert all(d.score < 0.7 for d in otters.subjects_to_keep)
    text = describe(otters)
    assert "bear" not in text and "An animal" in text
    colours = ("white", "black", "grey", "brown", "red", "orange", "yellow", "green", "blue", "cyan", "pink", "beige")
    for name in ("smartcrop-js-unsplash/makhmutova-dina-1580313.jpg", "budgie-backgrounds/cave-opening.jpg"):
        text = cropper.describe(str(photos_dir / name))
        assert not any(f"{c} person" in text or f"{c} figure" in text for c in colours), (name, text)
