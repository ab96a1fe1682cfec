"""Image and conditioning inputs of the network: resizing, normalisation, padding, references, text.

* Resize so the short side is ``short`` (train: drawn from ``train_short``; test: ``test_short``)
  and the long side at most ``max_long``.
* Normalise per image and per channel to [0, 1] by min-max (ProCrop) or by ImageNet mean/std.
* Pad: centred on a fixed ``canvas`` (needed by the ``mix`` fusion), or top-left to the largest
  image of the batch. ``mask`` is True on padding; ``rects`` holds each image's rectangle.
* References: the top-k reference-database tokens for the image (the image itself and, for weak
  labels, its source photo excluded); text: token ids of :func:`procrop.perception.describe.describe`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .config import ModelConfig

IMAGENET_MEAN = np.asarray([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.asarray([0.229, 0.224, 0.225], np.float32)


def resize_short(rgb: np.ndarray, short: int, max_long: int, fit: tuple[int, int] | None = None) -> tuple[np.ndarray, float]:
    """Resize so the short side is ``short`` and the long side at most ``max_long`` (and, with
    ``fit = (W, H)``, within that size); returns the image and the scale (new / old)."""
    h, w = rgb.shape[:2]
    k = short / min(h, w)
    if max(h, w) * k > max_long:
        k = max_long / max(h, w)
    if fit is not None:
        k = min(k, fit[0] / w, fit[1] / h)
    nh, nw = max(1, round(h * k)), max(1, round(w * k))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, (nw, nh), interpolation=interp), k


def normalise(rgb: np.ndarray, mode: str) -> np.ndarray:
    """``(h, w, 3)`` uint8 -> ``(3, h, w)`` float32."""
    x = rgb.astype(np.float32) / 255.0
    if mode == "minmax":
        lo = x.reshape(-1, 3).min(axis=0)
        hi = x.reshape(-1, 3).max(axis=0)
        x = (x - lo) / (hi - lo + 1e-5)
    else:
        x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))


@dataclass
class Batch:
    images: torch.Tensor  # (B, 3, H, W)
    mask: torch.Tensor  # (B, H, W) True on padding
    rects: torch.Tensor  # (B, 4) x, y, w, h in input pixels
    refs: torch.Tensor | None = None  # (B, k, T, F)
    ref_mask: torch.Tensor | None = None  # (B, k)
    text_ids: torch.Tensor | None = None  # (B, L)

    def to(self, device: torch.device | str) -> Batch:
        def mv(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return Batch(self.images.to(device), self.mask.to(device), self.rects.to(device), mv(self.refs),
                     mv(self.ref_mask), mv(self.text_ids))


def pad_batch(arrays: list[np.ndarray], canvas: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack ``(3, h, w)`` arrays into a padded batch: centred on a ``canvas x canvas`` (or
    ``(W, H)``) input when given, else top-left on the batch's largest size."""
    if isinstance(canvas, tuple):
        W, H = canvas
    elif canvas > 0:
        H = W = canvas
    else:
        H = max(a.shape[1] for a in arrays)
        W = max(a.shape[2] for a in arrays)
        H, W = -(-H // 32) * 32, -(-W // 32) * 32  # whole feature cells
    images = torch.zeros(len(arrays), 3, H, W)
    mask = torch.ones(len(arrays), H, W, dtype=torch.bool)
    rects = torch.zeros(len(arrays), 4)
    for i, a in enumerate(arrays):
        h, w = a.shape[1:]
        if h > H or w > W:
            raise ValueError(f"image {w}x{h} does not fit the {W}x{H} canvas")
        y0, x0 = ((H - h) // 2, (W - w) // 2) if (isinstance(canvas, tuple) or canvas > 0) else (0, 0)
        images[i, :, y0 : y0 + h, x0 : x0 + w] = torch.from_numpy(a)
        mask[i, y0 : y0 + h, x0 : x0 + w] = False
        rects[i] = torch.tensor([x0, y0, w, h], dtype=torch.float32)
    return images, mask, rects


def boxes_to_input_pixels(boxes_norm_xyxy: torch.Tensor, rects: torch.Tensor, batch_index: torch.Tensor) -> torch.Tensor:
    """Normalised (to each image's rectangle) ``x1, y1, x2, y2`` -> input pixels."""
    r = rects[batch_index]
    scale = torch.stack([r[:, 2], r[:, 3], r[:, 2], r[:, 3]], dim=1)
    offset = torch.stack([r[:, 0], r[:, 1], r[:, 0], r[:, 1]], dim=1)
    return boxes_norm_xyxy * scale + offset


class Conditioner:
    """Reference tokens and description ids for an image, as the network expects them.

    Args:
        cfg: the model configuration (``k_refs``, ``ref_tokens``, ``ref_dim``, ``text_len``).
        reference_db: database path, ``"default"`` (bundled) or ``None``.
    """

    def __init__(self, cfg: ModelConfig, reference_db: str | None = "default") -> None:
        self.cfg = cfg
        self.retriever = None
        if cfg.retrieval != "none" and reference_db not in (None, "none"):
            from ...errors import ModelLoadError
            from ...retrieval.references import ReferenceRetriever, bundled_db_path

            path = bundled_db_path() if reference_db == "default" else reference_db
            if path is None:
                raise ModelLoadError("no bundled reference database in this installation; pass one")
            self.retriever = ReferenceRetriever(path, k=cfg.k_refs + 2)
            shape = tuple(self.retriever.db.encoder_info["token_shape"])
            if shape != (cfg.ref_tokens, cfg.ref_dim):
                raise ModelLoadError(
                    f"reference database {path} has tokens {shape}, the model expects "
                    f"({cfg.ref_tokens}, {cfg.ref_dim}): use the database the model was trained with, or for "
                    "a new run one built with procrop index build's default (mobilenet) encoder"
                )

    def empty(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """No references (all missing) and an empty description: what a network that uses
        neither receives."""
        cfg = self.cfg
        return (np.zeros((cfg.k_refs, cfg.ref_tokens, cfg.ref_dim), np.float32), np.ones(cfg.k_refs, dtype=bool),
                np.zeros(cfg.text_len, dtype=np.int64))

    def __call__(self, ctx, exclude: set[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(refs (k, T, F), ref_missing (k,), text_ids (L,))`` for an image.

        ``ctx`` is anything with ``image``, ``analysis`` and a per-image ``cache`` dict (a scoring
        context): references retrieved for the image are shared through the cache.
        """
        from ...perception.describe import describe
        from ..shared.tokens import tokenize

        cfg = self.cfg
        refs = np.zeros((cfg.k_refs, cfg.ref_tokens, cfg.ref_dim), np.float32)
        missing = np.ones(cfg.k_refs, dtype=bool)
        if self.retriever is not None:
            got = self.retriever.retrieve_cached(ctx.cache, ctx.image, ctx.analysis)
            if got is not None:
                from ...retrieval.encoders.registry import encoder_class

                db = self.retriever.db
                flip = encoder_class(db.encoder_info["name"]).flip_grid
                j = 0
                for r in got.refs:  # best first; an item's id is its row in the database
                    if j >= cfg.k_refs:
                        break
                    item = db.items[r["id"]]
                    if exclude and (item.get("sha256") in exclude or item.get("source") in exclude):
                        continue
                    tokens = db.tokens[r["id"]].astype(np.float32)
                    if r.get("mirrored") and db.encoder_info["name"] == "layout":
                        tokens = flip(tokens[None])[0]  # the reference as it matched: mirrored
                    refs[j] = tokens
                    missing[j] = False
                    j += 1
        ids = np.asarray(tokenize(describe(ctx.analysis), cfg.text_vocab, cfg.text_len), dtype=np.int64)
        return refs, missing, ids
