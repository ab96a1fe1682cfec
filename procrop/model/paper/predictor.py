"""The trained network on photos: set predictions and scores of given boxes.

:class:`NeuralCropper` runs a checkpoint (torch) or an exported ONNX model (onnxruntime) on a photo:
``predict`` returns the free-form boxes (``x, y, w, h`` original pixels) with their scores, best
first; ``score_boxes`` scores given boxes with the box-scoring head. For ranked, explained crops
at given ratios use ``procrop.Cropper(model=CKPT)``: :class:`~procrop.scoring.terms.neural.NeuralTerm`
plugs this predictor into the cropper.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import ModelLoadError
from ..shared.families import existing_model_file
from ...imaging.load import ImageSource, LoadedImage, load_image
from ...perception.analyzer import Analyzer
from .box_ops import cxcywh_to_xyxy
from .config import Config
from .inputs import Conditioner, normalise, pad_batch, resize_short


@dataclass
class ImageContext:
    """A photo as the conditioner sees it: the loaded image, its analysis and a per-image cache
    (a :class:`~procrop.scoring.context.ScoringContext` serves as one too)."""

    image: LoadedImage | None
    analysis: Any
    cache: dict[str, Any] = field(default_factory=dict)


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
        #: image path -> its conditioning ``(refs, ref_missing, text_ids)``, reused when set (a
        #: training run's evaluations share one: the images and database do not change)
        self.conditioning: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        self._lock = threading.Lock()
        self._analyzer: Analyzer | None = None  # made by _analysis_context when first needed
        self.session = None
        self.onnx_size: tuple[int, int] | None = None
        if onnx is not None:
            from ...errors import require

            ort = require("onnxruntime", "ONNX inference", "torch")
            try:
                self.session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own types
                raise ModelLoadError(f"{onnx}: cannot load the ONNX model ({type(exc).__name__})") from None
            shape = self.session.get_inputs()[0].shape
            if isinstance(shape[2], int) and isinstance(shape[3], int):
                self.onnx_size = (shape[3], shape[2])

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, reference_db: str | None = "default", device: str | None = None) -> NeuralCropper:
        from .checkpoint import config_of, load_model

        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model, state = load_model(path, device=dev)
        return cls(model, config_of(state), reference_db, device=dev)

    @classmethod
    def from_onnx(cls, path: str | os.PathLike, reference_db: str | None = "default") -> NeuralCropper:
        return cls(None, onnx_config(path), reference_db, onnx=str(path))

    # ---- inputs ----------------------------------------------------------------------------

    def _analysis_context(self, image: ImageSource | LoadedImage) -> ImageContext:
        """Composition analysis for the conditioner, by one analyzer made on first use (its
        detectors are per-thread, so it may be shared)."""
        if self._analyzer is None:
            self._analyzer = Analyzer()
        small = self._analyzer.load(image)
        return ImageContext(small, self._analyzer.analyze(small))

    def _inputs(self, image: ImageSource | LoadedImage, ctx=None) -> tuple[dict[str, np.ndarray], float, tuple[int, int]]:
        cfg = self.cfg.model
        if isinstance(image, LoadedImage):
            loaded = load_image(image.path, max_side=cfg.max_long) if image.path and Path(image.path).exists() else image
        else:
            loaded = load_image(image, max_side=cfg.max_long)
        W, H = loaded.width, loaded.height
        memo = self.conditioning if isinstance(image, (str, os.PathLike)) and ctx is None else None
        key = str(Path(image).resolve()) if memo is not None else ""  # type: ignore[arg-type]
        if memo is not None and key in memo:
            refs, missing, ids = memo[key]
        else:
            if ctx is None:
                ctx = self._analysis_context(image)
            refs, missing, ids = self.conditioner(ctx)
            if memo is not None:
                memo[key] = (refs, missing, ids)
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
            pix = _input_pixels(b, k, state["rects"][0])
            out = self.session.run(None, self._onnx_feed(state, pix.astype(np.float32)))
            logits = out[2].reshape(-1)
        else:
            features, rects = state
            pix = _input_pixels(b, k, rects[0].cpu().numpy())
            with self._lock, torch.inference_mode():
                pt = torch.as_tensor(pix, dtype=features.dtype, device=features.device)
                logits = self.model.score_boxes(features, pt, torch.zeros(len(pt), dtype=torch.long, device=features.device))
            logits = logits.float().cpu().numpy()
        return 1 / (1 + np.exp(-logits))

    def _onnx_feed(self, feed: dict[str, np.ndarray], candidates: np.ndarray) -> dict[str, np.ndarray]:
        names = {i.name for i in self.session.get_inputs()}
        full = {**feed, "candidates": candidates}
        return {k: v for k, v in full.items() if k in names}


def _input_pixels(b: np.ndarray, k: float, rect: np.ndarray) -> np.ndarray:
    """``(N, 4)`` ``xywh`` original-pixel boxes -> ``x1, y1, x2, y2`` in the network's padded input,
    given the scale ``k`` (original -> network pixels) and the image's rectangle ``rect`` there."""
    return np.stack(
        [b[:, 0] * k + rect[0], b[:, 1] * k + rect[1], (b[:, 0] + b[:, 2]) * k + rect[0], (b[:, 1] + b[:, 3]) * k + rect[1]],
        1,
    )


def onnx_config(path: str | os.PathLike) -> Config:
    """The configuration a procrop ONNX export carries in its metadata.

    Raises:
        ModelLoadError: no such file, or not exported by procrop.
    """
    import json

    import onnx as _onnx

    p = existing_model_file(path, "ONNX model", "an ONNX model")
    try:
        model = _onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: a damaged or mis-named file
        raise ModelLoadError(f"{p}: not a readable ONNX model ({type(exc).__name__})") from None
    meta = {m.key: m.value for m in model.metadata_props}
    if "procrop_config" not in meta:
        raise ModelLoadError(f"{p}: not exported by procrop (no configuration in its metadata)")
    return Config.from_dict(json.loads(meta["procrop_config"]))
