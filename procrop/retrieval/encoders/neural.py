"""Pretrained-network encoders for the reference database: SAM ViT (as ProCrop), CLIP, DINOv2.

None of these weights ship with procrop or download by themselves offline:

* ``sam``: segment-anything's ViT image encoder, written here in plain torch, loading the
  official checkpoint layout (``sam_vit_b_01ec64.pth``: keys ``image_encoder.*``, or a bare
  image-encoder state dict). The architecture (width, depth, heads, window size, global-attention
  blocks) is read off the checkpoint's tensor shapes, so ViT-B/L/H and small test models all load.
  As in ProCrop the photo is resized to the encoder's square input, the ``256 x 64 x 64`` output is
  pooled by 4 along channels, height and width, and viewed as **64 tokens x 256**; the vector is
  those 16,384 values, L2-normalised.
* ``clip`` and ``dinov2``: Hugging Face ``transformers`` vision models from a local folder or a hub
  id (offline, a hub id fails with a message that says so). Tokens are the patch features pooled to
  8x8 (64 tokens x hidden size); the vector is the normalised pooled output.

Needs the extras ``procrop[torch]`` (SAM) or ``procrop[encoders]`` (CLIP/DINOv2).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelLoadError, require
from ...imaging.load import LoadedImage, load_image
from .layout import GRID, Encoder, Encoding, pool_frame, register_encoder


def _torch():
    return require("torch", "the SAM/CLIP/DINOv2 encoders", "torch")


def _load_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    torch = _torch()
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


# --------------------------------------------------------------------------------------------
# SAM ViT image encoder (plain torch)
# --------------------------------------------------------------------------------------------


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
    """The SAM ViT image encoder as a ``torch.nn.Module`` (ViT-B defaults).

    Input ``(B, 3, img_size, img_size)`` normalised with SAM's pixel mean/std; output
    ``(B, out_chans, img_size/patch, img_size/patch)``.
    """
    torch = _torch()
    nn = torch.nn
    F = torch.nn.functional

    def get_rel_pos(q_size: int, k_size: int, rel_pos):
        max_dist = int(2 * max(q_size, k_size) - 1)
        if rel_pos.shape[0] != max_dist:
            rel_pos = F.interpolate(
                rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1), size=max_dist, mode="linear"
            ).reshape(-1, max_dist).permute(1, 0)
        q_coords = torch.arange(q_size)[:, None] * max(k_size / q_size, 1.0)
        k_coords = torch.arange(k_size)[None, :] * max(q_size / k_size, 1.0)
        rel = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
        return rel_pos[rel.long()]

    class LayerNorm2d(nn.Module):
        def __init__(self, channels: int, eps: float = 1e-6) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))
            self.eps = eps

        def forward(self, x):
            u = x.mean(1, keepdim=True)
            s = (x - u).pow(2).mean(1, keepdim=True)
            x = (x - u) / torch.sqrt(s + self.eps)
            return self.weight[:, None, None] * x + self.bias[:, None, None]

    class Attention(nn.Module):
        def __init__(self, dim: int, heads: int, size: int) -> None:
            super().__init__()
            self.heads = heads
            self.scale = (dim // heads) ** -0.5
            self.qkv = nn.Linear(dim, dim * 3, bias=True)
            self.proj = nn.Linear(dim, dim)
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * size - 1, dim // heads))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * size - 1, dim // heads))

        def forward(self, x):
            B, H, W, _ = x.shape
            qkv = self.qkv(x).reshape(B, H * W, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.reshape(3, B * self.heads, H * W, -1).unbind(0)
            attn = (q * self.scale) @ k.transpose(-2, -1)
            rh = get_rel_pos(H, H, self.rel_pos_h)
            rw = get_rel_pos(W, W, self.rel_pos_w)
            r_q = q.reshape(B * self.heads, H, W, -1)
            rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, rh)
            rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, rw)
            attn = (attn.view(-1, H, W, H, W) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]).view(
                -1, H * W, H * W
            )
            attn = attn.softmax(dim=-1)
            out = (attn @ v).view(B, self.heads, H, W, -1).permute(0, 2, 3, 1, 4).reshape(B, H, W, -1)
            return self.proj(out)

    class MLP(nn.Module):
        def __init__(self, dim: int, hidden: int) -> None:
            super().__init__()
            self.lin1 = nn.Linear(dim, hidden)
            self.lin2 = nn.Linear(hidden, dim)

        def forward(self, x):
            return self.lin2(F.gelu(self.lin1(x)))

    class Block(nn.Module):
        def __init__(self, dim: int, heads: int, window: int, grid: int) -> None:
            super().__init__()
            self.window = window
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            self.attn = Attention(dim, heads, window if window > 0 else grid)
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.mlp = MLP(dim, int(dim * mlp_ratio))

        def forward(self, x):
            shortcut = x
            x = self.norm1(x)
            if self.window > 0:
                H, W = x.shape[1], x.shape[2]
                x, padded = _window_partition(x, self.window)
                x = self.attn(x)
                x = _window_unpartition(x, self.window, padded, (H, W))
            else:
                x = self.attn(x)
            x = shortcut + x
            return x + self.mlp(self.norm2(x))

    def _window_partition(x, ws: int):
        B, H, W, C = x.shape
        ph, pw = (ws - H % ws) % ws, (ws - W % ws) % ws
        if ph or pw:
            x = F.pad(x, (0, 0, 0, pw, 0, ph))
        Hp, Wp = H + ph, W + pw
        x = x.view(B, Hp // ws, ws, Wp // ws, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws, ws, C)
        return x, (Hp, Wp)

    def _window_unpartition(x, ws: int, padded, hw):
        Hp, Wp = padded
        H, W = hw
        B = x.shape[0] // (Hp * Wp // ws // ws)
        x = x.view(B, Hp // ws, Wp // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5).reshape(B, Hp, Wp, -1)
        return x[:, :H, :W, :].contiguous()

    class PatchEmbed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

        def forward(self, x):
            return self.proj(x).permute(0, 2, 3, 1)

    class ImageEncoderViT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            grid = img_size // patch_size
            self.img_size = img_size
            self.patch_embed = PatchEmbed()
            self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, embed_dim))
            self.blocks = nn.ModuleList(
                [
                    Block(embed_dim, num_heads, 0 if i in global_attn_indexes else window_size, grid)
                    for i in range(depth)
                ]
            )
            self.neck = nn.Sequential(
                nn.Conv2d(embed_dim, out_chans, kernel_size=1, bias=False),
                LayerNorm2d(out_chans),
                nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
                LayerNorm2d(out_chans),
            )

        def forward(self, x):
            x = self.patch_embed(x) + self.pos_embed
            for blk in self.blocks:
                x = blk(x)
            return self.neck(x.permute(0, 3, 1, 2))

    return ImageEncoderViT()


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
        torch = _torch()
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

        torch = _torch()
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


# --------------------------------------------------------------------------------------------
# Hugging Face vision transformers
# --------------------------------------------------------------------------------------------


class _HFEncoder(Encoder):
    model_kind = ""
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)

    def __init__(self, checkpoint: str | None = None, device: str | None = None) -> None:
        if not checkpoint:
            raise ModelLoadError(
                f"the {self.name} encoder needs checkpoint=PATH (a local model folder) or a hub id"
            )
        torch = _torch()
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

        torch = _torch()
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
