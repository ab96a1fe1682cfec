"""The words :func:`procrop.perception.describe.describe` builds its sentences from: where a point
lies, how large a share is, the photo's format, counts and detection names.

Places follow one rule, the thirds of the frame: a point is in the left, centre or right third
across and in the upper, middle or lower third down (boundaries at 1/3 and 2/3). "In the upper
third" never means "at the top edge"; a point in the middle third both ways is "in the centre".
A point within a tolerance of a thirds line or point is said to be on it, with the third it lies
in along the line when that is not the middle one.
"""

from __future__ import annotations

import math
import re

from .analysis import CONFIDENT
from .detectors import Detection
from ..geometry import ratio_label

_ROWS = ("upper", "", "lower")
_COLS = ("left", "", "right")


def _third(t: float) -> int:
    """0, 1 or 2: the third of ``[0, 1]`` that ``t`` lies in."""
    return 0 if t < 1 / 3 else (2 if t > 2 / 3 else 1)


def position_words(u: float, v: float) -> str:
    """Which third a point at relative position ``(u, v)`` lies in: ``"in the left third"``,
    ``"in the upper third"``, ``"in the lower and right thirds"`` or ``"in the centre"``."""
    col, row = _COLS[_third(u)], _ROWS[_third(v)]
    if col and row:
        return f"in the {row} and {col} thirds"
    if col or row:
        return f"in the {col or row} third"
    return "in the centre"


def third_words(u: float, v: float, tol: float = 0.07) -> str | None:
    """The thirds point or line a point is on (within ``tol`` of it), if any: ``"on the
    upper-left thirds point"``, ``"on the left thirds line"``."""
    on_u = next((name for t, name in ((1 / 3, "left"), (2 / 3, "right")) if abs(u - t) < tol), None)
    on_v = next((name for t, name in ((1 / 3, "upper"), (2 / 3, "lower")) if abs(v - t) < tol), None)
    if on_u and on_v:
        return f"on the {on_v}-{on_u} thirds point"
    if on_u:
        return f"on the {on_u} thirds line"
    if on_v:
        return f"on the {on_v} thirds line"
    return None


def place_words(u: float, v: float) -> str:
    """Where a subject centred at ``(u, v)`` sits: on a thirds point or line when it is near one
    (a line with the third it lies in along it, unless the middle one: ``"on the left thirds
    line, in the lower third"``), else the thirds it is in (:func:`position_words`)."""
    on = third_words(u, v)
    if on is None:
        return position_words(u, v)
    if on.endswith("point"):
        return on
    vertical = on in ("on the left thirds line", "on the right thirds line")
    along = _ROWS[_third(v)] if vertical else _COLS[_third(u)]
    return f"{on}, in the {along} third" if along else on


def size_words(share: float) -> str:
    """A subject's size from its share of the frame: tiny, small, medium-sized or large."""
    if share > 0.35:
        return "large"
    if share > 0.1:
        return "medium-sized"
    if share > 0.02:
        return "small"
    return "tiny"


#: Shapes a reader knows by name (and their portrait turns); a photo within 3 % of one is "about" it.
COMMON_RATIOS = ((1, 1), (5, 4), (4, 3), (7, 5), (3, 2), (16, 10), (5, 3), (16, 9), (2, 1), (21, 9), (5, 2),
                 (3, 1))


def readable_ratio(width: int, height: int) -> str:
    """The shape of a ``width x height`` photo as a reader says it: a common ratio or a whole
    number to one when it is one (``"3:2"``, ``"16:10"``, ``"4:1"``), else the common ratio within 3 %
    (``"about 3:2"`` for 1024 x 693, exactly 28:19), else width over height (``"2.17:1"``, ``"1:1.4"``)."""
    aspect = width / height
    n = max(round(aspect), round(1 / aspect))
    shapes = list(COMMON_RATIOS) + [(b, a) for a, b in COMMON_RATIOS if a != b] + [(n, 1), (1, n)]
    a, b = min(shapes, key=lambda s: abs(math.log(aspect * s[1] / s[0])))
    if abs(width * b - height * a) <= max(a, b) / 2:  # exact but for rounding to whole pixels
        return f"{a}:{b}"
    if abs(math.log(aspect * b / a)) < math.log(1.03):
        return f"about {a}:{b}"
    long = f"{max(aspect, 1 / aspect):.2f}".rstrip("0").rstrip(".")
    return f"{long}:1" if aspect >= 1 else f"1:{long}"


