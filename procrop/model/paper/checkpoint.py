"""Checkpoints: one file with weights, the full configuration, version and data fingerprint.

Saved atomically (temporary file, then rename). Loading checks the file, the format and, when a
configuration is given, that its architecture matches the checkpoint's, naming every difference.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from ..._version import __version__
from ...errors import ModelLoadError
from ..shared.families import PAPER_FORMAT, USE, checkpoint_family
from ..shared.families import read_torch_file  # noqa: F401 (re-exported: importers reads sources with it)
from ...files import atomic_write_bytes
from .config import Config, ModelConfig

FORMAT = PAPER_FORMAT


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` (model weights, config dict, optimiser...) atomically."""
    state = {"format": FORMAT, "procrop_version": __version__, **state}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A procrop checkpoint (weights, configuration, optimiser and RNG state)."""
    p = Path(path)
    state = read_torch_file(p)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        family = checkpoint_family(state)
        raise ModelLoadError(f"{p}: {'not a procrop checkpoint' if family is None else USE[family]}")
    for key in ("model", "config"):
        if key not in state:
            raise ModelLoadError(f"{p}: checkpoint lacks {key!r}")
    return state


def config_of(state: dict[str, Any]) -> Config:
    return Config.from_dict(state["config"], "checkpoint config")


def check_compatible(state: dict[str, Any], cfg: ModelConfig, path: str | os.PathLike,
                     reference_db: str | None = None) -> None:
    """Raise :class:`ModelLoadError` listing architecture fields that differ, and (resuming a run,
    ``reference_db`` given) a reference database other than the one the run was trained with."""
    have = config_of(state).model.arch()
    want = cfg.arch()
    diff = {k: (have[k], want[k]) for k in want if have.get(k) != want[k]}
    trained = config_of(state).train.reference_db
    if reference_db is not None and not _same_database(trained, reference_db):
        diff["train.reference_db"] = (trained, reference_db)
    if diff:
        lines = ", ".join(f"{k}: checkpoint {a!r} vs config {b!r}" for k, (a, b) in diff.items())
        raise ModelLoadError(f"{path}: checkpoint does not match the configuration ({lines})")


def _same_database(a: str, b: str) -> bool:
    """Whether two ``train.reference_db`` values name one database ("default", "none" or a folder,
    however its path is spelled)."""
    named = {"default", "none"}
    return a == b or (a not in named and b not in named and Path(a).resolve() == Path(b).resolve())


def load_model(path: str | os.PathLike, cfg: ModelConfig | None = None, device: str = "cpu"):
    """The network of a checkpoint (with its own configuration, or ``cfg`` after checking it)."""
    from .network import build_model

    state = load_checkpoint(path)
    model_cfg = config_of(state).model
    if cfg is not None:
        check_compatible(state, cfg, path)
        model_cfg = cfg
    # the checkpoint holds every weight: never fetch pretrained backbone weights again
    model = build_model(ModelConfig(**{**model_cfg.__dict__, "backbone_weights": ""}))
    try:
        missing, unexpected = model.load_state_dict(state["model"], strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise ModelLoadError(f"{path}: weights do not fit the network: {str(exc).splitlines()[-1].strip()}") from exc
    if missing or unexpected:
        raise ModelLoadError(f"{path}: weights do not fit the network (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model.to(device).eval(), state
