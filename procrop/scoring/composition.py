"""The interpretable crop score: composition terms, each in [0, 1], mixed by weights from a file.

For a candidate crop ``c`` the score is

    score(c) = sum_t w_t * term_t(c) / sum_t w_t        (t over the terms that apply to c)

Terms (see ``resources/scoring.toml`` for the weights and shape parameters):

* ``content``   share of the photo's saliency the crop keeps, raised to a power;
* ``focus``     how much denser the saliency is inside the crop than in the photo;
* ``placement`` the main subject (faces first, else the dominant compact salient region) on a
  thirds or golden point or line, or centred when it is large (only when there is a subject);
* ``balance``   the crop's centre of visual mass near its centre;
* ``boundary``  no salient object, person or face cut by the crop's edges, calm edges;
* ``headroom``  room above the top face and eyes near the upper third (only with faces);
* ``horizon``   the horizon on a third (only with a confident horizon inside the crop);
* ``scale``     a mild preference for keeping more of the photo;
* extra terms plugged in by later stages: ``retrieval`` (reference database) and ``neural``.

All terms are computed for thousands of candidates at once with integral images of the maps in
:class:`~procrop.perception.analysis.CompositionAnalysis`, using bilinear lookups so that boxes do not snap
to the coarse map grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..candidates import inner_edges
from ..errors import UsageError
from ..perception.analysis import CompositionAnalysis
from ..perception.detectors import Detection
from .main_subject import main_subject
from .protection import cuts, grazes, inside_fractions
from .context import EDGES, SAL, SAL_X, SAL_Y, ScoringContext, TermValues
from .weights import ScoringWeights


_THIRDS = (1 / 3, 2 / 3)
_GOLDEN = (0.382, 0.618)


class CompositionScorer:
    """Computes the base composition terms and mixes them with :class:`ScoringWeights`."""

    def __init__(self, weights: ScoringWeights | None = None) -> None:
        self.weights = weights or ScoringWeights.load()

    # ---- public API ------------------------------------------------------------------------

    def terms(self, ctx: ScoringContext, boxes: np.ndarray) -> TermValues:
        """Base term values for ``(N, 4)`` boxes ``x, y, w, h`` in original pixels."""
        p = self.weights.param
        a = ctx.analysis
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        f = _MappedBoxes.of(ctx, b, self.weights.param("boundary", "strip"))
        tv = TermValues({}, {}, {"kept": f.kept})
        self._content_and_focus(tv, f, ctx)
        cu, cv = self._balance(tv, f)
        face_inside, cut_face, cut_core = self._face_cuts(tv, b, a)
        self._placement(tv, ctx, b, face_inside, cu, cv)
        self._boundary(tv, f, cut_face, cut_core, ctx)
        self._headroom(tv, b, a.faces, face_inside)
        self._horizon(tv, b, a)
        img_area = float(a.width) * float(a.height)
        tv.add("scale", ((b[:, 2] * b[:, 3]) / img_area) ** p("scale", "power"))
        return tv

    def combine(self, tv: TermValues) -> np.ndarray:
        """Weighted mean of the applicable terms, ``(N,)`` in [0, 1]."""
        num = None
        den = None
        for name, values in tv.values.items():
            w = self.weights.weight(name)
            if w <= 0:
                continue
            mask = tv.applicable[name].astype(np.float64) * w
            num = values * mask if num is None else num + values * mask
            den = mask if den is None else den + mask
        if num is None or den is None:
            raise UsageError("every scoring weight is zero: nothing to rank crops by")
        return np.where(den > 0, num / np.maximum(den, 1e-12), 0.0)

    def contributions(self, tv: TermValues, i: int) -> dict[str, float]:
        """How much each applicable term adds to candidate ``i``'s score (they sum to the score)."""
        den = sum(
            self.weights.weight(k) for k in tv.values if tv.applicable[k][i] and self.weights.weight(k) > 0
        )
        if den <= 0:
            return {}
        return {
            k: float(self.weights.weight(k) * tv.values[k][i] / den)
            for k in tv.values
            if tv.applicable[k][i] and self.weights.weight(k) > 0
        }

    # ---- terms -----------------------------------------------------------------------------

    def _content_and_focus(self, tv: TermValues, f: _MappedBoxes, ctx: ScoringContext) -> None:
        """``content``: share of saliency kept; ``focus``: saliency denser inside than overall."""
        p = self.weights.param
        maps = ctx.maps
        total = max(float(maps.totals[SAL]), 1e-9)
        tv.add("content", f.kept ** p("content", "power"))
        density_ratio = (f.mass / f.area) / (total / (maps.w * maps.h))
        tv.add("focus", p("focus", "gain") * (density_ratio - 1.0))
        tv.details["density_ratio"] = density_ratio

    def _balance(self, tv: TermValues, f: _MappedBoxes) -> tuple[np.ndarray, np.ndarray]:
        """``balance``: the visual centre of mass near the crop's centre; returns it ``(u, v)``
        relative to each crop."""
        p = self.weights.param
        safe = np.maximum(f.mass, 1e-9)
        cx = f.sums[:, SAL_X] / safe
        cy = f.sums[:, SAL_Y] / safe
        cu = np.where(f.mass > 1e-9, (cx - f.x0) / f.bw, 0.5)
        cv = np.where(f.mass > 1e-9, (cy - f.y0) / f.bh, 0.5)
        tv.add(
            "balance",
            np.exp(-((cu - 0.5) ** 2) / (2 * p("balance", "sigma_x") ** 2))
            * np.exp(-((cv - 0.5) ** 2) / (2 * p("balance", "sigma_y") ** 2)),
        )
        tv.details["mass_u"], tv.details["mass_v"] = cu, cv
        return cu, cv

    @staticmethod
    def _face_cuts(
        tv: TermValues, b: np.ndarray, a: CompositionAnalysis
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """How much of each face each crop keeps ``(F, N)``, and which crops cut a face or its
        core (a cut from the eyes to the mouth is far worse than trimming forehead or chin)."""
        n = len(b)
        faces = a.faces
        face_inside = inside_fractions(b, [f.box for f in faces])  # (F, N)
        tv.face_inside = face_inside
        if faces:
            cut_face = cuts(face_inside)
            cut_core = cuts(inside_fractions(b, [_face_core(f.box) for f in faces]))
        else:
            cut_face = cut_core = np.zeros(n, bool)
        tv.details["cuts_face"] = cut_face.astype(np.float64)
        # the reasons' one test of a cut subject (protection.cuts), also for a subject the terms do not score
        kept = [s.box for s in a.subjects_to_keep if not a.is_worn(s)]  # a tie is the person's
        kept_inside = inside_fractions(b, kept)
        tv.details["cuts_subject"] = cuts(kept_inside).astype(np.float64)
        tv.details["grazes_subject"] = grazes(kept_inside).astype(np.float64)
        tv.details["cuts_face_core"] = cut_core.astype(np.float64)
        tv.details["faces_kept"] = (
            (face_inside >= 0.97).sum(axis=0).astype(np.float64) if faces else np.zeros(n)
        )
        return face_inside, cut_face, cut_core

    def _subject_points(
        self,
        ctx: ScoringContext,
        b: np.ndarray,
        face_inside: np.ndarray,
        cu: np.ndarray,
        cv: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The point to place in each crop ``(u, v)`` relative to the crop, the subject's area and its
        kind (0 visual mass, 1 salient subject, 2 a face, 3 several faces: their weighted centre)."""
        p = self.weights.param
        a = ctx.analysis
        n = len(b)
        # subject point per crop: kept faces first, else the main salient region, else mass centre
        u = cu.copy()
        v = cv.copy()
        subj_area = np.zeros(n)
        kind = np.zeros(n)  # 0 visual mass, 1 salient subject, 2 a face, 3 faces
        # a salient band across the whole frame (a horizon) is structure, left to balance/horizon
        main = next(iter(a.compact_subjects), None)
        if main is not None and main.mass >= p("placement", "main_subject_share"):
            inside = inside_fractions(b, [main.box])[0]
            use = inside >= 0.9
            u = np.where(use, (main.centroid[0] - b[:, 0]) / b[:, 2], u)
            v = np.where(use, (main.centroid[1] - b[:, 1]) / b[:, 3], v)
            subj_area = np.where(use, main.box[2] * main.box[3], subj_area)
            kind = np.where(use, 1.0, kind)
        if a.faces:
            boxes = np.asarray([f.box for f in a.faces], dtype=np.float64)
            kept = face_inside >= 0.97  # (F, N)
            weights = kept * (boxes[:, 2:3] * boxes[:, 3:4])  # larger faces count more
            wsum = weights.sum(axis=0)
            has = wsum > 0
            fx = boxes[:, 0:1] + boxes[:, 2:3] / 2
            fy = eye_lines(a.faces)[:, None]
            ex = (weights * fx).sum(axis=0) / np.maximum(wsum, 1e-9)
            ey = (weights * fy).sum(axis=0) / np.maximum(wsum, 1e-9)
            u = np.where(has, (ex - b[:, 0]) / b[:, 2], u)
            v = np.where(has, (ey - b[:, 1]) / b[:, 3], v)
            # a face's subject is the head and shoulders: about 3 x 3 face sizes
            fa = (kept * (boxes[:, 2:3] * boxes[:, 3:4] * 9.0)).sum(axis=0)
            subj_area = np.where(has, fa, subj_area)
            kind = np.where(has, np.where(kept.sum(axis=0) > 1, 3.0, 2.0), kind)
        return u, v, subj_area, kind

    def _placement(
        self,
        tv: TermValues,
        ctx: ScoringContext,
        b: np.ndarray,
        face_inside: np.ndarray,
        cu: np.ndarray,
        cv: np.ndarray,
    ) -> None:
        """``placement``: the subject on a thirds or golden point or line; centred when large."""
        p = self.weights.param
        n = len(b)
        u, v, subj_area, kind = self._subject_points(ctx, b, face_inside, cu, cv)
        crop_area = b[:, 2] * b[:, 3]
        large = np.clip(subj_area / crop_area / p("placement", "large_subject"), 0, 1)

        sp, sl, sc = (p("placement", k) for k in ("sigma_point", "sigma_line", "sigma_centre"))
        pts = np.zeros(n)
        for grid in (_THIRDS, _GOLDEN):
            for gu in grid:
                for gv in grid:
                    pts = np.maximum(pts, np.exp(-((u - gu) ** 2 + (v - gv) ** 2) / (2 * sp * sp)))
        du = np.minimum(np.abs(u - _THIRDS[0]), np.abs(u - _THIRDS[1]))
        dv = np.minimum(np.abs(v - _THIRDS[0]), np.abs(v - _THIRDS[1]))
        in_band_v = np.exp(-np.maximum(np.abs(v - 0.5) - 0.2, 0) ** 2 / (2 * sl * sl))
        in_band_u = np.exp(-np.maximum(np.abs(u - 0.5) - 0.2, 0) ** 2 / (2 * sl * sl))
        lines = 0.85 * np.maximum(
            np.exp(-(du**2) / (2 * sl * sl)) * in_band_v, np.exp(-(dv**2) / (2 * sl * sl)) * in_band_u
        )
        centre_w = p("placement", "centre_weight") + (1 - p("placement", "centre_weight")) * large
        centre = centre_w * np.exp(-((u - 0.5) ** 2 + (v - 0.5) ** 2) / (2 * sc * sc))
        # large subjects cannot sit on a power point: blend towards centring
        score = np.maximum(np.maximum(pts, lines) * (1 - 0.5 * large), centre)
        margin = p("placement", "edge_margin")
        edge = np.clip(np.minimum.reduce([u, 1 - u, v, 1 - v]) / margin, 0, 1) ** 0.5
        # without a face or a compact subject there is nothing to place
        tv.add("placement", score * edge, kind > 0)
        tv.details["subject_u"], tv.details["subject_v"], tv.details["subject_kind"] = u, v, kind
        # whether the salient region placed is the main subject (a "sheep" region beside the bear is not;
        # a region lying in the main subject's box is part of it: a trial's man on a wall, his body)
        main, placed = main_subject(ctx.analysis), next(iter(ctx.analysis.compact_subjects), None)
        is_main = main is None or placed is None or (
            inside_fractions(np.asarray([placed.box]), [main.box])[0, 0] >= 0.5
            or inside_fractions(np.asarray([main.box]), [placed.box])[0, 0] >= 0.9)
        tv.details["subject_is_main"] = np.full(n, float(is_main))

    def _boundary(
        self, tv: TermValues, f: _MappedBoxes, cut_face: np.ndarray, cut_core: np.ndarray, ctx: ScoringContext
    ) -> None:
        """``boundary``: edges that cut no salient object, person or face and run through calm areas."""
        p = self.weights.param
        maps = ctx.maps
        b, x0, y0, x1, y1, sw, sh, mass, area = f.b, f.x0, f.y0, f.x1, f.y1, f.sw, f.sh, f.mass, f.area
        a00, a10, a01, a11, t1, t0, b1, b0, l1, l0, r1, r0 = f.looked
        # the four border strips from the crop's corners and the strips' inner corners
        top = t1 - t0 - a10 + a00
        bottom = a11 - a01 - b1 + b0
        left = l1 - a01 - l0 + a00
        right = a11 - r1 - a10 + r0
        horizontal_area = np.maximum((x1 - x0) * sh, 1e-9)
        vertical_area = np.maximum((y1 - y0) * sw, 1e-9)
        border = (top + bottom + left + right)[:, [SAL, EDGES]]
        border_area = 2 * (horizontal_area + vertical_area)
        worst_side = np.maximum.reduce(
            [
                top[:, SAL] / horizontal_area,
                bottom[:, SAL] / horizontal_area,
                left[:, SAL] / vertical_area,
                right[:, SAL] / vertical_area,
            ]
        )
        mean_in = mass / area
        tol = p("boundary", "saliency_tolerance")
        # both the mean border saliency and the worst side count: one cut subject is enough
        ratio = 0.5 * (border[:, 0] / border_area) / (mean_in + 1e-6) + 0.5 * worst_side / (mean_in + 1e-6)
        clean_sal = np.clip(1.0 - ratio / (2 * tol), 0, 1)
        mean_edges = float(maps.totals[EDGES]) / (maps.w * maps.h) + 1e-6
        clean_edges = np.clip(1.0 - (border[:, 1] / border_area) / (2 * mean_edges), 0, 1)
        ew = p("boundary", "edge_weight")
        value = (1 - ew) * clean_sal + ew * clean_edges
        people = ctx.analysis.people
        if people:
            value = value - p("boundary", "person_cut_penalty") * _slices_people(b, [q.box for q in people])
        value = np.where(cut_core, 0.0, np.where(cut_face, 0.35 * value, value))
        tv.add("boundary", value)
        tv.details["border_ratio"] = ratio
        tv.details["inner_edge"] = np.any(inner_edges(ctx.analysis, b), axis=0).astype(float)  # for the words

    def _headroom(
        self,
        tv: TermValues,
        b: np.ndarray,
        face_list: list[Detection],
        face_inside: np.ndarray,
    ) -> None:
        """``headroom``: room above the top kept face, its eyes near the upper third."""
        p = self.weights.param
        n = len(b)
        if not face_list:
            tv.add("headroom", np.zeros(n), np.zeros(n, bool))
            tv.details["eye_rel"] = np.full(n, np.nan)
            return
        faces = np.asarray([f.box for f in face_list], dtype=np.float64)  # rows match face_inside's
        eyes = eye_lines(face_list)
        kept = face_inside >= 0.97
        applicable = kept.any(axis=0)
        big = np.inf
        top = np.where(kept, faces[:, 1:2], big).min(axis=0)
        idx = np.where(kept, faces[:, 1:2], big).argmin(axis=0)
        top_rel = (top - b[:, 1]) / b[:, 3]
        eye_rel = (eyes[idx] - b[:, 1]) / b[:, 3]
        top_ok = np.clip(top_rel / p("headroom", "min_top"), 0, 1)
        se = p("headroom", "sigma_eye")
        eye = np.exp(-((eye_rel - p("headroom", "eye_line")) ** 2) / (2 * se * se))
        value = top_ok * (0.4 + 0.6 * eye)
        tv.add("headroom", np.where(applicable, value, 0.0), applicable)
        tv.details["eye_rel"] = np.where(applicable, eye_rel, np.nan)

    def _horizon(self, tv: TermValues, b: np.ndarray, a: CompositionAnalysis) -> None:
        p = self.weights.param
        n = len(b)
        hz = a.horizon
        if hz is None or hz.confidence < p("horizon", "min_confidence"):
            tv.add("horizon", np.zeros(n), np.zeros(n, bool))
            tv.details["horizon_rel"] = np.full(n, np.nan)
            return
        cx = b[:, 0] + b[:, 2] / 2
        hy = hz.y_left + (hz.y_right - hz.y_left) * cx / max(a.width, 1)
        rel = (hy - b[:, 1]) / b[:, 3]
        applicable = (rel > 0.03) & (rel < 0.97)
        d = np.minimum(np.abs(rel - _THIRDS[0]), np.abs(rel - _THIRDS[1]))
        s = p("horizon", "sigma")
        value = np.exp(-(d**2) / (2 * s * s))
        tv.add("horizon", value, applicable)
        tv.details["horizon_rel"] = np.where(applicable, rel, np.nan)


def eye_lines(faces: list[Detection]) -> np.ndarray:
    """``(F,)``: the height of each face's eyes, from its eye landmarks when the detector gave
    them, else 40 % down its box."""
    out = []
    for f in faces:
        eyes = [pt for pt in (f.point("right_eye"), f.point("left_eye")) if pt is not None]
        out.append(sum(y for _, y in eyes) / len(eyes) if eyes else f.box[1] + 0.4 * f.box[3])
    return np.asarray(out, dtype=np.float64)


def _face_core(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The part of a face box from the eyes to the mouth, without the forehead and chin margins."""
    x, y, w, h = box
    return x + 0.15 * w, y + 0.2 * h, 0.7 * w, 0.7 * h


def _slices_people(boxes: np.ndarray, people: list[tuple[float, float, float, float]]) -> np.ndarray:
    """``(N,)`` in [0, 1]: whether a left/right crop edge runs through a person's body (the middle
    70 % of its width) where the crop and the person overlap vertically."""
    out = np.zeros(len(boxes))
    for px, py, pw, ph in people:
        inner0, inner1 = px + 0.15 * pw, px + 0.85 * pw
        bx0 = boxes[:, 0]
        bx1 = boxes[:, 0] + boxes[:, 2]
        overlap_v = (np.minimum(boxes[:, 1] + boxes[:, 3], py + ph) - np.maximum(boxes[:, 1], py)) / max(ph, 1e-9)
        cut = ((bx0 > inner0) & (bx0 < inner1)) | ((bx1 > inner0) & (bx1 < inner1))
        out = np.maximum(out, cut * np.clip(overlap_v, 0, 1))
    return out


@dataclass
class _MappedBoxes:
    """Candidates in saliency-map coordinates with the integral lookups the terms share.

    ``looked`` holds twelve ``(N, C)`` integrals: the crop's corners, then the inner corners of
    its four border strips (``strip`` of the crop's side wide); ``sums`` are the in-crop sums.
    """

    b: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    bw: np.ndarray
    bh: np.ndarray
    area: np.ndarray
    sw: np.ndarray
    sh: np.ndarray
    looked: list[np.ndarray]
    sums: np.ndarray
    mass: np.ndarray
    kept: np.ndarray

    @classmethod
    def of(cls, ctx: ScoringContext, b: np.ndarray, strip: float) -> _MappedBoxes:
        """Map ``(N, 4)`` original-pixel boxes and look up all twelve integrals at once."""
        x0 = b[:, 0] * ctx.sx
        y0 = b[:, 1] * ctx.sy
        x1 = (b[:, 0] + b[:, 2]) * ctx.sx
        y1 = (b[:, 1] + b[:, 3]) * ctx.sy
        bw = np.maximum(x1 - x0, 1e-6)
        bh = np.maximum(y1 - y0, 1e-6)
        sw = np.maximum((x1 - x0) * strip, 0.5)
        sh = np.maximum((y1 - y0) * strip, 0.5)
        looked = ctx.maps.at_many(
            [
                (x0, y0), (x1, y0), (x0, y1), (x1, y1),
                (x1, y0 + sh), (x0, y0 + sh), (x1, y1 - sh), (x0, y1 - sh),
                (x0 + sw, y1), (x0 + sw, y0), (x1 - sw, y1), (x1 - sw, y0),
            ]
        )
        a00, a10, a01, a11 = looked[:4]
        sums = a11 - a01 - a10 + a00
        mass = np.maximum(sums[:, SAL], 0.0)
        total = max(float(ctx.maps.totals[SAL]), 1e-9)
        kept = np.clip(mass / total, 0.0, 1.0)
        return cls(b, x0, y0, x1, y1, bw, bh, bw * bh, sw, sh, looked, sums, mass, kept)
