"""``procrop train CONFIG``: train the ProCrop network, supervised or on weak labels.

* Supervised: a benchmark's training split (GAICD v1/v2, FCDB, CPC) through :mod:`procrop.data`.
* Weak: a weak-label set (``procrop dataset generate``) with ProCrop's online label refinement:
  after each step the model's predictions, scored ``10 * sigmoid``, are merged into each image's
  annotation file by :func:`procrop.weaklabels.refine.update_annotation_file` (kept above 0.2, snapped to a
  standard ratio, diverse, covering 80 % of the pseudo-label, top 4), each file rewritten atomically.

AdamW with a backbone learning rate, poly/step/constant schedules with warm-up, gradient clipping,
an optional EMA teacher, AMP on CUDA, deterministic seeds, metrics in ``metrics.jsonl`` and
``metrics.csv``, periodic evaluation, atomic checkpoints (``last.pt``, ``step-N.pt``) and exact
resumption (weights, optimiser, schedule, EMA, RNG states and the position in the epoch).
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..errors import UsageError
from ..model.checkpoint import check_compatible, load_checkpoint, save_checkpoint
from ..model.config import Config
from .samples import TrainingSet, collate
from ..model.inputs import Conditioner, boxes_to_input_pixels
from ..model.losses import ranking_loss, total_loss
from ..model.network import ProCropNet, build_model


CSV_COLUMNS = ("step", "epoch", "lr", "loss", "set", "cls", "l1", "giou", "rank", "refined")


@dataclass
class TrainResult:
    steps: int
    epochs_done: int
    last_checkpoint: Path
    final_loss: float
    history: list[dict[str, float]]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def data_fingerprint(paths: list[str]) -> str:
    """A short hash of the training image list and annotation files' sizes and times."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.encode())
        try:
            st = os.stat(p)
            h.update(f"{st.st_size}".encode())
        except OSError:
            pass
    return h.hexdigest()[:16]


def load_training_samples(cfg: Config):
    from ..data import read_benchmark, read_weak

    t = cfg.train
    if not t.data:
        raise UsageError("train.data is empty: set the data folder in the config")
    if t.mode == "weak":
        ds = read_weak(t.data)
    elif t.mode == "supervised":
        if t.benchmark not in ("gaicd-v1", "gaicd-v2", "fcdb", "cpc"):
            raise UsageError(f"train.benchmark must be gaicd-v1, gaicd-v2, fcdb or cpc, not {t.benchmark!r}")
        ds = read_benchmark(t.benchmark, t.data, None if t.split == "all" else t.split)
    else:
        raise UsageError(f"train.mode must be supervised or weak, not {t.mode!r}")
    samples = ds.available()
    if t.limit:
        samples = samples[: t.limit]
    if not samples:
        raise UsageError(f"{t.data}: no training images found ({len(ds.missing)} annotated images missing)")
    return ds, samples


def compute_conditioning(cfg: Config, samples, progress: Callable[[int, int], None] | None = None):
    """References and description ids of every training image (computed once)."""
    from ..perception.analyzer import Analyzer
    from ..scoring.context import ScoringContext

    ref = None if cfg.train.reference_db in ("none", "") else cfg.train.reference_db
    conditioner = Conditioner(cfg.model, ref)
    analyzer = Analyzer()
    out = []
    for i, s in enumerate(samples):
        image = analyzer.load(str(s.image))
        ctx = ScoringContext(image, analyzer.analyze(image))
        exclude = {v for v in (s.extra.get("source_sha256"), s.extra.get("source")) if v}
        out.append(conditioner(ctx, exclude))
        if progress:
            progress(i + 1, len(samples))
    return out


class Scheduler:
    """Learning-rate multiplier per step: warm-up, then poly / step / constant."""

    def __init__(self, cfg: Config, total_steps: int, steps_per_epoch: int) -> None:
        self.cfg = cfg.train
        self.total = max(1, total_steps)
        self.per_epoch = max(1, steps_per_epoch)

    def factor(self, step: int) -> float:
        t = self.cfg
        if t.warmup_steps and step < t.warmup_steps:
            return (step + 1) / t.warmup_steps
        if t.schedule == "poly":
            return max(0.0, 1 - step / self.total) ** t.poly_power
        if t.schedule == "step":
            epoch = step // self.per_epoch
            return t.step_gamma ** sum(epoch >= e for e in t.step_epochs)
        return 1.0


