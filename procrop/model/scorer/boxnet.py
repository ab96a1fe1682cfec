"""The learned box scorer: ProCrop's fusion of a photo, retrieved references and its description,
on a frozen ImageNet MobileNetV2, ending in a head that scores any box.

Flow and shapes (``B`` canvases, ``M`` boxes each, ``d`` = :attr:`BoxNetConfig.d`; the canvas is
squashed to a 256 x 256 square, :func:`~procrop.retrieval.encoders.mobilenet.square_input`, so a
normalised coordinate maps straight onto every map):

1. frozen backbone (:class:`FrozenBackbone`): ``c3 (B, 32, 32, 32)``, ``c4 (B, 96, 16, 16)``,
   ``c5 (B, 1280, 8, 8)``;
2. :meth:`BoxNet.encode`: ``c5`` projected and upsampled onto ``c4``'s grid plus ``c4`` projected,
   plus a learned position embedding -> 256 tokens -> one self-attention block -> one
   cross-attention block over the *extra tokens*: ``k`` references x 64 tokens (the
   ``mobilenet`` reference encoder's tokens, projected, plus a rank embedding) and the description's
   word tokens (hashed ids, :mod:`procrop.model.shared.tokens`), plus one always-present null token.
   Returns ``fused (B, r, 16, 16)`` (reduced to ``r`` = :attr:`BoxNetConfig.roi_channels`),
   ``edges (B, e, 32, 32)`` (``c3`` projected) and ``context (B, d)`` (mean fused token);
3. :meth:`BoxNet.score`: per box ``(x1, y1, x2, y2)`` normalised to the canvas: the fused map
   sampled on a ``roi x roi`` grid inside the box and a 4 x 4 grid over the box grown 1.5x, the
   ``c3`` map sampled across each of the four edges (4 points along x 4 offsets across: is the
   edge where the picture ends?), the box geometry and the canvas aspect -> an MLP -> one logit
   ``(B, M)``. ``sigmoid(logit)`` is trained to be the box's IoU with the photographer's frame.

Ablations switch the references (``refs=False``), the description (``text=False``) or the
backbone's pretraining (:func:`frozen_backbone` ``"random"``) off.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...retrieval.encoders.mobilenet import square_input

#: Offsets across an edge (canvas fraction, outward positive) and positions along it.
EDGE_OFFSETS = (-0.045, -0.015, 0.015, 0.045)
EDGE_ALONG = (0.125, 0.375, 0.625, 0.875)
GEOMETRY = 9


@dataclass(frozen=True)
class BoxNetConfig:
    d: int = 128
    heads: int = 4
    roi: int = 5
    roi_channels: int = 16
    edge_channels: int = 8
    hidden: int = 128
    refs: bool = True
    k_refs: int = 4
    ref_tokens: int = 64
    ref_dim: int = 64
    text: bool = True
    vocab: int = 4096
    text_len: int = 24
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def backbone_input(pixels: np.ndarray) -> np.ndarray:
    """RGB uint8 ``(h, w, 3)`` -> the backbone's uint8 ``(3, 256, 256)`` input."""
    return np.ascontiguousarray(square_input(pixels).transpose(2, 0, 1))


class FrozenBackbone(nn.Module):
    """MobileNetV2 features of uint8 images ``(B, 3, S, S)`` -> ``{"c3", "c4", "c5"}`` maps."""

    def __init__(self, pretrained: bool = True) -> None:
        super().__init__()
        from ..shared.mobilenet import MobileNetV2, load_pretrained

        if pretrained:
            self.net = load_pretrained(None, classifier=False)
        else:
            torch.manual_seed(0)
            self.net = MobileNetV2(num_classes=0).eval()
        self.net.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = self.net.features(self.net.normalizer(images))
        return {"c3": maps["c3"], "c4": maps["c4"], "c5": maps["c5"]}


def frozen_backbone(kind: str = "pretrained") -> FrozenBackbone:
    """``"pretrained"`` (ImageNet, the shipped weights) or ``"random"`` (the no-pretraining ablation)."""
    if kind not in ("pretrained", "random"):
        raise ValueError(f"unknown backbone kind {kind!r}")
    return FrozenBackbone(kind == "pretrained").eval()


