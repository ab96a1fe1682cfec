"""NIMA (Talebi & Milanfar, 2018) aesthetic model trained on AVA human ratings, as a baseline scorer.

The weights are idealo's MobileNet NIMA (``../shared/models/nima_aesthetic``, Apache-2.0): a
MobileNet v1 (alpha 1.0) read from its Keras 2.1.6 HDF5 file into torch, then dropout and a dense
layer 1024 -> 10 with a softmax over the ratings 1-10; :meth:`NimaScorer.mean_rating` is the
distribution's mean. Keras conventions kept: every 3x3 convolution padded by 1 on each side
(``ZeroPadding2D`` then ``valid``), BatchNorm eps 1e-3, ReLU6, global average pooling; the input
is resized to 224 x 224 with nearest neighbour and scaled to ``x / 127.5 - 1``.

A whole-photo model: it is used to rank the crops of one photo only as a baseline (and is kept
out of the default path unless it helps held-out agreement). Needs ``torch`` and ``h5py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ModelLoadError, require

#: Output channels and strides of MobileNet v1's 13 depthwise-separable blocks.
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
          (512, 1), (512, 1), (1024, 2), (1024, 1))
WEIGHTS_NAME = "weights_mobilenet_aesthetic_0.07.hdf5"


def default_weights() -> Path:
    """``$PROCROP_SHARED/models/nima_aesthetic/...`` (default ``../shared`` beside the checkout)."""
    shared = Path(os.environ.get("PROCROP_SHARED", Path(__file__).resolve().parents[3] / "shared"))
    return shared / "models" / "nima_aesthetic" / WEIGHTS_NAME


def _build(weights: Path):  # noqa: ANN202 - a torch module
    torch = require("torch", "the NIMA baseline", "torch")
    h5py = require("h5py", "reading NIMA's Keras weights", "eval")
    nn = torch.nn
    try:
        f = h5py.File(weights, "r")
    except OSError as exc:
        raise ModelLoadError(f"{weights}: cannot read NIMA weights ({exc})") from None

    def get(layer: str, name: str) -> torch.Tensor:
        return torch.from_numpy(np.asarray(f[f"{layer}/{layer}/{name}:0"], dtype=np.float32))

    def bn(layer: str, ch: int) -> nn.BatchNorm2d:
        m = nn.BatchNorm2d(ch, eps=1e-3)
        m.weight.data, m.bias.data = get(layer, "gamma"), get(layer, "beta")
        m.running_mean.data, m.running_var.data = get(layer, "moving_mean"), get(layer, "moving_variance")
        return m

    def conv(layer: str, cin: int, cout: int, k: int, stride: int, groups: int = 1) -> nn.Conv2d:
        m = nn.Conv2d(cin, cout, k, stride, padding=k // 2, groups=groups, bias=False)
        name = "depthwise_kernel" if groups > 1 else "kernel"
        w = get(layer, name)  # keras (kh, kw, cin, cout) or depthwise (kh, kw, cin, 1)
        m.weight.data = w.permute(2, 3, 0, 1) if groups > 1 else w.permute(3, 2, 0, 1)
        return m

    layers: list[nn.Module] = [conv("conv1", 3, 32, 3, 2), bn("conv1_bn", 32), nn.ReLU6()]
    cin = 32
    for i, (cout, stride) in enumerate(BLOCKS, start=1):
        layers += [conv(f"conv_dw_{i}", cin, cin, 3, stride, groups=cin), bn(f"conv_dw_{i}_bn", cin), nn.ReLU6(),
                   conv(f"conv_pw_{i}", cin, cout, 1, 1), bn(f"conv_pw_{i}_bn", cout), nn.ReLU6()]
        cin = cout
    dense = nn.Linear(1024, 10)
    dense.weight.data = get("dense_1", "kernel").t().contiguous()
    dense.bias.data = get("dense_1", "bias")
    f.close()
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), dense, nn.Softmax(dim=1)).eval()


class NimaScorer:
    """Predicted AVA rating of an image: ``NimaScorer().mean_rating(pil_image)`` in [1, 10]."""

    def __init__(self, weights: str | os.PathLike | None = None) -> None:
        path = Path(weights) if weights else default_weights()
        if not path.is_file():
            raise ModelLoadError(f"{path}: no NIMA weights there (see ../shared/models/README.md)")
        self.net = _build(path)

    def distribution(self, images: list) -> np.ndarray:  # noqa: ANN001 - PIL images
        """``(N, 10)`` probabilities of the ratings 1-10."""
        import torch
        from PIL import Image

        batch = np.stack([np.asarray(im.convert("RGB").resize((224, 224), Image.NEAREST), np.float32)
                          for im in images]) / 127.5 - 1.0
        with torch.inference_mode():
            return self.net(torch.from_numpy(batch).permute(0, 3, 1, 2)).numpy()

    def mean_rating(self, image) -> float:  # noqa: ANN001 - a PIL image
        """The mean of the predicted rating distribution."""
        return float(self.distribution([image])[0] @ np.arange(1, 11))
