"""Which of procrop's two model families a loaded checkpoint belongs to, so that one given to the
other family's command is named for what it is (not "format None" or a class's constructor error)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...errors import ModelLoadError

#: The paper network's checkpoint format (``procrop train``; :mod:`procrop.model.paper.checkpoint`).
PAPER_FORMAT = "procrop-checkpoint-1"

#: What to do with each family's checkpoint.
USE = {"paper": "a checkpoint of the paper's network (procrop train): crop with --model FILE, export with "
                "procrop export",
       "scorer": "a learned box scorer's checkpoint (procrop learned): export it with procrop learned export "
                 "and crop with --learned-model BUNDLE"}


def checkpoint_family(state: Any) -> str | None:
    """``"paper"``, ``"scorer"`` or ``None`` for what ``torch.load`` read from a checkpoint file."""
    if not isinstance(state, dict):
        return None
    if state.get("format") == PAPER_FORMAT:
        return "paper"
    config = state.get("config")
    if isinstance(config, dict) and "model" in state and {"roi", "k_refs", "ref_tokens"} <= set(config):
        return "scorer"
    return None


def existing_model_file(path: str | os.PathLike, kind: str, a_kind: str) -> Path:
    """``path`` when it is a file, else a :class:`ModelLoadError` naming ``kind`` ("checkpoint"; with
    its article, ``a_kind``): no such file, or a folder, said for what it holds (a run's checkpoints,
    a learned bundle: ``--learned-model``)."""
    p = Path(path)
    if not p.exists():
        raise ModelLoadError(f"{p}: no such {kind}")
    if p.is_dir():
        held = [n for n in ("best.pt", "last.pt") if (p / n).is_file()]
        bundle = (p / "model.json").is_file()
        where = (f"a run folder: give its {' or '.join(held)}" if held else
                 "a learned bundle goes to --learned-model" if bundle else "give the file")
        raise ModelLoadError(f"{p}: a folder, not {a_kind} ({where})")
    return p


def read_torch_file(path: str | os.PathLike) -> Any:
    """Whatever ``torch.save`` wrote to ``path`` (on the CPU), or a clear ``ModelLoadError``: no
    such checkpoint, a folder, or not a file torch can read (both families' checkpoints)."""
    import torch

    p = existing_model_file(path, "checkpoint", "a checkpoint")
    try:
        return torch.load(str(p), map_location="cpu", weights_only=False)
    except Exception as exc:  # pickle's and torch's own reasons ("Memo value not found") say little
        if p.suffix.lower() == ".onnx":  # an exported model handed back where its checkpoint goes
            raise ModelLoadError(f"{p}: an ONNX model, not a checkpoint (give the .pt file torch.save "
                                 "wrote; ONNX files are what export writes)") from exc
        raise ModelLoadError(f"{p}: not a readable checkpoint (not a file torch.save wrote: "
                             f"{type(exc).__name__})") from exc
