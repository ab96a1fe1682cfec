"""A ratio's crops from their scores: the best, then the diverse alternatives worth offering."""

from __future__ import annotations

import numpy as np

from ..geometry import select_diverse

#: An alternative keeping less than this share of the salient content the best crop keeps is not
#: offered (a trial's second crop of a house in the mountains left the house out; over 209 photos at
#: five ratios, 21 of 314 alternatives kept under a third of it, some none: a square of empty sky).
#: :data:`procrop.verdict.THIN_WORDS` says it in words.
ALTERNATIVE_KEPT = 1 / 3


def _diverse_high(scores: np.ndarray, boxes: np.ndarray, top_k: int, max_iou: float, min_ratio: float
                  ) -> tuple[np.ndarray, int]:
    """:func:`~procrop.geometry.select_diverse`'s indices less those scoring under ``min_ratio`` of
    the best, and how many those were."""
    chosen = select_diverse(scores, boxes, top_k, max_iou)
    if not len(chosen):
        return chosen, 0
    high = scores[chosen] >= min_ratio * scores[chosen[0]]
    return chosen[high], int((~high).sum())


def choose_crops(scores: np.ndarray, boxes: np.ndarray, top_k: int, max_iou: float, min_ratio: float,
                 kept: np.ndarray | None = None) -> tuple[np.ndarray, int, int]:
    """Up to ``top_k`` diverse crops, best first (IoU under ``max_iou``), less those scoring under
    ``min_ratio`` of the best; with ``kept (N,)``, each candidate's share of the salient content, an
    alternative keeping under :data:`ALTERNATIVE_KEPT` of the best's is not offered either, unless
    ``min_ratio`` is 0 (every alternative asked for). Also, for the notes, how many crops the score
    rule left out, and how many fewer the salient-content rule left on top of it."""
    scores, boxes = np.asarray(scores, dtype=np.float64), np.asarray(boxes)
    chosen, low = _diverse_high(scores, boxes, top_k, max_iou, min_ratio)
    if kept is None or not len(chosen) or min_ratio <= 0:
        return chosen, low, 0
    share = np.nan_to_num(np.asarray(kept, dtype=np.float64), nan=1.0)
    offered = np.flatnonzero(share >= ALTERNATIVE_KEPT * share[chosen[0]])  # the best among them
    worth, _ = _diverse_high(scores[offered], boxes[offered], top_k, max_iou, min_ratio)
    return offered[worth], low, max(0, len(chosen) - len(worth))
