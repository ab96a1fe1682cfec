"""Model and training configuration (TOML), with presets, and ``section.key=value`` overrides.

Owns :class:`Config` (with :class:`ModelConfig`, :class:`LossConfig`, :class:`TrainConfig`), the
presets and :func:`apply_overrides` (``procrop train --set``), which types each value by the
field it replaces.

``paper`` is ProCrop as released: ResNet-50 C5, 6+6 layers, d = 256, 8 heads, FFN 2048, 90 queries,
``mix`` fusion on a 1024 canvas, 10 references x 64 tokens. ``small`` trains on a CPU: a small CNN,
2+2 layers, d = 128, 24 queries, ``xattn`` fusion (resolution-free), < 5 M parameters.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class ModelConfig:
    """Architecture. Fields marked *arch* must match between a checkpoint and its config."""

    backbone: str = "small"  # arch: "small", "resnet50" or "mobilenet_v2"
    backbone_weights: str = ""  # path, "hub" (resnet50), "imagenet" (mobilenet_v2, packaged) or "" (random)
    backbone_width: float = 1.0  # arch (small)
    backbone_channels: int = 256  # arch (small)
    lr_backbone: float = 1e-5
    d_model: int = 128  # arch
    nheads: int = 4  # arch
    enc_layers: int = 2  # arch
    dec_layers: int = 2  # arch
    dim_feedforward: int = 512  # arch
    dropout: float = 0.1
    num_queries: int = 24  # arch
    retrieval: str = "xattn"  # arch: "mix", "xattn" or "none"
    k_refs: int = 10  # arch (mix)
    ref_tokens: int = 64  # arch: tokens per reference
    ref_dim: int = 64  # arch: feature size of a reference token (the database's encoder; the bundled mobilenet: 64)
    text: str = "learned"  # arch: "learned", "clip" or "none"
    text_vocab: int = 4096  # arch
    text_len: int = 48  # arch
    clip_text_path: str = ""
    canvas: int = 0  # arch for mix: images are centre-padded into canvas x canvas (0: pad per batch)
    normalize: str = "minmax"  # "minmax" (ProCrop) or "imagenet"
    test_short: int = 640
    max_long: int = 1024
    roi_size: int = 7  # arch
    box_head_layernorm: bool = True  # arch: ReLU + LayerNorm after hidden box-MLP layers (GAIC/CAD)

    ARCH_FIELDS = (
        "backbone", "backbone_width", "backbone_channels", "d_model", "nheads", "enc_layers",
        "dec_layers", "dim_feedforward", "num_queries", "retrieval", "k_refs", "ref_tokens", "ref_dim",
        "text", "text_vocab", "text_len", "canvas", "roi_size", "box_head_layernorm",
    )

    def __post_init__(self) -> None:
        if self.retrieval not in ("mix", "xattn", "none"):
            raise UsageError(f"model.retrieval must be mix, xattn or none, not {self.retrieval!r}")
        if self.text not in ("learned", "clip", "none"):
            raise UsageError(f"model.text must be learned, clip or none, not {self.text!r}")
        if self.retrieval == "mix" and self.canvas <= 0:
            raise UsageError("model.retrieval = 'mix' mixes a fixed number of tokens: set model.canvas (e.g. 1024)")
        for name in ("num_queries", "d_model", "nheads", "dec_layers", "dim_feedforward", "roi_size"):
            if not getattr(self, name) >= 1:
                raise UsageError(f"model.{name} must be at least 1, not {getattr(self, name)!r}")
        if self.d_model % self.nheads:
            raise UsageError("model.d_model must be divisible by model.nheads")
        if self.normalize not in ("minmax", "imagenet"):
            raise UsageError("model.normalize must be minmax or imagenet")

    @property
    def stride(self) -> int:
        return 32

    def arch(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.ARCH_FIELDS}


@dataclass(frozen=True)
class LossConfig:
    cls: float = 2.0
    l1: float = 5.0
    giou: float = 2.0
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    soft_iou: float = 0.85
    soft_bound: float = 0.5
    rank: float = 1.0
    rank_margin: float = 0.1
    aux: bool = True


@dataclass(frozen=True)
class TrainConfig:
    mode: str = "supervised"  # "supervised" or "weak"
    benchmark: str = "gaicd-v1"  # supervised: gaicd-v1, gaicd-v2, fcdb, cpc
    data: str = ""
    split: str = "train"
    eval_benchmark: str = ""
    eval_data: str = ""
    eval_split: str = "test"
    reference_db: str = "default"  # "default" (bundled), a path, or "none"
    out_dir: str = "runs/procrop"
    epochs: int = 10
    max_steps: int = 0  # stop after this many steps (0: run every epoch)
    batch_size: int = 4
    lr: float = 1e-4
    weight_decay: float = 1e-4
    grad_clip: float = 0.1
    schedule: str = "poly"  # "poly", "step" or "constant"
    poly_power: float = 0.9
    poly_total_steps: int = 0  # poly horizon in steps (0: the run's length; ProCrop: 500000)
    # learning-rate groups: parameters whose names contain one of ``lr_patterns`` train at ``lr``
    # (scheduled), every other one at ``lr_rest`` (scheduled too only with ``lr_rest_scheduled``);
    # empty ``lr_patterns``: the backbone at ``model.lr_backbone``, the rest at ``lr``
    lr_patterns: tuple[str, ...] = ()
    lr_rest: float = 0.0
    lr_rest_scheduled: bool = False
    # weights to start from (not a resume): a procrop checkpoint, or a foreign one (see
    # procrop.model.paper.importers): "procrop", "conditional-detr" or "procrop-official"
    init_checkpoint: str = ""
    init_format: str = "procrop"
    step_epochs: tuple[int, ...] = (40,)
    step_gamma: float = 0.1
    warmup_steps: int = 0
    seed: int = 42
    ema: bool = False
    ema_decay: float = 0.5
    ema_start_epoch: int = 0
    amp: bool = True  # on CUDA only; false: fp32 everywhere (ProCrop as released)
    device: str = "auto"
    workers: int = 0  # data-loader worker processes (0: load in the training process)
    train_short: tuple[int, ...] = (360, 426, 474, 480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800)
    augment: bool = True
    good_num: int = -1  # targets: -1 the boxes tied at the top score; 0 every box; n > 0 the n best
    good_thresh: float = 0.0  # ... and only boxes scoring at least this
    good_nms: float = 0.0  # NMS between targets (CPC: 0.8)
    refine: bool = True  # weak mode: online label refinement
    refine_every: int = 1
    refine_rule: str = "official"  # official (ProCrop's select_diverse) or sum (procrop's earlier rule)
    log_every: int = 10
    eval_every: int = 0  # steps between evaluations (0: each epoch end when eval data is set)
    checkpoint_every: int = 0  # steps between checkpoints (0: each epoch end)
    checkpoint_minutes: float = 15.0  # last.pt also saved this often (minutes of training; 0: off)
    keep_checkpoints: int = 3  # the newest step-N.pt kept (older ones removed; 0: keep all)
    select_metric: str = ""  # evaluation metric best.pt is kept by ("": SRCC on GAICD/CPC, else IoU@1)
    limit: int = 0  # use only the first N training images (debugging)

    #: Fields that must be at least 1, and at least 0.
    POSITIVE = ("epochs", "batch_size", "log_every", "refine_every")
    NON_NEGATIVE = ("max_steps", "poly_total_steps", "warmup_steps", "workers", "eval_every",
                    "checkpoint_every", "checkpoint_minutes", "keep_checkpoints", "limit", "weight_decay",
                    "grad_clip", "lr_rest", "ema_start_epoch")

    def __post_init__(self) -> None:
        for name in self.POSITIVE:
            if not getattr(self, name) >= 1:
                raise UsageError(f"train.{name} must be at least 1, not {getattr(self, name)!r}")
        for name in self.NON_NEGATIVE:
            if not getattr(self, name) >= 0:
                raise UsageError(f"train.{name} must be 0 or more, not {getattr(self, name)!r}")
        if not 0 < self.lr <= 1:  # NaN, infinity and 1e300 too (an overflow deep in the first step)
            raise UsageError(f"train.lr must be above 0 and at most 1, not {self.lr!r}")
        for name in ("weight_decay", "grad_clip", "lr_rest", "checkpoint_minutes"):
            if not math.isfinite(getattr(self, name)):
                raise UsageError(f"train.{name} must be a finite number, not {getattr(self, name)!r}")
        if self.mode not in ("supervised", "weak"):
            raise UsageError(f"train.mode must be supervised or weak, not {self.mode!r}")
        if self.schedule not in ("poly", "step", "constant"):
            raise UsageError(f"train.schedule must be poly, step or constant, not {self.schedule!r}")


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": dataclasses.asdict(self.model),
            "loss": dataclasses.asdict(self.loss),
            "train": dataclasses.asdict(self.train),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<config>") -> Config:
        preset = data.get("preset")
        if preset and preset not in PRESETS:
            raise UsageError(f"{source}: unknown preset {preset!r}{_nearest(preset, PRESETS)} "
                             f"(one of {', '.join(PRESETS)})")
        base = PRESETS[preset]() if preset else cls()
        parts = {}
        for name, klass, current in (
            ("model", ModelConfig, base.model),
            ("loss", LossConfig, base.loss),
            ("train", TrainConfig, base.train),
        ):
            section = data.get(name, {})
            if not isinstance(section, dict):
                raise UsageError(f"{source}: [{name}] must be a table")
            known = {f.name: f for f in dataclasses.fields(klass)}
            unknown = set(section) - set(known)
            if unknown:
                raise UsageError(f"{source}: unknown [{name}] keys: "
                                 f"{', '.join(k + _nearest(k, known) for k in sorted(unknown))}")
            values = dataclasses.asdict(current)
            for k, v in section.items():
                if isinstance(values[k], (tuple, list)) and isinstance(v, (list, tuple)):
                    v = tuple(v)
                kind = str(known[k].type)
                if isinstance(v, str) and kind in ("int", "float", "bool"):  # YAML reads 1e-4 as a string
                    try:
                        v = _convert(v, kind, k)
                    except UsageError:
                        pass
                if not _fits(v, kind):  # "two" epochs met a comparison deep in the checks
                    raise UsageError(f"{source}: [{name}] {k} must be {_kind_words(kind)}, not {v!r}")
                values[k] = v
            parts[name] = klass(**values)
        unknown_sections = set(data) - {"model", "loss", "train", "preset"}
        if unknown_sections:
            raise UsageError(f"{source}: unknown sections: {', '.join(sorted(unknown_sections))}")
        return cls(**parts)

    @classmethod
    def load(cls, path: str | Path) -> Config:
        p = Path(path)
        try:
            text = p.read_text("utf-8")
        except OSError as exc:
            raise UsageError(f"{p}: cannot read config: {exc}") from exc
        if p.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise UsageError(f"{p}: YAML configs need PyYAML (pip install pyyaml); TOML needs nothing") from None
            data = yaml.safe_load(text) or {}
        else:
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise UsageError(f"{p}: invalid TOML: {exc}") from exc
        return cls.from_dict(data, str(p))

    def replace(self, **sections: dict[str, Any]) -> Config:
        """A copy with some fields of some sections replaced: ``cfg.replace(train={"epochs": 2})``."""
        d = self.to_dict()
        for name, values in sections.items():
            d[name].update(values)
        return Config.from_dict(d)


def paper_config() -> Config:
    """ProCrop's released GAIC/CAD configuration."""
    return Config(
        model=ModelConfig(
            backbone="resnet50",
            backbone_weights="hub",
            d_model=256,
            nheads=8,
            enc_layers=6,
            dec_layers=6,
            dim_feedforward=2048,
            num_queries=90,
            retrieval="mix",
            canvas=1024,
            k_refs=10,
        ),
        train=TrainConfig(batch_size=4, lr=1e-4, schedule="poly"),
    )


