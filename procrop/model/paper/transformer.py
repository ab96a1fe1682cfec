"""Sine position encodings and the Conditional-DETR transformer (post-norm).

Shapes follow DETR: sequences are ``(L, B, d)``; ``mask`` is ``(B, L)`` with True at padding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sine_position_encoding(mask: torch.Tensor, d_model: int, temperature: float = 10000.0) -> torch.Tensor:
    """DETR's normalised 2-D sine encoding of a padding mask ``(B, H, W)`` -> ``(B, d, H, W)``."""
    npf = d_model // 2
    not_mask = (~mask).to(torch.float32)
    y = not_mask.cumsum(1)
    x = not_mask.cumsum(2)
    eps = 1e-6
    scale = 2 * math.pi
    y = y / (y[:, -1:, :] + eps) * scale
    x = x / (x[:, :, -1:] + eps) * scale
    dim_t = torch.arange(npf, dtype=torch.float32, device=mask.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / npf)
    px = x[:, :, :, None] / dim_t
    py = y[:, :, :, None] / dim_t
    px = torch.stack((px[:, :, :, 0::2].sin(), px[:, :, :, 1::2].cos()), dim=4).flatten(3)
    py = torch.stack((py[:, :, :, 0::2].sin(), py[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((py, px), dim=3).permute(0, 3, 1, 2)


def sine_embed_points(points: torch.Tensor, d_model: int) -> torch.Tensor:
    """Conditional DETR's sine embedding of reference points ``(L, B, 2)`` (x, y in [0, 1]) ->
    ``(L, B, d)`` (y half first, as in the position encoding)."""
    half = d_model // 2
    scale = 2 * math.pi
    dim_t = torch.arange(half, dtype=torch.float32, device=points.device)
    dim_t = 10000 ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / half)
    px = points[..., 0:1] * scale / dim_t
    py = points[..., 1:2] * scale / dim_t
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=-1).flatten(-2)
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=-1).flatten(-2)
    return torch.cat((py, px), dim=-1)


