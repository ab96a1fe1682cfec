"""Salient objects kept whole (issue 18): the near-whole rule, masks before the box rules of a
detection too big for the ratio, and crops fitted to the masks.

Synthetic analyses: a 200 x 100 photo whose maps are 20 x 10 cells of 10 px.
"""

from __future__ import annotations

import numpy as np

from procrop.candidates import CandidateConfig, photo_candidates
from procrop.geometry import parse_ratios
from procrop.perception.analysis import ColourStats, CompositionAnalysis, Region
from procrop.perception.detectors import Detection
from procrop.perception.salient import fitting_boxes, mask_subjects
from procrop.scoring.protection import allowed_crops, mask_inside_fractions

W, H = 200, 100


def region(x0: int, y0: int, x1: int, y1: int, mass: float = 0.5) -> Region:
    """A salient region covering map cells ``[y0:y1, x0:x1]``."""
    m = np.zeros((10, 20), bool)
    m[y0:y1, x0:x1] = True
    box = (x0 * 10.0, y0 * 10.0, (x1 - x0) * 10.0, (y1 - y0) * 10.0)
    return Region(box, (box[0] + box[2] / 2, box[1] + box[3] / 2), mass, "salient", "orange", "", m)


def analysis(subjects: list[Region], people: list[Detection] | None = None) -> CompositionAnalysis:
    sal = np.zeros((10, 20), np.float32)
    for s in subjects:
        sal[s.mask] = 1.0
    colour = ColourStats(0.5, 0.5, 0.5, 0.5, 0.0, ("grey",))
    return CompositionAnalysis(W, H, sal, np.zeros_like(sal), [], people or [], subjects, [], None, None, colour,
                               (0.5, 0.5), saliency_source="head")


def test_an_object_too_big_for_the_ratio_keeps_as_much_as_any_crop_can() -> None:
    a = analysis([region(0, 0, 12, 10)])  # 120 px wide: no 100 px crop holds it
    boxes = np.asarray([[0, 0, 100, 100], [20, 0, 100, 100], [60, 0, 100, 100], [100, 0, 100, 100]], float)
    kept = mask_inside_fractions(boxes, np.stack([a.subjects[0].mask]), W, H)[0]
    np.testing.assert_allclose(kept, [100 / 120, 100 / 120, 0.5, 20 / 120])
    assert allowed_crops(boxes, a, np.zeros((0, 4))).tolist() == [True, True, False, False]


def test_an_object_no_crop_keeps_mostly_is_left_to_the_scorer() -> None:
    a = analysis([region(0, 0, 16, 10)])  # 160 px wide: a 100 px crop keeps at most 62 %
    boxes = np.asarray([[0, 0, 100, 100], [60, 0, 100, 100], [100, 0, 100, 100]], float)
    assert allowed_crops(boxes, a, np.zeros((0, 3))).all()


def test_a_person_too_big_for_the_ratio_does_not_drop_the_crop_keeping_its_mask_whole() -> None:
    person = Detection((20.0, 0.0, 160.0, 100.0), 0.9, "person", label="person")
    a = analysis([region(5, 0, 14, 10, mass=0.9)], [person])  # the person's mask: x 50..140
    # keeps the mask whole but has an edge down the body's middle; cuts the mask; leaves it out
    boxes = np.asarray([[45, 0, 100, 100], [0, 0, 100, 100], [148, 0, 52, 100]], float)
    assert allowed_crops(boxes, a, np.zeros((0, 3))).tolist() == [True, False, True]
    # without the mask the box rule alone decides: an edge down the middle of the body goes
    bare = analysis([], [person])
    assert allowed_crops(boxes, bare, np.zeros((0, 3))).tolist() == [False, False, True]


def test_fitted_crops_keep_a_large_object_wherever_the_size_allows() -> None:
    s = region(3, 0, 14, 10)  # x 30..140
    boxes = fitting_boxes([s], W, H, [(120, 100), (100, 100)])
    kept = mask_inside_fractions(boxes.astype(float), np.stack([s.mask]), W, H)[0]
    assert boxes[:, 2:].tolist() == [[120, 100], [100, 100]]
    np.testing.assert_allclose(kept, [1.0, 100 / 110])
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= W).all()


def test_fitted_crops_cover_every_region_and_all_together() -> None:
    subjects = [region(1, 2, 4, 6, 0.6), region(15, 2, 18, 6, 0.3)]
    boxes = fitting_boxes(subjects, W, H, [(100, 100)])
    assert len(boxes) == 3  # each region, then both
    kept = mask_inside_fractions(boxes.astype(float), np.stack([s.mask for s in subjects]), W, H)
    assert kept[0, 0] == 1.0 and kept[1, 1] == 1.0


def test_photo_candidates_include_the_fitted_crops() -> None:
    s = region(3, 0, 14, 10)
    a = analysis([s])
    boxes = photo_candidates(a, parse_ratios("1:1")[0], CandidateConfig(scales=2, grid=2))
    kept = mask_inside_fractions(boxes.astype(float), np.stack([s.mask]), W, H)[0]
    assert kept.max() >= 100 / 110 - 1e-9
    assert fitting_boxes([], W, H, [(100, 100)]).shape == (0, 4)


def test_regions_grow_from_their_core_over_the_fainter_cells_around_it() -> None:
    sal = np.zeros((10, 20), np.float32)
    sal[3:7, 3:7] = 0.4  # a faint object...
    sal[4:6, 4:6] = 0.9  # ...with a confident core
    sal[2:8, 13:19] = 0.4  # faint and no core: not a subject
    rgb = np.zeros((10, 20, 3), np.uint8)
    (only,) = mask_subjects(sal, rgb, [], [], W, H)
    assert only.mask.sum() == 16 and only.box == (30.0, 30.0, 40.0, 40.0)
