"""RoIAlign and NMS in plain torch (torchvision's compiled ops are not available with CPU torch
from PyPI, and these export to ONNX).

Owns :func:`roi_align` (batched), :func:`roi_align_single` (the exported one-image path) and
:func:`nms`. Box formats and IoU in torch are :mod:`procrop.model.paper.box_ops`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .box_ops import box_iou


def roi_align(
    features: torch.Tensor,
    boxes: torch.Tensor,
    batch_index: torch.Tensor,
    output_size: int = 7,
    spatial_scale: float = 1.0,
    sampling_ratio: int = 2,
) -> torch.Tensor:
    """Average of bilinearly sampled points per bin (RoIAlign with ``aligned=True`` semantics).

    Args:
        features: ``(B, C, H, W)``.
        boxes: ``(N, 4)`` ``x1, y1, x2, y2`` in input pixels; ``spatial_scale`` maps them onto the
            feature map (pixel ``i`` of the map spans ``[i, i+1)``).
        batch_index: ``(N,)`` which image each box belongs to.

    Returns:
        ``(N, C, output_size, output_size)``.
    """
    n = boxes.shape[0]
    B, C, H, W = features.shape
    if n == 0:
        return features.new_zeros((0, C, output_size, output_size))
    s = sampling_ratio
    g = output_size * s
    b = boxes * spatial_scale
    # sample positions: bin i, sub-sample k -> x1 + (i + (k + 0.5)/s) * bin_w, as fractions of the box
    t = (torch.arange(g, dtype=features.dtype, device=features.device) + 0.5) / g  # (g,)
    xs = b[:, 0:1] + (b[:, 2:3] - b[:, 0:1]) * t[None]  # (N, g)
    ys = b[:, 1:2] + (b[:, 3:4] - b[:, 1:2]) * t[None]
    # grid_sample's normalised coordinates (align_corners=False): -1 is the left edge of pixel 0
    gx = xs / W * 2 - 1
    gy = ys / H * 2 - 1
    grid = torch.stack(
        [gx[:, None, :].expand(n, g, g), gy[:, :, None].expand(n, g, g)], dim=-1
    )  # (N, g, g, 2)
    out = features.new_zeros((n, C, g, g))
    for bi in range(B):
        sel = (batch_index == bi).nonzero(as_tuple=True)[0]
        if sel.numel() == 0:
            continue
        gi = grid[sel].reshape(1, sel.numel() * g, g, 2)
        sampled = F.grid_sample(features[bi : bi + 1], gi, mode="bilinear", padding_mode="zeros", align_corners=False)
        out[sel] = sampled.reshape(C, sel.numel(), g, g).permute(1, 0, 2, 3)
    return F.avg_pool2d(out, kernel_size=s, stride=s)


def roi_align_single(features: torch.Tensor, boxes: torch.Tensor, output_size: int = 7, spatial_scale: float = 1.0,
                     sampling_ratio: int = 2) -> torch.Tensor:
    """:func:`roi_align` for one image ``(1, C, H, W)`` (no loop: this is the exported path)."""
    n = boxes.shape[0]
    C, H, W = features.shape[1:]
    s = sampling_ratio
    g = output_size * s
    b = boxes * spatial_scale
    t = (torch.arange(g, dtype=features.dtype, device=features.device) + 0.5) / g
    xs = b[:, 0:1] + (b[:, 2:3] - b[:, 0:1]) * t[None]
    ys = b[:, 1:2] + (b[:, 3:4] - b[:, 1:2]) * t[None]
    gx = (xs / W * 2 - 1)[:, None, :].expand(n, g, g)
    gy = (ys / H * 2 - 1)[:, :, None].expand(n, g, g)
    grid = torch.stack([gx, gy], dim=-1).reshape(1, n * g, g, 2)
    sampled = F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    sampled = sampled.reshape(C, n, g, g).permute(1, 0, 2, 3)
    return F.avg_pool2d(sampled, kernel_size=s, stride=s)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression of ``xyxy`` boxes; indices kept, by descending score.

    Not :func:`procrop.geometry.select_diverse`, on purpose: this runs on torch tensors (on the
    model's device, in its dtype, exportable), takes ``xyxy`` boxes with areas clamped at 0 (the
    numpy helper: ``xywh``, unclamped), keeps a box at IoU ``<=`` the threshold (the helper: ``<``)
    and has no ``top_k``. Ties are broken by index in both.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.argsort(scores, descending=True, stable=True)
    iou, _ = box_iou(boxes[order], boxes[order])
    keep = torch.ones(len(order), dtype=torch.bool, device=boxes.device)
    for i in range(len(order)):
        if keep[i]:
            keep[i + 1 :] &= iou[i, i + 1 :] <= iou_threshold
    return order[keep]
