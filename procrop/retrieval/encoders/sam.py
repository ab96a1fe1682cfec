"""The ``sam`` encoder family: segment-anything's ViT image encoder, pooled as ProCrop does.

Owns :class:`SamEncoder` (registered as ``sam``), reading the architecture off a checkpoint
(:func:`sam_config_from_state_dict`), building the network (:func:`build_sam_image_encoder`; the
modules themselves are in :mod:`.sam_vit`) and ProCrop's token pooling.

The weights do not ship with procrop and are never downloaded: pass the official checkpoint
(``sam_vit_b_01ec64.pth``: keys ``image_encoder.*``, or a bare image-encoder state dict). The
architecture (width, depth, heads, window size, global-attention blocks) is read off the
checkpoint's tensor shapes, so ViT-B/L/H and small test models all load. As in ProCrop the photo
is resized to the encoder's square input, the ``256 x 64 x 64`` output is pooled by 4 along
channels, height and width, and viewed as **64 tokens x 256**; the vector is those 16,384 values,
L2-normalised.

Importing this module needs no torch (the registry imports it to register ``sam``; the class
methods that read stored tokens work without torch); building the network needs the extra
``procrop[torch]``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelLoadError
from ...imaging.load import LoadedImage, load_image
from .registry import GRID, Encoder, Encoding, pool_frame, register_encoder, require_torch


def _load_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    torch = require_torch()
    p = Path(path)
    if not p.exists():
        raise ModelLoadError(
            f"{p}: no such checkpoint. procrop never downloads weights by itself; download "
            "the file where you have network access and pass its path"
        )
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(p))
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(f"{p}: cannot read checkpoint: {exc}") from exc
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise ModelLoadError(f"{p}: not a state dict")
    return obj


def build_sam_image_encoder(
    embed_dim: int = 768,
    depth: int = 12,
    num_heads: int = 12,
    patch_size: int = 16,
    img_size: int = 1024,
    out_chans: int = 256,
    window_size: int = 14,
    global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11),
    mlp_ratio: float = 4.0,
):
    """The SAM ViT image encoder as a ``torch.nn.Module`` (ViT-B defaults; see
    :class:`procrop.retrieval.encoders.sam_vit.ImageEncoderViT`).

    Input ``(B, 3, img_size, img_size)`` normalised with SAM's pixel mean/std; output
    ``(B, out_chans, img_size/patch, img_size/patch)``.
    """
    require_torch()
    from .sam_vit import ImageEncoderViT

    return ImageEncoderViT(
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        patch_size=patch_size,
        img_size=img_size,
        out_chans=out_chans,
        window_size=window_size,
        global_attn_indexes=global_attn_indexes,
        mlp_ratio=mlp_ratio,
    )


def sam_config_from_state_dict(sd: dict[str, Any]) -> dict[str, Any]:
    """Read the SAM encoder's architecture off its tensor shapes."""
    try:
        patch_w = sd["patch_embed.proj.weight"]
        embed_dim, _, patch, _ = patch_w.shape
        grid = sd["pos_embed"].shape[1]
        depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
        head_dim = sd["blocks.0.attn.rel_pos_h"].shape[1]
        out_chans = sd["neck.0.weight"].shape[0]
        hidden = sd["blocks.0.mlp.lin1.weight"].shape[0]
        sizes = [(sd[f"blocks.{i}.attn.rel_pos_h"].shape[0] + 1) // 2 for i in range(depth)]
    except (KeyError, IndexError, ValueError) as exc:
        raise ModelLoadError(f"not a SAM image-encoder state dict (missing {exc})") from exc
    windowed = [s for s in sizes if s != grid]
    return {
        "embed_dim": int(embed_dim),
        "depth": int(depth),
        "num_heads": int(embed_dim // head_dim),
        "patch_size": int(patch),
        "img_size": int(grid * patch),
        "out_chans": int(out_chans),
        "window_size": int(windowed[0]) if windowed else 0,
        "global_attn_indexes": tuple(i for i, s in enumerate(sizes) if s == grid),
        "mlp_ratio": hidden / embed_dim,
    }


def _sam_tokens(features: np.ndarray, token_side: int = 16, max_tokens: int = 64) -> np.ndarray:
    """ProCrop's pooling: ``(C, H, W)`` -> ``(min(C, 64), token_side**2)`` by averaging channel
    groups and spatial cells (for ViT-B: 256x64x64 -> 64 tokens x 256)."""
    c = features.shape[0]
    groups = min(c, max_tokens)
    per = c // groups
    grouped = features[: groups * per].reshape(groups, per, *features.shape[1:]).mean(axis=1)
    pooled = pool_frame(np.ascontiguousarray(grouped.transpose(1, 2, 0), dtype=np.float32), token_side)
    return pooled.reshape(token_side * token_side, groups).T.astype(np.float32)


@register_encoder("sam")
class SamEncoder(Encoder):
    """SAM ViT image-encoder embeddings, pooled as ProCrop does (see the module docstring).

    Args:
        checkpoint: a SAM checkpoint (``sam_vit_b_01ec64.pth``) or an image-encoder state dict.
        device: ``"cpu"``, ``"cuda"``... (default: CUDA when available).
    """

    name = "sam"
    version = "sam-vit-procrop-1"

    def __init__(self, checkpoint: str | None = None, device: str | None = None) -> None:
        if not checkpoint:
            raise ModelLoadError(
                "the sam encoder needs checkpoint=PATH to a segment-anything checkpoint "
                "(e.g. sam_vit_b_01ec64.pth); nothing is downloaded automatically"
            )
        torch = require_torch()
        sd = _load_state_dict(checkpoint)
        if any(k.startswith("image_encoder.") for k in sd):
            sd = {k[len("image_encoder.") :]: v for k, v in sd.items() if k.startswith("image_encoder.")}
        self.arch = sam_config_from_state_dict(sd)
        model = build_sam_image_encoder(**self.arch)
        missing, unexpected = model.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise ModelLoadError(
                f"{checkpoint}: state dict does not match the SAM encoder "
                f"(missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]})"
            )
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.eval().to(self.device)
        self.checkpoint = str(checkpoint)
        groups = min(self.arch["out_chans"], 64)
        self.token_shape = (groups, 256)
        self.dim = groups * 256

    def config(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint}

    def _features(self, image: LoadedImage) -> np.ndarray:
        import cv2

        torch = require_torch()
        size = self.arch["img_size"]
        rgb = cv2.resize(image.pixels, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        mean = np.asarray([123.675, 116.28, 103.53], np.float32)
        std = np.asarray([58.395, 57.12, 57.375], np.float32)
        x = torch.from_numpy(((rgb - mean) / std).transpose(2, 0, 1)[None].copy()).to(self.device)
        with torch.inference_mode():
            return self.model(x)[0].float().cpu().numpy()

    def encode(self, image: LoadedImage, analysis=None) -> Encoding:
        if max(image.pixels.shape[:2]) < self.arch["img_size"] and image.path:
            image = load_image(image.path, max_side=self.arch["img_size"])
        feats = self._features(image)  # (C, g, g)
        tokens = _sam_tokens(feats)
        vector = tokens.ravel() / max(float(np.linalg.norm(tokens)), 1e-9)
        flipped = _sam_tokens(feats[:, :, ::-1].copy()).ravel()
        return Encoding(
            vector=vector.astype(np.float32),
            tokens=tokens,
            feature_map=np.ascontiguousarray(feats.transpose(1, 2, 0)),
            flipped_vector=(flipped / max(float(np.linalg.norm(flipped)), 1e-9)).astype(np.float32),
        )

    @classmethod
    def grid_from_tokens(cls, tokens: np.ndarray) -> np.ndarray:
        # (N, G, 16*16) channel-group tokens -> (N, 64 cells, G channels)
        n, g, s2 = tokens.shape
        side = int(round(math.sqrt(s2)))
        maps = tokens.astype(np.float32).reshape(n, g, side, side)
        k = side // GRID
        cells = maps.reshape(n, g, GRID, k, GRID, k).mean(axis=(3, 5))
        return cells.reshape(n, g, GRID * GRID).transpose(0, 2, 1)

    def crop_grids(self, encoding: Encoding, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        grids = super().crop_grids(encoding, boxes, width, height)  # (N, 64, C)
        c = grids.shape[2]
        groups = min(c, 64)
        per = c // groups
        return grids[:, :, : groups * per].reshape(len(grids), GRID * GRID, groups, per).mean(axis=3)
