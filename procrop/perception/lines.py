"""Dominant lines (Canny + probabilistic Hough), their vanishing point, and the horizon (a long
near-level line or the strongest sky/ground transition of the row profile)."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np

from .analysis import Horizon, Line




def lines_inside(gray: np.ndarray, content: tuple[int, int, int, int], sx: float, sy: float, max_lines: int,
                 side: int) -> list[Line]:
    """:func:`dominant_lines` of the picture inside its scan border or bars ``content`` (``x, y, w, h``
    original pixels; ``sx``, ``sy`` original pixels per pixel of ``gray``), one more pixel in: the
    border's own edge is no line of the composition (a Kodak scan's black row read as "strong
    horizontal lines")."""
    h, w = gray.shape
    cx, cy, cw, ch = content
    x0 = min(w - 1, int(math.ceil(cx / sx)) + 1) if cx > 0 else 0
    y0 = min(h - 1, int(math.ceil(cy / sy)) + 1) if cy > 0 else 0
    x1 = max(x0 + 1, int(math.floor((cx + cw) / sx)) - 1) if cx + cw < w * sx - 0.5 else w
    y1 = max(y0 + 1, int(math.floor((cy + ch) / sy)) - 1) if cy + ch < h * sy - 0.5 else h
    if (x0, y0, x1, y1) == (0, 0, w, h):
        return dominant_lines(gray, sx, sy, max_lines, side)
    ox, oy = x0 * sx, y0 * sy
    return [replace(ln, x1=ln.x1 + ox, y1=ln.y1 + oy, x2=ln.x2 + ox, y2=ln.y2 + oy)
            for ln in dominant_lines(np.ascontiguousarray(gray[y0:y1, x0:x1]), sx, sy, max_lines, side)]


