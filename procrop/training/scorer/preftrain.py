"""Training the learned box scorer on editors' rankings as well as on professional frames.

``procrop prefs build`` (:func:`train_preferences`) trains a :class:`~procrop.model.scorer.boxnet.BoxNet`
with two objectives at every step:

* **recovery** (what ``procrop learned train`` does, :func:`~procrop.training.scorer.boxtrain.box_loss`):
  on box-set canvases, boxes are scored against their IoU with the photographer's frame;
* **preference**: on judged sheets (``data/preferences/train.jsonl``, ``docs/judging.md``), the
  four candidate crops of a real photo are scored and every pair the judge ordered gives a
  logistic loss ``-log sigmoid(s_better - s_worse)``; weight :attr:`PrefTrainConfig.pref_weight`.

The photo of a sheet is seen exactly as :class:`~procrop.cropper.Cropper` sees it: loaded by the
analyser, described in words, squashed into the frozen MobileNetV2 (:func:`cache_photo_features`
stores its ``c3/c4/c5`` maps once, in float16); its references come from the same database as the
box sets', its own photo excluded.

After every epoch: recovery on the held-out box sets, and pairwise agreement with the judges on
the *selection* sheets (a photo-disjoint part of the training sheets; the held-out sheets are
never used for any choice). ``best.pt`` is the epoch with the best selection agreement whose
recovery stays at or above :attr:`PrefTrainConfig.min_recovery`; while no epoch reaches that floor
(a short or small run), the epoch with the best recovery, its record marked ``below_floor``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import UsageError
from ...geometry import xywh_to_xyxy
from ...model.scorer.boxnet import BoxNet, BoxNetConfig
from ...model.shared.tokens import tokenize
from ...preferences.agreement import scorer_agreement
from ...preferences.records import group_by_sheet, majority_pairs
from .boxtrain import (BoxData, BoxTrainConfig, _log, _restore, _save, check_resumable, recovery, retrieve_refs,
                       train_epoch, warmup_cosine)

SHEET_BOXES = 4


@dataclass(frozen=True)
class PrefTrainConfig:
    """Both objectives' settings: ``box`` for recovery (its ``net`` is the model's), the
    preference batch and weight, the share of training photos held for selection."""

    box: BoxTrainConfig = field(default_factory=lambda: BoxTrainConfig(epochs=10))
    pref_batch: int = 16
    pref_weight: float = 1.0
    selection_share: float = 0.15
    min_recovery: float = 0.85
    seed: int = 0


# ---- photo features --------------------------------------------------------------------------

def cache_photo_features(photos_dir: str | Path, names: list[str], out: str | Path) -> dict[str, Any]:
    """Backbone maps, description and size of every photo in ``names`` (relative to
    ``photos_dir``), computed as the cropper computes them, cached in ``out`` (``.npz``); photos
    already in the cache are not recomputed. Returns the cache as a dict of arrays + ``names``."""
    from ...files import atomic_write
    from ...model.scorer.boxnet import backbone_input, frozen_backbone
    from ...perception.analyzer import Analyzer
    from ...perception.describe import describe

    out = Path(out)
    cache = read_photo_features(out) if out.exists() else None
    have = set(cache["names"]) if cache else set()
    todo = [n for n in dict.fromkeys(names) if n not in have]
    if not todo:
        return cache  # type: ignore[return-value]
    analyzer, backbone = Analyzer(), frozen_backbone("pretrained")
    rows: dict[str, list[Any]] = {k: [] for k in ("c3", "c4", "c5", "size", "text", "names")}
    for n in todo:
        loaded = analyzer.load(str(Path(photos_dir) / n))
        text = describe(analyzer.analyze(loaded))
        with torch.inference_mode():
            maps = backbone(torch.from_numpy(backbone_input(loaded.detection_pixels)[None]))
        for k in ("c3", "c4", "c5"):
            rows[k].append(maps[k][0].numpy().astype(np.float16))
        rows["size"].append((loaded.width, loaded.height))
        rows["text"].append(text)
        rows["names"].append(n)
    merged = {k: np.stack(rows[k]) for k in ("c3", "c4", "c5")}
    merged["size"] = np.array(rows["size"], np.int32)
    meta = {k: rows[k] for k in ("names", "text")}
    if cache:  # the new photos go after the cached ones
        merged = {k: np.concatenate([cache[k], v]) for k, v in merged.items()}
        meta = {k: cache[k] + v for k, v in meta.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as fh:
        np.savez(fh, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **merged)
    return read_photo_features(out)


def read_photo_features(path: str | Path) -> dict[str, Any]:
    """A feature cache written by :func:`cache_photo_features`."""
    with np.load(path) as z:
        data: dict[str, Any] = {k: z[k] for k in ("c3", "c4", "c5", "size")}
        data.update(json.loads(z["meta"].tobytes().decode("utf-8")))
    return data


# ---- judged sheets ---------------------------------------------------------------------------

class SheetData:
    """Judged sheets with their photo's features: per sheet the normalised boxes ``(4, 4)``
    (``x1, y1, x2, y2`` in [0, 1]; fewer than four padded with the first) and ``(better, worse,
    weight)`` pairs. One judge per sheet gives its ranking's pairs; several give the majority's."""

    def __init__(self, sheets: list[list[dict[str, Any]]], features: dict[str, Any], db_path: str | None,
                 cfg: BoxNetConfig) -> None:
        index = {n: i for i, n in enumerate(features["names"])}
        missing = sorted({recs[0]["photo"] for recs in sheets} - set(index))
        if missing:
            raise UsageError(f"no cached features for {len(missing)} photo(s), e.g. {missing[0]}")
        self.sheets = [recs for recs in sheets if majority_pairs(recs)]
        rows = np.array([index[recs[0]["photo"]] for recs in self.sheets], np.int64)
        self.c3, self.c4, self.c5 = (features[k][rows] for k in ("c3", "c4", "c5"))
        photos = [recs[0]["photo"] for recs in self.sheets]
        self.refs, self.ref_mask = retrieve_refs(self.c5, photos, db_path if cfg.refs else None, cfg.k_refs)
        self.text = np.array([tokenize(features["text"][i], cfg.vocab, cfg.text_len) for i in rows], np.int64)
        size = features["size"][rows].astype(np.float32)
        self.aspect = size[:, 0] / size[:, 1]
        self.boxes = np.zeros((len(self.sheets), SHEET_BOXES, 4), np.float32)
        self.pairs: list[list[tuple[int, int, float]]] = []
        for s, recs in enumerate(self.sheets):
            W, H = size[s]
            xyxy = xywh_to_xyxy(np.array(recs[0]["boxes"], np.float32)) / np.array([W, H, W, H], np.float32)
            self.boxes[s] = xyxy[0]
            self.boxes[s, : len(xyxy)] = np.clip(xyxy, 0, 1)
            self.pairs.append(majority_pairs(recs))

    def __len__(self) -> int:
        return len(self.sheets)

    #: the model's inputs of the sheets ``idx`` (the same arrays, by name, as a box set's)
    inputs = BoxData.inputs

    def logits(self, model: BoxNet, idx: np.ndarray) -> torch.Tensor:
        """``(len(idx), 4)`` box logits of the sheets ``idx``."""
        return model(*self.inputs(idx), torch.from_numpy(self.boxes[idx]), torch.from_numpy(self.aspect[idx]))


def pair_loss(logits: torch.Tensor, pairs: list[list[tuple[int, int, float]]]) -> torch.Tensor:
    """Mean weighted ``-log sigmoid(s_better - s_worse)`` over every sheet's pairs."""
    rows, better, worse, weight = [], [], [], []
    for r, ps in enumerate(pairs):
        for b, w, m in ps:
            rows.append(r), better.append(b), worse.append(w), weight.append(m)
    r = torch.tensor(rows)
    diff = logits[r, torch.tensor(better)] - logits[r, torch.tensor(worse)]
    wt = torch.tensor(weight, dtype=torch.float32)
    return (F.softplus(-diff) * wt).sum() / wt.sum()


