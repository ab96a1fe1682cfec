"""Keeping a training run's progress: saves on a signal and on a clock, the best checkpoint, the logs.

Owns what :class:`~procrop.training.paper.trainer.Trainer` needs so that no hour of training is lost:

* :class:`InterruptGuard`: SIGINT (Ctrl-C) and SIGTERM ask the run to stop; the trainer finishes the
  step under way, saves ``last.pt`` and raises :class:`TrainingInterrupted`, which names the
  checkpoint and the command that continues it. A second signal stops at once, without saving.
* :class:`SaveClock`: ``last.pt`` is also saved every ``train.checkpoint_minutes`` minutes of
  training, whatever ``train.checkpoint_every`` (steps) says.
* :class:`BestKeeper`: after each evaluation the checkpoint just evaluated is kept as ``best.pt``
  when its score (``train.select_metric``, signed so that higher is better; by default SRCC on
  the candidate benchmarks, IoU@1 on the others) beats every earlier one; ``best.json`` beside it
  records the step, epoch, metric, score and every metric of that evaluation.
* :func:`append_metrics`: ``metrics.jsonl`` and the CSV logs;
* :func:`prune_step_checkpoints`: only the newest ``train.keep_checkpoints`` of ``step-N.pt``;
* :func:`seed_everything`: Python's, numpy's and torch's generators from one seed.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from ...errors import ProcropError, UsageError
from ...evaluation.selection import SELECTION_KEYS
from ...files import atomic_write_text

#: Columns of ``metrics.csv`` (training steps); evaluations go to ``eval.csv``.
CSV_COLUMNS = ("step", "epoch", "lr", "loss", "set", "cls", "l1", "giou", "rank", "refined")
#: Benchmarks whose protocol ranks annotated candidates (selected on SRCC by default).
CANDIDATE_BENCHMARKS = ("gaicd-v1", "gaicd-v2", "cpc")


class TrainingInterrupted(ProcropError):
    """A signal stopped training after ``last.pt`` was saved.

    Attributes:
        checkpoint: the checkpoint written (``None`` on the ranks that do not write).
        step: the steps done.
    """

    def __init__(self, checkpoint: str | Path | None, step: int, total: int, hint: str | None = None) -> None:
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.step = step
        self.total = total
        super().__init__(
            f"interrupted at step {step} of {total}: progress saved in {self.checkpoint}; "
            + (hint or f"continue with --resume {self.checkpoint}")
        )


class PreparationInterrupted(TrainingInterrupted):
    """A signal stopped training before its first step, while it cached the conditioning of its
    images: what is cached stays, and a re-run continues from there."""

    def __init__(self, done: int, total: int) -> None:
        self.checkpoint, self.step, self.total = None, 0, total
        ProcropError.__init__(self, f"interrupted while caching the conditioning of the training images "
                                    f"({done} of {total} cached): run the same command again to continue")


class InterruptGuard:
    """While active, SIGINT and SIGTERM set :attr:`requested` instead of stopping the process.

    A second signal raises :class:`KeyboardInterrupt` at once. Outside the main thread (where
    Python cannot install handlers) the guard does nothing. On leaving, however the run ended
    (finished, interrupted, failed), the handlers from before are put back, every one even if
    another cannot be; a handler that was not installed from Python (``signal.getsignal`` gives
    ``None``) comes back as Python's default, so Ctrl-C stops the process again. Entering the same
    guard again while it is active nests: the outermost exit restores.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, quiet: bool = False) -> None:
        self.requested = False
        self.quiet = quiet
        self._previous: dict[int, Any] = {}
        self._depth = 0

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if not self.quiet:
            # the step under way, or the image whose conditioning is being cached before the first step
            print(f"\n{signal.Signals(signum).name}: stopping after the step or image under way, its "
                  "progress kept (signal again to stop now without saving)", file=sys.stderr, flush=True)

    def __enter__(self) -> InterruptGuard:
        if self._depth == 0:
            self.requested = False
            if threading.current_thread() is threading.main_thread():
                try:
                    for s in self.SIGNALS:
                        self._previous[s] = signal.signal(s, self._handle)
                except BaseException:
                    self._restore()
                    raise
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._restore()

    def _restore(self) -> None:
        """Put back the handlers this guard replaced."""
        previous, self._previous = self._previous, {}
        for s, handler in previous.items():
            default = signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL
            for h in (default if handler is None else handler, default):  # None: installed outside Python
                try:
                    signal.signal(s, h)
                    break
                except (TypeError, ValueError, OSError):  # the default, then the next signal all the same
                    continue


