"""Cropping metrics with the exact protocols of the benchmarks.

Boxes are ``(x, y, w, h)`` pixels. Every function documents its formula; ``tests/test_metrics.py``
checks them against hand-computed cases.

Ranking a fixed candidate set (GAICD, CPC) -- per image, candidates ``c`` with mean opinion
score ``m(c)`` and predicted score ``s(c)``:

* :func:`srcc`, :func:`pcc`: Spearman / Pearson correlation of ``s`` and ``m``, per image, then
  averaged over images (GAIC's protocol);
* :func:`acc_k_n`: ``Acc_{K/N} = (1/K) sum_{k<=K} 1[m(c_k) >= m_(N)]`` where ``c_k`` is the k-th
  crop by predicted score and ``m_(N)`` the N-th highest MOS of the image (ties count as hits);
  ``Acc_N`` averages ``K = 1..4``;
* :func:`acc_weighted`: GAIC's ``Acc_w^{K/N} = (1/K) sum_j 1[r_j <= N-1] exp(-beta (r_j - j))``
  with ``r_j`` the 0-based ground-truth ranks (positions in the stable descending MOS sort, so
  tied MOS get distinct ranks, as in GAIC's code) of the top-K returned crops sorted ascending,
  ``j`` their position, ``beta = 0.2`` (N = 5) or ``0.1`` (N = 10).

Predicting boxes (FCDB, FLMS, weak-label sets):

* :func:`best_iou`: ``IoU@1 = max_m IoU(P_1, G_m)`` over the ground truths;
* :func:`best_bde`: ``BDE@1 = min_m (|x1-x1'| + |x2-x2'|)/(4W) + (|y1-y1'| + |y2-y2'|)/(4H)``,
  the minimum taken independently of the IoU's arg-max, with x normalised by the width and y by
  the height (ProCrop's released evaluator swaps them; we do not);
* :func:`acc_at_iou`: ProCrop's ``acc@tau``: 1 if any of the top-K predictions has IoU >= tau with
  the best-scored ground truth;
* :func:`average_precision`: procrop's COCO-style AP averaged over IoU thresholds 0.85:0.01:0.95,
  101 recall points, greedy one-to-one matching (highest IoU) by descending score, for
  ``maxDets`` predictions. ProCrop's own evaluator computes AP differently (per threshold, its
  own matching rule and "good" set): that is :mod:`procrop.evaluation.official`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..geometry import iou_matrix


def _rank_average(x: np.ndarray) -> np.ndarray:
    """Ranks with ties given their average rank (1-based), as Spearman's rho needs."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def pearson(a: Sequence[float], b: Sequence[float]) -> float:
    """Pearson's r; ``nan`` when either side is constant."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    x = x - x.mean()
    y = y - y.mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else float("nan")


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rho: Pearson's r of the average ranks; ``nan`` when either side is constant."""
    return pearson(_rank_average(np.asarray(a, dtype=np.float64)), _rank_average(np.asarray(b, dtype=np.float64)))


def srcc(predictions: Sequence[Sequence[float]], mos: Sequence[Sequence[float]]) -> float:
    """Mean over images of Spearman's rho between predicted scores and MOS (images where either is
    constant are left out)."""
    vals = [spearman(p, m) for p, m in zip(predictions, mos)]
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def pcc(predictions: Sequence[Sequence[float]], mos: Sequence[Sequence[float]]) -> float:
    """Mean over images of Pearson's r between predicted scores and MOS."""
    vals = [pearson(p, m) for p, m in zip(predictions, mos)]
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def _order(pred: np.ndarray) -> np.ndarray:
    """Candidates by descending prediction; ties keep the candidate order (stable)."""
    return np.argsort(-pred, kind="mergesort")


