"""The torch-free box search (:mod:`procrop.model.scorer.search`): grids, refinement and frame recovery
(property tests). Boxes are normalised ``x1, y1, x2, y2``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from procrop.model.scorer.search import (
    SCALES,
    diverse_top,
    free_grid,
    iou_xyxy,
    ratio_grid,
    ratio_size,
    refine,
    search,
)

EPS = 1e-9
ROUNDING = 1e-12  # float arithmetic only
ratios = st.floats(0.25, 4.0)
aspects = st.floats(0.25, 4.0)
ScoreFn = Callable[[np.ndarray], np.ndarray]


def assert_valid(boxes: np.ndarray) -> None:
    assert boxes.ndim == 2 and boxes.shape[1] == 4 and len(boxes) >= 1
    assert (boxes >= -EPS).all() and (boxes <= 1 + EPS).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


def pixel_ratio(boxes: np.ndarray, aspect: float) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * aspect / (boxes[:, 3] - boxes[:, 1])


def assert_ratio(boxes: np.ndarray, aspect: float, ratio: float) -> None:
    """The ratio holds to floating-point precision."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    bound = ratio * ROUNDING * (1 / w + 1 / h) + EPS
    assert (np.abs(pixel_ratio(boxes, aspect) - ratio) <= bound).all()


def iou_score(target: np.ndarray) -> ScoreFn:
    return lambda boxes: iou_xyxy(boxes, target[None])[:, 0]


@st.composite
def targets(draw: st.DrawFn, min_side: float = 0.35) -> np.ndarray:
    w, h = draw(st.floats(min_side, 1.0)), draw(st.floats(min_side, 1.0))
    x, y = draw(st.floats(0.0, 1.0)) * (1 - w), draw(st.floats(0.0, 1.0)) * (1 - h)
    return np.array([x, y, x + w, y + h])


@st.composite
def scores(draw: st.DrawFn) -> ScoreFn:
    """IoU with a hidden box, or a smooth bowl over the box's centre and size with a tilt."""
    if draw(st.booleans()):
        return iou_score(draw(targets(0.05)))
    c = np.array([draw(st.floats(0, 1)) for _ in range(4)])
    tilt = np.array([draw(st.floats(-1, 1)) for _ in range(4)])

    def bowl(boxes: np.ndarray) -> np.ndarray:
        f = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
                      boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
        return -((f - c) ** 2).sum(axis=1) + 0.1 * f @ tilt

    return bowl


# ---- grids --------------------------------------------------------------------------------------

@given(steps=st.integers(2, 9), min_side=st.floats(0.05, 0.6))
@settings(max_examples=80, deadline=None)
def test_free_grid_boxes_are_valid(steps: int, min_side: float) -> None:
    boxes = free_grid(steps, min_side)
    assert_valid(boxes)
    assert (boxes[:, 2] - boxes[:, 0] >= min_side - EPS).all()
    assert (boxes[:, 3] - boxes[:, 1] >= min_side - EPS).all()
    assert ((boxes == [0, 0, 1, 1]).all(axis=1)).any()  # the whole canvas is always a candidate


@given(ratio=ratios, aspect=aspects, steps=st.integers(1, 9))
@settings(max_examples=150, deadline=None)
def test_ratio_grid_boxes_are_valid_and_of_the_ratio(ratio: float, aspect: float, steps: int) -> None:
    boxes = ratio_grid(ratio, aspect, steps)
    assert_valid(boxes)
    assert_ratio(boxes, aspect, ratio)
    w, h = ratio_size(ratio, aspect)
    assert max(w, h) == pytest.approx(1.0) and w * aspect / h == pytest.approx(ratio, rel=1e-12)
    # the largest box of the ratio is a candidate
    assert (np.abs((boxes[:, 2] - boxes[:, 0]) - w) < 2 * ROUNDING).any()


