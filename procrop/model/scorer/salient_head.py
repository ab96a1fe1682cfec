"""The salient-object head: a light decoder over the frozen MobileNetV2 maps the learned scorer computes.

The learned scorer's backbone (:meth:`procrop.model.scorer.runtime.LearnedModel.backbone`) already turns
every photo (squashed to 256 x 256) into ``c3 (32, 32, 32)``, ``c4 (96, 16, 16)`` and
``c5 (1280, 8, 8)``. :class:`SalientHead` decodes them, top-down as a feature pyramid does, into
salient-object logits ``(1, 32, 32)`` over the same squashed frame: it was distilled from U²-Netp
masks (:mod:`procrop.training.scorer.saliency`) and ships as ONNX
(``procrop/resources/models/salient_head.onnx``, run by :mod:`procrop.perception.salient`).

About 0.21 M parameters (0.19 M in the first, plain design); torch is needed only to train and export it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Channels of the decoder.
WIDTH = 48
#: Side of the output map (the squashed frame at stride 8).
OUT_SIDE = 32


def build_head(width: int = WIDTH, norm: bool = True, extra: bool = True, dropout: float = 0.0) -> Any:
    """A fresh :class:`torch.nn.Module`: ``forward(c3, c4, c5) -> logits (N, 1, 32, 32)``.

    ``norm`` puts batch normalisation after every merge and 3 x 3 convolution (folded into the
    convolutions on export); ``extra`` adds one more 3 x 3 convolution at 32 x 32 before the output;
    ``dropout`` drops whole input channels of ``c3``/``c4``/``c5`` while training (none at inference).
    ``build_head(48, False, False)`` is the first shipped head (0.19 M parameters).
    """
    import torch
    from torch import nn
    import torch.nn.functional as F

    def bn() -> nn.Module:
        return nn.BatchNorm2d(width) if norm else nn.Identity()

    def conv3() -> nn.Module:
        return nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=not norm), bn(), nn.ReLU())

    class SalientHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l5 = nn.Conv2d(1280, width, 1)
            self.g5 = nn.Linear(1280, width)  # the whole photo's content, as context for every cell
            self.l4 = nn.Conv2d(96, width, 1)
            self.l3 = nn.Conv2d(32, width, 1)
            self.n5, self.n4, self.n3 = bn(), bn(), bn()
            self.m5, self.m4, self.m3 = conv3(), conv3(), conv3()
            self.x3 = conv3() if extra else nn.Identity()
            self.out = nn.Conv2d(width, 1, 3, padding=1)
            self.drop = nn.Dropout2d(dropout) if dropout else nn.Identity()

        def forward(self, c3: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor) -> torch.Tensor:
            c3, c4, c5 = self.drop(c3), self.drop(c4), self.drop(c5)
            g = self.g5(c5.mean(dim=(2, 3)))[:, :, None, None]
            x = self.m5(F.relu(self.n5(self.l5(c5) + g)))
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = self.m4(F.relu(self.n4(x + self.l4(c4))))
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = self.m3(F.relu(self.n3(x + self.l3(c3))))
            return self.out(self.x3(x))

    return SalientHead()


def export_onnx(model: Any, path: str | Path) -> None:
    """Write ``model`` as ONNX: inputs ``c3``, ``c4``, ``c5`` (float32, batch 1), output
    ``saliency (1, 1, 32, 32)`` in [0, 1] (the sigmoid is inside)."""
    import torch

    class WithSigmoid(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = model

        def forward(self, c3: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.head(c3, c4, c5))

    wrapped = WithSigmoid().eval()
    dummy = (torch.zeros(1, 32, 32, 32), torch.zeros(1, 96, 16, 16), torch.zeros(1, 1280, 8, 8))
    torch.onnx.export(wrapped, dummy, str(path), input_names=["c3", "c4", "c5"], output_names=["saliency"],
                      opset_version=17, dynamo=False)
