"""Training the learned box scorer (:class:`~procrop.model.scorer.boxnet.BoxNet`) on cached box sets.

``procrop learned train --train DIR --val DIR --refs DB --out RUN`` (:func:`train_boxnet`):

* every canvas gets its ``k`` references once, up front: the ``mobilenet`` search vector of its
  cached ``c5`` map against the reference database, the canvas's own photo excluded (it would give
  the answer away; held-out photos are in no database);
* each step draws :data:`BOXES` boxes per canvas (:func:`draw_boxes`): the frame, jittered and
  shifted/zoomed copies of it, random boxes and boxes of the inference grid; the target of a box is
  its IoU with the frame. Loss: a listwise cross-entropy (the softmax over a canvas's boxes against
  ``softmax(IoU / tau)``) plus a binary cross-entropy of ``sigmoid(logit)`` to the IoU, so the score
  both ranks and reads as "expected overlap with a professional's frame";
* after every epoch, validation on the held-out box sets: :func:`procrop.model.scorer.search.search` (the
  shipped inference search) finds each canvas's free-ratio top-1 box; its IoU with the frame is the
  recovery. The best epoch is kept as ``best.pt``; ``last.pt`` (model, optimiser, schedule, RNG)
  lets a killed run resume exactly where it stopped (Ctrl-C or SIGTERM saves it after the step
  under way, mid-epoch, and raises :class:`~procrop.training.shared.keeping.TrainingInterrupted`; a
  rerun continues bit for bit); ``log.jsonl`` has one line per epoch. A run
  folder resumes only under the options it was started with (:func:`check_resumable`: another
  number of epochs would change the schedule mid-run); anything else is refused with the reason.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import UsageError
from ...model.scorer.boxnet import BoxNet, BoxNetConfig
from ...model.scorer.search import free_grid, iou_xyxy, search
from ...model.shared.tokens import tokenize
from .boxsets import read_boxsets
from ..shared.keeping import InterruptGuard, TrainingInterrupted

BOXES = 64


@dataclass(frozen=True)
class BoxTrainConfig:
    epochs: int = 16
    batch: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.02
    tau: float = 0.05
    bce_weight: float = 1.0
    seed: int = 0
    threads: int = 2
    net: BoxNetConfig = BoxNetConfig()


# ---- references --------------------------------------------------------------------------------

def retrieve_refs(c5: np.ndarray, photos: list[str], db_path: str | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference tokens ``(N, k, 64, 64)`` float16 and mask ``(N, k)`` (True: missing) for cached
    ``c5 (N, 1280, 8, 8)`` maps, each canvas's own photo excluded."""
    n = len(c5)
    if not db_path:
        return np.zeros((n, k, 64, 64), np.float16), np.ones((n, k), bool)
    from ...retrieval.encoders.mobilenet import search_vector
    from ...retrieval.store import ReferenceDB

    db = ReferenceDB.open(db_path, expect_encoder="mobilenet")
    sources = np.array([it.get("source", "") for it in db.items])
    queries = np.stack([search_vector(m) for m in c5.astype(np.float32).transpose(0, 2, 3, 1)])
    sims = db.similarities(queries)  # streamed: a database over LAZY_LIMIT leaves its vectors on disk
    sims[sources[None, :] == np.asarray(photos)[:, None]] = -np.inf
    top = np.argsort(-sims, axis=1)[:, :k]
    refs = np.zeros((n, k, *db.tokens.shape[1:]), np.float16)
    mask = np.ones((n, k), bool)  # fewer than k usable references: the rest are masked
    found = np.isfinite(np.take_along_axis(sims, top, axis=1))
    refs[:, : top.shape[1]] = np.where(found[..., None, None], db.tokens[top], 0)
    mask[:, : top.shape[1]] = ~found
    return refs, mask


# ---- boxes and targets -------------------------------------------------------------------------

_GRID = free_grid()


