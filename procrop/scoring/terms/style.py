"""The style term: crop like the retrieved references are composed.

The learned term retrieves the photo's most similar references from its database (the bundle's
own, or the user's ``--db``). Where that database has composition statistics
(:mod:`procrop.retrieval.composition`: where the subject sits, how much of the frame it fills,
where the horizon lies, how much space surrounds it), this term compares each candidate crop's
statistics with every reference's:

    pull_r(crop) = w_r * sum_j a_j k(z_rj) / sum_j a_j,
    k(z) = (1 - FAR_SHARE) / (1 + z^2 / 2) + FAR_SHARE max(1 - z^2 / FAR_Z^2, 0),
    z_rj = (crop_j - ref_rj) / sigma_j

over the statistics ``j`` both have, with ``w_r`` the references' similarity weights, ``sigma_j`` a
statistic's tolerance widened by its spread over the whole database and ``a_j`` its agreement
(``(SIGMAS_j / sigma_j)^2``: 1 when the database's photos agree on it, towards 0 as they vary)
times its distinctiveness (``FLOOR + (1 - FLOOR) (1 - exp(-d_j^2 / 2))``, ``d_j`` the distance of
the database's mean from the mean of the bundle's own references, photographs in general, in their
standard deviations): what the photos share is their style, what varies among them is not, and what
they share with every photograph (a subject near the centre) counts less than what sets them apart
(a subject filling the frame); a statistic no crop can match does not hide the gain in another
(``k`` is mostly a quadratic closeness over :data:`FAR_Z` tolerances, whose pull grows with the
distance up to there, so that of two styles out of reach on the same side the farther pulls the
crop further; beyond :data:`FAR_Z` tolerances only its heavy-tailed tenth pulls, weakly:
:func:`_closeness`). The term scores the crop with ``sum_r pull_r`` (a value in [0, 1]); a crop
that leaves the photo's subject out keeps only :data:`OUT_CREDIT` of it. Its weight is the user's
``style_strength`` (the cropper's score is the weighted mean of the learned score and this one). It
also proposes the crops that would put the photo's subject where each reference has its own, at the
same fill, and its horizon at the same height, so the search is not limited to boxes the network
liked. The reason of a crop names the reference it is closest to (the largest share of its style
score) and where they stand (the subject's place and fill, the horizon).

Statistics are ``cx``, ``cy`` (subject centre, fractions of the crop), the logarithm of ``fill``
and ``horizon`` (height as a fraction of the crop).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...errors import UsageError
from ...geometry import AspectRatio, inside_fractions, snap_to_ratio
from ...perception.analysis import CompositionAnalysis
from ...retrieval.composition import COLUMNS, crop_stats, horizon_height, item_stats, read_composition, subject_box
from ...retrieval.store import DatabaseError
from ..context import ScoringContext
from .learned import LearnedTerm

#: Tolerance of each statistic of :data:`COLUMNS` (``fill`` on a log scale) before the database's spread.
SIGMAS = np.asarray([0.08, 0.08, 0.5, 0.08])
#: Strength of the style term with a user's reference database when none is given (the learned
#: score's weight is 1). At 1 (until 2026-12-07) and at 2 (until 2026-12-07, late) the held-out
#: photos followed contrasting sets too seldom (README, "How far this steers").
DEFAULT_STRENGTH = 3.0
#: The most a user may ask for: at 10 the style all but decides alone.
MAX_STYLE_STRENGTH = 10.0
#: Weight of a statistic the database shares with photographs in general, beside 1 for one that
#: sets it far apart (see the module docstring).
FLOOR = 0.2
#: Softmax temperature of the references' similarity weights.
TEMPERATURE = 0.1
#: References (the most similar measured ones) the style follows.
K = 16
#: Proposed crops keep at least this share of the largest crop of the ratio (the cropper's default
#: smallest crop is 0.3 of it).
MIN_AREA = 0.32
#: Share of the closeness that falls quadratically over :data:`FAR_Z` tolerances (see :func:`_closeness`;
#: 6 tolerances are about half the frame for a horizon or a subject's place). At 0.5 and 8, until
#: 2026-12-07, the heavy-tailed half pulled hardest about 1.4 tolerances away, so of two styles
#: beyond the photo's reach on the same side the nearer moved the crop further (README, "How far
#: this steers").
FAR_SHARE = 0.9
FAR_Z = 6.0
#: Bumped whenever the style term scores crops differently: results stored with a user's database
#: carry it (:meth:`procrop.output.batch.CropOptions.signature`), so a re-run crops them again.
STYLE_TERM_VERSION = 2
#: The share of its style a crop that leaves the photo's subject out (less than :data:`LEFT_OUT`
#: of its box inside) keeps: following a reference's horizon or a small subject's fill is no
#: reason to drop the photo's subject.
OUT_CREDIT = 0.5
LEFT_OUT = 0.1
#: Sizes (shares of the largest crop of the ratio) at which a reference's horizon height is proposed.
HORIZON_SCALES = (0.55, 0.65, 0.75, 0.85, 1.0)


def _features(stats: np.ndarray) -> np.ndarray:
    """Statistics -> the compared features (``fill`` on a log scale)."""
    f = np.array(stats, np.float64, copy=True)
    f[..., 2] = np.log(np.clip(f[..., 2], 1e-3, 1.0))
    return f


class StyleTerm:
    """:class:`~procrop.scoring.context.ExtraTerm` named ``style`` (see the module docstring).

    Args:
        learned: the learned term whose retrieved references it follows.
        strength: its weight beside the learned term's 1.

    Raises:
        DatabaseError: naming the file when the database's composition statistics are corrupt.
    """

    name = "style"
    scores_every_candidate = True

    def __init__(self, learned: LearnedTerm, strength: float = DEFAULT_STRENGTH) -> None:
        self.learned = learned
        self.strength = float(strength)
        model = learned.model
        held = model.references_db.composition if model.references_db is not None else None
        try:
            stats = held if held is not None else read_composition(model.references_path)
        except ValueError as exc:
            raise DatabaseError(str(exc)) from None
        items = model.reference_items() if stats else []
        known = item_stats(items, stats)
        self.stats = [None if s is None else np.asarray([s.get(c, np.nan) for c in COLUMNS], np.float64)
                      for s in known]
        self.raw = known
        # what the whole database agrees on decides the style: a statistic its photos spread over
        # widely is tolerated as widely (the bundled, varied database steers little)
        measured = _features(np.asarray([s for s in self.stats if s is not None]).reshape(-1, len(COLUMNS)))
        spread = np.zeros(len(COLUMNS))
        for j in range(len(COLUMNS)):
            col = measured[:, j][np.isfinite(measured[:, j])]
            spread[j] = float(col.std()) if len(col) > 1 else 0.0
        self.sigmas = np.sqrt(SIGMAS ** 2 + spread ** 2)
        #: how much each statistic counts: 1 when the database's photos agree on it, towards 0 as they spread
        self.agreement = (SIGMAS / self.sigmas) ** 2
        try:
            general = read_composition(model.path / "references")  # the bundle's own: photographs in general
        except ValueError:
            general = {}
        #: how far the database's mean of each statistic lies from that of photographs in general (0-1)
        self.distinct = _distinctiveness(measured, general)
        self.weights = self.agreement * (FLOOR + (1.0 - FLOOR) * self.distinct)

    @property
    def measured(self) -> int:
        """How many references have composition statistics."""
        return sum(s is not None for s in self.stats)

    def references(self, ctx: ScoringContext) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
        """The :data:`K` measured references most similar to the photo: descriptions, ``(k, 4)``
        statistics and ``(k,)`` weights summing to 1 (cached per photo)."""
        got = ctx.cache.get("style:refs")
        if got is None:
            enc = self.learned.encoded(ctx)
            sims, rows = self.learned.model.search(enc.query, len(self.stats)) if enc.query is not None else ([], [])
            keep = [(float(sim), int(r)) for sim, r in zip(sims, rows) if self.stats[int(r)] is not None][:K]
            items = self.learned.model.reference_items()
            descs = [{"source": items[r].get("source", ""), "similarity": round(sim, 4),
                      **({"licence": items[r]["licence"]} if "licence" in items[r] else {}),
                      "composition": self.raw[r]} for sim, r in keep]
            stats = np.asarray([self.stats[r] for _, r in keep], np.float64).reshape(-1, len(COLUMNS))
            s = np.asarray([sim for sim, _ in keep])
            w = np.exp((s - s.max()) / TEMPERATURE) if len(s) else s
            got = (descs, stats, w / w.sum() if len(w) else w)
            ctx.cache["style:refs"] = got
        return got

    def pulls(self, ctx: ScoringContext, boxes: np.ndarray) -> np.ndarray:
        """``(N, k)`` weighted pull of each reference on each ``xywh`` crop (NaN: nothing shared)."""
        _, ref_stats, w = self.references(ctx)
        # a crop that leaves the photo's horizon out is far from a reference that shows one (its
        # height below 0 or above 1), not a crop the horizon does not concern
        crop = _features(crop_stats(ctx.analysis, boxes, horizon_outside=True))[:, None, :]  # (N, 1, 4)
        ref = _features(ref_stats)[None, :, :]  # (1, k, 4)
        z = (crop - ref) / self.sigmas
        shared = np.isfinite(z)
        a = np.where(shared, self.weights, 0.0)
        close = np.where(shared, _closeness(np.where(shared, z, 0.0)), 0.0)
        mean = (a * close).sum(axis=2) / np.maximum(a.sum(axis=2), 1e-12)
        return np.where(shared.any(axis=2), w[None, :] * mean, np.nan)

    def evaluate(self, ctx: ScoringContext, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sum of the references' pulls per crop; not applicable without references to compare."""
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        descs, _, _ = self.references(ctx)
        if not descs:
            return np.zeros(len(b)), np.zeros(len(b), dtype=bool)
        p = self.pulls(ctx, b)
        finite = np.isfinite(p)
        weight = np.where(finite, self.references(ctx)[2][None, :], 0.0).sum(axis=1)  # renormalised over comparable refs
        values = np.where(finite, p, 0.0).sum(axis=1) / np.maximum(weight, 1e-12)
        ok = finite.any(axis=1)
        out = subject_kept(ctx.analysis, b) < LEFT_OUT  # the subject left out: a stray region, or the boat
        return np.where(ok, values * np.where(out, OUT_CREDIT, 1.0), 0.0), ok

    def extra_candidates(self, ctx: ScoringContext, ratio: AspectRatio) -> np.ndarray:
        """Per reference: the crop of ``ratio`` that puts the subject where the reference has its
        own at the same fill, and its horizon at the same height; ``(K, 4)`` ``xywh`` pixels."""
        descs, stats, _ = self.references(ctx)
        a = ctx.analysis
        W, H = float(a.width), float(a.height)
        value = ratio.resolve(a.width, a.height).value
        subject, hy = subject_box(a), horizon_height(a)
        out: list[tuple[float, float, float, float]] = []
        for d, s in zip(descs, stats):
            aspects = [value] if value is not None else [W / H, float(d["composition"].get("aspect", W / H))]
            for asp in aspects:
                out += _placed(subject, hy, s, asp, W, H)
        if not out:
            return np.zeros((0, 4), np.int64)
        boxes = np.round(np.asarray(out, np.float64)).astype(np.int64)
        if value is not None:
            boxes = np.asarray([snap_to_ratio(tuple(int(v) for v in b), value, a.width, a.height) for b in boxes])
        boxes = boxes[(boxes[:, 2] >= 2) & (boxes[:, 3] >= 2)]
        return np.unique(boxes, axis=0).reshape(-1, 4)

    def crop_references(self, ctx: ScoringContext, box: np.ndarray, top: int = 3) -> list[dict[str, Any]]:
        """The references, the one this crop is closest to first (the largest ``pull``), each with its
        ``pull`` (share of the style score) and its ``composition`` statistics."""
        descs, _, _ = self.references(ctx)
        if not descs:
            return self.learned.crop_references(ctx, box, top)
        p = np.nan_to_num(self.pulls(ctx, np.asarray(box, np.float64).reshape(1, 4))[0])
        share = p / p.sum() if p.sum() > 0 else p
        order = np.argsort(-p, kind="stable")[:top]
        return [dict(descs[j], pull=round(float(share[j]), 4)) for j in order]

    def explain(self, ctx: ScoringContext, box: np.ndarray, value: float) -> str | None:
        """The reference the crop is closest to (the largest share of its style score), and where
        (subject place and fill, horizon): a trial read "pulled most" where the style moved nothing."""
        refs = self.crop_references(ctx, box, top=1)
        if not refs or "pull" not in refs[0]:
            return None
        ref = refs[0]
        mine = crop_stats(ctx.analysis, np.asarray(box, np.float64).reshape(1, 4))[0]
        c = ref["composition"]
        parts = []
        if "cx" in c and np.isfinite(mine[0]):
            if 0.0 <= mine[0] <= 1.0 and 0.0 <= mine[1] <= 1.0:
                parts.append(f"subject {_where(mine[0], mine[1])} (reference: {_where(c['cx'], c['cy'])}), "
                             f"filling {mine[2]:.0%} (reference: {c['fill']:.0%})")
            else:
                parts.append("the subject's centre outside the crop")
        if "horizon" in c and np.isfinite(mine[3]):
            parts.append(f"horizon {mine[3]:.0%} down (reference: {c['horizon']:.0%} down)")  # as describe
        name = str(ref.get("source", "a reference")).rsplit("/", 1)[-1]
        how = "; ".join(parts) or "framed like it"
        return f"matches the references' style {value:.0%}, closest to reference {name}: {how}"


