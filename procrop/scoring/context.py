"""What every scoring term sees: the per-image :class:`ScoringContext`, the :class:`TermValues` of a
batch of candidates, and the :class:`ExtraTerm` protocol that retrieval and neural terms implement."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..imaging.load import LoadedImage
from ..perception.analysis import CompositionAnalysis
from ..perception.integral import IntegralMap

#: Channels of :attr:`ScoringContext.maps`.
SAL, SAL_X, SAL_Y, EDGES = 0, 1, 2, 3


@dataclass
class ScoringContext:
    """Per-image state shared by all terms: the image, its analysis and precomputed integrals.

    ``maps`` integrates four channels: saliency, saliency times x, saliency times y (for centres
    of visual mass) and edge energy.
    """

    image: LoadedImage | None
    analysis: CompositionAnalysis
    cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        a = self.analysis
        mh, mw = a.saliency.shape
        ys, xs = np.mgrid[0:mh, 0:mw].astype(np.float64)
        sal = a.saliency.astype(np.float64)
        self.maps = IntegralMap(np.stack([sal, sal * (xs + 0.5), sal * (ys + 0.5), a.edges], axis=-1))
        self.sx = mw / a.width
        self.sy = mh / a.height


#: ``TermValues.details`` key: 1.0 for a candidate of a fixed ratio the user asked for (``4:5``,
#: ``original``, ``1080x1350``), 0.0 for a ``free`` one or the uncropped frame (absent: free).
FIXED_RATIO = "fixed_ratio"


@dataclass
class TermValues:
    """Term values for ``N`` candidates.

    Attributes:
        values: term name -> ``(N,)`` values in [0, 1].
        applicable: term name -> ``(N,)`` bool; a term that does not apply is left out of the mix.
        details: intermediate per-candidate quantities used by explanations, and
            :data:`FIXED_RATIO` where the cropper knows each candidate's request.
        face_inside: ``(F, N)`` share of each face inside each candidate.
    """

    values: dict[str, np.ndarray]
    applicable: dict[str, np.ndarray]
    details: dict[str, np.ndarray] = field(default_factory=dict)
    #: ``(F, N)`` share of each detected face inside each candidate.
    face_inside: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def subset(self, idx: np.ndarray) -> TermValues:
        faces = self.face_inside  # (F, N); a default (0, 0) has no columns to take
        return TermValues(
            {k: v[idx] for k, v in self.values.items()},
            {k: v[idx] for k, v in self.applicable.items()},
            {k: v[idx] for k, v in self.details.items()},
            faces[:, idx] if faces.ndim == 2 and faces.shape[1] else faces,
        )

    def add(self, name: str, values: np.ndarray, applicable: np.ndarray | None = None) -> None:
        values = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
        self.values[name] = values
        self.applicable[name] = (
            np.ones(len(values), dtype=bool) if applicable is None else np.asarray(applicable, bool)
        )


@runtime_checkable
class ExtraTerm(Protocol):
    """A score term computed by another component (retrieval, a neural model).

    ``evaluate`` returns ``(values in [0, 1], applicable)`` for ``(N, 4)`` boxes; it is called on
    the best few dozen candidates per ratio (re-ranking), plus the uncropped frame, or on every
    candidate when a term sets ``scores_every_candidate = True`` (a network that decides alone).
    Optional: ``extra_candidates(context, ratio)`` proposes boxes, ``prefetch(image)`` starts work
    before the analysis.
    """

    name: str

    def evaluate(self, context: ScoringContext, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ...

    def explain(self, context: ScoringContext, box: np.ndarray, value: float) -> str | None:
        ...


