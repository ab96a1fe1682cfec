"""Integral images over stacks of maps, for sums over thousands of fractional boxes at once."""

from __future__ import annotations

import numpy as np




class IntegralMap:
    """Integral image of a stack of maps ``(h, w, C)`` supporting sums over fractional boxes.

    Coordinates are in map pixels, ``0..w`` and ``0..h``; the integral is interpolated bilinearly
    between pixel corners, so a box sum is exact for box edges on pixel boundaries and linear in
    between. One lookup serves all ``C`` maps at once.
    """

    def __init__(self, values: np.ndarray) -> None:
        if values.ndim == 2:
            values = values[:, :, None]
        h, w, c = values.shape
        ii = np.zeros((h + 1, w + 1, c), dtype=np.float64)
        ii[1:, 1:] = values.astype(np.float64).cumsum(0).cumsum(1)
        self.flat = ii.reshape(-1, c)
        self.w = w
        self.h = h
        self.channels = c
        self.totals = ii[-1, -1].copy()

    def at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Integral at fractional points, ``(N, C)``."""
        x = np.clip(x, 0, self.w)
        y = np.clip(y, 0, self.h)
        x0 = np.minimum(x.astype(np.int64), self.w - 1)
        y0 = np.minimum(y.astype(np.int64), self.h - 1)
        fx = (x - x0)[:, None]
        fy = (y - y0)[:, None]
        stride = self.w + 1
        i00 = y0 * stride + x0
        n = len(i00)
        g = self.flat[np.concatenate([i00, i00 + 1, i00 + stride, i00 + stride + 1])].reshape(4, n, -1)
        top = g[0] + (g[1] - g[0]) * fx
        bottom = g[2] + (g[3] - g[2]) * fx
        return top + (bottom - top) * fy

    def at_many(self, points: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """:meth:`at` for several point sets of equal length in one lookup."""
        n = len(points[0][0])
        out = self.at(np.concatenate([p[0] for p in points]), np.concatenate([p[1] for p in points]))
        return [out[k * n : (k + 1) * n] for k in range(len(points))]

    def box_sum(self, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> np.ndarray:
        """Sums of every map over each box, ``(N, C)`` (the four corners in one lookup)."""
        a00, a10, a01, a11 = self.at_many([(x0, y0), (x1, y0), (x0, y1), (x1, y1)])
        return a11 - a01 - a10 + a00