def draw_boxes(frame: np.ndarray, rng: np.random.Generator, n: int = BOXES) -> np.ndarray:
    """``(n, 4)`` normalised boxes for one canvas: the frame, 23 edge-jittered copies, 8 shifted or
    zoomed copies (ratio kept), 16 random boxes, 16 from the inference grid."""
    x1, y1, x2, y2 = frame
    w, h = x2 - x1, y2 - y1
    sig = rng.choice([0.015, 0.04, 0.1], size=(23, 1))
    jit = frame[None] + rng.normal(0, 1, (23, 4)) * sig
    k = rng.uniform(0.7, 1.25, (8, 1))
    cx = (x1 + x2) / 2 + rng.normal(0, 0.06, (8, 1))
    cy = (y1 + y2) / 2 + rng.normal(0, 0.06, (8, 1))
    zoom = np.concatenate([cx - w * k / 2, cy - h * k / 2, cx + w * k / 2, cy + h * k / 2], axis=1)
    a = rng.uniform(0, 1, (16, 2))
    b = rng.uniform(0, 1, (16, 2))
    rand = np.concatenate([np.minimum(a, b), np.maximum(a, b)], axis=1)
    grid = _GRID[rng.choice(len(_GRID), 16, replace=False)]
    boxes = np.clip(np.concatenate([frame[None], jit, zoom, rand, grid])[:n], 0, 1)
    small = (boxes[:, 2] - boxes[:, 0] < 0.05) | (boxes[:, 3] - boxes[:, 1] < 0.05)
    boxes[small] = grid[: int(small.sum())] if small.sum() <= len(grid) else boxes[small]
    return boxes.astype(np.float32)


