"""The preference term: how editors rank crops, learned from their rankings (``docs/judging.md``).

A :class:`PreferenceModel` is a small ensemble of networks (standardised features -> one hidden
tanh layer, or none -> a score), plus one linear weight for each feature the networks do not read
(the crop's mirror symmetry), over the interpretable features of
:mod:`procrop.scoring.preference_features`: the base terms, the learned box scorer's value,
geometry, how much of each subject an edge cuts, saliency pressed against the edges and empty
space. It was fitted by ``procrop prefs fit`` (:mod:`procrop.training.scorer.preffit`) on judged sheets;
the file is a plain ``.npz`` read with numpy alone.

As an :class:`~procrop.scoring.context.ExtraTerm` (:class:`PreferenceTerm`) it runs after the
base terms and the learned term (it reads both: ``reads_terms``), on every candidate, and its
value is the crop's score.
"""

from __future__ import annotations

import json
import os
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ...errors import UsageError
from ...perception.backdrop import ground_share
from ...perception.describe_words import detection_name
from ..context import FIXED_RATIO, ScoringContext, TermValues
from ..edge_room import edge_pressure, room_penalty
from ..explain import EDGE_PRESSED, EDGE_TOUCHED, LEAD_SHORT, REGION_CUT, REGIONS_WHOLE, subject_cut_words
from ..lead_room import lead_penalty, lead_pressure
from ..protection import cuts, inside_fractions
from ..preference_features import FEATURE_NAMES, RESIDUAL_FEATURES, crop_features, has_regions, plain_share

#: The preference model shipped with procrop.
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "resources" / "models" / "preference" / "preference.npz"


#: The term's value is ``sigmoid(logit / SCORE_TEMPERATURE)``: the order is the model's; the
#: temperature only spreads scores the way the other scorers' are spread, so that the cropper's
#: ``min_score_ratio`` keeps alternatives as it does for them (the logits of a pairwise model are
#: far apart: a plain sigmoid put good fixed-ratio crops near 0.1 beside an uncropped photo's 0.8).
SCORE_TEMPERATURE = 4.0

#: A photo the learned box scorer already reads as a finished frame (its value for the uncropped
#: photo above :data:`FINISHED_PHOTO`) is cropped as editors crop one: keeping at least
#: :data:`FINISHED_MIN_SHARE` of the largest box of a crop's shape. A crop under that share loses
#: up to :data:`SMALL_CROP_PENALTY` logits (about twice their spread within a judged sheet), all of
#: it from :data:`PENALTY_RAMP` under the share. The judges chose a box of at least 95 % of the
#: largest of the ratio on 93 % of the 726 held-out sheets; blind check of the change:
#: ``data/preferences/checks/finished_photo/``. A crop of a fixed ratio asked for (``4:5``, not
#: ``free``) loses it whatever the photo: blind judges preferred the larger crop this gave on 36 of
#: 48 sheets (``data/preferences/checks/fixed_ratio_large/``), while a free crop of a wider scene
#: stays free to be small (with the penalty on free crops too, frame recovery on the held-out
#: canvases fell from 0.864 to 0.822).
FINISHED_PHOTO = 0.9
FINISHED_MIN_SHARE = 0.9
SMALL_CROP_PENALTY = 2.0
PENALTY_RAMP = 0.06
#: On a subject on a studio backdrop (:mod:`procrop.perception.backdrop`: a product on white), a crop
#: whose share of empty ground is above BACKDROP_FREE loses up to BACKDROP_PENALTY logits, all of
#: them from BACKDROP_FREE + BACKDROP_RAMP: the judged photos hold no such frame, and the model
#: would keep a canvas 97 % empty as a photographer's (a new user's trial: a shop's products).
BACKDROP_FREE, BACKDROP_RAMP, BACKDROP_PENALTY = 0.55, 0.35, 8.0
#: A crop whose mirror symmetry (:mod:`procrop.scoring.symmetry`) is at least this is said to be
#: "nearly its own mirror image" when the model rewards it (with the shipped model, about 0.6 logits
#: above an average crop).
SYMMETRIC = 0.6
#: A crop is said to keep "much empty space" when at least this share of it is plain
#: (:func:`~procrop.scoring.preference_features.plain_share`), beside the model's own empty share.
PLAIN_SPACE = 0.5


