"""Running the plugged-in terms (:class:`~procrop.scoring.context.ExtraTerm`) over candidates.

A term runs when its weight is positive, or when a later term reads the others' values (the
preference term, ``reads_terms = True``, takes the base terms and the learned term as inputs even
though only its own value is weighted). Such a term is called as ``evaluate(ctx, boxes, tv)``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .context import FIXED_RATIO, ExtraTerm, ScoringContext, TermValues
from .weights import ScoringWeights


def term_runs(term: ExtraTerm, terms: Sequence[ExtraTerm], weights: ScoringWeights) -> bool:
    """Whether ``term`` is evaluated (and its proposals used): a positive weight, or a term among
    ``terms`` that reads the others' values."""
    return weights.weight(term.name) > 0 or any(getattr(t, "reads_terms", False) for t in terms)


def apply_extra_terms(ctx: ScoringContext, terms: Sequence[ExtraTerm], weights: ScoringWeights,
                      boxes: np.ndarray, tv: TermValues) -> None:
    """Add each term's values on ``(N, 4)`` ``boxes`` to ``tv``, in order."""
    for term in terms:
        if not term_runs(term, terms, weights):
            continue
        if getattr(term, "reads_terms", False):
            values, applicable = term.evaluate(ctx, boxes, tv)  # type: ignore[call-arg]
        else:
            values, applicable = term.evaluate(ctx, boxes)
        tv.add(term.name, values, applicable)


def apply_extra_terms_batched(ctx: ScoringContext, terms: Sequence[ExtraTerm], weights: ScoringWeights,
                              parts: list[tuple[np.ndarray, TermValues]]) -> None:
    """:func:`apply_extra_terms` once over the boxes of several parts (one batch per model call),
    each part's values then split back into its own :class:`TermValues` (the details go in with the
    boxes, such as :data:`~procrop.scoring.context.FIXED_RATIO`; 0 for a part without one)."""
    if not terms:
        return
    everything = np.concatenate([b for b, _ in parts])
    merged = TermValues(
        {k: np.concatenate([tv.values[k] for _, tv in parts]) for k in parts[0][1].values},
        {k: np.concatenate([tv.applicable[k] for _, tv in parts]) for k in parts[0][1].values},
        {k: np.concatenate([tv.details.get(k, np.zeros(len(b))) for b, tv in parts])  # a part without
         for k in dict.fromkeys(k for _, tv in parts for k in tv.details)},  # a flag: 0 (free) there
    )
    base = set(merged.values)
    apply_extra_terms(ctx, terms, weights, everything, merged)
    start = 0
    for boxes, tv in parts:
        end = start + len(boxes)
        for name in merged.values:
            if name not in base:
                tv.add(name, merged.values[name][start:end], merged.applicable[name][start:end])
        start = end


def all_terms(ctx: ScoringContext, scorer: Any, terms: Sequence[ExtraTerm], boxes: np.ndarray,
              fixed: Sequence[bool]) -> TermValues:
    """Every term's values for ``boxes (N, 4)``, each of a fixed ratio asked for or not (``fixed``,
    :data:`~procrop.scoring.context.FIXED_RATIO`): the base ``scorer``'s (a
    :class:`~procrop.scoring.composition.CompositionScorer`), then the extra ``terms``'."""
    tv = scorer.terms(ctx, boxes)
    tv.details[FIXED_RATIO] = np.asarray(fixed, np.float64).reshape(len(boxes))
    apply_extra_terms(ctx, terms, scorer.weights, boxes, tv)
    return tv
