"""The run's evaluation data (``train.eval_data``): what it is read as, checked before training starts."""

from __future__ import annotations

from typing import Any

from ...errors import ProcropError, UsageError


def eval_target(train: Any) -> tuple[str, str]:
    """``(benchmark, split)`` the run evaluates on (``train``: the configuration's ``[train]``
    table): ``train.eval_benchmark``, else ``weak`` for a weak-label run and ``train.benchmark`` for
    a supervised one; ``train.eval_split``, except that a weak-label set, which has no test split,
    is read whole when the split is left at its default (a trial's weak run failed twice before
    evaluating: read as GAICD, then split 'test' empty)."""
    bench = train.eval_benchmark or ("weak" if train.mode == "weak" else train.benchmark)
    split = "all" if bench == "weak" and train.eval_split == "test" else train.eval_split
    return bench, split


def check_eval_data(train: Any) -> None:
    """Refuse evaluation data the run's benchmark reader cannot evaluate on, naming the keys: a
    weak-label set read as GAICD trained a whole epoch and then stopped at its first evaluation.

    Raises:
        UsageError: naming ``train.eval_data``, the benchmark and split it is read as, and why not.
    """
    from ...evaluation.evaluate import BENCHMARKS, benchmark_samples

    bench, split = eval_target(train)
    try:
        benchmark_samples(bench, train.eval_data, split, limit=1)
    except ProcropError as exc:
        how = ("train.eval_benchmark" if train.eval_benchmark
               else f"train.eval_benchmark unset, train.mode {train.mode}")
        raise UsageError(f"train.eval_data {train.eval_data}, split {split!r} (train.eval_split), read as "
                         f"benchmark {bench!r} ({how}; one of {', '.join(BENCHMARKS)}): {exc}") from None
