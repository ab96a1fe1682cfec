"""A ratio's crops from their scores: the best, then the diverse alternatives worth offering."""

from __future__ import annotations

import numpy as np

from ..geometry import select_diverse

#: An alternative keeping less than this share of the salient content the best crop keeps is not
#: offered (a trial's second crop of a house in the mountains left the house out; over 209 photos at
#: five ratios, 21 of 314 alternatives kept under a third of it, some none: a square of empty sky).
ALTERNATIVE_KEPT = 1 / 3


def choose_crops(scores: np.ndarray, boxes: np.ndarray, top_k: int, max_iou: float, min_ratio: float,
                 kept: np.ndarray | None = None) -> tuple[np.ndarray, int, int]:
    """:func:`~procrop.geometry.select_diverse`'s indices (best first) among the candidates worth
    offering, less those scoring under ``min_ratio`` of the best; with ``kept (N,)``, each
    candidate's share of the salient content, an alternative keeping under :data:`ALTERNATIVE_KEPT`
    of the best's is not worth offering, unless ``min_ratio`` is 0 (every alternative asked for).
    Also how many alternatives each rule left out: scored low, and kept too little (of those the
    choice would otherwise have shown), for the notes."""
    scores = np.asarray(scores, dtype=np.float64)
    worth = np.ones(len(scores), dtype=bool)
    if kept is not None and len(scores) and min_ratio > 0:
        share = np.nan_to_num(np.asarray(kept, dtype=np.float64), nan=1.0)
        best = int(np.lexsort((np.arange(len(scores)), -scores))[0])
        worth = share >= ALTERNATIVE_KEPT * share[best]
        worth[best] = True
    thin = int((~worth[select_diverse(scores, boxes, top_k, max_iou)]).sum()) if not worth.all() else 0
    offered = np.flatnonzero(worth)
    chosen = offered[select_diverse(scores[offered], np.asarray(boxes)[offered], top_k, max_iou)]
    if not len(chosen):
        return chosen, 0, thin
    high = scores[chosen] >= min_ratio * scores[chosen[0]]
    return chosen[high], int((~high).sum()), thin
