"""Importing foreign checkpoints into procrop's network: COCO Conditional DETR and official ProCrop.

Owns the name maps from the official parameter names to procrop's (:func:`official_names`), the
conversion with shape checks (:func:`convert_state_dict`), :func:`import_checkpoint` (``procrop
import-checkpoint``) and :func:`load_initial_weights` (``train.init_checkpoint``).

Official names (DETR / Conditional DETR layout, ProCrop's additions in its ``Transformer``):

========================================================  =============================================
official                                                  procrop
========================================================  =============================================
``backbone.0.body.<resnet>``                              ``backbone.<resnet>`` (ResNet-50 only)
``input_proj.*``, ``query_embed.*``, ``class_embed.*``    same
``bbox_embed.layers.<i>.*``                               same
``transformer.encoder.layers.<i>.<x>``                    ``encoder.layers.<i>.<x>``
``transformer.decoder.layers.<i>.self_attn.out_proj.*``   ``decoder.layers.<i>.sa_out.*``
``transformer.decoder.layers.<i>.cross_attn.out_proj.*``  ``decoder.layers.<i>.ca_out.*``
``transformer.decoder.layers.<i>.<x>`` (``sa_*``, ``ca_*``,  ``decoder.layers.<i>.<x>``
``linear1/2``, ``norm1-3``)
``transformer.decoder.{norm,query_scale,ref_point_head}``  ``decoder.{...}``
``transformer.input_norm.*`` (official ProCrop)           ``ref_proj.norm.*`` (``ref_proj.proj`` = identity)
``transformer.crop_proj.net.{0,1,4}.*`` (official ProCrop)  ``fusion.{norm_in,fc1,fc2}.*``
``transformer.crop_norm.*`` (official ProCrop)            ``fusion.norm_out.*``
``bbox_embed.norms.<i>.*`` (official ProCrop, GAIC head)  same (name not confirmed by the facts)
========================================================  =============================================

From COCO Conditional DETR the COCO-specific heads (``class_embed``: 91 classes; ``query_embed``:
300 queries) are skipped. Parameters with no source (procrop's box-scoring head, the text
encoder, Conditional DETR's ``ca_qpos_proj`` of layers after the first, which it deletes and
procrop never uses) keep their initialisation and are listed in the report. Any shape mismatch
among mapped parameters fails with the full list.

Wrapper prefixes are stripped from every source name (:data:`WRAPPER_PREFIXES`: ``module.`` of
DistributedDataParallel, ``conditionalDETR.`` of the official ``ConditionalDETR_distill`` whose
``state_dict()`` ``main_ap.py`` saves, ``model.``). An import that finds fewer than
:data:`MIN_LOADED` of the tensors its format provides is refused with the counts: it would
otherwise write a checkpoint of initial (random) weights.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...errors import ModelLoadError, UsageError
from ..shared.families import USE, checkpoint_family
from .checkpoint import read_torch_file
from .config import Config, ModelConfig, paper_config

FORMATS = ("conditional-detr", "procrop-official")
_FUSION = {"fusion.norm_in": "transformer.crop_proj.net.0", "fusion.fc1": "transformer.crop_proj.net.1",
           "fusion.fc2": "transformer.crop_proj.net.4", "fusion.norm_out": "transformer.crop_norm",
           "ref_proj.norm": "transformer.input_norm"}
_COCO_HEADS = ("class_embed.", "query_embed.")
#: Prefixes a training wrapper adds to every parameter name; stripped (repeatedly) from the source.
WRAPPER_PREFIXES = ("module.", "conditionalDETR.", "model.")
#: The share of the tensors a format provides that an import must find, or it is refused.
MIN_LOADED = 0.95


@dataclass
class ImportReport:
    """What an import did: loaded, synthesised, skipped and unmatched parameter names."""

    loaded: list[str] = field(default_factory=list)
    synthesised: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_in_source: list[str] = field(default_factory=list)
    unused_source: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.loaded)} loaded, {len(self.synthesised)} synthesised, {len(self.skipped)} skipped, "
                f"{len(self.not_in_source)} kept initialised, {len(self.unused_source)} source tensors unused")


def official_name(name: str, fmt: str) -> str | None:
    """The official name of procrop parameter ``name`` in format ``fmt`` (None: none exists)."""
    if name.startswith("backbone."):
        return "backbone.0.body." + name[len("backbone."):]
    if name.startswith("encoder."):
        return "transformer." + name
    m = re.match(r"decoder\.layers\.(\d+)\.(sa_out|ca_out)\.(.+)", name)
    if m:
        attn = "self_attn" if m.group(2) == "sa_out" else "cross_attn"
        return f"transformer.decoder.layers.{m.group(1)}.{attn}.out_proj.{m.group(3)}"
    if name.startswith("decoder."):
        return "transformer." + name
    if name.startswith(("input_proj.", "query_embed.", "class_embed.", "bbox_embed.layers.")):
        return name
    if fmt == "procrop-official":
        if name.startswith("bbox_embed.norms."):
            return name
        for ours, theirs in _FUSION.items():
            if name.startswith(ours + "."):
                return theirs + name[len(ours):]
    return None


def strip_wrappers(name: str) -> str:
    """``name`` without the :data:`WRAPPER_PREFIXES` a training wrapper put before it."""
    while True:
        prefix = next((p for p in WRAPPER_PREFIXES if name.startswith(p)), None)
        if prefix is None:
            return name
        name = name[len(prefix):]


def read_source(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict of a foreign checkpoint (``{"model": ...}`` or bare; wrapper prefixes stripped)."""
    p = Path(path)
    state = read_torch_file(p)
    family = checkpoint_family(state)
    if family is not None:  # not foreign: it was read as an official one with shape mismatches
        raise ModelLoadError(f"{p}: already procrop's, {USE[family]}; import-checkpoint converts the "
                             "official code's and Conditional DETR's")
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError(f"{p}: no state dict of tensors found")
    return {strip_wrappers(k): v for k, v in state.items()}


