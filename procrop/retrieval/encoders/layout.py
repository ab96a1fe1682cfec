"""The ``layout`` encoder family: the default, weight-free composition encoder.

Owns :class:`LayoutEncoder`, its 14-channel feature map (:func:`layout_feature_map`,
:data:`LAYOUT_CHANNELS`) and the mirroring of that map (:func:`flip_layout_map`). It needs no
weights: it describes *where* things are (saliency, edges and their orientation, lightness,
colour, faces, subjects, lines, horizon) on multi-scale grids, so photos with the same layout are
neighbours whatever their colours. The shared types and the registry are in :mod:`.registry`
(``create_encoder("layout")``).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from ...errors import UsageError
from ...imaging.load import LoadedImage
from ...perception.analysis import CompositionAnalysis
from ...perception.integral import IntegralMap
from .registry import (
    GRID,
    Encoder,
    Encoding,
    pool_windows,
    register_encoder,
)

# --------------------------------------------------------------------------------------------
# The default layout encoder
# --------------------------------------------------------------------------------------------

#: Feature-map channels of the layout encoder.
LAYOUT_CHANNELS = (
    "saliency",
    "edges",
    "orient_0",
    "orient_45",
    "orient_90",
    "orient_135",
    "lightness",
    "chroma_a",
    "chroma_b",
    "saturation",
    "faces",
    "subject",
    "lines",
    "horizon",
)
_C = {name: i for i, name in enumerate(LAYOUT_CHANNELS)}

# (block name, channels, grid size, weight, centre the block)
_LAYOUT_BLOCKS: tuple[tuple[str, tuple[str, ...], int, float, bool], ...] = (
    ("saliency", ("saliency",), 8, 1.0, True),
    ("edges", ("edges",), 4, 0.6, True),
    ("orientation", ("orient_0", "orient_45", "orient_90", "orient_135"), 4, 0.8, True),
    ("lightness", ("lightness",), 4, 0.6, True),
    ("chroma", ("chroma_a", "chroma_b"), 4, 0.4, True),
    ("faces", ("faces",), 4, 0.8, False),
    ("subject", ("subject",), 4, 0.8, False),
    ("lines", ("lines",), 4, 0.4, True),
)


@register_encoder("layout")
class LayoutEncoder(Encoder):
    """Weight-free composition encoder built on :func:`procrop.perception.analysis.analyze`.

    Vector (D = 249): blocks of the feature map pooled on 8x8 (saliency) or 4x4 grids, each
    block centred over its cells (layout, not level), L2-normalised and weighted; plus the
    horizon's height profile and the log aspect ratio. Tokens: the 14-channel feature map
    pooled on the 8x8 grid (64 tokens x 14). The same grid pooled over a crop window is what the
    retrieval term compares with references.
    """

    name = "layout"
    version = "layout-1"
    token_shape = (GRID * GRID, len(LAYOUT_CHANNELS))
    grid_weights = np.asarray([1.0, 0.6, 0.4, 0.4, 0.4, 0.4, 0.6, 0.2, 0.2, 0.2, 1.0, 0.8, 0.5, 0.8])

    def __init__(self, analysis_size: int = 224) -> None:
        self.analysis_size = analysis_size
        self.load_side = analysis_size  # the cropper's analysis size: queries and DB items match
        self.dim = sum(len(ch) * g * g for _, ch, g, _, _ in _LAYOUT_BLOCKS) + GRID + 1

    def config(self) -> dict[str, Any]:
        return {"analysis_size": self.analysis_size}

    @classmethod
    def flip_grid(cls, grids: np.ndarray) -> np.ndarray:
        out = super().flip_grid(grids).copy()
        a, b = _C["orient_45"], _C["orient_135"]
        out[:, :, [a, b]] = out[:, :, [b, a]]
        return out

    def encode(self, image: LoadedImage, analysis: CompositionAnalysis | None = None) -> Encoding:
        if analysis is None:
            from ...perception.analyzer import analyze
            from ...perception.detectors import HaarFaceDetector

            analysis = analyze(image, HaarFaceDetector())
        fmap = layout_feature_map(analysis)
        aspect = analysis.width / analysis.height
        integral = IntegralMap(fmap)
        h, w = fmap.shape[:2]
        frame = np.array([[0, 0, w, h]])
        pooled = {g: pool_windows(integral, frame, w, h, w, h, g).reshape(g, g, -1) for g in (4, GRID)}
        mirrored = {g: flip_layout_map(p) for g, p in pooled.items()}
        return Encoding(
            vector=self._vector(pooled, aspect),
            tokens=pooled[GRID].reshape(GRID * GRID, -1),
            feature_map=fmap,
            flipped_vector=self._vector(mirrored, aspect),
            _integral=integral,
        )

    def _vector(self, pooled: dict[int, np.ndarray], aspect: float) -> np.ndarray:
        """The vector from the feature map pooled on 4x4 and 8x8 grids (``{4: (4,4,C), 8: ...}``)."""
        parts = []
        for _, channels, g, weight, centre in _LAYOUT_BLOCKS:
            v = pooled[g][:, :, [_C[c] for c in channels]].astype(np.float64).ravel()
            if centre:
                v = v - v.mean()
            n = np.linalg.norm(v)
            parts.append(v / n * weight if n > 1e-6 else np.zeros_like(v))
        horizon = pooled[GRID][:, :, _C["horizon"]].mean(axis=1).astype(np.float64)
        n = np.linalg.norm(horizon)
        parts.append(horizon / n * 0.6 if n > 1e-6 else horizon * 0)
        parts.append(np.asarray([0.5 * math.log(aspect)]))
        vec = np.concatenate(parts)
        return (vec / max(np.linalg.norm(vec), 1e-9)).astype(np.float32)


#: Long side of the layout feature map: ample for an 8x8 grid, and cheap to integrate.
LAYOUT_MAP_SIDE = 48


def layout_feature_map(a: CompositionAnalysis, side: int = LAYOUT_MAP_SIDE) -> np.ndarray:
    """The layout encoder's ``(h, w, 14)`` feature map (channels: :data:`LAYOUT_CHANNELS`), at most
    ``side`` pixels on the long side."""
    if a.lab is None:
        raise UsageError("the analysis has no Lab map; re-run procrop.perception.analysis.analyze")
    sal, edges, lab = a.saliency, a.edges, a.lab
    mh, mw = sal.shape
    if max(mh, mw) > side:
        k = side / max(mh, mw)
        size = (max(1, round(mw * k)), max(1, round(mh * k)))
        sal = cv2.resize(sal, size, interpolation=cv2.INTER_AREA)
        edges = cv2.resize(edges, size, interpolation=cv2.INTER_AREA)
        lab = cv2.resize(lab, size, interpolation=cv2.INTER_AREA)
        mh, mw = sal.shape
    fmap = np.zeros((mh, mw, len(LAYOUT_CHANNELS)), np.float32)
    fmap[:, :, _C["saliency"]] = sal
    fmap[:, :, _C["edges"]] = edges
    lum = lab[:, :, 0]
    gx = cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)
    mag = mag / (float(np.percentile(mag, 98)) + 1e-6)  # Sobel on the (smaller) map itself
    # edge direction is perpendicular to the gradient; y points down, so negate for "rising"
    edge_angle = (np.degrees(np.arctan2(-gy, gx)) + 90.0) % 180.0
    bins = np.round(edge_angle / 45.0).astype(int) % 4
    for k, name in enumerate(("orient_0", "orient_45", "orient_90", "orient_135")):
        fmap[:, :, _C[name]] = np.clip(mag * (bins == k), 0, 1)
    fmap[:, :, _C["lightness"]] = lum / 255.0
    fmap[:, :, _C["chroma_a"]] = (lab[:, :, 1] - 128.0) / 128.0
    fmap[:, :, _C["chroma_b"]] = (lab[:, :, 2] - 128.0) / 128.0
    fmap[:, :, _C["saturation"]] = np.sqrt((lab[:, :, 1] - 128.0) ** 2 + (lab[:, :, 2] - 128.0) ** 2) / 128.0
    sx, sy = mw / a.width, mh / a.height

    def paint(channel: int, box: tuple[float, float, float, float], value: float) -> None:
        x, y, w, h = box
        x0, x1 = int(max(0, math.floor(x * sx))), int(min(mw, math.ceil((x + w) * sx)))
        y0, y1 = int(max(0, math.floor(y * sy))), int(min(mh, math.ceil((y + h) * sy)))
        if x1 > x0 and y1 > y0:
            region = fmap[y0:y1, x0:x1, channel]
            np.maximum(region, value, out=region)

    for f in a.faces:
        paint(_C["faces"], f.box, 1.0)
    for s in a.compact_subjects:
        paint(_C["subject"], s.box, min(1.0, 2.0 * s.mass))
    lines = np.zeros((mh, mw), np.float32)
    for ln in a.lines:
        p1 = (int(round(ln.x1 * sx)), int(round(ln.y1 * sy)))
        p2 = (int(round(ln.x2 * sx)), int(round(ln.y2 * sy)))
        cv2.line(lines, p1, p2, 1.0, 1, lineType=cv2.LINE_AA)
    fmap[:, :, _C["lines"]] = np.clip(lines, 0, 1)
    if a.horizon is not None:
        xs = (np.arange(mw) + 0.5) / sx
        hy = (a.horizon.y_left + (a.horizon.y_right - a.horizon.y_left) * xs / a.width) * sy
        d = (np.arange(mh)[:, None] + 0.5) - hy[None, :]
        sigma = max(1.0, 0.03 * mh)
        fmap[:, :, _C["horizon"]] = a.horizon.confidence * np.exp(-(d**2) / (2 * sigma * sigma))
    return fmap


def flip_layout_map(fmap: np.ndarray) -> np.ndarray:
    """A layout map (or pooled grid) ``(h, w, C)`` of the mirrored photo: flip left-right and swap
    the diagonal orientations."""
    out = fmap[:, ::-1].copy()
    out[:, :, [_C["orient_45"], _C["orient_135"]]] = out[:, :, [_C["orient_135"], _C["orient_45"]]]
    return out
