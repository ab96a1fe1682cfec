"""Candidate crops for one judging sheet: the real decisions an editor makes.

For one photo and one ratio, :func:`candidate_pool` gathers the boxes of every method worth
comparing (the learned default, the classic scorer, smartcrop.py, libvips attention), the
largest box of the ratio at three positions, tighter crops around the subjects and, for
``free``, the uncropped photo. :func:`pick_sheet` then chooses the four a judge sees: methods
first (all four on validation sheets, a random two or three on training sheets), the rest from
the fillers, never two boxes with IoU >= 0.9 (a near-duplicate joins the sources of the box it
duplicates, so the key says every method a shown box stands for).

Boxes are ``(x, y, w, h)`` in pixels of the oriented original photo.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from ..geometry import AspectRatio, iou, largest_size

Box = tuple[int, int, int, int]

#: The methods whose own crop a sheet compares, in the order validation sheets show them first.
METHODS = ("learned", "classic", "smartcrop", "vips-attention")
#: Near-duplicate threshold: a box this close to one already on the sheet is not shown twice.
DUPLICATE_IOU = 0.9
SHEET_SIZE = 4
#: Subject crops smaller than this share of the photo are not offered (added after the first
#: collection: sheets made before it may hold smaller ones).
MIN_SUBJECT_AREA = 0.15


@dataclass
class Candidate:
    """A box and every source that proposed it (``"learned"``, ``"largest-centre"``...)."""

    box: Box
    sources: list[str] = field(default_factory=list)


def _clamp_box(x: float, y: float, w: float, h: float, W: int, H: int) -> Box:
    w, h = int(round(min(w, W))), int(round(min(h, H)))
    x = int(round(min(max(x, 0), W - w)))
    y = int(round(min(max(y, 0), H - h)))
    return x, y, max(1, w), max(1, h)


def largest_positions(W: int, H: int, ratio: float) -> list[tuple[str, Box]]:
    """The largest box of ``ratio`` at the start, centre and end of the axis it can slide along."""
    w, h = largest_size(W, H, ratio)
    if W - w >= H - h:  # slides horizontally
        spots = [("largest-left", 0), ("largest-centre", (W - w) / 2), ("largest-right", W - w)]
        return [(name, _clamp_box(x, (H - h) / 2, w, h, W, H)) for name, x in spots]
    spots = [("largest-top", 0), ("largest-centre", (H - h) / 2), ("largest-bottom", H - h)]
    return [(name, _clamp_box((W - w) / 2, y, w, h, W, H)) for name, y in spots]


def subject_crops(subjects: list[Box], W: int, H: int, ratio: float | None) -> list[tuple[str, Box]]:
    """Tighter crops around the union of the subjects: margins of 1.4x and 2x the union, grown to
    ``ratio`` (``None``: the photo's own aspect), centred on the union and kept inside the photo.
    Crops that would not be smaller than 85 % of the photo are left out (the largest boxes cover
    them), and so are crops under :data:`MIN_SUBJECT_AREA` of it (a tiny, blown-up crop teaches a
    scorer nothing: procrop never proposes one)."""
    if not subjects:
        return []
    a = np.array(subjects, dtype=float)
    x0, y0 = a[:, 0].min(), a[:, 1].min()
    x1, y1 = (a[:, 0] + a[:, 2]).max(), (a[:, 1] + a[:, 3]).max()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    r = ratio if ratio else W / H
    out = []
    for name, margin in (("subject-tight", 1.4), ("subject-wide", 2.0)):
        w, h = (x1 - x0) * margin, (y1 - y0) * margin
        w, h = max(w, h * r), max(h, w / r)
        if w > W or h > H:  # the ratio cannot hold it at this margin: shrink to the largest
            k = min(W / w, H / h)
            w, h = w * k, h * k
        box = _clamp_box(cx - w / 2, cy - h / 2, w, h, W, H)
        if MIN_SUBJECT_AREA * W * H <= box[2] * box[3] < 0.85 * W * H:
            out.append((name, box))
    return out


def candidate_pool(
    W: int,
    H: int,
    ratio: AspectRatio,
    method_boxes: dict[str, list[Box]],
    subjects: list[Box],
) -> list[tuple[str, Box]]:
    """Every candidate for one (photo, ratio) as ``(source, box)``: each method's boxes under its
    name (its best first; a second best is named ``"<method>-2"``), then the fillers."""
    pool: list[tuple[str, Box]] = []
    for method, boxes in method_boxes.items():
        for i, b in enumerate(boxes):
            pool.append((method if i == 0 else f"{method}-{i + 1}", tuple(int(v) for v in b)))  # type: ignore[misc]
    if ratio.is_free:
        pool.append(("original", (0, 0, W, H)))
        w, h = round(W * 0.8), round(H * 0.8)
        pool.append(("centre-80", _clamp_box((W - w) / 2, (H - h) / 2, w, h, W, H)))
        w, h = round(W * 0.65), round(H * 0.65)
        pool.append(("centre-65", _clamp_box((W - w) / 2, (H - h) / 2, w, h, W, H)))
        for name, r in (("largest-4:3", 4 / 3), ("largest-3:4", 3 / 4)):
            lw, lh = largest_size(W, H, r)
            if lw * lh < 0.9 * W * H:
                pool.append((name, _clamp_box((W - lw) / 2, (H - lh) / 2, lw, lh, W, H)))
        pool.extend(subject_crops(subjects, W, H, None))
    else:
        r = ratio.resolve(W, H).value
        pool.extend(largest_positions(W, H, r))
        pool.extend(subject_crops(subjects, W, H, r))
    return pool


def pick_sheet(pool: list[tuple[str, Box]], validation: bool, rng: random.Random) -> list[Candidate]:
    """Four candidates for a sheet, in a random display order.

    Validation sheets put the four methods' own crops (and, for ``free``, the original) first so
    every method is compared on every sheet; training sheets take a random two or three of them and
    fill the rest with the largest boxes, subject crops and second bests, so the data covers the
    decisions the search makes. Near-duplicates (IoU >= 0.9) merge into the box already chosen.
    """
    primary = [p for p in pool if p[0] in METHODS or p[0] == "original"]
    others = [p for p in pool if p not in primary]
    rng.shuffle(others)
    if validation:
        order = sorted(primary, key=lambda p: (p[0] != "original", METHODS.index(p[0]) if p[0] in METHODS else 0))
        order += others
    else:
        rng.shuffle(primary)
        k = rng.choice((2, 3))
        order = primary[:k] + others + primary[k:]
    chosen: list[Candidate] = []
    for source, box in order:
        dup = next((c for c in chosen if iou(np.array(c.box), np.array(box)) >= DUPLICATE_IOU), None)
        if dup is not None:
            dup.sources.append(source)
        elif len(chosen) < SHEET_SIZE:
            chosen.append(Candidate(box, [source]))
    rng.shuffle(chosen)
    return chosen