def acc_k_n_image(pred: Sequence[float], mos: Sequence[float], k: int, n: int) -> float:
    """One image's ``Acc_{K/N}``: share of the top-K predicted crops whose MOS reaches the N-th best
    MOS (if the image has fewer than N crops, the worst MOS is the threshold)."""
    p = np.asarray(pred, dtype=np.float64)
    m = np.asarray(mos, dtype=np.float64)
    threshold = np.sort(m)[::-1][min(n, len(m)) - 1]
    top = _order(p)[: min(k, len(p))]
    return float(np.mean(m[top] >= threshold)) if len(top) else 0.0


def acc_k_n(predictions: Sequence[Sequence[float]], mos: Sequence[Sequence[float]], k: int, n: int) -> float:
    """``Acc_{K/N}`` averaged over images."""
    return float(np.mean([acc_k_n_image(p, m, k, n) for p, m in zip(predictions, mos)]))


def acc_weighted_image(pred: Sequence[float], mos: Sequence[float], k: int, n: int, beta: float | None = None) -> float:
    """One image's weighted ``Acc_w^{K/N}`` (GAIC): ground-truth ranks ``r`` of the top-K returned
    crops, sorted ascending; ``(1/K) sum_j 1[r_j <= N-1] exp(-beta (r_j - j))``.

    As in GAIC's official test code, a crop's rank is its 0-based position in the *stable*
    descending sort of the MOS: tied MOS do not share a rank, the earlier candidate comes first.
    (Unlike :func:`acc_k_n_image`, where ties reaching the N-th best MOS count as hits.)"""
    if beta is None:
        beta = 0.2 if n == 5 else 0.1
    p = np.asarray(pred, dtype=np.float64)
    m = np.asarray(mos, dtype=np.float64)
    gt_rank = np.empty(len(m), dtype=np.int64)
    gt_rank[np.argsort(-m, kind="stable")] = np.arange(len(m))  # position in the MOS order
    top = _order(p)[: min(k, len(p))]
    r = np.sort(gt_rank[top])
    j = np.arange(len(r))
    return float(np.sum((r <= n - 1) * np.exp(-beta * (r - j))) / k)


def acc_weighted(predictions: Sequence[Sequence[float]], mos: Sequence[Sequence[float]], k: int, n: int) -> float:
    """Weighted ``Acc_w^{K/N}`` averaged over images."""
    return float(np.mean([acc_weighted_image(p, m, k, n) for p, m in zip(predictions, mos)]))


def ranking_metrics(predictions: Sequence[Sequence[float]], mos: Sequence[Sequence[float]]) -> dict[str, float]:
    """Every GAICD ranking metric: SRCC, PCC, Acc_{K/N} (K = 1..4, N = 5, 10), Acc5, Acc10, and the
    weighted Acc_w for the same K, N and their means."""
    out: dict[str, float] = {"SRCC": srcc(predictions, mos), "PCC": pcc(predictions, mos)}
    for n in (5, 10):
        accs = []
        waccs = []
        for k in range(1, 5):
            a = acc_k_n(predictions, mos, k, n)
            w = acc_weighted(predictions, mos, k, n)
            out[f"Acc{k}/{n}"] = a
            out[f"wAcc{k}/{n}"] = w
            accs.append(a)
            waccs.append(w)
        out[f"Acc{n}"] = float(np.mean(accs))
        out[f"wAcc{n}"] = float(np.mean(waccs))
    return out


# --------------------------------------------------------------------------------------------
# Box prediction
# --------------------------------------------------------------------------------------------


def best_iou(pred: Sequence[float], gts: np.ndarray) -> float:
    """Largest IoU of one predicted box with any ground-truth box."""
    g = np.asarray(gts, dtype=np.float64).reshape(-1, 4)
    return float(iou_matrix(np.asarray(pred, dtype=np.float64)[None], g).max()) if len(g) else 0.0


