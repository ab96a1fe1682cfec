"""Which subject is the photo's main one: the subject every crop keeps whole when one can (rule 0
of :mod:`procrop.scoring.protection`).

The largest face; else the first detected subject to keep (people, then animals, then objects:
:func:`~procrop.perception.analysis.importance`) that is neither a weak, much smaller detection
beside a confident one, nor the scene itself (:func:`fills_frame`); and when that face or
detection lies apart from what stands out (an animal or object, a person or face much smaller
than it, or an unsure person found with no face), the salient-object head's dominant region
instead, as does an unsure object detection holding little of the saliency that is not apart from
that region (a part of it); a tiny unsure person gives way even to a region that does not dominate;
a person whose head the frame's top edge cut, with no face found, to an animal or object holding as
much of the saliency; a vase gives way to the salient region rising out of it (the flowers it holds).
"""

from __future__ import annotations

import numpy as np

from ..geometry import inside_fractions
from ..perception.analysis import CONFIDENT, CompositionAnalysis, Region
from ..perception.detectors import Detection
from ..perception.salient import box_cells

Box = tuple[float, float, float, float]

#: A weak detection whose box is smaller than this share of a confident subject's is not the main
#: subject (:func:`main_subject`).
MINOR_AREA = 0.1
#: A salient region holding this share of the saliency, outside the box of a detection that holds
#: less than OFF_SALIENCY of it, is the main subject instead of that animal or object
#: (:func:`main_subject`).
DOMINANT_MASS, OFF_SALIENCY = 0.5, 0.2
#: An object (not a person or an animal) whose box spans at least this share of the photo's width
#: and of its height is the scene, not a subject (:func:`fills_frame`): a "dining table" over a
#: whole ceiling, a "potted plant" over a field of flowers.
SCENE_SPAN = 0.9
#: A face whose box is under this share of the dominant region's, apart from it, gives way to it.
FACE_MINOR = 0.02
#: An unsure person whose box is under TINY_PERSON of the photo gives way to a salient region apart
#: from it that holds at least TINY_PERSON_REGION of the saliency, dominant or not (:func:`main_subject`).
TINY_PERSON, TINY_PERSON_REGION = 0.03, 0.2
#: A container whose salient region rises at least RISES of its height above its box holds what
#: the photo is of (the tulips in a vase): that region is the main subject (:func:`main_subject`)
#: when its box holds HOLDS of the container's, centre included, and its mask covers FILLS of it.
CONTAINERS, RISES, HOLDS, FILLS = ("vase",), 0.5, 0.6, 0.3
#: A box starting this close to the photo's top edge (a share of its height) was cut there by the
#: photographer's frame: a main subject no crop holds whole then keeps no top of its own (rule 0 of
#: :mod:`procrop.scoring.protection`), and a person with no face in the photo has lost its head
#: (:func:`headless`: a bystander's torso, giving way to an animal or object, :func:`_rival`).
TOP_AT_BORDER = 0.02