class Trainer:
    def __init__(self, cfg: Config, resume: str | Path | None = None, quiet: bool = False) -> None:
        self.cfg = cfg
        self.quiet = quiet
        t = cfg.train
        self.out = Path(t.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = torch.device("cuda" if (t.device == "auto" and torch.cuda.is_available()) else ("cpu" if t.device == "auto" else t.device))
        seed_everything(t.seed)
        torch.use_deterministic_algorithms(self.device.type == "cpu", warn_only=True)
        self.dataset, samples = load_training_samples(cfg)
        self.samples = samples
        self.fingerprint = data_fingerprint([str(s.image) for s in samples])
        self.model: ProCropNet = build_model(cfg.model).to(self.device)
        backbone = [p for n, p in self.model.named_parameters() if n.startswith("backbone.") and p.requires_grad]
        rest = [p for n, p in self.model.named_parameters() if not n.startswith("backbone.") and p.requires_grad]
        groups = [{"params": rest, "lr": t.lr}]
        if backbone and cfg.model.lr_backbone > 0:
            groups.append({"params": backbone, "lr": cfg.model.lr_backbone})
        self.base_lrs = [g["lr"] for g in groups]
        self.optimizer = torch.optim.AdamW(groups, lr=t.lr, weight_decay=t.weight_decay)
        self.batches_per_epoch = math.ceil(len(samples) / t.batch_size)
        total = t.max_steps or t.epochs * self.batches_per_epoch
        self.total_steps = total
        self.scheduler = Scheduler(cfg, total, self.batches_per_epoch)
        self.ema: ProCropNet | None = copy.deepcopy(self.model).eval() if t.ema else None
        self.amp = bool(t.amp and self.device.type == "cuda")
        self.amp_dtype = torch.bfloat16 if (self.amp and torch.cuda.is_bf16_supported()) else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.step = 0
        self.epoch = 0
        self.position = 0  # batches done in the current epoch
        self.history: list[dict[str, float]] = []
        self.conditioning = None
        if resume:
            self._resume(Path(resume))

    # ---- state -----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "config": self.cfg.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "step": self.step,
            "epoch": self.epoch,
            "position": self.position,
            "rng": {
                "python": random.getstate(),
                "numpy": np.random.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
            "data_fingerprint": self.fingerprint,
            "history": self.history[-1000:],
        }

    def save(self, name: str = "last.pt") -> Path:
        path = self.out / name
        save_checkpoint(path, self.state())
        return path

    def _resume(self, path: Path) -> None:
        state = load_checkpoint(path)
        check_compatible(state, self.cfg.model, path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        rng = state["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.history = list(state.get("history", []))
        if state.get("data_fingerprint") != self.fingerprint and not self.quiet:
            print(f"note: the training data changed since {path} was written")

    # ---- loop ------------------------------------------------------------------------------

    def order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng(np.random.SeedSequence([self.cfg.train.seed, epoch, 7])).permutation(len(self.samples))

    def run(self, progress: Callable[[int, int, dict[str, float]], None] | None = None) -> TrainResult:
        t = self.cfg.train
        if self.conditioning is None:
            self.conditioning = compute_conditioning(self.cfg, self.samples)
        data = TrainingSet(self.samples, self.cfg, self.conditioning, train=True)
        last = self.out / "last.pt"
        loss_value = float("nan")
        epochs = t.epochs if not t.max_steps else 10**9
        while self.epoch < epochs and (not t.max_steps or self.step < t.max_steps):
            order = self.order(self.epoch)
            batches = [order[i : i + t.batch_size] for i in range(0, len(order), t.batch_size)]
            while self.position < len(batches):
                if t.max_steps and self.step >= t.max_steps:
                    break
                idx = batches[self.position]
                items = [data.get(int(i), self.epoch) for i in idx]
                logs = self.train_step(collate(items, self.cfg.model.canvas))
                loss_value = logs["loss"]
                self.position += 1
                self.step += 1
                logs.update(step=self.step, epoch=self.epoch, lr=self.optimizer.param_groups[0]["lr"])
                if self.step % max(1, t.log_every) == 0 or self.step == 1:
                    self._log(logs)
                if progress:
                    progress(self.step, self.total_steps, logs)
                if t.checkpoint_every and self.step % t.checkpoint_every == 0:
                    self.save(f"step-{self.step}.pt")
                    self.save()
                if t.eval_every and self.step % t.eval_every == 0:
                    self.evaluate()
            if self.position >= len(batches):
                self.epoch += 1
                self.position = 0
                if not t.checkpoint_every:
                    self.save()
                if t.eval_data and not t.eval_every:
                    self.evaluate()
        last = self.save()
        return TrainResult(self.step, self.epoch, last, loss_value, self.history)

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        cfg = self.cfg
        t = cfg.train
        self.model.train()
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = base * self.scheduler.factor(self.step)
        inputs = batch["batch"].to(self.device)
        targets = [type(x)(x.good.to(self.device), x.all_boxes.to(self.device), x.all_scores.to(self.device)) for x in batch["targets"]]
        with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            out = self.model(inputs.images, inputs.mask, inputs.refs, inputs.ref_mask, inputs.text_ids)
            teacher = None
            if self.ema is not None and self.epoch >= t.ema_start_epoch:
                with torch.no_grad():
                    teacher = self.ema(inputs.images, inputs.mask, inputs.refs, inputs.ref_mask, inputs.text_ids)
            loss, logs = total_loss(out, targets, cfg.loss, teacher)
            cand = torch.cat(batch["candidates"]).to(self.device)
            cand_b = batch["candidate_batch"].to(self.device)
            if len(cand) and cfg.loss.rank > 0:
                pix = boxes_to_input_pixels(cand, inputs.rects, cand_b)
                scores = self.model.score_boxes(out["features"], pix, cand_b)
                rank = sum(
                    ranking_loss(scores[cand_b == i], mos.to(self.device), cfg.loss.rank_margin)
                    for i, mos in enumerate(batch["candidate_mos"])
                ) / len(batch["candidate_mos"])
                loss = loss + cfg.loss.rank * rank
                logs["rank"] = float(rank.detach())
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if t.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            with torch.no_grad():
                for pe, pm in zip(self.ema.parameters(), self.model.parameters()):
                    pe.mul_(t.ema_decay).add_(pm.detach(), alpha=1 - t.ema_decay)
        logs["loss"] = float(loss.detach())
        if t.mode == "weak" and t.refine and self.step % max(1, t.refine_every) == 0:
            logs["refined"] = float(self.refine(out, batch))
        return logs

    @torch.no_grad()
    def refine(self, out: dict[str, Any], batch: dict[str, Any]) -> int:
        """Online label refinement (weak mode): merge predictions into the annotation files."""
        from ..model.box_ops import cxcywh_to_xyxy
        from ..weaklabels.refine import update_annotation_file

        changed = 0
        probs = out["logits"].detach().float().sigmoid().cpu()
        boxes = cxcywh_to_xyxy(out["boxes"].detach().float().cpu())
        for b, item in enumerate(batch["items"]):
            s = self.samples[item.index]
            cx, cy, cw, ch = item.crop
            W, H = item.original_size
            scale = torch.tensor([cw, ch, cw, ch])
            offset = torch.tensor([cx, cy, cx, cy])
            px = boxes[b] * scale + offset
            proposals = [(px[q].tolist(), float(probs[b, q]) * 10) for q in range(px.shape[0])]
            path = Path(self.dataset.root) / "annotations" / (f"{s.split}/" if s.split != "all" else "") / f"{s.id}.txt"
            if path.exists() and update_annotation_file(path, proposals, W, H):
                changed += 1
        return changed

    def evaluate(self) -> dict[str, float] | None:
        t = self.cfg.train
        if not t.eval_data:
            return None
        from ..evaluation.evaluate import ModelMethod, evaluate

        path = self.save("eval.pt")
        report = evaluate(t.eval_benchmark or t.benchmark, t.eval_data, [ModelMethod(str(path))], split=t.eval_split)
        metrics = {f"eval/{k}": v for k, v in report.methods[0].metrics.items()}
        self._log({"step": self.step, "epoch": self.epoch, **metrics})
        return metrics

    def _log(self, logs: dict[str, float]) -> None:
        """Append to ``metrics.jsonl`` (everything) and ``metrics.csv`` / ``eval.csv`` (fixed
        columns: training steps, and evaluations)."""
        self.history.append(dict(logs))
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(logs) + "\n")
        is_eval = any(k.startswith("eval/") for k in logs)
        keys = sorted(logs) if is_eval else list(CSV_COLUMNS)
        csv_path = self.out / ("eval.csv" if is_eval else "metrics.csv")
        new = not csv_path.exists()
        with open(csv_path, "a", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(keys)
            w.writerow([logs.get(k, "") for k in keys])


def train(config: Config | str | Path, resume: str | Path | None = None, quiet: bool = False,
          progress: Callable[[int, int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train from a configuration (object or TOML/YAML path); ``resume`` continues a checkpoint."""
    cfg = config if isinstance(config, Config) else Config.load(config)
    trainer = Trainer(cfg, resume=resume, quiet=quiet)
    t0 = time.perf_counter()
    result = trainer.run(progress)
    if not quiet:
        print(f"trained {result.steps} steps in {time.perf_counter() - t0:.1f} s; checkpoint {result.last_checkpoint}")
    return result
