"""Fit the preference scorer to editors' rankings (``procrop prefs fit``).

Three steps, the first resumable:

1. :func:`sheet_features` computes, for every judged sheet, the features
   (:func:`procrop.scoring.preference_features.crop_features`) of its candidate boxes exactly as
   :class:`~procrop.cropper.Cropper` computes them when it crops: the photo's analysis, the base
   terms and the learned box scorer's value. One photo is analysed once for all its sheets; the
   table is saved per photo so an interrupted run goes on where it stopped.
2. :func:`fit_preference_model` fits a scorer over the standardised features (linear by default:
   one weight per named feature; :attr:`FitConfig.hidden` can add a hidden layer) with a pairwise
   logistic loss over the pairs the judges ordered, ``-log sigmoid(s_better - s_worse)``, plus the
   recovery pairs of out-painted canvases, and weight decay. The decay (and the hidden width, when
   more than one is offered) is chosen by photo-disjoint cross-validation on the training sheets
   only (the held-out sheets never take part); with a hidden layer the final model averages
   ``seeds`` networks in score space. The networks do not read :data:`RESIDUAL_FEATURES`.
3. :func:`fit_residual` fits one weight per residual feature (the crop's mirror symmetry) beside
   the networks, their logits held fixed, on the judged pairs of two crops of the same size.

The result is a :class:`~procrop.scoring.terms.preference.PreferenceModel` file (``.npz``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ...preferences.records import group_by_sheet, majority_pairs
from .featurecache import open_cache, save_cache
from .prefcanvas import canvas_pairs
from ...scoring.preference_features import FEATURE_NAMES, RESIDUAL_FEATURES, crop_features
from ...scoring.terms.preference import PreferenceModel, uncropped_learned

Pairs = list[tuple[int, int, float]]


def sheet_features(keys: list[dict[str, Any]], photos_dir: str | Path, cache: str | Path,
                   cropper: Any = None, progress: Callable[[int, int], None] | None = None,
                   log: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """Sheet id -> ``(boxes, features)`` of every key's boxes, computed by the default cropper's
    own path (``cropper``: default ``Cropper()``); cached per photo in the ``.npz`` ``cache``
    (stamped: a cache made by other models is recomputed, see :mod:`.featurecache`)."""
    done = open_cache(cache, log)
    by_photo: dict[str, list[dict[str, Any]]] = {}
    for k in keys:
        by_photo.setdefault(k["photo"], []).append(k)
    todo = [p for p, ks in by_photo.items() if any(k["sheet"] not in done for k in ks)]
    if todo:
        if cropper is None:
            from ...cropper import Cropper

            cropper = Cropper()
        for n, photo in enumerate(todo, start=1):
            ctx = cropper.prepare(str(Path(photos_dir) / photo))
            for k in by_photo[photo]:
                done[k["sheet"]] = box_features(cropper, ctx, np.array(k["boxes"], float))
            if n % 20 == 0 or n == len(todo):
                save_cache(cache, done)
            if progress:
                progress(n, len(todo))
    return {k["sheet"]: done[k["sheet"]] for k in keys}


def box_features(cropper: Any, ctx: Any, boxes: np.ndarray) -> np.ndarray:
    """Features of ``boxes`` as the cropper sees them: its base terms, then its extra terms that
    come before the preference term (the learned box scorer), then :func:`crop_features` with the
    learned term's value for the uncropped photo."""
    tv = cropper.scorer.terms(ctx, boxes)
    learned = None
    for term in cropper.extra_terms:
        if term.name == "preference":
            break
        values, applicable = term.evaluate(ctx, boxes)
        tv.add(term.name, values, applicable)
        learned = term if term.name == "learned" else learned
    return crop_features(ctx, boxes, tv, uncropped_learned(ctx, learned))


@dataclass
class FitConfig:
    """Settings of :func:`fit_preference_model` (the grid is searched by cross-validation)."""

    #: 0: a linear scorer (a weight per named feature; a hidden layer of 16 measured no better)
    hidden: tuple[int, ...] = (0,)
    decay: tuple[float, ...] = (3e-3, 1e-2, 3e-2)
    epochs: int = 300
    folds: int = 5
    seeds: int = 5
    lr: float = 0.01
    seed: int = 0
    #: weight of one canvas's recovery pairs together (a judged sheet of 4 crops has 6 pairs of weight 1;
    #: 12 keeps held-out frame recovery at 0.867 mean IoU, 6 gave 0.843, 24 gave 0.875 for 0.01 less agreement)
    recovery_weight: float = 12.0
    history: list[dict[str, Any]] = field(default_factory=list)


