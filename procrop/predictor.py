"""Using a trained network: set predictions, scores of given boxes, and a cropper term.

:class:`NeuralCropper` runs a checkpoint (torch) or an exported ONNX model (onnxruntime) on a photo:
``predict`` returns the free-form boxes (``x, y, w, h`` original pixels) with their scores, best
first; ``score_boxes`` scores given boxes with the box-scoring head. :class:`NeuralTerm` plugs the
network into :class:`procrop.Cropper` (``procrop crop --model CKPT``): its set predictions join the
candidates (snapped to each requested ratio) and the box-scoring head scores every candidate.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ModelLoadError, UsageError
from .imaging.load import ImageSource, LoadedImage, load_image
from .model.box_ops import cxcywh_to_xyxy
from .model.config import Config
from .model.inputs import Conditioner, normalise, pad_batch, resize_short


@dataclass
class Prediction:
    """One forward pass on one photo (original-pixel coordinates)."""

    boxes: np.ndarray  # (Q, 4) x, y, w, h, best first
    scores: np.ndarray  # (Q,) sigmoid
    state: Any  # backend-specific handle for scoring more boxes


class NeuralCropper:
    """A trained ProCrop network ready for photos.

    Args:
        model: the network (torch) or ``None`` with ``onnx`` set.
        config: its configuration.
        reference_db: ``"default"`` (bundled), a path, or ``None``.
        onnx: path of an exported model to run with onnxruntime instead of torch.
    """

    def __init__(self, model: torch.nn.Module | None, config: Config, reference_db: str | None = "default",
                 onnx: str | None = None, device: str = "cpu") -> None:
        self.model = model
        self.cfg = config
        self.device = device
        self.conditioner = Conditioner(config.model, reference_db)
        self._lock = threading.Lock()
        self._analyzer = None  # a Cropper, made by _analysis_context when first needed
        self.session = None
        self.onnx_size: tuple[int, int] | None = None
        if onnx is not None:
            from .errors import require

            ort = require("onnxruntime", "ONNX inference", "torch")
            self.session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
            shape = self.session.get_inputs()[0].shape
            if isinstance(shape[2], int) and isinstance(shape[3], int):
                self.onnx_size = (shape[3], shape[2])

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, reference_db: str | None = "default", device: str | None = None) -> NeuralCropper:
        from .model.checkpoint import config_of, load_model

        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model, state = load_model(path, device=dev)
        return cls(model, config_of(state), reference_db, device=dev)

    @classmethod
    def from_onnx(cls, path: str | os.PathLike, reference_db: str | None = "default") -> NeuralCropper:
        import onnx as _onnx

        p = Path(path)
        if not p.exists():
            raise ModelLoadError(f"{p}: no such ONNX model")
        meta = {m.key: m.value for m in _onnx.load(str(p), load_external_data=False).metadata_props}
        if "procrop_config" not in meta:
            raise ModelLoadError(f"{p}: not exported by procrop (no configuration in its metadata)")
        import json

        return cls(None, Config.from_dict(json.loads(meta["procrop_config"])), reference_db, onnx=str(p))

    # ---- inputs ----------------------------------------------------------------------------

    def _analysis_context(self, image: ImageSource | LoadedImage):
        """Composition analysis for the conditioner, by one analysis-only cropper made on first use
        (its detectors are per-thread, so it may be shared)."""
        from .scoring.composition import ScoringContext

        if self._analyzer is None:
            from .cropper import Cropper

            self._analyzer = Cropper(reference_db=None)
        small = self._analyzer.load(image)
        return ScoringContext(small, self._analyzer.analyze(small))

    def _inputs(self, image: ImageSource | LoadedImage, ctx=None) -> tuple[dict[str, np.ndarray], float, tuple[int, int]]:
        cfg = self.cfg.model
        if isinstance(image, LoadedImage):
            loaded = load_image(image.path, max_side=cfg.max_long) if image.path and Path(image.path).exists() else image
        else:
            loaded = load_image(image, max_side=cfg.max_long)
        W, H = loaded.width, loaded.height
        if ctx is None:
            ctx = self._analysis_context(image)
        refs, missing, ids = self.conditioner(ctx)
        canvas: int | tuple[int, int] = cfg.canvas
        if self.onnx_size is not None:
            canvas = self.onnx_size  # the exported graph's fixed input size
        fit = canvas if isinstance(canvas, tuple) else ((canvas, canvas) if canvas else None)
        resized, _ = resize_short(loaded.pixels, cfg.test_short, cfg.max_long, fit)
        arr = normalise(resized, cfg.normalize)
        images, mask, rects = pad_batch([arr], canvas)
        k = resized.shape[1] / W  # original -> network pixels
        feed = {
            "images": images.numpy(),
            "mask": mask.numpy(),
            "refs": refs[None],
            "ref_mask": missing[None],
            "text_ids": ids[None],
            "rects": rects.numpy(),
        }
        return feed, k, (W, H)

    # ---- running ---------------------------------------------------------------------------

    def predict(self, image: ImageSource | LoadedImage, ctx=None) -> Prediction:
        feed, k, (W, H) = self._inputs(image, ctx)
        if self.session is not None:
            out = self.session.run(None, self._onnx_feed(feed, np.zeros((1, 4), np.float32)))
            logits, boxes = out[0].reshape(-1), out[1].reshape(-1, 4)
            state = feed
        else:
            with self._lock, torch.inference_mode():
                t = {key: torch.from_numpy(v).to(self.device) for key, v in feed.items()}
                out = self.model(t["images"], t["mask"], t["refs"], t["ref_mask"], t["text_ids"])
            logits = out["logits"][0].float().cpu().numpy()
            boxes = out["boxes"][0].float().cpu().numpy()
            state = (out["features"], t["rects"])
        xyxy = cxcywh_to_xyxy(torch.from_numpy(boxes)).numpy()
        # normalised to the image rectangle -> original pixels
        xyxy = xyxy * np.array([W, H, W, H])
        xyxy = np.clip(xyxy, 0, [W, H, W, H])
        xywh = np.stack([xyxy[:, 0], xyxy[:, 1], xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]], 1)
        scores = 1 / (1 + np.exp(-logits))
        order = np.argsort(-scores, kind="mergesort")
        return Prediction(xywh[order], scores[order], (state, k, (W, H)))

    def score_boxes(self, image: ImageSource | LoadedImage, boxes: np.ndarray, ctx=None,
                    prediction: Prediction | None = None) -> np.ndarray:
        """Sigmoid scores of ``(N, 4)`` ``xywh`` boxes in original pixels."""
        pred = prediction or self.predict(image, ctx)
        state, k, (W, H) = pred.state
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if self.session is not None:
            rect = state["rects"][0]
            pix = np.stack([b[:, 0] * k + rect[0], b[:, 1] * k + rect[1], (b[:, 0] + b[:, 2]) * k + rect[0], (b[:, 1] + b[:, 3]) * k + rect[1]], 1)
            out = self.session.run(None, self._onnx_feed(state, pix.astype(np.float32)))
            logits = out[2].reshape(-1)
        else:
            features, rects = state
            rect = rects[0].cpu().numpy()
            pix = np.stack([b[:, 0] * k + rect[0], b[:, 1] * k + rect[1], (b[:, 0] + b[:, 2]) * k + rect[0], (b[:, 1] + b[:, 3]) * k + rect[1]], 1)
            with self._lock, torch.inference_mode():
                pt = torch.as_tensor(pix, dtype=features.dtype, device=features.device)
                logits = self.model.score_boxes(features, pt, torch.zeros(len(pt), dtype=torch.long, device=features.device))
            logits = logits.float().cpu().numpy()
        return 1 / (1 + np.exp(-logits))

    def _onnx_feed(self, feed: dict[str, np.ndarray], candidates: np.ndarray) -> dict[str, np.ndarray]:
        names = {i.name for i in self.session.get_inputs()}
        full = {**feed, "candidates": candidates}
        return {k: v for k, v in full.items() if k in names}


class NeuralTerm:
    """:class:`~procrop.scoring.composition.ExtraTerm` named ``neural``: the network's box score of each crop,
    plus its set predictions as extra candidates."""

    name = "neural"

    def __init__(self, cropper: NeuralCropper, extra: int = 20) -> None:
        self.cropper = cropper
        self.extra = extra

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, reference_db: str | None = "default") -> NeuralTerm:
        if str(path).endswith(".onnx"):
            return cls(NeuralCropper.from_onnx(path, reference_db))
        return cls(NeuralCropper.from_checkpoint(path, reference_db))

    def _prediction(self, ctx) -> Prediction:
        pred = ctx.cache.get("neural")
        if pred is None:
            if ctx.image is None:
                raise UsageError("the neural term needs the image")
            pred = self.cropper.predict(ctx.image, ctx)
            ctx.cache["neural"] = pred
        return pred

    def extra_candidates(self, ctx, ratio) -> np.ndarray:
        """The network's best free-form boxes, snapped to the requested ratio."""
        from .geometry import snap_to_ratio

        pred = self._prediction(ctx)
        a = ctx.analysis
        out = []
        resolved = ratio.resolve(a.width, a.height)
        for box in pred.boxes[: self.extra]:
            x, y, w, h = (int(round(v)) for v in box)
            if w < 2 or h < 2:
                continue
            b = (x, y, w, h)
            if resolved.value is not None:
                b = snap_to_ratio(b, resolved.value, a.width, a.height)
            else:
                x, y = max(0, x), max(0, y)
                b = (x, y, min(w, a.width - x), min(h, a.height - y))
            out.append(b)
        return np.asarray(out, dtype=np.int64).reshape(-1, 4)

    def evaluate(self, ctx, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pred = self._prediction(ctx)
        values = self.cropper.score_boxes(ctx.image, boxes, ctx, prediction=pred)
        return values, np.ones(len(values), dtype=bool)

    def explain(self, ctx, box: np.ndarray, value: float) -> str | None:
        return f"the neural model rates it {value:.2f}"