@torch.no_grad()
def sheet_agreement(model: BoxNet, data: SheetData) -> float:
    """Pairwise agreement of the model with the judges' majority on ``data``."""
    model.eval()
    scores = np.concatenate([data.logits(model, np.arange(i, min(i + 64, len(data)))).numpy()
                             for i in range(0, len(data), 64)]) if len(data) else np.zeros((0, 4))
    return scorer_agreement(data.sheets, scores)[0]


# ---- the loop ----------------------------------------------------------------------------------

def split_selection(records: list[dict[str, Any]], share: float, seed: int) -> tuple[list[list[dict[str, Any]]],
                                                                                      list[list[dict[str, Any]]]]:
    """Training sheets grouped by sheet, split by *photo* into (fit, selection)."""
    groups = list(group_by_sheet(records).values())
    photos = sorted({g[0]["photo"] for g in groups})
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(photos, size=max(1, int(round(share * len(photos)))), replace=False)) if photos else set()
    return [g for g in groups if g[0]["photo"] not in chosen], [g for g in groups if g[0]["photo"] in chosen]


def pref_epoch(model: BoxNet, opt: torch.optim.Optimizer, sched: Any, boxes: BoxData, sheets: SheetData,
               rng: np.random.Generator, cfg: PrefTrainConfig) -> tuple[float, float]:
    """One pass over the box-set canvases, each step also taking ``pref_batch`` sheets; the mean
    total loss and the mean preference loss."""
    pref_losses: list[float] = []

    def extra() -> torch.Tensor:
        idx = rng.choice(len(sheets), size=min(cfg.pref_batch, len(sheets)), replace=False)
        loss = pair_loss(sheets.logits(model, idx), [sheets.pairs[i] for i in idx])
        pref_losses.append(float(loss.detach()))
        return cfg.pref_weight * loss

    total = train_epoch(model, opt, sched, boxes, rng, cfg.box, extra_loss=extra)
    return total, float(np.mean(pref_losses)) if pref_losses else 0.0


