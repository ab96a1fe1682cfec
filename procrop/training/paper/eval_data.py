"""The run's evaluation data checked before training starts (``train.eval_data``)."""

from __future__ import annotations

from typing import Any

from ...errors import ProcropError, UsageError


def check_eval_data(train: Any) -> None:
    """Refuse evaluation data the run's benchmark reader cannot evaluate on, naming the keys
    (``train``: the configuration's ``[train]`` table): a weak-label set read as GAICD trained a
    whole epoch and then stopped at its first evaluation.

    Raises:
        UsageError: naming ``train.eval_data``, the benchmark it is read as, and why it cannot be.
    """
    from ...evaluation.evaluate import BENCHMARKS, benchmark_samples

    bench = train.eval_benchmark or train.benchmark
    try:
        benchmark_samples(bench, train.eval_data, train.eval_split, limit=1)
    except ProcropError as exc:
        how = ("train.eval_benchmark" if train.eval_benchmark
               else "train.benchmark, as train.eval_benchmark is unset")
        raise UsageError(f"train.eval_data {train.eval_data}, split {train.eval_split!r} (train.eval_split; "
                         f"'all' for a weak-label set), read as benchmark {bench!r} ({how}; one of "
                         f"{', '.join(BENCHMARKS)}, e.g. 'weak' for a weak-label set): {exc}") from None
