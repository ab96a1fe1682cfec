"""The neural term: a trained ProCrop network's box score for each crop, and its set predictions
as extra candidates (``procrop crop --model CKPT``). Needs the torch extra, imported only when a
model is loaded."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ...errors import UsageError, require
from ...geometry import AspectRatio, snap_to_ratio
from ..context import ScoringContext

if TYPE_CHECKING:
    from ...model.paper.predictor import NeuralCropper, Prediction


class NeuralTerm:
    """:class:`~procrop.scoring.context.ExtraTerm` named ``neural``: the network's box score of each crop,
    plus its set predictions as extra candidates."""

    name = "neural"
    scores_every_candidate = True

    def __init__(self, cropper: NeuralCropper, extra: int = 20) -> None:
        self.cropper = cropper
        self.extra = extra

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, reference_db: str | None = "default") -> NeuralTerm:
        """Load a ``.pt`` checkpoint or an exported ``.onnx`` model (extra ``procrop[torch]``).

        Raises:
            MissingExtraError: torch is not installed (the paper's network code needs it for both)."""
        require("torch", "a ProCrop checkpoint or exported model", "torch")
        from ...model.paper.predictor import NeuralCropper

        if str(path).endswith(".onnx"):
            return cls(NeuralCropper.from_onnx(path, reference_db))
        return cls(NeuralCropper.from_checkpoint(path, reference_db))

    def _prediction(self, ctx: ScoringContext) -> Prediction:
        pred = ctx.cache.get("neural")
        if pred is None:
            if ctx.image is None:
                raise UsageError("the neural term needs the image")
            pred = self.cropper.predict(ctx.image, ctx)
            ctx.cache["neural"] = pred
        return pred

    def extra_candidates(self, ctx: ScoringContext, ratio: AspectRatio) -> np.ndarray:
        """The network's best free-form boxes, snapped to the requested ratio."""
        pred = self._prediction(ctx)
        a = ctx.analysis
        out = []
        resolved = ratio.resolve(a.width, a.height)
        for box in pred.boxes[: self.extra]:
            x, y, w, h = (int(round(v)) for v in box)
            if w < 2 or h < 2:
                continue
            b = (x, y, w, h)
            if resolved.value is not None:
                b = snap_to_ratio(b, resolved.value, a.width, a.height)
            else:
                x, y = max(0, x), max(0, y)
                b = (x, y, min(w, a.width - x), min(h, a.height - y))
            out.append(b)
        return np.asarray(out, dtype=np.int64).reshape(-1, 4)

    def evaluate(self, ctx: ScoringContext, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pred = self._prediction(ctx)
        values = self.cropper.score_boxes(ctx.image, boxes, ctx, prediction=pred)
        return values, np.ones(len(values), dtype=bool)

    def explain(self, ctx: ScoringContext, box: np.ndarray, value: float) -> str | None:
        return f"the neural model rates it {value:.2f}"
