"""Whether the horizon the analysis found is one a viewer would call a horizon, for the words.

:func:`procrop.perception.lines.find_horizon` reports the strongest level divide of the photo; in a
studio or close-up portrait that is the edge of a collar, a hood or a backdrop, and in a still life
the rim of a row of bowls. :func:`real_horizon` keeps a horizon for the description only when

* most of its width is open: at least :data:`MIN_OPEN` of its columns run through no detected
  person, animal or object and no face, nor just above one (a horizon passes behind a subject, not
  through a body that fills the frame, nor along the heads of a row of people under a backdrop);
* it separates two different regions along most of that width: in at least :data:`MIN_STEP_SHARE`
  of the open columns the mean CIELAB colour of a band above the line differs from the band below
  by :data:`MIN_STEP` or more;
* the difference is the same across the frame (sky over sea, not hair on the left and a collar on
  the right): the length of the mean step vector is at least :data:`MIN_COHERENCE` of the mean
  step length.
"""

from __future__ import annotations

import numpy as np

from .analysis import CompositionAnalysis

#: The share of a horizon's columns that must run clear of every detection and face.
MIN_OPEN = 0.5
#: The CIELAB difference (OpenCV 8-bit units) between the bands above and below that counts as a step.
MIN_STEP = 10.0
#: The share of the open columns that must show a step.
MIN_STEP_SHARE = 0.7
#: How alike the step must be across the columns (1: the same colour change everywhere). Set on
#: the pool and BSDS500 photos checked for issue 18: real horizons (sky over sea, land or a
#: tree line) measured 0.88-1.0, a fur hood round a face 0.80, a row of spice bowls 0.44-0.53.
MIN_COHERENCE = 0.85


def horizon_steps(a: CompositionAnalysis) -> tuple[float, np.ndarray]:
    """The share of the horizon's map columns clear of detections and faces, and the colour step
    (above minus below, CIELAB) in each clear column whose bands fit inside the frame, ``(n, 3)``."""
    hz = a.horizon
    if hz is None:
        return 0.0, np.zeros((0, 3))
    found = list(a.people) + list(a.objects) + list(a.faces)
    boxes = np.asarray([d.box for d in found], np.float64).reshape(-1, 4)
    lab = a.lab
    mh, mw = (lab.shape[:2] if lab is not None else a.saliency.shape)
    sx, sy = mw / a.width, mh / a.height
    band = max(2, mh // 12)
    above = (band + 1) / sy  # a line just above a detection has it in the band below: heads under a backdrop
    cols = np.arange(mw)
    x = (cols + 0.5) / sx
    y = hz.y_at(x, a.width)  # every column at once
    bx, by, bw, bh = (boxes[:, k, None] for k in range(4))
    clear = ~((bx <= x) & (x <= bx + bw) & (by - above <= y) & (y <= by + bh)).any(axis=0)
    r = np.round(y * sy).astype(np.int64)
    fits = clear & (r - band - 1 >= 0) & (r + band + 1 <= mh) if lab is not None else np.zeros(mw, bool)
    if not fits.any():
        return float(clear.sum()) / max(mw, 1), np.zeros((0, 3))
    c, r = cols[fits, None], r[fits, None]
    up = lab[r + np.arange(-band - 1, -1), c].mean(axis=1)  # the band above each column's line
    down = lab[r + np.arange(1, band + 1), c].mean(axis=1)  # and the band below it
    return float(clear.sum()) / max(mw, 1), (up - down).astype(np.float64)


def real_horizon(a: CompositionAnalysis) -> bool:
    """Whether :attr:`CompositionAnalysis.horizon` is a real horizon line (see the module's rules).
    Without the CIELAB map (an analysis read back from JSON) only the open-width rule applies."""
    if a.horizon is None:
        return False
    open_share, steps = horizon_steps(a)
    if open_share < MIN_OPEN:
        return False
    if a.lab is None:
        return True
    if len(steps) < max(3, 0.5 * open_share * a.lab.shape[1]):
        return False  # too little of the line lies inside the frame to judge it
    size = np.linalg.norm(steps, axis=1)
    if float((size >= MIN_STEP).mean()) < MIN_STEP_SHARE:
        return False
    return float(np.linalg.norm(steps.mean(axis=0))) >= MIN_COHERENCE * float(size.mean())