def small_config() -> Config:
    """A configuration that trains on a CPU (< 5 M parameters)."""
    return Config()


PRESETS = {"paper": paper_config, "small": small_config}


# ---- overrides ------------------------------------------------------------------------------

_SECTIONS = {"model": ModelConfig, "loss": LossConfig, "train": TrainConfig}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _field_type(klass: type, name: str) -> str:
    """The annotation of a dataclass field, as written (``"int"``, ``"tuple[int, ...]"``...)."""
    for f in dataclasses.fields(klass):
        if f.name == name:
            return str(f.type)
    raise KeyError(name)


def _nearest(word: str, choices: Any) -> str:
    """`` (did you mean X?)`` for the choice closest to a misspelt ``word``, else ``""``."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _item_kind(kind: str) -> str | None:
    """The kind of a ``tuple[X, ...]`` annotation's items (``"int"``), ``None`` for any other kind."""
    return kind[len("tuple["):].split(",")[0].strip() if kind.startswith("tuple[") else None


def _fits(value: Any, kind: str) -> bool:
    """Whether a configuration file's ``value`` is of the annotated ``kind`` (an int is a float)."""
    if (inner := _item_kind(kind)) is not None:
        return isinstance(value, tuple) and all(_fits(v, inner) for v in value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return not kind == "str" or isinstance(value, str)


def _kind_words(kind: str) -> str:
    """An annotated kind in words: ``"a whole number"``, ``"a list of numbers"``..."""
    words = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "a string"}
    if (inner := _item_kind(kind)) is not None:
        return f"a list of {words.get(inner, 'a value')[2:]}s"
    return words.get(kind, kind)


