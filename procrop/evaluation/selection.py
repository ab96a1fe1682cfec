"""Checkpoint selection: the evaluation hook a trainer calls every N iterations.

Owns :func:`evaluate_for_selection` and :class:`SelectionResult`. ProCrop's official script
evaluates FLMS (and SACD) and saves a checkpoint every 100 iterations (facts file, section 4.2);
the selected checkpoint is the one with the best FLMS IoU. This hook runs one such evaluation with
:func:`procrop.evaluation.evaluate.evaluate` and turns the chosen metric into a single
"higher is better" score, so a trainer only compares numbers. Keeping the best checkpoint is the
trainer's job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .evaluate import evaluate
from .methods import Method, ModelMethod

#: Metrics a selection may use, with the sign that makes "higher is better".
SELECTION_KEYS: dict[str, float] = {"IoU@1": 1.0, "BDE@1": -1.0, "SRCC": 1.0, "PCC": 1.0, "Acc5": 1.0, "Acc10": 1.0}


@dataclass(frozen=True)
class SelectionResult:
    """One selection evaluation.

    Attributes:
        score: the chosen metric signed so that higher is better (``-BDE@1`` for BDE).
        key: the metric name.
        metrics: every metric of the evaluation.
        evaluated: images evaluated (those whose image file is present).
        failed: images on which the model failed.
    """

    score: float
    key: str
    metrics: dict[str, float]
    evaluated: int
    failed: int


def _as_method(model: Any, reference_db: str | None, name: str) -> Method:
    if isinstance(model, Method):
        return model
    if isinstance(model, (str, os.PathLike)):
        if not Path(model).exists():
            raise UsageError(f"{model}: no such checkpoint")
        return ModelMethod(model, reference_db=reference_db)
    if hasattr(model, "predict") and hasattr(model, "score_boxes"):
        return ModelMethod.from_predictor(model, name)
    raise UsageError(f"cannot evaluate a {type(model).__name__}: pass a checkpoint path, a NeuralCropper or a Method")


def evaluate_for_selection(
    model: Any,
    data: str | os.PathLike,
    *,
    benchmark: str = "flms",
    split: str | None = None,
    key: str = "IoU@1",
    reference_db: str | None = None,
    limit: int | None = None,
    name: str = "model",
) -> SelectionResult:
    """Evaluate a model for checkpoint selection (official protocol: FLMS, every 100 iterations).

    Args:
        model: a checkpoint path, a :class:`~procrop.model.paper.predictor.NeuralCropper` in memory (the
            trainer's; its torch module is put in eval mode for the evaluation and restored), or
            any :class:`~procrop.evaluation.methods.Method`.
        data: the benchmark folder (FLMS: ``500_image_dataset.mat`` or ``image_crop.json`` plus
            the images).
        benchmark: ``flms`` by default; any of :data:`~procrop.evaluation.evaluate.BENCHMARKS`.
        split: the split to use (``None``: every image, as the official FLMS evaluation).
        key: the metric to select on (:data:`SELECTION_KEYS`).
        reference_db: for a checkpoint path: the database (``None``: the one its configuration
            records). A predictor already carries its own.
        limit: evaluate only the first N available images (quick checks).
        name: the method name in the metrics.
    """
    if key not in SELECTION_KEYS:
        raise UsageError(f"selection metric {key!r} not supported; use one of {', '.join(SELECTION_KEYS)}")
    method = _as_method(model, reference_db, name)
    module = getattr(getattr(method, "model", None), "model", None)
    was_training = bool(getattr(module, "training", False))
    if was_training:
        module.eval()
    try:
        report = evaluate(benchmark, data, [method], split=split, limit=limit)
    finally:
        if was_training:
            module.train()
    rep = report.methods[0]
    if key not in rep.metrics:
        raise UsageError(f"{benchmark} has no {key} metric (or no image could be evaluated); metrics: {', '.join(rep.metrics) or 'none'}")
    return SelectionResult(SELECTION_KEYS[key] * float(rep.metrics[key]), key, dict(rep.metrics), report.evaluated, len(rep.failed))
