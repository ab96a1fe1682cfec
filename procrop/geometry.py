"""Boxes and aspect ratios: parsing ratios, exact-ratio sizes, box conversions, IoU and the one
greedy suppression every part of procrop uses.

Every box is ``(x, y, w, h)`` in integer pixels of the oriented original image: top-left corner,
width and height, so a box covers columns ``x .. x+w-1`` and rows ``y .. y+h-1``. Arrays of boxes
have shape ``(N, 4)`` in the same layout.

Exact ratios: a ratio whose reduced terms ``p:q`` are both at most :data:`EXACT_TERMS` (1:1, 4:5,
3:2, 16:9, 21:9, a ``1080x1350`` output size...) gets boxes of exactly ``k*p x k*q`` pixels, the
short side rounded to a multiple of ``min(p, q)``, whenever the image holds one (``k >= 1``). Any
other ratio (``1.91:1``, ``original`` of an odd-sized photo), and one whose smallest exact box does
not fit, gets the nearest box instead: for ``rho >= 1`` (long side over short side) we choose the
*short* side ``s`` and set the long side to ``round(s * rho)``, so both sides are within half a
pixel of the exact ratio (``|L - s*rho| <= 0.5`` and ``|s - L/rho| <= 0.5/rho``).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import UsageError

Box = tuple[int, int, int, int]

#: Ratios the weak-label refinement snaps to (ProCrop): 1, 5:4, 4:3, 7:5, 3:2, 16:9.
STANDARD_RATIOS: tuple[float, ...] = (1.0, 5 / 4, 4 / 3, 7 / 5, 3 / 2, 16 / 9)


@dataclass(frozen=True)
class AspectRatio:
    """A requested crop shape.

    Attributes:
        label: what the user asked for (``"1:1"``, ``"free"``, ``"original"``, ``"1080x1350"``).
        kind: ``"free"``, ``"original"``, ``"ratio"`` or ``"size"``.
        value: width / height for fixed ratios, ``None`` for ``free`` (and for ``original`` until
            resolved against an image by :meth:`resolve`).
        output_size: ``(w, h)`` for ``WxH`` requests: written crops are resized to it.
    """

    label: str
    kind: str
    value: float | None = None
    output_size: tuple[int, int] | None = None

    @property
    def is_free(self) -> bool:
        return self.kind == "free"

    def resolve(self, width: int, height: int) -> AspectRatio:
        """Fix ``original`` to the image's own width/height; other kinds are returned unchanged."""
        if self.kind == "original":
            return AspectRatio(self.label, "original", width / height)
        return self


# signs are matched only to say what is wrong with a negative term
_RATIO_RE = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*[:/]\s*([-+]?\d+(?:\.\d+)?)\s*$")
_SIZE_RE = re.compile(r"^\s*([-+]?\d+)\s*[xX×]\s*([-+]?\d+)\s*$")
_MAX_RATIO = 20.0
#: The least long side of an output size ``WxH``: ``4x5`` is meant as the ratio ``4:5``.
MIN_OUTPUT_SIDE = 32
#: The largest output size: sides up to WebP's 16383 (roughly), at most 100 megapixels (a
#: ``10800x13500`` typed for ``1080x1350`` wrote 146-megapixel files; ``100000x100000`` ran out of memory).
MAX_OUTPUT_SIDE = 16384
MAX_OUTPUT_PIXELS = 100_000_000


