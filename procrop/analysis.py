"""Composition analysis: what is in the photo and where, computed once at a small working size.

:func:`analyze` turns a :class:`~procrop.io.LoadedImage` into a :class:`CompositionAnalysis`:

* a **saliency map** combining spectral residual (Hou and Zhang 2007), frequency-tuned colour
  contrast (Achanta et al. 2009), multi-scale centre-surround colour contrast, a sharpness cue
  (subjects in focus against a soft background) and the detected faces and people;
* **faces** (and the people under them) from a pluggable :class:`~procrop.detectors.Detector`;
* **subjects**: the salient regions, main subject first;
* **dominant lines** (Canny + probabilistic Hough), their **vanishing point**, and the **horizon**
  (a long near-level line or the strongest sky/ground transition of the row profile);
* **colour and contrast** statistics.

The maps live at a small "map" resolution (``map_side`` on the long side); every box, point and
line in the result is in pixels of the oriented original image.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from .detectors import Detection, Detector, HaarFaceDetector, merge_detections, person_from_face
from .io import LoadedImage


@dataclass(frozen=True)
class Line:
    """A straight segment ``(x1, y1) -> (x2, y2)`` in original pixels.

    ``angle`` is in degrees in ``(-90, 90]``: 0 is level, 90 vertical, positive rises to the right.
    """

    x1: float
    y1: float
    x2: float
    y2: float
    length: float
    angle: float

    @property
    def orientation(self) -> str:
        a = abs(self.angle)
        if a <= 12:
            return "horizontal"
        if a >= 78:
            return "vertical"
        return "diagonal"


@dataclass(frozen=True)
class Horizon:
    """A horizon (or another dominant level divide) across the frame.

    ``y_left`` and ``y_right`` are its heights at the left and right edges, in original pixels;
    ``angle`` is its tilt in degrees (positive rises to the right); ``confidence`` is in [0, 1].
    """

    y_left: float
    y_right: float
    angle: float
    confidence: float
    source: str

    def y_at(self, x: float, width: float) -> float:
        """Height of the horizon at column ``x``."""
        t = x / max(width, 1e-9)
        return self.y_left + t * (self.y_right - self.y_left)


@dataclass(frozen=True)
class Region:
    """A subject: a salient blob, a face or a person.

    ``box`` is ``(x, y, w, h)`` and ``centroid`` ``(x, y)`` in original pixels; ``mass`` is its
    share of the image's total saliency; ``kind`` is ``"face"``, ``"person"`` or ``"salient"``;
    ``colour`` names its dominant colour (``""`` when unknown).
    """

    box: tuple[float, float, float, float]
    centroid: tuple[float, float]
    mass: float
    kind: str
    colour: str = ""


@dataclass(frozen=True)
class ColourStats:
    """Global colour and tone: every value in [0, 1] except ``warmth`` in [-1, 1] (cool..warm)."""

    brightness: float
    contrast: float
    saturation: float
    colourfulness: float
    warmth: float
    dominant: tuple[str, ...]


@dataclass
class CompositionAnalysis:
    """Everything later stages need to know about a photo's composition.

    Attributes:
        width, height: size of the oriented original (the frame of every coordinate here).
        saliency: ``(mh, mw)`` float32 map in [0, 1] at map resolution.
        edges: ``(mh, mw)`` float32 gradient magnitude in [0, 1] at map resolution.
        faces: detected faces, original pixels.
        people: people (detected, or extrapolated below faces), original pixels.
        subjects: salient regions, main subject first.
        lines: dominant straight lines, longest first.
        vanishing_point: where the diagonal lines converge, if they do, or ``None``.
        horizon: the horizon, or ``None`` when there is no clear one.
        colour: colour and tone statistics.
        centroid: centre of saliency mass, as fractions ``(x/W, y/H)``.
        lab: ``(mh, mw, 3)`` float32 CIELAB image at map resolution (OpenCV's 8-bit scaling).
        timings: milliseconds spent per step.
    """

    width: int
    height: int
    saliency: np.ndarray
    edges: np.ndarray
    faces: list[Detection]
    people: list[Detection]
    subjects: list[Region]
    lines: list[Line]
    vanishing_point: tuple[float, float] | None
    horizon: Horizon | None
    colour: ColourStats
    centroid: tuple[float, float]
    lab: np.ndarray | None = field(default=None, repr=False)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def map_scale(self) -> tuple[float, float]:
        """Map pixels per original pixel, ``(sx, sy)``."""
        mh, mw = self.saliency.shape
        return mw / self.width, mh / self.height

    @property
    def main_subject(self) -> Region | None:
        return self.subjects[0] if self.subjects else None

    @property
    def compact_subjects(self) -> list[Region]:
        """Salient regions that are objects rather than structure: a salient band spanning the
        frame (a horizon, a shoreline) is left out (less than 80 % of the width and height)."""
        return [
            s for s in self.subjects
            if s.kind == "salient" and s.box[2] < 0.8 * self.width and s.box[3] < 0.8 * self.height
        ]

    @property
    def bands(self) -> list[Region]:
        """Salient regions spanning (almost) the whole width or height of the frame."""
        compact = self.compact_subjects
        return [s for s in self.subjects if s.kind == "salient" and s not in compact]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (maps left out)."""

        def r(v: float) -> float:
            return round(float(v), 2)

        return {
            "faces": [
                {"box": [r(v) for v in f.box], "score": round(f.score, 3), "kind": f.kind}
                for f in self.faces
            ],
            "people": [{"box": [r(v) for v in p.box], "score": round(p.score, 3)} for p in self.people],
            "subjects": [
                {
                    "box": [r(v) for v in s.box],
                    "centroid": [r(v) for v in s.centroid],
                    "mass": round(s.mass, 3),
                    "kind": s.kind,
                }
                for s in self.subjects
            ],
            "lines": [
                {"points": [r(ln.x1), r(ln.y1), r(ln.x2), r(ln.y2)], "angle": r(ln.angle)}
                for ln in self.lines
            ],
            "vanishing_point": None
            if self.vanishing_point is None
            else [r(v) for v in self.vanishing_point],
            "horizon": None
            if self.horizon is None
            else {
                "y_left": r(self.horizon.y_left),
                "y_right": r(self.horizon.y_right),
                "angle": r(self.horizon.angle),
                "confidence": round(self.horizon.confidence, 3),
                "source": self.horizon.source,
            },
            "colour": {
                "brightness": round(self.colour.brightness, 3),
                "contrast": round(self.colour.contrast, 3),
                "saturation": round(self.colour.saturation, 3),
                "colourfulness": round(self.colour.colourfulness, 3),
                "warmth": round(self.colour.warmth, 3),
                "dominant": list(self.colour.dominant),
            },
            "centroid": [round(v, 3) for v in self.centroid],
        }


@dataclass(frozen=True)
class AnalysisConfig:
    """Knobs of :func:`analyze`.

    Attributes:
        map_side: long side of the saliency/edge maps used for scoring.
        saliency_weights: mix of the saliency cues (spectral, frequency-tuned, centre-surround,
            sharpness).
        face_boost, person_boost: saliency given to face and person boxes.
        detect_faces: run the face detector.
        max_lines: how many dominant lines to keep.
        lines_side: long side of the image the line detector runs on.
    """

    map_side: int = 96
    saliency_weights: tuple[float, float, float, float] = (0.25, 0.25, 0.3, 0.2)
    face_boost: float = 1.0
    person_boost: float = 0.45
    detect_faces: bool = True
    max_lines: int = 12
    lines_side: int = 160


def analyze(
    image: LoadedImage,
    face_detector: Detector | None = None,
    people_detector: Detector | None = None,
    config: AnalysisConfig | None = None,
) -> CompositionAnalysis:
    """Analyse the composition of a loaded image.

    Args:
        image: from :func:`procrop.io.load_image`.
        face_detector: defaults to a :class:`~procrop.detectors.HaarFaceDetector`.
        people_detector: optional whole-person detector; people are otherwise extrapolated
            below detected faces.
        config: analysis settings.
    """
    config = config or AnalysisConfig()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    rgb = image.pixels
    wh, ww = rgb.shape[:2]
    W, H = image.width, image.height
    sx, sy = W / ww, H / wh  # working -> original

    faces: list[Detection] = []
    people: list[Detection] = []
    if config.detect_faces:
        detector = face_detector if face_detector is not None else HaarFaceDetector()
        faces = [d.scaled(sx, sy) for d in detector.detect(rgb)]
    if people_detector is not None:
        people = [d.scaled(sx, sy) for d in people_detector.detect(rgb)]
    people = merge_detections(people + [person_from_face(f, W, H) for f in faces], max_iou=0.5)
    t1 = time.perf_counter()
    timings["faces"] = (t1 - t0) * 1e3

    mw, mh = _map_size(W, H, config.map_side)
    small = cv2.resize(rgb, (mw, mh), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    gray_work = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    cues = _saliency_cues(lab, gray_work, (mw, mh))
    weights = np.asarray(config.saliency_weights, dtype=np.float32)
    sal = np.tensordot(weights / weights.sum(), cues, axes=1).astype(np.float32)
    sal = _normalise(sal)
    msx, msy = mw / W, mh / H
    for d, boost in [(f, config.face_boost) for f in faces] + [(p, config.person_boost) for p in people]:
        _paint_box(sal, d.box, msx, msy, boost * (0.6 + 0.4 * d.score))
    sal = _normalise(sal)
    edges = _edge_map(lab[:, :, 0])
    t2 = time.perf_counter()
    timings["saliency"] = (t2 - t1) * 1e3

    lines = _dominant_lines(gray_work, sx, sy, config.max_lines, config.lines_side)
    vp = _vanishing_point(lines, W, H)
    horizon = _find_horizon(lab, lines, W, H)
    t3 = time.perf_counter()
    timings["lines"] = (t3 - t2) * 1e3

    subjects = _subjects(sal, small, faces, W, H)
    colour = _colour_stats(small, lab)
    total = float(sal.sum())
    if total > 0:
        ys, xs = np.mgrid[0:mh, 0:mw]
        centroid = (float((sal * (xs + 0.5)).sum() / total / mw), float((sal * (ys + 0.5)).sum() / total / mh))
    else:
        centroid = (0.5, 0.5)
    timings["regions"] = (time.perf_counter() - t3) * 1e3
    return CompositionAnalysis(
        width=W,
        height=H,
        saliency=sal,
        edges=edges,
        faces=faces,
        people=people,
        subjects=subjects,
        lines=lines,
        vanishing_point=vp,
        horizon=horizon,
        colour=colour,
        centroid=centroid,
        lab=lab,
        timings=timings,
    )


# --------------------------------------------------------------------------------------------
# Saliency
# --------------------------------------------------------------------------------------------


def _map_size(width: int, height: int, side: int) -> tuple[int, int]:
    k = side / max(width, height)
    return max(8, int(round(width * k))), max(8, int(round(height * k)))


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide kernels run on a downsampled copy (the same to the eye, much faster)."""
    if sigma < 3:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    k = max(1, int(sigma // 2))
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / k)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _normalise(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    if hi - lo < 1e-12:
        return np.zeros_like(a, dtype=np.float32)
    return ((a - lo) / (hi - lo)).astype(np.float32)


def spectral_residual(gray: np.ndarray, size: int = 64) -> np.ndarray:
    """Spectral-residual saliency (Hou and Zhang 2007) of a grey image at ``size x size``.

    Returns a ``(size, size)`` map in [0, 1].
    """
    g = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    spec = np.fft.fft2(g)
    log_amp = np.log(np.abs(spec) + 1e-8)
    phase = np.angle(spec)
    residual = log_amp - cv2.blur(log_amp, (3, 3), borderType=cv2.BORDER_REFLECT)
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * phase))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), size / 24)
    return _normalise(sal)


def _saliency_cues(lab: np.ndarray, gray_work: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Stack of four cue maps ``(4, mh, mw)`` in [0, 1]: spectral, frequency-tuned, centre-surround,
    sharpness."""
    mw, mh = size
    diag = math.hypot(mw, mh)
    # 1. spectral residual on luminance
    sr = cv2.resize(spectral_residual(lab[:, :, 0]), (mw, mh), interpolation=cv2.INTER_LINEAR)
    # 2. frequency-tuned: distance of the slightly blurred Lab image from the mean colour
    blur = cv2.GaussianBlur(lab, (0, 0), 1.0)
    mean = lab.reshape(-1, 3).mean(axis=0)
    ft = np.sqrt(((blur - mean) ** 2).sum(axis=2))
    ft = _normalise(cv2.GaussianBlur(ft, (0, 0), diag / 80))
    # 3. centre-surround: difference of Gaussians in Lab at three scales
    cs = np.zeros((mh, mw), np.float32)
    for centre in (diag / 100, diag / 50, diag / 25):
        c = cv2.GaussianBlur(lab, (0, 0), centre)
        s = gaussian_blur(lab, centre * 4)
        cs += np.sqrt(((c - s) ** 2).sum(axis=2))
    cs = _normalise(cs)
    # 4. sharpness: local Laplacian energy, telling in-focus subjects from bokeh
    lap = np.abs(cv2.Laplacian(gray_work.astype(np.float32), cv2.CV_32F, ksize=3))
    energy = cv2.resize(lap, (mw, mh), interpolation=cv2.INTER_AREA)
    energy = cv2.GaussianBlur(energy, (0, 0), diag / 60)
    hi = float(np.percentile(energy, 99)) + 1e-6
    sharp = np.clip(energy / hi, 0, 1)
    # sharpness only tells subjects apart when part of the frame is soft
    spread = float(np.percentile(sharp, 90) - np.percentile(sharp, 20))
    sharp = sharp * min(1.0, 1.5 * spread)
    return np.stack([sr, ft, cs, sharp.astype(np.float32)])


def _paint_box(sal: np.ndarray, box: tuple[float, float, float, float], sx: float, sy: float, value: float) -> None:
    x, y, w, h = box
    mh, mw = sal.shape
    x0, x1 = int(max(0, math.floor(x * sx))), int(min(mw, math.ceil((x + w) * sx)))
    y0, y1 = int(max(0, math.floor(y * sy))), int(min(mh, math.ceil((y + h) * sy)))
    if x1 > x0 and y1 > y0:
        region = sal[y0:y1, x0:x1]
        np.maximum(region, value, out=region)


def _edge_map(lum: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)
    hi = float(np.percentile(mag, 98)) + 1e-6
    return np.clip(mag / hi, 0, 1).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Lines and horizon
# --------------------------------------------------------------------------------------------


def _dominant_lines(gray: np.ndarray, sx: float, sy: float, max_lines: int, side: int) -> list[Line]:
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


def _vanishing_point(lines: list[Line], width: int, height: int) -> tuple[float, float] | None:
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


def _find_horizon(lab: np.ndarray, lines: list[Line], width: int, height: int) -> Horizon | None:
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


# --------------------------------------------------------------------------------------------
# Subjects and colour
# --------------------------------------------------------------------------------------------


def _subjects(sal: np.ndarray, small_rgb: np.ndarray, faces: list[Detection], W: int, H: int) -> list[Region]:
    mh, mw = sal.shape
    sx, sy = W / mw, H / mh
    total = float(sal.sum()) or 1.0
    out: list[Region] = []
    for f in sorted(faces, key=lambda d: -d.box[2] * d.box[3]):
        x, y, w, h = f.box
        out.append(Region(f.box, (x + w / 2, y + h / 2), _box_mass(sal, f.box, sx, sy) / total, "face"))
    thr = max(0.35, float(sal.mean() + sal.std()))
    blobs: list[Region] = []
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
                blobs.append(region)
    blobs.sort(key=lambda r: -r.mass)
    out.extend(blobs[:4])
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


def _box_mass(sal: np.ndarray, box: tuple[float, float, float, float], sx: float, sy: float) -> float:
    x, y, w, h = box
    x0, y0 = int(max(0, x / sx)), int(max(0, y / sy))
    x1, y1 = int(math.ceil((x + w) / sx)), int(math.ceil((y + h) / sy))
    return float(sal[y0:y1, x0:x1].sum())


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


def _colour_stats(rgb: np.ndarray, lab: np.ndarray) -> ColourStats:
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
