"""Subjects: faces first, then the salient blobs of the saliency map, each with its share of the saliency."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .analysis import Region
from .colour import dominant_colour_name, with_standout_colour
from .detectors import Detection




def find_subjects(sal: np.ndarray, small_rgb: np.ndarray, faces: list[Detection], W: int, H: int,
                  pixels: np.ndarray | None = None) -> list[Region]:
    """Faces (largest first), then up to four salient blobs of ``sal`` ``(mh, mw)``, most salient
    first; with the analysed ``pixels`` ``(h, w, 3)``, a blob also has its ``standout_colour``."""
    mh, mw = sal.shape
    sx, sy = W / mw, H / mh
    total = float(sal.sum()) or 1.0
    out: list[Region] = []
    for f in sorted(faces, key=lambda d: -d.box[2] * d.box[3]):
        x, y, w, h = f.box
        out.append(Region(f.box, (x + w / 2, y + h / 2), box_mass(sal, f.box, sx, sy) / total, "face"))
    thr = max(0.35, float(sal.mean() + sal.std()))
    blobs: list[tuple[Region, np.ndarray]] = []  # with each blob's cells
    for comp in _components(sal, thr):
        # a blob covering much of the frame usually merges a subject with its surroundings:
        # look inside it at a higher level, and keep its cores when it splits
        ys, xs = np.nonzero(comp)
        box_share = (np.ptp(xs) + 1) * (np.ptp(ys) + 1) / (mw * mh)
        parts = [comp]
        if box_share > 0.25:
            inner = np.where(comp, sal, 0.0)
            cores = [c for c in _components(inner, max(0.55, float(np.percentile(sal[comp], 75)))) if float(sal[c].sum()) / total >= 0.02]
            if len(cores) >= 2:
                parts = cores
        for part in parts:
            region = _region(sal, small_rgb, part, total, sx, sy)
            if region.mass >= 0.02:
                blobs.append((region, part))
    blobs.sort(key=lambda b: -b[0].mass)
    out.extend(r if pixels is None else with_standout_colour(r, m, pixels) for r, m in blobs[:4])
    return out


def _components(sal: np.ndarray, threshold: float) -> list[np.ndarray]:
    """Boolean masks of the connected regions where ``sal >= threshold`` (after a 3x3 closing)."""
    mask = cv2.morphologyEx((sal >= threshold).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    n, labels = cv2.connectedComponents(mask, connectivity=8)
    return [labels == i for i in range(1, n)]


def _region(sal: np.ndarray, small_rgb: np.ndarray, comp: np.ndarray, total: float, sx: float, sy: float) -> Region:
    ys, xs = np.nonzero(comp)
    wts = sal[comp]
    cx = float((wts * (xs + 0.5)).sum() / max(wts.sum(), 1e-9)) * sx
    cy = float((wts * (ys + 0.5)).sum() / max(wts.sum(), 1e-9)) * sy
    x0, y0 = xs.min(), ys.min()
    box = (x0 * sx, y0 * sy, (xs.max() - x0 + 1) * sx, (ys.max() - y0 + 1) * sy)
    colour = dominant_colour_name(small_rgb[comp].reshape(-1, 3), wts)
    return Region(box, (cx, cy), float(wts.sum()) / total, "salient", colour)


def box_mass(sal: np.ndarray, box: tuple[float, float, float, float], sx: float, sy: float) -> float:
    x, y, w, h = box
    x0, y0 = int(max(0, x / sx)), int(max(0, y / sy))
    x1, y1 = int(math.ceil((x + w) / sx)), int(math.ceil((y + h) / sy))
    return float(sal[y0:y1, x0:x1].sum())