def convert_state_dict(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], fmt: str,
                       where: str = "checkpoint") -> tuple[dict[str, torch.Tensor], ImportReport]:
    """Map ``source`` (official names) onto ``target`` (procrop's state dict): the converted
    tensors and a report. Raises :class:`ModelLoadError` listing every shape mismatch."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown checkpoint format {fmt!r}; use {' or '.join(FORMATS)}")
    out: dict[str, torch.Tensor] = {}
    report = ImportReport()
    used: set[str] = set()
    mismatches = []
    for name, tensor in target.items():
        theirs = official_name(name, fmt)
        if fmt == "conditional-detr" and name.startswith(_COCO_HEADS):
            report.skipped.append(name)
            used.add(name)
            continue
        if theirs is None or theirs not in source:
            if name == "ref_proj.proj.weight" and fmt == "procrop-official" and tensor.shape[0] == tensor.shape[1]:
                out[name] = torch.eye(tensor.shape[0], dtype=tensor.dtype)
                report.synthesised.append(name)
            elif name == "ref_proj.proj.bias" and fmt == "procrop-official":
                out[name] = torch.zeros_like(tensor)
                report.synthesised.append(name)
            else:
                report.not_in_source.append(name)
            continue
        used.add(theirs)
        if tuple(source[theirs].shape) != tuple(tensor.shape):
            mismatches.append(f"{theirs} {tuple(source[theirs].shape)} -> {name} {tuple(tensor.shape)}")
            continue
        out[name] = source[theirs].to(tensor.dtype)
        report.loaded.append(name)
    if mismatches:
        raise ModelLoadError(f"{where}: {len(mismatches)} shape mismatch(es) (official -> procrop): " + "; ".join(mismatches))
    if fmt == "procrop-official" and "ref_proj.proj.weight" in report.not_in_source:
        raise ModelLoadError(f"{where}: official ProCrop feeds reference tokens unprojected: set model.ref_dim = model.d_model")
    report.unused_source = sorted(set(source) - used)
    _check_coverage(report, target, fmt, where)
    return out, report


def _check_coverage(report: ImportReport, target: dict[str, torch.Tensor], fmt: str, where: str) -> None:
    """Refuse an import that found fewer than :data:`MIN_LOADED` of the tensors ``fmt`` provides."""
    provided = [n for n in target if official_name(n, fmt) is not None and n not in report.skipped]
    found = len(report.loaded)
    if provided and found < MIN_LOADED * len(provided):
        unused = ", ".join(report.unused_source[:3]) + (" ..." if len(report.unused_source) > 3 else "")
        why = (f"{len(report.unused_source)} source tensors unused ({unused}): not a {fmt} checkpoint, or its "
               "names carry a prefix procrop does not know") if report.unused_source else \
            "the checkpoint lacks the others (another or a partial network)"
        raise ModelLoadError(
            f"{where}: only {found} of the {len(provided)} tensors a {fmt} checkpoint provides were found "
            f"({100 * found / len(provided):.0f} %, at least {100 * MIN_LOADED:.0f} % needed); {why}"
        )


def official_model_config(num_queries: int = 90) -> Config:
    """The network of the official code: ResNet-50, 6+6 layers, d 256, ``mix`` on 1024, 10 x 64
    SAM tokens of 256, no text, no ranking loss."""
    cfg = paper_config()
    return cfg.replace(model={"num_queries": num_queries, "text": "none", "ref_dim": 256, "backbone_weights": ""},
                       loss={"rank": 0.0})


def _target_model(cfg: ModelConfig) -> torch.nn.Module:
    from .network import build_model

    return build_model(ModelConfig(**{**cfg.__dict__, "backbone_weights": ""}))


def import_checkpoint(fmt: str, src: str | os.PathLike, out: str | os.PathLike, cfg: Config | None = None) -> ImportReport:
    """Convert a foreign checkpoint into a procrop checkpoint at ``out`` (the network of ``cfg``,
    by default :func:`official_model_config`)."""
    from .checkpoint import save_checkpoint

    cfg = cfg or official_model_config()
    model = _target_model(cfg.model)
    converted, report = convert_state_dict(read_source(src), model.state_dict(), fmt, str(src))
    model.load_state_dict(converted, strict=False)
    save_checkpoint(out, {"model": model.state_dict(), "config": cfg.to_dict(),
                          "imported": {"format": fmt, "source": str(src), "summary": report.summary()}})
    return report


def load_initial_weights(model: torch.nn.Module, path: str | os.PathLike, fmt: str = "procrop") -> ImportReport:
    """Initialise ``model`` from a checkpoint (``train.init_checkpoint``): a procrop checkpoint
    (every parameter of the same name and shape) or a foreign one (:func:`convert_state_dict`)."""
    target = model.state_dict()
    if fmt == "procrop":
        from .checkpoint import load_checkpoint

        source = load_checkpoint(path)["model"]
        bad = [f"{k} {tuple(v.shape)} vs {tuple(target[k].shape)}" for k, v in source.items()
               if k in target and v.shape != target[k].shape]
        if bad:
            raise ModelLoadError(f"{path}: {len(bad)} shape mismatch(es): " + "; ".join(bad))
        converted = {k: v for k, v in source.items() if k in target}
        report = ImportReport(loaded=sorted(converted), not_in_source=sorted(set(target) - set(converted)),
                              unused_source=sorted(set(source) - set(target)))
    else:
        converted, report = convert_state_dict(read_source(path), target, fmt, str(path))
    model.load_state_dict(converted, strict=False)
    return report
