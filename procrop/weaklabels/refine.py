"""ProCrop's weak-label refinement: keep diverse, standard-ratio proposals around the pseudo-label.

Used by the weak-label generator (proposals scored by the default cropper) and by weak-mode
training (online, with the model's own predictions). Boxes here are ``x1, y1, x2, y2`` pixels.

A proposal is kept when

1. its aspect ratio (long side / short side) is within 0.03 of 1, 5:4, 4:3, 7:5, 3:2 or 16:9 (then
   its far edge is moved so the ratio is exact, keeping the box's orientation);
2. it differs enough from every box already kept, pseudo-label included (``rule``):

   * ``"official"`` (the default, ProCrop's ``select_diverse``): its size difference
     ``|area_a - area_b| / (W H)`` *and* its position difference
     ``(|dx1| + |dx2|) / W + (|dy1| + |dy2|) / H`` from each kept box both exceed 0.2 (the
     official ``min(2 * size_difference + pos_difference) > 0.2`` concatenates two Python lists,
     so every one of the differences must exceed 0.2: a same-size shifted box is rejected), the
     boxes taken in file order (the labels already there, then the proposals), the score
     threshold applied to the survivors;
   * ``"sum"`` (procrop's earlier rule, by name): ``2 * size + position`` differences summed
     exceed 0.2, proposals taken best score first;

   ``W, H``: the augmentation crop's size when given (``norm_size``; training's online
   refinement passes it, as the official code does), else the image's;
3. it covers more than 80 % of the pseudo-label's area (``"official"``), and with ``"sum"`` also
   the pseudo-label covers more than 80 % of its area (the official check alone lets larger boxes
   through and rejects smaller ones, so refined labels drift larger than the frame; with a size
   difference above 0.2 of the image required as well, the official rule keeps only boxes much
   larger than the frame);
4. its score exceeds 2 (on the 0-10 scale: a model's sigmoid above 0.2).

The four best survivors follow the pseudo-label in the annotation file. Generated sets (format
``procrop-weak-2``) score the pseudo-label like the proposals, so scores are on one 0-10 scale and
the frame is among the boxes tied at the top when it scores best; files without a score read 5.0.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..data.records import PSEUDO_LABEL_SCORE
from ..files import atomic_write_text
from ..geometry import STANDARD_RATIOS, xywh_to_xyxy


def snap_standard_ratio(box: Sequence[float], width: float, height: float, tol: float = 0.03) -> tuple[float, float, float, float] | None:
    """Snap a box to the nearest standard ratio by moving its far edge, or ``None`` when its ratio
    is not within ``tol`` of one (or the snapped box leaves the image)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    if w <= 0 or h <= 0:
        return None
    ratio = max(w, h) / min(w, h)
    target = min(STANDARD_RATIOS, key=lambda r: abs(r - ratio))
    if abs(target - ratio) > tol:
        return None
    if w >= h:
        x2 = x1 + h * target
    else:
        y2 = y1 + w * target
    if x2 > width + 1e-6 or y2 > height + 1e-6:
        return None
    return x1, y1, x2, y2


def procrop_distance(a: Sequence[float], b: Sequence[float], width: float, height: float) -> float:
    """ProCrop's box distance (see the module docstring)."""
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    return (
        2 * abs(area_a - area_b) / (width * height)
        + (abs(a[0] - b[0]) + abs(a[2] - b[2])) / width
        + (abs(a[1] - b[1]) + abs(a[3] - b[3])) / height
    )


def coverage(box: Sequence[float], of: Sequence[float]) -> float:
    """Share of ``of``'s area inside ``box``."""
    iw = max(0.0, min(box[2], of[2]) - max(box[0], of[0]))
    ih = max(0.0, min(box[3], of[3]) - max(box[1], of[1]))
    return iw * ih / max((of[2] - of[0]) * (of[3] - of[1]), 1e-9)


#: The diversity rules of :func:`refine_labels` (see the module docstring).
RULES = ("official", "sum")


def official_diverse(a: Sequence[float], b: Sequence[float], width: float, height: float, bound: float) -> bool:
    """ProCrop's ``select_diverse`` test: size *and* position differences both above ``bound``."""
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    size = abs(area_a - area_b) / (width * height)
    position = (abs(a[0] - b[0]) + abs(a[2] - b[2])) / width + (abs(a[1] - b[1]) + abs(a[3] - b[3])) / height
    return size > bound and position > bound


