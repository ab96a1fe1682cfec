"""The ProCrop network: backbone -> encoder -> fusion (references, text) -> conditional decoder
-> per-query score and box, plus a head that scores any given box.

Shapes (B images, Q queries, d model width, stride 32):

* ``images (B, 3, H, W)`` normalised; ``mask (B, H, W)`` True on padding;
* ``rects (B, 4)`` each image's ``x, y, w, h`` inside the padded input, in pixels (predicted and
  target boxes are normalised to this rectangle, not to the canvas);
* ``refs (B, k, T, F)`` reference tokens, ``ref_mask (B, k)`` True for missing references;
* ``text_ids (B, L)`` description token ids (0 = padding);
* outputs: ``logits (B, Q)``, ``boxes (B, Q, 4)`` normalised ``cx, cy, w, h``, ``aux`` (the same per
  earlier decoder layer), ``features (B, d, H/32, W/32)`` the fused memory.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import build_backbone
from .box_ops import inverse_sigmoid
from .config import ModelConfig
from .fusion import ClipTextEncoder, CrossAttentionFusion, ReferenceProjection, TextEncoder, TokenMixFusion
from .ops import roi_align
from .transformer import MLP, ConditionalDecoder, Encoder, sine_position_encoding


class BoxScoringHead(nn.Module):
    """RoIAlign on the fused memory + global context -> one logit per box."""

    def __init__(self, d: int, roi: int) -> None:
        super().__init__()
        self.roi = roi
        self.reduce = nn.Conv2d(d, 32, 1)
        self.fc1 = nn.Linear(32 * roi * roi + d, 128)
        self.fc2 = nn.Linear(128, 1)

    def forward(self, features: torch.Tensor, boxes_xyxy: torch.Tensor, batch_index: torch.Tensor,
                stride: int) -> torch.Tensor:
        """``boxes_xyxy (N, 4)`` in input pixels -> ``(N,)`` logits."""
        pooled = roi_align(features, boxes_xyxy, batch_index, self.roi, 1.0 / stride, 2)
        local = F.relu(self.reduce(pooled)).flatten(1)
        context = features.mean(dim=(2, 3))[batch_index]
        return self.fc2(F.relu(self.fc1(torch.cat([local, context], dim=1))))[:, 0]


class ProCropNet(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.backbone = build_backbone(cfg)
        self.input_proj = nn.Conv2d(self.backbone.num_channels, d, 1)
        self.encoder = Encoder(d, cfg.nheads, cfg.dim_feedforward, cfg.dropout, cfg.enc_layers)
        self.decoder = ConditionalDecoder(d, cfg.nheads, cfg.dim_feedforward, cfg.dropout, cfg.dec_layers)
        self.query_embed = nn.Embedding(cfg.num_queries, d)
        self.class_embed = nn.Linear(d, 1)
        self.bbox_embed = MLP(d, d, 4, 3, layernorm=cfg.box_head_layernorm)
        self.box_scorer = BoxScoringHead(d, cfg.roi_size)
        self.ref_proj = ReferenceProjection(cfg.ref_dim, d) if cfg.retrieval != "none" else None
        if cfg.text == "learned":
            self.text_encoder: nn.Module | None = TextEncoder(cfg.text_vocab, cfg.text_len, d, cfg.nheads, cfg.dropout)
        elif cfg.text == "clip":
            self.text_encoder = ClipTextEncoder(cfg.clip_text_path, d, cfg.text_len)
        else:
            self.text_encoder = None
        n_extra = (cfg.k_refs * cfg.ref_tokens if cfg.retrieval != "none" else 0) + (cfg.text_len if cfg.text != "none" else 0)
        self.fusion: nn.Module | None = None
        if n_extra and cfg.retrieval == "mix":
            side = math.ceil(cfg.canvas / cfg.stride)
            self.fusion = TokenMixFusion(side * side, n_extra, d, cfg.dropout)
        elif n_extra:
            self.fusion = CrossAttentionFusion(d, cfg.nheads, cfg.dropout, cfg.dim_feedforward)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        prior = 0.01
        nn.init.constant_(self.class_embed.bias, -math.log((1 - prior) / prior))
        nn.init.zeros_(self.bbox_embed.layers[-1].weight)
        nn.init.zeros_(self.bbox_embed.layers[-1].bias)
        for module in (self.encoder, self.decoder):
            for p in module.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)

    def num_parameters(self, trainable: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable)

    def extra_tokens(
        self,
        refs: torch.Tensor | None,
        ref_mask: torch.Tensor | None,
        text_ids: torch.Tensor | None,
        texts: list[str] | None,
        batch: int,
        device: torch.device,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Reference and text tokens ``(B, E, d)`` with their padding mask ``(B, E)``."""
        cfg = self.cfg
        parts, masks = [], []
        if self.ref_proj is not None:
            if refs is None:
                refs = torch.zeros(batch, cfg.k_refs, cfg.ref_tokens, cfg.ref_dim, device=device)
                ref_mask = torch.ones(batch, cfg.k_refs, dtype=torch.bool, device=device)
            elif ref_mask is None:
                ref_mask = torch.zeros(batch, refs.shape[1], dtype=torch.bool, device=device)
            parts.append(self.ref_proj(refs))
            masks.append(ref_mask[:, :, None].expand(-1, -1, refs.shape[2]).reshape(batch, -1))
        if isinstance(self.text_encoder, TextEncoder):
            if text_ids is None:
                text_ids = torch.zeros(batch, cfg.text_len, dtype=torch.long, device=device)
            tokens, pad = self.text_encoder(text_ids)
            parts.append(tokens)
            masks.append(pad)
        elif isinstance(self.text_encoder, ClipTextEncoder):
            tokens, pad = self.text_encoder.encode_texts(texts or [""] * batch)
            parts.append(tokens)
            masks.append(pad)
        if not parts:
            return None, None
        return torch.cat(parts, dim=1), torch.cat(masks, dim=1)

    def forward(
        self,
        images: torch.Tensor,
        mask: torch.Tensor,
        refs: torch.Tensor | None = None,
        ref_mask: torch.Tensor | None = None,
        text_ids: torch.Tensor | None = None,
        texts: list[str] | None = None,
    ) -> dict[str, Any]:
        b = images.shape[0]
        feats = self.input_proj(self.backbone(images))  # (B, d, h, w)
        h, w = feats.shape[2:]
        fmask = F.interpolate(mask[:, None].float(), size=(h, w), mode="nearest")[:, 0].bool()
        pos = sine_position_encoding(fmask, self.cfg.d_model).to(feats.dtype)
        src = feats.flatten(2).permute(2, 0, 1)  # (hw, B, d)
        pos_seq = pos.flatten(2).permute(2, 0, 1)
        seq_mask = fmask.flatten(1)
        memory = self.encoder(src, seq_mask, pos_seq)
        extra, extra_mask = self.extra_tokens(refs, ref_mask, text_ids, texts, b, images.device)
        if self.fusion is not None and extra is not None:
            mem = memory.transpose(0, 1)
            if isinstance(self.fusion, TokenMixFusion):
                mem = self.fusion(mem, extra, extra_mask)
            else:
                mem = self.fusion(mem, extra, extra_mask, pos_seq.transpose(0, 1))
            memory = mem.transpose(0, 1)
        query_pos = self.query_embed.weight[:, None, :].expand(-1, b, -1)
        hs, reference = self.decoder(memory, seq_mask, pos_seq, query_pos)  # (L, Q, B, d), (B, Q, 2)
        hs = hs.transpose(1, 2)  # (L, B, Q, d)
        ref_logit = inverse_sigmoid(reference)
        outputs = []
        for layer_hs in hs:
            delta = self.bbox_embed(layer_hs)
            centre = delta[..., :2] + ref_logit
            boxes = torch.cat([centre, delta[..., 2:]], dim=-1).sigmoid()
            outputs.append({"logits": self.class_embed(layer_hs)[..., 0], "boxes": boxes})
        features = memory.permute(1, 2, 0).reshape(b, self.cfg.d_model, h, w)
        return {**outputs[-1], "aux": outputs[:-1], "features": features}

    def score_boxes(self, features: torch.Tensor, boxes_xyxy: torch.Tensor, batch_index: torch.Tensor) -> torch.Tensor:
        """Logits of given boxes ``(N, 4)`` (``x1, y1, x2, y2`` in input pixels)."""
        return self.box_scorer(features, boxes_xyxy, batch_index, self.cfg.stride)


def build_model(cfg: ModelConfig) -> ProCropNet:
    return ProCropNet(cfg)
