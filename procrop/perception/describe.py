"""Plain-language text from the analysis: a description of the photo, and why a crop won.

:func:`describe` is procrop's offline stand-in for ProCrop's image caption (BLIP/GPT in the
paper): a few sentences on the format, the subjects and where they sit, faces, the horizon,
dominant lines, visual balance and colour, generated only from what
:func:`procrop.perception.analysis.analyze` measured. The neural model later encodes this text as tokens.

:func:`explain_crop` turns a crop's term values into a short reason ("keeps 96% of the salient
content; the face sits on the upper-left third point; ...").
"""

from __future__ import annotations

import math

import numpy as np

from .analysis import CompositionAnalysis, Region
from ..geometry import ratio_label


def _position_words(u: float, v: float) -> str:
    """Where a point at relative position ``(u, v)`` lies, in words."""
    col = "left" if u < 0.4 else ("right" if u > 0.6 else "")
    row = "top" if v < 0.4 else ("bottom" if v > 0.6 else "")
    if not col and not row:
        return "in the centre"
    if col and row:
        return f"at the {row}-{col}"
    return f"at the {col or row}"


def _third_words(u: float, v: float, tol: float = 0.07) -> str | None:
    """Name the thirds point or line a point is on, if any."""
    on_u = next((name for t, name in ((1 / 3, "left"), (2 / 3, "right")) if abs(u - t) < tol), None)
    on_v = next((name for t, name in ((1 / 3, "upper"), (2 / 3, "lower")) if abs(v - t) < tol), None)
    if on_u and on_v:
        return f"on the {on_v}-{on_u} thirds point"
    if on_u:
        return f"on the {on_u} thirds line"
    if on_v:
        return f"on the {on_v} thirds line"
    return None


def _size_words(share: float) -> str:
    if share > 0.35:
        return "large"
    if share > 0.1:
        return "medium-sized"
    if share > 0.02:
        return "small"
    return "tiny"


def _format_words(width: int, height: int) -> str:
    aspect = width / height
    label = ratio_label(width, height)
    if abs(aspect - 1) < 0.03:
        return f"A square ({label}) photo"
    if aspect > 1:
        kind = "panoramic" if aspect > 2.2 else "landscape-format"
    else:
        kind = "tall" if aspect < 0.45 else "portrait-format"
    return f"A {kind} ({label}) photo"


def _subject_sentence(a: CompositionAnalysis, s: Region) -> str:
    u, v = s.centroid[0] / a.width, s.centroid[1] / a.height
    share = (s.box[2] * s.box[3]) / (a.width * a.height)
    colour = f" {s.colour}" if s.colour else ""
    where = _third_words(u, v) or _position_words(u, v)
    return (
        f"The main subject, a {_size_words(share)}{colour} region, sits {where}"
        f" (about {round(100 * share)}% of the frame)."
    )


