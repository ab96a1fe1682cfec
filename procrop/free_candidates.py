"""The candidates of a ``free`` crop: its own, and every fixed ratio's.

A free crop may take any shape, so it is chosen among the candidates of the fixed ratios too: those
of :data:`FREE_ALSO` whatever else is asked (the free crop of a photo does not depend on the other
ratios of the request), and those of any other fixed ratio asked beside it, so that no crop returned
beside it scores above it. A session's trial found obama2's 9:16 crop scoring 0.684 and its free crop
0.669, with the verdict built on the weaker one.
"""

from __future__ import annotations

import numpy as np

from .candidates import CandidateConfig, fill_near_full, inside_the_picture, photo_candidates, unique_boxes
from .geometry import AspectRatio, parse_ratio
from .perception.analysis import CompositionAnalysis

#: The fixed ratios whose grid, anchored and region crops a free crop is always chosen among too.
FREE_ALSO = ("1:1", "4:5", "16:9", "9:16")


def free_candidates(free: AspectRatio, own: np.ndarray, asked: list[tuple[AspectRatio, np.ndarray]],
                    analysis: CompositionAnalysis, config: CandidateConfig) -> np.ndarray:
    """``own (N, 4)``, the candidates of the ``free`` ratio, with every fixed ratio's: ``asked`` (each
    fixed ratio asked beside it, and its candidates) and those of :data:`FREE_ALSO` not asked
    (:func:`~procrop.candidates.photo_candidates`), each as it will be output (inside a scan border),
    and those nearly filling the photo grown to the whole of it, as the free ratio's own are
    (:func:`~procrop.candidates.fill_near_full`: a 500 x 500 square of a 515 x 500 photo is the photo)."""
    W, H = analysis.width, analysis.height
    values = [ratio.resolve(W, H).value for ratio, _ in asked]
    more = [parse_ratio(label) for label in FREE_ALSO]
    more = [r for r in more if not any(v is not None and abs(v - float(r.value or 0)) < 1e-9 for v in values)]
    parts = [np.asarray(own, np.int64).reshape(-1, 4)]
    for ratio, boxes in [*asked, *((r, photo_candidates(analysis, r, config)) for r in more)]:
        parts.append(np.asarray(inside_the_picture(boxes, analysis, ratio), np.int64).reshape(-1, 4))
    return unique_boxes(fill_near_full(np.concatenate(parts), W, H, free))
