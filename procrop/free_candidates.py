"""The candidates of a ``free`` crop: its own, and every fixed ratio's.

A free crop may take any shape, so it is chosen among the candidates of the fixed ratios too: those
of :data:`FREE_ALSO` whatever else is asked (the free crop of a photo does not depend on the other
ratios of the request), and those of any other fixed ratio asked beside it, so that no crop returned
beside it scores above it. A session's trial found obama2's 9:16 crop scoring 0.684 and its free crop
0.669, with the verdict built on the weaker one.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .candidates import CandidateConfig, fill_near_full, inside_the_picture, photo_candidates, unique_boxes
from .geometry import AspectRatio, parse_ratio
from .perception.analysis import CompositionAnalysis

#: The fixed ratios whose grid, anchored and region crops a free crop is always chosen among too.
FREE_ALSO = ("1:1", "4:5", "16:9", "9:16")


def free_candidates(free: AspectRatio, own: np.ndarray, asked: list[tuple[AspectRatio, np.ndarray]],
                    analysis: CompositionAnalysis, config: CandidateConfig) -> np.ndarray:
    """``own (N, 4)``, the candidates of the ``free`` ratio, with every fixed ratio's: ``asked`` (each
    fixed ratio asked beside it, and its candidates) and those of :data:`FREE_ALSO` not asked (their
    :func:`~procrop.candidates.photo_candidates` at the largest size only), each as it is and as its
    ratio outputs it (inside a scan border, at its ratio); those nearly filling the photo grown to
    the whole of it, as the free ratio's own are (:func:`~procrop.candidates.fill_near_full`: a 500 x
    500 square of a 515 x 500 photo is the photo); then all moved inside a scan border."""
    W, H = analysis.width, analysis.height
    values = [ratio.resolve(W, H).value for ratio, _ in asked]
    more = [parse_ratio(label) for label in FREE_ALSO]
    more = [r for r in more if not any(v is not None and abs(v - float(r.value or 0)) < 1e-9 for v in values)]
    largest = replace(config, scales=1)  # of a ratio not asked, the largest size: a fifth of the boxes
    parts = [np.asarray(own, np.int64).reshape(-1, 4)]
    for ratio, boxes in [*asked, *((r, photo_candidates(analysis, r, largest)) for r in more)]:
        boxes = np.asarray(boxes, np.int64).reshape(-1, 4)  # as they are, and as that ratio outputs them
        parts += [boxes, np.asarray(inside_the_picture(boxes, analysis, ratio), np.int64).reshape(-1, 4)]
    # all inside a scan border before they are ranked (free's own, too, else the picture itself can
    # fall out of the best 16 that the cropper moves inside it: a framed temple lost 0.678 for 0.655)
    return unique_boxes(inside_the_picture(fill_near_full(np.concatenate(parts), W, H, free), analysis, free))


def with_free_candidates(requested: list[AspectRatio], candidates: list[np.ndarray],
                         analysis: CompositionAnalysis, config: CandidateConfig) -> list[np.ndarray]:
    """``candidates`` (one ``(N, 4)`` array per ratio of ``requested``) with each free ratio's given
    every fixed ratio's (:func:`free_candidates`); the others as they are."""
    fixed = [(ratio, boxes) for ratio, boxes in zip(requested, candidates) if not ratio.is_free]
    return [free_candidates(ratio, boxes, fixed, analysis, config) if ratio.is_free else boxes
            for ratio, boxes in zip(requested, candidates)]
