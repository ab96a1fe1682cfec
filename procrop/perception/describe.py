"""Plain-language text from the analysis: a description of the photo's composition.

:func:`describe` is procrop's offline stand-in for ProCrop's image caption (BLIP/GPT in the
paper): a few sentences on the format, the subjects and where they sit, faces, the horizon,
dominant lines, visual balance and colour, generated only from what
:func:`procrop.perception.analysis.analyze` measured. The neural model later encodes this text as tokens.

Places follow one rule, the thirds of the frame (:mod:`procrop.perception.describe_words`: "in
the upper third", "on the left thirds line", never "at the top" for a point inside the frame).
Why a crop won is told by :func:`procrop.scoring.explain.explain_crop`, from the same vocabulary.
"""

from __future__ import annotations

import math

import numpy as np

from .analysis import CONFIDENT, CompositionAnalysis, Region
from .detectors import Detection
from .describe_words import (PEOPLE, count_words, detection_name, format_words, listing, number_word,
                             place_words, position_words, size_words, third_words)
from .horizon_check import real_horizon

__all__ = ["describe", "detection_name", "is_part", "position_words", "third_words"]


def _named(a: CompositionAnalysis) -> list[Detection]:
    """The detections a description names: the confident ones when there are any (a weak second
    "bird" on an empty branch is left out), else all."""
    found = a.subjects_to_keep
    sure = [d for d in found if d.score >= CONFIDENT]
    return sure or found


def _subject_sentence(a: CompositionAnalysis, s: Region, name: str = "region") -> str:
    u, v = s.centroid[0] / a.width, s.centroid[1] / a.height
    share = (s.box[2] * s.box[3]) / (a.width * a.height)
    colour = f" {s.colour}" if s.colour and name not in PEOPLE else ""
    where = place_words(u, v)
    return (
        f"The main subject, a {size_words(share)}{colour} {name}, sits {where}"
        f" (about {round(100 * share)}% of the frame)."
    )


#: A detection names a salient region with a mask when this share of the mask lies in its box.
MASK_NAMED = 0.5


def _detection_at(a: CompositionAnalysis, s: Region) -> Detection | None:
    """The detected person, animal or object a salient region is: for a region with a mask (the
    salient-object head's), the detection whose box holds most of the mask (at least
    :data:`MASK_NAMED`), so that a region is never called a person unless it mostly is one; for a
    hand-cue blob, the detection holding its centroid."""
    if s.mask is not None:
        mh, mw = s.mask.shape
        total = float(s.mask.sum()) or 1.0
        best, found = MASK_NAMED, None
        for d in _named(a):
            x, y, w, h = d.box
            x0, y0 = int(x * mw / a.width), int(y * mh / a.height)
            x1, y1 = int(np.ceil((x + w) * mw / a.width)), int(np.ceil((y + h) * mh / a.height))
            share = float(s.mask[max(0, y0):y1, max(0, x0):x1].sum()) / total
            if share >= best:
                best, found = share, d
        return found
    cx, cy = s.centroid
    for d in _named(a):
        x, y, w, h = d.box
        if x <= cx <= x + w and y <= cy <= y + h:
            return d
    return None


#: A salient region smaller than this share of the detection it lies in is called a part of it
#: ("a small part of the bird"), not the detection itself, unless it spans at least
#: :data:`WHOLE_SPAN` of the detection's width and height (a slim heron's body in the box its
#: neck and legs widen is the heron).
PART_OF = 0.5
WHOLE_SPAN = 0.6


def is_part(s: Region, d: Detection) -> bool:
    """Whether salient region ``s`` is only a part of detection ``d`` (a collar, a hand, a tie)."""
    dw, dh = max(d.box[2], 1e-9), max(d.box[3], 1e-9)
    if s.box[2] * s.box[3] >= PART_OF * dw * dh:
        return False
    return not (s.box[2] >= WHOLE_SPAN * dw and s.box[3] >= WHOLE_SPAN * dh)


