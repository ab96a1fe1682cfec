"""Which of procrop's two model families a loaded checkpoint belongs to, so that one given to the
other family's command is named for what it is (not "format None" or a class's constructor error)."""

from __future__ import annotations

from typing import Any

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
