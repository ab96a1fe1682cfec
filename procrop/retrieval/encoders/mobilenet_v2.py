"""ImageNet-pretrained float MobileNetV2 1.0 (plain torch), converted from Google's quantised TFLite model.

The network lives here, in the retrieval layer, because two layers use it: the ``mobilenet`` reference
encoder (:mod:`.mobilenet`, this layer) and the neural model's ``mobilenet_v2`` backbone
(:mod:`procrop.model.shared.mobilenet` re-exports everything here and adds the backbone adapter); imports only
point down. Importing this module needs torch (the encoder family imports it lazily).

This module owns:

* :class:`MobileNetV2` -- the network with BatchNorm folded into the convolutions (every conv has a
  bias), ReLU6 activations and TensorFlow ``'SAME'`` padding reproduced exactly (asymmetric for the
  stride-2 convolutions: TF pads ``(0, 1)`` on an even side, ``(1, 1)`` on an odd side). ``forward``
  gives the 1001 ImageNet logits (index 0 is TF's "background" class, so class ``i`` of
  ``imagenet_labels.txt`` is logit ``i``); :meth:`MobileNetV2.features` gives the stride-4/8/16/32 maps
  for use as a detector/cropper backbone (ProCrop uses the C5 map, :attr:`MobileNetV2.num_channels`;
  the adapter is :class:`procrop.model.shared.mobilenet.C5Backbone`).
* :class:`InputNormalizer` -- the pixel normalisation the quantised model's input implies
  (``(pixel - zero_point) * scale`` with pixels in ``[0, 255]``, RGB).
* Loading the converted weights (``procrop/resources/models/mobilenet_v2_imagenet.npz``, built by
  ``tools/convert_mobilenet.py``): :meth:`MobileNetV2.from_file` and :func:`load_pretrained`. Nothing is
  read at import time; a missing or corrupt file raises :class:`procrop.errors.ModelLoadError` naming it.

The conversion (which TFLite file, how every tensor maps) is described in
``procrop/resources/models/MOBILENET_ATTRIBUTION.md`` and in the ``__metadata__`` entry of the npz.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ModelLoadError

__all__ = [
    "ARCH_SETTINGS",
    "DEFAULT_WEIGHTS",
    "FEATURE_STRIDES",
    "InputNormalizer",
    "MobileNetV2",
    "conv_specs",
    "default_weights_path",
    "load_pretrained",
    "read_weights",
]

# (expansion t, output channels c, repeats n, first stride s) -- MobileNetV2 1.0 (Sandler et al. 2018).
ARCH_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
NUM_CLASSES = 1001  # TF slim layout: 0 = background, 1..1000 = ImageNet-1k
LAST_CHANNELS = 1280
# feature name -> (index of the last inverted-residual block included, stride); "c5" is the 1280-ch head.
_FEATURE_BLOCKS = {"c2": 2, "c3": 5, "c4": 12, "c5_320": 16}
FEATURE_STRIDES = {"c2": 4, "c3": 8, "c4": 16, "c5_320": 32, "c5": 32}
FEATURE_CHANNELS = {"c2": 24, "c3": 32, "c4": 96, "c5_320": 320, "c5": LAST_CHANNELS}

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "resources" / "models" / "mobilenet_v2_imagenet.npz"
METADATA_KEY = "__metadata__"


def tf_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``'SAME'`` padding ``(before, after)`` of one spatial side.

    >>> tf_same_pads(224, 3, 2), tf_same_pads(225, 3, 2), tf_same_pads(7, 3, 1)
    ((0, 1), (1, 1), (1, 1))
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class ConvSame(nn.Conv2d):
    """``Conv2d`` (with bias: BatchNorm is folded in) using TF ``'SAME'`` padding, then ReLU6 or nothing.

    Stride-1 odd kernels pad symmetrically inside the convolution; stride-2 ones pad explicitly per input
    size, so odd and even sizes match TF. Output side = ``ceil(input side / stride)``.
    """

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, relu6: bool = True
    ):
        symmetric = stride == 1 and kernel % 2 == 1
        super().__init__(
            cin, cout, kernel, stride, padding=(kernel - 1) // 2 if symmetric else 0, groups=groups
        )
        self.dynamic_pad = not symmetric
        self.relu6 = relu6

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self.dynamic_pad:
            top, bottom = tf_same_pads(int(x.shape[-2]), self.kernel_size[0], self.stride[0])
            left, right = tf_same_pads(int(x.shape[-1]), self.kernel_size[1], self.stride[1])
            if top or bottom or left or right:
                x = F.pad(x, (left, right, top, bottom))
        x = super().forward(x)
        return F.relu6(x) if self.relu6 else x


class InvertedResidual(nn.Module):
    """Expand 1x1 (ReLU6, absent when t = 1) -> depthwise 3x3 (ReLU6) -> linear project 1x1, + skip."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.expand = ConvSame(cin, hidden, 1) if expansion != 1 else None
        self.depthwise = ConvSame(hidden, hidden, 3, stride, groups=hidden)
        self.project = ConvSame(hidden, cout, 1, relu6=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class InputNormalizer(nn.Module):
    """``(pixels - zero_point) * scale`` for RGB pixels in ``[0, 255]``, shape ``(B, 3, H, W)``.

    The defaults are those of the quantised input of ``mobilenet_v2_1.0_224_quant.tflite`` (the packaged
    weights' source: uint8, scale 1/128, zero point 128, i.e. ``x / 128 - 1``, within 0.4 % of the
    ``x / 127.5 - 1`` of the float training graph); :meth:`MobileNetV2.from_file` sets the values recorded
    in the weights file.
    """

    def __init__(self, zero_point: float = 128.0, scale: float = 1.0 / 128.0) -> None:
        super().__init__()
        self.register_buffer("zero_point", torch.tensor(float(zero_point)))
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels.float() - self.zero_point) * self.scale


