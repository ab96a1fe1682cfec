"""What a reference photo shows about composition, stored beside its database.

For every photo of a reference database, :func:`composition_stats` measures, from procrop's
analysis (:mod:`procrop.perception`):

* ``cx``, ``cy``: where the main subject's centre sits, as fractions of the frame (the subject: the
  people found, as one group, else the analysis's main subject, unless that is a minor salient
  region: :func:`subject_box`);
* ``fill``: how much of the frame the subject's box fills (its area over the frame's);
* ``left``, ``top``, ``right``, ``bottom``: the space around the subject (margins as fractions of
  the frame's width / height);
* ``horizon``: the horizon's height at the frame's centre, as a fraction of the height (only when
  the analysis found a clear one);
* ``aspect``: width / height of the frame.

:func:`crop_stats` measures the same quantities inside candidate crops of a query photo, so the
style term (:mod:`procrop.scoring.terms.style`) can compare each crop with the references.

The statistics live in ``DB/composition.json`` (``{"version": 1, "stats": {sha256: {...}}}``), a
sidecar keyed by the photo's content hash: shards and their checksums are untouched, a database
built before this file existed keeps working (the style term simply does not apply), and
``procrop index add DB PHOTOS`` with the same photos adds the file to it
(:func:`add_composition`, resumable: written every few photos).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_write_text
from ..perception.analysis import CompositionAnalysis
from ..perception.horizon_check import real_horizon
from .store import file_sha256, locked

#: The sidecar's file name inside a database folder.
SIDECAR = "composition.json"
#: A horizon less sure than this is not used.
MIN_HORIZON_CONFIDENCE = 0.3
#: An unnamed salient region is a photo's subject only when it holds at least this share of the
#: saliency map: below it, the first region is a corner of snow or a strip of grass (17 of the 424
#: photos of the shared pool whose first subject is such a region, nearly all of them no subject),
#: and following a reference's fill or place with it crops onto that spot.
MIN_SUBJECT_MASS = 0.2
#: Statistics that :func:`crop_stats` measures, in its columns' order.
COLUMNS = ("cx", "cy", "fill", "horizon")


def subject_box(analysis: CompositionAnalysis) -> tuple[float, float, float, float] | None:
    """The main subject's ``(x, y, w, h)`` (original pixels): the box around every person found
    (a group is one subject), else the analysis's first subject: a face, a detected object, or a
    salient region holding :data:`MIN_SUBJECT_MASS` of the saliency."""
    boxes = [tuple(float(v) for v in p.box) for p in analysis.people]
    first = analysis.subjects[0] if analysis.subjects else None
    major = first is not None and (first.kind != "salient" or first.label or first.mass >= MIN_SUBJECT_MASS)
    if not boxes and major:
        boxes = [tuple(float(v) for v in first.box)]
    if not boxes:
        return None
    x1, y1 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x2, y2 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return (x1, y1, x2 - x1, y2 - y1) if x2 > x1 and y2 > y1 else None


def horizon_height(analysis: CompositionAnalysis) -> float | None:
    """The horizon's height (pixels) at the frame's centre, or ``None`` without a clear one: a
    level divide the description would not call a horizon (a backdrop's edge, a collar, a row of
    bowls: :func:`~procrop.perception.horizon_check.real_horizon`) is none here either."""
    hz = analysis.horizon
    if hz is None or hz.confidence < MIN_HORIZON_CONFIDENCE or not real_horizon(analysis):
        return None
    return float(hz.y_at(analysis.width / 2, analysis.width))


def composition_stats(analysis: CompositionAnalysis) -> dict[str, float]:
    """The statistics of a whole photo (see the module docstring), rounded for storage."""
    W, H = float(analysis.width), float(analysis.height)
    out: dict[str, float] = {"aspect": round(W / H, 4)}
    box = subject_box(analysis)
    if box is not None:
        x, y, w, h = box
        out.update(cx=(x + w / 2) / W, cy=(y + h / 2) / H, fill=w * h / (W * H),
                   left=x / W, top=y / H, right=(W - x - w) / W, bottom=(H - y - h) / H)
    hy = horizon_height(analysis)
    if hy is not None and 0 <= hy <= H:
        out["horizon"] = hy / H
    return {k: round(float(v), 4) for k, v in out.items()}


def crop_stats(analysis: CompositionAnalysis, boxes: np.ndarray, horizon_outside: bool = False) -> np.ndarray:
    """``(N, 4)`` statistics :data:`COLUMNS` of ``(N, 4)`` ``xywh`` crops; NaN where a statistic
    does not exist (no subject, no horizon, a horizon outside the crop). With ``horizon_outside``
    a horizon above or below a crop keeps its height, below 0 or above 1 (how far a crop that
    leaves the horizon out is from one that shows it where a reference does)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.full((len(b), len(COLUMNS)), np.nan)
    w, h = np.maximum(b[:, 2], 1.0), np.maximum(b[:, 3], 1.0)
    box = subject_box(analysis)
    if box is not None:
        sx, sy, sw, sh = box
        out[:, 0] = (sx + sw / 2 - b[:, 0]) / w
        out[:, 1] = (sy + sh / 2 - b[:, 1]) / h
        iw = np.clip(np.minimum(sx + sw, b[:, 0] + w) - np.maximum(sx, b[:, 0]), 0, None)
        ih = np.clip(np.minimum(sy + sh, b[:, 1] + h) - np.maximum(sy, b[:, 1]), 0, None)
        out[:, 2] = iw * ih / (w * h)
    hy = horizon_height(analysis)
    if hy is not None:
        rel = (hy - b[:, 1]) / h
        out[:, 3] = rel if horizon_outside else np.where((rel >= 0) & (rel <= 1), rel, np.nan)
    return out