def main_subject(analysis: CompositionAnalysis) -> Detection | Region | None:
    """Rule 0's main subject: the largest face, else the first subject to keep that is not minor
    (a weak detection, under :data:`~procrop.perception.analysis.CONFIDENT`, whose box is smaller
    than :data:`MINOR_AREA` of a confident subject's: not two ground-crew figures found at 0.56
    beside a space shuttle found at 0.81, which every crop would then have had to keep), unless it
    is an animal or object away from what stands out: when the salient-object head finds one
    region holding :data:`DOMINANT_MASS` of the photo's saliency outside the detection's box, and
    the box holds less than :data:`OFF_SALIENCY` of it, that region is the main subject (not a
    "sheep" found at 0.47 on a shore beside the rowing boat the photo is of); an unsure object
    detection (under ``CONFIDENT``) holding that little gives way when not apart from the region
    too, as a part of it (a palette found as a "keyboard" at 0.69 among cosmetics, which every 16:9
    crop kept whole while cutting every bottle's top: ``data/preferences/checks/unsure_small_object/``).
    With no face found, a person whose box starts at the photo's top (:data:`TOP_AT_BORDER`: the frame
    cut its head off, a bystander's torso) gives way to the first animal or object whose box holds as
    much of the saliency (:func:`_rival`: a dog at a parade among legs, a crate of starfish held out
    by a man seen from behind: ``checks/headless_person/``). A person gives way
    the same way only when small beside the region (under :data:`MINOR_AREA` of its box: a pilot
    walking beside his jet), a face only when tiny (under :data:`FACE_MINOR`: a bather beside the
    elephant); a face inside the region (a portrait) never does, and neither does a person found
    with at least :data:`~procrop.perception.analysis.CONFIDENT` unless small; an unsure one apart
    from the region, whose box holds less of the saliency than the region, gives way whatever its
    size (a hand holding out seed, found as a "person" at 0.37, beside the chickadee taking it), and
    a tiny one (under :data:`TINY_PERSON` of the photo) gives way, on the same terms (apart from it,
    holding more of the saliency than its box), to a region holding :data:`TINY_PERSON_REGION` of the
    saliency even when no region dominates (a figure found at 0.64 in the crowd below fireworks, at
    0.51 at the end of a sushi bar: every crop had kept that figure and left out what the photo is of;
    blind judges preferred the crops this moved, ``data/preferences/checks/tiny_person/``)."""
    region = largest_region(analysis)
    top = region if region is not None and region.mass >= DOMINANT_MASS else None
    face = max(analysis.faces, key=lambda f: f.box[2] * f.box[3], default=None)
    if face is not None:
        small = top is not None and face.box[2] * face.box[3] < FACE_MINOR * top.box[2] * top.box[3]
        return top if small and _apart(face.box, top.box) else face
    keep = [d for d in analysis.subjects_to_keep  # a tie is the person's, never the main subject
            if not fills_frame(d, analysis) and not analysis.is_worn(d)]
    largest = max((d.box[2] * d.box[3] for d in keep if d.score >= CONFIDENT), default=0.0)
    # with no confident subject, largest is 0 and the first subject to keep passes
    main = next((d for d in keep if d.score >= CONFIDENT or d.box[2] * d.box[3] >= MINOR_AREA * largest),
                None)
    if main is not None and headless(main, analysis):  # no face, and the frame's top edge cut its head off
        main = _rival(main, keep, analysis)
    if main is not None and main.label in CONTAINERS:  # every crop had kept a pot and cut its tulips
        held = _contents(main, analysis)
        if held is not None:
            return held
    if main is not None and region is not None and _tiny_unsure_person(main, analysis):
        top = region if region.mass >= TINY_PERSON_REGION else top
    if main is None or top is None:
        return main
    apart, share = _apart(main.box, top.box), _saliency_share(analysis, main.box)
    if main.kind == "person" and main.score < CONFIDENT and apart and top.mass > share:
        return top  # an unsure, faceless "person" (a hand holding out seeds) beside what stands out more
    if main.kind == "person" and main.box[2] * main.box[3] >= MINOR_AREA * top.box[2] * top.box[3]:
        return main  # a person gives way only when small beside the region (a pilot beside his jet)
    unsure = main.kind == "object" and main.score < CONFIDENT  # a part of it, apart or not: a palette
    return top if (apart or unsure) and share < OFF_SALIENCY else main  # called a "keyboard" on white


def largest_region(analysis: CompositionAnalysis) -> Region | None:
    """The salient region (with a mask) holding the most of the saliency map, if any."""
    return max((s for s in analysis.subjects if s.mask is not None), key=lambda s: s.mass, default=None)


def dominant_region(analysis: CompositionAnalysis) -> Region | None:
    """The largest salient region when it holds :data:`DOMINANT_MASS` of the saliency map or more."""
    region = largest_region(analysis)
    return region if region is not None and region.mass >= DOMINANT_MASS else None


