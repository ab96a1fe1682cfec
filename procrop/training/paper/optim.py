"""Optimiser parameter groups and the learning-rate schedule of a training run.

Owns :func:`parameter_groups` and :class:`Scheduler`.

* Groups: with ``train.lr_patterns`` (ProCrop as released: ``class_embed``, ``query_embed``,
  ``decoder``, ``attn``, ``head``), parameters whose names contain a pattern train at
  ``train.lr`` and follow the schedule; every other trainable parameter trains at
  ``train.lr_rest``, fixed unless ``train.lr_rest_scheduled``. Without patterns: the backbone at
  ``model.lr_backbone`` and the rest at ``train.lr``, both scheduled.
* Schedule: linear warm-up, then poly ``(1 - step / horizon) ** power`` (``horizon`` is
  ``train.poly_total_steps``, or the run's length when 0), step decay at epochs, or constant.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ...model.paper.config import Config


@dataclass
class ParamGroup:
    """One optimiser group: parameter names, base learning rate, and whether it is scheduled."""

    names: list[str]
    lr: float
    scheduled: bool


def parameter_groups(model: nn.Module, cfg: Config) -> list[ParamGroup]:
    """The trainable parameters of ``model`` split into groups (see the module docstring)."""
    t = cfg.train
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    if t.lr_patterns:
        main = [n for n in trainable if any(pat in n for pat in t.lr_patterns)]
        rest = [n for n in trainable if n not in set(main)]
        groups = [ParamGroup(main, t.lr, True)]
        if rest:
            groups.append(ParamGroup(rest, t.lr_rest, t.lr_rest_scheduled))
        return groups
    backbone = [n for n in trainable if n.startswith("backbone.")]
    groups = [ParamGroup([n for n in trainable if not n.startswith("backbone.")], t.lr, True)]
    if backbone and cfg.model.lr_backbone > 0:
        groups.append(ParamGroup(backbone, cfg.model.lr_backbone, True))
    return groups


class Scheduler:
    """Learning-rate multiplier per step: warm-up, then poly / step / constant."""

    def __init__(self, cfg: Config, total_steps: int, steps_per_epoch: int) -> None:
        self.cfg = cfg.train
        self.total = max(1, cfg.train.poly_total_steps or total_steps)
        self.per_epoch = max(1, steps_per_epoch)

    def factor(self, step: int) -> float:
        """The multiplier of the base learning rates at ``step`` (0-based)."""
        t = self.cfg
        if t.warmup_steps and step < t.warmup_steps:
            return (step + 1) / t.warmup_steps
        if t.schedule == "poly":
            return max(0.0, 1 - step / self.total) ** t.poly_power
        if t.schedule == "step":
            epoch = step // self.per_epoch
            return t.step_gamma ** sum(epoch >= e for e in t.step_epochs)
        return 1.0
