"""Hungarian matching and the set-prediction losses of ProCrop (Conditional DETR), plus a ranking
loss for the box-scoring head.

With ``p = sigmoid(logit)``, ``alpha = 0.25``, ``gamma = 2``:

* matching cost ``C_ij = 2 C_cls + 5 |b_i - b_j|_1 + 2 (-GIoU(b_i, b_j))`` with the focal
  classification cost ``C_cls = alpha (1-p)^gamma (-log p) - (1-alpha) p^gamma (-log(1-p))``;
* classification: sigmoid focal loss over all queries with target 1 for matched queries and, for
  unmatched ones, a soft target ``clamp(s (q - 2) / 1.5, 0, s)`` when the prediction overlaps an
  annotated box of quality ``q`` with IoU >= 0.85 (else 0), summed and divided by the number of
  target boxes;
* boxes: L1 on ``cx, cy, w, h`` and ``1 - GIoU`` over matched pairs, divided by the number of
  target boxes;
* total: ``2 L_cls + 5 L_L1 + 2 L_GIoU`` on the final and every auxiliary decoder layer;
* box-scoring head: pairwise hinge ranking over candidates of one image whose MOS differ, plus
  a regression of the normalised MOS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .box_ops import box_iou, cxcywh_to_xyxy, generalized_box_iou
from .config import LossConfig


@dataclass
class Target:
    """One image's supervision, boxes normalised ``cx, cy, w, h`` in [0, 1].

    ``good``: the boxes to predict (matched by the Hungarian algorithm); ``all_boxes`` and
    ``all_scores``: every annotated box with its quality (soft labels, ranking loss).
    """

    good: torch.Tensor
    all_boxes: torch.Tensor
    all_scores: torch.Tensor


def focal_cost(logits: torch.Tensor, alpha: float, gamma: float) -> torch.Tensor:
    p = logits.sigmoid()
    neg = (1 - alpha) * p.pow(gamma) * (-(1 - p + 1e-8).log())
    pos = alpha * (1 - p).pow(gamma) * (-(p + 1e-8).log())
    return pos - neg


@torch.no_grad()
def hungarian_match(
    logits: torch.Tensor, boxes: torch.Tensor, targets: list[Target], cfg: LossConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per image ``(query indices, target indices)`` of the optimal assignment.

    ``logits (B, Q)``, ``boxes (B, Q, 4)`` normalised ``cx, cy, w, h``.
    """
    from scipy.optimize import linear_sum_assignment

    out = []
    for b, t in enumerate(targets):
        if len(t.good) == 0:
            out.append((np.zeros(0, np.int64), np.zeros(0, np.int64)))
            continue
        c = cost_matrix(logits[b], boxes[b], t.good, cfg)
        rows, cols = linear_sum_assignment(c.cpu().numpy())
        out.append((rows.astype(np.int64), cols.astype(np.int64)))
    return out


def cost_matrix(logits: torch.Tensor, boxes: torch.Tensor, good: torch.Tensor, cfg: LossConfig) -> torch.Tensor:
    """``(Q, G)`` matching cost for one image."""
    c_cls = focal_cost(logits, cfg.focal_alpha, cfg.focal_gamma)[:, None].expand(-1, len(good))
    c_l1 = torch.cdist(boxes, good, p=1)
    c_giou = -generalized_box_iou(cxcywh_to_xyxy(boxes), cxcywh_to_xyxy(good))
    return cfg.cls * c_cls + cfg.l1 * c_l1 + cfg.giou * c_giou


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float, gamma: float) -> torch.Tensor:
    """Element-wise focal loss with (possibly soft) targets in [0, 1]."""
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return alpha_t * (1 - p_t).pow(gamma) * ce


def soft_targets(boxes: torch.Tensor, target: Target, matched: np.ndarray, cfg: LossConfig) -> torch.Tensor:
    """``(Q,)`` classification targets for one image: 1 for matched queries, soft for overlapping."""
    t = torch.zeros(boxes.shape[0], dtype=boxes.dtype, device=boxes.device)
    if cfg.soft_bound > 0 and len(target.all_boxes):
        iou, _ = box_iou(cxcywh_to_xyxy(boxes.detach()), cxcywh_to_xyxy(target.all_boxes))
        best_iou, best = iou.max(dim=1)
        q = target.all_scores[best]
        soft = (cfg.soft_bound * (q - 2) / 1.5).clamp(0, cfg.soft_bound)
        t = torch.where(best_iou >= cfg.soft_iou, soft.to(t.dtype), t)
    if len(matched):
        t[torch.as_tensor(matched, device=boxes.device)] = 1.0
    return t