def dominant_lines(gray: np.ndarray, sx: float, sy: float, max_lines: int, side: int) -> list[Line]:
    h, w = gray.shape
    if max(h, w) > side:
        k = side / max(h, w)
        gray = cv2.resize(gray, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
        sx, sy = sx * w / gray.shape[1], sy * h / gray.shape[0]
        h, w = gray.shape
    blurred = cv2.GaussianBlur(gray, (3, 3), 0)
    med = float(np.median(blurred))
    edges = cv2.Canny(blurred, max(10.0, 0.66 * med), min(255.0, max(40.0, 1.33 * med)))
    short = min(h, w)
    segs = cv2.HoughLinesP(
        edges,
        rho=1,
        theta=np.pi / 180,
        threshold=max(15, int(0.1 * short)),
        minLineLength=max(10, int(0.22 * short)),
        maxLineGap=max(2, int(0.02 * max(h, w))),
    )
    if segs is None:
        return []
    lines = []
    for x1, y1, x2, y2 in segs.reshape(-1, 4).astype(np.float64):
        X1, Y1, X2, Y2 = x1 * sx, y1 * sy, x2 * sx, y2 * sy
        if X2 < X1:
            X1, Y1, X2, Y2 = X2, Y2, X1, Y1
        length = math.hypot(X2 - X1, Y2 - Y1)
        angle = -math.degrees(math.atan2(Y2 - Y1, X2 - X1))  # image y points down
        if angle <= -90:
            angle += 180
        lines.append(Line(X1, Y1, X2, Y2, length, angle))
    lines.sort(key=lambda ln: -ln.length)
    return _dedupe_lines(lines, max_lines)


def _dedupe_lines(lines: list[Line], max_lines: int) -> list[Line]:
    kept: list[Line] = []
    for ln in lines:
        mx, my = (ln.x1 + ln.x2) / 2, (ln.y1 + ln.y2) / 2
        dup = False
        for k in kept:
            if abs(((ln.angle - k.angle) + 90) % 180 - 90) < 4 and _point_line_distance(mx, my, k) < 0.02 * k.length + 3:
                dup = True
                break
        if not dup:
            kept.append(ln)
        if len(kept) >= max_lines:
            break
    return kept


def _point_line_distance(x: float, y: float, ln: Line) -> float:
    dx, dy = ln.x2 - ln.x1, ln.y2 - ln.y1
    n = math.hypot(dx, dy) or 1.0
    return abs(dy * (x - ln.x1) - dx * (y - ln.y1)) / n


def vanishing_point(lines: list[Line], width: int, height: int) -> tuple[float, float] | None:
    """The point most diagonal lines pass near, if at least three do and it lies near the frame."""
    diag = [ln for ln in lines if ln.orientation == "diagonal"][:10]
    if len(diag) < 3:
        return None
    size = math.hypot(width, height)
    best: tuple[int, float, tuple[float, float]] | None = None
    for i in range(len(diag)):
        for j in range(i + 1, len(diag)):
            p = _intersection(diag[i], diag[j])
            if p is None:
                continue
            x, y = p
            if not (-0.25 * width <= x <= 1.25 * width and -0.25 * height <= y <= 1.25 * height):
                continue
            dists = [_point_line_distance(x, y, ln) for ln in diag]
            support = sum(d < 0.03 * size for d in dists)
            spread = float(np.mean(sorted(dists)[:support])) if support else size
            if best is None or support > best[0] or (support == best[0] and spread < best[1]):
                best = (support, spread, (x, y))
    if best is None or best[0] < 3:
        return None
    return best[2]


def _intersection(a: Line, b: Line) -> tuple[float, float] | None:
    x1, y1, x2, y2 = a.x1, a.y1, a.x2, a.y2
    x3, y3, x4, y4 = b.x1, b.y1, b.x2, b.y2
    den = (x1 - x2) * (y3 - y4) - (y1 - y2) * (x3 - x4)
    if abs(den) < 1e-9:
        return None
    px = ((x1 * y2 - y1 * x2) * (x3 - x4) - (x1 - x2) * (x3 * y4 - y3 * x4)) / den
    py = ((x1 * y2 - y1 * x2) * (y3 - y4) - (y1 - y2) * (x3 * y4 - y3 * x4)) / den
    return px, py


def find_horizon(lab: np.ndarray, lines: list[Line], width: int, height: int) -> Horizon | None:
    """A long near-level Hough line, else the strongest level colour divide of the row profile."""
    for ln in lines:
        if abs(ln.angle) <= 8 and ln.length >= 0.6 * width:
            slope = (ln.y2 - ln.y1) / max(ln.x2 - ln.x1, 1e-9)
            y_left = ln.y1 - slope * ln.x1
            y_right = y_left + slope * width
            if 0.05 * height < (y_left + y_right) / 2 < 0.95 * height:
                conf = min(1.0, 0.5 + 0.5 * ln.length / width)
                return Horizon(y_left, y_right, ln.angle, conf, "line")
    return _row_profile_horizon(lab, width, height)


def _row_profile_horizon(lab: np.ndarray, width: int, height: int) -> Horizon | None:
    mh, mw = lab.shape[:2]
    if mh < 12:
        return None
    rows = lab.mean(axis=1)  # (mh, 3)
    band = max(2, mh // 8)
    csum = np.vstack([np.zeros((1, 3)), np.cumsum(rows, axis=0)])
    r = np.arange(max(band, int(0.08 * mh)), min(mh - band, int(0.92 * mh)) + 1)
    if r.size == 0:
        return None
    above = (csum[r] - csum[r - band]) / band
    below = (csum[r + band] - csum[r]) / band
    diffs = np.linalg.norm(above - below, axis=1)
    best_r, best_d = int(r[int(np.argmax(diffs))]), float(diffs.max())
    if best_d < 18.0:
        return None
    # level divide: the vertical gradient should be strong across most columns near that row
    lum = lab[:, :, 0]
    gy = np.abs(cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3))
    lo, hi = max(0, best_r - band), min(mh, best_r + band)
    cols = np.linspace(0, mw - 1, 8).astype(int)
    ys = []
    for c0, c1 in zip(cols[:-1], cols[1:]):
        strip = gy[lo:hi, c0 : c1 + 1].mean(axis=1)
        ys.append(lo + int(np.argmax(strip)) + 0.5)
    xs = (cols[:-1] + cols[1:]) / 2 + 0.5
    slope, intercept = np.polyfit(xs, ys, 1)
    residual = float(np.sqrt(np.mean((np.polyval([slope, intercept], xs) - ys) ** 2)))
    if residual > 0.06 * mh:
        return None
    sy = height / mh
    y_left = intercept * sy
    y_right = (intercept + slope * mw) * sy
    angle = -math.degrees(math.atan2(y_right - y_left, width))
    conf = float(min(1.0, best_d / 60.0) * max(0.0, 1.0 - residual / (0.06 * mh)))
    if abs(angle) > 15 or conf < 0.2:
        return None
    return Horizon(float(y_left), float(y_right), float(angle), conf, "profile")


