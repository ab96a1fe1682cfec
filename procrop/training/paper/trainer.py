"""``procrop train CONFIG``: train the ProCrop network, supervised or on weak labels.

* Supervised: a benchmark's training split (GAICD v1/v2, FCDB, CPC) through :mod:`procrop.data`.
* Weak: a weak-label set (``procrop dataset generate``) with ProCrop's online label refinement:
  after each step the model's predictions, scored ``10 * sigmoid``, are merged into each image's
  labels by :func:`procrop.weaklabels.refine.update_annotation_file` (kept above 0.2, snapped to a
  standard ratio, diverse by ``train.refine_rule`` -- ProCrop's official rule by default --,
  covering 80 % of the pseudo-label, top 4). The refined labels are the run's: ``OUT/refined/
  annotations/...``, a copy of the generated file made at its first refinement and rewritten
  atomically; the data set's own files are never written (two runs on one set do not meet, and a
  resume reads its run's refined labels back). The rewritten labels reach the next step at once:
  the training set re-reads a file that changed (:meth:`.samples.TrainingSet.reload`).

Owns :class:`Trainer` (the loop, one step, refinement, evaluation, checkpoints and logs) and
:func:`train`. AdamW with parameter groups and poly/step/constant schedules
(:mod:`.optim`), gradient clipping, an optional EMA teacher, AMP on CUDA (or fp32), deterministic
seeds, initial weights from a checkpoint (``train.init_checkpoint``, :mod:`procrop.model.paper.importers`),
conditioning cached under the run folder (:mod:`.conditioning`), ``torchrun`` data-parallel
training (:mod:`.distributed`), metrics in ``metrics.jsonl`` and ``metrics.csv`` (epochs from 1), periodic
evaluation with the run's own reference database (``eval.pt``, ``eval.csv``; the best-scoring
one kept as ``best.pt`` with ``best.json``), atomic checkpoints (``last.pt``, ``step-N.pt``; ``last.pt``
also every ``train.checkpoint_minutes`` and when SIGINT or SIGTERM stops the run, see
:mod:`procrop.training.shared.keeping`) and exact resumption (weights, optimiser, schedule, EMA, every
rank's RNG states and the position in the epoch).
"""

from __future__ import annotations

import copy
import dataclasses
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ...errors import UsageError
from ...model.paper.checkpoint import check_compatible, load_checkpoint, save_checkpoint
from ...model.paper.config import Config
from ...model.paper.inputs import boxes_to_input_pixels
from ...model.paper.losses import ranking_loss, total_loss
from ...model.paper.network import ProCropNet, build_model
from ...weaklabels.refine import RULES
from .conditioning import compute_conditioning, conditioner_for
from .distributed import DistContext, init_distributed
from .eval_data import check_eval_data, eval_target
from ..shared.keeping import (BestKeeper, InterruptGuard, SaveClock, TrainingInterrupted, append_metrics,
                              prune_step_checkpoints, seed_everything, selection_key)
from .optim import ParamGroup, Scheduler, parameter_groups
from .samples import TrainingSet, collate, data_fingerprint, load_training_samples

__all__ = ["Scheduler", "TrainResult", "Trainer", "TrainingInterrupted", "compute_conditioning", "train"]


@dataclass
class TrainResult:
    steps: int
    epochs_done: int
    last_checkpoint: Path
    final_loss: float
    history: list[dict[str, float]]


class StepModule(nn.Module):
    """The forward pass of a training step (the network and, for the ranking loss, its box head)
    as one module, so that DistributedDataParallel sees every parameter the loss uses."""

    def __init__(self, net: ProCropNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor, mask: torch.Tensor, rects: torch.Tensor, refs: torch.Tensor | None,
                ref_mask: torch.Tensor | None, text_ids: torch.Tensor | None, cand: torch.Tensor | None,
                cand_b: torch.Tensor | None) -> tuple[dict[str, Any], torch.Tensor | None]:
        out = self.net(images, mask, refs, ref_mask, text_ids)
        scores = None
        if cand is not None and cand_b is not None:
            pix = boxes_to_input_pixels(cand, rects, cand_b)
            scores = self.net.score_boxes(out["features"], pix, cand_b)
        return out, scores


