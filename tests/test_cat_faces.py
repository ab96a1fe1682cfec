"""Cat faces mark an animal's head where no face detector found one (procrop/perception/cat_faces.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from procrop.errors import ModelLoadError
from procrop.perception.cat_faces import MAX_ANIMALS, CatFaceFinder, mark_cat_faces
from procrop.perception.detectors import Detection


class FakeFinder:
    """Finds a face at the centre of every box it is asked about, and records the boxes."""

    def __init__(self) -> None:
        self.asked: list[tuple[float, float, float, float]] = []

    def find(self, grey: np.ndarray, box: tuple[float, float, float, float]):
        self.asked.append(box)
        x, y, w, h = box
        return x + w / 4, y + h / 4, w / 2, h / 2, 3.0


def test_only_animals_without_a_head_are_scanned_largest_first() -> None:
    """Objects are not scanned, nor an animal whose face was found already; at most MAX_ANIMALS,
    the largest; the head keypoint lands at the face's centre, in original pixels."""
    rgb = np.zeros((100, 200, 3), np.uint8)
    small = Detection((0.0, 0.0, 20.0, 20.0), 0.9, "animal", "cat")
    big = Detection((100.0, 20.0, 80.0, 60.0), 0.7, "animal", "dog")
    middle = Detection((20.0, 20.0, 40.0, 40.0), 0.7, "animal", "cat")
    headed = Detection((0.0, 40.0, 100.0, 60.0), 0.9, "animal", "bear", (("head", 10.0, 50.0, 0.8),))
    cup = Detection((60.0, 60.0, 30.0, 30.0), 0.9, "object", "cup")
    finder = FakeFinder()
    out = mark_cat_faces([small, big, middle, headed, cup], rgb, 2.0, 2.0, finder)  # original = 2x
    assert len(finder.asked) == MAX_ANIMALS == 2
    assert finder.asked[0] == (50.0, 10.0, 40.0, 30.0)  # the dog, in the detector's pixels
    assert out[0] is small and out[3] is headed and out[4] is cup
    assert out[1].keypoints[0][:3] == ("head", 140.0, 50.0) and 0.0 < out[1].keypoints[0][3] < 1.0
    assert out[2].keypoints[0][0] == "head"


def test_no_animal_no_scan() -> None:
    finder = FakeFinder()
    cup = Detection((60.0, 60.0, 30.0, 30.0), 0.9, "object", "cup")
    assert mark_cat_faces([cup], np.zeros((10, 10, 3), np.uint8), 1.0, 1.0, finder) == [cup]
    assert not finder.asked


def test_a_bobcat_kittens_face_is_found_in_its_box(shared: Path) -> None:
    """BSDS500 159045 (development photo): a bobcat kitten in a hollow log, its face frontal. The
    cascade finds its face inside the box YOLOX gives (about x 168-324, y 90-282), centred on it."""
    import cv2

    photo = shared / "data" / "bsds500_trainval" / "images" / "159045.jpg"
    face = CatFaceFinder().find(cv2.imread(str(photo), cv2.IMREAD_GRAYSCALE), (168.0, 90.0, 156.0, 192.0))
    assert face is not None
    x, y, w, h, weight = face
    assert 200 < x + w / 2 < 280 and 130 < y + h / 2 < 210 and 40 < w < 140 and weight > 0
    grey = cv2.imread(str(photo), cv2.IMREAD_GRAYSCALE)
    assert CatFaceFinder().find(grey, (0.0, 0.0, 150.0, 150.0)) is None  # ferns and red flowers
    assert CatFaceFinder().find(grey, (0.0, 0.0, 400.0, 10.0)) is None  # a strip under the cascade's window


def test_the_analysis_marks_the_head_in_original_pixels(shared: Path) -> None:
    """Through :func:`detect_subjects`, with the detectors seeing a copy at another scale than the
    photo's: the cat's head keypoint lands on its face in the photo's own pixels; nothing is marked
    when face detection is off."""
    from procrop.imaging.load import load_image
    from procrop.perception.analysis import AnalysisConfig
    from procrop.perception.analyzer import detect_subjects

    image = load_image(shared / "data" / "bsds500_trainval" / "images" / "159045.jpg", max_side=256)
    rgb = image.detection_pixels
    k = rgb.shape[1] / image.width  # detection pixels per original pixel

    class NoFaces:
        def detect(self, rgb: np.ndarray) -> list[Detection]:
            return []

    class OneCat:
        def detect(self, rgb: np.ndarray) -> list[Detection]:
            return [Detection((168.0 * k, 90.0 * k, 156.0 * k, 192.0 * k), 0.7, "animal", "cat")]

    _, _, objects = detect_subjects(image, NoFaces(), None, OneCat(), AnalysisConfig())
    (name, x, y, score), = objects[0].keypoints
    assert name == "head" and 200 < x < 280 and 130 < y < 210 and 0.7 < score < 1.0
    _, _, bare = detect_subjects(image, NoFaces(), None, OneCat(), AnalysisConfig(detect_faces=False))
    assert bare[0].keypoints == ()


def test_a_missing_cascade_is_a_clear_model_error(tmp_path: Path) -> None:
    """Without OpenCV's cascade files (OpenCV 5 no longer ships them) a photo with an animal stops
    with a ModelLoadError (one line on the command line) naming the file, not a RuntimeError."""
    finder = CatFaceFinder(cascade_dir=str(tmp_path))
    with pytest.raises(ModelLoadError, match="haarcascade_frontalcatface_extended.xml.*opencv"):
        finder.find(np.zeros((200, 200), np.uint8), (10.0, 10.0, 150.0, 150.0))
