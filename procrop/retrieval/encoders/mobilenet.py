"""The ``mobilenet`` encoder family: the frozen ImageNet MobileNetV2's C5 map, pooled as ProCrop pools SAM's.

Owns :class:`MobileNetEncoder` (registered as ``mobilenet``) and its pooling (:func:`group_channels`,
:func:`mobilenet_tokens`, :func:`mobilenet_vector`). The weights ship with procrop
(``procrop/resources/models/mobilenet_v2_imagenet.npz``), so, unlike ``sam``, it needs no checkpoint.

Design (ProCrop's SAM pooling, scaled to a 3.5 M-parameter CNN):

* As ProCrop does for SAM, the photo is resized to the network's square input (256 x 256), and the
  output map -- here the 1280-channel C5 (stride 32: 8 x 8) -- is averaged over groups of adjacent
  channels (1280 / 64 = 20 per group, as SAM's 256 are averaged by 4) and viewed as **64 tokens x 64**:
  a token is a channel group, its 64 features that group's 8 x 8 spatial map. 517 photos take
  517 x 64 x 64 x 2 bytes = 4.2 MB of float16 tokens (SAM's 64 x 256 would take 17 MB).
* The retrieval term's crop grids pool the grouped ``(8, 8, 64)`` map over each crop window; a
  reference's grid is its tokens transposed (64 cells x 64 groups), so both sides hold the same
  channels.
* The search vector (D = 1280) joins two L2-normalised halves: *where* -- each group's map pooled to
  4 x 4 and centred over its cells (1024 values: the composition, whatever the overall level) -- and
  *what* -- the global average of the 1280 channels, averaged in groups of 5 (256 values: ImageNet
  content). 517 vectors take 2.6 MB (float32).
* The mirror vector comes from the mirrored photo run through the network in the same batch (a CNN
  is not mirror-equivariant, so flipping the feature map would not match a mirrored photo's own
  vector); it costs a second image in the batch.

Importing this module needs no torch (the registry imports every family to register it). By
default the frozen network runs through onnxruntime from the learned scorer's ``backbone.onnx``
(:data:`BACKBONE_ONNX`: the packaged float16-stored weights; its ``c5`` agrees with torch's to
float precision), so the bundled database works without torch and quickly; a converted
``checkpoint`` or a GPU ``device`` runs :mod:`.mobilenet_v2` in torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import UsageError
from ...imaging.load import LoadedImage
from .registry import GRID, Encoder, Encoding, pool_frame, register_encoder, require_torch

#: Side of the square network input: the C5 map is then exactly the 8 x 8 token grid.
INPUT_SIDE = 256
#: Channel groups (tokens), as ProCrop pools SAM's 256 channels to 64.
GROUPS = 64
#: Side of the coarse grid of the vector's *where* half.
VECTOR_GRID = 4
#: Channel groups of the vector's *what* half (1280 / 5).
CONTENT_GROUPS = 256
#: The frozen backbone as ONNX (uint8 ``images (1, 3, 256, 256)`` -> ``c3, c4, c5``), shipped with
#: the learned scorer; used when torch is not installed.
BACKBONE_ONNX = Path(__file__).resolve().parents[2] / "resources" / "models" / "learned" / "backbone.onnx"


class OnnxC5:
    """``c5`` maps of uint8 ``(B, 256, 256, 3)`` batches through :data:`BACKBONE_ONNX` (one image per run)."""

    def __init__(self, path: Path = BACKBONE_ONNX, threads: int = 1) -> None:
        from ...errors import ModelLoadError, require

        ort = require("onnxruntime", "the mobilenet encoder without torch", "base")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types
            raise ModelLoadError(f"{path}: cannot load the MobileNetV2 backbone ({exc})") from None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """``(B, 256, 256, 3)`` uint8 -> ``(B, 8, 8, 1280)`` float32."""
        out = [self.session.run(["c5"], {"images": np.ascontiguousarray(im.transpose(2, 0, 1)[None])})[0][0]
               for im in batch]
        return np.stack(out).transpose(0, 2, 3, 1)


def group_channels(fmap: np.ndarray, groups: int) -> np.ndarray:
    """Average ``(..., C)`` over ``groups`` runs of adjacent channels -> ``(..., groups)``."""
    c = fmap.shape[-1]
    per = c // groups
    return fmap[..., : groups * per].reshape(*fmap.shape[:-1], groups, per).mean(axis=-1)


def mobilenet_tokens(grouped: np.ndarray) -> np.ndarray:
    """A grouped ``(h, w, 64)`` map -> ``(64 tokens, 64)``: token ``g`` is group ``g``'s 8 x 8 map."""
    cells = pool_frame(np.ascontiguousarray(grouped, dtype=np.float32), GRID)  # (8, 8, G)
    return np.ascontiguousarray(cells.reshape(GRID * GRID, -1).T, dtype=np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else v * 0.0


def mobilenet_vector(c5: np.ndarray, grouped: np.ndarray) -> np.ndarray:
    """The search vector (see the module docstring) of a ``(h, w, 1280)`` C5 map and its grouped map."""
    coarse = pool_frame(np.ascontiguousarray(grouped, dtype=np.float32), VECTOR_GRID)  # (4, 4, G)
    where = coarse - coarse.mean(axis=(0, 1), keepdims=True)
    what = group_channels(c5.mean(axis=(0, 1)), CONTENT_GROUPS)
    vec = np.concatenate([_unit(where.transpose(2, 0, 1).ravel()), _unit(what)])
    return _unit(vec).astype(np.float32)


def search_vector(c5: np.ndarray) -> np.ndarray:
    """The search vector of a ``(h, w, 1280)`` C5 map (:func:`mobilenet_vector` of it and its groups)."""
    return mobilenet_vector(c5, group_channels(c5, GROUPS))


def square_input(pixels: np.ndarray) -> np.ndarray:
    """An RGB uint8 photo squashed to the network's ``(INPUT_SIDE, INPUT_SIDE, 3)`` input (area
    interpolation): the view of the photo every MobileNetV2 user in procrop shares."""
    import cv2

    return cv2.resize(pixels, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_AREA)


@register_encoder("mobilenet")
class MobileNetEncoder(Encoder):
    """Frozen ImageNet MobileNetV2 C5 features as 64 tokens x 64, a 1280-d vector and its mirror.

    Args:
        checkpoint: a converted MobileNetV2 ``.npz`` (default: the packaged weights).
        device: ``"cpu"``, ``"cuda"``... (default: CUDA when available).
        threads: torch intra-op threads while encoding (``0``: leave torch's setting alone).
        runtime: ``"torch"``, ``"onnx"`` (the packaged weights on the CPU) or ``"auto"`` (onnx,
            unless a ``checkpoint`` or a non-CPU ``device`` asks for torch).
    """

    name = "mobilenet"
    version = "mobilenet-v2-c5-1"
    dim = GROUPS * VECTOR_GRID * VECTOR_GRID + CONTENT_GROUPS
    token_shape = (GROUPS, GRID * GRID)
    load_side = INPUT_SIDE

    def __init__(self, checkpoint: str | None = None, device: str | None = None, threads: int = 0,
                 runtime: str = "auto") -> None:
        self.checkpoint = str(checkpoint) if checkpoint else ""
        self.threads = int(threads)
        if runtime == "auto":  # the packaged weights on the CPU: onnxruntime (faster, no torch needed)
            runtime = "torch" if (checkpoint or (device and device != "cpu")) else "onnx"
        if runtime == "onnx":
            if checkpoint:
                raise UsageError("the onnx runtime of the mobilenet encoder runs the packaged weights only")
            self.onnx: OnnxC5 | None = OnnxC5(threads=self.threads or 1)
            return
        torch = require_torch()
        from .mobilenet_v2 import load_pretrained

        self.onnx = None
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = load_pretrained(Path(checkpoint) if checkpoint else None, classifier=False).to(self.device)
        self.model.requires_grad_(False)

    def config(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint} if self.checkpoint else {}

    def c5_maps(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """C5 maps ``(8, 8, 1280)`` of an RGB uint8 photo and of its mirror image (one batch of two)."""
        rgb = square_input(pixels)
        batch = np.stack([rgb, rgb[:, ::-1]])
        if self.onnx is not None:
            maps = self.onnx(batch)
            return np.ascontiguousarray(maps[0]), np.ascontiguousarray(maps[1])
        torch = require_torch()
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                c5 = self.model.features(self.model.preprocess(batch))["c5"].float().cpu().numpy()
        finally:
            if self.threads:
                torch.set_num_threads(previous)
        maps = c5.transpose(0, 2, 3, 1)  # (2, 8, 8, 1280)
        return np.ascontiguousarray(maps[0]), np.ascontiguousarray(maps[1])

    def encode(self, image: LoadedImage, analysis=None) -> Encoding:
        c5, c5_mirror = self.c5_maps(image.pixels)
        grouped = group_channels(c5, GROUPS)
        return Encoding(
            vector=mobilenet_vector(c5, grouped),
            tokens=mobilenet_tokens(grouped),
            feature_map=np.ascontiguousarray(grouped, dtype=np.float32),
            flipped_vector=search_vector(c5_mirror),
        )

    @classmethod
    def grid_from_tokens(cls, tokens: np.ndarray) -> np.ndarray:
        """``(N, 64 groups, 64 cells)`` stored tokens -> ``(N, 64 cells, 64 groups)`` grids."""
        return np.ascontiguousarray(tokens.astype(np.float32).transpose(0, 2, 1))
