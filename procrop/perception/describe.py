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
from dataclasses import replace

import numpy as np

from .analysis import CONFIDENT, CompositionAnalysis, Region, worn_by
from .detectors import Detection
from .describe_subject import Subject, is_part, point_in, regions, subject
from .describe_words import (PEOPLE, article, colour_for, count_words, detection_name, format_words, listing,
                             number_word, part_for_reader, place_words, plural, position_words, size_words,
                             third_words)
from .horizon_check import real_horizon
from .naming import UNCOLOURED

__all__ = ["describe", "detection_name", "is_part", "position_words", "third_words"]


def _named(a: CompositionAnalysis) -> list[Detection]:
    """The detections a description names: the confident ones when there are any (a weak second
    "bird" on an empty branch is left out), else all; a weak person with a face found in it is
    sure (the trial's runway: "Five people" and "11 faces")."""
    found = [replace(d, score=CONFIDENT) if d.label == "person" and d.score < CONFIDENT and _holds_face(a, d)
             else d for d in a.subjects_to_keep]
    return [d for d in found if d.score >= CONFIDENT] or found


def _holds_face(a: CompositionAnalysis, d: Detection) -> bool:
    """Whether a face's centre lies in the detection's box."""
    return any(point_in(f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2, d.box) for f in a.faces)


def describe(a: CompositionAnalysis, animal_words: bool = True, for_people: bool = False) -> str:
    """A short, factual description of the composition found by the analysis; with
    ``animal_words``, an animal the backbone names surely is called by that name
    (:attr:`CompositionAnalysis.animal_names`: "a tiger" where the detector said "zebra"). The
    learned scorer reads the text without them (``animal_words=False``), the words it was trained
    with; nor does it read the sentence on a studio backdrop (:mod:`procrop.perception.backdrop`).
    ``for_people``: the words a person reads, for people only (models read, trainers write, the others):
    the photo's shape as a reader says it ("about 3:2" for 28:19), a subject by the colour that sets it
    apart where its mask's dominant colour is the background's (:attr:`Region.standout_colour`: a red
    ladybird on a green stem), a horizon level or tilted only when a straight line across the frame,
    lines only when one spans :data:`LONG_LINE` of the diagonal, a part as :func:`part_for_reader` says."""
    if animal_words and a.animal_names:  # the classifier is sure where the detector may not be
        a = _with_animal_names(a)
    if for_people and _standout_differs(a):
        a = replace(a, subjects=[replace(r, colour=r.standout_colour or r.colour) for r in a.subjects])
    named = _named(a)
    if for_people:  # a tie is the person's, not a subject beside them ("A person and a tie")
        named = [d for d in named if not _worn(a, d, named)]
    subs = [subject(a, s, named) for s in regions(a)[0]]
    whole = bool(subs) and _is_all(subs[0], named)
    parts = [format_words(a.width, a.height, readable=for_people) + "."]
    if animal_words and a.backdrop is not None:
        parts.append("It shows its subject on a plain light backdrop, as a catalogue photo does.")
    parts += _detected_sentences(a, named, subs[0] if whole else None, readable=for_people)
    parts += _face_sentences(a)
    parts += _subject_sentences(a, named, subs, whole, dict(a.region_names) if animal_words else {},
                                worn=for_people)
    parts += _band_sentences(a)
    parts += _horizon_sentences(a, readable=for_people)
    parts += _line_sentences(a, readable=for_people)
    parts.append(_balance_sentence(a))
    parts.append(_colour_sentence(a))
    text = " ".join(p for p in parts if p)
    return part_for_reader(text) if for_people else text


def for_reader(learned_text: str, a: CompositionAnalysis) -> str:
    """:func:`describe` of ``a`` for a reader (``for_people``) from the text the learned scorer read
    (``describe(a, animal_words=False)``), without describing the photo again, when the two differ
    only in the photo's shape ("(28:19)" reads "(about 3:2)"), a tiny detection's size ("under 1%", not
    "about 0%") and a part's (:func:`part_for_reader`): for an analysis without animal or region names,
    a studio backdrop, a subject whose standout colour is not its map colour or a thing a person wears,
    whose horizon and line sentences read alike for both."""
    exact = format_words(a.width, a.height) + "."
    named = _named(a)
    worn = any(_worn(a, d, named) for d in a.objects)
    if (a.backbone_names or a.backdrop is not None or _standout_differs(a) or worn
            or not learned_text.startswith(exact) or _structure_differs(a)):
        return describe(a, for_people=True)
    rest = learned_text[len(exact):].replace("(about 0% of the frame)", "(under 1% of the frame)")
    return part_for_reader(format_words(a.width, a.height, readable=True) + "." + rest)


