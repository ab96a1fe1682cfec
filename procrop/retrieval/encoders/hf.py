"""The ``clip`` and ``dinov2`` encoder families: Hugging Face ``transformers`` vision models.

Owns :class:`ClipEncoder` (``CLIPVisionModel``) and :class:`Dinov2Encoder` (``Dinov2Model``),
registered as ``clip`` and ``dinov2``. Weights come from a local folder, or a hub id already in the
local Hugging Face cache (nothing is downloaded, and nothing ships with procrop). Tokens are the patch features
pooled to 8x8 (64 tokens x hidden size); the vector is the normalised pooled output.

Importing this module needs neither torch nor transformers; creating an encoder needs the extra
``procrop[encoders]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ModelLoadError, require
from ...imaging.load import LoadedImage
from .registry import GRID, Encoder, Encoding, pool_frame, register_encoder, require_torch


class _HFEncoder(Encoder):
    model_kind = ""
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)

    def __init__(self, checkpoint: str | None = None, device: str | None = None) -> None:
        if not checkpoint:
            raise ModelLoadError(
                f"the {self.name} encoder needs checkpoint=PATH (a local model folder)"
            )
        torch = require_torch()
        transformers = require("transformers", f"the {self.name} encoder", "encoders")
        from ...pretrained import from_pretrained

        model = from_pretrained(getattr(transformers, self.model_kind).from_pretrained, checkpoint, f"{self.name} weights")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.eval().to(self.device)
        self.checkpoint = str(checkpoint)
        cfg = model.config
        self.image_size = int(getattr(cfg, "image_size", 224))
        self.patch_size = int(getattr(cfg, "patch_size", 16))
        hidden = int(cfg.hidden_size)
        self.dim = hidden
        self.token_shape = (GRID * GRID, hidden)

    def config(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint}

    def encode(self, image: LoadedImage, analysis=None) -> Encoding:
        import cv2

        torch = require_torch()
        s = self.image_size
        rgb = cv2.resize(image.pixels, (s, s), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        x = (rgb - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        pixel_values = torch.from_numpy(x.transpose(2, 0, 1)[None].copy()).to(self.device)
        with torch.inference_mode():
            out = self.model(pixel_values=pixel_values)
        hidden = out.last_hidden_state[0].float().cpu().numpy()  # (1 + P, H)
        g = s // self.patch_size
        patches = hidden[1 : 1 + g * g].reshape(g, g, -1)
        pooled = out.pooler_output[0].float().cpu().numpy() if out.pooler_output is not None else hidden[0]
        tokens = pool_frame(patches.astype(np.float32), GRID).reshape(GRID * GRID, -1)
        vector = pooled / max(float(np.linalg.norm(pooled)), 1e-9)
        return Encoding(vector.astype(np.float32), tokens, np.ascontiguousarray(patches, dtype=np.float32))


@register_encoder("clip")
class ClipEncoder(_HFEncoder):
    """CLIP vision tower (``CLIPVisionModel``)."""

    name = "clip"
    version = "clip-vision-1"
    model_kind = "CLIPVisionModel"
    mean = (0.48145466, 0.4578275, 0.40821073)
    std = (0.26862954, 0.26130258, 0.27577711)


@register_encoder("dinov2")
class Dinov2Encoder(_HFEncoder):
    """DINOv2 (``Dinov2Model``)."""

    name = "dinov2"
    version = "dinov2-1"
    model_kind = "Dinov2Model"
