"""Image backbones (registry): torchvision-layout ResNet-50 (C5, FrozenBatchNorm), a small CNN, and the
ImageNet MobileNetV2 (``mobilenet_v2``: its 1280-channel C5 map,
:class:`procrop.model.shared.mobilenet.C5Backbone`).

``build_backbone(cfg)`` returns a module mapping ``(B, 3, H, W)`` to ``(B, C, H/32, W/32)`` with a
``num_channels`` attribute. The MobileNetV2 reads the packaged weights when ``backbone_weights`` is
``"imagenet"`` (or a converted ``.npz`` path; ``""`` is random initialisation, as for the others), is
frozen when ``lr_backbone`` is 0 and trainable otherwise, and maps ``model.normalize`` (``minmax``:
[0, 1] pixels, ``imagenet``: ImageNet mean/std) to the input normalisation its weights expect. ResNet-50 weights load from a local file in torchvision's state-dict
layout or from torchvision's URL through ``torch.hub`` (offline this fails with a clear message;
nothing is downloaded unless asked for).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...errors import ModelLoadError
from ..shared.mobilenet import C5Backbone, MobileNetV2

RESNET50_URL = "https://download.pytorch.org/models/resnet50-0676ba61.pth"  # ImageNet (V1), as DETR


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and affine parameters (buffers, not parameters)."""

    def __init__(self, n: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(n))
        self.register_buffer("bias", torch.zeros(n))
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = FrozenBatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = FrozenBatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50C5(nn.Module):
    """ResNet-50 up to ``layer4`` (stride 32, 2048 channels), torchvision's parameter names.

    The stem and ``layer1`` are frozen, as in DETR/ProCrop; ``layer2-4`` train when the backbone
    learning rate is positive.
    """

    num_channels = 2048

    def __init__(self, train_layers: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = FrozenBatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.inplanes = 64
        self.layer1 = self._layer(64, 3)
        self.layer2 = self._layer(128, 4, stride=2)
        self.layer3 = self._layer(256, 6, stride=2)
        self.layer4 = self._layer(512, 3, stride=2)
        for name, p in self.named_parameters():
            if not train_layers or not name.startswith(("layer2", "layer3", "layer4")):
                p.requires_grad_(False)

    def _layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != planes * 4:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False), FrozenBatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, down)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def load_resnet50_weights(model: ResNet50C5, source: str) -> None:
    """Load torchvision-layout ResNet-50 weights from a file, or from torchvision's URL (``hub``)."""
    if source == "hub":
        try:
            sd = torch.hub.load_state_dict_from_url(RESNET50_URL, map_location="cpu", progress=False, check_hash=True)
        except Exception as exc:  # URLError, HTTPError, hash mismatch
            raise ModelLoadError(
                f"cannot download ResNet-50 weights from {RESNET50_URL} ({exc}); offline, download "
                "the file elsewhere and set backbone_weights to its path"
            ) from exc
    else:
        p = Path(source)
        if not p.exists():
            raise ModelLoadError(f"{p}: no such ResNet-50 weights file")
        try:
            sd = torch.load(str(p), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelLoadError(f"{p}: cannot read weights: {exc}") from exc
        if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
            sd = sd["state_dict"]
    sd = {k.removeprefix("module.").removeprefix("backbone.body."): v for k, v in sd.items()}
    sd = {k: v for k, v in sd.items() if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    try:
        missing, unexpected = model.load_state_dict(sd, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise ModelLoadError(f"{source}: not a torchvision ResNet-50 state dict ({str(exc).splitlines()[-1].strip()})") from exc
    if missing or unexpected:
        raise ModelLoadError(
            f"{source}: not a torchvision ResNet-50 state dict (missing {missing[:4]}, unexpected {unexpected[:4]})"
        )


def _dw_block(cin: int, cout: int, stride: int) -> nn.Sequential:
    """Depthwise-separable convolution: 3x3 depthwise, 1x1 pointwise, batch norm, ReLU6."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU6(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class SmallCNN(nn.Module):
    """A MobileNet-style stride-32 CNN (~0.5 M parameters) that trains on a CPU."""

    def __init__(self, width: float = 1.0, out_channels: int = 256) -> None:
        super().__init__()
        c = [max(8, int(v * width)) for v in (24, 32, 64, 96, 160)]
        self.num_channels = out_channels
        self.body = nn.Sequential(
            nn.Conv2d(3, c[0], 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c[0]),
            nn.ReLU6(inplace=True),
            _dw_block(c[0], c[1], 2),
            _dw_block(c[1], c[1], 1),
            _dw_block(c[1], c[2], 2),
            _dw_block(c[2], c[2], 1),
            _dw_block(c[2], c[3], 2),
            _dw_block(c[3], c[3], 1),
            _dw_block(c[3], c[4], 2),
            _dw_block(c[4], out_channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


BackboneFactory = Callable[[Any], nn.Module]
_BACKBONES: dict[str, BackboneFactory] = {}


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    def deco(fn: BackboneFactory) -> BackboneFactory:
        _BACKBONES[name] = fn
        return fn

    return deco


@register_backbone("resnet50")
def _resnet50(cfg: Any) -> nn.Module:
    model = ResNet50C5(train_layers=cfg.lr_backbone > 0)
    if cfg.backbone_weights:
        load_resnet50_weights(model, cfg.backbone_weights)
    return model


@register_backbone("small")
def _small(cfg: Any) -> nn.Module:
    model = SmallCNN(width=cfg.backbone_width, out_channels=cfg.backbone_channels)
    if cfg.backbone_weights:
        p = Path(cfg.backbone_weights)
        if not p.exists():
            raise ModelLoadError(f"{p}: no such backbone weights file")
        model.load_state_dict(torch.load(str(p), map_location="cpu", weights_only=True))
    return model


#: ``backbone_weights`` value that selects the packaged ImageNet MobileNetV2 weights.
PACKAGED_MOBILENET = "imagenet"


@register_backbone("mobilenet_v2")
def _mobilenet_v2(cfg: Any) -> nn.Module:
    """The ImageNet MobileNetV2's C5 (1280 channels, stride 32; BatchNorm folded, so train and eval
    modes compute the same). Weights: ``"imagenet"`` (packaged), a converted ``.npz`` path, or ``""``."""
    weights = cfg.backbone_weights
    if weights:
        net = MobileNetV2.from_file(None if weights == PACKAGED_MOBILENET else weights, classifier=False)
    else:
        net = MobileNetV2(num_classes=0)
    net.requires_grad_(cfg.lr_backbone > 0)
    return C5Backbone(net, inputs="unit" if cfg.normalize == "minmax" else "imagenet")


def build_backbone(cfg: Any) -> nn.Module:
    """The backbone ``cfg.backbone`` names (``resnet50``, ``small`` or ``mobilenet_v2``), built from ``cfg``."""
    try:
        return _BACKBONES[cfg.backbone](cfg)
    except KeyError:
        raise ModelLoadError(f"unknown backbone {cfg.backbone!r}; available: {', '.join(sorted(_BACKBONES))}") from None
