"""Which terms score crops, and with what weights: the learned default or the classic terms.

:func:`scoring_setup` is how :class:`~procrop.cropper.Cropper` turns its ``scorer``, ``weights``,
``reference_db``, ``model`` and ``learned_model`` arguments into a :class:`CompositionScorer` and the
plugged-in terms:

* ``preference`` (the default, :data:`DEFAULT_SCORER`): the learned term feeds the preference term
  (:class:`~procrop.scoring.terms.preference.PreferenceTerm`, fitted to editors' rankings and to
  the recovery of professional frames), which reads it with the base terms and is the only
  weighted term; a ``PreferenceTerm`` passed in ``extra_terms`` replaces the shipped model;
* ``learned``: :class:`~procrop.scoring.terms.learned.LearnedTerm` is the only weighted
  term (every hand-set weight becomes 0, ``learned`` 1); it retrieves from its own bundle, or
  from ``reference_db`` when that is a folder, whose composition then steers the crops through
  the ``style`` term (:mod:`~procrop.scoring.terms.style`, weight ``style_strength``);
* ``classic``: the hand-set weights, plus the retrieval term of ``reference_db`` first;
* a ``model`` checkpoint implies ``classic`` plus its ``neural`` term (default weight 1.5 x the sum
  of the others).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import UsageError
from .composition import CompositionScorer
from .context import ExtraTerm
from .terms.retrieval import retrieval_term_for
from .weights import ScoringWeights

SCORERS = ("preference", "learned", "classic")
#: What ``Cropper()`` and ``procrop crop`` use unless told otherwise.
DEFAULT_SCORER = "preference"


def scoring_setup(
    scorer: str,
    weights: ScoringWeights | str | Path | None,
    extra_terms: Sequence[ExtraTerm],
    reference_db: str | Path | None,
    model: str | Path | None = None,
    model_weight: float | None = None,
    learned_model: str | Path | None = None,
    style_strength: float | None = None,
) -> tuple[str, CompositionScorer, tuple[ExtraTerm, ...]]:
    """The scorer's name in use (one of :data:`SCORERS`), the weighted scorer and the extra
    terms, retrieval first (see the module docstring)."""
    if scorer not in SCORERS:
        raise UsageError(f"scorer must be one of {', '.join(SCORERS)}; got {scorer!r}")
    name = "classic" if model is not None else scorer
    if isinstance(weights, (str, Path)):
        weights = ScoringWeights.load(weights)
    weights = weights or ScoringWeights.load()
    terms = list(extra_terms)
    if model is not None:
        from .terms.neural import NeuralTerm  # needs the torch extra

        terms.append(NeuralTerm.from_checkpoint(model, None if reference_db is None else str(reference_db)))
        if model_weight is None:
            model_weight = 1.5 * sum(v for k, v in weights.weights.items() if k != "neural")
        weights = weights.with_weights(neural=model_weight)
    if name in ("learned", "preference"):
        from .terms.learned import LearnedTerm
        from .terms.style import style_term_for

        own = [t for t in terms if t.name == "preference"]
        learned = LearnedTerm(learned_model, reference_db=None if reference_db in (None, "default") else reference_db)
        style = style_term_for(learned, style_strength, learned.user_db)  # issue 20: None when off
        terms = [t for t in terms if t.name != "preference"] + ([style] if style else []) + [learned]
        weights = weights.with_weights(**{**{k: 0.0 for k in weights.weights}, name: 1.0,
                                          **({"style": style.strength} if style else {})})
        if name == "preference":
            from .terms.preference import SCORE_TEMPERATURE, PreferenceTerm

            preference = own[-1] if own else PreferenceTerm()
            # confidence = the pairwise model's probability that an editor prefers the crop to the
            # uncropped photo: sigmoid of the logit gap (score = sigmoid(logit / 4), slope 1/16 at 0.5)
            params = {**weights.params, "confidence": {**weights.params.get("confidence", {}),
                                                       "margin": 0.0, "temperature": 1 / (4 * SCORE_TEMPERATURE)}}
            weights = ScoringWeights(weights.weights, params, weights.source)
            preference.learned = learned  # type: ignore[attr-defined]
            learned.refine_fixed = False  # its fixed-ratio proposals are re-ranked: grid boxes do
            preference.steered = style is not None  # type: ignore[attr-defined]
            terms.append(preference)
    retrieval = retrieval_term_for(reference_db) if name == "classic" else None
    if retrieval is not None and not any(t.name == "retrieval" for t in terms):
        terms.insert(0, retrieval)
    return name, CompositionScorer(weights), tuple(terms)