@pytest.mark.parametrize(("ratio", "aspect"), [(1.0, 1.5), (3.0, 0.5)])
def test_ratio_grid_ratio_is_exact_to_1e6(ratio: float, aspect: float) -> None:
    boxes = ratio_grid(ratio, aspect)
    assert np.abs(pixel_ratio(boxes, aspect) - ratio).max() <= 1e-6


# ---- iou and diversity --------------------------------------------------------------------------

@given(a=st.lists(targets(0.01), min_size=1, max_size=6), b=st.lists(targets(0.01), min_size=1, max_size=6))
@settings(max_examples=60, deadline=None)
def test_iou_xyxy_is_symmetric_and_bounded(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    A, B = np.array(a), np.array(b)
    m = iou_xyxy(A, B)
    assert m.shape == (len(A), len(B)) and (m >= 0).all() and (m <= 1 + EPS).all()
    np.testing.assert_allclose(m, iou_xyxy(B, A).T)
    np.testing.assert_allclose(np.diag(iou_xyxy(A, A)), 1.0)


@given(seed=st.integers(0, 10_000), k=st.integers(1, 8), max_iou=st.floats(0.2, 0.9))
@settings(max_examples=60, deadline=None)
def test_diverse_top_keeps_the_best_and_is_diverse(seed: int, k: int, max_iou: float) -> None:
    boxes = free_grid(5)
    values = np.random.default_rng(seed).random(len(boxes))
    kept = diverse_top(boxes, values, k, max_iou)
    assert 1 <= len(kept) <= k and kept[0] == int(np.argmax(values))
    assert (np.diff(values[kept]) <= 0).all()
    overlap = iou_xyxy(boxes[kept], boxes[kept])
    assert (overlap[~np.eye(len(kept), dtype=bool)] < max_iou).all()


# ---- refinement ---------------------------------------------------------------------------------

@given(score=scores(), start=st.lists(targets(0.2), min_size=1, max_size=4))
@settings(max_examples=100, deadline=None)
def test_refine_free_never_loses_score(score: ScoreFn, start: list[np.ndarray]) -> None:
    boxes = np.array(start)
    before = score(boxes)
    moved, values = refine(score, boxes, before, fixed_ratio=False)
    assert_valid(moved)
    assert (values >= before - EPS).all()
    np.testing.assert_allclose(values, score(moved), atol=1e-12)  # the scores are the moved boxes'


@given(score=scores(), ratio=ratios, aspect=aspects,
       picks=st.lists(st.integers(0, 10_000), min_size=1, max_size=4))
@settings(max_examples=100, deadline=None)
def test_refine_fixed_ratio_keeps_the_ratio(score: ScoreFn, ratio: float, aspect: float,
                                            picks: list[int]) -> None:
    grid = ratio_grid(ratio, aspect)
    boxes = grid[[p % len(grid) for p in picks]]
    before = score(boxes)
    moved, values = refine(score, boxes, before, fixed_ratio=True)
    assert_valid(moved)
    assert (values >= before - EPS).all()
    np.testing.assert_allclose(values, score(moved), atol=1e-12)
    np.testing.assert_allclose(pixel_ratio(moved, aspect), pixel_ratio(boxes, aspect), rtol=1e-9)


# ---- search -------------------------------------------------------------------------------------

@given(target=targets(0.35), aspect=st.floats(0.5, 2.0))
@settings(max_examples=150, deadline=None)
def test_search_recovers_a_hidden_frame(target: np.ndarray, aspect: float) -> None:
    """The score is the IoU with a hidden frame: grid + refinement must find it."""
    boxes, values = search(iou_score(target), aspect)
    assert_valid(boxes)
    assert len(boxes) <= 4 and (np.diff(values) <= 0).all()
    assert values[0] == pytest.approx(iou_xyxy(boxes[:1], target[None])[0, 0])
    assert values[0] >= 0.9



@given(target=targets(0.35), aspect=st.floats(0.5, 2.0))
@settings(max_examples=150, deadline=None)
def test_search_at_the_frames_ratio_recovers_it(target: np.ndarray, aspect: float) -> None:
    """Frames of any position, down to the grid's smallest scale."""
    ratio = float(pixel_ratio(target[None], aspect)[0])
    scale = (target[2] - target[0]) / ratio_size(ratio, aspect)[0]
    assume(scale >= SCALES[-1])
    boxes, values = search(iou_score(target), aspect, ratio=ratio)
    assert_ratio(boxes, aspect, ratio)
    assert values[0] >= 0.9


@pytest.mark.parametrize("target", [
    [0.0, 0.0, 0.375, 0.375],  # in a corner
    [0.0, 0.24517822, 0.375, 0.63580322],  # against an edge
    [0.24007797, 0.24007797, 0.6404686, 0.6404686],  # scale 0.4, between grid positions
])
def test_search_at_the_frames_ratio_reaches_small_frames_and_corners(target: list[float]) -> None:
    _boxes, values = search(iou_score(np.array(target)), 1.0, ratio=1.0)
    assert values[0] >= 0.9


@given(score=scores(), ratio=ratios, aspect=aspects)
@settings(max_examples=100, deadline=None)
def test_search_with_a_ratio_returns_that_ratio(score: ScoreFn, ratio: float, aspect: float) -> None:
    boxes, values = search(score, aspect, ratio=ratio)
    assert_valid(boxes)
    assert_ratio(boxes, aspect, ratio)
    assert (np.diff(values) <= 0).all()


def _wavy_score(seed: int) -> tuple[ScoreFn, list[int]]:
    """A per-box score with a hidden frame and ripples (local optima), and the list of its calls'
    batch sizes."""
    rng = np.random.default_rng(seed)
    target, w = rng.uniform(0.05, 0.45, 4) + np.array([0, 0, 0.5, 0.5]), rng.normal(size=(4, 4))
    calls: list[int] = []

    def score(b: np.ndarray) -> np.ndarray:
        calls.append(len(b))
        return iou_xyxy(b, target[None])[:, 0] + 0.03 * np.sin(7 * b @ w).sum(axis=1)

    return score, calls


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), aspects)
def test_search_many_finds_what_each_search_finds(seed: int, aspect: float) -> None:
    """The batched search of several ratios (one score call per round for all of them) ends where
    one search per ratio ends, for a score of each box alone."""
    from procrop.model.scorer.search import search_many

    score, calls = _wavy_score(seed)
    ratios = [None, 1.0, 0.8, 16 / 9]
    together = search_many(score, aspect, ratios)
    batched_calls, calls[:] = len(calls), []
    for ratio, (boxes, values) in zip(ratios, together):
        alone = search(score, aspect, ratio)
        assert np.array_equal(alone[0], boxes) and np.array_equal(alone[1], values)
    assert batched_calls < len(calls)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), aspects)
def test_search_many_without_fixed_refinement(seed: int, aspect: float) -> None:
    """``refine_fixed=False`` (proposals another scorer re-ranks): a fixed ratio's answer is its
    best diverse grid boxes as scored, best first; the free ratio is refined as before, in fewer
    score calls."""
    from procrop.model.scorer.search import search_many

    score, calls = _wavy_score(seed)
    ratios = [None, 1.0, 16 / 9]
    refined = search_many(score, aspect, ratios)
    refined_calls, calls[:] = len(calls), []
    proposed = search_many(score, aspect, ratios, refine_fixed=False)
    assert len(calls) <= refined_calls
    assert np.array_equal(proposed[0][0], refined[0][0]) and np.array_equal(proposed[0][1], refined[0][1])
    for ratio, (boxes, values) in zip(ratios[1:], proposed[1:]):
        grid = ratio_grid(ratio, aspect)
        grid_values = score(grid)
        expected = diverse_top(grid, grid_values, 2)
        expected = expected[np.argsort(-grid_values[expected], kind="stable")]
        assert np.array_equal(boxes, grid[expected]) and np.allclose(values, grid_values[expected])
