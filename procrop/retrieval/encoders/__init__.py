"""Reference encoders: the registry (:mod:`.registry`) and one module per encoder family.

* :mod:`.registry`: :class:`Encoder`, :class:`Encoding`, :data:`GRID`, the registry
  (:func:`create_encoder`, :func:`encoder_class`, :func:`available_encoders`,
  :func:`register_encoder`) and the grid helpers (:func:`pool_frame`, :func:`grid_similarity`);
* :mod:`.layout`: the default weight-free ``layout`` encoder (needs OpenCV);
* :mod:`.sam`: segment-anything's ViT image encoder (``sam``; torch, imported lazily);
* :mod:`.mobilenet`: the packaged ImageNet MobileNetV2's C5 map (``mobilenet``; torch, imported
  lazily; the network itself is :mod:`.mobilenet_v2`);
* :mod:`.hf`: CLIP and DINOv2 via ``transformers`` (``clip``, ``dinov2``; imported lazily).

The registry names are imported here; the family modules are imported by the registry on first
use, so ``import procrop.retrieval.encoders`` needs neither OpenCV nor torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .registry import (
    GRID,
    Encoder,
    Encoding,
    available_encoders,
    create_encoder,
    encoder_class,
    grid_similarity,
    pool_frame,
    pool_windows,
    register_encoder,
)

if TYPE_CHECKING:
    from .layout import LAYOUT_CHANNELS, LayoutEncoder

__all__ = [
    "GRID",
    "LAYOUT_CHANNELS",
    "Encoder",
    "Encoding",
    "LayoutEncoder",
    "available_encoders",
    "create_encoder",
    "encoder_class",
    "grid_similarity",
    "pool_frame",
    "pool_windows",
    "register_encoder",
]


def __getattr__(name: str) -> Any:
    """``LayoutEncoder`` and ``LAYOUT_CHANNELS`` import :mod:`.layout` (OpenCV) on first use."""
    if name in ("LayoutEncoder", "LAYOUT_CHANNELS"):
        from . import layout

        return getattr(layout, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
