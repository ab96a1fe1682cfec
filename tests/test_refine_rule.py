"""Weak-label refinement follows ProCrop's official ``select_diverse`` by default (issue 17 item 3):
every size *and* position difference must exceed 0.2 (the official code concatenates the two
lists), boxes in file order, the score threshold after selection; procrop's earlier summed rule
stays available as ``rule="sum"``. CPC targets tie at the top as the official code keeps them."""

from __future__ import annotations

import numpy as np
import pytest

from procrop.weaklabels.refine import refine_labels

W, H = 1000.0, 800.0
FRAME = (100.0, 100.0, 700.0, 550.0)  # 600 x 450: 4:3


def test_a_same_size_shifted_box_is_rejected_by_the_official_rule_only() -> None:
    shifted = ((170.0, 140.0, 770.0, 590.0), 9.0)  # same size, moved: position differs, size does not
    official = refine_labels(FRAME, [shifted], W, H)
    summed = refine_labels(FRAME, [shifted], W, H, rule="sum")
    assert len(official) == 1  # the frame alone
    assert len(summed) == 2 and summed[1][1] == 9.0


def test_the_official_rule_takes_file_order_then_the_threshold() -> None:
    # both much larger than the frame (the official coverage is one way) and too close to each other
    first = ((20.0, 20.0, 820.0, 620.0), 1.5)   # 800 x 600, low score: chosen first, dropped by the threshold
    second = ((30.0, 30.0, 830.0, 630.0), 9.5)  # blocked by the first, as in the official code
    official = refine_labels(FRAME, [first, second], W, H)
    assert len(official) == 1
    alone = refine_labels(FRAME, [second], W, H)
    assert [s for _, s in alone[1:]] == [9.5]
    assert len(refine_labels(FRAME, [second], W, H, rule="sum")) == 1  # the summed rule: both ways 80 %


def test_norm_size_is_the_augmentation_crop() -> None:
    bigger = ((40.0, 40.0, 760.0, 580.0), 9.0)  # 720 x 540 (4:3): 0.15 of the image's area larger
    assert len(refine_labels(FRAME, [bigger], W, H)) == 1  # too alike against the whole image
    assert len(refine_labels(FRAME, [bigger], W, H, norm_size=(760.0, 580.0))) == 2  # not against the crop


def test_an_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="official, sum"):
        refine_labels(FRAME, [], W, H, rule="nearest")


def test_cpc_fallback_keeps_every_box_tied_at_the_top() -> None:
    pytest.importorskip("torch")
    from procrop.model.paper.config import Config
    from procrop.training.paper.samples import select_good

    cfg = Config().replace(train={"good_thresh": 4.5})
    boxes = np.array([[0, 0, 10, 10], [1, 1, 9, 9], [5, 5, 20, 20], [2, 2, 8, 8]], float)
    scores = np.array([3.0, 4.0, 4.0, 2.0])
    assert sorted(select_good(boxes, scores, cfg).tolist()) == [1, 2]