def sheet_pairs(records: list[dict[str, Any]], min_judges: int = 1) -> dict[str, Pairs]:
    """Sheet id -> the ordered pairs ``(better, worse, weight)`` its judges' majority gives."""
    return {sid: majority_pairs(recs, min_judges=min_judges) for sid, recs in group_by_sheet(records).items()}


def _tensors(sheets: list[str], feats: dict[str, np.ndarray], pairs: dict[str, Pairs]):
    rows, better, worse, weight = [], [], [], []
    offset = 0
    for sid in sheets:
        f = feats[sid]
        rows.append(f)
        for i, j, w in pairs.get(sid, []):
            better.append(offset + i)
            worse.append(offset + j)
            weight.append(w)
        offset += len(f)
    return (torch.tensor(np.concatenate(rows), dtype=torch.float32), torch.tensor(better), torch.tensor(worse),
            torch.tensor(weight, dtype=torch.float32))


def _net(n_in: int, hidden: int) -> torch.nn.Module:
    if hidden == 0:
        return torch.nn.Linear(n_in, 1)
    return torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))


def _pair_loss(s: torch.Tensor, better: torch.Tensor, worse: torch.Tensor,
               weight: torch.Tensor) -> torch.Tensor:
    """Weighted mean of ``-log sigmoid(s_better - s_worse)`` over the pairs."""
    return (torch.nn.functional.softplus(-(s[better] - s[worse])) * weight).sum() / weight.sum()