def whole_number(value: Any) -> bool:
    """An ``int`` or numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def real_number(value: Any) -> bool:
    """An ``int``, ``float`` or numpy number, not a bool (text compared with one is a TypeError)."""
    numeric = isinstance(value, (int, float, np.integer, np.floating))
    return numeric and not isinstance(value, (bool, np.bool_))


def check_whole(name: str, value: Any, low: int, high: int | None = None, unit: str = "") -> None:
    """Raise :class:`UsageError` unless ``value`` is a whole number (not a bool) from ``low`` to
    ``high`` (no upper bound: ``None``); the message names the argument, the range and the value."""
    if whole_number(value) and value >= low and (high is None or value <= high):
        return
    span = f"of at least {low}" if high is None else f"from {low} to {high}"
    raise UsageError(f"{name} must be a whole number{unit} {span}, got {value!r}")


def oversize(width: int, height: int) -> str | None:
    """What is wrong with an output size over :data:`MAX_OUTPUT_SIDE` or :data:`MAX_OUTPUT_PIXELS`
    (``"is too large (at most ...)"``), else ``None``."""
    if max(width, height) > MAX_OUTPUT_SIDE or width * height > MAX_OUTPUT_PIXELS:
        return (f"is too large (at most {MAX_OUTPUT_SIDE} pixels a side and {MAX_OUTPUT_PIXELS // 1_000_000} "
                "megapixels)")
    return None


def stretches(box_width: float, box_height: float, width: float, height: float) -> bool:
    """Whether resizing a ``box_width x box_height`` crop to ``width x height`` changes its shape:
    the height its width gives differs by more than a pixel and 1 % of ``height``."""
    return abs(box_height * width / box_width - height) > max(1.0, 0.01 * height)


def parse_ratio(spec: str) -> AspectRatio:
    """Parse one ratio spec: ``free``, ``original``, ``W:H`` (or ``W/H``, decimals allowed), a plain
    number (width/height, e.g. ``1.5``) or an output size ``WxH`` such as ``1080x1350``.

    Raises:
        UsageError: for anything else, or ratios beyond 1:20 / 20:1.
    """
    if not isinstance(spec, str):  # None reached .strip() (a trial's for_ratio(None))
        raise UsageError(f"a ratio is text such as 'free', '4:5' or '1080x1350', got {spec!r}")
    text = spec.strip()
    low = text.lower()
    if low in ("free", "any", "auto"):
        return AspectRatio("free", "free")
    if low in ("original", "orig", "keep"):
        return AspectRatio("original", "original")
    m = _SIZE_RE.match(text)
    if m:
        w, h = int(m.group(1)), int(m.group(2))
        if w <= 0 or h <= 0:
            raise UsageError(f"invalid output size {spec!r}: width and height must be positive")
        if max(w, h) < MIN_OUTPUT_SIDE:
            raise UsageError(
                f"output size {text} would write {w}x{h}-pixel files: for the aspect ratio use {w}:{h} "
                f"(an output size needs a side of at least {MIN_OUTPUT_SIDE} pixels)"
            )
        if (too_large := oversize(w, h)) is not None:
            raise UsageError(f"output size {text} {too_large}")
        value = w / h
        _check_ratio_range(spec, value)
        return AspectRatio(f"{w}x{h}", "size", value, (w, h))
    m = _RATIO_RE.match(text)
    if m:
        a, b = float(m.group(1)), float(m.group(2))
        if a <= 0 or b <= 0:
            raise UsageError(f"invalid ratio {spec!r}: both terms must be positive")
        value = a / b
        _check_ratio_range(spec, value)
        return AspectRatio(f"{m.group(1).lstrip('+')}:{m.group(2).lstrip('+')}", "ratio", value)
    try:
        value = float(text)
    except ValueError:
        raise UsageError(
            f"invalid ratio {spec!r}: use free, original, W:H (e.g. 16:9) or an output size "
            "WxH (e.g. 1080x1350)"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"invalid ratio {spec!r}: must be a positive number")
    _check_ratio_range(spec, value)
    frac = Fraction(value).limit_denominator(100)
    return AspectRatio(f"{frac.numerator}:{frac.denominator}", "ratio", value)


def _check_ratio_range(spec: str, value: float) -> None:
    if not (1 / _MAX_RATIO <= value <= _MAX_RATIO):
        raise UsageError(f"ratio {spec!r} is too extreme (allowed: 1:20 to 20:1)")


def _split_specs(text: str) -> list[str]:
    """``"1:1, 16:9"`` -> ``["1:1", " 16:9"]``; ``""`` -> ``[]``; an empty entry among others is an error."""
    if not text.strip():
        return []
    parts = text.split(",")
    if any(not p.strip() for p in parts):
        raise UsageError(f"invalid ratio list {text!r}: an empty entry (a comma at the start or end, or two in a row)")
    return parts


def parse_ratios(specs: str | list[str] | tuple[str, ...] | None) -> list[AspectRatio]:
    """Parse a comma-separated string or a list of specs; duplicates are dropped, order kept.

    ``None``, ``""`` or an empty list means ``["free"]``.

    Raises:
        UsageError: an invalid spec, an empty entry in a list (``"1:1,"``, ``"1:1,,4:5"``), or an
            entry that is not a string (``(16, 9)``).
    """
    if specs is None:
        items: list[str] = ["free"]
    elif isinstance(specs, str):
        items = _split_specs(specs)
    elif isinstance(specs, (list, tuple)):
        items = []
        for s in specs:
            if not isinstance(s, (str, AspectRatio)):  # (16, 9) read as "16" and "9" gave 16:1 and 9:1 strips
                raise UsageError(f"ratios must be strings such as '16:9' or 'free', got {s!r} "
                                 f"({type(s).__name__}) in {specs!r}")
            if isinstance(s, str) and not s.strip():  # ["1:1", ""] dropped it, "1:1," is refused
                raise UsageError(f"invalid ratio list {specs!r}: an empty entry")
            items.extend([s.label] if isinstance(s, AspectRatio) else _split_specs(s))
    else:
        raise UsageError(f"ratios must be a string such as '1:1,16:9' or a list of such strings, "
                         f"got {specs!r}")
    if not items:
        items = ["free"]
    out: list[AspectRatio] = []
    seen: set[str] = set()
    for item in items:
        ratio = parse_ratio(item)
        if ratio.label not in seen:
            seen.add(ratio.label)
            out.append(ratio)
    return out


# --------------------------------------------------------------------------------------------
# Exact-ratio boxes
# --------------------------------------------------------------------------------------------


#: Ratios whose reduced terms are both at most this are made exact (:func:`exact_terms`): the price,
#: a largest box up to ``p - 1`` / ``q - 1`` pixels narrower / shorter than the nearest-pixel one.
EXACT_TERMS = 32


@functools.lru_cache(maxsize=256)
def exact_terms(ratio: float) -> tuple[int, int] | None:
    """The reduced ``(p, q)`` with ``p / q == ratio`` when both are at most :data:`EXACT_TERMS`
    (``0.8`` -> ``(4, 5)``, ``16 / 9`` -> ``(16, 9)``), else ``None``."""
    frac = Fraction(ratio).limit_denominator(EXACT_TERMS)
    p, q = frac.numerator, frac.denominator
    if p < 1 or p > EXACT_TERMS or abs(p / q - ratio) > 1e-9 * ratio:
        return None
    return p, q


def size_for_short_side(short: int, ratio: float, at_least: bool = False) -> tuple[int, int]:
    """``(w, h)`` of ``ratio`` w/h whose short side is about ``short``.

    For a ratio with small terms ``p:q`` (:func:`exact_terms`) the size is exactly ``k*p x k*q``
    (``k >= 1``, so it may exceed an image too small for the ratio: callers check), with the short
    side ``k*min(p, q)`` the multiple nearest to ``short`` (with ``at_least``, the least multiple not
    below it). Otherwise the short side is ``short`` and the long side is rounded, which keeps the
    ratio to half a pixel.
    """
    terms = exact_terms(ratio)
    if terms is not None:
        unit = min(terms)
        k = -(-short // unit) if at_least else max(1, int(round(short / unit)))
        return k * terms[0], k * terms[1]
    return _nearest_size(short, ratio)


def largest_size(width: int, height: int, ratio: float) -> tuple[int, int]:
    """The largest ``(w, h)`` of the given ratio that fits in ``width x height``: exactly ``ratio``
    when its terms are small and the image holds one such box (see the module notes), else the
    largest within half a pixel of it."""
    terms = exact_terms(ratio)
    if terms is not None:
        k = min(width // terms[0], height // terms[1])
        if k >= 1:
            return k * terms[0], k * terms[1]
    rho = ratio if ratio >= 1 else 1 / ratio
    long_limit, short_limit = (width, height) if ratio >= 1 else (height, width)
    short = min(short_limit, int(math.floor(long_limit / rho + 1e-9)))
    short = max(short, 1)
    while short > 1:
        w, h = _nearest_size(short, ratio)
        if w <= width and h <= height:
            return w, h
        short -= 1
    w, h = _nearest_size(1, ratio)
    return min(w, width), min(h, height)


def _nearest_size(short: int, ratio: float) -> tuple[int, int]:
    """Short side ``short``, long side rounded: the ratio to half a pixel."""
    if ratio >= 1:
        return int(round(short * ratio)), short
    return short, int(round(short / ratio))


def largest_box(width: int, height: int, ratio: float) -> Box:
    """The largest centred box of the given ratio inside the image."""
    w, h = largest_size(width, height, ratio)
    return (width - w) // 2, (height - h) // 2, w, h


def ratio_error_px(box: Box | np.ndarray, ratio: float) -> float:
    """Largest deviation in pixels of either side from the exact ratio (0 means exact)."""
    w, h = float(box[2]), float(box[3])
    return max(abs(w - h * ratio), abs(h - w / ratio))


def snap_to_ratio(box: Box, ratio: float, width: int, height: int) -> Box:
    """Snap ``box`` to an exact ``ratio`` keeping its centre and area as far as the image allows."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    area = max(w * h, 1)
    # short side for the same area: s * (s * rho) = area
    rho = ratio if ratio >= 1 else 1 / ratio
    short = max(1, int(round(math.sqrt(area / rho))))
    max_w, max_h = largest_size(width, height, ratio)
    max_short = min(max_w, max_h)
    nw, nh = size_for_short_side(min(short, max_short), ratio)
    if nw > max_w or nh > max_h:  # an image too small for an exact box
        nw, nh = max_w, max_h
    nx = int(round(cx - nw / 2))
    ny = int(round(cy - nh / 2))
    nx = min(max(nx, 0), width - nw)
    ny = min(max(ny, 0), height - nh)
    return nx, ny, nw, nh