def headless(subject: Detection, analysis: CompositionAnalysis) -> bool:
    """A person whose box starts within :data:`TOP_AT_BORDER` of the photo's top, no face found in the
    photo: the frame cut its head off (a bystander's torso)."""
    top = subject.box[1] <= TOP_AT_BORDER * analysis.height
    return subject.kind == "person" and not analysis.faces and top


def _rival(person: Detection, keep: list[Detection], analysis: CompositionAnalysis) -> Detection:
    """The first animal or object to keep, not mostly inside ``person``'s box (a thing it holds or
    wears), whose box holds at least as much of the saliency map as the person's, else ``person``."""
    share = _saliency_share(analysis, person.box)
    for d in keep:
        held = inside_fractions(np.asarray([person.box], np.float64), [d.box])[0, 0] > 0.5
        if d.kind != "person" and not held and _saliency_share(analysis, d.box) >= share:
            return d
    return person


def _contents(container: Detection, analysis: CompositionAnalysis) -> Region | None:
    """The salient region rising :data:`RISES` of ``container``'s height above it whose box holds
    :data:`HOLDS` of the container's box and its centre, and whose mask covers :data:`FILLS` of it
    (the flowers in a vase, with their vase; not a post beside it), if any; the most salient."""
    x, y, w, h = container.box
    sx, sy = analysis.map_scale

    def holds(s: Region) -> bool:
        inside = inside_fractions(np.asarray([s.box], dtype=np.float64), [container.box])[0, 0]
        covered = s.mask[box_cells(container.box, sx, sy, s.mask.shape)].mean()
        return inside >= HOLDS and s.box[0] <= x + w / 2 <= s.box[0] + s.box[2] and covered >= FILLS

    held = [s for s in analysis.subjects if s.mask is not None and s.box[1] <= y - RISES * h and holds(s)]
    return max(held, key=lambda s: s.mass, default=None)


def _tiny_unsure_person(subject: Detection, analysis: CompositionAnalysis) -> bool:
    """A person found under :data:`~procrop.perception.analysis.CONFIDENT` whose box is under
    :data:`TINY_PERSON` of the photo."""
    return (subject.kind == "person" and subject.score < CONFIDENT
            and subject.box[2] * subject.box[3] < TINY_PERSON * analysis.width * analysis.height)


def _apart(box: Box, region: Box) -> bool:
    """The region mostly outside the box, and the box mostly outside the region."""
    region_in_box = inside_fractions(np.asarray([box], dtype=np.float64), [region])[0, 0]
    box_in_region = inside_fractions(np.asarray([region], dtype=np.float64), [box])[0, 0]
    return bool(region_in_box < 0.5 and box_in_region < 0.5)


def _saliency_share(analysis: CompositionAnalysis, box: Box) -> float:
    """The share of the photo's saliency map inside ``box`` (``xywh`` original pixels)."""
    sal = np.asarray(analysis.saliency, dtype=np.float64)
    total = float(sal.sum())
    if total <= 0:
        return 0.0
    sx, sy = analysis.map_scale
    return float(sal[box_cells(box, sx, sy, sal.shape)].sum()) / total


def fills_frame(subject: Detection, analysis: CompositionAnalysis) -> bool:
    """Whether ``subject`` is an object whose box spans :data:`SCENE_SPAN` of the photo both ways:
    no crop of another shape keeps it whole, and "cut it cleanly" (no edge through the middle half
    of its extent) would push every crop against the photo's sides, away from what stands out in
    it. Such a box is the scene; the salient-object masks protect what is in it."""
    return subject.kind == "object" and (subject.box[2] >= SCENE_SPAN * analysis.width
                                         and subject.box[3] >= SCENE_SPAN * analysis.height)


#: The head of an animal too large for the ratio: a box this share of the animal's width and height
#: round the highest point of its outline (:func:`animal_head`).
HEAD_SIZE = (0.4, 0.4)
#: The head round a face found on the animal (:func:`animal_head`): its centre is known, so less
#: of the box is needed (a crop of a narrow ratio can hold it whole more often).
MARKED_HEAD_SIZE = (0.25, 0.3)
#: A face found in the top EARS of an animal's box has the head reach up to the box's top: a sitting
#: cat's ears stand far above its face (a tabby's were cut at 16:9).
EARS = 0.4
#: Saliency (of the map's maximum inside the animal's box) that belongs to the animal's outline.
OUTLINE_LEVEL = 0.5


