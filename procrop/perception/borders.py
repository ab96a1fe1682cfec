"""Scan borders and bars: flat strips along a photo's edges that are not part of the picture.

Scanned prints and slides often carry a thin flat border (the README's beach photo has 3 grey
pixels on each side and a black bottom row), and letterboxed or pillarboxed frames carry black or
white bars. An editor trims them; a crop that keeps them looks unfinished.

:func:`content_box` walks inward from each edge, one row or column at a time, while the line is
flat (its grey levels vary by at most :data:`FLAT_STD` around their mean) and keeps the colour the
strip started with; the strip is a border only when it ends in a step (the next line is clearly
busier or of another tone), so a clear sky, whose rows stay flat and change tone gradually, is not
one. A grey or coloured border may be at most :data:`MAX_BORDER` of the side; a black or white bar
up to :data:`MAX_BAR`, beside a bar on the opposite side (bars come in pairs); and strips must be
found on at least :data:`MIN_SIDES` sides (a flat band of sky or shadow along one edge is the
picture), unless it is a black or white hairline (:data:`HAIRLINE`: a scanner's last row). One more
line past the strip is trimmed (the blur of the scan or the JPEG edge), and up to two more while
they are much smoother than the picture beyond (:func:`_blur`). Boxes are ``(x, y, w, h)``
in pixels of the oriented original.
"""

from __future__ import annotations

import numpy as np

#: Largest standard deviation (grey levels, 0-255) of a flat line.
FLAT_STD = 6.0
#: Largest change of a flat strip's mean tone from its first line.
TONE_DRIFT = 12.0
#: The line after a strip must differ this much in mean tone, or be this much busier (std).
STEP_TONE, STEP_STD = 20.0, 10.0
#: Widest border (share of the side) of any tone, and of a near-black or near-white bar.
MAX_BORDER, MAX_BAR = 0.03, 0.15
#: A border frames the picture: strips on at least this many sides (a pair of bars has two).
MIN_SIDES = 2
#: Mean grey level under which (or over 255 minus which) a strip is a black (white) bar.
BAR_TONE = 30.0
#: A black or white strip at most this share of its side (up to 11 lines of a 768-px scan) is trimmed even
#: on one side alone: a scanner's or encoder's hairline, never a band of the picture.
HAIRLINE = 0.015
#: Most lines of scan blur trimmed past a strip (:func:`_blur`).
MAX_BLUR = 3
#: A light strip beyond which at least this share of the picture (the lines past the blur, as many as
#: the strip's and at least 4) keeps the strip's tone is the photo's own ground, not a border: a
#: product on a white backdrop that happens to reach near each edge (a telephone's handset and base
#: ended a "border" of white, and every crop cut the base).
LIGHT_GROUND = 0.6
#: A photo whose outermost lines all vary this much more than a flat line has no strip: the rest
#: is not looked at (the margin covers the rounding of a line's statistics computed alone).
EDGE_MARGIN = 0.01

Box = tuple[int, int, int, int]


def _strip(lines: np.ndarray, n: int) -> tuple[int, bool]:
    """How many of ``lines`` (grey levels, from the edge inward: the first of the side's ``n``, as
    many as a bar may span and two more, since a longer run is no strip) form a border: flat runs
    from the edge (a black line, then a grey border...), each ending in a step, together not too
    wide (else 0); and whether it is wider than a border (a black or white bar)."""
    total, bar = 0, False
    means, stds = _line_stats(lines)
    while total < len(means):
        run, wide = _run(means[total:], stds[total:], n)
        if not run or total + run > (MAX_BAR if wide or bar else MAX_BORDER) * n:
            break
        total, bar = total + run, bar or wide
    return total, bar


