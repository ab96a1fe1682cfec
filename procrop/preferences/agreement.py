"""How well judges agree with each other, and how well a scorer agrees with them.

* :func:`judge_agreement`: over sheets judged by several judges, the share of (pair, two judges)
  on which the two order the pair the same way, and each judge against the majority of the
  *other* judges of the sheet (pairs where the others tie are left out): the ceiling a scorer
  measured against a majority can reach.
* :func:`scorer_agreement`: the share of majority pairs a scorer's scores order the same way (a
  tie in the scorer counts half).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from .records import majority_pairs, pair_votes


@dataclass(frozen=True)
class Agreement:
    """Judges' agreement: ``pairwise`` over ``pairs`` (pair, two judges) comparisons, and
    ``leave_one_out`` over ``loo_pairs`` (pair, judge) comparisons."""

    pairwise: float
    pairs: int
    leave_one_out: float
    loo_pairs: int


def judge_agreement(sheets: list[list[dict[str, Any]]]) -> Agreement:
    """Agreement among the judges of each sheet (sheets with one judge add nothing)."""
    agree = total = loo_agree = loo_total = 0
    for records in sheets:
        if len(records) < 2:
            continue
        orders = [pair_votes([r]) for r in records]  # one judge's vote: +1 or -1 per pair
        for a, b in combinations(orders, 2):
            for pair, v in a.items():
                if pair in b:
                    total += 1
                    agree += v == b[pair]
        for k, mine in enumerate(orders):
            others = pair_votes([r for n, r in enumerate(records) if n != k])
            for pair, v in mine.items():
                if others.get(pair, 0) != 0:
                    loo_total += 1
                    loo_agree += (v > 0) == (others[pair] > 0)
    return Agreement(agree / max(total, 1), total, loo_agree / max(loo_total, 1), loo_total)


def scorer_agreement(
    sheets: list[list[dict[str, Any]]], scores: Sequence[np.ndarray], min_judges: int = 1
) -> tuple[float, int]:
    """Share of majority pairs a scorer orders as the judges do, and the number of pairs.
    ``scores[i]`` holds one score per box of ``sheets[i]`` (higher is better)."""
    hits = 0.0
    n = 0
    for records, sheet_scores in zip(sheets, scores, strict=True):
        pairs = majority_pairs(records, min_judges)
        if not pairs:
            continue
        s = np.asarray(sheet_scores, dtype=float)
        for better, worse, _ in pairs:
            n += 1
            hits += 1.0 if s[better] > s[worse] else 0.5 if s[better] == s[worse] else 0.0
    return hits / max(n, 1), n
