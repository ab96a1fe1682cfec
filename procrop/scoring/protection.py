"""Never cut what matters: which candidate crops are allowed, given the faces, people, animals and
objects in the photo.

The rules, applied in order of importance (faces, largest first; then people, animals and objects
as :attr:`~procrop.perception.analysis.CompositionAnalysis.subjects_to_keep` orders them), each
only when some crop still allowed satisfies it, so the candidate set is never emptied:

0. **the main subject is in**: the most important one (the largest face, else the first subject
   to keep that is not a weak, much smaller detection, or the salient region that dominates the
   photo away from a detected animal or object: :mod:`procrop.scoring.main_subject`) is kept whole
   by every crop, when some crop can (a region no crop holds: most of it); and **everyone is in**:
   when some crop keeps every face of the group (:data:`GROUP_FACE`) whole, with room round each
   (:data:`GROUP_MARGIN`) where a crop can, every crop does: a couple is never halved to one person;
   when none can, every crop keeps as many of them whole, cutting none, as some crop does (three
   friends flexing their tattoos, a square holds two: never one face alone);
   an animal main subject no crop keeps whole keeps its head (round a face found on it, else round
   the highest point of its outline, or, for a wide animal highest in the middle, one end of it,
   unless it is a close-up whose face stands out: :func:`~procrop.scoring.main_subject.animal_heads`)
   where a crop can (a close-up's face no crop holds: most of it), and an object or salient
   region no crop keeps whole keeps its top (round the highest point of its outline:
   :func:`~procrop.scoring.main_subject.outline_top`; a drum's head, a spire, a locomotive's front)
   unless the photo's own top edge cuts it (:data:`TOP_AT_BORDER`); after that, a vehicle keeps one
   end whole (:func:`~procrop.scoring.main_subject.vehicle_end_kept`: never both wheels nibbled); with no
   main subject, the region holding half the saliency keeps its top (0c: no top edge below it, a finial);
1. **keep it whole**: when some allowed crop keeps the subject whole (97 % of its box inside),
   every crop that cuts it (more than 2 % but less than 97 % inside) is dropped; crops that leave
   it out entirely stay, so a crop of a narrow ratio may frame one of two people; a face kept
   whole keeps its whole head too (its hair, a hat, its ears: :func:`~procrop.scoring.heads.head_box`)
   where a crop can, and, after the people's rules, the hair or hat the saliency map holds above it
   (:func:`~procrop.perception.face_extent.hair_top`); where the largest face is a close-up in a
   crop, its chin in (unless the head wears something above it), then its eyes high and what its
   head wears inside, when some such crop has both (1c, :func:`_close_up_framed`); a thing a person
   wears (a tie: :meth:`~procrop.perception.analysis.CompositionAnalysis.is_worn`) is the person's;
2. **keep the eyes**: when no allowed crop keeps a face whole (a portrait at 16:9), crops that
   leave an eye out, or put the eye line outside the upper part of the frame (:data:`EYE_LINE`),
   are dropped, and then, when some crop keeps it too, those that cut the mouth (and, after the
   people's rules below, those that cut its lower lip, :data:`LOWER_LIP`): forehead and chin are
   cut, never the eyes (a face other than the largest may be left out altogether);
3. **cut it cleanly**: when no allowed crop can keep it whole, crops whose edges run through the
   wrong place are dropped: for a person, a horizontal edge through (or just above,
   :data:`~procrop.scoring.clean_cuts.HEAD_ROOM`) the head or neck, the knees or
   the ankles (joint bands from body keypoints when a pose estimator ran, else from the box's
   proportions), or a vertical edge through the middle of the body; for an animal or an object,
   any edge through the middle half of its extent; before that, the main subject (an animal, a
   person or an object) keeps most of itself (:data:`MOST_OF_MAIN` of the most any allowed crop
   holds): avoiding its middle alone left a close-up's scrap (a tiger's snout without its eyes), or
   no part of it (a performer with arms spread, too wide for 9:16, left out for empty backdrop);
4. **salient objects whole** (subjects with a mask, from the salient-object head, most salient
   first): the share of each mask inside each crop is measured (:func:`mask_inside_fractions`);
   when some allowed crop keeps the object whole (:data:`MASK_KEPT` of its mask), every crop that
   cuts it (more than :data:`MASK_OUT` but less than :data:`MASK_KEPT` inside) is dropped, unless
   it keeps whole a more salient object that no crop keeps whole beside this one: the crops that
   keep the more salient object whole are not all given up to keep the less salient one whole, and
   the scorer chooses among both kinds (a camera beside its strap and nuts, too long to share a
   square, was left out for them; blind judges preferred the crops this allows on 21 of 30 changed
   sheets, ``data/preferences/checks/cut_for_more_salient/``); when none can (the head's map spread
   past the object, a region longer than the ratio), its cores (the parts where the map reaches
   0.65, else 0.8 or 0.9) are kept whole or left out instead, but never by small crops alone
   (:data:`CORES_LARGE`); a region that touches the photo's border, which the photographer's frame
   already cuts, may lose :data:`BORDER_TRIM` of its extent on that side (a church wall below its
   dome, a field's edge): kept whole it had forced fragments of a photo;
5. **together or not at all**: two salient objects of comparable weight close to each other (two cyclists,
   a boat and its reflection) that some allowed crop keeps whole together are not split by a crop
   that keeps one and leaves the other out.

Rules 0-3 for animals and objects read a detector's box, which is often far larger than the thing
(a kite's string, three overlapping motorcycles); when they would drop every crop that keeps a
salient object whole, the set without them (and with only a face as the main subject) is used
instead (:func:`allowed_crops`). The candidates include crops that keep each salient object, and
each group, whole (:func:`procrop.candidates.region_candidates`). An object whose box spans nearly
the whole photo (:func:`fills_frame`: a "dining table" over a ceiling) is the scene: rules 0-3 skip it;
rules 1-3 skip a headless torso (:func:`headless`: no face found, its head cut by the frame's top).

A salient object pressed against a crop edge is not a rule here: as a hard filter it dropped the
photographer's frame whenever the subject touched it (the preference scorer weighs it softly).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..candidates import GROUP_GAP, GROUP_WEIGHT, grouped, inner_edges, protected_regions  # noqa: F401
from ..candidates import SALIENT_MIN_MASS as MIN_MASS
from ..geometry import inside_fractions  # noqa: F401 (re-exported: the rules' measure of a cut)
from ..perception.analysis import CompositionAnalysis, Region
from ..perception.detectors import Detection
from ..perception.face_extent import CLOSE_UP, LOW_EYES, crown_worn
from ..perception.salient import CORE_LEVELS, subject_cores
from .clean_cuts import object_cuts, person_cuts
from .heads import EYE_LINE, HEAD_SIDE, HEAD_TOP, eyes_kept, grown, head_box, mouth_kept  # noqa: F401
from .clean_cuts import HEAD_ROOM, JOINT_MARGIN, PERSON_BAD_BANDS, person_bad_bands  # noqa: F401
from .main_subject import animal_heads, fills_frame, headless, main_subject, outline_top  # noqa: F401
from .main_subject import TOP_AT_BORDER, dominant_region, vehicle_end_kept

#: Shares of inside area that count as "kept whole" and as "left out".
KEPT, LEFT_OUT = 0.97, 0.02
#: A kept object with less than this share inside still has an edge through its box (:func:`grazes`).
GRAZED = 0.995
#: Faces of at least this share of the largest face's area form the photo's group: when some crop
#: keeps them all whole, none is left out (a couple, two drummers, two children side by side).
GROUP_FACE = 0.25
#: Room kept round each face of the group where a crop can (share of the face's size per side).
GROUP_MARGIN = 0.15
#: Mask shares inside a crop that count as "kept whole" and "left out"; CORES_LARGE: _protect_cores.
MASK_KEPT, MASK_OUT, CORES_LARGE = 0.95, 0.05, 0.8
# Salient objects under MIN_MASS of the saliency are not protected; GROUP_GAP, GROUP_WEIGHT: groups.
#: The main subject that no crop keeps whole (an animal, a person or an object): every crop holds at
#: least this share of the most any allowed crop holds of it, before "cut it cleanly".
MOST_OF_MAIN = 0.7
#: Room kept below the corners of the mouth (share of the face's height): the lower lip.
LOWER_LIP = 0.12
#: Share of a salient region's extent, next to a photo border it touches, that a crop may cut.
BORDER_TRIM = 0.2


def cuts(inside: np.ndarray) -> np.ndarray:
    """``(N,)`` bool from ``(K, N)`` inside shares (:func:`inside_fractions`): whether each crop cuts
    one of the ``K`` objects, keeping more than :data:`LEFT_OUT` but less than :data:`KEPT` of it.

    The one test of a cut: the rules below, the ``boundary`` term's face cut, and every reason that
    says a crop cuts, or does not cut, a face or a detected subject
    (:func:`procrop.scoring.explain.explain_crop` and the preference term's reason); an edge through
    a subject this test lets pass is :func:`grazes`."""
    return _any_object(inside, lambda share: (share > LEFT_OUT) & (share < KEPT))


def grazes(inside: np.ndarray) -> np.ndarray:
    """``(N,)`` bool from ``(K, N)`` inside shares: whether an edge of each crop runs through the box
    of one of the ``K`` objects that :func:`cuts` counts as kept whole (at least :data:`KEPT` inside,
    under :data:`GRAZED`: a soldier's outstretched fist trimmed by 31 px) or as left out (at most
    :data:`LEFT_OUT`, more than ``1 - GRAZED``: a sliver of it). Such a crop is allowed, but its
    reason does not call its edges clean."""
    def through(share: np.ndarray) -> np.ndarray:
        whole_but = (share >= KEPT) & (share < GRAZED)
        return whole_but | ((share > 1.0 - GRAZED) & (share <= LEFT_OUT))  # or a sliver of it

    return _any_object(inside, through) & ~cuts(inside)


def _any_object(inside: np.ndarray, test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``(N,)`` bool: whether ``test`` holds for any of the ``K`` objects' ``(K, N)`` inside shares
    (all false for no object)."""
    inside = np.asarray(inside, dtype=np.float64)
    if inside.ndim != 2 or not len(inside):
        return np.zeros(inside.shape[-1] if inside.ndim == 2 else 0, dtype=bool)
    return test(inside).any(axis=0)


def allowed_crops(boxes: np.ndarray, analysis: CompositionAnalysis, face_inside: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: the candidates that cut nothing they could avoid cutting (rules above).

    The rules run twice when the photo has salient objects: in full, and with the rules for animals
    and objects other than the main subject (their boxes) left to the masks, which know their extent
    (the main object no crop holds keeps most of itself in both: a pizza, not a cup and its sliver).
    The second wins when it keeps more saliency safe (:func:`_safe_mass`): a box or a small main person
    must not drop every crop keeping a salient object whole; neither lets a crop through a face.

    Args:
        boxes: ``(N, 4)`` candidates, ``xywh`` original pixels.
        analysis: the photo's analysis.
        face_inside: ``(F, N)`` share of each face inside each candidate (from scoring).
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    chosen = protected_regions(analysis)
    if not chosen:
        return _box_rules(b, analysis, face_inside, objects=True)
    masks = np.stack([trimmed_at_border(analysis.subjects[i].mask) for i in chosen])
    inside = mask_inside_fractions(b, masks, analysis.width, analysis.height)
    full = _protect_masks(analysis, _box_rules(b, analysis, face_inside, objects=True), chosen, inside, b)
    mass = np.asarray([analysis.subjects[i].mass for i in chosen])
    safe_full = _safe_mass(full, inside, mass)
    differs = any(s.kind != "person" for s in analysis.subjects_to_keep) or (
        not analysis.faces and bool(analysis.subjects_to_keep))
    if not differs or safe_full >= mass.sum() - 1e-9:
        return full
    lean = _protect_masks(analysis, _box_rules(b, analysis, face_inside, objects=False), chosen, inside, b)
    return lean if _safe_mass(lean, inside, mass) > safe_full + 1e-9 else full


def _safe_mass(allowed: np.ndarray, inside: np.ndarray, mass: np.ndarray) -> float:
    """The saliency ``mass (K,)`` of the protected objects that some ``allowed`` crop keeps whole and
    none cuts, from their ``inside (K, N)`` shares."""
    row = inside[:, allowed]
    safe = (row >= MASK_KEPT).any(axis=1) & ~((row > MASK_OUT) & (row < MASK_KEPT)).any(axis=1)
    return float(mass[safe].sum())


def _box_rules(b: np.ndarray, analysis: CompositionAnalysis, face_inside: np.ndarray,
               objects: bool) -> np.ndarray:
    """Rules 0-3 of the module docstring (``objects=False``: for faces and people only)."""
    allowed = np.ones(len(b), dtype=bool)
    # both passes: the lean one leaves other objects' boxes to the masks, never the main subject's (a crop
    # leaving the osprey out is not safe for it)
    main = main_subject(analysis)
    keep = [s for s in analysis.subjects_to_keep  # a tie is the person's; a headless torso is the frame's
            if (objects or s.kind == "person") and not fills_frame(s, analysis) and not analysis.is_worn(s)
            and not headless(s, analysis)]
    if main is not None:
        inside = inside_fractions(b, [main.box])[0]
        if (inside >= KEPT).any():
            allowed &= inside >= KEPT
        elif main.kind == "animal":  # its head, where a crop can (a penguin's, not its body)
            heads = inside_fractions(b, animal_heads(analysis, main))
            head = (heads >= KEPT).any(axis=0)
            if head.any():
                allowed &= head
            elif len(heads) == 1:  # a head no crop holds whole (a close-up's face at 9:16): most of it
                allowed &= heads[0] >= MOST_OF_MAIN * heads[0].max()
        elif isinstance(main, Region) or main.kind == "object":  # its top where a crop can (a drum's head)
            if isinstance(main, Region) or not objects:  # most of it (the full pass: a detection's
                allowed &= inside >= MOST_OF_MAIN * inside.max()  # below, after the people's rules)
            if main.box[1] > TOP_AT_BORDER * analysis.height:  # the photo's own frame cut its top
                top = inside_fractions(b, [outline_top(analysis, main.box)])[0] >= KEPT
                allowed = _where_possible(allowed, top)
            end = vehicle_end_kept(b, main, analysis.width)  # one end whole, never both nibbled
            allowed = _where_possible(allowed, end)
    elif (region := dominant_region(analysis)) and region.box[1] > TOP_AT_BORDER * analysis.height:
        allowed = _where_possible(allowed, b[:, 1] <= region.box[1])  # 0c. no edge below its top (a finial)
    for margin in (GROUP_MARGIN, 0.0):  # 0b. everyone in, with room round each face where a crop can
        together = _group_whole(b, analysis, margin)
        if together is not None and (allowed & together).any():
            allowed &= together
            break
    else:  # nobody fits with everyone: as many of the group as fit (three friends, a square holds two)
        kept = _group_kept(b, analysis)
        if kept is not None and allowed.any() and kept[allowed].max() >= 2:
            allowed &= kept == kept[allowed].max()
    later = []  # a face's hair and lower lip: after the people's rules (a neck band, a whole body)
    for rank, fi in enumerate(np.argsort([-(f.box[2] * f.box[3]) for f in analysis.faces])):
        inside = face_inside[fi]
        allowed = _keep_whole(allowed, inside)
        if (inside[allowed] >= KEPT).any():  # 1b. and the whole head round it, where a crop can
            face = analysis.faces[fi]  # its head as usual, and up to the hair above it (2, N)
            shares = inside_fractions(b, [head_box(face, analysis.width, analysis.height, hair)
                                          for hair in (None, analysis)])
            head, hair = (shares > LEFT_OUT) & (shares < KEPT) & (inside > LEFT_OUT)
            allowed = _where_possible(allowed, ~head)
            if rank == 0:  # 1c. a close-up's eyes high, what the head wears in, where a crop can
                allowed = _close_up_framed(allowed, b, face, inside, analysis)
            later.append(hair)  # (then the hair, after the people's rules)
        if not (inside[allowed] >= KEPT).any():
            # the largest face must keep its eyes in; another may also be left out altogether
            face = analysis.faces[fi]
            for bad in (~eyes_kept(b, face), ~mouth_kept(b, face, 0.05)):  # eyes first, then the mouth too
                allowed = _where_possible(allowed, ~(bad & (inside > LEFT_OUT)) if rank > 0 else ~bad)
            later.append(~mouth_kept(b, face, LOWER_LIP) & (inside > LEFT_OUT))
    for subject in keep:
        inside = inside_fractions(b, [subject.box])[0]
        if (inside[allowed] >= KEPT).any():
            allowed = _keep_whole(allowed, inside)
        else:
            if subject is main:
                # most of it, as much as the ratio allows: never a scrap of a close-up (a tiger's
                # snout), never none of it (a performer too wide for 9:16 left out for the backdrop)
                allowed &= inside >= MOST_OF_MAIN * inside[allowed].max()
            cut_rules = (person_cuts(b, subject, analysis.faces) if subject.kind == "person"
                         else object_cuts(b, subject))
            for bad in cut_rules:  # each rule on its own: a narrow crop may have to cut down a body
                allowed = _where_possible(allowed, ~bad)
    for bad in later:
        allowed = _where_possible(allowed, ~bad)
    return allowed


def _close_up_framed(allowed: np.ndarray, b: np.ndarray, face: Detection, inside: np.ndarray,
                     analysis: CompositionAnalysis) -> np.ndarray:
    """Rule 1c: where ``face`` (kept whole: ``inside``, its shares) is a close-up in a crop of ``b (N,
    4)`` (its height at least :data:`CLOSE_UP` of the crop's), its chin in where a crop can unless the
    head wears something (a bearded chin, whole by the tolerance, was cut at 1:1 to keep the hair: 6
    votes to 0 against it), then its eye line at most :data:`LOW_EYES` of the crop's height down and
    its crown (what the head wears too: :func:`crown_worn`) inside, when some allowed close-up has
    both; crops where it is no close-up stay, and so does the uncropped photo (the photographer placed
    the eyes: a woman looking down had only a 65 % crop at ``original``). Before the people's rules: a
    bust's square had ended above its neck band, the face low under a flag."""
    line = (sum(y for _, y in face.eyes()) / 2 - b[:, 1]) / np.maximum(b[:, 3], 1e-9)
    whole = ~np.any(inner_edges(analysis, b), axis=0)  # no edge inside the photo: the uncropped photo
    close = (inside >= KEPT) & (face.box[3] >= CLOSE_UP * b[:, 3]) & ~whole
    top, worn = crown_worn(face, analysis)
    if not worn:  # the chin before the hair, not before a fez or a hood
        allowed = _where_possible(allowed, ~(close & (b[:, 1] + b[:, 3] < face.box[1] + face.box[3] - 1)))
    framed = (line <= LOW_EYES) & (b[:, 1] <= top + 1.0)
    return allowed & ~(close & ~framed) if (allowed & close & framed).any() else allowed


def _where_possible(allowed: np.ndarray, rule: np.ndarray | None) -> np.ndarray:
    """``allowed`` narrowed to the crops that also satisfy ``rule`` (a mask; None: no rule), unless
    none does: no rule empties the candidate set."""
    return allowed & rule if rule is not None and (allowed & rule).any() else allowed


def _group(analysis: CompositionAnalysis) -> list[Detection]:
    """The photo's group: the faces of at least :data:`GROUP_FACE` of the largest face's area."""
    area = np.asarray([f.box[2] * f.box[3] for f in analysis.faces], dtype=np.float64)
    return [f for f, a in zip(analysis.faces, area) if a >= GROUP_FACE * area.max()]


def _group_whole(b: np.ndarray, analysis: CompositionAnalysis, margin: float) -> np.ndarray | None:
    """``(N,)`` bool: the crops ``b (N, 4)`` that keep every face of the group (:func:`_group`) whole,
    each face's box grown by ``margin`` of its size on every side (within the photo); None when the
    group has fewer than two faces."""
    group = _group(analysis)
    if len(group) < 2:
        return None
    roomy = [grown(f.box, margin, margin, margin, analysis.width, analysis.height) for f in group]
    return (inside_fractions(b, roomy) >= KEPT).all(axis=0)


def _group_kept(b: np.ndarray, analysis: CompositionAnalysis) -> np.ndarray | None:
    """``(N,)``: how many faces of the group (:func:`_group`) each crop keeps whole, 0 for a crop
    that cuts one (never two faces and a sliver of the third); None when the group has fewer than
    two faces."""
    group = _group(analysis)
    if len(group) < 2:
        return None
    inside = inside_fractions(b, [f.box for f in group])
    return np.where(cuts(inside), 0, (inside >= KEPT).sum(axis=0))


def mask_inside_fractions(boxes: np.ndarray, masks: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(K, N)``: the share of each of ``masks (K, mh, mw)`` (bool, over the whole ``width x
    height`` photo) inside each ``(N, 4)`` ``xywh`` box, with crop edges between map cells counted
    by area."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(masks):
        return np.zeros((0, len(b)))
    k, mh, mw = masks.shape
    integral = np.zeros((k, mh + 1, mw + 1))
    integral[:, 1:, 1:] = masks.astype(np.float64).cumsum(1).cumsum(2)

    def at(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # the integral at fractional cell positions
        x, y = np.clip(x, 0, mw), np.clip(y, 0, mh)
        x0, y0 = np.minimum(np.floor(x).astype(int), mw - 1), np.minimum(np.floor(y).astype(int), mh - 1)
        fx, fy = x - x0, y - y0
        return ((1 - fx) * (1 - fy) * integral[:, y0, x0] + fx * (1 - fy) * integral[:, y0, x0 + 1]
                + (1 - fx) * fy * integral[:, y0 + 1, x0] + fx * fy * integral[:, y0 + 1, x0 + 1])

    sx, sy = mw / width, mh / height
    x0, y0 = b[:, 0] * sx, b[:, 1] * sy
    x1, y1 = (b[:, 0] + b[:, 2]) * sx, (b[:, 1] + b[:, 3]) * sy
    inside = at(x1, y1) - at(x0, y1) - at(x1, y0) + at(x0, y0)
    return inside / np.maximum(integral[:, -1, -1][:, None], 1e-9)


def trimmed_at_border(mask: np.ndarray, share: float = BORDER_TRIM) -> np.ndarray:
    """``mask (mh, mw)`` less ``share`` of its extent next to each photo border it touches (rule 4:
    what a crop must keep of a region the photographer's frame already cuts); unchanged when that
    would leave nothing."""
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return mask
    mh, mw = mask.shape
    dy = int(round(share * (ys.max() - ys.min() + 1)))
    dx = int(round(share * (xs.max() - xs.min() + 1)))
    out = mask.copy()
    if ys.min() == 0:
        out[:dy] = False
    if ys.max() == mh - 1 and dy:
        out[mh - dy:] = False
    if xs.min() == 0:
        out[:, :dx] = False
    if xs.max() == mw - 1 and dx:
        out[:, mw - dx:] = False
    return out if out.any() else mask


#: The salient objects rule 4 protects (:func:`procrop.candidates.protected_regions`).
salient_objects = protected_regions


def _protect_masks(analysis: CompositionAnalysis, allowed: np.ndarray, chosen: list[int],
                   inside: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Rules 4 and 5 of the module docstring, for the salient objects ``chosen`` with their
    ``inside (K, N)`` shares in the candidates ``boxes (N, 4)``."""
    W, H = analysis.width, analysis.height
    allowed = allowed.copy()
    kept_before: list[np.ndarray] = []  # the objects before this one that some crop keeps whole
    for k, row in enumerate(inside):  # 4. whole, or left out (unless cut for one before); else its cores
        if (row[allowed] >= MASK_KEPT).any():
            earlier = np.asarray(kept_before).reshape(-1, len(row)) >= MASK_KEPT
            allowed = _whole_or_out(allowed, row, earlier)
            kept_before.append(row)
        else:
            allowed = _protect_cores(analysis, analysis.subjects[chosen[k]].mask, boxes, allowed)
    whole, out = inside >= MASK_KEPT, inside <= MASK_OUT
    subjects = [analysis.subjects[i] for i in chosen]
    for i in range(len(chosen)):  # 5. groups
        for j in range(i + 1, len(chosen)):
            a, c = subjects[i], subjects[j]
            if not grouped(a.mass, a.box, c.mass, c.box, W, H):
                continue
            split = (whole[i] & out[j]) | (whole[j] & out[i])
            if (allowed & whole[i] & whole[j]).any() and (allowed & ~split).any():
                allowed &= ~split
    return allowed


def _protect_cores(analysis: CompositionAnalysis, mask: np.ndarray, boxes: np.ndarray,
                   allowed: np.ndarray) -> np.ndarray:
    """Rule 4 for a salient region no allowed crop keeps whole (a map spread past the object, a region
    longer than the ratio): its cores, at the first of :data:`CORE_LEVELS` where an allowed crop keeps
    the most salient whole, each kept whole or left out in turn, until one could be only by crops all
    under :data:`CORES_LARGE` of the largest allowed one's area (a railing's cores had cut a cabin out)."""
    sal, area = np.asarray(analysis.saliency, dtype=np.float64), boxes[:, 2].astype(float) * boxes[:, 3]
    if sal.shape != mask.shape:
        return allowed
    for level in CORE_LEVELS:
        cores = subject_cores(sal, mask, level)
        if not cores:
            return allowed
        inside = mask_inside_fractions(boxes, np.stack(cores), analysis.width, analysis.height)
        if not (inside[0][allowed] >= MASK_KEPT).any():
            continue
        largest = CORES_LARGE * area[allowed].max()  # once: the limit does not creep core by core
        for row in inside:  # a refused core stops the rule: a less salient one never overrides it
            narrowed = _whole_or_out(allowed, row) if (row[allowed] >= MASK_KEPT).any() else allowed
            if not narrowed.any() or area[narrowed].max() < largest:
                return allowed
            allowed = narrowed
        return allowed
    return allowed


def _whole_or_out(allowed: np.ndarray, inside: np.ndarray, earlier: np.ndarray | None = None) -> np.ndarray:
    """``allowed`` without the crops that cut a mask (more than :data:`MASK_OUT` but less than
    :data:`MASK_KEPT` of it ``inside (N,)`` them): rule 4, for an object some allowed crop keeps whole.

    ``earlier (J, N)``: whether each crop keeps whole each more salient object (rule 4's order). A
    crop that cuts this one stays when no allowed crop keeps this one whole beside every earlier
    object the crop keeps whole (a crop that keeps them and leaves this one out stays too: the
    scorer chooses)."""
    cut = (inside > MASK_OUT) & (inside < MASK_KEPT)
    if earlier is None or not len(earlier):
        return allowed & ~cut
    whole = allowed & (inside >= MASK_KEPT)
    drop = np.zeros_like(cut)
    for kept in {tuple(col) for col in earlier[:, cut & allowed].T}:  # what the cutting crops keep whole
        need = np.asarray(kept, dtype=bool)
        beside = earlier[need].all(axis=0) if need.any() else np.ones(len(inside), dtype=bool)
        if (whole & beside).any():  # this object fits whole beside them: the cut is avoidable
            drop |= cut & (earlier == need[:, None]).all(axis=0)
    return allowed & ~drop


def _keep_whole(allowed: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Drop the crops that cut a subject when an allowed crop keeps it whole."""
    if (inside[allowed] >= KEPT).any():
        return allowed & ~cuts(inside[None])
    return allowed