def _closeness(z: np.ndarray) -> np.ndarray:
    """How close a crop's statistic is to a reference's, ``z`` tolerances apart, in [0, 1]:
    :data:`FAR_SHARE` of a quadratic kernel over :data:`FAR_Z` tolerances, whose gain for coming one
    tolerance closer grows with the distance up to :data:`FAR_Z` (a style the photo cannot reach
    pulls its crop as far as it goes, and further than a nearer style does), blended with a
    heavy-tailed one, which alone would all but stop pulling a few tolerances away and is what still
    pulls, weakly, beyond :data:`FAR_Z`."""
    z2 = z * z
    return (1.0 - FAR_SHARE) / (1.0 + 0.5 * z2) + FAR_SHARE * np.maximum(1.0 - z2 / FAR_Z**2, 0.0)


def _distinctiveness(measured: np.ndarray, general: dict[str, dict[str, float]]) -> np.ndarray:
    """Per statistic, ``1 - exp(-d^2 / 2)``: ``d`` the distance of the mean of ``measured`` (a
    database's features) from the mean of the ``general`` photos' in their standard deviation (at
    least :data:`SIGMAS`); 1 where either side has too few values to tell."""
    pop = _features(np.asarray([[s.get(c, np.nan) for c in COLUMNS] for s in general.values()],
                               np.float64).reshape(-1, len(COLUMNS)))
    out = np.ones(len(COLUMNS))
    for j in range(len(COLUMNS)):
        mine, theirs = measured[:, j][np.isfinite(measured[:, j])], pop[:, j][np.isfinite(pop[:, j])]
        if len(mine) and len(theirs) > 1:
            d = abs(mine.mean() - theirs.mean()) / max(float(theirs.std()), float(SIGMAS[j]))
            out[j] = 1.0 - math.exp(-0.5 * d * d)
    return out


