"""ImageNet-pretrained float MobileNetV2, shared by both model families: the network, the backbone adapter.

The network (:class:`MobileNetV2`, its loading, :class:`InputNormalizer`, TF 'SAME' padding) is defined in
:mod:`procrop.retrieval.encoders.mobilenet_v2`, one layer down, because the ``mobilenet`` reference encoder
uses it too; every public name (and the helpers the converter and tests use) is re-exported here, so
``procrop.model.shared.mobilenet`` stays the place to import it from above the retrieval layer.

The learned box scorer's frozen backbone (:mod:`procrop.model.scorer.boxnet`) and the paper network's
``mobilenet_v2`` backbone (:mod:`procrop.model.paper.backbone`) both take the network from here. This
module owns :class:`C5Backbone`, the adapter to the paper network's backbone contract. Nothing is read
at import time.
"""

from __future__ import annotations

import torch
from torch import nn

from ...retrieval.encoders.mobilenet_v2 import (
    ARCH_SETTINGS,
    DEFAULT_WEIGHTS,
    FEATURE_CHANNELS,
    FEATURE_STRIDES,
    LAST_CHANNELS,
    METADATA_KEY,
    NUM_CLASSES,
    ConvSame,
    InputNormalizer,
    InvertedResidual,
    MobileNetV2,
    conv_specs,
    default_weights_path,
    load_pretrained,
    read_weights,
    tf_same_pads,
)

__all__ = [
    "ARCH_SETTINGS",
    "DEFAULT_WEIGHTS",
    "FEATURE_CHANNELS",
    "FEATURE_STRIDES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LAST_CHANNELS",
    "METADATA_KEY",
    "NUM_CLASSES",
    "C5Backbone",
    "ConvSame",
    "InputNormalizer",
    "InvertedResidual",
    "MobileNetV2",
    "conv_specs",
    "default_weights_path",
    "load_pretrained",
    "read_weights",
    "tf_same_pads",
]


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class C5Backbone(nn.Module):
    """Adapter to procrop's backbone contract: ``(B, 3, H, W)`` -> C5 ``(B, 1280, ceil(H/32), ceil(W/32))``,
    with ``num_channels``. ``inputs`` says how the batch is already normalised by procrop.model.paper.inputs:
    ``"imagenet"`` (ImageNet mean/std of [0, 1] pixels), ``"unit"`` ([0, 1] pixels) or ``"native"``
    (already :class:`InputNormalizer`-ed); it is mapped to the normalisation the weights expect."""

    num_channels = LAST_CHANNELS

    def __init__(self, model: MobileNetV2, inputs: str = "imagenet") -> None:
        super().__init__()
        if inputs not in ("imagenet", "unit", "native"):
            raise ValueError(f"inputs must be 'imagenet', 'unit' or 'native', not {inputs!r}")
        self.model, self.inputs = model, inputs
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inputs == "imagenet":
            x = x * self.std + self.mean
        if self.inputs != "native":
            x = self.model.normalizer(x * 255.0)
        return self.model.features(x)["c5"]
