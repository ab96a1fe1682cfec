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
                 kept: np.ndarray | None = None) -> tuple[np.ndarray, int, int, int]:
    """Up to ``top_k`` diverse crops, best first (IoU under ``max_iou``), less those scoring under
    ``min_ratio`` of the best; with ``kept (N,)``, each candidate's share of the salient content, an
    alternative keeping under :data:`ALTERNATIVE_KEPT` of the best's is not offered either, unless
    ``min_ratio`` is 0 (every alternative asked for). Also, for the notes of a ratio short of
    ``top_k``: whether the score rule and whether the overlap rule left crops out (1 or 0: each that
    alone, or both together, would let more through; a trial's note named one where both applied),
    and how many fewer crops the salient-content rule left."""
    scores, boxes = np.asarray(scores, dtype=np.float64), np.asarray(boxes)
    chosen, _ = _diverse_high(scores, boxes, top_k, max_iou, min_ratio)
    offered, thin = np.arange(len(scores)), 0
    if kept is not None and len(chosen) and min_ratio > 0:
        share = np.nan_to_num(np.asarray(kept, dtype=np.float64), nan=1.0)
        offered = np.flatnonzero(share >= ALTERNATIVE_KEPT * share[chosen[0]])  # the best among them
        worth, _ = _diverse_high(scores[offered], boxes[offered], top_k, max_iou, min_ratio)
        chosen, thin = offered[worth], max(0, len(chosen) - len(worth))
    if len(chosen) >= top_k or not len(chosen):
        return chosen, 0, thin, 0
    s, b, n = scores[offered], boxes[offered], len(chosen)

    def more(iou: float, ratio: float) -> bool:
        return len(_diverse_high(s, b, top_k, iou, ratio)[0]) > n

    low, overlap = more(max_iou, 0.0), more(1.0, min_ratio)
    if not (low or overlap) and more(1.0, 0.0):  # only both together let more through
        low = overlap = True
    return chosen, int(low), thin, int(overlap)