class MobileNetV2(nn.Module):
    """MobileNetV2 1.0 with folded BatchNorm, TF 'SAME' padding and ReLU6 (3.5 M parameters).

    ``forward(x)`` takes a *normalised* float batch ``(B, 3, H, W)`` (see :attr:`normalizer` /
    :meth:`preprocess`) and returns logits ``(B, 1001)``; the pretrained weights were made for
    224x224 but any size >= 1 works (global average pooling). ``num_channels``/``out_channels`` give
    the channels of the C5 map used as a cropper backbone.
    """

    num_channels = LAST_CHANNELS
    out_channels = LAST_CHANNELS
    feature_channels: ClassVar[dict[str, int]] = dict(FEATURE_CHANNELS)
    feature_strides: ClassVar[dict[str, int]] = dict(FEATURE_STRIDES)

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.normalizer = InputNormalizer()
        self.stem = ConvSame(3, 32, 3, 2)
        blocks, cin = [], 32
        for t, c, n, s in ARCH_SETTINGS:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.ModuleList(blocks)
        self.head = ConvSame(cin, LAST_CHANNELS, 1)
        self.classifier = nn.Linear(LAST_CHANNELS, num_classes) if num_classes else None
        self.metadata: dict[str, Any] = {}

    def preprocess(self, pixels: torch.Tensor | np.ndarray) -> torch.Tensor:
        """RGB pixels in ``[0, 255]`` -- a ``(B, 3, H, W)`` tensor, or a ``(H, W, 3)`` / ``(B, H, W, 3)``
        uint8 array -- to the normalised ``(B, 3, H, W)`` float tensor ``forward`` expects."""
        if isinstance(pixels, np.ndarray):
            arr = pixels[None] if pixels.ndim == 3 else pixels
            pixels = torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))
        return self.normalizer(pixels.to(self.normalizer.scale.device))

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Feature maps of a normalised batch ``(B, 3, H, W)``; side ``s`` below means ``ceil(H / s)`` x
        ``ceil(W / s)`` (TF SAME padding), e.g. 224x224 -> 56, 28, 14, 7 and 225x301 -> 57x76, 29x38,
        15x19, 8x10.

        * ``"c2"``: ``(B, 24, H/4, W/4)``  -- after block 2 (stride 4)
        * ``"c3"``: ``(B, 32, H/8, W/8)``  -- after block 5 (stride 8)
        * ``"c4"``: ``(B, 96, H/16, W/16)`` -- after block 12 (stride 16)
        * ``"c5_320"``: ``(B, 320, H/32, W/32)`` -- after the last block, before the head conv
        * ``"c5"``: ``(B, 1280, H/32, W/32)`` -- the 1x1 head conv + ReLU6 (input of the classifier)
        """
        out: dict[str, torch.Tensor] = {}
        taps = {idx: name for name, idx in _FEATURE_BLOCKS.items()}
        x = self.stem(x)
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in taps:
                out[taps[i]] = x
        out["c5"] = self.head(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 1001)`` of a normalised batch ``(B, 3, H, W)``."""
        if self.classifier is None:
            raise RuntimeError("this MobileNetV2 was built without a classifier (num_classes=0)")
        c5 = self.features(x)["c5"]
        return self.classifier(c5.mean(dim=(2, 3)))

    @classmethod
    def from_file(cls, path: str | Path | None = None, *, classifier: bool = True) -> MobileNetV2:
        """Build the network and load converted weights from an ``.npz`` (the packaged file by default).

        Raises :class:`ModelLoadError` (naming the file) when it is missing, unreadable or does not match.
        """
        path = Path(path) if path is not None else default_weights_path()
        arrays, meta = read_weights(path)
        model = cls(num_classes=NUM_CLASSES if classifier else 0)
        if not classifier:
            arrays = {k: v for k, v in arrays.items() if not k.startswith("classifier.")}
        _load_arrays(model, arrays, path)
        norm = meta.get("input_normalization", {})
        model.normalizer.zero_point.fill_(float(norm.get("zero_point", 128.0)))
        model.normalizer.scale.fill_(float(norm.get("scale", 1.0 / 128.0)))
        model.metadata = meta
        return model.eval()


