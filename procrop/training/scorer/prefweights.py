"""The classic scorer's weights fitted to editors' rankings (``procrop prefs fit-weights``).

The classic score of a crop is a weighted mean of interpretable terms (``scoring.toml``:
content, focus, placement, balance, boundary, headroom, horizon, scale); its weights were set by
hand. :func:`fit_weights` sets them from the judged sheets instead: for every sheet the terms of
its candidate boxes are computed as ``Cropper(scorer="classic")`` computes them
(:func:`sheet_terms`), and the weights minimise a pairwise logistic loss over the pairs the
judges ordered, ``-log sigmoid(k * (score_better - score_worse))``, with the score the same
weighted mean over the terms that apply (weights kept positive, a small L2 penalty). The
retrieval term is left at its hand-set weight: the bundled reference database holds the
pool's own photos, so on them it would be fitted against a copy of the answer.

The result is a weights file of ``scoring.toml``'s layout, used with
``procrop crop --scorer classic --weights FILE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...preferences.records import majority_pairs
from ...scoring.weights import ScoringWeights

#: The terms whose weights are fitted (retrieval keeps its hand-set weight, see the docstring).
FITTED_TERMS = ("content", "focus", "placement", "balance", "boundary", "headroom", "horizon", "scale")


def sheet_terms(keys: list[dict[str, Any]], photos_dir: str | Path,
                progress: Any = None) -> dict[str, dict[str, list[float | None]]]:
    """Term values of every box of every sheet: sheet id -> term -> one value per box
    (``None`` where the term does not apply). The photo is prepared once for all its sheets."""
    from ...cropper import Cropper

    cropper = Cropper(scorer="classic", reference_db=None)
    by_photo: dict[str, list[dict[str, Any]]] = {}
    for k in keys:
        by_photo.setdefault(k["photo"], []).append(k)
    out: dict[str, dict[str, list[float | None]]] = {}
    for n, (photo, ks) in enumerate(by_photo.items(), start=1):
        ctx = cropper.prepare(str(Path(photos_dir) / photo))
        for k in ks:
            tv = cropper.scorer.terms(ctx, np.array(k["boxes"], float))
            out[k["sheet"]] = {t: [float(v) if a else None for v, a in zip(tv.values[t], tv.applicable[t])]
                               for t in tv.values}
        if progress:
            progress(n, len(by_photo))
    return out


@dataclass
class PairData:
    """Sheets as arrays: term values ``V`` and applicability ``A`` ``(S, 4, T)``, pairs
    ``(sheet, better, worse, weight)``."""

    V: np.ndarray
    A: np.ndarray
    pairs: np.ndarray
    sheets: list[list[dict[str, Any]]]


def pair_data(sheets: list[list[dict[str, Any]]], terms: dict[str, dict[str, list[float | None]]]) -> PairData:
    """The judged sheets that have term values, as :class:`PairData` over :data:`FITTED_TERMS`."""
    sheets = [g for g in sheets if g[0]["sheet"] in terms and majority_pairs(g)]
    V = np.zeros((len(sheets), 4, len(FITTED_TERMS)))
    A = np.zeros_like(V)
    pairs = []
    for s, g in enumerate(sheets):
        values = terms[g[0]["sheet"]]
        for j, t in enumerate(FITTED_TERMS):
            for i, v in enumerate(values.get(t, [])):
                if v is not None:
                    V[s, i, j], A[s, i, j] = v, 1.0
        pairs += [(s, b, w, m) for b, w, m in majority_pairs(g)]
    return PairData(V, A, np.array(pairs, float).reshape(-1, 4), sheets)


def weighted_scores(w: np.ndarray, data: PairData) -> np.ndarray:
    """``(S, 4)`` weighted means of the applicable terms, as the classic scorer combines them."""
    return (data.V * data.A) @ w / np.maximum(data.A @ w, 1e-9)


def fit_weights(data: PairData, base: ScoringWeights | None = None, l2: float = 1e-3,
                steps: int = 800, seed: int = 0) -> tuple[ScoringWeights, float]:
    """Weights fitted to ``data``'s pairs (scaled so they sum as the hand-set ones do); returns
    the weights and the final training loss."""
    base = base or ScoringWeights.load()
    torch.manual_seed(seed)
    V = torch.tensor(data.V, dtype=torch.float32)
    A = torch.tensor(data.A, dtype=torch.float32)
    s, b, wo = (torch.tensor(data.pairs[:, i]).long() for i in range(3))
    m = torch.tensor(data.pairs[:, 3], dtype=torch.float32)
    start = np.array([max(base.weight(t), 1e-3) for t in FITTED_TERMS])
    raw = torch.tensor(np.log(np.expm1(start / start.sum() * 2)), dtype=torch.float32, requires_grad=True)
    sharp = torch.tensor(2.0, requires_grad=True)
    opt = torch.optim.Adam([raw, sharp], lr=0.05)
    loss = torch.tensor(0.0)
    for _ in range(steps):
        w = F.softplus(raw)
        sc = (V * A) @ w / torch.clamp(A @ w, min=1e-6)
        d = (sc[s, b] - sc[s, wo]) * torch.exp(sharp)
        loss = (m * F.softplus(-d)).sum() / m.sum() + l2 * (w ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    w = F.softplus(raw).detach().numpy().astype(float)
    w = w / w.sum() * sum(base.weight(t) for t in FITTED_TERMS)
    return base.with_weights(**{t: round(float(v), 4) for t, v in zip(FITTED_TERMS, w)}), float(loss.detach())
