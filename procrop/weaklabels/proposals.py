"""Crop proposals around the pseudo-label, scored and refined into weak labels (ProCrop).

Each round draws proposals at the standard ratios (1, 5:4, 4:3, 7:5, 3:2, 16:9, either
orientation) around the current labels (first round: the pseudo-label), with random scale and
position jitter, snapped to exact ratios; a pluggable scorer rates them in [0, 1] (x10 for
ProCrop's 0-10 scale); :func:`procrop.weaklabels.refine.refine_labels` keeps the best four that are diverse
and cover at least 80 % of the pseudo-label. Boxes here are ``x1, y1, x2, y2`` canvas pixels.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from ..geometry import STANDARD_RATIOS, xyxy_to_xywh
from .refine import refine_labels


class ProposalScorer(Protocol):
    """Scores ``(N, 4)`` ``xywh`` boxes of an RGB canvas in [0, 1]."""

    def __call__(self, canvas: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        ...


class CropperScorer:
    """The default cropper's composition score (retrieval off: the canvas' source photo may be in
    the reference database, which would leak the answer)."""

    def __init__(self) -> None:
        from ..cropper import Cropper

        self.cropper = Cropper(reference_db=None)

    def __call__(self, canvas: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        return self.cropper.score_boxes(canvas, boxes)


class NeuralScorer:
    """A trained network's box-scoring head."""

    def __init__(self, checkpoint: str) -> None:
        from ..model.paper.predictor import NeuralCropper

        self.model = NeuralCropper.from_checkpoint(checkpoint, reference_db=None)

    def __call__(self, canvas: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        return self.model.score_boxes(canvas, boxes)


def propose(
    around: list[tuple[float, float, float, float]],
    width: int,
    height: int,
    rng: np.random.Generator,
    per_ratio: int = 2,
    scale: tuple[float, float] = (0.8, 1.25),
    shift: float = 0.1,
) -> np.ndarray:
    """Proposals ``(N, 4)`` ``x1, y1, x2, y2`` at exact standard ratios near the given boxes."""
    out = []
    ratios = sorted({r for base in STANDARD_RATIOS for r in (base, 1 / base)})
    for x1, y1, x2, y2 in around:
        w, h = x2 - x1, y2 - y1
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        for r in ratios:
            for _ in range(per_ratio):
                area = w * h * math.exp(rng.uniform(math.log(scale[0]), math.log(scale[1])))  # log-symmetric
                pw = math.sqrt(area * r)
                ph = pw / r
                if pw > width or ph > height:
                    k = min(width / pw, height / ph)
                    pw, ph = pw * k, ph * k
                px = cx + rng.uniform(-shift, shift) * w - pw / 2
                py = cy + rng.uniform(-shift, shift) * h - ph / 2
                px = min(max(px, 0.0), width - pw)
                py = min(max(py, 0.0), height - ph)
                out.append((px, py, px + pw, py + ph))
    return np.asarray(out, dtype=np.float64).reshape(-1, 4)


def weak_labels(
    canvas: np.ndarray,
    frame: tuple[int, int, int, int],
    scorer: ProposalScorer,
    rng: np.random.Generator,
    rounds: int = 2,
    keep: int = 4,
) -> list[tuple[tuple[float, float, float, float], float]]:
    """The pseudo-label (the photo's frame, scored by ``scorer`` like the proposals, 0-10) followed
    by up to ``keep`` refined proposals."""
    H, W = canvas.shape[:2]
    fx, fy, fw, fh = frame
    pseudo = (float(fx), float(fy), float(fx + fw), float(fy + fh))
    # the frame is scored like every proposal: one 0-10 scale in the file
    frame_score = float(np.asarray(scorer(canvas, np.asarray([frame], np.float64)), dtype=np.float64)[0]) * 10.0
    labels = [(pseudo, frame_score)]
    scored: list[tuple[tuple[float, float, float, float], float]] = []
    for r in range(rounds):
        around = [b for b, _ in labels]
        boxes = propose(around, W, H, rng, shift=0.1 / (r + 1))
        if len(boxes) == 0:
            break
        xywh = xyxy_to_xywh(boxes)
        scores = np.asarray(scorer(canvas, xywh), dtype=np.float64) * 10.0
        scored += [(tuple(float(v) for v in b), float(s)) for b, s in zip(boxes, scores)]  # type: ignore[misc]
        # generated sets keep the summed rule they were made with (docs/differences.md)
        labels = refine_labels(pseudo, scored, W, H, keep=keep, rule="sum", pseudo_score=frame_score)
    return labels