def conv_specs(model: MobileNetV2) -> list[tuple[str, ConvSame]]:
    """Every convolution in graph order (the order of the TFLite CONV_2D/DEPTHWISE_CONV_2D ops), with
    its parameter prefix. The converter maps tensors with this list."""
    specs = [("stem", model.stem)]
    for i, block in enumerate(model.blocks):
        for part in ("expand", "depthwise", "project"):
            conv = getattr(block, part)
            if conv is not None:
                specs.append((f"blocks.{i}.{part}", conv))
    specs.append(("head", model.head))
    return specs


def default_weights_path() -> Path:
    """The packaged weights: ``procrop/resources/models/mobilenet_v2_imagenet.npz``."""
    return DEFAULT_WEIGHTS


def read_weights(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a converted ``.npz``: float arrays by torch parameter name, and the JSON metadata."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(
            f"{path}: MobileNetV2 weights file not found (rebuild it with tools/convert_mobilenet.py)"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files if k != METADATA_KEY}
            meta = json.loads(str(npz[METADATA_KEY].reshape(-1)[0])) if METADATA_KEY in npz.files else {}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ModelLoadError(
            f"{path}: cannot read MobileNetV2 weights ({type(exc).__name__}: {exc})"
        ) from exc
    if not arrays:
        raise ModelLoadError(f"{path}: contains no MobileNetV2 weight arrays")
    return arrays, meta


def _load_arrays(model: nn.Module, arrays: dict[str, np.ndarray], path: Path) -> None:
    params = dict(model.named_parameters())
    missing = sorted(set(params) - set(arrays))
    unexpected = sorted(set(arrays) - set(params))
    if missing or unexpected:
        raise ModelLoadError(
            f"{path}: weights do not match MobileNetV2 (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    with torch.no_grad():
        for name, p in params.items():
            arr = arrays[name]
            if tuple(arr.shape) != tuple(p.shape):
                raise ModelLoadError(
                    f"{path}: {name} has shape {tuple(arr.shape)}, expected {tuple(p.shape)}"
                )
            if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
                raise ModelLoadError(f"{path}: {name} is not a finite float array")
            p.copy_(torch.from_numpy(arr.astype(np.float32)))


def load_pretrained(path: str | Path | None = None, *, classifier: bool = True) -> MobileNetV2:
    """The ImageNet-pretrained MobileNetV2 in eval mode (reads the weights now, not at import)."""
    return MobileNetV2.from_file(path, classifier=classifier)