class Trainer:
    """One training run (see the module docstring); ``resume`` continues a checkpoint exactly."""

    def __init__(self, cfg: Config, resume: str | Path | None = None, quiet: bool = False) -> None:
        self.cfg = cfg
        t = cfg.train
        self.out = Path(t.out_dir)
        self.dist = self._setup_device()
        self.quiet = quiet or not self.dist.is_main
        self._eval_conditioning: dict[str, Any] = {}  # evaluation images' conditioning, kept for the run

        if t.refine_rule not in RULES:
            raise UsageError(f"train.refine_rule must be one of {', '.join(RULES)}, not {t.refine_rule!r}")
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        self.dist.barrier()
        if t.batch_size % self.dist.world:
            raise UsageError(f"train.batch_size {t.batch_size} (the global batch) must be divisible by {self.dist.world} processes")
        seed_everything(t.seed)
        torch.use_deterministic_algorithms(self.device.type == "cpu", warn_only=True)
        if t.eval_data and self.dist.is_main:
            check_eval_data(t)  # before the first step: not after an epoch of training
        self.conditioner = conditioner_for(cfg)  # its reference database checked before any work
        self.dataset, samples = load_training_samples(cfg)
        self.samples = samples
        self.fingerprint = data_fingerprint([str(s.image) for s in samples])
        # weights come from the init checkpoint (or the resumed one): the backbone's own file is not read
        given = bool(t.init_checkpoint or resume)
        self.model: ProCropNet = build_model(dataclasses.replace(cfg.model, backbone_weights="") if given else cfg.model)
        if t.init_checkpoint and not resume:
            from ...model.paper.importers import load_initial_weights

            report = load_initial_weights(self.model, t.init_checkpoint, t.init_format)
            if not self.quiet:
                print(f"initial weights from {t.init_checkpoint}: {report.summary()}")
        self.model.to(self.device)
        self._build_optimizer()
        self.batches_per_epoch = -(-len(samples) // t.batch_size)
        self.total_steps = t.max_steps or t.epochs * self.batches_per_epoch
        self.scheduler = Scheduler(cfg, self.total_steps, self.batches_per_epoch)
        self.ema: ProCropNet | None = copy.deepcopy(self.model).eval() if t.ema else None
        self.amp = bool(t.amp and self.device.type == "cuda")
        self.amp_dtype = torch.bfloat16 if (self.amp and torch.cuda.is_bf16_supported()) else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.step = self.epoch = self.position = 0  # position: batches done in the current epoch
        self.history: list[dict[str, float]] = []
        self.conditioning = None
        self.data: TrainingSet | None = None
        self.clock = SaveClock(t.checkpoint_minutes)
        self.best = BestKeeper(self.out, selection_key(eval_target(t)[0], t.select_metric))
        if resume:
            self._resume(Path(resume))

    def _setup_device(self) -> DistContext:
        t = self.cfg.train
        cuda = t.device in ("auto", "cuda") and torch.cuda.is_available()
        dist = init_distributed(cuda)
        if dist.enabled:
            self.device = torch.device(f"cuda:{dist.local_rank}" if cuda else "cpu")
        else:
            self.device = torch.device("cuda" if cuda and t.device == "auto" else ("cpu" if t.device == "auto" else t.device))
        return dist

    def _build_optimizer(self) -> None:
        named = dict(self.model.named_parameters())
        self.groups: list[ParamGroup] = parameter_groups(self.model, self.cfg)
        self.group_names = [g.names for g in self.groups]
        self.optimizer = torch.optim.AdamW([{"params": [named[n] for n in g.names], "lr": g.lr} for g in self.groups],
                                           lr=self.cfg.train.lr, weight_decay=self.cfg.train.weight_decay)
        self.step_module: nn.Module = StepModule(self.model)
        if self.dist.enabled:
            module = self.step_module
            if self.device.type == "cuda":
                module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_module = nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)

    def close(self) -> None:
        """Leave the process group (distributed runs)."""
        self.dist.close()

    # ---- state -----------------------------------------------------------------------------

    @staticmethod
    def _rng() -> dict[str, Any]:
        return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}

    def state(self) -> dict[str, Any]:
        """Everything a resume needs (a collective call under ``torchrun``: every rank's RNG)."""
        rng = self._rng()
        return {
            "model": self.model.state_dict(), "config": self.cfg.to_dict(),
            "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "step": self.step, "epoch": self.epoch, "position": self.position,
            "rng": rng,
            "rng_ranks": self.dist.gather(rng) if self.dist.enabled else None,
            "world_size": self.dist.world,
            "data_fingerprint": self.fingerprint,
            "history": self.history[-1000:],
            "best": self.best.state(),
        }

    def save(self, name: str = "last.pt") -> Path:
        """Write a checkpoint (rank 0; every rank must call it under ``torchrun``)."""
        path = self.out / name
        state = self.state()
        if self.dist.is_main:
            save_checkpoint(path, state)
        self.dist.barrier()
        if name == "last.pt":
            self.clock.reset()
        return path

    def _resume(self, path: Path) -> None:
        state = load_checkpoint(path)
        check_compatible(state, self.cfg.model, path, reference_db=self.cfg.train.reference_db)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        ranks = state.get("rng_ranks")
        rng = ranks[self.dist.rank] if ranks and len(ranks) == self.dist.world else state["rng"]
        if ranks and len(ranks) != self.dist.world and not self.quiet:
            print(f"note: {path} was written by {len(ranks)} processes; random streams differ from here on")
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.history = list(state.get("history", []))
        self.best.restore(state.get("best"))
        if not self.quiet:  # on stderr, beside the bar: which checkpoint, and where it stood
            print(f"resuming {path} at step {self.step} of {self.total_steps}", file=sys.stderr)
        if state.get("data_fingerprint") != self.fingerprint and not self.quiet:
            print(f"warning: the training images differ from those {path} was trained on", file=sys.stderr)

    # ---- loop ------------------------------------------------------------------------------

    def order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng(np.random.SeedSequence([self.cfg.train.seed, epoch, 7])).permutation(len(self.samples))

    def annotation_path(self, index: int) -> Path:
        """The data set's annotation file of training sample ``index`` (weak-label layout; read only)."""
        s = self.samples[index]
        return Path(self.dataset.root) / "annotations" / (f"{s.split}/" if s.split != "all" else "") / f"{s.id}.txt"

    def refined_path(self, index: int) -> Path:
        """Where this run keeps sample ``index``'s refined labels (``OUT/refined/annotations/...``)."""
        return self.out / "refined" / self.annotation_path(index).relative_to(Path(self.dataset.root))

    def prepare(self) -> TrainingSet:
        """The training set with its conditioning (from the run's cache when present)."""
        if self.conditioning is None:
            stop = (lambda: self.guard.requested) if hasattr(self, "guard") else None  # Ctrl-C while caching
            self.conditioning = compute_conditioning(self.cfg, self.samples, self.out / "conditioning",
                                                     rank=self.dist.rank, world=self.dist.world,
                                                     barrier=self.dist.barrier, stop=stop,
                                                     conditioner=self.conditioner)
        if self.data is None:
            t = self.cfg.train
            watch = t.mode == "weak" and t.refine
            paths = [self.refined_path(i) for i in range(len(self.samples))] if watch else None
            self.data = TrainingSet(self.samples, self.cfg, self.conditioning, train=True, annotation_paths=paths)
            for i, path in enumerate(paths or []):
                if path.exists():  # refined by this run before a resume
                    self.data.reload(i)
        return self.data

    def run(self, progress: Callable[[int, int, dict[str, float]], None] | None = None) -> TrainResult:
        """Train to the end; on SIGINT/SIGTERM save ``last.pt`` after the step under way and raise
        :class:`~procrop.training.shared.keeping.TrainingInterrupted`."""
        with InterruptGuard(self.quiet) as self.guard:
            return self._run(progress)

    def _run(self, progress: Callable[[int, int, dict[str, float]], None] | None) -> TrainResult:
        t = self.cfg.train
        data = self.prepare()
        loss_value = float("nan")
        epochs = t.epochs if not t.max_steps else 10**9
        while self.epoch < epochs and (not t.max_steps or self.step < t.max_steps):
            order = self.order(self.epoch)
            batches = [order[i : i + t.batch_size] for i in range(0, len(order), t.batch_size)]
            while self.position < len(batches):
                if t.max_steps and self.step >= t.max_steps:
                    break
                idx = self.dist.shard(batches[self.position])
                self.position += 1
                if len(idx) == 0:  # a last global batch smaller than the number of processes
                    continue
                logs = self.train_step(collate([data.get(int(i), self.epoch) for i in idx], self.cfg.model.canvas))
                loss_value = logs["loss"]
                self.step += 1
                lr = self.optimizer.param_groups[0]["lr"]
                logs.update(step=self.step, epoch=self.epoch + 1, lr=lr)  # the epoch the step is in, from 1
                self._after_step(logs, progress)
            if self.position >= len(batches):
                self.epoch += 1
                self.position = 0
                if not t.checkpoint_every:
                    self.save()
                if t.eval_data and not t.eval_every:
                    self.evaluate()
                self._keep_progress()
        last = self.save()
        return TrainResult(self.step, self.epoch, last, loss_value, self.history)

    def _after_step(self, logs: dict[str, float], progress: Callable[[int, int, dict[str, float]], None] | None) -> None:
        t = self.cfg.train
        if self.step % max(1, t.log_every) == 0 or self.step in (1, self.total_steps):  # the final loss too
            self._log(logs)
        if progress:
            progress(self.step, self.total_steps, logs)
        if t.checkpoint_every and self.step % t.checkpoint_every == 0:
            self.save(f"step-{self.step}.pt")
            if self.dist.is_main:
                prune_step_checkpoints(self.out, t.keep_checkpoints)
            self.save()
        if t.eval_every and self.step % t.eval_every == 0:
            self.evaluate()
        self._keep_progress()

    def _keep_progress(self) -> None:
        """Save ``last.pt`` when the clock says so, or save and stop when a signal asked (the
        decision is every rank's under ``torchrun``)."""
        guard = getattr(self, "guard", None)
        stop, due = bool(guard and guard.requested), self.clock.due()
        if self.dist.enabled:
            stop, due = self.dist.sum(float(stop)) > 0, self.dist.sum(float(due)) > 0
        if stop:
            path = self.save()
            raise TrainingInterrupted(path if self.dist.is_main else None, self.step, self.total_steps)
        if due:
            self.save()

    def _set_lrs(self) -> None:
        factor = self.scheduler.factor(self.step)
        for g, spec in zip(self.optimizer.param_groups, self.groups):
            g["lr"] = spec.lr * factor if spec.scheduled else spec.lr

    def _forward_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any], dict[str, float]]:
        cfg, t = self.cfg, self.cfg.train
        inputs = batch["batch"].to(self.device)
        targets = [type(x)(x.good.to(self.device), x.all_boxes.to(self.device), x.all_scores.to(self.device)) for x in batch["targets"]]
        cand = torch.cat(batch["candidates"]).to(self.device)
        cand_b = batch["candidate_batch"].to(self.device)
        rank_on = cfg.loss.rank > 0 and len(cand) > 0
        # the loss is normalised by the global batch's target boxes (per process: their mean)
        num_boxes = self.dist.sum(float(sum(len(x.good) for x in targets))) / self.dist.world
        with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            out, scores = self.step_module(inputs.images, inputs.mask, inputs.rects, inputs.refs, inputs.ref_mask,
                                           inputs.text_ids, cand if rank_on else None, cand_b if rank_on else None)
            teacher = None
            if self.ema is not None and self.epoch >= t.ema_start_epoch:
                with torch.no_grad():
                    teacher = self.ema(inputs.images, inputs.mask, inputs.refs, inputs.ref_mask, inputs.text_ids)
            loss, logs = total_loss(out, targets, cfg.loss, teacher, num_boxes=num_boxes)
            if rank_on and scores is not None:
                rank = sum(
                    ranking_loss(scores[cand_b == i], mos.to(self.device), cfg.loss.rank_margin)
                    for i, mos in enumerate(batch["candidate_mos"])
                ) / len(batch["candidate_mos"])
                loss = loss + cfg.loss.rank * rank
                logs["rank"] = float(rank.detach())
        return loss, out, logs

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        t = self.cfg.train
        self.step_module.train()
        self._set_lrs()
        loss, out, logs = self._forward_loss(batch)
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
        logs["loss"] = self.dist.sum(float(loss.detach())) / self.dist.world
        if t.mode == "weak" and t.refine and self.step % max(1, t.refine_every) == 0:
            logs["refined"] = float(self.refine(out, batch))
        return logs

    @torch.no_grad()
    def refine(self, out: dict[str, Any], batch: dict[str, Any]) -> int:
        """Online label refinement (weak mode): merge predictions into the run's refined labels and
        into the training set, so the next step trains on them."""
        from ...model.paper.box_ops import cxcywh_to_xyxy
        from ...weaklabels.refine import update_annotation_file

        t = self.cfg.train
        changed = 0
        probs = out["logits"].detach().float().sigmoid().cpu()
        boxes = cxcywh_to_xyxy(out["boxes"].detach().float().cpu())
        for b, item in enumerate(batch["items"]):
            cx, cy, cw, ch = item.crop
            W, H = item.original_size
            px = boxes[b] * torch.tensor([cw, ch, cw, ch]) + torch.tensor([cx, cy, cx, cy])
            proposals = [(px[q].tolist(), float(probs[b, q]) * 10) for q in range(px.shape[0])]
            source = self.annotation_path(item.index)
            rule = {"rule": t.refine_rule, "norm_size": (cw, ch) if t.refine_rule == "official" else None}
            if source.exists() and update_annotation_file(self.refined_path(item.index), proposals, W, H, source=source,
                                                          **rule):
                changed += 1
                if self.data is not None and self.data.paths is not None:
                    self.data.reload(item.index)
        return changed

    def evaluate(self) -> dict[str, float] | None:
        """Evaluate the current weights on ``train.eval_data`` with the run's reference database
        and keep them as ``best.pt`` when they score best so far (rank 0; every rank must call it
        under ``torchrun``)."""
        t = self.cfg.train
        if not t.eval_data:
            return None
        path = self.save("eval.pt")
        metrics = None
        if self.dist.is_main:
            from ...evaluation.evaluate import ModelMethod, evaluate

            method = ModelMethod(str(path), reference_db=t.reference_db or "none")
            method.model.conditioning = self._eval_conditioning  # computed at the first evaluation only
            try:
                bench, split = eval_target(t)
                report = evaluate(bench, t.eval_data, [method], split=split)
            except BaseException:
                path.unlink(missing_ok=True)  # no "last evaluated" weights for an evaluation that did not end
                raise
            metrics = {f"eval/{k}": v for k, v in report.methods[0].metrics.items()}
            in_epoch = self.epoch + bool(self.position)  # the step's epoch from 1, as the step's own row
            self._log({"step": self.step, "epoch": in_epoch, **metrics})
            self.best.consider(path, report.methods[0].metrics, self.step, in_epoch)
        self.dist.barrier()
        return metrics

    def _log(self, logs: dict[str, float]) -> None:
        """Keep ``logs`` in the history and, on rank 0, append them to the run's logs."""
        self.history.append(dict(logs))
        if self.dist.is_main:
            append_metrics(self.out, logs)


def train(config: Config | str | Path, resume: str | Path | None = None, quiet: bool = False,
          progress: Callable[[int, int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train from a configuration (object or TOML/YAML path); ``resume`` continues a checkpoint."""
    cfg = config if isinstance(config, Config) else Config.load(config)
    trainer = Trainer(cfg, resume=resume, quiet=quiet)
    t0 = time.perf_counter()
    try:
        result = trainer.run(progress)
    finally:
        trainer.close()
    if not trainer.quiet:
        print(f"trained {result.steps} steps in {time.perf_counter() - t0:.1f} s; checkpoint {result.last_checkpoint}")
    return result