class PreferenceModel:
    """Scores feature rows: ``(N, F)`` -> ``(N,)`` logits (mean over the ensemble, plus the residual
    weights times the standardised features).

    Args:
        names: feature names, in column order (checked against :data:`FEATURE_NAMES`).
        mean, std: ``(F,)`` standardisation.
        layers: per ensemble member, ``[(W, b), ...]``: ``W (in, out)``; tanh between layers.
        meta: how the model was fitted (data counts, settings, cross-validated agreement).
        residual: ``(F,)`` linear weights on the standardised features, added to the networks' mean
            (nonzero only for :data:`RESIDUAL_FEATURES`, which the networks do not read); default 0.
    """

    def __init__(self, names: Sequence[str], mean: np.ndarray, std: np.ndarray,
                 layers: list[list[tuple[np.ndarray, np.ndarray]]], meta: dict[str, Any] | None = None,
                 residual: np.ndarray | None = None) -> None:
        self.names = tuple(names)
        self.mean = np.asarray(mean, np.float64)
        self.std = np.asarray(std, np.float64)
        self.layers = layers
        self.meta = dict(meta or {})
        self.residual = np.zeros(len(self.names)) if residual is None else np.asarray(residual, np.float64)

    @classmethod
    def from_networks(cls, nets: list[Any], names: Sequence[str], mean: np.ndarray, std: np.ndarray) -> PreferenceModel:
        """From torch modules (a ``Linear`` or ``Sequential(Linear, Tanh, Linear)``)."""
        layers = []
        for net in nets:
            linears = [m for m in (net if hasattr(net, "__iter__") else [net]) if hasattr(m, "weight")]
            layers.append([(m.weight.detach().numpy().T.astype(np.float64), m.bias.detach().numpy().astype(np.float64))
                           for m in linears])
        return cls(names, mean, std, layers)

    def logits(self, features: np.ndarray) -> np.ndarray:
        x = (np.asarray(features, np.float64) - self.mean) / self.std
        out = np.zeros(len(x))
        for member in self.layers:
            h = x
            for k, (w, b) in enumerate(member):
                h = h @ w + b
                if k < len(member) - 1:
                    h = np.tanh(h)
            out += h[:, 0]
        return out / max(len(self.layers), 1) + x @ self.residual

    def save(self, path: str | os.PathLike) -> None:
        arrays: dict[str, Any] = {"names": np.array(self.names), "mean": self.mean, "std": self.std,
                                  "meta": np.array(json.dumps(self.meta)), "residual": self.residual}
        for m, member in enumerate(self.layers):
            for k, (w, b) in enumerate(member):
                arrays[f"m{m}_w{k}"] = w.astype(np.float32)
                arrays[f"m{m}_b{k}"] = b.astype(np.float32)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(str(path) + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> PreferenceModel:
        """Read a model file (default: the shipped one); one clear error when it is not one."""
        path = Path(path) if path is not None else DEFAULT_MODEL
        if not path.is_file():
            what = "a folder, not a" if path.is_dir() else "no such"
            raise UsageError(f"{path}: {what} preference model file")
        try:
            with np.load(path, allow_pickle=False) as z:
                names = [str(n) for n in z["names"]]
                members: dict[int, dict[int, list[np.ndarray]]] = {}
                for key in z.files:
                    if key.startswith("m") and "_" in key:
                        m, rest = key[1:].split("_")
                        members.setdefault(int(m), {}).setdefault(int(rest[1:]), [None, None])[
                            0 if rest[0] == "w" else 1] = z[key].astype(np.float64)
                layers = [[tuple(members[m][k]) for k in sorted(members[m])] for m in sorted(members)]
                residual = z["residual"] if "residual" in z.files else None  # none before v3
                model = cls(names, z["mean"], z["std"], layers, json.loads(str(z["meta"])), residual)
        except KeyError:
            raise UsageError(f"{path}: not a preference model file (an .npz archive without the model's arrays; "
                             "make one with `procrop prefs fit`)") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            raise UsageError(f"{path}: not a preference model file (not a numpy .npz archive of arrays, "
                             "or cut short; make one with `procrop prefs fit`)") from None
        if model.residual.shape != (len(names),) or not np.all(np.isfinite(model.residual)):
            raise UsageError(f"{path}: not a preference model file (its residual weights are not one finite "
                             f"number per feature; make one with `procrop prefs fit`)")
        if tuple(names) == tuple(n for n in FEATURE_NAMES if n not in RESIDUAL_FEATURES):
            return model.widened()  # fitted before those features: their weights are 0
        if tuple(names) != FEATURE_NAMES:
            raise UsageError(f"{path}: the model's features do not match this procrop version's "
                             f"({len(names)} vs {len(FEATURE_NAMES)}); refit it with `procrop prefs fit`")
        return model

    def without_residual(self) -> PreferenceModel:
        """The networks alone (the residual weights at 0)."""
        return PreferenceModel(self.names, self.mean, self.std, self.layers, self.meta)

    def widened(self) -> PreferenceModel:
        """This model over :data:`FEATURE_NAMES`, reading the features it lacks with weight 0 (a model
        fitted before :data:`RESIDUAL_FEATURES` existed scores as it did)."""
        at = [FEATURE_NAMES.index(n) for n in self.names]
        n = len(FEATURE_NAMES)
        mean, std, residual = np.zeros(n), np.ones(n), np.zeros(n)
        mean[at], std[at], residual[at] = self.mean, self.std, self.residual
        layers = []
        for member in self.layers:
            (w, b), rest = member[0], member[1:]
            wide = np.zeros((n, w.shape[1]))
            wide[at] = w
            layers.append([(wide, b), *rest])
        return PreferenceModel(FEATURE_NAMES, mean, std, layers, self.meta, residual)


def model_name(path: str | os.PathLike | None = None) -> str | None:
    """The name a preference model file gives itself (default: the shipped one), read once per
    version of the file (a batch's every result names the model; reading it is 2 ms)."""
    p = Path(path) if path is not None else DEFAULT_MODEL
    if not p.is_file():
        PreferenceModel.load(p)  # its one clear error
    st = p.stat()
    return _model_name(str(p.resolve()), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=16)
def _model_name(path: str, mtime_ns: int, size: int) -> str | None:
    return PreferenceModel.load(path).meta.get("name")


def _known_row(batches: list[tuple[np.ndarray, ...]], box: Any, value: float
               ) -> tuple[np.ndarray, float, bool] | None:
    """The feature row, small-crop penalty and fixed-ratio flag :meth:`PreferenceTerm.evaluate`
    computed for ``box`` (to the pixel) among its ``(rounded boxes (N, 4), rows (N, F), penalties (N,),
    values (N,), flags (N,))`` batches, or ``None``: of the rows of that box, the one scored nearest
    ``value`` (one box may be a free crop and a fixed ratio's, scored with and without the penalty);
    on a tie the free crop's (both penalised: the photo is finished, which holds for both, while "its
    ratio" is false of a free crop), then the latest."""
    key = np.rint(np.asarray(box, np.float64).reshape(4))
    found = [(abs(float(values[i]) - value), rows[i], float(small[i]), bool(fixed[i]))
             for boxes, rows, small, values, fixed in reversed(batches)  # the latest first, on a tie
             for i in np.flatnonzero((boxes.reshape(-1, 4) == key).all(axis=1))[::-1]]
    return min(found, key=lambda f: (f[0], f[3]))[1:] if found else None


def uncropped_learned(ctx: ScoringContext, learned: Any) -> float | None:
    """The learned term's value for the whole photo (cached per photo), ``None`` without one."""
    if learned is None:
        return None
    if "preference:uncropped" not in ctx.cache:
        a = ctx.analysis
        values, _ = learned.evaluate(ctx, np.array([[0, 0, a.width, a.height]], np.float64))
        ctx.cache["preference:uncropped"] = float(values[0])
    return ctx.cache["preference:uncropped"]


def small_crop_penalty(shares: np.ndarray, uncropped: float | None, fixed: np.ndarray | None = None
                       ) -> np.ndarray:
    """Logits taken off crops keeping ``shares (N,)`` of the largest box of their shape, for a photo
    whose uncropped frame the learned box scorer values at ``uncropped``, each of a fixed ratio asked
    for or not (``fixed (N,)``, default none; see :data:`FINISHED_PHOTO`)."""
    shares = np.asarray(shares, np.float64)
    finished = uncropped is not None and uncropped > FINISHED_PHOTO
    applies = np.full(len(shares), finished) if fixed is None else finished | (np.asarray(fixed) > 0)
    ramp = np.clip((FINISHED_MIN_SHARE - shares) / PENALTY_RAMP, 0.0, 1.0)
    return np.where(applies, SMALL_CROP_PENALTY * ramp, 0.0)


def backdrop_penalty(ctx: ScoringContext, boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` logits taken off ``boxes (N, 4)`` for their empty ground on a studio backdrop (none
    elsewhere; see :data:`BACKDROP_PENALTY`)."""
    a = ctx.analysis
    if a.backdrop is None:
        return np.zeros(len(boxes))
    share = ground_share(a.backdrop, boxes, a.width, a.height)
    return BACKDROP_PENALTY * np.clip((share - BACKDROP_FREE) / BACKDROP_RAMP, 0.0, 1.0)


class PreferenceTerm:
    """:class:`~procrop.scoring.context.ExtraTerm` named ``preference`` (see the module docstring).

    Args:
        model: a model file (default: the shipped one).
    """

    name = "preference"
    scores_every_candidate = True
    reads_terms = True

    def __init__(self, model: str | os.PathLike | None = None) -> None:
        self.model = PreferenceModel.load(model)
        #: the term whose value for the uncropped photo is a feature (set by :func:`scoring_setup`)
        self.learned: Any = None
        #: whether a style term follows the user's references (set by :func:`scoring_setup`): then
        #: their composition, not :func:`small_crop_penalty`, says how much of a finished photo to keep
        self.steered = False

    def features(self, ctx: ScoringContext, boxes: np.ndarray, tv: TermValues) -> np.ndarray:
        """The model's input rows for ``boxes`` (:func:`crop_features`)."""
        return crop_features(ctx, boxes, tv, uncropped_learned(ctx, self.learned))

    @property
    def model_name(self) -> str:
        return str(self.model.meta.get("name", "procrop-preference"))

    def evaluate(self, ctx: ScoringContext, boxes: np.ndarray, tv: TermValues | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scores in (0, 1) of ``(N, 4)`` boxes given the terms already computed on them."""
        if tv is None:
            raise ValueError("the preference term reads the other terms: pass their values")
        feats = self.features(ctx, boxes, tv)
        fixed = tv.details.get(FIXED_RATIO, np.zeros(len(feats))) > 0
        small = self._small_crop_penalty(ctx, feats, fixed)
        z = (self.model.logits(feats) - small - backdrop_penalty(ctx, boxes)
             - room_penalty(ctx.analysis, boxes) - lead_penalty(ctx.analysis, boxes)) / SCORE_TEMPERATURE
        values = 1.0 / (1.0 + np.exp(-z))
        # for explain(): no second computation (the boxes rounded to the pixel: _known_row)
        rows = ctx.cache.setdefault("preference:rows", [])
        rows.append((np.rint(np.asarray(boxes, np.float64)), feats, small, values, fixed))
        return values, np.ones(len(feats), bool)

    def _small_crop_penalty(self, ctx: ScoringContext, feats: np.ndarray, fixed: np.ndarray | None = None
                            ) -> np.ndarray:
        """:func:`small_crop_penalty` of feature rows ``(N, F)`` (none while references steer)."""
        if self.steered:
            return np.zeros(len(feats))
        shares = feats[:, FEATURE_NAMES.index("largest_share")]
        return small_crop_penalty(shares, uncropped_learned(ctx, self.learned), fixed)

    def explain(self, ctx: ScoringContext, box: np.ndarray, value: float) -> str | None:
        known = _known_row(ctx.cache.get("preference:rows", []), box, value)
        if known is None:
            row = crop_features(ctx, np.asarray(box, float).reshape(1, 4), TermValues({}, {}))[0]
            known = row, float(self._small_crop_penalty(ctx, row[None])[0]), False
        row, small, fixed = known
        f = dict(zip(FEATURE_NAMES, row))
        parts, against = [], []  # against: what lowers the score, said as such (a new user read "keeps
        # much empty space", and later a cut listed before it, as praise)
        # whether it cuts a face or a detection: the test explain_crop's reason uses (protection.cuts)
        a, b = ctx.analysis, np.asarray(box, np.float64).reshape(1, 4)
        held = inside_fractions(b, [d.box for d in a.subjects_to_keep])  # (K, 1): each subject's share inside
        names = dict(a.animal_names)  # the backbone's word where the description says it ("an animal")
        crossed = [names.get(d.box) or detection_name(d) for d, share in zip(a.subjects_to_keep, held)
                   if cuts(share[None])[0] and not a.is_worn(d)]  # named as the description names them
        # (an unsure 0.59 "cat" is an animal, a trial's raccoon; so are camels called elephants); a tie is
        # its wearer's
        if cuts(inside_fractions(b, [d.box for d in a.faces]))[0]:
            against.append("cuts into a face")
        elif crossed:  # named: a trial's user could not tell which subject the edge crossed
            against.append(subject_cut_words(crossed))
        elif f["region_cut"] > 0.05:
            against.append(REGION_CUT)
        elif f["regions_whole"] > 0 and has_regions(ctx):  # not of a crop (or photo) that holds none (a
            parts.append(REGIONS_WHOLE)  # trial read it beside "keeps 0%"; the feature reads 1 without any)
        rewarded = self.model.residual[FEATURE_NAMES.index("mirror_symmetry")] > 0
        if f["mirror_symmetry"] >= SYMMETRIC and rewarded:
            parts.append("nearly its own mirror image")
        if f["regions_left_out"] > 0.2:
            against.append("leaves some of what stands out outside the frame")
        if f["edge_pressure"] > 0.5:
            against.append(EDGE_PRESSED)
        if lead_pressure(a, b)[0] >= 0.5:  # 6 % of the crop's width ahead or less
            against.append(LEAD_SHORT)
        elif edge_pressure(a, b)[0] >= 0.5 and f["edge_pressure"] <= 0.5:  # one clause for one fault
            against.append(EDGE_TOUCHED)
        if backdrop_penalty(ctx, b)[0] >= 1.0:  # a logit or more: the empty ground is a real cost
            against.append("much empty backdrop round the subject")
        elif f["empty_share"] > 0.85 and plain_share(ctx, b)[0] >= PLAIN_SPACE:  # sky, not a dense city
            against.append("much empty space")
        if small > 0:
            kept = int(100 * f["largest_share"])  # rounded down: 89.7 % is not "90 %", the floor itself
            why = "its ratio" if fixed else "a photo already well framed"  # free: only on a finished one
            against.append(f"small for {why} ({kept}% of the largest crop of its shape)")
        if not parts and not against:  # the model's name alone says nothing (a trial read a reason
            return None  # ending "...; editors' preference model")
        text = "editors' preference model" + (": " + ", ".join(parts) if parts else "")
        # "; " between clauses: a clause naming subjects ("a person and a chair") is one clause
        return text + (" (against it: " + "; ".join(against) + ")" if against else "")