# --------------------------------------------------------------------------------------------
# Overlap and diversity
# --------------------------------------------------------------------------------------------


def fit_long_side(height: int, width: int, side: int, multiple: int = 0) -> tuple[int, int, int, int, float]:
    """A ``height x width`` image scaled so its long side is ``side``, as a detector's input takes
    it: the scaled size ``(h, w)`` (at least a pixel each), the padded size ``(H, W)`` (``side x
    side``, or with ``multiple`` each side rounded up to a multiple of it) and the scale ``k``
    (image px * k = input px)."""
    k = side / max(height, width)
    h, w = max(1, min(side, round(height * k))), max(1, min(side, round(width * k)))
    if not multiple:
        return h, w, side, side, k
    return h, w, -(-h // multiple) * multiple, -(-w // multiple) * multiple, k


def checked_boxes(boxes: object, width: int, height: int) -> np.ndarray:
    """``(x, y, w, h)`` boxes (one box or ``(N, 4)``) as a float ``(N, 4)`` array, each with a side of
    at least one pixel and inside the ``width x height`` image (to half a pixel).

    Raises:
        UsageError: naming the first box that is not.
    """
    try:
        arr = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"boxes must be numbers (x, y, w, h), got {boxes!r}") from None
    if arr.ndim == 1 and arr.size == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise UsageError(f"boxes must be (x, y, w, h) or an (N, 4) array, got shape {arr.shape}")
    x, y, w, h = arr.T
    bad = ~(np.isfinite(arr).all(axis=1) & (w >= 1) & (h >= 1) & (x >= -0.5) & (y >= -0.5)
            & (x + w <= width + 0.5) & (y + h <= height + 0.5))
    if bad.any():
        b = ",".join(f"{v:g}" for v in arr[int(np.argmax(bad))])
        raise UsageError(f"box {b} must have a positive size and lie inside the {width}x{height} image")
    return arr


