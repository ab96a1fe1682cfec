"""Fusing retrieved-reference tokens and description tokens into the image memory.

* ``mix`` (ProCrop as released): ``[memory; refs; text]`` along the token axis, then an MLP that
  mixes tokens back to the memory length: ``LN(L) -> Linear(L -> HW) -> ReLU -> Dropout ->
  Linear(HW -> HW) -> Dropout``, then ``ReLU`` and ``LN(d)``. It needs a fixed token count, hence
  the fixed canvas.
* ``xattn``: every image token attends to the reference and text tokens (multi-head
  cross-attention, residual, LayerNorm, then a feed-forward block): resolution-free.

Reference tokens ``(B, k, T, F)`` are projected to ``d`` and LayerNorm'ed; text tokens come from
:class:`TextEncoder`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TextEncoder(nn.Module):
    """Learned word embeddings + positions + one transformer layer -> ``(B, L, d)`` tokens."""

    def __init__(self, vocab: int, length: int, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d, padding_idx=0)
        self.pos = nn.Parameter(torch.zeros(length, d))
        nn.init.normal_(self.pos, std=0.02)
        self.layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=2 * d, dropout=dropout)
        self.norm = nn.LayerNorm(d)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``ids (B, L)`` -> tokens ``(B, L, d)`` and padding mask ``(B, L)``."""
        pad = ids == 0
        x = self.embed(ids) + self.pos[None, : ids.shape[1]]
        # a fully padded row would make attention undefined: let it attend to position 0
        safe = pad.clone()
        safe[:, 0] = False
        x = self.layer(x.transpose(0, 1), src_key_padding_mask=safe).transpose(0, 1)
        return self.norm(x), pad


class ClipTextEncoder(nn.Module):
    """A frozen CLIP text tower from a local checkpoint, projected to ``d``."""

    def __init__(self, path: str, d: int, length: int) -> None:
        super().__init__()
        from ...errors import require
        from ...pretrained import from_pretrained

        transformers = require("transformers", "the CLIP text encoder", "encoders")
        self.tokenizer = from_pretrained(transformers.CLIPTokenizer.from_pretrained, path, "the CLIP text model's tokenizer")
        self.model = from_pretrained(transformers.CLIPTextModel.from_pretrained, path, "the CLIP text model")
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.length = length
        self.proj = nn.Linear(self.model.config.hidden_size, d)

    def encode_texts(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.tokenizer(texts, padding="max_length", truncation=True, max_length=self.length, return_tensors="pt")
        with torch.no_grad():
            hidden = self.model(**{k: v.to(self.proj.weight.device) for k, v in t.items()}).last_hidden_state
        return self.proj(hidden), t["attention_mask"].to(hidden.device) == 0


class ReferenceProjection(nn.Module):
    """``(B, k, T, F)`` reference tokens -> ``(B, k*T, d)``: linear projection and LayerNorm."""

    def __init__(self, feat: int, d: int) -> None:
        super().__init__()
        self.proj = nn.Linear(feat, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, refs: torch.Tensor) -> torch.Tensor:
        b, k, t, f = refs.shape
        return self.norm(self.proj(refs.reshape(b, k * t, f)))


class TokenMixFusion(nn.Module):
    """ProCrop's token-mixing MLP (see the module docstring). ``memory (B, HW, d)``,
    ``extra (B, E, d)`` with fixed ``HW`` and ``E``."""

    def __init__(self, hw: int, extra: int, d: int, dropout: float) -> None:
        super().__init__()
        length = hw + extra
        self.norm_in = nn.LayerNorm(length)
        self.fc1 = nn.Linear(length, hw)
        self.fc2 = nn.Linear(hw, hw)
        self.dropout = nn.Dropout(dropout)
        self.norm_out = nn.LayerNorm(d)

    def forward(self, memory: torch.Tensor, extra: torch.Tensor, extra_mask: torch.Tensor | None = None) -> torch.Tensor:
        if extra_mask is not None:
            extra = extra.masked_fill(extra_mask[:, :, None], 0.0)
        x = torch.cat([memory, extra], dim=1).transpose(1, 2)  # (B, d, HW + E)
        x = self.dropout(self.fc2(self.dropout(F.relu(self.fc1(self.norm_in(x))))))
        return self.norm_out(F.relu(x.transpose(1, 2)))


class CrossAttentionFusion(nn.Module):
    """Image tokens attend to reference/text tokens. ``memory (B, HW, d)``, ``extra (B, E, d)``."""

    def __init__(self, d: int, heads: int, dropout: float, ff: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff, d))
        self.norm2 = nn.LayerNorm(d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, memory: torch.Tensor, extra: torch.Tensor, extra_mask: torch.Tensor | None = None,
                pos: torch.Tensor | None = None) -> torch.Tensor:
        q = memory if pos is None else memory + pos
        if extra_mask is not None:
            # keep at least one key per row so that attention is defined
            extra_mask = extra_mask.clone()
            extra_mask[:, 0] = False
        out = self.attn(q, extra, extra, key_padding_mask=extra_mask, need_weights=False)[0]
        memory = self.norm1(memory + self.dropout(out))
        return self.norm2(memory + self.dropout(self.ff(memory)))