def format_words(width: int, height: int, readable: bool = False) -> str:
    """``"A landscape-format (3:2) photo"``, ``"A square (1:1) photo"``...; ``readable``: the
    shape as :func:`readable_ratio` says it (the learned scorer reads the exact label it was
    trained with)."""
    aspect = width / height
    label = readable_ratio(width, height) if readable else ratio_label(width, height)
    square = label in ("1:1", "about 1:1") if readable else abs(aspect - 1) < 0.03  # trained words: as before
    if square:
        return f"A square ({label}) photo"
    if aspect > 1:
        kind = "panoramic" if aspect > 2.2 else "landscape-format"
    else:
        kind = "tall" if aspect < 0.45 else "portrait-format"
    return f"A {kind} ({label}) photo"


NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def number_word(n: int) -> str:
    """``"two"`` for 2; digits from 10 on."""
    return NUMBERS[n] if n < len(NUMBERS) else str(n)


#: Plurals that are not the noun plus "s" (the detector's nouns and the animal names of
#: :mod:`procrop.perception.naming`; none of the animals' is a COCO class, so the text the learned
#: scorer reads is unchanged).
IRREGULAR = {"person": "people", "sheep": "sheep", "goose": "geese", "ox": "oxen", "wolf": "wolves",
             "bison": "bison", "fox": "foxes", "lynx": "lynxes"}


def plural(noun: str) -> str:
    """``"people"`` for ``"person"``, ``"sheep"`` for ``"sheep"`` (:data:`IRREGULAR`, also as the
    last word: ``"grey foxes"``), else ``noun + "s"``."""
    head, _, last = noun.rpartition(" ")
    if noun in IRREGULAR or last in IRREGULAR:
        return IRREGULAR.get(noun) or f"{head} {IRREGULAR[last]}"
    return noun + "s"


def article(noun: str) -> str:
    """``"an"`` before a vowel, else ``"a"``."""
    return "an" if noun[:1].lower() in ("a", "e", "i", "o", "u") else "a"


def count_words(n: int, noun: str) -> str:
    """``"a dog"``, ``"two dogs"``, ``"12 people"``."""
    if n == 1:
        return f"{article(noun)} {noun}"
    return f"{number_word(n)} {plural(noun)}"


def listing(items: list[str]) -> str:
    """``"a, b and c"``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


#: What an unsure detection is called, by kind: its class name is used only when it is confident.
GENERIC = {"person": "figure", "animal": "animal", "object": "object"}
#: Names of people: never given a colour (it would read as a skin colour).
PEOPLE = ("person", "figure")


#: Words that name a colour, in a name or on their own (:func:`colour_for`).
COLOUR_WORDS = frozenset(("red", "orange", "yellow", "green", "cyan", "blue", "purple", "magenta", "white",
                          "grey", "gray", "black", "brown", "golden", "silver"))


def colour_for(name: str, colour: str) -> str:
    """``colour`` for a subject called ``name``, or ``""`` when the name already says one ("brown
    bear", "American black bear", "red fox"): a second colour reads as a contradiction ("a brown
    bear ... yellow", the fur's sunlit hue)."""
    return "" if COLOUR_WORDS.intersection(name.lower().replace("-", " ").split()) else colour


def detection_name(d: Detection) -> str:
    """A detection's class name (``"dog"``) when it is at least :data:`CONFIDENT`, else its kind's
    generic name (``"animal"``: a 0.53 "bear" may be otters)."""
    if d.score >= CONFIDENT and d.label:
        return d.label
    return GENERIC.get(d.kind, d.label or d.kind)


_PART = re.compile(r"The main subject, (an? [a-z-]+) part of the ([^,]+), sits")


def part_for_reader(text: str) -> str:
    """A reader's wording of a main subject that is a part of a detection: "The main subject is part
    of the bird: a tiny part that sits on ..." (a trial read "The main subject, a tiny part of the
    bird, sits ..." as the bird being tiny). The learned scorer keeps the words it was trained with."""
    return _PART.sub(r"The main subject is part of the \2: \1 part that sits", text)
