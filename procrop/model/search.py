"""Finding the best box under a learned box score: a coarse grid, then local refinement.

Torch-free: the score is any ``score(boxes) -> (N,)`` callable (higher is better) over boxes
``(N, 4)`` normalised to the canvas as ``x1, y1, x2, y2`` in [0, 1]. The same search serves the
shipped ONNX model (:mod:`procrop.scoring.terms.learned`) and validation during training, so the
numbers training reports are the numbers ``procrop crop`` gets.

* Free ratio: every box whose edges lie on a ``steps``-point grid (``x1, y1`` in [0, 0.6],
  ``x2, y2`` in [0.4, 1]) and whose sides are at least ``min_side``;
* a fixed ratio (``ratio``: width / height in pixels; ``aspect``: the canvas's): boxes of that ratio
  at ``scales`` of the largest one, on a ``steps x steps`` grid of positions;
* then the ``top`` best (mutually diverse) boxes are refined by coordinate ascent: each edge (free)
  or the position and the scale about the centre or a corner (fixed ratio) moves by a step, the
  step halving from
  :data:`REFINE_STEPS[0]` to :data:`REFINE_STEPS[-1]`, while the score improves.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ScoreFn = Callable[[np.ndarray], np.ndarray]
REFINE_STEPS = (0.08, 0.04, 0.02, 0.01)
SCALES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)


def free_grid(steps: int = 5, min_side: float = 0.3) -> np.ndarray:
    """Boxes ``(N, 4)`` with edges on the grid (see the module docstring)."""
    if min_side <= 0:
        raise ValueError(f"min_side must be positive, got {min_side}")
    lo = np.linspace(0.0, 0.6, steps)
    hi = np.linspace(0.4, 1.0, steps)
    a, b = np.meshgrid(lo, hi, indexing="ij")
    pairs = np.stack([a.ravel(), b.ravel()], axis=1)
    pairs = pairs[pairs[:, 1] - pairs[:, 0] >= min_side]
    i, j = np.meshgrid(np.arange(len(pairs)), np.arange(len(pairs)), indexing="ij")
    xs, ys = pairs[i.ravel()], pairs[j.ravel()]
    return np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=1)


def ratio_size(ratio: float, aspect: float, scale: float = 1.0) -> tuple[float, float]:
    """Normalised ``(w, h)`` of the largest box of pixel ratio ``ratio`` in a canvas of ``aspect``, times ``scale``."""
    rn = ratio / aspect  # normalised width / normalised height
    w, h = (1.0, 1.0 / rn) if rn >= 1 else (rn, 1.0)
    return w * scale, h * scale


def ratio_grid(ratio: float, aspect: float, steps: int = 4, scales: tuple[float, ...] = SCALES) -> np.ndarray:
    """Boxes ``(N, 4)`` of one pixel ratio at several scales and positions."""
    out = []
    for s in scales:
        w, h = ratio_size(ratio, aspect, s)
        xs = np.linspace(0, 1 - w, steps) if w < 1 - 1e-9 else np.zeros(1)
        ys = np.linspace(0, 1 - h, steps) if h < 1 - 1e-9 else np.zeros(1)
        gx, gy = np.meshgrid(xs, ys, indexing="ij")
        out.append(np.stack([gx.ravel(), gy.ravel(), gx.ravel() + w, gy.ravel() + h], axis=1))
    boxes = np.concatenate(out)
    _, first = np.unique(np.round(boxes, 6), axis=0, return_index=True)  # dedupe, keep exact values
    return boxes[np.sort(first)]


def iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a (N, 4)`` with every box of ``b (M, 4)`` -> ``(N, M)``."""
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def diverse_top(boxes: np.ndarray, scores: np.ndarray, k: int, max_iou: float = 0.7) -> np.ndarray:
    """Indices of up to ``k`` best boxes, each overlapping every better kept one less than ``max_iou``."""
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if all(iou_xyxy(boxes[i : i + 1], boxes[[j]])[0, 0] < max_iou for j in kept):
            kept.append(int(i))
            if len(kept) == k:
                break
    return np.asarray(kept, dtype=np.int64)


