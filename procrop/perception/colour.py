"""Colour: names for colours and the photo's colour statistics (colourfulness, warmth, dominant colours)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .analysis import ColourStats


_HUE_NAMES = (
    (15, "red"),
    (40, "orange"),
    (70, "yellow"),
    (160, "green"),
    (200, "cyan"),
    (255, "blue"),
    (290, "purple"),
    (335, "magenta"),
    (360, "red"),
)


def _colour_classes(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel colour class index into :data:`_CLASS_NAMES` for an ``(N, 3)`` uint8 array."""
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1, 1, 3), cv2.COLOR_RGB2HSV_FULL)
    hsv = hsv.reshape(-1, 3).astype(np.float32)
    hue, sat, val = hsv[:, 0] * 360 / 256, hsv[:, 1] / 255, hsv[:, 2] / 255
    bounds = np.asarray([b for b, _ in _HUE_NAMES])
    hue_class = np.searchsorted(bounds, hue, side="right")
    hue_class = np.minimum(hue_class, len(_HUE_NAMES) - 1)
    hue_class = np.where(hue_class == len(_HUE_NAMES) - 1, 0, hue_class)  # the second red band
    achromatic = len(_HUE_NAMES)
    cls = np.where(sat < 0.2, achromatic + np.where(val > 0.8, 0, np.where(val > 0.55, 1, 2)), hue_class)
    cls = np.where(val < 0.18, achromatic + 3, cls)
    brown = (hue_class == 1) & (val < 0.55) & (sat >= 0.2) & (val >= 0.18)
    return np.where(brown, achromatic + 4, cls)


_CLASS_NAMES = tuple(n for _, n in _HUE_NAMES) + ("white", "light grey", "grey", "black", "brown")


def dominant_colour_name(rgb: np.ndarray, weights: np.ndarray | None = None) -> str:
    """The most common colour word among ``(N, 3)`` uint8 pixels (optionally weighted)."""
    if len(rgb) == 0:
        return ""
    cls = _colour_classes(rgb)
    votes = np.bincount(cls, weights=weights, minlength=len(_CLASS_NAMES))
    return _CLASS_NAMES[int(np.argmax(votes))]


def colour_stats(rgb: np.ndarray, lab: np.ndarray) -> ColourStats:
    f = rgb.astype(np.float32) / 255.0
    lum = lab[:, :, 0] / 255.0
    brightness = float(lum.mean())
    contrast = float(min(1.0, lum.std() / 0.3))
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL)
    sat = hsv[:, :, 1].astype(np.float32) / 255.0
    val = hsv[:, :, 2].astype(np.float32) / 255.0
    saturation = float(sat.mean())
    rg = f[:, :, 0] - f[:, :, 1]
    yb = 0.5 * (f[:, :, 0] + f[:, :, 1]) - f[:, :, 2]
    colourfulness = math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean())
    colourfulness = float(min(1.0, colourfulness / 0.45))
    a = lab[:, :, 1] - 128.0
    b = lab[:, :, 2] - 128.0
    warmth = float(np.clip((a.mean() * 0.3 + b.mean()) / 30.0, -1, 1))
    dominant = _dominant_colours(hsv[:, :, 0].astype(np.float32) * 360 / 256, sat, val)
    return ColourStats(brightness, contrast, saturation, colourfulness, warmth, dominant)


def _dominant_colours(hue: np.ndarray, sat: np.ndarray, val: np.ndarray) -> tuple[str, ...]:
    names: dict[str, float] = {}
    chroma = (sat > 0.25) & (val > 0.2)
    n = hue.size
    dark = float(((val <= 0.2)).sum()) / n
    light_grey = (~chroma) & (val > 0.2)
    if dark > 0.25:
        names["black"] = dark
    if light_grey.sum() / n > 0.25:
        names["white" if val[light_grey].mean() > 0.75 else "grey"] = float(light_grey.sum()) / n
    if chroma.any():
        hues = hue[chroma]
        bounds = [0] + [b for b, _ in _HUE_NAMES]
        for (lo, (hi, name)) in zip(bounds[:-1], _HUE_NAMES):
            share = float(((hues >= lo) & (hues < hi)).sum()) / n
            if share > 0.08:
                names[name] = names.get(name, 0.0) + share
    ranked = sorted(names.items(), key=lambda kv: -kv[1])
    return tuple(name for name, _ in ranked[:3])
