"""Boxes of ratios with small terms are exact (4:5 crops are k*4 x k*5 pixels), the largest that fits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrop.candidates import CandidateConfig, candidate_sizes, generate_candidates
from procrop.geometry import exact_terms, largest_size, parse_ratio, size_for_short_side, snap_to_ratio

SPECS = ["1:1", "4:5", "5:4", "16:9", "9:16", "3:2", "2:3", "21:9", "1080x1350", "1080x1920"]


def test_exact_terms() -> None:
    assert exact_terms(0.8) == (4, 5)
    assert exact_terms(16 / 9) == (16, 9)
    assert exact_terms(parse_ratio("1080x1350").value) == (4, 5)
    assert exact_terms(1.91) is None  # 191:100 has no small terms
    assert exact_terms(1024 / 683) is None


def test_beach_4x5_is_not_one_pixel_short() -> None:
    # the 768x512 beach photo: 409x511 was the nearest-pixel box, 408x510 is exactly 4:5
    assert largest_size(768, 512, 0.8) == (408, 510)
    assert largest_size(768, 512, 16 / 9) == (768, 432)
    assert largest_size(1024, 655, 9 / 16) == (360, 640)
    assert largest_size(500, 700, 0.8) == (500, 625)
    assert size_for_short_side(399, 0.8) == (400, 500)
    assert size_for_short_side(401, 0.8, at_least=True) == (404, 505)


@given(w=st.integers(16, 5000), h=st.integers(16, 5000), spec=st.sampled_from(SPECS))
@settings(max_examples=200, deadline=None)
def test_largest_box_exact_and_largest(w: int, h: int, spec: str) -> None:
    ratio = parse_ratio(spec).value
    assert ratio is not None
    p, q = exact_terms(ratio)  # type: ignore[misc]
    lw, lh = largest_size(w, h, ratio)
    if w >= p and h >= q:
        assert lw * q == lh * p  # exact
        assert lw <= w and lh <= h
        assert lw + p > w or lh + q > h  # the next exact size would not fit


@given(w=st.integers(40, 3000), h=st.integers(40, 3000), spec=st.sampled_from(SPECS),
       min_area=st.floats(0.05, 1.0))
@settings(max_examples=120, deadline=None)
def test_candidates_exact_and_large_enough(w: int, h: int, spec: str, min_area: float) -> None:
    ratio = parse_ratio(spec)
    cfg = CandidateConfig(min_area=min_area, scales=6, grid=6)
    p, q = exact_terms(ratio.value)  # type: ignore[arg-type, misc]
    if w < p or h < q:
        return
    boxes = generate_candidates(w, h, ratio, cfg)
    assert (boxes[:, 2] * q == boxes[:, 3] * p).all()
    lw, lh = largest_size(w, h, ratio.value)  # type: ignore[arg-type]
    assert (boxes[:, 2] * boxes[:, 3] >= min_area * lw * lh * 0.999).all()
    sizes = candidate_sizes(w, h, ratio.value, cfg)  # type: ignore[arg-type]
    assert len(sizes) == len(set(sizes))


@pytest.mark.parametrize("box", [(10, 20, 399, 500), (0, 0, 700, 700), (300, 100, 123, 77)])
def test_snap_is_exact(box: tuple[int, int, int, int]) -> None:
    x, y, w, h = snap_to_ratio(box, 0.8, 1000, 800)
    assert w * 5 == h * 4 and x >= 0 and y >= 0 and x + w <= 1000 and y + h <= 800
    assert np.isclose(w * h, box[2] * box[3], rtol=0.05) or (w, h) == largest_size(1000, 800, 0.8)
