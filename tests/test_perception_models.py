"""The shipped pretrained perception models: YuNet faces, YOLOX-nano objects, MoveNet pose.

Real photos come from ``../shared/data/photos`` (the licensed pool) and
``../shared/data/bsds500_trainval`` (development only). No timing assertions.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from procrop.errors import ModelLoadError
from procrop.perception import model_files
from procrop.perception.detectors import Detection, Detector
from procrop.perception.faces import LANDMARKS, VARIANTS, YuNetFaceDetector
from procrop.perception.objects import YoloxObjectDetector
from procrop.perception.pose import KEYPOINTS, PoseEstimator, anthropometric_keypoints

FACE_PHOTOS = ("zelex-kodak/kodim04.jpg", "zelex-kodak/kodim15.jpg", "zelex-kodak/kodim18.jpg")
PEOPLE_PHOTO = "zelex-kodak/kodim04.jpg"
ANIMAL_PHOTO = ("elementary-wallpapers/pawel-czerwi-ski-giraffe.jpg", "giraffe")
BSDS_PERSON = "101087.jpg"  # a standing person, whole body in frame


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def faces() -> YuNetFaceDetector:
    return YuNetFaceDetector()


@pytest.fixture(scope="module")
def objects() -> YoloxObjectDetector:
    return YoloxObjectDetector()


def inside(det: Detection, w: int, h: int) -> bool:
    x, y, bw, bh = det.box
    return x >= 0 and y >= 0 and bw > 0 and bh > 0 and x + bw <= w + 1e-3 and y + bh <= h + 1e-3


def test_detectors_implement_protocol(faces, objects):
    assert isinstance(faces, Detector) and isinstance(objects, Detector)


@pytest.mark.parametrize("name", FACE_PHOTOS)
def test_faces_found_with_landmarks_inside(faces, photos_dir, name):
    rgb = read_rgb(photos_dir / name)
    h, w = rgb.shape[:2]
    found = faces.detect(rgb)
    assert found, f"no face in {name}"
    for det in found:
        assert det.kind == "face" and 0.6 <= det.score <= 1.0
        assert inside(det, w, h)
        assert [k[0] for k in det.keypoints] == list(LANDMARKS)
        x, y, bw, bh = det.box
        for _, px, py, _ in det.keypoints:
            assert x - 0.1 * bw <= px <= x + 1.1 * bw and y - 0.1 * bh <= py <= y + 1.1 * bh
        # eyes above the mouth on upright portraits
        assert max(det.point("right_eye")[1], det.point("left_eye")[1]) < det.point("mouth_left")[1]


def test_zoomed_pass_keeps_the_faces(photos_dir):
    rgb = read_rgb(photos_dir / "zelex-kodak/kodim18.jpg")
    single = YuNetFaceDetector().detect(rgb)
    tiled = YuNetFaceDetector(tiles=2).detect(rgb)
    assert len(tiled) >= len(single) >= 1
    for det in tiled:
        assert inside(det, rgb.shape[1], rgb.shape[0])


def test_no_face_in_a_landscape(faces, photos_dir):
    rgb = read_rgb(photos_dir / "budgie-backgrounds/lake-sherburne.jpg")
    assert faces.detect(rgb) == []


def test_person_on_people_photo(objects, photos_dir):
    rgb = read_rgb(photos_dir / PEOPLE_PHOTO)
    people = [d for d in objects.detect(rgb) if d.kind == "person"]
    assert people and people[0].label == "person" and people[0].score >= 0.5
    assert all(inside(d, rgb.shape[1], rgb.shape[0]) for d in people)


def test_animal_labelled(objects, photos_dir):
    name, label = ANIMAL_PHOTO
    rgb = read_rgb(photos_dir / name)
    found = objects.detect(rgb)
    assert any(d.kind == "animal" and d.label == label for d in found), found
    assert all(d.kind in ("person", "animal", "object") and d.label for d in found)


def test_opencv_and_onnxruntime_agree(photos_dir):
    """OpenCV reads the shipped file with its free input size fixed at 416x416: on the same blob
    both runtimes give the same raw output; onnxruntime's narrower input (the photo's own aspect,
    not padded to a square) finds the same people at the same places."""
    pytest.importorskip("onnxruntime")
    from procrop.perception.objects import preprocess

    rgb = read_rgb(photos_dir / PEOPLE_PHOTO)
    square, _ = preprocess(rgb, square=True)
    narrow, _ = preprocess(rgb)
    assert square.shape == (1, 3, 416, 416) and max(narrow.shape[2:]) == 416 and min(narrow.shape[2:]) < 416
    assert narrow.shape[2] % 32 == 0 and narrow.shape[3] % 32 == 0
    ort_net, cv_net = YoloxObjectDetector(backend="onnxruntime"), YoloxObjectDetector(backend="opencv")
    np.testing.assert_allclose(ort_net.forward(square), cv_net.forward(square), atol=2e-3)
    a, b = ort_net.detect(rgb), cv_net.detect(rgb)
    people_a = sorted(d.box for d in a if d.kind == "person")
    people_b = sorted(d.box for d in b if d.kind == "person")
    assert len(people_a) == len(people_b) >= 1
    np.testing.assert_allclose(people_a, people_b, atol=0.03 * max(rgb.shape))


def test_pose_keypoints_on_a_standing_person(objects, shared, capfd):
    pytest.importorskip("ai_edge_litert")
    rgb = read_rgb(shared / "data" / "bsds500_trainval" / "images" / BSDS_PERSON)
    people = [d for d in objects.detect(rgb) if d.kind == "person"]
    assert people
    capfd.readouterr()
    annotated = PoseEstimator(backend="litert").annotate(rgb, people[:1])
    assert "TensorFlow Lite" not in capfd.readouterr().err  # LiteRT's INFO line reached the terminal
    from procrop.perception.analysis import _person_dict

    listed = _person_dict(annotated[0])["keypoints"]  # the JSON shows what --pose found (it showed nothing)
    assert set(listed) == set(KEYPOINTS) and all(len(v) == 3 for v in listed.values())
    person = annotated[0]
    assert person.box == people[0].box and [k[0] for k in person.keypoints] == list(KEYPOINTS)
    y = {n: py for n, _, py, _ in person.keypoints}
    assert y["nose"] < y["left_shoulder"] < y["left_hip"] < y["left_knee"] < y["left_ankle"]
    x, by, w, h = person.box
    strong = [(px, py) for _, px, py, s in person.keypoints if s >= 0.5]
    assert len(strong) >= 10
    assert all(x - 0.1 * w <= px <= x + 1.1 * w and by - 0.1 * h <= py <= by + 1.1 * h for px, py in strong)


def test_pose_passes_other_kinds_and_prior_backend():
    rgb = np.zeros((200, 100, 3), np.uint8)
    face = Detection((40, 10, 20, 24), 0.9, "face", "face")
    person = Detection((20, 5, 60, 190), 0.8, "person", "person")
    out = PoseEstimator(backend="prior").annotate(rgb, [face, person])
    assert out[0] is face and len(out[1].keypoints) == 17
    assert out[1].point("nose")[1] < out[1].point("left_hip")[1] < out[1].point("left_ankle")[1]
    assert len(anthropometric_keypoints(person.box)) == 17


@pytest.mark.parametrize("name", FACE_PHOTOS)
def test_yunet_on_onnxruntime_decodes_as_opencv_does(photos_dir, name):
    """The onnxruntime backend's own decoding gives OpenCV's FaceDetectorYN rows (scores, boxes,
    landmarks, NMS), on the full pass and on the zoomed tiles."""
    pytest.importorskip("onnxruntime")
    rgb = read_rgb(photos_dir / name)
    a = YuNetFaceDetector(backend="onnxruntime", tiles=2)
    b = YuNetFaceDetector(backend="opencv", tiles=2)
    ra, rb = a.raw(rgb), b.raw(rgb)
    assert len(ra) > 0 and ra.shape == rb.shape
    np.testing.assert_allclose(ra, rb, atol=0.01)  # pixels; the nets' float arithmetic differs slightly
    np.testing.assert_allclose([d.box for d in a.detect(rgb)], [d.box for d in b.detect(rgb)], atol=0.01)


def test_missing_and_corrupt_model_files(tmp_path, monkeypatch):
    name = VARIANTS[YuNetFaceDetector().variant]
    monkeypatch.setenv(model_files.ENV_DIR, str(tmp_path))
    with pytest.raises(ModelLoadError, match=name) as err:
        YuNetFaceDetector().detect(np.zeros((32, 32, 3), np.uint8))
    assert "missing" in str(err.value)
    shipped = Path(model_files.__file__).resolve().parents[1] / "resources" / "models" / name
    data = bytearray(shipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / name).write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=name) as err:
        YuNetFaceDetector().detect(np.zeros((32, 32, 3), np.uint8))
    assert "corrupt" in str(err.value)
    with pytest.raises(ModelLoadError, match="yolox_nano.onnx"):
        YoloxObjectDetector().detect(np.zeros((32, 32, 3), np.uint8))


def test_shipped_files_verify():
    for name in model_files.MODEL_FILES:
        assert model_files.model_path(name).is_file()
    total = sum(model_files.model_path(n).stat().st_size for n in model_files.MODEL_FILES)
    assert total <= 12 * 2**20


def test_thread_safety_same_results(photos_dir):
    images = [read_rgb(photos_dir / n) for n in FACE_PHOTOS]
    faces, objects, pose = YuNetFaceDetector(), YoloxObjectDetector(), PoseEstimator()

    def analyse(im: np.ndarray) -> tuple:
        found = objects.detect(im)
        return faces.detect(im), found, pose.annotate(im, found)

    expected = [analyse(im) for im in images]
    results: dict[int, list] = {}

    def work(k: int) -> None:
        results[k] = [analyse(im) for im in images * 2]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(2):
        assert results[k] == expected * 2


@pytest.mark.parametrize("shape", [(8, 8), (1, 400), (400, 1), (3, 5), (2000, 60), (321, 481)])
def test_any_size_and_aspect(faces, objects, shape):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, shape, dtype=np.uint8)
    rgb = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)  # grey images are converted by the caller
    h, w = shape
    for det in faces.detect(rgb) + objects.detect(rgb):
        assert inside(det, w, h)
    people = [Detection((0.0, 0.0, float(w), float(h)), 0.9, "person", "person")]
    backend = "litert" if _has_litert() else "prior"
    out = PoseEstimator(backend=backend).annotate(rgb, people)
    assert len(out[0].keypoints) == 17


def test_rejects_non_rgb(faces, objects):
    for bad in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32)):
        with pytest.raises(ValueError):
            faces.detect(bad)
        with pytest.raises(ValueError):
            objects.detect(bad)


def _has_litert() -> bool:
    import importlib.util

    return importlib.util.find_spec("ai_edge_litert") is not None


def test_both_yunet_variants_find_the_portrait(photos_dir):
    rgb = read_rgb(photos_dir / PEOPLE_PHOTO)
    boxes = [YuNetFaceDetector(variant=v).detect(rgb)[0].box for v in VARIANTS]
    centres = [(x + w / 2, y + h / 2) for x, y, w, h in boxes]
    assert np.hypot(centres[0][0] - centres[1][0], centres[0][1] - centres[1][1]) < 0.25 * boxes[0][2]


def test_vendor_script_copies_and_attributes(shared, tmp_path):
    import subprocess
    import sys

    if not (shared / "models" / "README.md").exists():
        pytest.skip("../shared/models not present")
    root = Path(__file__).resolve().parents[1]
    script = root / "tools" / "vendor_models.py"
    done = subprocess.run(
        [sys.executable, str(script), "--shared", str(shared / "models"), "--dest", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "ATTRIBUTION.md").read_text(encoding="utf-8")
    for entry in model_files.MODEL_FILES.values():
        assert model_files.sha256_of(tmp_path / entry.name) == entry.sha256
        assert entry.sha256 in text and entry.licence_file in text
        if entry.change:  # the detectors with free input sizes: rebuilt byte for byte, both hashes named
            assert entry.upstream_sha256 in text and entry.upstream_sha256 != entry.sha256
    assert sum(bool(e.change) for e in model_files.MODEL_FILES.values()) == 2


def test_weak_faces_come_from_the_same_pass_and_leave_the_faces_alone(shared):
    """detect_with_weak returns detect's faces exactly, and the candidates under the threshold
    (an animal's face: the bear of BSDS500 100075 scores 0.59), which the analysis uses only as
    an animal's head."""
    rgb = read_rgb(shared / "data" / "bsds500_trainval" / "images" / "100075.jpg")
    d = YuNetFaceDetector()
    faces, weak = d.detect_with_weak(rgb, 0.3)
    assert faces == d.detect(rgb)
    assert weak and all(0.3 <= f.score < d.score_threshold for f in weak)