def _extent(a: CompositionAnalysis, s: Region, d: Detection | None) -> tuple[float, float, float]:
    """A region's share of the frame and its centre ``(u, v)`` as fractions: from its mask (the
    part inside the detection that names it, so a bird merged with its branch is placed and sized
    as the bird), else from its box."""
    if s.mask is None or not s.mask.any():
        return (s.box[2] * s.box[3] / (a.width * a.height), s.centroid[0] / a.width, s.centroid[1] / a.height)
    m = s.mask
    if d is not None:
        mh, mw = m.shape
        x, y, w, h = d.box
        inside = np.zeros_like(m)
        inside[max(0, int(y * mh / a.height)):int(np.ceil((y + h) * mh / a.height)),
               max(0, int(x * mw / a.width)):int(np.ceil((x + w) * mw / a.width))] = True
        if (m & inside).any():
            m = m & inside
    rows, cols = np.nonzero(m)
    return float(m.mean()), (float(cols.mean()) + 0.5) / m.shape[1], (float(rows.mean()) + 0.5) / m.shape[0]


def _mask_subject_sentence(a: CompositionAnalysis, s: Region, found: Detection | None) -> str:
    """A salient object from the head, by its detector class ("The main subject, a small red
    frisbee, sits ...", sized and placed by its mask inside the detection; "a small part of the
    bird" when the region is only a part of it: :func:`is_part`) or else by size, place and
    colour: "The main subject, small and orange, sits on the left thirds line (about 4% of the
    frame)."."""
    share, u, v = _extent(a, s, found)
    where = place_words(u, v)
    pct = max(1, round(100 * share))
    if found is not None:
        name = detection_name(found)
        colour = f" {s.colour}" if s.colour and name not in PEOPLE else ""
        if is_part(s, found):
            return f"The main subject, a {size_words(share)} part of the {name}, sits {where} (about {pct}% of the frame)."
        return f"The main subject, a {size_words(share)}{colour} {name}, sits {where} (about {pct}% of the frame)."
    what = f"{size_words(share)}{' and ' + s.colour if s.colour else ''}"
    return f"The main subject, {what}, sits {where} (about {pct}% of the frame)."


def describe(a: CompositionAnalysis) -> str:
    """A short, factual description of the composition found by the analysis."""
    parts = [format_words(a.width, a.height) + "."]
    parts += _detected_sentences(a)
    parts += _face_sentences(a)
    parts += _subject_sentences(a)
    parts += _band_sentences(a)
    parts += _horizon_sentences(a)
    parts += _line_sentences(a)
    parts.append(_balance_sentence(a))
    parts.append(_colour_sentence(a))
    return " ".join(p for p in parts if p)


def _detected_sentences(a: CompositionAnalysis) -> list[str]:
    """What the detectors found, named: "Two people and a dog, in the left third (about 30% of the frame)."."""
    found = _named(a)
    if not found:
        return []
    counts: dict[str, int] = {}
    for d in found:
        counts[detection_name(d)] = counts.get(detection_name(d), 0) + 1
    listed = listing([count_words(n, label) for label, n in list(counts.items())[:3]])
    x0 = min(d.box[0] for d in found)
    y0 = min(d.box[1] for d in found)
    x1 = max(d.box[0] + d.box[2] for d in found)
    y1 = max(d.box[1] + d.box[3] for d in found)
    where = position_words((x0 + x1) / 2 / a.width, (y0 + y1) / 2 / a.height)
    share = (x1 - x0) * (y1 - y0) / (a.width * a.height)
    return [f"{listed[0].upper()}{listed[1:]}, {where} (about {round(100 * share)}% of the frame)."]


#: A face of a detected person at least this share of the frame (YuNet's box: brow to chin) makes
#: a portrait, at least :data:`CLOSE_UP` a close-up portrait (head and shoulders), and at least
#: :data:`FILLS_FRAME` (whoever it belongs to) a close-up portrait with the face filling the frame.
PORTRAIT = 0.05
CLOSE_UP = 0.09
FILLS_FRAME = 0.2


def _in_person(a: CompositionAnalysis, f: Detection) -> bool:
    """Whether a face's centre lies in a confidently detected person (a carved face on a totem
    pole, in a 0.54 "person", makes no portrait)."""
    cx, cy = f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2
    return any(p.label == "person" and p.score >= CONFIDENT and p.box[0] <= cx <= p.box[0] + p.box[2]
               and p.box[1] <= cy <= p.box[1] + p.box[3] for p in a.people)


