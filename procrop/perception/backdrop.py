"""A studio backdrop: a subject photographed on a plain white or light grey ground (a shop's
catalogue, a product or a model on white).

On such a photo the uncropped frame is not a composition to keep: the ground around the subject is
empty, and an editor frames the subject with a margin. :func:`studio_backdrop` finds the ground
(cells of the analysis' Lab map close to the colour of the photo's border, flat, light and neutral),
:func:`subject_frames` the crops that hold everything on it with a margin. The scorers read the
ground's share of a crop (:func:`procrop.scoring.terms.preference.backdrop_penalty`). A dark ground
(a jellyfish on black, a moon series) is left alone: there the empty space is the photographer's.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import AspectRatio, inside_fractions, largest_size
from .integral import IntegralMap

Box = tuple[float, float, float, float]

#: Share of the photo the ground must cover, and of the photo's outer ring (:data:`RING` of its
#: shorter side), for the photo to be a subject on a studio backdrop.
STUDIO_SHARE, RING_SHARE, RING = 0.8, 0.85, 0.04
#: A ground cell: within this colour distance (OpenCV's 8-bit Lab) of the ring's median colour,
#: with a lightness gradient under GRADIENT.
DELTA, GRADIENT = 8.0, 8.0
#: A paper that fades (a vignette, a sweep): colour distance, gradient (of the lightness blurred by
#: one cell: a paper's grain is no edge), and the blur; only round things the frame does not cut (so
#: widened, the tolerances took in minimalist photos of a branch or a sculpture running off the frame).
FADING = (36.0, 14.0, True)
#: The ring's median colour must be this light (OpenCV's 8-bit L) and this close to neutral grey
#: (|a - 128| and |b - 128|): white or light grey paper, not a blue sky or a black cloth.
LIGHT, NEUTRAL = 200.0, 12.0
#: Margins round the subject (shares of its extent per side) of the crops that frame it.
MARGINS = (0.08, 0.15, 0.3)


def studio_backdrop(lab: np.ndarray) -> np.ndarray | None:
    """``(mh, mw)`` bool mask of the ground when the photo ``lab (mh, mw, 3)`` (OpenCV's 8-bit Lab)
    is a subject on a plain light backdrop (see the module docstring), else ``None``: a flat ground
    (:data:`DELTA`, :data:`GRADIENT`), or a paper that fades into a vignette or a sweep
    (:data:`FADING`) round things the photo's frame does not cut."""
    lab = np.asarray(lab, np.float32)
    h, w = lab.shape[:2]
    r = max(1, int(round(RING * min(h, w))))
    ring = np.ones((h, w), bool)
    ring[r:h - r, r:w - r] = False
    median = np.median(lab[ring], axis=0)
    if median[0] < LIGHT or max(abs(median[1] - 128.0), abs(median[2] - 128.0)) > NEUTRAL:
        return None
    distance = np.sqrt(((lab - median) ** 2).sum(axis=2))
    for delta, gradient, smooth in ((DELTA, GRADIENT, False), FADING):
        lightness = cv2.GaussianBlur(lab[:, :, 0], (0, 0), 1.0) if smooth else lab[:, :, 0]
        slope = np.hypot(cv2.Sobel(lightness, cv2.CV_32F, 1, 0), cv2.Sobel(lightness, cv2.CV_32F, 0, 1))
        ground = (distance < delta) & (slope < gradient)
        if smooth:  # a fading paper: neutral everywhere, and nothing on it cut by the frame
            ground &= np.maximum(np.abs(lab[:, :, 1] - 128.0), np.abs(lab[:, :, 2] - 128.0)) <= NEUTRAL
            if _cut_by_frame(ground):
                continue
        if ground.mean() >= STUDIO_SHARE and ground[ring].mean() >= RING_SHARE:
            return ground
    return None


def _cut_by_frame(ground: np.ndarray) -> bool:
    """Whether a part of what is not ground (specks of one cell left out) touches the map's border."""
    mh, mw = ground.shape
    return any(x <= 0 or y <= 0 or x + w >= mw or y + h >= mh for x, y, w, h in things(ground, mw, mh, 0.0))


def subject_extent(ground: np.ndarray, width: int, height: int) -> Box | None:
    """``(x, y, w, h)`` in photo pixels of everything that is not ground (``ground (mh, mw)``),
    specks of one cell left out; ``None`` when nothing stands on it."""
    parts = things(ground, width, height, 0.0)
    return _union(parts) if parts else None


def _union(parts: list[Box]) -> Box:
    x0, y0 = min(p[0] for p in parts), min(p[1] for p in parts)
    x1, y1 = max(p[0] + p[2] for p in parts), max(p[1] + p[3] for p in parts)
    return (x0, y0, x1 - x0, y1 - y0)


def subject_frames(extent: Box, ratio: AspectRatio, width: int, height: int, min_area: float = 0.0
                   ) -> np.ndarray:
    """``(M, 4)`` int crops of ``ratio`` that hold ``extent`` centred, with each of :data:`MARGINS`
    (the free ratio: the extent's own shape), each at least ``min_area`` of the ratio's largest box
    (the photo, for free), inside the photo (a frame too large for it keeps the ratio's largest
    size, shifted to hold as much as it can)."""
    value = ratio.resolve(width, height).value
    x, y, w, h = extent
    cx, cy = x + w / 2, y + h / 2
    largest = float(np.prod(largest_size(width, height, value) if value is not None else (width, height)))
    out = []
    for m in MARGINS:
        fw, fh = w * (1 + 2 * m), h * (1 + 2 * m)
        grow = np.sqrt(min_area * largest / max(fw * fh, 1e-9))
        if value is not None:  # the ratio's shape first, then grown to the minimum
            fw, fh = max(fw, fh * value), max(fh, fw / value)
            grow = np.sqrt(min_area * largest / (fw * fh))
        fw, fh = fw * max(1.0, grow), fh * max(1.0, grow)
        if value is None:
            bw, bh = min(width, max(1, round(fw))), min(height, max(1, round(fh)))
        else:  # exactly the ratio, the largest of its size when the frame would not fit
            bh = max(1, round(max(fh, fw / value)))
            bw = max(1, round(bh * value))
            if bw > width or bh > height:
                bw, bh = largest_size(width, height, value)
        bx = min(max(round(cx - bw / 2), 0), width - bw)
        by = min(max(round(cy - bh / 2), 0), height - bh)
        out.append((bx, by, bw, bh))
    return np.asarray(out, dtype=np.int64).reshape(-1, 4)


def ground_share(ground: np.ndarray, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(N,)`` share of each of ``boxes (N, 4)`` (photo pixels) that is empty ground."""
    mh, mw = ground.shape
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    sx, sy = mw / width, mh / height
    x0, y0 = b[:, 0] * sx, b[:, 1] * sy
    sums = IntegralMap(ground.astype(np.float32)[:, :, None]).box_sum(
        x0, y0, x0 + b[:, 2] * sx, y0 + b[:, 3] * sy)[:, 0]
    return np.clip(sums / np.maximum(b[:, 2] * sx * b[:, 3] * sy, 1e-9), 0.0, 1.0)


#: Parts of what stands on the ground smaller than this share of the photo are specks, not things.
MIN_THING = 0.005
#: The room a crop keeps round the things on the ground where it can: a share of their extent a side.
ROOM = 0.04
#: Where a crop can, its share of empty ground stays under this (a 16:9 banner of white round a
#: man near the photo's edge, a trial's): above it the frame is mostly nothing.
MOST_GROUND = 0.7
#: Where every crop holds more ground than that (a square of a standing man), at most this much more
#: than the emptiest one allowed.
MORE_GROUND = 0.08


def things(ground: np.ndarray, width: int, height: int, smallest: float = MIN_THING) -> list[Box]:
    """``(x, y, w, h)`` photo pixels of each connected part of what is not ground (specks of one cell
    left out) covering at least ``smallest`` of the photo."""
    parts = cv2.morphologyEx((~ground).astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(parts)
    mh, mw = ground.shape
    sx, sy = width / mw, height / mh
    return [(float(x * sx), float(y * sy), float(w * sx), float(h * sy))
            for x, y, w, h, area in stats[1:n] if area > 0 and area >= smallest * mh * mw]


def studio_allowed(allowed: np.ndarray, boxes: np.ndarray, ground: np.ndarray, width: int, height: int
                   ) -> np.ndarray:
    """``allowed (N,)`` narrowed, each step only where some crop still allowed passes it: every thing
    on the ground together, whole with :data:`ROOM` (else whole); each thing inside the photo whole or
    left out; and, when everything is held together, at most :data:`MOST_GROUND` empty ground (else
    :data:`MORE_GROUND` more than the least). On a plain ground nothing needs cutting: the subject
    detectors' boxes and the head's masks are less exact than the ground's outline (a car's wheels cut
    by 14 px, a trial's)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    parts = things(ground, width, height)
    if not parts:
        return allowed

    def narrowed(ok: np.ndarray, rule: np.ndarray) -> np.ndarray:
        return ok & rule if (ok & rule).any() else ok

    x0, y0, w, h = _union(parts)
    x1, y1 = x0 + w, y0 + h
    mx, my = ROOM * w, ROOM * h
    roomy = (max(0.0, x0 - mx), max(0.0, y0 - my), min(width, x1 + mx), min(height, y1 + my))
    held = False
    for (ax, ay, bx, by) in (roomy, (x0, y0, x1, y1)):
        together = inside_fractions(b, [(ax, ay, bx - ax, by - ay)])[0] >= 0.995
        if (allowed & together).any():
            allowed, held = allowed & together, True
            break
    for part in parts:  # a thing the photo's own frame cuts is the protection rules' (it has no outline)
        if part[0] > 0 and part[1] > 0 and part[0] + part[2] < width and part[1] + part[3] < height:
            inside = inside_fractions(b, [part])[0]
            allowed = narrowed(allowed, (inside >= 0.995) | (inside <= 0.02))
    if not held:  # without everything in the frame the least ground is a fragment's, no aim
        return allowed
    share = ground_share(ground, b, width, height)
    least = float(share[allowed].min()) if allowed.any() else 0.0  # the emptiest a crop must be
    return narrowed(allowed, share <= max(MOST_GROUND, least + MORE_GROUND))
