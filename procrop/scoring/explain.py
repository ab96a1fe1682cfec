"""Why a crop won, in one line: its term values and intermediate quantities put into words."""

from __future__ import annotations

import math
from collections import Counter

from ..perception.describe import third_words
from ..perception.describe_words import count_words, listing

#: How every reason says that a crop edge cuts a detected person, animal or object
#: (:func:`procrop.scoring.protection.cuts`); never said together with "cut no detected subject".
#: The preference term's reason names them (:func:`subject_cut_words`); both begin alike.
SUBJECT_CUT = "an edge crosses a detected person, animal or object"
SUBJECT_CUT_START = "an edge crosses "
#: How the preference term's reason says that a crop edge cuts a salient region no detector names;
#: "clean edges" is then not said (a product cut-out sliced at 9:16 was called "clean").
REGION_CUT = "cuts a salient region at an edge"
#: How it says that detail lies pressed against a crop edge; "clean edges" is then not said either (a
#: trial found both in one reason).
EDGE_PRESSED = "detail pressed against an edge"
#: How it says that a subject a crop keeps whole has little room from one of its inner edges
#: (:func:`procrop.scoring.edge_room.edge_pressure`).
EDGE_TOUCHED = "a subject crowded against an edge"
#: How it says that a subject facing a side has little room ahead of it (:mod:`procrop.scoring.lead_room`).
LEAD_SHORT = "little room ahead of a subject facing out of the frame"
#: How it says that a crop keeps a detected subject whole by the cut test's tolerance while an edge
#: still runs through its box (:func:`procrop.scoring.protection.grazes`); "clean edges" is then not
#: said (a trial found a soldier's fist trimmed under "clean edges").
SUBJECT_GRAZED = "an edge grazes a detected subject"
#: The clauses beside which "clean edges" is never said.
NOT_CLEAN = (REGION_CUT, EDGE_PRESSED, EDGE_TOUCHED)
#: How the preference term's reason says that no salient region is cut.
REGIONS_WHOLE = "keeps whole the salient regions it holds"


def subject_cut_words(labels: list[str]) -> str:
    """How a reason says that a crop edge cuts the detected subjects of ``labels`` (the detector's
    classes, one per subject: ``"an edge crosses the detected cat"``, ``"an edge crosses detected
    subjects: two people and a dog"``); :data:`SUBJECT_CUT` when one has no name."""
    if not labels or not all(labels):
        return SUBJECT_CUT
    if len(labels) == 1:
        return f"{SUBJECT_CUT_START}the detected {labels[0]}"
    listed = listing([count_words(n, label) for label, n in Counter(labels).items()])
    return f"{SUBJECT_CUT_START}detected subjects: {listed}"


def explain_crop(
    terms: dict[str, float],
    details: dict[str, float],
    contributions: dict[str, float],
    extra_reasons: list[str] | None = None,
) -> str:
    """A one-line reason for a crop from its term values and intermediate quantities.

    Args:
        terms: term name -> value in [0, 1].
        details: per-crop quantities from scoring (``kept``, ``subject_u``..., ``inner_edge``: an edge
            of the crop runs inside the photo); ``cuts_face`` and
            ``cuts_subject`` come from :func:`procrop.scoring.protection.cuts`, the one test of a
            cut that the preference term's reason uses too, so the two never contradict;
            ``grazes_subject`` from :func:`procrop.scoring.protection.grazes`.
        contributions: term name -> weighted share of the score.
        extra_reasons: sentences from plugged-in terms (retrieval, neural).
    """
    reasons: list[str] = []
    kept = details.get("kept", float("nan"))
    if not math.isnan(kept):
        reasons.append(f"keeps {round(100 * kept)}% of the salient content")
    u, v = details.get("subject_u", 0.5), details.get("subject_v", 0.5)
    kind = int(details.get("subject_kind", 0))
    main = details.get("subject_is_main", 1.0) > 0
    subject = {3: "the faces", 2: "the face", 1: "the main subject" if main else "a salient region"}.get(
        kind, "the visual centre of mass")
    sits, is_ = ("sit", "are") if kind == 3 else ("sits", "is")  # a couple's faces, as their centre
    placement = terms.get("placement", 0.0)
    if placement >= 0.5:
        spot = third_words(u, v, tol=0.09)
        if spot is None and abs(u - 0.5) < 0.1 and abs(v - 0.5) < 0.12:
            spot = "centred"
        reasons.append(f"{subject} {sits} {spot}" if spot else f"{subject} {is_} well placed")
    elif placement < 0.25 and kind:
        reasons.append(f"{subject} {sits} {off_thirds_words(u, v)}")  # on no thirds line: said, not judged
    if details.get("cuts_face", 0.0) > 0:
        reasons.append("cuts a face (no crop of this ratio avoids it)")
    elif details.get("cuts_subject", 0.0) > 0:
        if "preference" not in terms:  # the preference term's reason says it, from the same test
            reasons.append(SUBJECT_CUT)
    elif details.get("grazes_subject", 0.0) > 0:
        reasons.append(SUBJECT_GRAZED)
    elif terms.get("boundary", 1.0) >= 0.7 and not any(
            clause in r for clause in NOT_CLEAN for r in extra_reasons or ()):
        reasons.append("clean edges that cut no detected subject")
    elif (terms.get("boundary", 1.0) < 0.4 and details.get("inner_edge", 1.0) > 0
          and "preference" not in terms):
        # not of the photo's own edges (the uncropped photo), nor beside the preference term's reason,
        # which says what an edge cuts or crowds (it had read "keeps whole the salient regions it holds"
        # beside this in 403 of 5,300 top crops, and "busy detail" of a hazy sea's plain edges)
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


def off_thirds_words(u: float, v: float, edge: float = 0.2) -> str:
    """Where a subject at relative position ``(u, v)`` sits that is on no thirds line: near which
    edges (within ``edge`` of the frame's side), else between the thirds lines and the centre."""
    near = ([("near the top" if v < 0.5 else "near the bottom")] * (min(v, 1 - v) < edge)
            + [("near the left edge" if u < 0.5 else "near the right edge")] * (min(u, 1 - u) < edge))
    return " and ".join(near) if near else "between the thirds lines and the centre"