def set_loss(
    logits: torch.Tensor,
    boxes: torch.Tensor,
    targets: list[Target],
    cfg: LossConfig,
    num_boxes: float,
    teacher_probs: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Losses of one decoder layer (``logits (B, Q)``, ``boxes (B, Q, 4)``)."""
    matches = hungarian_match(logits, boxes, targets, cfg)
    cls_targets = torch.stack([soft_targets(boxes[b], t, m[0], cfg) for b, (t, m) in enumerate(zip(targets, matches))])
    l_cls = sigmoid_focal_loss(logits, cls_targets, cfg.focal_alpha, cfg.focal_gamma).sum() / num_boxes
    if teacher_probs is not None:
        l_teacher = sigmoid_focal_loss(logits, teacher_probs, cfg.focal_alpha, cfg.focal_gamma).sum() / num_boxes
        l_cls = 0.5 * l_cls + 0.5 * l_teacher
    src, tgt = [], []
    for b, (t, (qi, ti)) in enumerate(zip(targets, matches)):
        if len(qi):
            src.append(boxes[b, torch.as_tensor(qi, device=boxes.device)])
            tgt.append(t.good[torch.as_tensor(ti, device=boxes.device)])
    if src:
        s = torch.cat(src)
        g = torch.cat(tgt)
        l_l1 = F.l1_loss(s, g, reduction="sum") / num_boxes
        l_giou = (1 - torch.diag(generalized_box_iou(cxcywh_to_xyxy(s), cxcywh_to_xyxy(g)))).sum() / num_boxes
    else:
        l_l1 = l_giou = boxes.sum() * 0.0
    return {"cls": l_cls, "l1": l_l1, "giou": l_giou}


def ranking_loss(logits: torch.Tensor, mos: torch.Tensor, margin: float) -> torch.Tensor:
    """Pairwise hinge on candidates of one image: for every pair with ``mos_i > mos_j``,
    ``max(0, margin - (s_i - s_j))``, averaged; plus the mean squared error between the sigmoid
    score and the MOS mapped to [0, 1] (``(mos - 1) / 4``)."""
    diff_mos = mos[:, None] - mos[None, :]
    diff_pred = logits[:, None] - logits[None, :]
    pairs = diff_mos > 0
    hinge = F.relu(margin - diff_pred)[pairs].mean() if pairs.any() else logits.sum() * 0.0
    target = ((mos - 1) / 4).clamp(0, 1)
    return hinge + F.mse_loss(logits.sigmoid(), target)


def total_loss(
    outputs: dict,
    targets: list[Target],
    cfg: LossConfig,
    teacher: dict | None = None,
    num_boxes: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum over the final and (with ``cfg.aux``) every auxiliary layer.

    ``num_boxes`` (the normaliser) defaults to the number of target boxes in ``targets``;
    distributed training passes the global batch's count divided by the number of processes."""
    if num_boxes is None:
        num_boxes = float(sum(len(t.good) for t in targets))
    num_boxes = max(1.0, num_boxes)
    layers = [outputs] + (list(outputs["aux"]) if cfg.aux else [])
    teacher_layers = [teacher] + list(teacher["aux"]) if teacher is not None else [None] * len(layers)
    total = outputs["logits"].sum() * 0.0
    logs: dict[str, float] = {}
    for i, (layer, tl) in enumerate(zip(layers, teacher_layers)):
        tp = tl["logits"].sigmoid().detach() if tl is not None else None
        parts = set_loss(layer["logits"], layer["boxes"], targets, cfg, num_boxes, tp)
        layer_loss = cfg.cls * parts["cls"] + cfg.l1 * parts["l1"] + cfg.giou * parts["giou"]
        total = total + layer_loss
        if i == 0:
            logs.update({k: float(v.detach()) for k, v in parts.items()})
    logs["set"] = float(total.detach())
    return total, logs