def _face_sentences(a: CompositionAnalysis) -> list[str]:
    """How many faces, how large and where; a large face of a detected person is a portrait
    ("A close-up portrait: the face fills the frame, on the upper thirds line.")."""
    faces = a.faces
    if not faces:
        return []
    big = max(faces, key=lambda f: f.box[2] * f.box[3])
    u = (big.box[0] + big.box[2] / 2) / a.width
    v = (big.box[1] + big.box[3] / 2) / a.height
    share = (big.box[2] * big.box[3]) / (a.width * a.height)
    profile = " in profile" if big.kind == "profile" else ""
    if len(faces) == 1:
        where = place_words(u, v)
        if share >= FILLS_FRAME:
            return [f"A close-up portrait: the face{profile} fills the frame, {where}."]
        if share >= PORTRAIT and _in_person(a, big):
            kind = "A close-up portrait: one large" if share >= CLOSE_UP else "A portrait: one"
            return [f"{kind} face{profile} {where}."]
        return [f"One {size_words(share * 4)} face{profile} {where}."]
    us = [(f.box[0] + f.box[2] / 2) / a.width for f in faces]
    vs = [(f.box[1] + f.box[3] / 2) / a.height for f in faces]
    where = position_words(float(np.mean(us)), float(np.mean(vs)))
    spread = "spread across the frame" if max(us) - min(us) > 0.4 else where
    largest = position_words(u, v)
    # the largest face's place only when it says more than the faces' place
    also = "" if largest == spread else f"; the largest {largest}"
    n = number_word(len(faces))
    if share >= PORTRAIT and all(_in_person(a, f) for f in faces):  # not lanterns read as faces
        kind = "A close-up portrait" if share >= CLOSE_UP else "A portrait"
        return [f"{kind} of {n} people: their faces {spread}{also}."]
    return [f"{n[0].upper()}{n[1:]} faces, {spread}{also}."]


def _part_of_person(a: CompositionAnalysis, s: Region) -> bool:
    """A salient region from the head that is only a part of a detected person (a collar, a
    hand): the person, not the part, is the subject."""
    found = _detection_at(a, s) if s.mask is not None else None
    return found is not None and found.kind == "person" and is_part(s, found)


def _subject_sentences(a: CompositionAnalysis) -> list[str]:
    """The main salient subject (and a strong second one), or that none stands out. A part of a
    detected person is never the main subject (the person and face sentences name it)."""
    salient = [s for s in a.compact_subjects if not _part_of_person(a, s)]
    if not salient:
        if a.faces or a.subjects_to_keep:
            return []
        return ["No single subject stands out; interest is spread over the frame."]
    found = _detection_at(a, salient[0])
    label = detection_name(found) if found is not None else None
    if salient[0].mask is not None:
        parts = [_mask_subject_sentence(a, salient[0], found)]
    elif label is None and a.subjects_to_keep:
        return []  # the detected people, animals or objects are the subject, not a colour blob
    else:
        parts = [_subject_sentence(a, salient[0], label or "region")]
    if len(salient) > 1 and salient[1].mass > 0.15:
        s2 = salient[1]
        parts.append(
            f"A second {s2.colour + ' ' if s2.colour else ''}region stands out "
            f"{position_words(s2.centroid[0] / a.width, s2.centroid[1] / a.height)}."
        )
    return parts


def _share_in(a: CompositionAnalysis, s: Region, box: tuple[float, float, float, float]) -> float:
    """The share of a region (its mask, else its box) that lies inside ``box``."""
    x, y, w, h = box
    if s.mask is not None and s.mask.any():
        mh, mw = s.mask.shape
        inside = s.mask[max(0, int(y * mh / a.height)):int(np.ceil((y + h) * mh / a.height)),
                        max(0, int(x * mw / a.width)):int(np.ceil((x + w) * mw / a.width))]
        return float(inside.sum()) / float(s.mask.sum())
    bx, by, bw, bh = s.box
    iw = max(0.0, min(bx + bw, x + w) - max(bx, x))
    ih = max(0.0, min(by + bh, y + h) - max(by, y))
    return iw * ih / max(bw * bh, 1e-9)