def _train(x: torch.Tensor, better: torch.Tensor, worse: torch.Tensor, weight: torch.Tensor, hidden: int,
           decay: float, epochs: int, lr: float, seed: int,
           watch: Callable[[torch.nn.Module, int], None] | None = None) -> torch.nn.Module:
    """One network: a linear scorer (``hidden == 0``) is fitted to convergence by L-BFGS with an L2
    penalty ``decay`` (deterministic; ``watch`` sees the result at every checkpoint); a hidden layer
    is trained by Adam for ``epochs`` full-batch steps with weight decay."""
    torch.manual_seed(seed)
    net = _net(x.shape[1], hidden)

    def loss_of() -> torch.Tensor:
        return _pair_loss(net(x)[:, 0], better, worse, weight)

    if hidden == 0:
        opt = torch.optim.LBFGS(net.parameters(), max_iter=300, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = loss_of() + decay * (net.weight**2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        if watch is not None:
            for epoch in range(25, epochs + 1, 25):
                watch(net, epoch)
        return net
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=decay)
    for epoch in range(epochs):
        opt.zero_grad()
        loss_of().backward()
        opt.step()
        if watch is not None and (epoch + 1) % 25 == 0:
            watch(net, epoch + 1)
    return net


def pair_accuracy(scores: np.ndarray, better: np.ndarray, worse: np.ndarray, weight: np.ndarray) -> float:
    """Weighted share of pairs ordered like the judges (ties count half)."""
    d = scores[better] - scores[worse]
    hit = (d > 0) + 0.5 * (d == 0)
    return float((hit * weight).sum() / max(weight.sum(), 1e-9))


def _folds(sheets: list[str], photo_of: dict[str, str], k: int, seed: int) -> list[list[str]]:
    photos = sorted({photo_of[s] for s in sheets})
    k = max(2, min(k, len(photos)))
    random.Random(seed).shuffle(photos)
    fold_of = {p: i % k for i, p in enumerate(photos)}
    return [[s for s in sheets if fold_of[photo_of[s]] == f] for f in range(k)]


def fit_preference_model(feats: dict[str, np.ndarray], records: list[dict[str, Any]], cfg: FitConfig,
                         canvases: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                         log: Callable[[str], None] = print) -> tuple[PreferenceModel, dict[str, Any]]:
    """Choose settings by photo-disjoint cross-validation (judged-sheet agreement, with the
    recovery pairs' accuracy reported beside it), then fit the ensemble on everything.

    ``canvases``: canvas id ``"photo#k"`` -> ``(features, IoU with the frame)``
    (:mod:`procrop.training.scorer.prefcanvas`); their pairs weigh ``cfg.recovery_weight`` per canvas.
    The networks do not read :data:`RESIDUAL_FEATURES` (their input is 0 there, and so are their
    weights): :func:`fit_residual` fits those after."""
    pairs = sheet_pairs(records)
    photo_of = {r["sheet"]: r["photo"] for r in records}
    sheets = sorted(s for s in pairs if s in feats and pairs[s])
    items = {s: feats[s] for s in sheets}
    rng = np.random.default_rng(cfg.seed)
    for cid, (f, iou) in sorted((canvases or {}).items()):
        cp = [(i, j, w * cfg.recovery_weight) for i, j, w in canvas_pairs(iou, rng=rng)]
        if cp:
            items[cid], pairs[cid], photo_of[cid] = f, cp, cid.split("#")[0]
    ids = sorted(items)
    all_x = np.concatenate([items[s] for s in ids])
    mean, std = all_x.mean(axis=0), all_x.std(axis=0)
    std = np.where(std < 1e-6, 1.0, std)
    unread = [FEATURE_NAMES.index(n) for n in RESIDUAL_FEATURES]  # fitted after, by fit_residual
    norm = {s: ((items[s] - mean) / std).astype(np.float32) for s in ids}
    for x in norm.values():
        x[:, unread] = 0.0
    folds = _folds(ids, photo_of, cfg.folds, cfg.seed)
    results: dict[tuple[int, float], np.ndarray] = {}
    steps = cfg.epochs // 25
    for hidden in cfg.hidden:
        for decay in cfg.decay:
            curve, recovery = np.zeros(steps), np.zeros(steps)
            for f, held in enumerate(folds):
                held_set = set(held)
                x, b, w, wt = _tensors([s for s in ids if s not in held_set], norm, pairs)
                shown = [s for s in held if "#" not in s]
                drawn = [s for s in held if "#" in s]
                judged = [_tensors(shown, norm, pairs) if shown else None]
                judged += [_tensors(drawn, norm, pairs)] if drawn else []

                def watch(net: torch.nn.Module, epoch: int) -> None:
                    with torch.no_grad():
                        for k, held_data in enumerate(judged):
                            if held_data is None:
                                continue
                            hx, hb, hw, hwt = held_data
                            acc = pair_accuracy(net(hx)[:, 0].numpy(), hb.numpy(), hw.numpy(), hwt.numpy())
                            (curve if k == 0 else recovery)[epoch // 25 - 1] += acc / len(folds)

                _train(x, b, w, wt, hidden, decay, cfg.epochs, cfg.lr, cfg.seed + f, watch)
            results[(hidden, decay)] = curve
            best = int(np.argmax(curve))
            log(f"hidden {hidden:>2} decay {decay:g}: cross-validated agreement {curve[best]:.3f}, "
                f"recovery pairs {recovery[best]:.3f}, at epoch {(best + 1) * 25}")
            cfg.history.append({"hidden": hidden, "decay": decay, "agreement": [round(float(v), 4) for v in curve],
                                "recovery_pairs": [round(float(v), 4) for v in recovery]})
    (hidden, decay), curve = max(results.items(), key=lambda kv: (round(float(kv[1].max()), 4), -kv[0][0]))
    epochs = (int(np.argmax(curve)) + 1) * 25
    x, b, w, wt = _tensors(ids, norm, pairs)
    seeds = 1 if hidden == 0 else cfg.seeds  # a linear fit is deterministic: one is the ensemble
    nets = [_train(x, b, w, wt, hidden, decay, epochs, cfg.lr, cfg.seed + 100 + k) for k in range(seeds)]
    model = PreferenceModel.from_networks(nets, FEATURE_NAMES, mean, std)
    for member in model.layers:
        member[0][0][unread] = 0.0  # the networks never read them
    summary = {"sheets": len(sheets), "canvases": len(ids) - len(sheets), "pairs": int(len(b)),
               "photos": len({photo_of[s] for s in ids}), "hidden": hidden, "decay": decay, "epochs": epochs,
               "seeds": seeds, "recovery_weight": cfg.recovery_weight,
               "cv_agreement": round(float(curve.max()), 4), "grid": cfg.history}
    model.meta.update(summary)
    log(json.dumps({k: v for k, v in summary.items() if k != "grid"}))
    return model, summary


#: Two crops are the same size when their areas differ by at most this share of the larger.
SAME_SIZE = 0.1
#: L2 penalty on the residual weights (per standard deviation): negligible on thousands of pairs
#: (the shipped weight), it keeps a few separable pairs from giving a weight without bound.
RESIDUAL_DECAY = 1e-3


def same_size_pairs(records: list[dict[str, Any]], feats: dict[str, np.ndarray]) -> dict[str, Pairs]:
    """Sheet id -> its judged pairs of two crops of the same size (areas within :data:`SAME_SIZE`)."""
    area = FEATURE_NAMES.index("area")
    out = {}
    for sid, pairs in sheet_pairs(records).items():
        if sid in feats:
            size = feats[sid][:, area]
            same = [(i, j, w) for i, j, w in pairs
                    if abs(size[i] - size[j]) <= SAME_SIZE * max(size[i], size[j])]
            if same:
                out[sid] = same
    return out


def weights_beside(offset: torch.Tensor, z: torch.Tensor, better: torch.Tensor, worse: torch.Tensor,
                   weight: torch.Tensor, decay: float, max_iter: int = 200) -> torch.Tensor:
    """``(K,)`` float64 weights ``w`` minimising the pairwise logistic loss of ``offset + z @ w`` (the
    scores ``offset (N,)`` held fixed, ``z (N, K)`` standardised columns beside them) plus
    ``decay * |w|^2``, by L-BFGS from 0 (``max_iter`` iterations at most)."""
    w = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = _pair_loss(offset + z @ w, better, worse, weight) + decay * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def fit_residual(model: PreferenceModel, feats: dict[str, np.ndarray], records: list[dict[str, Any]],
                 log: Callable[[str], None] = print) -> PreferenceModel:
    """``model`` with its :data:`RESIDUAL_FEATURES` weights fitted on top of its networks: a pairwise
    logistic fit with :data:`RESIDUAL_DECAY`, the networks' logits held fixed, on the judged pairs of
    two crops of the same size (:func:`same_size_pairs`): where the same window is placed
    differently, which the networks' features read least well (a judged sheet's other pairs and the
    recovery canvases are theirs). Those columns' standardisation is set from the same crops.

    Raises:
        ValueError: no such pair, or networks that read a residual feature.
    """
    cols = [FEATURE_NAMES.index(n) for n in RESIDUAL_FEATURES]
    if any(np.any(member[0][0][cols] != 0) for member in model.layers):
        raise ValueError(f"the model's networks read {', '.join(RESIDUAL_FEATURES)}: its weights beside them "
                         "cannot be fitted on top")
    pairs = same_size_pairs(records, feats)
    if not pairs:
        raise ValueError("no judged pair of two crops of the same size to fit the mirror symmetry's "
                         "weight on")
    x, better, worse, weight = _tensors(sorted(pairs), feats, pairs)
    raw = x.numpy().astype(np.float64)
    offset = torch.tensor(model.without_residual().logits(raw))
    mean, std = model.mean.copy(), model.std.copy()  # the networks do not read these columns
    mean[cols], std[cols] = raw[:, cols].mean(axis=0), raw[:, cols].std(axis=0)
    std[cols] = np.where(std[cols] < 1e-6, 1.0, std[cols])
    z = torch.tensor((raw[:, cols] - mean[cols]) / std[cols])
    w = weights_beside(offset, z, better, worse, weight.double(), RESIDUAL_DECAY)
    residual = np.zeros(len(FEATURE_NAMES))
    residual[cols] = w.numpy()
    pick = better.numpy(), worse.numpy(), weight.numpy()
    before, after = (pair_accuracy(s, *pick) for s in (offset.numpy(), (offset + z @ w).numpy()))
    log(f"residual weights {dict(zip(RESIDUAL_FEATURES, np.round(residual[cols], 4).tolist()))} on "
        f"{len(better)} same-size judged pairs: agreement {before:.3f} -> {after:.3f}")
    fitted = PreferenceModel(model.names, mean, std, model.layers, dict(model.meta), residual)
    named = {n: round(float(v), 6) for n, v in zip(RESIDUAL_FEATURES, residual[cols])}
    fitted.meta.update({"residual": named,
                        "residual_pairs": len(better), "residual_sheets": len(pairs),
                        "residual_agreement": [round(before, 4), round(after, 4)]})
    return fitted