def _corners(boxes: np.ndarray) -> np.ndarray:
    """``(5, N)``: the rows ``x0, y0, x1, y1, area`` of ``(N, 4)`` ``xywh`` boxes."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3], b[:, 2] * b[:, 3]])


def _corner_iou(c: np.ndarray | list[np.ndarray], d: np.ndarray) -> np.ndarray:
    """IoU of :func:`_corners` ``c (5, ...)`` and ``d (5, ...)`` (or five rows each), their trailing
    axes broadcast."""
    inter = (np.maximum(np.minimum(c[2], d[2]) - np.maximum(c[0], d[0]), 0)
             * np.maximum(np.minimum(c[3], d[3]) - np.maximum(c[1], d[1]), 0))
    union = c[4] + d[4] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` ``xywh`` boxes, shape ``(N, M)``."""
    return _corner_iou(_corners(a)[:, :, None], _corners(b)[:, None])


def has_border(content: Any, width: int, height: int) -> bool:
    """Whether a picture's ``content`` box (None: unmeasured) is inside bars or a scan border of its frame."""
    return content is not None and tuple(int(v) for v in content) != (0, 0, width, height)


def inside_fractions(boxes: np.ndarray, objects: list[tuple[float, float, float, float]]) -> np.ndarray:
    """``(K, N)``: the share of each object's area inside each ``(N, 4)`` ``xywh`` box."""
    if not objects:
        return np.zeros((0, len(boxes)))
    o = np.asarray(objects, dtype=np.float64).reshape(-1, 4)
    bx0, by0 = boxes[:, 0][None], boxes[:, 1][None]
    bx1, by1 = bx0 + boxes[:, 2][None], by0 + boxes[:, 3][None]
    ox0, oy0 = o[:, 0:1], o[:, 1:2]
    ox1, oy1 = ox0 + o[:, 2:3], oy0 + o[:, 3:4]
    iw = np.clip(np.minimum(bx1, ox1) - np.maximum(bx0, ox0), 0, None)
    ih = np.clip(np.minimum(by1, oy1) - np.maximum(by0, oy0), 0, None)
    return iw * ih / np.maximum(o[:, 2:3] * o[:, 3:4], 1e-9)


