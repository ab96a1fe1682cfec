"""The recovery objective of the preference scorer: find the photographer's frame in a wider canvas.

Editors' rankings teach what to keep in a finished photo; they say nothing about a photo that is
a wider scene around a good frame, which is what the learned box scorer was trained on and what
:mod:`benchmarks/recovery.py` measures. So the preference scorer is fitted on both (the recovery
objective keeps what the professional frames teach):

* each training photo is drawn into ``per_photo`` canvases with the weak-label training fills
  (:func:`procrop.training.scorer.boxsets.draw_canvas`; never the benchmark's fills), the photo's own
  frame being the answer;
* the candidates are the ones the cropper itself would weigh for ``free`` on that canvas (its grid,
  anchored crops and the learned term's proposals, sampled), the frame, and jittered frames;
* a pair ``(a, b)`` says that ``a`` overlaps the frame more than ``b`` by at least
  :data:`MIN_IOU_GAP` (IoU); each canvas's pairs together weigh as much as one judged sheet.

:func:`canvas_features` caches ``features`` and ``iou`` per canvas in an ``.npz`` and resumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...geometry import iou_matrix, parse_ratios
from .featurecache import open_cache, save_cache

#: Two candidates form a pair when their IoUs with the frame differ by at least this much.
MIN_IOU_GAP = 0.2
#: Candidates per canvas: the frame, jittered frames, and the cropper's own candidates.
CANDIDATES = 32
JITTERED = 6


def canvas_candidates(cropper: Any, ctx: Any, frame: tuple[int, int, int, int],
                      rng: np.random.Generator) -> np.ndarray:
    """``(K, 4)`` boxes: the frame, :data:`JITTERED` jittered frames and a sample of the cropper's
    own ``free`` candidates on the canvas."""
    a = ctx.analysis
    W, H = a.width, a.height
    own = cropper.candidates(a, parse_ratios("free")[0], ctx).astype(np.float64)
    pick = rng.choice(len(own), size=min(len(own), CANDIDATES - 1 - JITTERED), replace=False)
    fx, fy, fw, fh = frame
    jitter = []
    for _ in range(JITTERED):
        s = rng.uniform(0.7, 1.15)
        w, h = min(W, fw * s * rng.uniform(0.9, 1.1)), min(H, fh * s * rng.uniform(0.9, 1.1))
        cx, cy = fx + fw / 2 + rng.normal(0, 0.12) * fw, fy + fh / 2 + rng.normal(0, 0.12) * fh
        jitter.append((np.clip(cx - w / 2, 0, W - w), np.clip(cy - h / 2, 0, H - h), w, h))
    return np.concatenate([np.array([frame], np.float64), np.array(jitter), own[pick]])


def canvas_features(names: list[str], photos_dir: str | Path, cache: str | Path, cropper: Any,
                    features: Callable[[Any, Any, np.ndarray], np.ndarray], per_photo: int = 2, seed: int = 0,
                    progress: Callable[[int, int], None] | None = None,
                    log: Callable[[str], None] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Canvas id -> ``(features (K, F), IoU with the frame (K,))`` for ``per_photo`` canvases of
    every photo (``features(cropper, ctx, boxes)`` as for the judged sheets)."""
    from ...imaging.load import load_image
    from .boxsets import SELF_EVERY, BoxSetOptions, draw_canvas
    from ...weaklabels.outpaint import TRAINING_FILLS

    done = open_cache(cache, log)
    options = BoxSetOptions()
    todo = [n for n in names if f"{n}#{per_photo - 1}:f" not in done]
    pool: list[np.ndarray] = []
    for k, name in enumerate(todo, start=1):
        photo = np.ascontiguousarray(load_image(str(Path(photos_dir) / name), max_side=640).pixels)
        pool = (pool + [photo])[-8:]
        key = int.from_bytes(name.encode("utf-8")[-16:].rjust(16, b"\0"), "little") % (2**63)
        rng = np.random.default_rng([seed, key])
        for c in range(per_photo):
            fill = TRAINING_FILLS[int(rng.integers(len(TRAINING_FILLS)))]
            index = 1 + int(rng.integers(SELF_EVERY - 1))  # never the photo alone
            canvas, spec = draw_canvas(photo, index, fill, rng, pool, options)
            ctx = cropper.prepare(canvas)
            boxes = canvas_candidates(cropper, ctx, tuple(spec.frame), rng)
            done[f"{name}#{c}:f"] = features(cropper, ctx, boxes).astype(np.float32)
            done[f"{name}#{c}:iou"] = iou_matrix(boxes, np.array([spec.frame]))[:, 0].astype(np.float32)
        if k % 20 == 0 or k == len(todo):
            save_cache(cache, done)
        if progress:
            progress(k, len(todo))
    out = {}
    for name in names:
        for c in range(per_photo):
            out[f"{name}#{c}"] = (done[f"{name}#{c}:f"], done[f"{name}#{c}:iou"])
    return out


def canvas_pairs(iou: np.ndarray, max_pairs: int = 12, rng: np.random.Generator | None = None
                 ) -> list[tuple[int, int, float]]:
    """Pairs ``(better, worse, weight)`` of one canvas: IoU gap ≥ :data:`MIN_IOU_GAP`, at most
    ``max_pairs`` (the frame's pairs first), weights summing to 1."""
    rng = rng or np.random.default_rng(0)
    pairs = [(i, j) for i in range(len(iou)) for j in range(len(iou)) if iou[i] - iou[j] >= MIN_IOU_GAP]
    if not pairs:
        return []
    frame = [p for p in pairs if p[0] == 0]
    rest = [p for p in pairs if p[0] != 0]
    rng.shuffle(frame)
    rng.shuffle(rest)
    chosen = (frame[: max_pairs // 2] + rest)[:max_pairs]
    return [(i, j, 1.0 / len(chosen)) for i, j in chosen]