def _where(x: float, y: float) -> str:
    """A subject centre in words: ``34% from the left, 50% from the top``."""
    return f"at {x:.0%} from the left, {y:.0%} from the top"


def _placed(subject: tuple[float, float, float, float] | None, hy: float | None, s: np.ndarray,
            aspect: float, W: float, H: float) -> list[tuple[float, float, float, float]]:
    """Crops of width / height ``aspect`` inside ``W x H`` placing the subject (and horizon) as
    reference statistics ``s`` do."""
    cx, cy, fill, hz = (float(v) for v in s)
    out = []
    placed = subject is not None and math.isfinite(cx)
    if placed and math.isfinite(fill):
        sx, sy, sw, sh = subject  # type: ignore[misc]
        largest = min(W, H * aspect) * min(H, W / aspect)  # the largest crop of the ratio
        area = min(max(sw * sh / max(fill, 1e-3), MIN_AREA * largest), largest)
        w = math.sqrt(area * aspect)
        h = w / aspect
        scale = min(1.0, W / w, H / h)
        w, h = w * scale, h * scale
        top = sy + sh / 2 - cy * h
        if hy is not None and math.isfinite(hz):
            top = hy - hz * h  # the horizon decides the height, the subject the side
        out.append(_inside(sx + sw / 2 - cx * w, top, w, h, W, H))
    if hy is not None and math.isfinite(hz):
        # the horizon at the reference's height at several scales (the only way it moves in a crop
        # as tall as the photo allows), the subject kept where the reference has its own
        for share in HORIZON_SCALES:
            w = min(W, H * aspect) * share
            h = w / aspect
            x = subject[0] + subject[2] / 2 - cx * w if placed else (W - w) / 2  # type: ignore[index]
            out.append(_inside(x, hy - hz * h, w, h, W, H))
    return out