def train_preferences(
    boxsets_train: str, boxsets_val: str, features: dict[str, Any], records: list[dict[str, Any]],
    out: str | Path, db_path: str | None, cfg: PrefTrainConfig | None = None, stop_after: int | None = None,
) -> dict[str, Any]:
    """Train (or resume from ``out/last.pt``) a BoxNet on both objectives; returns the best record."""
    cfg = cfg or PrefTrainConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.box.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    fit, select = split_selection(records, cfg.selection_share, cfg.seed)
    if not fit:
        raise UsageError("no judged training sheets to learn from (procrop prefs merge first)")
    net = cfg.box.net
    boxes, val = BoxData(boxsets_train, db_path, net), BoxData(boxsets_val, db_path, net)
    sheets, selection = SheetData(fit, features, db_path, net), SheetData(select, features, db_path, net)
    model = BoxNet(net)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.box.lr, weight_decay=cfg.box.weight_decay)
    sched = warmup_cosine(opt, cfg.box.epochs * math.ceil(len(boxes) / cfg.box.batch))
    rng = np.random.default_rng(cfg.seed)
    start, best = 0, {"selection_agreement": -1.0}
    last = out / "last.pt"
    meta = {"config": _config_dict(cfg), "train": boxsets_train, "val": boxsets_val, "references": db_path,
            "fit_sheets": len(sheets), "selection_sheets": len(selection),
            "fit_pairs": sum(len(p) for p in sheets.pairs)}
    if last.exists():
        check_resumable(out, meta)  # refuses other options, naming each change
        start, best, _ = _restore(last, model, opt, sched, rng)  # epochs end whole here: no partial state
        _log(out, {"resumed_at_epoch": start})
    (out / "run.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    end = cfg.box.epochs if stop_after is None else min(cfg.box.epochs, start + stop_after)
    for epoch in range(start, end):
        rec_loss, pref_loss = pref_epoch(model, opt, sched, boxes, sheets, rng, cfg)
        rec = recovery(model, val)
        agree = sheet_agreement(model, selection) if len(selection) else float("nan")
        record = {"epoch": epoch, "loss": round(rec_loss, 4), "pref_loss": round(pref_loss, 4), "recovery": rec,
                  "selection_agreement": round(agree, 4), "minutes": round((time.time() - t0) / 60, 2)}
        if _better(record, best, cfg.min_recovery):
            best = {**record, "below_floor": rec["all"] < cfg.min_recovery}
            _save(out / "best.pt", {"model": model.state_dict(), "config": net.to_dict(), "record": best,
                                    "meta": meta})
        _log(out, record)
        _save(last, {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "epoch": epoch,
                     "best": best})
    return best


def _better(record: dict[str, Any], best: dict[str, Any], floor: float) -> bool:
    """Whether an epoch's ``record`` replaces ``best``: above the recovery ``floor``, by selection
    agreement (any epoch above it beats every one below); below it, by recovery, until one is above."""
    best_below = best.get("below_floor", best["selection_agreement"] < 0)  # the start, or a record of before
    if record["recovery"]["all"] >= floor:
        return best_below or record["selection_agreement"] > best["selection_agreement"]
    return best_below and record["recovery"]["all"] > best.get("recovery", {}).get("all", -1.0)


def _config_dict(cfg: PrefTrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["box"]["net"] = cfg.box.net.to_dict()
    return json.loads(json.dumps(d))