class Attention(nn.Module):
    """Multi-head attention of ``x (B, N, d)`` over ``mem (B, M, d)``; ``mask (B, M)`` True = ignore."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, mem: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        B, N, d = x.shape
        h = self.heads
        q = self.q(x).reshape(B, N, h, d // h).transpose(1, 2)
        k, v = self.kv(mem).reshape(B, mem.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        att = q @ k.transpose(-1, -2) / math.sqrt(d // h)
        if mask is not None:
            att = att.masked_fill(mask[:, None, None, :], -1e4)
        y = att.softmax(dim=-1) @ v
        return self.out(y.transpose(1, 2).reshape(B, N, d))


class Block(nn.Module):
    """Pre-norm attention (self when ``mem`` is None, else cross) + feed-forward, residual."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_x = nn.LayerNorm(d)
        self.norm_m = nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.norm_f = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * d, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mem: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        q = self.norm_x(x)
        m = q if mem is None else self.norm_m(mem)
        x = x + self.drop(self.attn(q, m, mask))
        return x + self.drop(self.ffn(self.norm_f(x)))


def sample_points(fmap: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``fmap (B, C, H, W)`` at ``points (B, M, P, 2)`` (``x, y`` in [0, 1] of
    the map; outside: zeros) -> ``(B, M, P * C)``."""
    B, M, P, _ = points.shape
    s = F.grid_sample(fmap, points * 2 - 1, mode="bilinear", padding_mode="zeros", align_corners=False)  # (B, C, M, P)
    return s.permute(0, 2, 3, 1).reshape(B, M, -1)


def box_grid(boxes: torch.Tensor, n: int, grow: float = 1.0) -> torch.Tensor:
    """``n x n`` bin centres of ``boxes (B, M, 4)`` grown ``grow`` times about their centres -> ``(B, M, n*n, 2)``."""
    cx = (boxes[..., 0] + boxes[..., 2]) / 2
    cy = (boxes[..., 1] + boxes[..., 3]) / 2
    w = (boxes[..., 2] - boxes[..., 0]) * grow
    h = (boxes[..., 3] - boxes[..., 1]) * grow
    t = (torch.arange(n, dtype=boxes.dtype) + 0.5) / n - 0.5
    xs = cx[..., None, None] + w[..., None, None] * t[None, :]  # (B, M, 1, n)
    ys = cy[..., None, None] + h[..., None, None] * t[:, None]  # (B, M, n, 1)
    return torch.stack(torch.broadcast_tensors(xs, ys), dim=-1).reshape(*boxes.shape[:2], n * n, 2)


def edge_points(boxes: torch.Tensor) -> torch.Tensor:
    """Points across the four edges of ``boxes (B, M, 4)`` -> ``(B, M, 4 * 4 * 4, 2)``."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    off = torch.tensor(EDGE_OFFSETS, dtype=boxes.dtype)
    along = torch.tensor(EDGE_ALONG, dtype=boxes.dtype)
    ys = y1[..., None] + (y2 - y1)[..., None] * along  # (B, M, 4) along a vertical edge
    xs = x1[..., None] + (x2 - x1)[..., None] * along
    # points are ordered along the edge first, then across it; "+ 0 * ys[...]" broadcasts the
    # across-edge coordinate to (B, M, along, offsets) (an export-friendly expand)
    def vertical(x: torch.Tensor, sign: float) -> torch.Tensor:  # (B, M, 4 along, 4 offsets, 2)
        px = x[..., None, None] + sign * off[None, :] + 0 * ys[..., :, None]
        return torch.stack([px, ys[..., :, None].expand_as(px)], dim=-1)
    def horizontal(y: torch.Tensor, sign: float) -> torch.Tensor:
        py = y[..., None, None] + sign * off[None, :] + 0 * xs[..., :, None]
        return torch.stack([xs[..., :, None].expand_as(py), py], dim=-1)
    parts = [vertical(x1, -1.0), vertical(x2, 1.0), horizontal(y1, -1.0), horizontal(y2, 1.0)]
    return torch.cat([p.reshape(*boxes.shape[:2], -1, 2) for p in parts], dim=2)


def box_geometry(boxes: torch.Tensor, aspect: torch.Tensor) -> torch.Tensor:
    """``(B, M, 9)``: corners, width, height, log true aspect, log canvas aspect, area.
    ``aspect (B,)``: canvas width / height."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    w = (x2 - x1).clamp(min=1e-3)
    h = (y2 - y1).clamp(min=1e-3)
    la = torch.log(aspect)[:, None].expand_as(w)
    return torch.stack([x1, y1, x2, y2, w, h, torch.log(w / h) + la, la, w * h], dim=-1)


class BoxNet(nn.Module):
    """See the module docstring."""

    def __init__(self, cfg: BoxNetConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or BoxNetConfig()
        self.cfg = cfg
        d = cfg.d
        self.p5 = nn.Conv2d(1280, d, 1)
        self.p4 = nn.Conv2d(96, d, 1)
        self.p3 = nn.Conv2d(32, cfg.edge_channels, 1)
        self.pos = nn.Parameter(torch.randn(1, 256, d) * 0.02)
        self.encoder = Block(d, cfg.heads, cfg.dropout)
        self.null = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        if cfg.refs:
            self.ref_proj = nn.Sequential(nn.Linear(cfg.ref_dim, d), nn.LayerNorm(d))
            self.ref_rank = nn.Parameter(torch.randn(cfg.k_refs, 1, d) * 0.02)
        if cfg.text:
            self.words = nn.Embedding(cfg.vocab, d, padding_idx=0)
            self.word_pos = nn.Parameter(torch.randn(cfg.text_len, d) * 0.02)
        self.fusion = Block(d, cfg.heads, cfg.dropout) if (cfg.refs or cfg.text) else None
        self.reduce = nn.Conv2d(d, cfg.roi_channels, 1)
        n_in = cfg.roi_channels * (cfg.roi ** 2 + 16) + cfg.edge_channels * 64 + GEOMETRY + d
        self.head = nn.Sequential(nn.Linear(n_in, cfg.hidden), nn.GELU(), nn.Dropout(cfg.dropout),
                                  nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, 1))

    def extra_tokens(self, refs: torch.Tensor, ref_mask: torch.Tensor, text_ids: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """``refs (B, k, T, F)``, ``ref_mask (B, k)`` (True: missing), ``text_ids (B, L)`` ->
        tokens ``(B, E, d)`` and mask ``(B, E)``."""
        B = refs.shape[0]
        tokens = [self.null.expand(B, -1, -1)]
        masks = [torch.zeros(B, 1, dtype=torch.bool)]
        if self.cfg.refs:
            k, T = refs.shape[1], refs.shape[2]
            tokens.append((self.ref_proj(refs) + self.ref_rank[None, :k]).reshape(B, k * T, -1))
            masks.append(ref_mask[:, :, None].expand(B, k, T).reshape(B, k * T))
        if self.cfg.text:
            tokens.append(self.words(text_ids) + self.word_pos[None, : text_ids.shape[1]])
            masks.append(text_ids == 0)
        return torch.cat(tokens, dim=1), torch.cat(masks, dim=1)

    def encode(self, c3: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor, refs: torch.Tensor,
               ref_mask: torch.Tensor, text_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Backbone maps + extra inputs -> ``fused (B, r, 16, 16)``, ``edges (B, e, 32, 32)``, ``context (B, d)``."""
        x = self.p4(c4) + F.interpolate(self.p5(c5), size=c4.shape[-2:], mode="bilinear", align_corners=False)
        B, d, H, W = x.shape
        tokens = x.flatten(2).transpose(1, 2) + self.pos
        tokens = self.encoder(tokens)
        if self.fusion is not None:
            extra, mask = self.extra_tokens(refs, ref_mask, text_ids)
            tokens = self.fusion(tokens, extra, mask)
        fused = tokens.transpose(1, 2).reshape(B, d, H, W)
        return self.reduce(fused), self.p3(c3), tokens.mean(dim=1)

    def score(self, fused: torch.Tensor, edges: torch.Tensor, context: torch.Tensor, boxes: torch.Tensor,
              aspect: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, M)`` of ``boxes (B, M, 4)`` (normalised ``x1, y1, x2, y2``); ``aspect (B,)``."""
        r = self.cfg.roi
        parts = [
            sample_points(fused, box_grid(boxes, r)),
            sample_points(fused, box_grid(boxes, 4, 1.5)),
            sample_points(edges, edge_points(boxes)),
            box_geometry(boxes, aspect),
            context[:, None, :].expand(-1, boxes.shape[1], -1),
        ]
        return self.head(torch.cat(parts, dim=-1))[..., 0]

    def forward(self, c3, c4, c5, refs, ref_mask, text_ids, boxes, aspect) -> torch.Tensor:
        return self.score(*self.encode(c3, c4, c5, refs, ref_mask, text_ids), boxes, aspect)