def describe(a: CompositionAnalysis) -> str:
    """A short, factual description of the composition found by the analysis."""
    parts = [_format_words(a.width, a.height) + "."]
    faces = a.faces
    if faces:
        big = max(faces, key=lambda f: f.box[2] * f.box[3])
        u = (big.box[0] + big.box[2] / 2) / a.width
        v = (big.box[1] + big.box[3] / 2) / a.height
        share = (big.box[2] * big.box[3]) / (a.width * a.height)
        profile = " in profile" if big.kind == "profile" else ""
        if len(faces) == 1:
            where = _third_words(u, v) or _position_words(u, v)
            parts.append(f"One {_size_words(share * 4)} face{profile} {where}.")
        else:
            us = [(f.box[0] + f.box[2] / 2) / a.width for f in faces]
            spread = "spread across the frame" if max(us) - min(us) > 0.4 else _position_words(
                float(np.mean(us)), v
            )
            parts.append(f"{len(faces)} faces, {spread}; the largest {_position_words(u, v)}.")
    salient = a.compact_subjects
    if salient:
        parts.append(_subject_sentence(a, salient[0]))
        if len(salient) > 1 and salient[1].mass > 0.15:
            s2 = salient[1]
            parts.append(
                f"A second {s2.colour + ' ' if s2.colour else ''}region stands out "
                f"{_position_words(s2.centroid[0] / a.width, s2.centroid[1] / a.height)}."
            )
    elif not faces:
        parts.append("No single subject stands out; interest is spread over the frame.")
    for band in a.bands[:1]:
        colour = f"{band.colour} " if band.colour else ""
        if band.box[2] >= 0.8 * a.width:
            cy = band.centroid[1] / a.height
            where = "high up" if cy < 0.4 else ("low down" if cy > 0.6 else "through the middle")
            parts.append(f"A salient {colour}band runs across the frame {where}.")
        else:
            cx = band.centroid[0] / a.width
            where = "on the left" if cx < 0.4 else ("on the right" if cx > 0.6 else "through the middle")
            parts.append(f"A salient {colour}band runs down the frame {where}.")
    if a.horizon is not None:
        hz = a.horizon
        rel = (hz.y_left + hz.y_right) / 2 / a.height
        where = (
            "near the upper third"
            if abs(rel - 1 / 3) < 0.08
            else "near the lower third"
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
        parts.append(f"{tilt} runs {where} ({round(100 * rel)}% down).")
    parts += _line_sentences(a)
    parts.append(_balance_sentence(a))
    parts.append(_colour_sentence(a))
    return " ".join(p for p in parts if p)


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
            f"Lines converge toward a point {_position_words(u, v)}"
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


# --------------------------------------------------------------------------------------------
# Why a crop won
# --------------------------------------------------------------------------------------------


def explain_crop(
    terms: dict[str, float],
    details: dict[str, float],
    contributions: dict[str, float],
    extra_reasons: list[str] | None = None,
) -> str:
    """A one-line reason for a crop from its term values and intermediate quantities.

    Args:
        terms: term name -> value in [0, 1].
        details: per-crop quantities from scoring (``kept``, ``subject_u``...).
        contributions: term name -> weighted share of the score.
        extra_reasons: sentences from plugged-in terms (retrieval, neural).
    """
    reasons: list[str] = []
    kept = details.get("kept", float("nan"))
    if not math.isnan(kept):
        reasons.append(f"keeps {round(100 * kept)}% of the salient content")
    u, v = details.get("subject_u", 0.5), details.get("subject_v", 0.5)
    kind = int(details.get("subject_kind", 0))
    subject = {2: "the face", 1: "the main subject"}.get(kind, "the visual centre of mass")
    placement = terms.get("placement", 0.0)
    if placement >= 0.5:
        spot = _third_words(u, v, tol=0.09)
        if spot is None and abs(u - 0.5) < 0.1 and abs(v - 0.5) < 0.12:
            spot = "centred"
        reasons.append(f"{subject} sits {spot}" if spot else f"{subject} is well placed")
    elif placement < 0.25 and kind:
        reasons.append(f"{subject} is awkwardly placed ({_position_words(u, v)})")
    if details.get("cuts_face", 0.0) > 0:
        reasons.append("cuts a face (no crop of this ratio avoids it)")
    elif terms.get("boundary", 1.0) >= 0.7:
        reasons.append("clean edges that cut no subject")
    elif terms.get("boundary", 1.0) < 0.4:
        reasons.append("an edge runs through busy or salient content")
    if "headroom" in contributions:
        reasons.append(
            "comfortable headroom" if terms.get("headroom", 0.0) >= 0.6 else "headroom could be better"
        )
    hr = details.get("horizon_rel", float("nan"))
    if "horizon" in contributions and not math.isnan(hr):
        if terms.get("horizon", 0.0) >= 0.6:
            reasons.append(f"horizon on the {'upper' if hr < 0.5 else 'lower'} third")
        elif abs(hr - 0.5) < 0.08:
            reasons.append("horizon splits the frame in the middle")
    if terms.get("balance", 0.0) >= 0.8 and len(reasons) < 5:
        reasons.append("balanced visual weight")
    density = details.get("density_ratio", 1.0)
    if density > 1.25:
        reasons.append(f"{density:.1f}x denser in interest than the full frame")
    if extra_reasons:
        reasons.extend(r for r in extra_reasons if r)
    return "; ".join(reasons)
