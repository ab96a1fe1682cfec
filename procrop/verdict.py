"""The crop-or-keep verdict in words: one wording for the JSON, the CLI summary and the web page.

A crop's ``confidence`` is how likely it looks better than the uncropped photo (0.5: no better, no
worse); below :data:`KEEP_BELOW` for the top crop, the photo is best kept as it is
(``keep_original``). The sentences name what is compared with what, which is better, and whose
score is whose:

* :func:`versus_original` (a crop's ``versus_original``): "72% likely to look better than the
  uncropped photo" (for a new shape under the uncropped photo's score, :data:`NEW_SHAPE`);
* :func:`verdict` (a result's ``verdict``): "Crop it: the top crop (score 0.83) is 72% likely to
  look better than the uncropped photo (score 0.79)." or "Keep the uncropped photo: the top crop
  (score 0.61) is only 3% likely to look better than the uncropped photo (score 0.79)."; between
  40 and 60 % (:data:`CLOSE_CALL`) it begins "A close call, either will do:" instead, and the
  result's ``close_call`` is true (the page shows it neither as "keep" nor as "crop"). When several
  ratios were asked the top crop is named with its ratio, "the top 4:5 crop" (:func:`top_crop_name`),
  here and in the preview sheet.

Keeping the photo as it is answers a request only when the uncropped photo has a requested shape:
``free``, ``original``, or a ratio (or output size) within 1 % of the photo's own
(:func:`can_keep`); when the top crop is the whole frame the verdict says to keep the photo
rather than compare it with itself. For other requests (say ``4:5`` of a 3:2 photo) there is no keep-or-crop
choice: ``keep_original`` is false and the verdict names the crop to use, "The uncropped photo is
not of the ratio asked (4:5), so the top crop is the one to use (score 0.61; the uncropped photo
scores 0.79, as a photographer's own frame nearly always does)."; for several, "The uncropped photo
is of none of the ratios asked (1:1, 4:5, 16:9), so use each ratio's top crop (the best, the top
16:9 crop, scores 0.51; ...)", and each such crop's ``versus_original`` says :data:`NEW_SHAPE`
when it scores under the uncropped photo. Advice to keep the photo is given on the best crop of a
ratio it answers, and names the asked ratios it does not ("The photo is not 4:5: use the top 4:5
crop."). A photo under :data:`SMALL_PHOTO_SIDE` on its short side is kept where it can be: too
small to judge a crop by. :func:`result_verdict` gives both fields of a result.

When a ratio has fewer crops than asked, because its alternatives scored under the cropper's
``min_score_ratio`` of its best, overlap a better crop too much or keep too little of what the best
keeps, :func:`dropped_alternatives` says so among the result's ``notes`` (information, not a fault:
the photo has fewer good, distinct crops).
The result's ``warnings`` say when the photo is too small to judge (:func:`small_photo_warning`)
and which crops an output size ``WxH`` enlarges (:func:`written_sizes`, in the Python API, the
command line and the HTTP API alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .geometry import has_border

#: The top crop's confidence below which the photo is best kept uncropped.
KEEP_BELOW = 0.5
#: Within this of :data:`KEEP_BELOW` the verdict says it is a close call (a 50 % "Crop it" read as
#: advice where it is a coin flip).
CLOSE_CALL = 0.1
#: How a close call's verdict begins (:func:`verdict`).
CLOSE_CALL_WORDS = "A close call, either will do"


def close_call(confidence: float) -> bool:
    """Whether a top crop of this ``confidence`` is a close call: within :data:`CLOSE_CALL` of even,
    as the percentage shown reads (39.96 % reads "40%" and is none)."""
    return abs(float(_pct(confidence)[:-1]) - 100 * KEEP_BELOW) < 100 * CLOSE_CALL


def keep_original(confidence: float) -> bool:
    """Whether a top crop of this ``confidence`` leaves the photo best kept as it is."""
    return bool(confidence < KEEP_BELOW)


def _pct(confidence: float) -> str:
    """``72%``; near the 50 % line with a decimal on its own side (``49.6%``, ``50.2%``): "50%" read
    as "Crop it" on one photo and "Keep" on another."""
    p = 100 * float(confidence)
    if round(p) != 50 or p == 50:
        return f"{round(p)}%"
    return f"{min(p, 49.9):.1f}%" if p < 50 else f"{max(p, 50.1):.1f}%"


#: Why a crop of a shape the uncropped photo is not scores under it: the top 1:1 crop of 99 % of
#: the 121 held-out photos does (4:5 98 %, 16:9 87 %); a trial read "0% likely to look better" on
#: every such crop as "do not publish this".
NEW_SHAPE_WHY = "as a photographer's own frame nearly always does"
#: A crop of a new shape that scores under the uncropped photo, in words (:func:`versus_original`).
NEW_SHAPE = f"a new shape: the uncropped photo scores more, {NEW_SHAPE_WHY}"
#: A crop of a photo too small to judge, in words (:func:`versus_original`; a 20 x 20 square's 1-px
#: trim read "79% likely to look better").
TOO_SMALL = "the photo is too small to judge a crop by"


def versus_original(confidence: float, whole: str | None = None, new_shape_under: bool = False,
                    too_small: bool = False) -> str:
    """One crop's confidence in words: "72% likely to look better than the uncropped photo", or,
    for a crop that is the whole frame, what :func:`whole_words` calls it (``whole``: "the uncropped
    photo itself"), or, for a crop of a shape the uncropped photo is not that scores under it
    (``new_shape_under``), :data:`NEW_SHAPE`, or, on a photo :func:`too_small_to_judge`
    (``too_small``), :data:`TOO_SMALL`."""
    if whole:
        return whole
    if new_shape_under:
        return NEW_SHAPE
    if too_small:
        return TOO_SMALL
    return f"{_pct(confidence)} likely to look better than the uncropped photo"


def top_crop_name(ratio: str, asked: Sequence[str] = ()) -> str:
    """How the verdict names the top crop: "the top crop" when at most one ratio was ``asked``, else
    with its ``ratio`` label, "the top 4:5 crop" ("the top free-form crop", "the top crop of the
    photo's own ratio" for ``free`` and ``original``)."""
    if len(asked) <= 1:
        return "the top crop"
    if ratio == "free":
        return "the top free-form crop"
    if ratio == "original":
        return "the top crop of the photo's own ratio"
    return f"the top {ratio} crop"


def verdict(top_score: float | None, uncropped_score: float, confidence: float,
            name: str = "the top crop") -> str:
    """Crop or keep, in one sentence naming both scores (``top_score`` None: no crop was found);
    ``name`` is the top crop's (:func:`top_crop_name`). Within :data:`CLOSE_CALL` of even it gives
    no order: "A close call, either will do: ..." (a trial read "Crop it: ... 53% likely ...; a close
    call, either will do" as an order taken back)."""
    if top_score is None:
        return f"Keep the uncropped photo (score {uncropped_score:.2f}): no crop was found."
    top, whole = _two_scores(top_score, uncropped_score, 4)  # 0.5864 and 0.5862, not 0.586 twice
    crop = f"{name} (score {top}) is"
    original = f"likely to look better than the uncropped photo (score {whole})."
    if close_call(confidence):
        return f"{CLOSE_CALL_WORDS}: {crop} {_pct(confidence)} {original}"
    if keep_original(confidence):
        return f"Keep the uncropped photo: {crop} only {_pct(confidence)} {original}"
    return f"Crop it: {crop} {_pct(confidence)} {original}"


def can_keep(ratio_labels: Sequence[str], width: int, height: int) -> bool:
    """Whether the uncropped ``width`` x ``height`` photo answers one of the requested ratios:
    ``free``, ``original``, or a fixed ratio / output size within 1 % of the photo's own."""
    from .geometry import parse_ratio

    own = width / height
    for label in ratio_labels:
        r = parse_ratio(label).resolve(width, height)
        if r.value is None or abs(r.value / own - 1) <= 0.01:
            return True
    return False


def fixed_ratio_verdict(top_score: float, uncropped_score: float, confidence: float, asked: Sequence[str],
                        top_ratio: str = "") -> str:
    """The advice for requests the uncropped photo cannot answer (none to keep it): the crop to use,
    or with several ratios each ratio's top crop, naming the best as :func:`top_crop_name` does
    (``top_ratio``); under the uncropped photo's score it says why (:data:`NEW_SHAPE_WHY`) rather
    than a discouraging "3% likely"."""
    top, whole = _two_scores(top_score, uncropped_score, 4)
    if top_score < uncropped_score:
        versus = f"the uncropped photo scores {whole}, {NEW_SHAPE_WHY}"
    else:
        versus = f"{_pct(confidence)} likely to look better than the uncropped photo, score {whole}"
    if len(asked) <= 1:
        return (f"The uncropped photo is not of the ratio asked ({', '.join(asked)}), so the top crop is the "
                f"one to use (score {top}; {versus}).")
    return (f"The uncropped photo is of none of the ratios asked ({', '.join(asked)}), so use each ratio's "
            f"top crop (the best, {top_crop_name(top_ratio, asked)}, scores {top}; {versus}).")


def result_verdict(crops: Sequence[Any], uncropped_score: float, width: int, height: int,
                   requested: Sequence[str] = (), content: Sequence[float] | None = None) -> dict[str, Any]:
    """A result's ``confidence`` (the confidence of the crop the verdict judges), ``keep_original``,
    ``close_call`` (:func:`close_call`: the verdict gives no order) and ``verdict`` from its crops
    (best first; each with ``ratio``, ``score`` and ``confidence``): the JSON, the CLI summary and
    the page show these. The verdict names the ``requested`` ratio labels in the order asked
    (default: the crops' ratios)."""
    if not crops:
        return {"confidence": 0.0, "keep_original": True, "close_call": False,
                "verdict": verdict(None, uncropped_score, 0.0)}
    top = crops[0]
    asked = list(dict.fromkeys([*requested, *(c.ratio for c in crops)]))
    if not can_keep(asked, width, height):
        return {"confidence": top.confidence, "keep_original": False, "close_call": False,
                "verdict": fixed_ratio_verdict(top.score, uncropped_score, top.confidence, asked, top.ratio)}
    # keep or crop: the best crop of a ratio the uncropped photo answers, not of one it cannot
    top = next((c for c in crops if can_keep([c.ratio], width, height)), top)
    box = getattr(top, "box", None)
    called = whole_words(box, width, height, content) if box is not None else None
    if called is None and too_small_to_judge(width, height):  # a 20 x 20 flat square read "Crop it"
        crop, whole = _two_scores(top.score, uncropped_score)  # for a 1-px trim
        return {"confidence": top.confidence, "keep_original": True, "close_call": False,
                "verdict": (f"Keep the uncropped photo: at {width}x{height} pixels it is too small to "
                            f"judge a crop by (the top crop scores {crop}; the uncropped photo {whole})."
                            + _unanswered_ratios_note(asked, width, height))}
    if called is not None:
        if called == ITSELF:
            said = f"the best crop is the whole frame (score {top.score:.2f})"
        else:  # a hairline or a scan border left out: its score is not the uncropped photo's
            crop, whole = _two_scores(top.score, uncropped_score)
            border = ", border and all" if called == INSIDE_BORDER else ""
            scores = (f"score {crop}; the uncropped photo{border}: {whole}" if crop != whole
                      else f"score {crop}, as the uncropped photo's")  # 0.638 and 0.638 read as two
            said = f"the best crop is {called} ({scores})"
        others = _unanswered_ratios_note(asked, width, height)
        return {"confidence": top.confidence, "keep_original": True, "close_call": False,
                "verdict": f"Keep the uncropped photo: {said}.{others}"}
    keep = keep_original(top.confidence)
    said = verdict(top.score, uncropped_score, top.confidence, top_crop_name(top.ratio, asked))
    return {"confidence": top.confidence, "keep_original": keep, "close_call": close_call(top.confidence),
            "verdict": said + _unanswered_ratios_note(asked, width, height)}


def _unanswered_ratios_note(asked: Sequence[str], width: int, height: int) -> str:
    """After advice to keep or crop the photo, a sentence naming the ``asked`` ratios it does not
    answer and sending them to their crops (a trial asked 1:1, 4:5 and 16:9 of a square photo and
    read "Keep the uncropped photo" as meant for all three); "" when it answers them all."""
    others = [r for r in asked if not can_keep([r], width, height)]
    if not others:
        return ""
    if len(others) == 1:
        return f" The photo is not {others[0]}: use the top {others[0]} crop."
    return f" The photo is not {', '.join(others[:-1])} or {others[-1]}: use their top crops."


def score_digits(scores: Sequence[float], most: int = 3) -> int:
    """How many decimals tell ``scores`` apart: two, or more, up to ``most`` (at least 2), where fewer
    would print two different scores alike (0.66 and 0.66 for 0.662 and 0.656)."""
    values, most = {float(s) for s in scores}, max(most, 2)
    for digits in range(2, most):
        if len({f"{v:.{digits}f}" for v in values}) == len(values):
            return digits
    return most if len(values) > 1 else 2


def _two_scores(a: float, b: float, most: int = 3) -> tuple[str, str]:
    """Two scores written to two decimals, or more, up to ``most``, where fewer would read the same
    (a trial read "scores 0.67; the uncropped photo scores 0.67, as a photographer's own frame nearly
    always does" of a crop scoring under the photo)."""
    digits = score_digits((a, b), most)
    return f"{a:.{digits}f}", f"{b:.{digits}f}"


#: A crop within this share of each side of the whole photo is the whole photo: a 1-2 px trim of a
#: 481-px side (a scan's edge) read "Crop it" beside "Keep" for a 1 px one. No pixel's floor: on a
#: 10-px photo one pixel off each edge is a fifth of it, not "the uncropped photo itself" (a trial).
WHOLE_SLACK = 0.01


#: What a crop that is the uncropped photo, and one that leaves only a scan border out, are
#: called (:func:`whole_words`).
ITSELF, INSIDE_BORDER = "the uncropped photo itself", "the whole picture inside its border"


def whole_words(box: Sequence[float], width: int, height: int,
                content: Sequence[float] | None = None) -> str | None:
    """What a crop that is the whole photo is called (None when it is not, :func:`is_whole`):
    :data:`ITSELF`, :data:`INSIDE_BORDER` when it is the picture inside its scan border
    (``content``, to 2 px: a trial's beach.jpg, 3-5 px of border on each side, was called "the
    whole frame less a hairline"), else "the whole frame less a hairline at its edge"."""
    if not is_whole(box, width, height, content):
        return None
    if tuple(int(v) for v in box) == (0, 0, width, height):
        return ITSELF
    if has_border(content, width, height):
        if max(abs(float(a) - float(b)) for a, b in zip(box, content)) <= 2:
            return INSIDE_BORDER  # (none found: no "border and all" for a 640 x 427 photo's 3:2, a trial)
    return "the whole frame less a hairline at its edge"


def is_whole(box: Sequence[float] | None, width: int, height: int,
             content: Sequence[float] | None = None) -> bool:
    """Whether ``box`` (x, y, w, h) is the whole photo, to :data:`WHOLE_SLACK` of each side, or the
    whole picture inside its scan border (``content``, the analysis's box of it): a crop that only
    leaves the border out read "Crop it" or "Keep" by the border's width."""
    if box is None:
        return False
    x, y, w, h = (float(v) for v in box)
    sx, sy = WHOLE_SLACK * width, WHOLE_SLACK * height
    cx, cy, cw, ch = (float(v) for v in (content or (0, 0, width, height)))
    whole = x <= sx and y <= sy and x + w >= width - sx and y + h >= height - sy
    return whole or (x <= cx + sx and y <= cy + sy and x + w >= cx + cw - sx and y + h >= cy + ch - sy)


#: How a note says that alternatives were dropped by the score ratio or the diversity IoU
#: (:func:`dropped_alternatives`; the CLI then says how to get more).
OTHERS_DROPPED = "the others"


#: How much of the best crop's salient content an alternative offered keeps at least, in words
#: (:data:`procrop.scoring.choice.ALTERNATIVE_KEPT`).
THIN_WORDS = "a third"


def dropped_alternatives(dropped: dict[str, tuple[int, ...]], min_score_ratio: float,
                         max_iou: float) -> list[str]:
    """Why ratios have fewer crops than asked, one note per such ratio (none when every ratio has
    its count), e.g. "1:1: 2 crops of the 3 asked; the others scored under 80 % of the best".

    Args:
        dropped: ratio label -> ``(asked, returned, low[, candidates[, thin[, overlap]]])``: the
            crops asked (``top_k``), those returned, whether alternatives scored under
            ``min_score_ratio`` of the best, how many candidates the subject rules left, how many
            crops fewer the rule on the salient content the best keeps left, and whether
            alternatives overlap a better crop by ``max_iou`` or more
            (:func:`procrop.scoring.choice.choose_crops`; without it, the shortfall not otherwise
            explained).
    """
    notes = []
    for label, (asked, returned, low, *rest) in dropped.items():
        if returned >= asked:
            continue
        short = max(0, asked - rest[0]) if rest else 0  # fewer candidates than asked
        thin = rest[1] if len(rest) > 1 else 0
        overlap = rest[2] if len(rest) > 2 else asked - returned - low - short - thin
        overlapping = (f"overlap a better crop (IoU {max_iou:g} or more)" if max_iou < 1
                       else "repeat a better crop")
        why = ([f"scored under {100 * min_score_ratio:g} % of the best"] * bool(low)
               + [overlapping] * bool(overlap > 0))
        clauses = [f"{OTHERS_DROPPED} {' or '.join(why)}"] * bool(why)  # the CLI's hint names the options
        if thin:  # only a min_score_ratio of 0 lets these in: a clause of their own, no hint
            clauses.append(f"{thin} {'other' if thin == 1 else 'others'} kept under {THIN_WORDS} of the "
                           "salient content the best keeps")
        if short:
            clauses.append("only 1 candidate of this ratio keeps whole the subjects it could" if rest[0] == 1
                           else f"only {rest[0]} candidates of this ratio keep whole the subjects they could")
        noun = "crop" if returned == 1 else "crops"
        notes.append(f"{label}: {returned} {noun} of the {asked} asked; {'; '.join(clauses)}")
    return notes


#: A photo whose short side is under this many pixels is too small for its composition to be
#: judged: its crops are made, with a warning (a 12 x 8 icon was cropped and described without one).
SMALL_PHOTO_SIDE = 64


def too_small_to_judge(width: int, height: int) -> bool:
    """Whether a ``width`` x ``height`` photo is under :data:`SMALL_PHOTO_SIDE` on its short side."""
    return min(width, height) < SMALL_PHOTO_SIDE


def small_photo_warning(width: int, height: int) -> str | None:
    """A message when the ``width`` x ``height`` photo is too small to judge (:data:`SMALL_PHOTO_SIDE`)."""
    if not too_small_to_judge(width, height):
        return None
    return (f"the photo is {width}x{height} pixels, {min(width, height)} on its short side: too small for "
            f"faces, subjects or lines to be found (under {SMALL_PHOTO_SIDE}), so its crops follow little "
            "more than its shape")


#: The words of the note that no crop of a ``WxH`` ratio was wide enough for ``max_upscale``.
UPSCALE_UNMET = " (max_upscale)"
#: How that note ends when crops are not enlarged (``--no-upscale``), and how it ends otherwise.
UNENLARGED_BY, ENLARGED_BY = ", kept at its own size (--no-upscale); it would need", ", is enlarged"


def unenlarged_notes(notes: list[str]) -> list[str]:
    """The result's :data:`UPSCALE_UNMET` notes as ``--no-upscale`` writes the crops: not enlarged
    (a trial read "is enlarged 3.18 times" beside "kept at its own size, not enlarged")."""
    return [n.replace(ENLARGED_BY, UNENLARGED_BY) if UPSCALE_UNMET in n else n for n in notes]


#: A crop enlarged more than this to its output size is said to be (1 %: rounding is not).
UPSCALE_NOTED = 1.01


#: The words of a warning that crops of a ``WxH`` ratio are enlarged (:func:`written_sizes`), by
#: which the command line counts such photos instead of printing each one's lines.
ENLARGED = ", enlarged up to "
#: The words of the note that ``--no-upscale`` left crops of a ``WxH`` ratio at their own size.
NOT_ENLARGED = ", not enlarged (--no-upscale)"


def written_sizes(crops: Sequence[Any], no_upscale: bool, cli: bool = True
                  ) -> tuple[list[tuple[int, int] | None], list[str]]:
    """The size each of ``crops`` (each with ``box`` and ``output_size``) is written at (None: its
    own), and one line per ratio ``WxH`` whose crops it enlarges (or, with ``no_upscale``, leaves
    at their own smaller size); ``cli``: the lines name ``--no-upscale`` (the Python and HTTP APIs
    have no such option). :meth:`procrop.Cropper.process` warns with these lines too."""
    sizes: list[tuple[int, int] | None] = []
    small: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for crop in crops:
        size = crop.output_size
        if size is not None and size[0] > crop.box[2] * UPSCALE_NOTED:
            small.setdefault(size, []).append((crop.box[2], crop.box[3]))
            size = None if no_upscale else size
        sizes.append(size)
    notes = []
    for (ow, oh), boxes in small.items():
        (w, h) = min(boxes)
        crops = f"{ow}x{oh}: {len(boxes)} crop" + ("s, the smallest" if len(boxes) > 1 else "") + f" {w}x{h}"
        if no_upscale:
            own = "their" if len(boxes) > 1 else "its"
            notes.append(f"{crops}, kept at {own} own size{NOT_ENLARGED}")
        else:
            hint = f" (--no-upscale keeps {w}x{h})" if cli else ""
            notes.append(f"{crops}{ENLARGED}{ow / w:.2f}x{hint}")
    return sizes, notes
