"""Seam check: could a model find the original frame from out-painting artefacts alone?

Two statistics over a data set:

* ``seam_auc``: patches just inside and just outside the frame's edges (16 px patches centred
  12 px from the edge, all four sides) are described by local statistics an artefact detector would
  use: sharpness (log Laplacian variance), grain (log high-pass deviation), gradient energy and
  saturation. A logistic regression tells inside from outside; its 5-fold cross-validated ROC AUC
  is reported. 0.5: the two sides are indistinguishable; 1.0: the seam gives the frame away.
* ``seam_line_ratio``: mean gradient magnitude across the frame's edge line divided by the mean
  over lines 6 px to either side. About 1 when there is no visible seam line.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

PATCH = 16
OFFSET = 12


def _patch_features(gray: np.ndarray, sat: np.ndarray, cx: int, cy: int) -> np.ndarray | None:
    h, w = gray.shape
    x0, y0 = cx - PATCH // 2, cy - PATCH // 2
    if x0 < 1 or y0 < 1 or x0 + PATCH >= w - 1 or y0 + PATCH >= h - 1:
        return None
    g = gray[y0 : y0 + PATCH, x0 : x0 + PATCH]
    lap = cv2.Laplacian(g, cv2.CV_32F)
    hp = g - cv2.GaussianBlur(g, (0, 0), 1.0)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1)
    return np.array(
        [
            np.log(lap.var() + 1e-3),
            np.log(hp.std() + 1e-3),
            np.log(np.sqrt(gx * gx + gy * gy).mean() + 1e-3),
            float(sat[y0 : y0 + PATCH, x0 : x0 + PATCH].mean()) / 255.0,
        ]
    )


def seam_samples(canvas: np.ndarray, frame: tuple[int, int, int, int], per_side: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(n, 4)`` and labels (0 inside, 1 outside) of patch pairs along the frame's edges."""
    gray = cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY).astype(np.float32)
    sat = cv2.cvtColor(canvas, cv2.COLOR_RGB2HSV)[:, :, 1]
    x, y, w, h = frame
    feats, labels = [], []
    for t in np.linspace(0.15, 0.85, per_side):
        px, py = int(x + t * w), int(y + t * h)
        for (ix, iy), (ox, oy) in (
            ((x + OFFSET, py), (x - OFFSET, py)),  # left edge
            ((x + w - 1 - OFFSET, py), (x + w - 1 + OFFSET, py)),  # right
            ((px, y + OFFSET), (px, y - OFFSET)),  # top
            ((px, y + h - 1 - OFFSET), (px, y + h - 1 + OFFSET)),  # bottom
        ):
            a = _patch_features(gray, sat, ix, iy)
            b = _patch_features(gray, sat, ox, oy)
            if a is not None and b is not None:  # only edges with canvas beyond them
                feats += [a, b]
                labels += [0, 1]
    return np.asarray(feats).reshape(-1, 4), np.asarray(labels)


def seam_line_ratio(canvas: np.ndarray, frame: tuple[int, int, int, int], offset: int = 6) -> float | None:
    """Gradient across the frame's edges relative to parallel lines nearby (``None`` when the
    frame touches the canvas on every side)."""
    g = cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY).astype(np.float32)
    H, W = g.shape
    x, y, w, h = frame
    on, near = [], []
    if x - offset - 1 >= 0:
        col = lambda c: np.abs(g[y : y + h, c] - g[y : y + h, c - 1]).mean()  # noqa: E731
        on.append(col(x))
        near.append(0.5 * (col(x - offset) + col(x + offset)))
    if x + w + offset < W:
        col = lambda c: np.abs(g[y : y + h, c] - g[y : y + h, c - 1]).mean()  # noqa: E731
        on.append(col(x + w))
        near.append(0.5 * (col(x + w - offset) + col(x + w + offset)))
    if y - offset - 1 >= 0:
        row = lambda r: np.abs(g[r, x : x + w] - g[r - 1, x : x + w]).mean()  # noqa: E731
        on.append(row(y))
        near.append(0.5 * (row(y - offset) + row(y + offset)))
    if y + h + offset < H:
        row = lambda r: np.abs(g[r, x : x + w] - g[r - 1, x : x + w]).mean()  # noqa: E731
        on.append(row(y + h))
        near.append(0.5 * (row(y + h - offset) + row(y + h + offset)))
    if not on:
        return None
    return float(np.mean(on) / max(np.mean(near), 1e-6))


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([neg, pos]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    return float((ranks[len(neg) :].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _logistic(x: np.ndarray, y: np.ndarray, steps: int = 500, lr: float = 0.5) -> np.ndarray:
    w = np.zeros(x.shape[1] + 1)
    xb = np.hstack([x, np.ones((len(x), 1))])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        w -= lr * (xb.T @ (p - y) / len(y) + 1e-3 * np.r_[w[:-1], 0])
    return w


def seam_auc(features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated ROC AUC of a logistic regression telling outside from inside patches."""
    if len(labels) < 2 * folds or len(np.unique(labels)) < 2:
        return float("nan")
    mu, sd = features.mean(axis=0), features.std(axis=0) + 1e-9
    x = (features - mu) / sd
    # keep each inside/outside pair in the same fold
    pairs = np.arange(len(labels)) // 2
    order = np.random.default_rng(seed).permutation(pairs.max() + 1)
    fold_of = np.empty(pairs.max() + 1, int)
    fold_of[order] = np.arange(len(order)) % folds
    scores = np.zeros(len(labels))
    for f in range(folds):
        test = fold_of[pairs] == f
        w = _logistic(x[~test], labels[~test].astype(float))
        scores[test] = np.hstack([x[test], np.ones((test.sum(), 1))]) @ w
    return _auc(scores, labels)


def seam_report(items: Iterable[tuple[np.ndarray, tuple[int, int, int, int]]]) -> dict[str, float]:
    """Both statistics over ``(canvas, frame)`` pairs."""
    feats, labels, ratios = [], [], []
    for canvas, frame in items:
        f, lab = seam_samples(canvas, frame)
        if len(f):
            feats.append(f)
            labels.append(lab)
        r = seam_line_ratio(canvas, frame)
        if r is not None:
            ratios.append(r)
    if not feats:
        return {"seam_auc": float("nan"), "seam_line_ratio": float("nan"), "patches": 0}
    f = np.vstack(feats)
    lab = np.concatenate(labels)
    return {
        "seam_auc": round(seam_auc(f, lab), 4),
        "seam_line_ratio": round(float(np.median(ratios)), 4) if ratios else float("nan"),
        "patches": int(len(lab)),
    }
