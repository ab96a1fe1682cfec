"""How well judges agree with each other, and how well a scorer agrees with them.

* :func:`judge_agreement`: over sheets judged by several judges, the share of (pair, two judges)
  on which the two order the pair the same way, and each judge against the majority of the
  *other* judges of the sheet (pairs where the others tie are left out): the ceiling a scorer
  measured against a majority can reach.
* :func:`scorer_agreement`: the share of majority pairs a scorer orders the same way (a tie in
  the scorer counts half).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from .records import majority_pairs, pair_votes, record_pairs


@dataclass(frozen=True)
class Agreement:
    """Judges' agreement: ``pairwise`` over ``pairs`` (pair, two judges) comparisons, and
    ``leave_one_out`` over ``loo_pairs`` (pair, judge) comparisons."""

    pairwise: float
    pairs: int
    leave_one_out: float
    loo_pairs: int


def _orders(record: dict[str, Any]) -> dict[tuple[int, int], int]:
    out = {}
    for better, worse in record_pairs(record):
        i, j = min(better, worse), max(better, worse)
        out[(i, j)] = 1 if better == i else -1
    return out


def judge_agreement(sheets: list[list[dict[str, Any]]]) -> Agreement:
    """Agreement among the judges of each sheet (sheets with one judge add nothing)."""
    agree = total = loo_agree = loo_total = 0
    for records in sheets:
        if len(records) < 2:
            continue
        orders = [_orders(r) for r in records]
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
    sheets: list[list[dict[str, Any]]], score: Callable[[dict[str, Any]], np.ndarray], min_judges: int = 1
) -> tuple[float, int]:
    """Share of majority pairs ``score`` orders as the judges do, and the number of pairs.
    ``score(record)`` returns one score per box of the record's sheet (higher is better)."""
    hits = 0.0
    n = 0
    for records in sheets:
        pairs = majority_pairs(records, min_judges)
        if not pairs:
            continue
        s = np.asarray(score(records[0]), dtype=float)
        for better, worse, _ in pairs:
            n += 1
            hits += 1.0 if s[better] > s[worse] else 0.5 if s[better] == s[worse] else 0.0
    return hits / max(n, 1), n