def _structure_differs(a: CompositionAnalysis) -> bool:
    """Whether the horizon or line sentences a reader is told differ from the learned scorer's."""
    return (_horizon_sentences(a, readable=True) != _horizon_sentences(a)
            or _line_sentences(a, readable=True) != _line_sentences(a))


def _standout_differs(a: CompositionAnalysis) -> bool:
    """Whether a subject's standout colour (told a reader) differs from its map colour (the learned
    scorer's word)."""
    return any(r.standout_colour and r.standout_colour != r.colour for r in a.subjects)


def _with_animal_names(a: CompositionAnalysis) -> CompositionAnalysis:
    """The analysis as the description tells it with the backbone's animal names: an animal by
    its name; an unsure person it names as an animal, an animal, without the face found on it."""
    names = dict(a.animal_names)
    beasts = [replace(p, kind="animal", label=names[p.box], score=CONFIDENT)
              for p in a.people if p.box in names]

    def on_beast(f: Detection) -> bool:
        cx, cy = f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2
        return any(point_in(cx, cy, b.box) for b in beasts)

    objects = [replace(d, label=names[d.box], score=max(d.score, CONFIDENT)) if d.box in names else d
               for d in a.objects]
    return replace(a, objects=objects + beasts, people=[p for p in a.people if p.box not in names],
                   faces=[f for f in a.faces if not on_beast(f)])


def _is_all(main: Subject, named: list[Detection]) -> bool:
    """Whether the main subject is every detection the description names (not a part of one)."""
    return (bool(main.members) and not main.part and len(main.members) == len(named)
            and all(any(d is m for m in main.members) for d in named))


def _detected_sentences(a: CompositionAnalysis, found: list[Detection], main: Subject | None,
                        readable: bool = False) -> list[str]:
    """What the detectors found, named: "Two people and a dog, in the left third (about 30% of
    the frame)."; when they are the main subject (``main``), one sentence says both, placed and
    sized as the main subject is: "Two people, the main subject, on the left thirds line (about
    10% of the frame).", "A bird, the main subject: small and grey, on ..."; ``readable`` (the words
    for people): a tiny one "under 1% of the frame", not "about 0%"."""
    if not found:
        return []
    listed = _names(found)
    if main is not None:
        tail = f"{place_words(main.u, main.v)} (about {max(1, round(100 * main.share))}% of the frame)."
        if len(found) > 1 or detection_name(found[0]) in PEOPLE:  # no colour for people
            return [f"{listed[0].upper()}{listed[1:]}, the main subject, {tail}"]
        colour = colour_for(detection_name(found[0]), main.region.colour)
        what = size_words(main.share) + (f" and {colour}" if colour else "")
        return [f"{listed[0].upper()}{listed[1:]}, the main subject: {what}, {tail}"]
    x0 = min(d.box[0] for d in found)
    y0 = min(d.box[1] for d in found)
    x1 = max(d.box[0] + d.box[2] for d in found)
    y1 = max(d.box[1] + d.box[3] for d in found)
    where = position_words((x0 + x1) / 2 / a.width, (y0 + y1) / 2 / a.height)
    share = (x1 - x0) * (y1 - y0) / (a.width * a.height)
    size = "under 1%" if readable and round(100 * share) == 0 else f"about {round(100 * share)}%"  # not "0%"
    return [f"{listed[0].upper()}{listed[1:]}, {where} ({size} of the frame)."]


#: A face of a detected person at least this share of the frame (YuNet's box: brow to chin) makes
#: a portrait, at least :data:`CLOSE_UP` a close-up portrait (head and shoulders), and at least
#: :data:`FILLS_FRAME` (whoever it belongs to) a close-up portrait with the face filling the frame.
PORTRAIT = 0.05
CLOSE_UP = 0.09
FILLS_FRAME = 0.2
#: Beside a close-up portrait's face, a salient region smaller than this share of the face is not
#: called the main subject (the --fast profile, with no person detected: a bit of a red scarf).
BESIDE_FACE = 0.25