def _convert(text: str, kind: str, key: str) -> Any:
    """``text`` as a value of the annotated ``kind``; :class:`UsageError` naming ``key`` if not."""
    text = text.strip()
    try:
        if (inner := _item_kind(kind)) is not None:
            items = [t for t in text.strip("[]()").split(",") if t.strip()]
            return tuple(_convert(t, inner, key) for t in items)
        if kind == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        return text.strip("\"'")
    except ValueError:
        raise UsageError(f"--set {key}={text}: not a valid {kind}") from None


def apply_overrides(cfg: Config, assignments: list[str] | tuple[str, ...]) -> Config:
    """``cfg`` with ``section.key=value`` assignments applied (``procrop train --set``).

    Each value is typed by the field it replaces: ``bool`` (true/false/1/0/yes/no), ``int``,
    ``float``, ``str`` or a tuple (comma-separated). Unknown sections or keys, and values that do
    not parse, raise :class:`UsageError` naming the key.
    """
    changes: dict[str, dict[str, Any]] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise UsageError(f"--set {item!r}: use section.key=value (e.g. train.lr=1e-4)")
        klass = _SECTIONS.get(section)
        if klass is None:
            raise UsageError(f"--set {key}: unknown section {section!r} (model, loss or train)")
        try:
            kind = _field_type(klass, name)
        except KeyError:
            near = difflib.get_close_matches(name, [f.name for f in dataclasses.fields(klass)], n=1)
            hint = f" (did you mean {section}.{near[0]}?)" if near else ""
            raise UsageError(f"--set {key}: unknown key {key!r}{hint}") from None
        changes.setdefault(section, {})[name] = _convert(value, kind, key)
    return cfg.replace(**changes) if changes else cfg