def _band_sentences(a: CompositionAnalysis) -> list[str]:
    """A salient band across or down the frame (sea, a road, a tree line); a band that mostly lies
    in a detected person, animal or object is that subject (a portrait's body, a giraffe's neck),
    not a band."""
    parts = []
    detected = list(a.people) + list(a.objects)
    bands = [b for b in a.bands if not any(_share_in(a, b, d.box) >= 0.5 for d in detected)]
    for band in bands[:1]:
        colour = f"{band.colour} " if band.colour else ""
        if band.box[2] >= 0.8 * a.width:
            cy = band.centroid[1] / a.height
            where = "through the middle" if 1 / 3 <= cy <= 2 / 3 else position_words(0.5, cy)
            parts.append(f"A salient {colour}band runs across the frame {where}.")
        else:
            cx = band.centroid[0] / a.width
            where = "through the middle" if 1 / 3 <= cx <= 2 / 3 else position_words(cx, 0.5)
            parts.append(f"A salient {colour}band runs down the frame {where}.")
    return parts


def _horizon_sentences(a: CompositionAnalysis) -> list[str]:
    """Where the horizon runs and whether it is level; nothing unless it is a real horizon line
    (:func:`procrop.perception.horizon_check.real_horizon`: not a collar or a backdrop's edge)."""
    if a.horizon is None or not real_horizon(a):
        return []
    hz = a.horizon
    rel = (hz.y_left + hz.y_right) / 2 / a.height
    where = (
        "near the upper thirds line"
        if abs(rel - 1 / 3) < 0.08
        else "near the lower thirds line"
        if abs(rel - 2 / 3) < 0.08
        else "through the middle"
        if abs(rel - 0.5) < 0.08
        else "high in the frame"
        if rel < 0.5
        else "low in the frame"
    )
    tilt = (
        "A level horizon"
        if abs(hz.angle) < 1.0
        else f"A horizon tilted {abs(hz.angle):.0f}° {'up' if hz.angle > 0 else 'down'} to the right"
    )
    return [f"{tilt} runs {where} ({round(100 * rel)}% down)."]


def _line_sentences(a: CompositionAnalysis) -> list[str]:
    if not a.lines:
        return []
    total = sum(ln.length for ln in a.lines)
    by = {"horizontal": 0.0, "vertical": 0.0, "diagonal": 0.0}
    for ln in a.lines:
        by[ln.orientation] += ln.length
    dominant = max(by, key=lambda k: by[k])
    diag = math.hypot(a.width, a.height)
    if total < 0.6 * diag:
        return []
    out = [f"Strong {dominant} lines dominate the structure."]
    if a.vanishing_point is not None:
        u, v = a.vanishing_point[0] / a.width, a.vanishing_point[1] / a.height
        inside = 0 <= u <= 1 and 0 <= v <= 1
        out.append(
            f"Lines converge toward a point {position_words(u, v)}"
            f"{'' if inside else ' just outside the frame'} (leading lines)."
        )
    return out


def _balance_sentence(a: CompositionAnalysis) -> str:
    u, v = a.centroid
    if abs(u - 0.5) < 0.06 and abs(v - 0.5) < 0.08:
        return "Visual weight is balanced around the centre."
    side = []
    if abs(u - 0.5) >= 0.06:
        side.append("left" if u < 0.5 else "right")
    if abs(v - 0.5) >= 0.08:
        side.append("top" if v < 0.5 else "bottom")
    return f"Visual weight leans to the {' and '.join(side)}."


def _colour_sentence(a: CompositionAnalysis) -> str:
    c = a.colour
    tone = "bright" if c.brightness > 0.62 else ("dark" if c.brightness < 0.35 else "mid-toned")
    contrast = "high-contrast" if c.contrast > 0.75 else ("soft, low-contrast" if c.contrast < 0.4 else "")
    temp = "warm" if c.warmth > 0.25 else ("cool" if c.warmth < -0.25 else "")
    vivid = "vivid" if c.colourfulness > 0.6 else ("muted" if c.colourfulness < 0.2 else "")
    adjectives = ", ".join(w for w in (tone, contrast, vivid, temp) if w)
    if c.dominant:
        names = list(c.dominant)
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return f"The palette is {adjectives}, dominated by {listed}."
    return f"The palette is {adjectives}."