def box_loss(logits: torch.Tensor, target_iou: torch.Tensor, tau: float, bce_weight: float) -> torch.Tensor:
    """Listwise cross-entropy against ``softmax(IoU / tau)`` + ``bce_weight`` x BCE(sigmoid, IoU)."""
    soft = F.softmax(target_iou / tau, dim=1)
    listwise = -(soft * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    return listwise + bce_weight * F.binary_cross_entropy_with_logits(logits, target_iou)


# ---- data ----------------------------------------------------------------------------------------

class BoxData:
    """Box sets in memory with their references and token ids; :meth:`batch` -> tensors."""

    def __init__(self, folder: str, db_path: str | None, cfg: BoxNetConfig) -> None:
        d = read_boxsets(folder)
        self.c3, self.c4, self.c5, self.frame = d["c3"], d["c4"], d["c5"], d["frame"]
        self.canvas = d["canvas"]
        self.meta = d["meta"]
        photos = [m["photo"] for m in self.meta]
        self.refs, self.ref_mask = retrieve_refs(self.c5, photos, db_path if cfg.refs else None, cfg.k_refs)
        self.text = np.array([tokenize(m["text"], cfg.vocab, cfg.text_len) for m in self.meta], np.int64)
        self.aspect = (self.canvas[:, 0] / self.canvas[:, 1]).astype(np.float32)

    def __len__(self) -> int:
        return len(self.frame)

    def inputs(self, idx: np.ndarray) -> list[torch.Tensor]:
        f = lambda a: torch.from_numpy(np.ascontiguousarray(a[idx]).astype(np.float32))  # noqa: E731
        return [f(self.c3), f(self.c4), f(self.c5), f(self.refs), torch.from_numpy(self.ref_mask[idx]),
                torch.from_numpy(self.text[idx])]


# ---- validation ----------------------------------------------------------------------------------

@torch.no_grad()
def recovery(model: BoxNet, data: BoxData, limit: int = 0) -> dict[str, Any]:
    """Free-ratio top-1 recovery (mean IoU with the frame) over ``data``, overall and per fill."""
    model.eval()
    ious: dict[str, list[float]] = {}
    n = len(data) if not limit else min(limit, len(data))
    for i in range(n):
        idx = np.array([i])
        fused, edges, context = model.encode(*data.inputs(idx))
        aspect = torch.from_numpy(data.aspect[idx])

        def score(boxes: np.ndarray) -> np.ndarray:
            b = torch.from_numpy(boxes.astype(np.float32))[None]
            return model.score(fused, edges, context, b, aspect)[0].numpy()

        best, _ = search(score, float(data.aspect[i]))
        iou = float(iou_xyxy(best[:1], data.frame[i][None].astype(np.float64))[0, 0])
        for key in ("all", data.meta[i]["fill"]):
            ious.setdefault(key, []).append(iou)
    return {k: round(float(np.mean(v)), 4) for k, v in ious.items()}


# ---- the loop ----------------------------------------------------------------------------------

def _log(out: Path, line: dict[str, Any]) -> None:
    with open(out / "log.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
    print(json.dumps(line), file=sys.stderr, flush=True)


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


@dataclass
class EpochState:
    """Where an epoch stands: its canvas order, the steps done and their losses."""

    order: np.ndarray
    step: int = 0
    losses: list[float] = field(default_factory=list)


def train_epoch(model: BoxNet, opt: torch.optim.Optimizer, sched: Any, train: BoxData, rng: np.random.Generator,
                cfg: BoxTrainConfig, extra_loss: Callable[[], torch.Tensor] | None = None,
                state: EpochState | None = None, stop: Callable[[], bool] | None = None) -> float:
    """One pass over the training canvases in a random order; the mean loss. ``extra_loss``, when
    given, is added at every step (another objective's batch: :mod:`procrop.training.scorer.preftrain`).
    ``state``: an epoch under way to continue (its ``step`` advances); ``stop``: asked after each
    step, True ends the epoch early (``state.step`` then says where)."""
    model.train()
    state = state or EpochState(rng.permutation(len(train)))
    order = state.order
    for s in range(state.step, math.ceil(len(train) / cfg.batch)):
        idx = order[s * cfg.batch:(s + 1) * cfg.batch]
        boxes = np.stack([draw_boxes(train.frame[i], rng) for i in idx])
        target = np.stack([iou_xyxy(b.astype(np.float64), train.frame[i][None].astype(np.float64))[:, 0]
                           for b, i in zip(boxes, idx)]).astype(np.float32)
        logits = model(*train.inputs(idx), torch.from_numpy(boxes), torch.from_numpy(train.aspect[idx]))
        loss = box_loss(logits, torch.from_numpy(target), cfg.tau, cfg.bce_weight)
        if extra_loss is not None:
            loss = loss + extra_loss()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        state.losses.append(float(loss.detach()))
        state.step = s + 1
        if stop is not None and stop():
            break
    return float(np.mean(state.losses))


def warmup_cosine(opt: torch.optim.Optimizer, total: int, warmup: int = 100) -> Any:
    """The learning-rate schedule of the box scorer's training: linear warm-up over ``warmup``
    steps (at most a tenth of the run: a fine-tune of tens of photos, 6 steps an epoch, peaked at 5 %
    of its rate under the build's 100), then cosine to 0 at step ``total``."""
    warmup = max(1, min(warmup, total // 10))
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))


def _restore(last: Path, model: BoxNet, opt: torch.optim.Optimizer, sched: Any, rng: np.random.Generator
             ) -> tuple[int, dict[str, Any], EpochState | None]:
    """Load ``last.pt`` into the model, optimiser, schedule and RNGs; the next epoch, the best record
    and, when a signal stopped it mid-epoch, that epoch's state."""
    state = torch.load(last, weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])
    part = state.get("partial")
    partial = EpochState(np.asarray(part["order"]), part["step"], list(part["losses"])) if part else None
    return state["epoch"] + 1, state["best"], partial


#: What a resumed run must share with the run that wrote ``last.pt`` (``threads`` may change).
RESUME_KEYS = ("config", "backbone", "references", "train_canvases", "val_canvases")


def check_resumable(out: Path, meta: dict[str, Any]) -> None:
    """Refuse to resume the run in ``out`` under other options than it was started with (its ``run.json``).

    Raises:
        UsageError: naming every option that differs, old and new.
    """
    try:
        old = json.loads((out / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # a run from before run.json: nothing to compare with
    new = json.loads(json.dumps(meta))
    changes = []
    for key in RESUME_KEYS:
        a, b = old.get(key), new.get(key)
        if key == "config" and isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                if k != "threads" and a.get(k) != b.get(k):
                    changes.append(f"{k} {a.get(k)} -> {b.get(k)}")
        elif a != b:
            changes.append(f"{key} {a} -> {b}")
    if changes:
        raise UsageError(f"{out}: a run started with other options ({'; '.join(changes)}); resume it with the same "
                         f"options, or train into a new folder (or delete {out / 'last.pt'} to start over)")


def sets_backbone(folder: str) -> str:
    """The backbone a box-set folder's features come from (its ``options.json``; ``pretrained``)."""
    try:
        return str(json.loads((Path(folder) / "options.json").read_text(encoding="utf-8"))["backbone"])
    except (OSError, ValueError, KeyError):
        return "pretrained"


def train_boxnet(train_dir: str, val_dir: str, out: str | os.PathLike, db_path: str | None,
                 cfg: BoxTrainConfig | None = None, stop_after: int | None = None,
                 init: str | None = None, progress: Callable[[int, int], None] | None = None
                 ) -> dict[str, Any]:
    """Train (or resume) a :class:`BoxNet`; returns the best epoch's validation record so far. The
    backbone (pretrained or random) is the one the box sets were made with; both folders must agree.
    ``stop_after``: run at most this many epochs now (a long schedule in parts; rerun to go on).
    ``init``: a checkpoint whose weights a new run starts from (fine-tuning; its network must be
    ``cfg.net``); a resumed run continues from ``last.pt`` instead. ``progress(step, total)``: after
    every training step, the steps of the whole schedule done so far."""
    cfg = cfg or BoxTrainConfig()
    backbone = sets_backbone(train_dir)
    if sets_backbone(val_dir) != backbone:
        raise UsageError(f"{train_dir} and {val_dir} come from different backbones")
    out = Path(out)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    train, val = BoxData(train_dir, db_path, cfg.net), BoxData(val_dir, db_path, cfg.net)
    out.mkdir(parents=True, exist_ok=True)  # only once both box-set folders have been read
    model = BoxNet(cfg.net)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train) / cfg.batch)
    total = cfg.epochs * steps_per_epoch
    sched = warmup_cosine(opt, total)
    rng = np.random.default_rng(cfg.seed)
    start, best, partial = 0, {"recovery": {"all": -1.0}}, None
    last = out / "last.pt"
    meta = {"config": {**asdict(cfg), "net": cfg.net.to_dict()}, "backbone": backbone,
            "train": str(train_dir), "val": str(val_dir), "references": db_path,
            "train_canvases": len(train), "val_canvases": len(val), "init": init}
    if init and not last.exists():
        from ...model.scorer.boxnet_export import load_checkpoint

        source, _ = load_checkpoint(init)
        if source.cfg.to_dict() != cfg.net.to_dict():
            raise UsageError(f"{init}: its network differs from the one to train")
        model.load_state_dict(source.state_dict())
    if last.exists():
        check_resumable(out, meta)
        start, best, partial = _restore(last, model, opt, sched, rng)
        _log(out, {"resumed_at_epoch": start})
    (out / "run.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    end = cfg.epochs if stop_after is None else min(cfg.epochs, start + stop_after)

    def save_last(epoch_done: int, part: EpochState | None = None) -> None:
        _save(last, {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "epoch": epoch_done,
                     "best": best, "partial": None if part is None else
                     {"order": part.order.tolist(), "step": part.step, "losses": part.losses}})

    with InterruptGuard() as guard:
        for epoch in range(start, end):
            state = partial if partial is not None and epoch == start else EpochState(rng.permutation(len(train)))

            def stop(epoch: int = epoch, state: EpochState = state) -> bool:  # asked after every step
                if progress is not None:
                    progress(epoch * steps_per_epoch + state.step, total)
                return guard.requested

            loss = train_epoch(model, opt, sched, train, rng, cfg, state=state, stop=stop)
            if state.step < steps_per_epoch:  # a signal stopped the epoch: keep it as it stands
                save_last(epoch - 1, state)
                raise TrainingInterrupted(last, epoch * steps_per_epoch + state.step, total,
                                          "rerun the same command to continue")
            best = _epoch_end(model, val, out, epoch, loss, best, meta, cfg, sched, t0)
            save_last(epoch)
            if guard.requested:
                raise TrainingInterrupted(last, (epoch + 1) * steps_per_epoch, total, "rerun the same command to continue")
    return best


def _epoch_end(model: BoxNet, val: BoxData, out: Path, epoch: int, loss: float, best: dict[str, Any],
               meta: dict[str, Any], cfg: BoxTrainConfig, sched: Any, t0: float) -> dict[str, Any]:
    """Validate an epoch, keep ``best.pt`` when it recovers best, log it; the best record."""
    rec = recovery(model, val)
    record = {"epoch": epoch, "loss": round(loss, 4), "recovery": rec,
              "lr": sched.get_last_lr()[0], "minutes": round((time.time() - t0) / 60, 2)}
    if rec["all"] > best["recovery"]["all"]:
        best = record
        _save(out / "best.pt", {"model": model.state_dict(), "config": cfg.net.to_dict(), "record": record,
                                "meta": meta})
    _log(out, record)
    return best


def with_net(cfg: BoxTrainConfig, **changes: Any) -> BoxTrainConfig:
    """``cfg`` with its network configuration changed (ablations: ``refs=False``, ``text=False``)."""
    return replace(cfg, net=replace(cfg.net, **changes))
