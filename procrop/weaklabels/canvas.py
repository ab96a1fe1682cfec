"""Canvas sampling: where a professional photo sits inside the wider scene to be out-painted.

For each photo and expansion, the canvas takes a common aspect ratio, the photo covers a random
share of its area (``coverage``, e.g. 35-90 %), and the margins on each side are random. The
photo's box in the canvas, the pseudo-label, is exact integer pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CANVAS_RATIOS: tuple[float, ...] = (1.0, 4 / 3, 3 / 2, 16 / 9, 3 / 4, 2 / 3, 4 / 5, 5 / 4)


@dataclass(frozen=True)
class CanvasSpec:
    """A canvas ``width x height`` holding the photo at ``frame = (x, y, w, h)``."""

    width: int
    height: int
    frame: tuple[int, int, int, int]

    @property
    def coverage(self) -> float:
        return self.frame[2] * self.frame[3] / (self.width * self.height)


def sample_canvas(
    w: int,
    h: int,
    rng: np.random.Generator,
    coverage: tuple[float, float] = (0.35, 0.9),
    ratios: tuple[float, ...] = CANVAS_RATIOS,
) -> CanvasSpec:
    """Draw a canvas for a ``w x h`` photo (see the module docstring).

    The coverage is drawn uniformly in ``coverage``; the ratio among ``ratios`` that can hold the
    photo at that coverage (a canvas narrower than the photo is impossible); if none can, the
    canvas keeps the drawn ratio and grows just enough to hold the photo (lower coverage).
    """
    c = float(rng.uniform(*coverage))
    area = w * h / c
    feasible = [r for r in ratios if math.sqrt(area * r) >= w and math.sqrt(area / r) >= h]
    r = float(rng.choice(feasible)) if feasible else float(rng.choice(ratios))
    W = max(w, int(math.ceil(math.sqrt(area * r))))
    H = max(h, int(math.ceil(math.sqrt(area / r))))
    x = int(rng.integers(0, W - w + 1))
    y = int(rng.integers(0, H - h + 1))
    return CanvasSpec(W, H, (x, y, w, h))
