"""The rules of ProCrop's released evaluator, re-implemented: its "good" ground-truth set, its
matching rule and its AP at one IoU threshold.

Owns :func:`good_indices` (which annotated boxes count as ground truth, per benchmark),
:func:`official_match` and :func:`official_ap`. procrop's own COCO-style AP averaged over IoU
0.85:0.95 stays in :mod:`procrop.evaluation.metrics`; the report names the two apart
(``AP10@0.85 (official)`` beside ``AP10[.85:.95] (coco-style)``).

The facts (``../shared/docs/procrop_paper_facts.md``, beside the repository, sections 4.2, 4.3
and 5.2, from the official code):

* **Good set.** The data loader keeps, as "good" boxes, those scoring at least ``good_thresh``
  (when it is positive) or the ``good_num`` best (when positive); when that leaves nothing, every
  box tied at the top score. Optional NMS at ``nms_thresh`` then drops a good box overlapping a
  better one by IoU > ``nms_thresh``. The GAICD/CAD script uses ``good_thresh = 0``,
  ``good_num = -1``, no NMS (so: the boxes tied at the best MOS); the CPC script uses
  ``good_thresh = 2.0`` on the mean vote, NMS 0.8. FLMS/FCDB use every expert box. The
  evaluator sorts the good boxes by score, best first.
* **Matching** (per image, per IoU threshold ``t``): the predictions are visited best-scored
  first; each takes the **last** good box (in the best-first order) that is still unmatched and
  has IoU >= ``t`` with it -- not the one with the highest IoU, as COCO does. A prediction that
  takes none is a false positive.
* **AP** at ``t`` for ``maxDets`` = M: the first M predictions of every image are pooled and
  sorted by score; ``recall = TP / (number of good boxes over all images)``,
  ``precision = TP / (TP + FP + eps)`` with ``eps = np.spacing(1)``; precision is made
  non-increasing from the right and read at the 101 recall points 0, 0.01, ..., 1 (first
  detection whose recall reaches the point; 0 beyond the last recall reached); AP is the mean of
  the 101 values. The evaluator prints it separately per threshold (0.85 and 0.90 in the logs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..geometry import iou_matrix


@dataclass(frozen=True)
class GoodRule:
    """The official loader's parameters for the "good" ground-truth set."""

    good_thresh: float = 0.0
    good_num: int = -1
    nms_thresh: float = 0.0


#: The rule per benchmark: GAICD/CAD/SACD from ``main_ap.py``, CPC from ``main_cpc.py``. FLMS and
#: FCDB (no scores) use every expert box.
GOOD_RULES: dict[str, GoodRule] = {
    "gaicd-v1": GoodRule(),
    "gaicd-v2": GoodRule(),
    "weak": GoodRule(),
    "sacd": GoodRule(),
    "cpc": GoodRule(good_thresh=2.0, good_num=-1, nms_thresh=0.8),
}


def _nms(boxes: np.ndarray, order: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy NMS over ``order`` (best first): drop a box whose IoU with a kept one is > threshold."""
    kept: list[int] = []
    for i in order:
        if not kept or (iou_matrix(boxes[i][None], boxes[kept])[0] <= threshold).all():
            kept.append(int(i))
    return np.asarray(kept, dtype=np.int64)


def good_indices(boxes: np.ndarray, scores: np.ndarray | None, rule: GoodRule | None) -> np.ndarray:
    """Indices of the good boxes, best score first (ties keep the file order).

    Args:
        boxes: ``(N, 4)`` ``x, y, w, h``.
        scores: ``(N,)`` per-box scores, or ``None`` (every box is good, in file order).
        rule: the benchmark's :class:`GoodRule`; ``None`` means every box.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if scores is None or rule is None:
        return np.arange(len(b))
    s = np.asarray(scores, dtype=np.float64)
    if rule.good_thresh * rule.good_num > 0:
        raise ValueError("good_thresh and good_num cannot both be positive (or both negative)")
    order = np.argsort(-s, kind="stable")
    if rule.good_thresh > 0:
        good = order[s[order] >= rule.good_thresh]
    elif rule.good_num > 0:
        good = order[: rule.good_num]
    else:
        good = order[:0]
    if len(good) == 0 and len(order):
        good = order[s[order] == s[order[0]]]
    if rule.nms_thresh > 0 and len(good) > 1:
        good = _nms(b, good, rule.nms_thresh)
    return good


def official_match(dets: np.ndarray, gts: np.ndarray, threshold: float) -> np.ndarray:
    """For each detection (rows in score order) the index of the good box it matches, or -1.

    Each detection takes the last still-unmatched good box (rows of ``gts`` are best first) whose
    IoU with it is >= ``threshold``.
    """
    d = np.asarray(dets, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(gts, dtype=np.float64).reshape(-1, 4)
    dtm = -np.ones(len(d), dtype=np.int64)
    if len(d) == 0 or len(g) == 0:
        return dtm
    ious = iou_matrix(d, g)
    taken = np.zeros(len(g), dtype=bool)
    for i in range(len(d)):
        eligible = np.flatnonzero(~taken & (ious[i] >= threshold))
        if eligible.size:
            dtm[i] = int(eligible[-1])
            taken[eligible[-1]] = True
    return dtm


def official_ap(
    predictions: Sequence[tuple[np.ndarray, np.ndarray]],
    good_sets: Sequence[np.ndarray],
    threshold: float,
    max_dets: int = 10,
) -> float:
    """AP at one IoU ``threshold`` as ProCrop's evaluator computes it (see the module docstring).

    Args:
        predictions: per image ``(boxes (P, 4), scores (P,))``, best first (as a method returns).
        good_sets: per image the good boxes ``(G, 4)``, best first (:func:`good_indices`).
        threshold: the IoU threshold (0.85, 0.90...).
        max_dets: predictions per image that count.
    """
    n_gt = sum(len(np.asarray(g).reshape(-1, 4)) for g in good_sets)
    if n_gt == 0:
        return float("nan")
    scores: list[np.ndarray] = []
    hits: list[np.ndarray] = []
    for (boxes, s), g in zip(predictions, good_sets):
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        dtm = official_match(b, g, threshold)  # matched on every prediction, then cut at max_dets
        scores.append(np.asarray(s, dtype=np.float64).reshape(-1)[:max_dets])
        hits.append(dtm[:max_dets] >= 0)
    all_scores = np.concatenate(scores) if scores else np.zeros(0)
    order = np.argsort(-all_scores, kind="stable")
    tp = np.concatenate(hits)[order].astype(np.float64) if hits else np.zeros(0)
    if len(tp) == 0:
        return 0.0
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1.0 - tp)
    recall = ctp / n_gt
    precision = ctp / (ctp + cfp + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, np.linspace(0.0, 1.0, 101), side="left")
    return float(np.mean([precision[i] if i < len(precision) else 0.0 for i in idx]))
