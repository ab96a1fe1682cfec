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

:func:`search_many` runs the searches of several ratios of one photo together: one score call for
all their grids, then one per refinement round for all their boxes (a per-box score gives the
same boxes as one :func:`search` per ratio, in about a third of the calls).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

ScoreFn = Callable[[np.ndarray], np.ndarray]
REFINE_STEPS = (0.08, 0.04, 0.02, 0.01)
#: The fast profile's (``--fast``) grid steps for fixed ratios (the free grid stays whole) and
#: refinement steps: about a quarter fewer boxes for 3 fixed ratios, top crops at IoU 0.96 with the
#: full search on average (3 ratios of 20 held-out photos); free-ratio frame recovery 0.943 against
#: 0.947 (mean IoU, 120 recovery canvases of 40 held-out photos; a 3-step free grid gave 0.911).
FAST_GRID_STEPS, FAST_REFINE_STEPS = 3, (0.08, 0.04, 0.02)
SCALES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)


def free_grid(steps: int = 5, min_side: float = 0.3) -> np.ndarray:
    """Boxes ``(N, 4)`` with edges on the grid (see the module docstring); read-only, cached."""
    if min_side <= 0:
        raise ValueError(f"min_side must be positive, got {min_side}")
    return _free_grid(int(steps), float(min_side))


@lru_cache(maxsize=16)
def _free_grid(steps: int, min_side: float) -> np.ndarray:
    lo = np.linspace(0.0, 0.6, steps)
    hi = np.linspace(0.4, 1.0, steps)
    a, b = np.meshgrid(lo, hi, indexing="ij")
    pairs = np.stack([a.ravel(), b.ravel()], axis=1)
    pairs = pairs[pairs[:, 1] - pairs[:, 0] >= min_side]
    i, j = np.meshgrid(np.arange(len(pairs)), np.arange(len(pairs)), indexing="ij")
    xs, ys = pairs[i.ravel()], pairs[j.ravel()]
    grid = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=1)
    grid.setflags(write=False)
    return grid


def ratio_size(ratio: float, aspect: float, scale: float = 1.0) -> tuple[float, float]:
    """Normalised ``(w, h)`` of the largest box of pixel ratio ``ratio`` in a canvas of ``aspect``, times ``scale``."""
    rn = ratio / aspect  # normalised width / normalised height
    w, h = (1.0, 1.0 / rn) if rn >= 1 else (rn, 1.0)
    return w * scale, h * scale


def ratio_grid(ratio: float, aspect: float, steps: int = 4, scales: tuple[float, ...] = SCALES) -> np.ndarray:
    """Boxes ``(N, 4)`` of one pixel ratio at several scales and positions (read-only: the same
    array is returned for the same arguments)."""
    return _ratio_grid(float(ratio), float(aspect), int(steps), tuple(scales))


@lru_cache(maxsize=256)
def _ratio_grid(ratio: float, aspect: float, steps: int, scales: tuple[float, ...]) -> np.ndarray:
    out = []
    for s in scales:
        w, h = ratio_size(ratio, aspect, s)
        xs = np.linspace(0, 1 - w, steps) if w < 1 - 1e-9 else np.zeros(1)
        ys = np.linspace(0, 1 - h, steps) if h < 1 - 1e-9 else np.zeros(1)
        gx, gy = np.meshgrid(xs, ys, indexing="ij")
        out.append(np.stack([gx.ravel(), gy.ravel(), gx.ravel() + w, gy.ravel() + h], axis=1))
    boxes = np.concatenate(out)
    _, first = np.unique(np.round(boxes, 6), axis=0, return_index=True)  # dedupe, keep exact values
    grid = boxes[np.sort(first)]
    grid.setflags(write=False)
    return grid


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
    moves, ok = _free_moves(box[None], step, min_side)
    return moves[0][ok[0]]


def _free_moves(boxes: np.ndarray, step: float, min_side: float) -> tuple[np.ndarray, np.ndarray]:
    """Each box's moves ``(N, 12, 4)`` and which are valid ``(N, 12)``: every edge by
    -/+``step``, then the whole box along x and y by -/+``step`` (clipped to the canvas; sides
    under ``min_side`` invalid)."""
    m = np.clip(boxes[:, None, :] + _free_deltas(step)[None], 0.0, 1.0)
    ok = (m[..., 2] - m[..., 0] >= min_side) & (m[..., 3] - m[..., 1] >= min_side)
    return m, ok


@lru_cache(maxsize=16)
def _free_deltas(step: float) -> np.ndarray:
    delta = np.zeros((12, 4))
    for k, (e, sgn) in enumerate((e, sgn) for e in range(4) for sgn in (-1, 1)):
        delta[k, e] = sgn * step
    for k, (axis, sgn) in enumerate(((a, sgn) for a in (0, 1) for sgn in (-1, 1)), start=8):
        delta[k, axis] = delta[k, axis + 2] = sgn * step
    delta.setflags(write=False)
    return delta


def _neighbours_ratio(box: np.ndarray, step: float, min_side: float) -> np.ndarray:
    """Shifts by ``step`` in x and y, and scalings by ``step`` about the centre and about each
    corner (so a frame in a corner or against an edge is reached), kept inside the canvas."""
    moves, ok = _ratio_moves(box[None], step, min_side)
    return moves[0][ok[0]]


_ANCHORS = np.array(((0.5, 0.5), (0, 0), (1, 0), (0, 1), (1, 1)))  # centre, then the corners