def _in_person(a: CompositionAnalysis, f: Detection) -> bool:
    """Whether a face's centre lies in a confidently detected person (a carved face on a totem
    pole, in a 0.54 "person", makes no portrait)."""
    cx, cy = f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2
    return any(p.label == "person" and p.score >= CONFIDENT and point_in(cx, cy, p.box) for p in a.people)


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
    # their common place only when each face is there ("Two faces, in the left third; the largest in
    # the centre" read as a contradiction in a trial): every third it names, or the centre itself
    named = [w for w in ("upper", "lower", "left", "right") if w in where.split()]
    places = [position_words(fu, fv) for fu, fv in zip(us, vs)]
    same = all(all(w in p.split() for w in named) if named else p == where for p in places)
    spread = ("spread across the frame" if max(us) - min(us) > 0.4 or max(vs) - min(vs) > 0.4
              else where if same else "in different thirds")
    largest = position_words(u, v)
    # the largest face's place only when it says more than the faces' place
    also = "" if largest == spread else f"; the largest {largest}"
    n = number_word(len(faces))
    if share >= PORTRAIT and all(_in_person(a, f) for f in faces):  # not lanterns read as faces
        kind = "A close-up portrait" if share >= CLOSE_UP else "A portrait"
        return [f"{kind} of {n} people: their faces {spread}{also}."]
    return [f"{n[0].upper()}{n[1:]} faces, {spread}{also}."]


