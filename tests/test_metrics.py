"""Metrics against hand-computed cases: perfect, reversed, ties, single and ten ground truths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrop.evaluation.metrics import (
    acc_at_iou,
    acc_k_n,
    acc_k_n_image,
    acc_weighted_image,
    average_precision,
    bde,
    best_bde,
    best_iou,
    pcc,
    ranking_metrics,
    spearman,
    srcc,
)

MOS = [4.1, 3.9, 3.5, 3.2, 3.0, 2.8, 2.5, 2.2, 2.0, 1.5]


def test_perfect_ranking() -> None:
    m = ranking_metrics([MOS], [MOS])
    for key, value in m.items():
        assert value == pytest.approx(1.0), key


def test_reversed_ranking() -> None:
    pred = [-v for v in MOS]
    m = ranking_metrics([pred], [MOS])
    assert m["SRCC"] == pytest.approx(-1.0) and m["PCC"] == pytest.approx(-1.0)
    # the top-4 predicted crops are the 4 worst: none is in the MOS top 5...
    for k in range(1, 5):
        assert m[f"Acc{k}/5"] == 0.0 and m[f"wAcc{k}/5"] == 0.0
    # ...but with 10 crops every crop is in the top 10
    assert m["Acc1/10"] == 1.0
    # weighted: the returned crop has ground-truth rank 9 -> exp(-0.1 * (9 - 0))
    assert m["wAcc1/10"] == pytest.approx(math.exp(-0.9))
    # K = 2: ranks 8, 9 sorted -> (exp(-0.1*8) + exp(-0.1*(9-1))) / 2
    assert m["wAcc2/10"] == pytest.approx(math.exp(-0.8))


def test_ties_count_as_hits() -> None:
    mos = [4, 4, 4, 4, 4, 4, 1]  # six crops tie at the 5th-best MOS
    pred = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.9]  # the worst crop is predicted best
    assert acc_k_n_image(pred, mos, 1, 5) == 0.0
    assert acc_k_n_image(pred, mos, 2, 5) == 0.5
    assert acc_k_n_image(pred, mos, 4, 5) == 0.75
    # weighted: GAIC's official code ranks by position in the stable descending MOS sort, so the
    # tied crops get ranks 0..5; the top-2 predicted are rank 6 (MOS 1) and rank 5: both outside
    # the top 5 (was: tied MOS shared the best rank 0, which counted crop 5 fully)
    assert acc_weighted_image(pred, mos, 2, 5) == 0.0
    # Spearman with tied values uses average ranks: hand-computed 4.5 / sqrt(22.5)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    # ties in the predictions keep candidate order
    assert acc_k_n_image([1, 1, 1], [1, 2, 3], 1, 1) == 0.0


def test_correlations_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    preds = [rng.random(30) for _ in range(5)]
    mos = [np.round(rng.random(30) * 4 + 1, 1) for _ in range(5)]
    assert srcc(preds, mos) == pytest.approx(np.mean([stats.spearmanr(p, m)[0] for p, m in zip(preds, mos)]))
    assert pcc(preds, mos) == pytest.approx(np.mean([stats.pearsonr(p, m)[0] for p, m in zip(preds, mos)]))
    # constant predictions have no correlation: left out, not counted as zero
    assert math.isnan(srcc([np.ones(5)], [np.arange(5)]))


def test_acc_averages_over_images() -> None:
    assert acc_k_n([MOS, [-v for v in MOS]], [MOS, MOS], 1, 5) == 0.5


def test_iou_and_bde_single_ground_truth() -> None:
    pred = (0, 0, 10, 10)
    gt = np.array([[5, 0, 10, 10]])
    assert best_iou(pred, gt) == pytest.approx(50 / 150)
    # x displacements over W = 20, none in y: (5/20 + 5/20) / 4
    assert bde(pred, gt[0], 20, 40) == pytest.approx(0.125)
    assert best_bde(pred, gt, 20, 40) == pytest.approx(0.125)


def test_best_over_ten_ground_truths_independently() -> None:
    pred = (0, 0, 10, 10)
    a = [0, 0, 10, 20]  # IoU 0.5, BDE (10/20)/4 = 0.125
    b = [2, 2, 10, 10]  # IoU 64/136, BDE (4 * 2/20)/4 = 0.1
    far = [[50, 50, 5, 5]] * 8
    gts = np.array([a, b, *far], dtype=float)
    assert best_iou(pred, gts) == pytest.approx(0.5)  # from a
    assert best_bde(pred, gts, 20, 20) == pytest.approx(0.1)  # from b


def test_acc_at_iou() -> None:
    gt = (0, 0, 100, 100)
    preds = np.array([[50, 50, 10, 10], [0, 0, 100, 80], [0, 0, 100, 95], [0, 0, 100, 99]])
    assert acc_at_iou(preds, gt, 1, 0.85) == 0.0
    assert acc_at_iou(preds, gt, 2, 0.85) == 0.0  # IoU 0.80
    assert acc_at_iou(preds, gt, 3, 0.90) == 1.0  # IoU 0.95
    assert acc_at_iou(preds[:0], gt, 5, 0.85) == 0.0


def test_average_precision_hand_computed() -> None:
    gt = [np.array([[0, 0, 10, 10]])]
    exact, far = [0, 0, 10, 10], [50, 50, 10, 10]
    # a true positive first: precision 1 at every recall
    assert average_precision([(np.array([exact, far]), np.array([0.9, 0.8]))], gt) == pytest.approx(1.0)
    # a false positive first: precision 1/2 at full recall
    assert average_precision([(np.array([far, exact]), np.array([0.9, 0.8]))], gt) == pytest.approx(0.5)
    # IoU 0.88 is a hit at thresholds 0.85, 0.86, 0.87, 0.88 only: 4 of 11
    gt100 = [np.array([[0, 0, 100, 100]])]
    assert average_precision([(np.array([[0, 0, 100, 88]]), np.array([1.0]))], gt100) == pytest.approx(4 / 11)
    # maxDets cuts the list before matching
    assert average_precision([(np.array([far, exact]), np.array([0.9, 0.8]))], gt, max_dets=1) == pytest.approx(0.0)
    # one prediction cannot match two ground truths: recall 1/2
    two = [np.array([[0, 0, 10, 10], [0, 0, 10, 10]])]
    assert average_precision([(np.array([exact]), np.array([1.0]))], two) == pytest.approx(51 / 101)


@given(st.lists(st.floats(1, 5, allow_nan=False), min_size=5, max_size=40, unique=True), st.integers(0, 1000))
@settings(max_examples=60, deadline=None)
def test_metric_ranges(mos, seed) -> None:
    pred = np.random.default_rng(seed).random(len(mos))
    m = ranking_metrics([pred], [mos])
    for key, value in m.items():
        if key in ("SRCC", "PCC"):
            assert -1.0 - 1e-9 <= value <= 1.0 + 1e-9
        else:
            assert 0.0 <= value <= 1.0 + 1e-9, key