def read_composition(root: str | os.PathLike) -> dict[str, dict[str, float]]:
    """``sha256 -> statistics`` of a database's photos (empty when it has no sidecar).

    Raises:
        ValueError: naming the file when the sidecar is corrupt.
    """
    path = Path(root) / SIDECAR
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
        stats = data["stats"]
        if data.get("version") != 1 or not isinstance(stats, dict):
            raise ValueError("unknown layout")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: unreadable composition statistics ({exc})") from None
    return stats


def write_composition(root: str | os.PathLike, stats: dict[str, dict[str, float]]) -> None:
    """Merge ``stats`` into the sidecar, atomically, under the database's lock (so concurrent
    builds into one database keep each other's statistics)."""
    with locked(Path(root)):
        merged = {**read_composition(root), **stats}
        text = json.dumps({"version": 1, "stats": dict(sorted(merged.items()))}, indent=0)
        atomic_write_text(Path(root) / SIDECAR, text + "\n")


class CompositionRecorder:
    """Measures photos one at a time into a database's sidecar, which is rewritten when the new
    statistics reach ``every`` or a twentieth of those already stored (so a large build rewrites it
    a bounded number of times), and by :meth:`flush`.

    ``analyze`` defaults to procrop's default perception (:class:`~procrop.perception.analyzer.Analyzer`).
    """

    def __init__(self, root: str | os.PathLike, analyze: Callable[[str], CompositionAnalysis] | None = None,
                 every: int = 16) -> None:
        self.root = Path(root)
        self.have = read_composition(root)
        self.new: dict[str, dict[str, float]] = {}
        self.every = every
        self._analyze = analyze

    def has(self, sha: str) -> bool:
        """Whether the photo with content hash ``sha`` is measured already."""
        return sha in self.have or sha in self.new

    def measure(self, path: str, sha: str) -> str | None:
        """Measure one photo; returns the problem when it cannot be analysed (else ``None``)."""
        if self._analyze is None:
            from ..perception.analyzer import Analyzer

            self._analyze = Analyzer().analyze
        try:
            self.new[sha] = composition_stats(self._analyze(path))
        except Exception as exc:  # one bad photo must not stop the others
            return f"composition analysis failed: {exc}"
        if len(self.new) >= max(self.every, len(self.have) // 20):
            self.flush()
        return None

    def flush(self) -> None:
        """Write the new statistics into the sidecar."""
        if self.new:
            write_composition(self.root, self.new)
            self.have.update(self.new)
            self.new = {}


def add_composition(
    root: str | os.PathLike,
    paths: list[str],
    hashes: set[str],
    analyze: Callable[[str], CompositionAnalysis] | None = None,
    progress: Callable[[int, int], None] | None = None,
    every: int = 16,
) -> list[tuple[str, str]]:
    """Measure the photos among ``paths`` whose content (sha256) is in ``hashes`` (the database's)
    and not yet in the sidecar, and store their statistics; returns ``(path, problem)`` for the
    photos that could not be analysed. ``progress`` gets ``(photos measured, photos to measure)``.

    ``analyze`` defaults to procrop's default perception (:class:`~procrop.perception.analyzer.Analyzer`).
    """
    recorder = CompositionRecorder(root, analyze, every)
    todo: dict[str, str] = {}
    for p in paths:
        try:
            sha = file_sha256(p)
        except OSError:
            continue  # the build lists unreadable files already
        if sha in hashes and not recorder.has(sha) and sha not in todo:
            todo[sha] = p
    failed: list[tuple[str, str]] = []
    for n, (sha, p) in enumerate(todo.items(), 1):
        problem = recorder.measure(p, sha)
        if problem:
            failed.append((p, problem))
        if progress:
            progress(n, len(todo))
    recorder.flush()
    return failed


def item_stats(items: list[dict[str, Any]], stats: dict[str, dict[str, float]]) -> list[dict[str, float] | None]:
    """The statistics of each database item (aligned with ``items``; ``None`` where unknown)."""
    return [stats.get(str(it.get("sha256", ""))) for it in items]