def _run(means: np.ndarray, stds: np.ndarray, n: int) -> tuple[int, bool]:
    """One flat run of :func:`_strip` at the start of ``means``/``stds`` (``n``: the side's length)."""
    left = len(means)
    if stds[0] > FLAT_STD:
        return 0, False
    run = 1
    while run < left and stds[run] <= FLAT_STD and abs(means[run] - means[0]) <= TONE_DRIFT:
        run += 1
    if run >= left - 1:
        return 0, False
    bar = means[:run].mean() < BAR_TONE or means[:run].mean() > 255 - BAR_TONE
    if run > (MAX_BAR if bar else MAX_BORDER) * n:
        return 0, False
    after = slice(run, min(left, run + 2))  # the step may be spread over a line of scan blur
    stepped = (np.abs(means[after] - means[:run].mean()) >= STEP_TONE).any() or (stds[after] >= STEP_STD).any()
    return (run, run > MAX_BORDER * n) if stepped else (0, False)


def _hairline(strip: np.ndarray, n: int) -> bool:
    """Whether the lines of a strip (grey levels) are a black or white hairline: 1 to
    :data:`HAIRLINE` of the side's ``n`` lines (at least one)."""
    if not 0 < len(strip) <= max(1, HAIRLINE * n):
        return False
    tone = float(strip.mean())
    return tone < BAR_TONE or tone > 255 - BAR_TONE