def _ratio_moves(boxes: np.ndarray, step: float, min_side: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_neighbours_ratio` of every box at once: moves ``(N, 14, 4)`` (same moves, same
    order) and which are valid ``(N, 14)``."""
    x, y = boxes[:, 0], boxes[:, 1]
    w, h = boxes[:, 2] - x, boxes[:, 3] - y
    n = len(boxes)
    shifts = np.array(((-step, 0), (step, 0), (0, -step), (0, step)))
    parts = [np.stack([x[:, None] + shifts[:, 0], y[:, None] + shifts[:, 1],
                       np.repeat(w[:, None], 4, 1), np.repeat(h[:, None], 4, 1)], axis=2)]
    valid = [np.ones((n, 4), bool)]
    for ds in (-step, step):
        k = 1 + ds / np.maximum(w, h)
        nw, nh = w * k, h * k
        fits = ~((nw > 1 + 1e-9) | (nh > 1 + 1e-9) | (np.minimum(nw, nh) < min_side))
        parts.append(np.stack([x[:, None] + _ANCHORS[:, 0] * (w - nw)[:, None],
                               y[:, None] + _ANCHORS[:, 1] * (h - nh)[:, None],
                               np.repeat(nw[:, None], 5, 1), np.repeat(nh[:, None], 5, 1)], axis=2))
        valid.append(np.repeat(fits[:, None], 5, 1))
    m, ok = np.concatenate(parts, axis=1), np.concatenate(valid, axis=1)
    x1 = np.clip(m[..., 0], 0, 1 - m[..., 2])
    y1 = np.clip(m[..., 1], 0, 1 - m[..., 3])
    return np.stack([x1, y1, x1 + m[..., 2], y1 + m[..., 3]], axis=2), ok


def refine(score: ScoreFn, boxes: np.ndarray, values: np.ndarray, fixed_ratio: bool, min_side: float = 0.15,
           steps: tuple[float, ...] = REFINE_STEPS, rounds: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Coordinate ascent of every box (one batched score call per round); returns the moved boxes
    and their scores."""
    return refine_groups(score, [(boxes, values, fixed_ratio)], min_side, steps, rounds)[0]


def refine_groups(score: ScoreFn, groups: Sequence[tuple[np.ndarray, np.ndarray, bool]], min_side: float = 0.15,
                  steps: tuple[float, ...] = REFINE_STEPS, rounds: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`refine` of several groups ``(boxes, values, fixed_ratio)`` (a photo's ratios) with one
    score call per round for all of them; a group stops a step's rounds when none of its boxes
    moved, as :func:`refine` does, so each group ends where :func:`refine` alone would."""
    state = [(b.astype(np.float64).copy(), v.astype(np.float64).copy(), fixed) for b, v, fixed in groups]
    for step in steps:
        active = [len(b) > 0 for b, _, _ in state]
        for _ in range(rounds):
            if not any(active):
                break
            # every active group's moves, padded (n, m, 4) with a validity mask; the valid ones are
            # scored in one call, in group, box and move order
            moves = {g: (_ratio_moves if fixed else _free_moves)(boxes, step, min_side)
                     for g, (boxes, _, fixed) in enumerate(state) if active[g]}
            if not any(ok.any() for _, ok in moves.values()):
                break
            s = np.asarray(score(np.concatenate([m[ok] for m, ok in moves.values()])), dtype=np.float64)
            start = 0
            for g, (m, ok) in moves.items():
                boxes, values, _ = state[g]
                grid = np.full(ok.shape, -np.inf)
                grid[ok] = s[start:start + int(ok.sum())]
                start += int(ok.sum())
                j = np.argmax(grid, axis=1)  # the first best valid move of each box
                best = grid[np.arange(len(j)), j]
                better = best > values + 1e-6
                boxes[better], values[better] = m[better, j[better]], best[better]
                active[g] = bool(better.any())
    return [(b, v) for b, v, _ in state]


def search(score: ScoreFn, aspect: float, ratio: float | None = None, top: int = 2, steps: int | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """The best boxes ``(K, 4)`` (normalised ``x1, y1, x2, y2``) and scores, best first: grid, then
    :func:`refine` of the ``top`` diverse best. ``steps``: grid density (default: each grid's own)."""
    return search_many(score, aspect, [ratio], top, steps)[0]


def search_many(score: ScoreFn, aspect: float, ratios: Sequence[float | None], top: int = 2,
                steps: int | None = None, refine_steps: tuple[float, ...] = REFINE_STEPS,
                ratio_steps: int | None = None, refine_fixed: bool = True
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`search` for each of ``ratios`` (None: free) of one canvas, batched: one score call
    for every grid, then one per refinement round (:func:`refine_groups`, ``refine_steps``).
    ``ratio_steps``: the fixed ratios' grid density alone (default: ``steps``). ``refine_fixed``
    False: a fixed ratio's best grid boxes are its answer, unrefined (proposals that another scorer
    re-ranks among many candidates; the free ratio is still refined)."""
    grids = []
    fixed_steps = ratio_steps if ratio_steps is not None else steps
    for ratio in ratios:
        if ratio is None:
            grids.append(free_grid() if steps is None else free_grid(steps))
        else:
            grids.append(ratio_grid(ratio, aspect) if fixed_steps is None else ratio_grid(ratio, aspect, fixed_steps))
    values = np.asarray(score(np.concatenate(grids)), dtype=np.float64)
    ends = np.cumsum([len(g) for g in grids])
    groups = []
    for grid, v, ratio in zip(grids, np.split(values, ends[:-1]), ratios):
        pick = diverse_top(grid, v, top)
        groups.append((grid[pick], v[pick], ratio is not None))
    polish = [refine_fixed or ratio is None for ratio in ratios]
    refined = iter(refine_groups(score, [g for g, p in zip(groups, polish) if p], steps=refine_steps))
    out = []
    for (boxes, vals, _), p in zip(groups, polish):
        boxes, vals = next(refined) if p else (boxes, vals)
        order = np.argsort(-vals, kind="stable")
        out.append((boxes[order], vals[order]))
    return out
