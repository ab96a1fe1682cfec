"""How much a crop is its own mirror image: one feature of the preference scorer.

Editors keep a symmetric scene symmetric: a corridor or a forest path seen down its middle, a tent
between two trees, an animal facing the camera. Of the judged training sheets' pairs of two crops
of the same size (the same window placed differently), the one more nearly its own left-right
mirror image won 74 % where the photo itself is symmetric, and the preference model's 43 other
features did not say it (``docs/model_card.md``).

The measure is the correlation of the crop's lightness with its left-right mirror image, each row's
mean taken away first (a sky above a field is the same on both sides without being symmetric), on
the analysis' lightness map pooled to 48 pixels on its long side (48 x 32 for a 3:2 landscape):
1 for a mirror image, about 0 for unrelated halves, -1 where one side is the other's negative (bright on
the left, dark on the right).

:func:`mirror_symmetry` computes it for many boxes at once from cumulative sums: every box with
the same left plus right edge (the same mirror axis) shares one table of products of mirrored
pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from .context import ScoringContext

#: The lightness map is pooled to this many pixels on its long side before the mirror test (48 x 32
#: for a 3:2 photo, whatever the analysis' map size), so that the fitted weight holds for every map.
LONG_SIDE = 48
#: A box narrower than this many pooled pixels reads 0 (two columns are always each other's negative).
MIN_WIDTH = 4


def mirror_symmetry(lightness: np.ndarray, x0: np.ndarray, x1: np.ndarray, y0: np.ndarray,
                    y1: np.ndarray) -> np.ndarray:
    """``(N,)`` correlation of each box of the ``(H, W)`` map ``lightness`` with its left-right
    mirror image, each of its rows' mean removed; 0 for a box with no variation across its rows.

    Args:
        lightness: ``(H, W)`` map.
        x0, x1, y0, y1: ``(N,)`` integer box edges in map pixels, ends exclusive.
    """
    h, w = lightness.shape
    lum = np.asarray(lightness, np.float64)
    sums = np.zeros((h, w + 1))
    np.cumsum(lum, axis=1, out=sums[:, 1:])
    squares = np.zeros((h, w + 1))
    np.cumsum(lum * lum, axis=1, out=squares[:, 1:])
    axes, which = np.unique(x0 + x1 - 1, return_inverse=True)  # column x mirrors to axis - x
    partner = axes[:, None] - np.arange(w)[None, :]  # (K, W)
    inside_map = (partner >= 0) & (partner < w)
    products = lum[:, np.clip(partner, 0, w - 1)] * lum[:, None, :] * inside_map[None]  # (H, K, W)
    mirrored = np.zeros((h, len(axes), w + 1))
    np.cumsum(products, axis=2, out=mirrored[:, :, 1:])
    rows = np.arange(h)[:, None]
    held = (rows >= y0[None]) & (rows < y1[None])  # (H, N)
    row_sum = sums[:, x1] - sums[:, x0]  # (H, N)
    mean_part = row_sum * row_sum / np.maximum(x1 - x0, 1)[None]
    cross = ((mirrored[:, which, x1] - mirrored[:, which, x0] - mean_part) * held).sum(axis=0)
    spread = ((squares[:, x1] - squares[:, x0] - mean_part) * held).sum(axis=0)
    return np.where(spread > 1e-6, cross / np.maximum(spread, 1e-6), 0.0)


def crop_symmetry(ctx: ScoringContext, boxes: np.ndarray) -> np.ndarray:
    """:func:`mirror_symmetry` of ``(N, 4)`` ``xywh`` boxes (original pixels) on the photo's pooled
    lightness map (cached in ``ctx.cache``): boxes of one width keep one width on the map wherever
    they sit (what a box's width is decides the measure's bias on noise); 0 for a box under
    :data:`MIN_WIDTH` pooled pixels wide, and for every box when the analysis has no colour map."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    a = ctx.analysis
    pooled = ctx.cache.get("symmetry:lightness")
    if pooled is None:
        if a.lab is None:
            return np.zeros(len(b))
        lum = np.ascontiguousarray(a.lab[..., 0], np.float32)
        scale = LONG_SIDE / max(lum.shape)
        size = (max(1, round(lum.shape[1] * scale)), max(1, round(lum.shape[0] * scale)))
        pooled = ctx.cache["symmetry:lightness"] = cv2.resize(lum, size, interpolation=cv2.INTER_AREA)
    h, w = pooled.shape
    sx, sy = w / a.width, h / a.height
    width = np.clip(np.round(b[:, 2] * sx), 0, w).astype(np.int64)
    x0 = np.clip(np.round(b[:, 0] * sx).astype(np.int64), 0, w - width)
    y0 = np.clip(np.round(b[:, 1] * sy), 0, h).astype(np.int64)
    y1 = np.clip(np.round((b[:, 1] + b[:, 3]) * sy), 0, h).astype(np.int64)
    return np.where(width >= MIN_WIDTH, mirror_symmetry(pooled, x0, x0 + width, y0, y1), 0.0)