def iou(a: Box | np.ndarray, b: Box | np.ndarray) -> float:
    """IoU of two ``xywh`` boxes."""
    return float(iou_matrix(np.asarray(a)[None], np.asarray(b)[None])[0, 0])


def select_diverse(scores: np.ndarray, boxes: np.ndarray, top_k: int, max_iou: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices of up to ``top_k`` boxes, best first, whose
    pairwise IoU stays below ``max_iou``. Ties are broken by index, so results are deterministic.

    Cost is ``O(top_k * N)``: each kept box suppresses its overlaps in one vectorised step.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if top_k <= 0 or len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(len(scores)), -scores))
    corners = _corners(boxes)[:, order]  # once, not per kept box
    alive = np.ones(len(order), dtype=bool)
    kept: list[int] = []
    while len(kept) < top_k:
        left = np.flatnonzero(alive)
        if left.size == 0:
            break
        f = left[0]
        kept.append(int(order[f]))
        alive[f] = False
        alive[left] &= _corner_iou([row[left] for row in corners], corners[:, f]) < max_iou
    return np.asarray(kept, dtype=np.int64)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """``(N, 4)`` ``x1, y1, x2, y2`` -> ``x, y, w, h``."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    b[:, 2] -= b[:, 0]
    b[:, 3] -= b[:, 1]
    return b


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """``(N, 4)`` ``x, y, w, h`` -> ``x1, y1, x2, y2``."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    b[:, 2] += b[:, 0]
    b[:, 3] += b[:, 1]
    return b


def ratio_label(w: int, h: int) -> str:
    """A readable label for the aspect of a ``w x h`` box, e.g. ``3:2`` or ``1.43:1``."""
    frac = Fraction(w, h).limit_denominator(20)
    if abs(frac.numerator / frac.denominator - w / h) < 0.01 * (w / h):
        return f"{frac.numerator}:{frac.denominator}"
    if w / h < 0.05:  # a 1 x 4000 strip read "0.00:1" (ratios from 1:20 up read as before)
        return f"1:{h / w:.0f}"
    return f"{w / h:.2f}:1"