def _neighbours_free(box: np.ndarray, step: float, min_side: float) -> np.ndarray:
    moves = []
    for e in range(4):
        for s in (-step, step):
            b = box.copy()
            b[e] += s
            moves.append(b)
    for axis in (0, 1):
        for s in (-step, step):
            b = box.copy()
            b[axis] += s
            b[axis + 2] += s
            moves.append(b)
    m = np.clip(np.asarray(moves), 0.0, 1.0)
    ok = (m[:, 2] - m[:, 0] >= min_side) & (m[:, 3] - m[:, 1] >= min_side)
    return m[ok]


def _neighbours_ratio(box: np.ndarray, step: float, min_side: float) -> np.ndarray:
    """Shifts by ``step`` in x and y, and scalings by ``step`` about the centre and about each
    corner (so a frame in a corner or against an edge is reached), kept inside the canvas."""
    w, h = box[2] - box[0], box[3] - box[1]
    moves = [(box[0] + dx, box[1] + dy, w, h) for dx, dy in ((-step, 0), (step, 0), (0, -step), (0, step))]
    for ds in (-step, step):
        k = 1 + ds / max(w, h)
        nw, nh = w * k, h * k
        if nw > 1 + 1e-9 or nh > 1 + 1e-9 or min(nw, nh) < min_side:
            continue
        for ax, ay in ((0.5, 0.5), (0, 0), (1, 0), (0, 1), (1, 1)):  # anchor: centre, then the corners
            moves.append((box[0] + ax * (w - nw), box[1] + ay * (h - nh), nw, nh))
    m = np.asarray(moves, dtype=np.float64).reshape(-1, 4)
    x1 = np.clip(m[:, 0], 0, 1 - m[:, 2])
    y1 = np.clip(m[:, 1], 0, 1 - m[:, 3])
    return np.stack([x1, y1, x1 + m[:, 2], y1 + m[:, 3]], axis=1)


def refine(score: ScoreFn, boxes: np.ndarray, values: np.ndarray, fixed_ratio: bool, min_side: float = 0.15,
           steps: tuple[float, ...] = REFINE_STEPS, rounds: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Coordinate ascent of every box (one batched score call per round); returns the moved boxes
    and their scores."""
    boxes, values = boxes.copy(), values.astype(np.float64).copy()
    neighbours = _neighbours_ratio if fixed_ratio else _neighbours_free
    for step in steps:
        for _ in range(rounds):
            cands = [neighbours(b, step, min_side) for b in boxes]
            counts = [len(c) for c in cands]
            if not sum(counts):
                break
            s = np.asarray(score(np.concatenate(cands)), dtype=np.float64)
            moved = False
            start = 0
            for i, n in enumerate(counts):
                if n:
                    j = int(np.argmax(s[start:start + n]))
                    if s[start + j] > values[i] + 1e-6:
                        boxes[i], values[i] = cands[i][j], s[start + j]
                        moved = True
                start += n
            if not moved:
                break
    return boxes, values


def search(score: ScoreFn, aspect: float, ratio: float | None = None, top: int = 2, steps: int | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """The best boxes ``(K, 4)`` (normalised ``x1, y1, x2, y2``) and scores, best first: grid, then
    :func:`refine` of the ``top`` diverse best. ``steps``: grid density (default: each grid's own)."""
    if ratio is None:
        grid = free_grid() if steps is None else free_grid(steps)
    else:
        grid = ratio_grid(ratio, aspect) if steps is None else ratio_grid(ratio, aspect, steps)
    values = np.asarray(score(grid), dtype=np.float64)
    pick = diverse_top(grid, values, top)
    boxes, vals = refine(score, grid[pick], values[pick], fixed_ratio=ratio is not None)
    order = np.argsort(-vals, kind="stable")
    return boxes[order], vals[order]