def bde(pred: Sequence[float], gt: Sequence[float], width: float, height: float) -> float:
    """Boundary displacement error of one box pair: the mean of the four edge displacements, the
    vertical edges normalised by the image width and the horizontal ones by its height."""
    px, py, pw, ph = (float(v) for v in pred)
    gx, gy, gw, gh = (float(v) for v in gt)
    return (
        abs(px - gx) / width
        + abs(px + pw - gx - gw) / width
        + abs(py - gy) / height
        + abs(py + ph - gy - gh) / height
    ) / 4.0


def best_bde(pred: Sequence[float], gts: np.ndarray, width: float, height: float) -> float:
    """Smallest BDE of one predicted box against any ground-truth box."""
    g = np.asarray(gts, dtype=np.float64).reshape(-1, 4)
    return min(bde(pred, row, width, height) for row in g) if len(g) else 1.0


def acc_at_iou(preds: np.ndarray, best_gt: Sequence[float], k: int, threshold: float) -> float:
    """1.0 if any of the top-``k`` predictions (rows in score order) has IoU >= ``threshold`` with
    the best ground truth, else 0.0."""
    p = np.asarray(preds, dtype=np.float64).reshape(-1, 4)[:k]
    if len(p) == 0:
        return 0.0
    return float((iou_matrix(p, np.asarray(best_gt, dtype=np.float64)[None])[:, 0] >= threshold).any())


def average_precision(
    predictions: Sequence[tuple[np.ndarray, np.ndarray]],
    ground_truths: Sequence[np.ndarray],
    max_dets: int = 10,
    thresholds: Sequence[float] | None = None,
) -> float:
    """COCO-style AP for one class, averaged over IoU thresholds (default 0.85:0.01:0.95).

    Args:
        predictions: per image ``(boxes (P, 4), scores (P,))``; the top ``max_dets`` by score count.
        ground_truths: per image the good boxes ``(G, 4)``.

    Detections of all images are sorted by score; each is matched to the unmatched ground truth of
    its image with the highest IoU at or above the threshold (a true positive) or counts as a false
    positive. Precision is made monotone from the right and read at the 101 recall points
    0, 0.01, ..., 1 (0 where that recall is never reached).
    """
    if thresholds is None:
        thresholds = np.round(np.arange(0.85, 0.951, 0.01), 2)
    n_gt = sum(len(np.asarray(g).reshape(-1, 4)) for g in ground_truths)
    if n_gt == 0:
        return float("nan")
    dets = []  # (score, image index, box)
    for i, (boxes, scores) in enumerate(predictions):
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        order = np.argsort(-s, kind="mergesort")[:max_dets]
        dets += [(float(s[j]), i, b[j]) for j in order]
    dets.sort(key=lambda d: -d[0])  # stable: ties keep image order
    ious = [
        iou_matrix(d[2][None], np.asarray(ground_truths[d[1]], dtype=np.float64).reshape(-1, 4))[0]
        if len(np.asarray(ground_truths[d[1]]).reshape(-1, 4))
        else np.zeros(0)
        for d in dets
    ]
    recall_points = np.linspace(0.0, 1.0, 101)
    aps = []
    for t in thresholds:
        matched = [np.zeros(len(np.asarray(g).reshape(-1, 4)), dtype=bool) for g in ground_truths]
        tp = np.zeros(len(dets))
        for di, (d, row) in enumerate(zip(dets, ious)):
            if row.size == 0:
                continue
            cand = np.where(~matched[d[1]] & (row >= t - 1e-12), row, -1.0)
            j = int(np.argmax(cand))
            if cand[j] >= 0:
                matched[d[1]][j] = True
                tp[di] = 1
        ctp = np.cumsum(tp)
        cfp = np.cumsum(1 - tp)
        recall = ctp / n_gt
        precision = ctp / np.maximum(ctp + cfp, 1e-12)
        precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
        idx = np.searchsorted(recall, recall_points, side="left")
        sampled = np.array([precision[i] if i < len(precision) else 0.0 for i in idx])
        aps.append(float(sampled.mean()))
    return float(np.mean(aps))
