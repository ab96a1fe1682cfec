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

import math
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..perception.analysis import CompositionAnalysis
from ..errors import UsageError
from ..imaging.load import LoadedImage

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10
    import tomli as tomllib

BASE_TERMS: tuple[str, ...] = (
    "content",
    "focus",
    "placement",
    "balance",
    "boundary",
    "headroom",
    "horizon",
    "scale",
)


# --------------------------------------------------------------------------------------------
# Weights file
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoringWeights:
    """Term weights and shape parameters, loaded from a TOML file.

    Attributes:
        weights: term name -> non-negative weight.
        params: section -> parameter -> value.
        source: where they were loaded from.
    """

    weights: dict[str, float]
    params: dict[str, dict[str, float]]
    source: str = "<memory>"

    @classmethod
    def load(cls, path: str | Path | None = None) -> ScoringWeights:
        """Load a weights file; ``None`` loads the one shipped in the package."""
        if path is None:
            text = resources.files("procrop.resources").joinpath("scoring.toml").read_text("utf-8")
            source = "procrop/resources/scoring.toml"
        else:
            try:
                text = Path(path).read_text("utf-8")
            except OSError as exc:
                raise UsageError(f"{path}: cannot read scoring weights: {exc}") from exc
            source = str(path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{source}: invalid TOML: {exc}") from exc
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<memory>") -> ScoringWeights:
        weights = data.get("weights")
        if not isinstance(weights, dict) or not weights:
            raise UsageError(f"{source}: missing [weights] table")
        clean: dict[str, float] = {}
        for name, value in weights.items():
            if not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
                raise UsageError(f"{source}: weight {name!r} must be a non-negative number")
            clean[name] = float(value)
        params = {
            k: {pk: float(pv) for pk, pv in v.items()}
            for k, v in data.items()
            if isinstance(v, dict) and k != "weights"
        }
        return cls(clean, params, source)

    def weight(self, term: str) -> float:
        return self.weights.get(term, 0.0)

    def param(self, section: str, key: str, default: float | None = None) -> float:
        try:
            return self.params[section][key]
        except KeyError:
            if default is None:
                raise UsageError(f"{self.source}: missing parameter [{section}] {key}") from None
            return default

    def with_weights(self, **updates: float) -> ScoringWeights:
        """A copy with some weights replaced (``0`` switches a term off)."""
        merged = dict(self.weights)
        merged.update({k: float(v) for k, v in updates.items()})
        return ScoringWeights(merged, self.params, self.source)

    def to_toml(self) -> str:
        """Serialise in the layout of the shipped file."""
        lines = ["version = 1", "", "[weights]"]
        lines += [f"{k} = {v!r}" for k, v in self.weights.items()]
        for section, values in self.params.items():
            lines += ["", f"[{section}]"] + [f"{k} = {v!r}" for k, v in values.items()]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Integral maps
# --------------------------------------------------------------------------------------------


class IntegralMap:
    """Integral image of a stack of maps ``(h, w, C)`` supporting sums over fractional boxes.

    Coordinates are in map pixels, ``0..w`` and ``0..h``; the integral is interpolated bilinearly
    between pixel corners, so a box sum is exact for box edges on pixel boundaries and linear in
    between. One lookup serves all ``C`` maps at once.
    """

    def __init__(self, values: np.ndarray) -> None:
        if values.ndim == 2:
            values = values[:, :, None]
        h, w, c = values.shape
        ii = np.zeros((h + 1, w + 1, c), dtype=np.float64)
        ii[1:, 1:] = values.astype(np.float64).cumsum(0).cumsum(1)
        self.flat = ii.reshape(-1, c)
        self.w = w
        self.h = h
        self.channels = c
        self.totals = ii[-1, -1].copy()

    def at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Integral at fractional points, ``(N, C)``."""
        x = np.clip(x, 0, self.w)
        y = np.clip(y, 0, self.h)
        x0 = np.minimum(x.astype(np.int64), self.w - 1)
        y0 = np.minimum(y.astype(np.int64), self.h - 1)
        fx = (x - x0)[:, None]
        fy = (y - y0)[:, None]
        stride = self.w + 1
        i00 = y0 * stride + x0
        n = len(i00)
        g = self.flat[np.concatenate([i00, i00 + 1, i00 + stride, i00 + stride + 1])].reshape(4, n, -1)
        top = g[0] + (g[1] - g[0]) * fx
        bottom = g[2] + (g[3] - g[2]) * fx
        return top + (bottom - top) * fy

    def at_many(self, points: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """:meth:`at` for several point sets of equal length in one lookup."""
        n = len(points[0][0])
        out = self.at(np.concatenate([p[0] for p in points]), np.concatenate([p[1] for p in points]))
        return [out[k * n : (k + 1) * n] for k in range(len(points))]

    def box_sum(self, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> np.ndarray:
        """Sums of every map over each box, ``(N, C)``."""
        return self.at(x1, y1) - self.at(x0, y1) - self.at(x1, y0) + self.at(x0, y0)


#: Channels of :attr:`ScoringContext.maps`.
SAL, SAL_X, SAL_Y, EDGES = 0, 1, 2, 3


@dataclass
class ScoringContext:
    """Per-image state shared by all terms: the image, its analysis and precomputed integrals.

    ``maps`` integrates four channels: saliency, saliency times x, saliency times y (for centres
    of visual mass) and edge energy.
    """

    image: LoadedImage | None
    analysis: CompositionAnalysis
    cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        a = self.analysis
        mh, mw = a.saliency.shape
        ys, xs = np.mgrid[0:mh, 0:mw].astype(np.float64)
        sal = a.saliency.astype(np.float64)
        self.maps = IntegralMap(np.stack([sal, sal * (xs + 0.5), sal * (ys + 0.5), a.edges], axis=-1))
        self.sx = mw / a.width
        self.sy = mh / a.height


@dataclass
class TermValues:
    """Term values for ``N`` candidates.

    Attributes:
        values: term name -> ``(N,)`` values in [0, 1].
        applicable: term name -> ``(N,)`` bool; a term that does not apply is left out of the mix.
        details: intermediate per-candidate quantities used by explanations.
        face_inside: ``(F, N)`` share of each face inside each candidate.
    """

    values: dict[str, np.ndarray]
    applicable: dict[str, np.ndarray]
    details: dict[str, np.ndarray] = field(default_factory=dict)
    #: ``(F, N)`` share of each detected face inside each candidate.
    face_inside: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def subset(self, idx: np.ndarray) -> TermValues:
        return TermValues(
            {k: v[idx] for k, v in self.values.items()},
            {k: v[idx] for k, v in self.applicable.items()},
            {k: v[idx] for k, v in self.details.items()},
            self.face_inside[:, idx] if self.face_inside.size else self.face_inside,
        )

    def add(self, name: str, values: np.ndarray, applicable: np.ndarray | None = None) -> None:
        values = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
        self.values[name] = values
        self.applicable[name] = (
            np.ones(len(values), dtype=bool) if applicable is None else np.asarray(applicable, bool)
        )


@runtime_checkable
class ExtraTerm(Protocol):
    """A score term computed by another component (retrieval, a neural model).

    ``evaluate`` returns ``(values in [0, 1], applicable)`` for ``(N, 4)`` boxes; it is called on
    the best few dozen candidates per ratio (re-ranking), plus the uncropped frame.
    """

    name: str

    def evaluate(self, context: ScoringContext, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ...

    def explain(self, context: ScoringContext, box: np.ndarray, value: float) -> str | None:
        ...


# --------------------------------------------------------------------------------------------
# Composition terms
# --------------------------------------------------------------------------------------------

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
        n = len(b)
        # box in map coordinates
        x0 = b[:, 0] * ctx.sx
        y0 = b[:, 1] * ctx.sy
        x1 = (b[:, 0] + b[:, 2]) * ctx.sx
        y1 = (b[:, 1] + b[:, 3]) * ctx.sy
        bw = np.maximum(x1 - x0, 1e-6)
        bh = np.maximum(y1 - y0, 1e-6)
        area = bw * bh
        maps = ctx.maps
        total = max(float(maps.totals[SAL]), 1e-9)
        map_area = maps.w * maps.h
        s = self.weights.param("boundary", "strip")
        sw = np.maximum((x1 - x0) * s, 0.5)
        sh = np.maximum((y1 - y0) * s, 0.5)
        # all twelve lookups (crop corners, and the inner corners of the four border strips) at once
        looked = maps.at_many(
            [
                (x0, y0), (x1, y0), (x0, y1), (x1, y1),
                (x1, y0 + sh), (x0, y0 + sh), (x1, y1 - sh), (x0, y1 - sh),
                (x0 + sw, y1), (x0 + sw, y0), (x1 - sw, y1), (x1 - sw, y0),
            ]
        )
        corners = tuple(looked[:4])
        a00, a10, a01, a11 = corners
        sums = a11 - a01 - a10 + a00
        mass = np.maximum(sums[:, SAL], 0.0)
        kept = np.clip(mass / total, 0.0, 1.0)
        tv = TermValues({}, {}, {"kept": kept})

        # content and focus
        tv.add("content", kept ** p("content", "power"))
        density_ratio = (mass / area) / (total / map_area)
        tv.add("focus", p("focus", "gain") * (density_ratio - 1.0))
        tv.details["density_ratio"] = density_ratio

        # visual centre of mass of each crop, relative to the crop
        safe = np.maximum(mass, 1e-9)
        cx = sums[:, SAL_X] / safe
        cy = sums[:, SAL_Y] / safe
        cu = np.where(mass > 1e-9, (cx - x0) / bw, 0.5)
        cv = np.where(mass > 1e-9, (cy - y0) / bh, 0.5)
        tv.add(
            "balance",
            np.exp(-((cu - 0.5) ** 2) / (2 * p("balance", "sigma_x") ** 2))
            * np.exp(-((cv - 0.5) ** 2) / (2 * p("balance", "sigma_y") ** 2)),
        )
        tv.details["mass_u"], tv.details["mass_v"] = cu, cv

        # faces: how much of each is inside each crop; a cut through the face's core (eyes to
        # mouth) is far worse than trimming the forehead or chin of a tight portrait
        faces = a.faces
        face_inside = _inside_fractions(b, [f.box for f in faces])  # (F, N)
        tv.face_inside = face_inside
        if faces:
            cut_face = ((face_inside > 0.02) & (face_inside < 0.97)).any(axis=0)
            core_inside = _inside_fractions(b, [_face_core(f.box) for f in faces])
            cut_core = ((core_inside > 0.02) & (core_inside < 0.97)).any(axis=0)
        else:
            cut_face = cut_core = np.zeros(n, bool)
        tv.details["cuts_face"] = cut_face.astype(np.float64)
        tv.details["cuts_face_core"] = cut_core.astype(np.float64)
        tv.details["faces_kept"] = (
            (face_inside >= 0.97).sum(axis=0).astype(np.float64) if faces else np.zeros(n)
        )

        self._placement(tv, ctx, b, face_inside, cu, cv)
        self._boundary(tv, b, (x0, y0, x1, y1), (sw, sh), looked, mass, area, cut_face, cut_core, ctx)
        self._headroom(tv, b, [f.box for f in faces], face_inside)
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

    def _placement(
        self,
        tv: TermValues,
        ctx: ScoringContext,
        b: np.ndarray,
        face_inside: np.ndarray,
        cu: np.ndarray,
        cv: np.ndarray,
    ) -> None:
        p = self.weights.param
        a = ctx.analysis
        n = len(b)
        # subject point per crop: kept faces first, else the main salient region, else mass centre
        u = cu.copy()
        v = cv.copy()
        subj_area = np.zeros(n)
        kind = np.zeros(n)  # 0 visual mass, 1 salient subject, 2 face
        # a salient band across the whole frame (a horizon) is structure, left to balance/horizon
        main = next(iter(a.compact_subjects), None)
        if main is not None and main.mass >= p("placement", "main_subject_share"):
            inside = _inside_fractions(b, [main.box])[0]
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
            fy = boxes[:, 1:2] + 0.4 * boxes[:, 3:4]  # eye line
            ex = (weights * fx).sum(axis=0) / np.maximum(wsum, 1e-9)
            ey = (weights * fy).sum(axis=0) / np.maximum(wsum, 1e-9)
            u = np.where(has, (ex - b[:, 0]) / b[:, 2], u)
            v = np.where(has, (ey - b[:, 1]) / b[:, 3], v)
            # a face's subject is the head and shoulders: about 3 x 3 face sizes
            fa = (kept * (boxes[:, 2:3] * boxes[:, 3:4] * 9.0)).sum(axis=0)
            subj_area = np.where(has, fa, subj_area)
            kind = np.where(has, 2.0, kind)
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

    def _boundary(
        self,
        tv: TermValues,
        b: np.ndarray,
        mbox: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        strip: tuple[np.ndarray, np.ndarray],
        looked: list[np.ndarray],
        mass: np.ndarray,
        area: np.ndarray,
        cut_face: np.ndarray,
        cut_core: np.ndarray,
        ctx: ScoringContext,
    ) -> None:
        p = self.weights.param
        maps = ctx.maps
        x0, y0, x1, y1 = mbox
        sw, sh = strip
        a00, a10, a01, a11, t1, t0, b1, b0, l1, l0, r1, r0 = looked
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

    def _headroom(
        self,
        tv: TermValues,
        b: np.ndarray,
        face_boxes: list[tuple[float, float, float, float]],
        face_inside: np.ndarray,
    ) -> None:
        p = self.weights.param
        n = len(b)
        if not face_boxes:
            tv.add("headroom", np.zeros(n), np.zeros(n, bool))
            tv.details["eye_rel"] = np.full(n, np.nan)
            return
        faces = np.asarray(face_boxes, dtype=np.float64)  # rows match face_inside's rows
        kept = face_inside >= 0.97
        applicable = kept.any(axis=0)
        big = np.inf
        top = np.where(kept, faces[:, 1:2], big).min(axis=0)
        idx = np.where(kept, faces[:, 1:2], big).argmin(axis=0)
        fh = faces[idx, 3]
        top_rel = (top - b[:, 1]) / b[:, 3]
        eye_rel = (top + 0.4 * fh - b[:, 1]) / b[:, 3]
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


def _inside_fractions(boxes: np.ndarray, objects: list[tuple[float, float, float, float]]) -> np.ndarray:
    """``(K, N)``: fraction of each object's area inside each box."""
    if not objects:
        return np.zeros((0, len(boxes)))
    o = np.asarray(objects, dtype=np.float64).reshape(-1, 4)
    bx0, by0 = boxes[:, 0][None], boxes[:, 1][None]
    bx1, by1 = bx0 + boxes[:, 2][None], by0 + boxes[:, 3][None]
    ox0, oy0 = o[:, 0:1], o[:, 1:2]
    ox1, oy1 = ox0 + o[:, 2:3], oy0 + o[:, 3:4]
    iw = np.clip(np.minimum(bx1, ox1) - np.maximum(bx0, ox0), 0, None)
    ih = np.clip(np.minimum(by1, oy1) - np.maximum(by0, oy0), 0, None)
    return iw * ih / np.maximum(o[:, 2:3] * o[:, 3:4], 1e-9)


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