def _counts(found: list[Detection] | tuple[Detection, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for d in found:
        counts[detection_name(d)] = counts.get(detection_name(d), 0) + 1
    return counts


def _names(found: list[Detection] | tuple[Detection, ...], among: list[Detection] | None = None) -> str:
    """Detections by name and count, first three names: "two people and a dog"; those fewer than
    all of their name ``among`` the named ones as such: "one of the five people and a dog"."""
    total = _counts(among or [])
    words = []
    for label, n in list(_counts(found).items())[:3]:
        k = total.get(label, n)
        some = f"{number_word(n)} of the {number_word(k)} {plural(label)}"
        words.append(some if n < k else count_words(n, label))
    return listing(words)


def _main_sentence(sub: Subject, named: list[Detection], words: dict[tuple[float, ...], str]) -> str:
    """The main subject by the detections that name it ("The main subject, a small red frisbee,
    sits ...", sized and placed by its mask inside them; "one of the five people" when others of
    its name are not in it, so that it is not taken for the group the detection sentence placed;
    "a small part of the bird" when the region is only a part of it: :func:`is_part`), else by
    size, place and colour: "The main subject, small and orange, sits on the left thirds line
    (about 4% of the frame).", unless the backbone's classifier names it (``words``, by the
    region's box: "The main subject, a small white lighthouse, sits ...")."""
    s = sub.region
    tail = f"sits {place_words(sub.u, sub.v)} (about {max(1, round(100 * sub.share))}% of the frame)."
    size = size_words(sub.share)
    listed = _names(sub.members, named) if sub.members else ""
    if len(sub.members) > 1 or (sub.members and not sub.part and listed.startswith("one of")):
        return f"The main subject, {listed}, {tail}"
    if sub.members:
        name = detection_name(sub.members[0])
        if sub.part:
            return f"The main subject, a {size} part of the {name}, {tail}"
        own = colour_for(name, s.colour)
        colour = f" {own}" if own and name not in PEOPLE else ""
        return f"The main subject, a {size}{colour} {name}, {tail}"
    if s.box in words:
        own = "" if words[s.box] in UNCOLOURED else colour_for(words[s.box], s.colour)
        return f"The main subject, a {size}{' ' + own if own else ''} {words[s.box]}, {tail}"
    if s.mask is None:  # a hand-cue blob
        return f"The main subject, a {size}{' ' + s.colour if s.colour else ''} region, {tail}"
    return f"The main subject, {size}{' and ' + s.colour if s.colour else ''}, {tail}"


def _second_sentence(main: Subject, second: Subject, named: list[Detection],
                     words: dict[tuple[float, ...], str]) -> list[str]:
    """A strong second region, named as the main subject is (by its colour when it is a part of
    a detection); nothing when it is a detection the main subject already names (the other
    half of a couple the head split)."""
    where = position_words(second.u, second.v)
    if not second.members and second.region.box in words:
        word = words[second.region.box]
        return [f"A second subject, {article(word)} {word}, stands out {where}."]
    if not second.members or second.part:
        colour = second.region.colour
        return [f"A second {colour + ' ' if colour else ''}region stands out {where}."]
    if all(any(d is m for m in main.members) for d in second.members):
        return []
    return [f"A second subject, {_names(second.members, named)}, stands out {where}."]


def _person_part(x: Subject, a: CompositionAnalysis | None = None) -> bool:
    """A region that is only a part of a person (a collar, a hand) or a face; with ``a``, also one
    whose detections are all things a named person wears (:func:`_worn`: a tie)."""
    if x.part and x.members[0].kind in ("person", "face"):
        return True
    return a is not None and bool(x.members) and all(_worn(a, d) for d in x.members)


def _worn(a: CompositionAnalysis, d: Detection, named: list[Detection] | None = None) -> bool:
    """Whether detection ``d`` is a thing a person the description names wears
    (:func:`~procrop.perception.analysis.worn_by`; ``named``: :func:`_named` of ``a`` where already
    known): an unsure or guessed person wears nothing."""
    return worn_by(d, [p.box for p in (_named(a) if named is None else named) if p.kind == "person"])


def _subject_sentences(a: CompositionAnalysis, named: list[Detection], subs: list[Subject], whole: bool,
                       words: dict[tuple[float, ...], str], worn: bool = False) -> list[str]:
    """The main salient subject (and a strong second one), or that none stands out. A region a
    detected person (or a face) overlaps is a person, never a colour (:func:`subject`). When the
    strongest region is a part of a detected person, or a face, that person is the main subject
    (the person and face sentences tell it) and no other region is called the main subject; when
    it is every named detection (``whole``), the detection sentence says so. With ``worn`` (the
    words for people), what a person wears is a part of the person too (:func:`_worn`); the learned
    scorer reads the words it was trained with."""
    if not subs:
        if a.faces or a.subjects_to_keep:
            return []
        return ["No single subject stands out; interest is spread over the frame."]
    owner = a if worn else None
    main, rest = subs[0], [x for x in subs[1:] if not _person_part(x, owner)]
    face = max((f.box[2] * f.box[3] for f in a.faces), default=0.0) / (a.width * a.height)
    if _person_part(main, owner) or whole:
        parts = []
    elif face >= CLOSE_UP and main.share < BESIDE_FACE * face:
        return []  # a close-up portrait's face is its subject, not a scrap of colour beside it
    elif main.region.mask is None and not main.members and a.subjects_to_keep:
        return []  # the detected people, animals or objects are the subject, not a colour blob
    else:
        parts = [_main_sentence(main, named, words)]
    if rest and rest[0].region.mass > 0.15:
        parts += _second_sentence(main, rest[0], named, words)
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
    """A salient band across or down the frame (sea, a road, a tree line: reaching both edges,
    :func:`~procrop.perception.describe_subject.spans_frame`); a band that mostly lies
    in a detected person, animal or object is that subject (a portrait's body, a giraffe's neck),
    not a band."""
    parts = []
    detected = list(a.people) + list(a.objects)
    bands = [b for b in regions(a)[1] if not any(_share_in(a, b, d.box) >= 0.5 for d in detected)]
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


def _horizon_sentences(a: CompositionAnalysis, readable: bool = False) -> list[str]:
    """Where the horizon runs and whether it is level (for a reader, ``readable``, only when it is a
    straight line across the frame, ``source == "line"``, and a colour divide only from
    :data:`SURE_DIVIDE`); nothing unless it is a real horizon line
    (:func:`procrop.perception.horizon_check.real_horizon`: not a collar or a backdrop's edge)."""
    if a.horizon is None or not real_horizon(a):
        return []
    hz = a.horizon
    if readable and hz.source != "line" and hz.confidence < SURE_DIVIDE:  # half of these were elsewhere
        return []
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
    # for a reader, level or tilted only for a straight line found across the frame: a colour divide's
    # slope is fitted to a few columns' strongest edges (a trial read "tilted 6°" on a level sea and a
    # cliff ridge); the learned scorer reads the words it was trained with
    tilt = (
        "A horizon"
        if readable and hz.source != "line"
        else "A level horizon"
        if abs(hz.angle) < 1.0
        else f"A horizon tilted {abs(hz.angle):.0f}° {'up' if hz.angle > 0 else 'down'} to the right"
    )
    return [f"{tilt} runs {where} ({round(100 * rel)}% down)."]


#: For a reader, lines are told only when one spans this share of the frame's diagonal.
LONG_LINE = 0.25
#: For a reader, a horizon found as a colour divide is told only from this confidence (two trials
#: found it at the dark bottom of a hazy sea, the plaza under a city's skyline, a cliff ridge, all under).
SURE_DIVIDE = 0.5


def _line_sentences(a: CompositionAnalysis, readable: bool = False) -> list[str]:
    """The dominant lines' orientation and where they converge; for a reader (``readable``) only when
    one line spans :data:`LONG_LINE` of the frame's diagonal (short segments of petals, grass,
    leaves or clover read "Strong diagonal lines dominate" in 12 of 12 pool photos checked)."""
    if not a.lines:
        return []
    total = sum(ln.length for ln in a.lines)
    by = {"horizontal": 0.0, "vertical": 0.0, "diagonal": 0.0}
    for ln in a.lines:
        by[ln.orientation] += ln.length
    dominant = max(by, key=lambda k: by[k])
    diag = math.hypot(a.width, a.height)
    if total < 0.6 * diag or readable and max(ln.length for ln in a.lines) < LONG_LINE * diag:
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
        return f"The palette is {adjectives}, dominated by {listing(list(c.dominant))}."
    return f"The palette is {adjectives}."