def subject_kept(a: CompositionAnalysis, boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` share of the photo's subject (:func:`~procrop.retrieval.composition.subject_box`)
    inside each ``xywh`` crop; 1 for a photo without one. A crop that leaves the subject out keeps
    only :data:`OUT_CREDIT` of its style (:meth:`StyleTerm.evaluate`)."""
    box = subject_box(a)
    if box is None:
        return np.ones(len(boxes))
    return inside_fractions(np.asarray(boxes, np.float64).reshape(-1, 4), [box])[0]


def _inside(x: float, y: float, w: float, h: float, W: float, H: float) -> tuple[float, float, float, float]:
    """The box shifted (not resized) to lie inside the image."""
    return (min(max(x, 0.0), W - w), min(max(y, 0.0), H - h), w, h)


def checked_strength(strength: object) -> float:
    """``strength`` as a float from 0 to :data:`MAX_STYLE_STRENGTH`.

    Raises:
        UsageError: one line for anything else (a word, NaN, infinity, a negative number).
    """
    try:
        value = float(strength)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"style strength must be a number, got {strength!r}") from None
    if not 0 <= value <= MAX_STYLE_STRENGTH:  # NaN and infinities too
        raise UsageError(f"style strength must be a number from 0 to {MAX_STYLE_STRENGTH:g}, got {value}")
    return value


def style_term_for(learned: LearnedTerm, strength: float | None, user_db: bool) -> StyleTerm | None:
    """The style term of a learned term's references, or ``None`` when it is off: ``strength``
    0, or ``None`` (default) with the bundle's own references (the model learned those already;
    with a user's database the default is :data:`DEFAULT_STRENGTH`), or, by default, a database
    without composition statistics.

    Raises:
        UsageError: a strength that is not a number from 0 to :data:`MAX_STYLE_STRENGTH`.
        DatabaseError: a positive ``strength`` asked for with a database that has no statistics.
    """
    asked = strength is not None
    strength = checked_strength(strength if asked else DEFAULT_STRENGTH if user_db else 0.0)
    if strength == 0:
        return None
    term = StyleTerm(learned, strength)
    if term.measured:
        return term
    if asked and not learned.model.reference_items():
        raise DatabaseError(f"{learned.model.references_path}: holds no photos, so there is no style "
                            "to follow ('procrop index add DB PHOTOS' adds them)")
    if asked:
        raise DatabaseError(f"{learned.model.references_path}: no composition statistics to follow (a database "
                            "built before procrop measured them: 'procrop index add DB PHOTOS' with its photos "
                            "measures them; or style strength 0)")
    return None