class SaveClock:
    """Time-based saving: :meth:`due` once ``minutes`` have passed since the last :meth:`reset`
    (never when ``minutes`` is 0)."""

    def __init__(self, minutes: float) -> None:
        if minutes < 0:
            raise UsageError(f"train.checkpoint_minutes must be 0 (off) or positive, not {minutes}")
        self.seconds = minutes * 60.0
        self.reset()

    def reset(self) -> None:
        self.last = time.monotonic()

    def due(self) -> bool:
        return self.seconds > 0 and time.monotonic() - self.last >= self.seconds


def selection_key(benchmark: str, configured: str = "") -> str:
    """The metric ``best.pt`` is selected on: ``configured``, else SRCC for the candidate
    benchmarks (GAICD, CPC) and IoU@1 for the box benchmarks."""
    key = configured or ("SRCC" if benchmark in CANDIDATE_BENCHMARKS else "IoU@1")
    if key not in SELECTION_KEYS:
        raise UsageError(f"train.select_metric {key!r} not supported; use one of {', '.join(SELECTION_KEYS)}")
    return key


class BestKeeper:
    """Keeps ``best.pt`` (and ``best.json``) in ``out``: the best-scoring evaluated checkpoint."""

    def __init__(self, out: Path, key: str) -> None:
        self.out = Path(out)
        self.key = key
        self.best: dict[str, Any] | None = None

    def consider(self, evaluated: Path, metrics: dict[str, float], step: int, epoch: int) -> bool:
        """Keep ``evaluated`` as ``best.pt`` when its score beats the best so far; returns whether it did.

        Raises:
            ProcropError: the evaluation has no value of the selection metric (nothing evaluated).
        """
        value = metrics.get(self.key)
        if value is None or value != value:  # missing or NaN
            raise ProcropError(f"evaluation at step {step} gave no {self.key} (no image evaluated?); "
                               f"metrics: {', '.join(metrics) or 'none'}")
        score = SELECTION_KEYS[self.key] * float(value)
        if self.best is not None and score <= self.best["score"]:
            return False
        target = self.out / "best.pt"
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(evaluated, tmp)
        os.replace(tmp, target)
        self.best = {"checkpoint": str(target), "step": step, "epoch": epoch, "metric": self.key,
                     "score": score, "value": float(value), "metrics": dict(metrics)}
        atomic_write_text(self.out / "best.json", json.dumps(self.best, indent=1) + "\n")
        return True

    def state(self) -> dict[str, Any] | None:
        """What a checkpoint records (the best so far), for :meth:`restore` on resume."""
        return None if self.best is None else dict(self.best)

    def restore(self, state: dict[str, Any] | None) -> None:
        if state and state.get("metric") == self.key:
            self.best = dict(state)


def append_metrics(out: Path, logs: dict[str, float]) -> None:
    """Append to ``metrics.jsonl`` (everything) and ``metrics.csv`` / ``eval.csv`` (fixed
    columns: training steps, and evaluations)."""
    with open(out / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(logs) + "\n")
    is_eval = any(k.startswith("eval/") for k in logs)
    keys = sorted(logs) if is_eval else list(CSV_COLUMNS)
    csv_path = out / ("eval.csv" if is_eval else "metrics.csv")
    new = not csv_path.exists()
    with open(csv_path, "a", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(keys)
        w.writerow([logs.get(k, "") for k in keys])


def prune_step_checkpoints(out: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` ``step-N.pt`` of the run folder ``out`` (``keep`` 0: none
    removed): a long run saved one every ``train.checkpoint_every`` steps, each the whole network,
    until the disk filled. Returns the removed files."""
    numbered = [(int(p.stem[5:]), p) for p in out.glob("step-*.pt") if p.stem[5:].isdigit()]
    old = [p for _, p in sorted(numbered)[:-keep]] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
    return old


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators (a run's start)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