def _marked_head(animal: Detection) -> tuple[float, float] | None:
    """The animal's ``"head"`` keypoint ``(x, y)`` (a face found on it), if any."""
    return next(((px, py) for name, px, py, _ in animal.keypoints if name == "head"), None)


def animal_head(analysis: CompositionAnalysis, animal: Detection) -> Box:
    """Where an animal's head most likely is, ``(x, y, w, h)`` inside its box: :data:`MARKED_HEAD_SIZE`
    of the box round its ``"head"`` keypoint when the face detector found a face on it (a macaw's,
    with the beak; up to the box's top for a face in its top :data:`EARS`: a cat's ears), else
    :data:`HEAD_SIZE` round the highest point of its outline in the saliency map (a bird's, a
    penguin's or a standing horse's head is its highest part; a bear's or a drinking camel's is not)."""
    x, y, w, h = animal.box
    marked = _marked_head(animal)
    if marked is not None:  # a face found on it: the head round it, a smaller share of the box
        (px, py), hw, hh = marked, MARKED_HEAD_SIZE[0] * w, MARKED_HEAD_SIZE[1] * h
        hx, hy = min(max(px - hw / 2, x), x + w - hw), min(max(py - hh / 2, y), y + h - hh)
        if py - y <= EARS * h:  # a face high on the animal: its ears, up to the box's top
            return (hx, y, hw, hy + hh - y)
        return (hx, hy, hw, hh)
    return outline_top(analysis, animal.box)


def outline_top(analysis: CompositionAnalysis, box: Box) -> Box:
    """:data:`HEAD_SIZE` of ``box`` round the highest point of the outline the saliency map draws
    inside it (cells of at least :data:`OUTLINE_LEVEL` of the box's maximum), ``(x, y, w, h)``: an
    animal's head, and the top of an object no crop holds whole (a drum's head, a spire, a peak)."""
    x, y, w, h = box
    hw, hh = HEAD_SIZE[0] * w, HEAD_SIZE[1] * h
    mh, mw = analysis.saliency.shape
    ys, xs = box_cells(box, mw / analysis.width, mh / analysis.height, (mh, mw))
    cells = analysis.saliency[ys, xs]
    if cells.size == 0 or cells.max() <= 0:
        return (x + (w - hw) / 2, y, hw, hh)
    inside = cells >= OUTLINE_LEVEL * cells.max()
    # each column's first outline row (below the box where the column has none)
    top = np.where(inside.any(axis=0), inside.argmax(axis=0), inside.shape[0])
    col = float(np.mean(np.flatnonzero(top == top.min())))  # the highest columns' middle
    cx = (xs.start + col + 0.5) * analysis.width / mw
    cy = (ys.start + top.min()) * analysis.height / mh
    hx = min(max(cx - hw / 2, x), x + w - hw)
    hy = min(max(cy - 0.15 * hh, y), y + h - hh)
    return (hx, hy, hw, hh)


#: A wide animal (box wider than this many times its height) whose outline is highest in the middle
#: of its width (between these shares) has its head at one end (:func:`animal_heads`).
WIDE, MIDDLE = 1.2, (0.3, 0.7)
#: The part of such an animal's box at either end that holds the head: a share of its width and of
#: its height from the top.
END_SIZE = (0.35, 0.75)
#: Such an animal is a close-up of its face (a cat's face filling the frame, its dark fur on either
#: side) when the most salient region centred in its box, named as the animal or unnamed, is at most
#: COMPACT of the box's width, holds at least FACE_MASS of the photo's saliency and spans the crown:
#: that region is its head (:func:`close_up_face`).
COMPACT, FACE_MASS = 0.7, 0.5