def refine_labels(
    pseudo: Sequence[float],
    proposals: Iterable[tuple[Sequence[float], float]],
    width: float,
    height: float,
    keep: int = 4,
    min_score: float = 2.0,
    min_distance: float = 0.2,
    min_cover: float = 0.8,
    tol: float = 0.03,
    rule: str = "official",
    norm_size: tuple[float, float] | None = None,
    pseudo_score: float = PSEUDO_LABEL_SCORE,
) -> list[tuple[tuple[float, float, float, float], float]]:
    """The refined label list: the pseudo-label (``pseudo_score``: generated sets score it like the
    proposals; 5.0 for files without a score) then up to ``keep`` proposals (``rule`` and
    ``norm_size``: see the module docstring)."""
    if rule not in RULES:
        raise ValueError(f"unknown refinement rule {rule!r}; use one of {', '.join(RULES)}")
    nw, nh = norm_size or (width, height)
    chosen = [tuple(float(v) for v in pseudo)]
    survivors: list[tuple[tuple[float, float, float, float], float]] = []
    ordered = list(proposals) if rule == "official" else sorted(proposals, key=lambda p: -float(p[1]))
    for box, score in ordered:
        if rule == "sum" and (float(score) <= min_score or len(survivors) >= keep):
            continue
        clipped = (max(0.0, box[0]), max(0.0, box[1]), min(width, box[2]), min(height, box[3]))
        snapped = snap_standard_ratio(clipped, width, height, tol)
        if snapped is None:
            continue
        if coverage(snapped, pseudo) <= min_cover or (rule == "sum" and coverage(pseudo, snapped) <= min_cover):
            continue
        if rule == "sum" and any(procrop_distance(snapped, c, nw, nh) <= min_distance for c in chosen):
            continue
        if rule == "official" and not all(official_diverse(snapped, c, nw, nh, min_distance) for c in chosen):
            continue
        chosen.append(snapped)
        survivors.append((snapped, float(score)))
    if rule == "official":  # the threshold and the best ``keep`` after selection, as select_diverse's caller
        survivors = sorted((s for s in survivors if s[1] > min_score), key=lambda s: -s[1])[:keep]
    return [(tuple(float(v) for v in pseudo), float(pseudo_score))] + survivors  # type: ignore[list-item]


def format_annotation(rows: Sequence[tuple[Sequence[float], float]]) -> str:
    """Annotation file text: one ``y1 x1 y2 x2 score`` line per box (row-first, as ProCrop/GAICD)."""
    lines = []
    for (x1, y1, x2, y2), score in rows:
        lines.append(f"{y1:.1f} {x1:.1f} {y2:.1f} {x2:.1f} {score:.4f}")
    return "\n".join(lines) + "\n"


def update_annotation_file(
    path: str | os.PathLike,
    proposals: Iterable[tuple[Sequence[float], float]],
    width: float,
    height: float,
    source: str | os.PathLike | None = None,
    **kwargs: Any,
) -> bool:
    """Merge proposals into an annotation file (ProCrop's online refinement). The first line is the
    pseudo-label; earlier refined boxes compete with the new proposals. ``source``: the file to
    start from while ``path`` does not exist yet (a generated label file, never written; ``path``
    is created beside the run). Returns whether ``path`` changed: it is written only when a new
    proposal is kept, so a refinement that brings nothing new rewrites nothing."""
    from ..data.readers import read_row_first_txt

    target = Path(path)
    origin = target if target.exists() or source is None else Path(source)
    boxes, scores = read_row_first_txt(origin, default_score=PSEUDO_LABEL_SCORE)
    xyxy = xywh_to_xyxy(boxes)
    pseudo = xyxy[0]
    existing = [(xyxy[i], scores[i]) for i in range(1, len(xyxy)) if scores[i] != -2]
    rows = refine_labels(pseudo, list(existing) + list(proposals), width, height, pseudo_score=float(scores[0]),
                         **kwargs)  # type: ignore[arg-type]
    if not any(all(max(abs(a - b) for a, b in zip(box, old)) > 0.05 for old, _ in existing) for box, _ in rows[1:]):
        return False  # every kept box was there already: nothing new
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, format_annotation(rows))
    return True
