"""Keys, judges' answers and the preference records made of them (``docs/judging.md``).

* A **key** says what a sheet shows: ``{"sheet", "photo", "split", "ratio", "size", "boxes",
  "sources"}``; boxes in label order (label 1 first), ``(x, y, w, h)`` in original pixels.
* An **answer** is a judge's line: ``{"sheet", "ranking": [labels, best first], "reason"}``.
* A **record** is a key joined with one answer: ``ranking`` becomes indices into ``boxes`` (best
  first), plus ``reason``, ``judge`` and ``brief``.

Pairs for training and measurement come from records: :func:`record_pairs` (one judge) and
:func:`majority_pairs` (several judges of one sheet; only pairs a strict majority agrees on).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError

#: The version of the brief in ``docs/judging.md`` that answers written now follow.
BRIEF_VERSION = "judging-v1"


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file (blank lines skipped; a missing file is empty)."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UsageError(f"{p}:{n}: not a JSON line ({exc.msg})") from None
    return out


def append_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Append records as JSON lines (flushed and fsynced); returns how many were written."""
    import os

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with p.open("a", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, separators=(", ", ": ")) + "\n")
            n += 1
        fh.flush()
        os.fsync(fh.fileno())
    return n


@dataclass(frozen=True)
class MergeReport:
    """What :func:`merge_answers` did: records added, duplicates skipped, and bad lines."""

    added: int
    skipped: int
    problems: list[str]


def answer_to_record(key: dict[str, Any], answer: dict[str, Any], judge: str, brief: str) -> dict[str, Any]:
    """Join one answer with its sheet's key.

    Raises:
        ValueError: the ranking is not a permutation of the sheet's labels.
    """
    labels = answer.get("ranking")
    n = len(key["boxes"])
    if not isinstance(labels, list) or sorted(int(v) for v in labels) != list(range(1, n + 1)):
        raise ValueError(f"ranking {labels!r} is not an order of the labels 1..{n}")
    record = {k: key[k] for k in ("sheet", "photo", "split", "ratio", "size", "boxes", "sources")}
    record.update({k: key[k] for k in ("round", "learned_model") if k in key})
    record.update(
        ranking=[int(v) - 1 for v in labels],
        reason=str(answer.get("reason", "")).strip(),
        judge=judge,
        brief=brief,
    )
    return record


def merge_answers(
    answers_file: str | Path, keys: dict[str, dict[str, Any]], data_dir: str | Path, brief: str = BRIEF_VERSION,
    batches: dict[str, list[str]] | None = None,
) -> MergeReport:
    """Join a judge's answers with the keys and append the records to ``data_dir/<split>.jsonl``.

    The judge is the file's stem. Idempotent: a (sheet, judge) pair already recorded is skipped,
    so the same file can be merged again after more lines arrive. Lines that are not a JSON
    object, unknown sheets, sheets outside the judge's batch (when ``batches`` names the judge),
    bad rankings, answers without a reason and a second, different answer to one sheet are
    reported in ``problems`` and not merged."""
    path = Path(answers_file)
    judge = path.stem
    answers: list[dict[str, Any]] = []
    problems: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            a = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"{path.name}:{n}: not a JSON line (skipped; a line still being written is merged later)")
            continue
        if not isinstance(a, dict):
            problems.append(f"{path.name}:{n}: not a JSON object")
            continue
        answers.append(a)
    allowed = set(batches[judge]) if batches and judge in batches else None
    data = Path(data_dir)
    seen: dict[str, dict[tuple[str, str], list[int]]] = {}
    new: dict[str, list[dict[str, Any]]] = defaultdict(list)
    skipped = 0
    for a in answers:
        sheet = str(a.get("sheet", "")).removesuffix(".jpg").removesuffix(".png")
        key = keys.get(sheet)
        if key is None:
            problems.append(f"{path.name}: unknown sheet {sheet!r}")
            continue
        if allowed is not None and sheet not in allowed:
            problems.append(f"{path.name}: sheet {sheet} is not in batch {judge}")
            continue
        split = key["split"]
        if split not in seen:
            seen[split] = {(r["sheet"], r["judge"]): r["ranking"] for r in read_jsonl(data / f"{split}.jsonl")}
        try:
            record = answer_to_record(key, a, judge, str(a.get("brief", brief)))
        except ValueError as exc:
            problems.append(f"{path.name}: sheet {sheet}: {exc}")
            continue
        if (sheet, judge) in seen[split]:
            if seen[split][(sheet, judge)] != record["ranking"]:
                problems.append(f"{path.name}: sheet {sheet} answered again differently (the first answer is kept)")
            skipped += 1
            continue
        if not record["reason"]:
            problems.append(f"{path.name}: sheet {sheet}: no reason given")
            continue
        seen[split][(sheet, judge)] = record["ranking"]
        new[split].append(record)
    added = sum(append_jsonl(data / f"{split}.jsonl", recs) for split, recs in new.items())
    return MergeReport(added, skipped, problems)


def load_keys(keys_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Every key in ``keys_dir/*.jsonl``, by sheet id."""
    keys: dict[str, dict[str, Any]] = {}
    for f in sorted(Path(keys_dir).glob("*.jsonl")):
        for k in read_jsonl(f):
            keys[k["sheet"]] = k
    return keys


def record_pairs(record: dict[str, Any]) -> Iterator[tuple[int, int]]:
    """``(better, worse)`` index pairs of one judged sheet (every pair its ranking orders)."""
    order = record["ranking"]
    for a in range(len(order)):
        for b in range(a + 1, len(order)):
            yield order[a], order[b]


def group_by_sheet(records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records grouped by sheet id, one per judge (a judge's later answer to a sheet is ignored)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    judges: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if r["judge"] not in judges[r["sheet"]]:
            judges[r["sheet"]].add(r["judge"])
            groups[r["sheet"]].append(r)
    return dict(groups)


def pair_votes(records: list[dict[str, Any]]) -> dict[tuple[int, int], int]:
    """Over one sheet's judges: for each pair ``(i, j)`` with ``i < j``, the judges who put ``i``
    above ``j`` minus those who put ``j`` above ``i``."""
    votes: dict[tuple[int, int], int] = defaultdict(int)
    for r in records:
        for better, worse in record_pairs(r):
            i, j = min(better, worse), max(better, worse)
            votes[(i, j)] += 1 if better == i else -1
    return dict(votes)


def majority_pairs(records: list[dict[str, Any]], min_judges: int = 1) -> list[tuple[int, int, float]]:
    """``(better, worse, margin)`` for the pairs a strict majority of one sheet's judges agree on;
    ``margin`` is the share of judges in the majority (1.0: unanimous). Sheets judged by fewer
    than ``min_judges`` give none."""
    if len(records) < min_judges:
        return []
    n = len(records)
    out = []
    for (i, j), v in sorted(pair_votes(records).items()):
        if v != 0:
            out.append((i, j, (n + abs(v)) / (2 * n)) if v > 0 else (j, i, (n + abs(v)) / (2 * n)))
    return out