def animal_heads(analysis: CompositionAnalysis, animal: Detection) -> list[Box]:
    """Where an animal's head may be, each ``(x, y, w, h)``: :func:`animal_head`'s box, or, for a wide
    animal without a found face whose outline is highest in the middle (a bear's shoulders, a tiger's
    back), both ends of its box: its head is at one of them, not in the middle of its flank; unless
    it is a close-up of its face (:func:`close_up_face`): then the face."""
    head = animal_head(analysis, animal)
    x, y, w, h = animal.box
    crown = head[0] + head[2] / 2  # the outline's highest point, across
    middle = MIDDLE[0] < (crown - x) / max(w, 1e-9) < MIDDLE[1]
    if _marked_head(animal) is not None or w <= WIDE * h or not middle:
        return [head]
    face = close_up_face(analysis, animal, crown)
    if face is not None:
        return [face]
    ew, eh = END_SIZE[0] * w, END_SIZE[1] * h
    return [(x, y, ew, eh), (x + w - ew, y, ew, eh)]


def close_up_face(analysis: CompositionAnalysis, animal: Detection, crown: float) -> Box | None:
    """The face of an animal photographed close up, ``(x, y, w, h)`` inside its box, or None: the
    most salient region with a mask centred in the box, when it is named as the animal (or
    unnamed), spans the column ``crown`` (the outline's highest point), is at most :data:`COMPACT`
    of the box's width and holds at least :data:`FACE_MASS` of the photo's saliency."""
    x, y, w, h = animal.box
    inside = [s for s in analysis.subjects if s.mask is not None
              and x <= s.box[0] + s.box[2] / 2 <= x + w and y <= s.box[1] + s.box[3] / 2 <= y + h]
    if not inside:
        return None
    s = max(inside, key=lambda r: r.mass)
    sx, sy, sw, sh = s.box
    if (s.label not in ("", animal.label) or s.mass < FACE_MASS or sw > COMPACT * w
            or not sx <= crown <= sx + sw):
        return None
    x0, y0, x1, y1 = max(sx, x), max(sy, y), min(sx + sw, x + w), min(sy + sh, y + h)
    return (x0, y0, x1 - x0, y1 - y0)


#: How far (a share of its width) a crop's edge may reach into the end of a vehicle it keeps whole,
#: and how close (a share of the photo's width) to the photo's side an end is the photographer's
#: cut, not the vehicle's end (:func:`vehicle_end_kept`).
VEHICLE_END_SLACK, SIDE_AT_BORDER = 0.02, 0.02
#: The COCO classes :func:`vehicle_end_kept` asks to be cut at one end: a vehicle's ends (a nose, a
#: bow, a front wheel and its lamp) are what it is, where a leaf's or a butterfly's middle is (judged
#: on 29 sheets, ``data/preferences/checks/object_ends``: vehicles 10 of 14, votes 27 to 15; other
#: objects and regions 8 of 15, votes 22 to 23).
VEHICLES = frozenset({"bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"})


def vehicle_end_kept(boxes: np.ndarray, subject: Detection | Region, width: float) -> np.ndarray | None:
    """Which of ``boxes (N, 4)`` keep one end of ``subject``, a vehicle no crop holds whole, whole
    (a crop edge beyond it, or within :data:`VEHICLE_END_SLACK` of its width; the scorer picks which
    end), as a mask ``(N,)``; None for a subject that is not one of :data:`VEHICLES` (a detection,
    or a salient region named by one), or whose two ends both lie on the sides of the photo
    (``width``): those are the photographer's cuts. An editor cuts one end of a motorcycle off
    cleanly; a crop nibbling both (a wheel's rim on one side, a tyre on the other) cuts two things."""
    if getattr(subject, "label", "") not in VEHICLES:
        return None
    x, _, w, _ = subject.box
    if x <= SIDE_AT_BORDER * width and x + w >= (1 - SIDE_AT_BORDER) * width:
        return None
    slack = VEHICLE_END_SLACK * w
    return (boxes[:, 0] <= x + slack) | (boxes[:, 0] + boxes[:, 2] >= x + w - slack)
