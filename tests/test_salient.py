"""Salient objects from the head: masks, protection of every subject, words for them.

Synthetic analyses (a known mask on a 200 x 100 photo) check the rules exactly; the shipped head
runs on real backbone maps of a photo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from procrop.perception.analysis import ColourStats, CompositionAnalysis, Region
from procrop.perception.describe import describe
from procrop.perception.detectors import Detection
from procrop.perception.salient import HEAD_ONNX, SalientHead, mask_subjects
from procrop.scoring.protection import allowed_crops, mask_inside_fractions
from procrop.training.scorer.saliency import fbeta_iou
from procrop.training.scorer.saliency_data import photometric, views

W, H = 200, 100  # the photo; maps are 20 x 10 cells of 10 px


def region(x0: int, y0: int, x1: int, y1: int, mass: float = 0.5, label: str = "") -> Region:
    """A salient region covering map cells ``[y0:y1, x0:x1]``."""
    m = np.zeros((10, 20), bool)
    m[y0:y1, x0:x1] = True
    box = (x0 * 10.0, y0 * 10.0, (x1 - x0) * 10.0, (y1 - y0) * 10.0)
    return Region(box, (box[0] + box[2] / 2, box[1] + box[3] / 2), mass, "salient", "orange", label, m)


def analysis(subjects: list[Region], people: list[Detection] | None = None) -> CompositionAnalysis:
    sal = np.zeros((10, 20), np.float32)
    for s in subjects:
        sal[s.mask] = 1.0
    colour = ColourStats(0.5, 0.5, 0.5, 0.5, 0.0, ("grey",))
    return CompositionAnalysis(W, H, sal, np.zeros_like(sal), [], people or [], subjects, [], None, None, colour,
                               (0.5, 0.5), saliency_source="head")


def test_mask_share_counts_partial_cells_by_area() -> None:
    m = np.zeros((1, 10, 20), bool)
    m[0, 2:6, 4:8] = True  # x 40..80, y 20..60
    boxes = np.asarray([[40, 20, 40, 40], [0, 0, 60, 100], [55, 0, 145, 100], [0, 0, 200, 40]], float)
    np.testing.assert_allclose(mask_inside_fractions(boxes, m, W, H)[0], [1.0, 0.5, 0.625, 0.5])


def test_a_crop_that_cuts_an_object_it_could_keep_is_dropped() -> None:
    a = analysis([region(4, 2, 8, 6)])
    boxes = np.asarray([[0, 0, 60, 100], [20, 0, 100, 100], [100, 0, 100, 100]], float)  # cuts, keeps, leaves out
    allowed = allowed_crops(boxes, a, np.zeros((0, 3)))
    assert allowed.tolist() == [False, True, True]


def test_an_object_no_crop_can_keep_whole_does_not_empty_the_set() -> None:
    a = analysis([region(0, 0, 20, 10)])
    boxes = np.asarray([[0, 0, 100, 100], [100, 0, 100, 100]], float)
    assert allowed_crops(boxes, a, np.zeros((0, 2))).all()


def test_a_region_no_crop_keeps_whole_keeps_its_core_whole() -> None:
    # the head's map spreads over the whole width (0.55), the object itself is hot (0.95) in cells 4-8
    a = analysis([region(0, 2, 20, 8)])
    a.saliency[2:8, :] = 0.55
    a.saliency[2:6, 4:8] = 0.95  # x 40..80, y 20..60
    boxes = np.asarray([[0, 0, 60, 100], [20, 0, 100, 100], [100, 0, 100, 100]], float)  # cuts, keeps, leaves out the core
    assert allowed_crops(boxes, a, np.zeros((0, 3))).tolist() == [False, True, True]


def test_two_near_objects_are_kept_together_or_left_out() -> None:
    a = analysis([region(4, 2, 7, 8, 0.4), region(8, 2, 11, 8, 0.35)])  # two cyclists, 10 px apart
    boxes = np.asarray([
        [30, 0, 100, 100],   # both whole
        [0, 0, 75, 100],     # the first whole, the second out
        [120, 0, 80, 100],   # both out
    ], float)
    assert allowed_crops(boxes, a, np.zeros((0, 3))).tolist() == [True, False, True]


def test_a_more_salient_object_is_never_left_out_to_keep_a_less_salient_one_whole() -> None:
    # a camera (x 150..190) and its strap (x 10..110): no square of 100 px holds both
    a = analysis([region(15, 2, 19, 8, 0.46), region(1, 5, 11, 8, 0.39)])
    boxes = np.asarray([
        [90, 0, 100, 100],   # the camera whole, the strap's end cut
        [10, 0, 100, 100],   # the strap whole, the camera left out
        [60, 0, 100, 100],   # cuts the camera
        [40, 0, 100, 100],   # cuts the strap and keeps no camera: a cut for nothing
    ], float)
    assert allowed_crops(boxes, a, np.zeros((0, 4))).tolist() == [True, True, False, False]
    # where both fit whole, a crop that cuts the less salient one is dropped as before
    wide = np.vstack([boxes, [[10, 0, 190, 100]]])
    assert allowed_crops(wide, a, np.zeros((0, 5))).tolist() == [False, True, False, False, True]


def test_mask_subjects_names_regions_by_the_detection_that_overlaps_them() -> None:
    sal = np.zeros((10, 20), np.float32)
    sal[2:8, 2:6] = 0.9   # under the person's box
    sal[3:6, 12:18] = 0.8  # no detection
    rgb = np.full((10, 20, 3), 128, np.uint8)
    person = Detection((20.0, 20.0, 40.0, 60.0), 0.9, kind="person", label="person")
    dog = Detection((150.0, 80.0, 20.0, 15.0), 0.8, kind="animal", label="dog")  # the head saw nothing there
    subjects = mask_subjects(sal, rgb, [], [person, dog], W, H)
    labels = sorted(s.label for s in subjects)
    assert labels == ["", "dog", "person"]
    named = next(s for s in subjects if s.label == "person")
    assert named.mask is not None and named.mask.sum() == 24
    a = analysis(subjects)
    assert a.subject_masks.shape == (3, 10, 20)


def test_a_small_figure_inside_a_large_named_region_does_not_name_it() -> None:
    """Two ground-crew figures found inside a space shuttle's region (zelex 021.jpg): the shuttle's
    detection, overlapping most of the region, names it; the figures stay subjects of their own."""
    sal = np.zeros((10, 20), np.float32)
    sal[2:9, 3:18] = 0.9
    rgb = np.full((10, 20, 3), 128, np.uint8)
    crew = Detection((40.0, 60.0, 10.0, 20.0), 0.56, kind="person", label="person")
    shuttle = Detection((30.0, 20.0, 150.0, 70.0), 0.81, kind="object", label="airplane")
    subjects = mask_subjects(sal, rgb, [], [crew, shuttle], W, H)
    assert subjects[0].label == "airplane" and subjects[0].mask is not None
    assert [s.label for s in subjects[1:]] == ["person"]


def test_describe_never_calls_a_region_a_person_unless_it_is_mostly_one() -> None:
    person = Detection((150.0, 0.0, 50.0, 100.0), 0.9, kind="person", label="person")
    basket = region(2, 2, 8, 8, 0.6)
    text = describe(analysis([basket], [person]))
    assert "The main subject, medium-sized and orange, sits" in text
    assert "main subject, a person" not in text
    held = region(15, 2, 20, 8, 0.6)
    assert "A person, the main subject, in the right third" in describe(analysis([held], [person]))
    # a face-sized region inside a person filling the frame is a part of the person, not "a small
    # person", and never the main subject (the person is: tests/test_describe.py)
    everyone = Detection((0.0, 0.0, 200.0, 100.0), 0.9, kind="person", label="person")
    face = region(9, 1, 12, 4, 0.6)
    text = describe(analysis([face], [everyone]))
    assert "A person," in text and "a small person" not in text and "main subject" not in text


def test_fbeta_and_iou_of_a_perfect_and_an_empty_student() -> None:
    t = np.zeros((20, 20), np.float32)
    t[5:15, 5:15] = 1
    perfect = fbeta_iou([t], [t])
    assert perfect["max_fbeta"] > 0.99 and perfect["iou_at_0.5"] == 1.0
    empty = fbeta_iou([np.zeros_like(t)], [t])
    assert empty["max_fbeta"] < 0.01 and empty["iou_at_0.5"] == 0.0


def test_head_exports_to_onnx_with_its_batch_normalisation_folded(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    from procrop.model.scorer.salient_head import build_head, export_onnx

    torch.manual_seed(0)
    head = build_head(width=8)
    rng = np.random.default_rng(0)
    feed = {"c3": rng.normal(0, 5, (2, 32, 32, 32)), "c4": rng.normal(0, 4, (2, 96, 16, 16)),
            "c5": np.abs(rng.normal(0, 1, (2, 1280, 8, 8)))}
    feed = {k: v.astype(np.float32) for k, v in feed.items()}
    head.train()
    head(*(torch.from_numpy(feed[k]) for k in ("c3", "c4", "c5")))  # moves the running statistics off 0 / 1
    head.eval()
    with torch.no_grad():
        want = torch.sigmoid(head(*(torch.from_numpy(feed[k][:1]) for k in ("c3", "c4", "c5")))).numpy()
    export_onnx(head, tmp_path / "head.onnx")
    session = ort.InferenceSession(str(tmp_path / "head.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {k: v[:1] for k, v in feed.items()})
    assert got.shape == (1, 1, 32, 32) and 0.0 <= got.min() and got.max() <= 1.0
    np.testing.assert_allclose(got, want, atol=1e-4)
    plain = sum(p.numel() for p in build_head(48, norm=False, extra=False).parameters())
    assert plain == 192_001  # the first shipped design (771926 bytes of ONNX) is still buildable


def test_views_stay_inside_the_photo() -> None:
    vs = views(640, 360, 6, np.random.default_rng(0))
    assert vs[0] == (0, 0, 640, 360, False) and vs[1][4] is True and len(vs) == 6
    assert all(x >= 0 and y >= 0 and x + w <= 640 and y + h <= 360 for x, y, w, h, _ in vs)


def test_recoloured_views_change_light_not_layout() -> None:
    photo = np.zeros((40, 60, 3), np.uint8)
    photo[10:30, 20:40] = (200, 60, 30)  # an orange square on black
    outs = [photometric(photo, np.random.default_rng(seed)) for seed in range(6)]
    assert all(o.shape == photo.shape and o.dtype == np.uint8 for o in outs)
    assert any(not np.array_equal(o, photo) for o in outs)
    np.testing.assert_array_equal(photometric(photo, np.random.default_rng(1)), outs[1])  # seeded
    for o in outs:  # the square stays where it was: brighter inside than around it
        assert o[12:28, 22:38].mean() > o[:8].mean() + 10


@pytest.mark.skipif(not HEAD_ONNX.exists(), reason="the head is not built")
def test_shipped_head_maps_a_photo(photos_dir: Path) -> None:
    from procrop import Cropper

    result = Cropper(reference_db=None).process(str(photos_dir / "zelex-wikipedia-photos/025.jpg"), "1:1", top_k=1)
    a = result.analysis
    assert a.saliency_source == "head"
    assert a.saliency.dtype == np.float32 and 0.0 <= a.saliency.min() and a.saliency.max() <= 1.0
    assert a.subject_masks.shape == (len(a.subjects), *a.saliency.shape)
    assert any(s.label == "horse" for s in a.subjects)
    assert Cropper(reference_db=None).analyze(str(photos_dir / "zelex-wikipedia-photos/025.jpg")).saliency_source == "head"
    fast = Cropper(reference_db=None, profile="fast").process(str(photos_dir / "zelex-wikipedia-photos/025.jpg"),
                                                           "1:1", top_k=1)
    assert fast.analysis.saliency_source == "head"  # --fast: the head too, on the backbone the scorer runs anyway
    classic = Cropper(reference_db=None, scorer="classic", profile="fast")  # no backbone on that path: the hand cues
    assert classic.analyze(str(photos_dir / "zelex-wikipedia-photos/025.jpg")).saliency_source == "cues"
    out = SalientHead()(type("M", (), {"c3": np.zeros((1, 32, 32, 32)), "c4": np.zeros((1, 96, 16, 16)),
                                       "c5": np.zeros((1, 1280, 8, 8))})(), (48, 30))
    assert out.shape == (30, 48)


def test_extra_training_photos_are_named_by_their_path(tmp_path) -> None:
    """``--extra-photos DIR``: every photo of DIR joins the training photos under its resolved path
    (its own cache file: two folders of one name never share one), hidden files and a folder given
    twice left out; a folder that is not there is one clear error."""
    from procrop.errors import ProcropError
    from procrop.training.scorer.saliency import _extra

    one, two = tmp_path / "a" / "fresh", tmp_path / "b" / "fresh"
    for folder in (one, two):
        folder.mkdir(parents=True)
        for name in ("b.JPG", "a.png", "notes.txt", "._a.png"):
            (folder / name).write_bytes(b"")
    items = _extra([one, two, one])
    assert [p for p, _ in items] == [one / "a.png", one / "b.JPG", two / "a.png", two / "b.JPG"]
    assert len({name for _, name in items}) == 4
    assert items[0][1] == f"extra{(one / 'a.png').resolve().as_posix()}"
    with pytest.raises(ProcropError, match="no such folder"):
        _extra([tmp_path / "missing"])