class MLP(nn.Module):
    """Linear layers with ReLU between them (optionally LayerNorm after each hidden ReLU)."""

    def __init__(self, din: int, hidden: int, dout: int, layers: int, layernorm: bool = False) -> None:
        super().__init__()
        dims = [din] + [hidden] * (layers - 1) + [dout]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers - 1)) if layernorm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
                if self.norms is not None:
                    x = self.norms[i](x)
        return x


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, key_padding_mask: torch.Tensor | None,
              dropout: float, training: bool) -> torch.Tensor:
    """Multi-head attention without in-projections. ``q (Lq, B, Dq)``, ``k (Lk, B, Dq)``,
    ``v (Lk, B, Dv)`` -> ``(Lq, B, Dv)``; heads split both ``Dq`` and ``Dv``."""
    lq, b, dq = q.shape
    lk = k.shape[0]
    dv = v.shape[2]
    q = q.reshape(lq, b * heads, dq // heads).transpose(0, 1)
    k = k.reshape(lk, b * heads, dq // heads).transpose(0, 1)
    v = v.reshape(lk, b * heads, dv // heads).transpose(0, 1)
    logits = torch.bmm(q, k.transpose(1, 2)) / math.sqrt(dq // heads)
    if key_padding_mask is not None:
        m = key_padding_mask[:, None, :].expand(b, heads, lk).reshape(b * heads, 1, lk)
        logits = logits.masked_fill(m, float("-inf"))
    attn = F.dropout(logits.softmax(dim=-1), dropout, training)
    out = torch.bmm(attn, v).transpose(0, 1).reshape(lq, b, dv)
    return out


class EncoderLayer(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=dropout)
        self.linear1 = nn.Linear(d, ff)
        self.linear2 = nn.Linear(ff, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, src: torch.Tensor, mask: torch.Tensor | None, pos: torch.Tensor) -> torch.Tensor:
        q = k = src + pos
        src = self.norm1(src + self.dropout1(self.self_attn(q, k, src, key_padding_mask=mask, need_weights=False)[0]))
        src2 = self.linear2(self.dropout(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout2(src2))


class ConditionalDecoderLayer(nn.Module):
    """Conditional-DETR decoder layer: content and spatial parts of the cross-attention query and
    key are concatenated (so the attention runs in ``2d`` for q/k and ``d`` for values)."""

    def __init__(self, d: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout_p = dropout
        self.sa_qcontent_proj = nn.Linear(d, d)
        self.sa_qpos_proj = nn.Linear(d, d)
        self.sa_kcontent_proj = nn.Linear(d, d)
        self.sa_kpos_proj = nn.Linear(d, d)
        self.sa_v_proj = nn.Linear(d, d)
        self.sa_out = nn.Linear(d, d)
        self.ca_qcontent_proj = nn.Linear(d, d)
        self.ca_qpos_proj = nn.Linear(d, d)
        self.ca_kcontent_proj = nn.Linear(d, d)
        self.ca_kpos_proj = nn.Linear(d, d)
        self.ca_v_proj = nn.Linear(d, d)
        self.ca_qpos_sine_proj = nn.Linear(d, d)
        self.ca_out = nn.Linear(d, d)
        self.linear1 = nn.Linear(d, ff)
        self.linear2 = nn.Linear(ff, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.norm3 = nn.LayerNorm(d)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        mask: torch.Tensor | None,
        pos: torch.Tensor,
        query_pos: torch.Tensor,
        query_sine_embed: torch.Tensor,
        is_first: bool,
    ) -> torch.Tensor:
        # self-attention
        q = self.sa_qcontent_proj(tgt) + self.sa_qpos_proj(query_pos)
        k = self.sa_kcontent_proj(tgt) + self.sa_kpos_proj(query_pos)
        v = self.sa_v_proj(tgt)
        tgt2 = self.sa_out(attention(q, k, v, self.heads, None, self.dropout_p, self.training))
        tgt = self.norm1(tgt + self.dropout1(tgt2))
        # cross-attention with conditional spatial queries
        nq, b, d = tgt.shape
        hw = memory.shape[0]
        q_content = self.ca_qcontent_proj(tgt)
        k_content = self.ca_kcontent_proj(memory)
        v = self.ca_v_proj(memory)
        k_pos = self.ca_kpos_proj(pos)
        if is_first:
            q = q_content + self.ca_qpos_proj(query_pos)
            k = k_content + k_pos
        else:
            q, k = q_content, k_content
        h = self.heads
        q = torch.cat([q.view(nq, b, h, d // h), self.ca_qpos_sine_proj(query_sine_embed).view(nq, b, h, d // h)], dim=3)
        k = torch.cat([k.view(hw, b, h, d // h), k_pos.view(hw, b, h, d // h)], dim=3)
        tgt2 = self.ca_out(attention(q.reshape(nq, b, 2 * d), k.reshape(hw, b, 2 * d), v, h, mask, self.dropout_p, self.training))
        tgt = self.norm2(tgt + self.dropout2(tgt2))
        tgt2 = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(tgt2))


class Encoder(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, dropout: float, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(d, heads, ff, dropout) for _ in range(layers))

    def forward(self, src: torch.Tensor, mask: torch.Tensor | None, pos: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            src = layer(src, mask, pos)
        return src


class ConditionalDecoder(nn.Module):
    """Decoder returning the normalised output of every layer ``(layers, Q, B, d)`` and the
    reference points ``(B, Q, 2)``."""

    def __init__(self, d: int, heads: int, ff: int, dropout: float, layers: int) -> None:
        super().__init__()
        self.d = d
        self.layers = nn.ModuleList(ConditionalDecoderLayer(d, heads, ff, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.query_scale = MLP(d, d, d, 2)
        self.ref_point_head = MLP(d, d, 2, 2)

    def forward(self, memory: torch.Tensor, mask: torch.Tensor | None, pos: torch.Tensor, query_pos: torch.Tensor):
        output = torch.zeros_like(query_pos)
        reference = self.ref_point_head(query_pos).sigmoid()  # (Q, B, 2)
        intermediate = []
        for i, layer in enumerate(self.layers):
            scale = 1.0 if i == 0 else self.query_scale(output)
            sine = sine_embed_points(reference, self.d) * scale
            output = layer(output, memory, mask, pos, query_pos, sine, is_first=(i == 0))
            intermediate.append(self.norm(output))
        return torch.stack(intermediate), reference.transpose(0, 1)