def _light_ground(lines: np.ndarray, strip: int) -> bool:
    """Whether a strip of ``strip`` lines at the start of ``lines`` (``(n, m, 3)`` RGB, from the edge
    inward) is light and the picture past it keeps its tone (:data:`LIGHT_GROUND`): a white ground."""
    if not strip:
        return False
    k = max(1, lines.shape[1] // 50)
    tone = float(lines[:strip, k:-k].astype(np.float32).mean())
    if tone <= 255 - BAR_TONE:
        return False
    beyond = lines[strip + MAX_BLUR: strip + MAX_BLUR + max(4, strip), k:-k].astype(np.float32).mean(axis=2)
    return beyond.size > 0 and float((np.abs(beyond - tone) <= TONE_DRIFT).mean()) >= LIGHT_GROUND


def _line_stats(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each line's mean and standard deviation of grey, leaving out its ends: they lie in the other
    sides' borders (a corner, a black last row)."""
    k = max(1, lines.shape[1] // 50)
    inner = lines[:, k:-k]
    return inner.mean(axis=1), inner.std(axis=1)


def _blur(lines: np.ndarray, strip: int) -> int:
    """How many lines past a strip of ``strip`` lines (grey levels, from the edge inward) are the
    scan's blur: the first always, then up to :data:`MAX_BLUR` - 1 more while each is less than half
    as busy as the picture two lines further in (at a 768-px scan's full size the blur spans two)."""
    stds = _line_stats(lines)[1]
    extra = 1
    while extra < MAX_BLUR and strip + extra + 2 < len(stds):
        if stds[strip + extra] >= 0.5 * stds[strip + extra + 2]:
            break
        extra += 1
    return extra


def _pair(a: tuple[int, bool], b: tuple[int, bool]) -> tuple[int, int]:
    """Two opposite strips; a bar counts only beside a bar on the other side at least half as wide
    (letterbox and pillarbox bars come in pairs; a dark foreground along one edge is the picture)."""
    ok_a = not a[1] or (b[1] and 2 * b[0] >= a[0])
    ok_b = not b[1] or (a[1] and 2 * a[0] >= b[0])
    return (a[0] if ok_a else 0), (b[0] if ok_b else 0)


def content_box(pixels: np.ndarray, width: int, height: int) -> Box:
    """The part of a photo inside its scan border or bars, ``(x, y, w, h)`` in pixels of the
    original of ``width x height`` (the whole frame when there is none).

    Args:
        pixels: ``(h, w, 3)`` uint8 RGB of the photo at any size (the larger, the thinner the
            borders it can see: :attr:`procrop.imaging.load.LoadedImage.detection_pixels`).
    """
    h, w = pixels.shape[:2]
    if h < 16 or w < 16:
        return (0, 0, width, height)

    def grey(lines: np.ndarray, n: int) -> np.ndarray:  # the lines a strip may span (of n), from the edge
        return lines[: min(n, int(MAX_BAR * n) + 3)].astype(np.float32).mean(axis=2)

    cols = np.swapaxes(pixels, 0, 1)
    edges = (cols[:1], cols[-1:], pixels[:1], pixels[-1:])  # the outermost line of each side
    if all(_line_stats(e.astype(np.float32).mean(axis=2))[1][0] > FLAT_STD + EDGE_MARGIN for e in edges):
        return (0, 0, width, height)  # no side starts flat: no strip anywhere (most photos)
    sides = [grey(cols, w), grey(cols[::-1], w), grey(pixels, h), grey(pixels[::-1], h)]
    strips = [_strip(lines, n) for lines, n in zip(sides, (w, w, h, h))]
    strips = [(0, False) if _light_ground(whole, s[0]) else s
              for whole, s in zip((cols, cols[::-1], pixels, pixels[::-1]), strips)]
    left, right = _pair(strips[0], strips[1])
    top, bottom = _pair(strips[2], strips[3])
    found = [left, right, top, bottom]
    if sum(v > 0 for v in found) < MIN_SIDES:  # a flat band along one edge is the picture's, not a hairline
        found = [v if _hairline(lines[:v], n) else 0 for v, lines, n in zip(found, sides, (w, w, h, h))]
        if not any(found):
            return (0, 0, width, height)
        left, right, top, bottom = found
    sx, sy = width / w, height / h
    # the scan's blur past a strip; in original pixels, rounded outward
    left, right, top, bottom = (v + _blur(lines, v) if v else 0
                                for v, lines in zip((left, right, top, bottom), sides))
    x0 = int(np.ceil(left * sx)) if left else 0
    x1 = width - (int(np.ceil(right * sx)) if right else 0)
    y0 = int(np.ceil(top * sy)) if top else 0
    y1 = height - (int(np.ceil(bottom * sy)) if bottom else 0)
    if x1 - x0 < width / 2 or y1 - y0 < height / 2:  # never more than a border: keep the photo
        return (0, 0, width, height)
    return (x0, y0, x1 - x0, y1 - y0)


def fit_inside(boxes: np.ndarray, content: Box, ratio: float | None) -> np.ndarray:
    """``boxes (N, 4)`` moved inside ``content``: each is intersected with it and, for a fixed pixel
    ``ratio`` (width / height), shrunk to that ratio, against the side the border clipped (that edge
    stays on the picture's edge) or about the centre. Boxes already inside are returned unchanged."""
    b = np.asarray(boxes, dtype=np.int64).reshape(-1, 4).copy()
    cx0, cy0, cw, ch = content
    x0, y0 = np.maximum(b[:, 0], cx0), np.maximum(b[:, 1], cy0)
    x1, y1 = np.minimum(b[:, 0] + b[:, 2], cx0 + cw), np.minimum(b[:, 1] + b[:, 3], cy0 + ch)
    moved = (x0 != b[:, 0]) | (y0 != b[:, 1]) | (x1 != b[:, 0] + b[:, 2]) | (y1 != b[:, 1] + b[:, 3])
    for i in np.flatnonzero(moved & (x1 > x0) & (y1 > y0)):
        w, h = int(x1[i] - x0[i]), int(y1[i] - y0[i])
        if ratio is not None:
            w, h = (w, max(1, round(w / ratio))) if w / h <= ratio else (max(1, round(h * ratio)), h)
            w, h = min(w, int(x1[i] - x0[i])), min(h, int(y1[i] - y0[i]))
        x = _place(int(x0[i]), int(x1[i]), w, x0[i] > b[i, 0], x1[i] < b[i, 0] + b[i, 2])
        y = _place(int(y0[i]), int(y1[i]), h, y0[i] > b[i, 1], y1[i] < b[i, 1] + b[i, 3])
        b[i] = (x, y, w, h)
    return b


def _place(lo: int, hi: int, size: int, lo_clipped: bool, hi_clipped: bool) -> int:
    """Where a side of ``size`` goes in ``[lo, hi]``: against the end the border clipped (that edge
    stays the picture's edge; the other keeps as much of its place as it can), else centred."""
    if lo_clipped and not hi_clipped:
        return lo
    if hi_clipped and not lo_clipped:
        return hi - size
    return lo + (hi - lo - size) // 2
