"""Why procrop cuts a salient object: each avoidable cut of :mod:`cuts_salient` put in one class.

Runs ``Cropper()`` on the held-out photos (as :mod:`cuts_salient` does) with the protection step
(:func:`procrop.scoring.protection.allowed_crops`) watched, and for every avoidable teacher object
the top crop cuts (10-90 % of its mask inside) says what the cropper knew:

* ``missed``       no head region covers a fifth of the object (the head missed it);
* ``misshaped``    a protected head region matches it, but the crop keeps that region whole (or
                   leaves it out) while cutting the teacher's object: the head's extent is wrong;
* ``light``        a head region matches it but holds less saliency than protection's
                   ``MIN_MASS``, so no rule looked at it;
* ``no-candidate`` a protected region matches it and the crop cuts that region: no candidate crop
                   of the ratio keeps it whole at all;
* ``rule-order``   some candidate keeps it whole, but an earlier rule (main subject, faces,
                   detections, another region) had already dropped every such candidate.

``--oracle map`` hands the analysis the teacher's map instead of the head's (saliency and
subjects: what a perfect head would give); ``--oracle subjects`` only the subjects (the scorer's
saliency stays the head's). Benchmark-only: the shipped path never sees the teacher.

    python benchmarks/cuts_salient_diag.py [--photos ../shared/data/photos] [--limit N] [--oracle off|map|subjects]
        [--out /tmp/diag.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cuts_salient import KEEP, LEAVE, RATIOS, grid, objects, teacher_mask, use_head
from cuts_common import load_rgb, ratio_value
from procrop.scoring import protection
from procrop.scoring.protection import MASK_KEPT, MASK_OUT, mask_inside_fractions, salient_objects

COVER = 0.2  # a head region "matches" an object when it covers this share of it, or lies mostly in it


def classify(obj: np.ndarray, box: np.ndarray, step: dict[str, Any], W: int, H: int) -> dict[str, Any]:
    """The class of one cut (see the module docstring) from the protection step's record."""
    an, boxes, allowed, pre = step["analysis"], step["boxes"], step["allowed"], step["pre"]
    mh, mw = an.saliency.shape
    t = cv2.resize(obj.astype(np.uint8), (mw, mh), interpolation=cv2.INTER_NEAREST).astype(bool)
    protected = set(salient_objects(an))
    matches = []
    for i, s in enumerate(an.subjects):
        if s.mask is None or not t.any():
            continue
        inter = float((s.mask & t).sum())
        cover, inside = inter / max(t.sum(), 1), inter / max(s.mask.sum(), 1)
        if cover >= COVER or inside >= 0.5:
            matches.append((i, cover, inside))
    info: dict[str, Any] = {"matches": [(i, round(c, 2), round(n, 2), round(an.subjects[i].mass, 3))
                                        for i, c, n in matches]}
    if not matches or max(c for _, c, _ in matches) < COVER and not any(n >= 0.5 for _, _, n in matches):
        return {"class": "missed", **info}
    prot = [m for m in matches if m[0] in protected]
    if not prot:
        return {"class": "light", **info}
    masks = np.stack([an.subjects[i].mask for i, _, _ in prot])
    kept = mask_inside_fractions(box[None], masks, W, H)[:, 0]
    info["head_kept"] = kept.round(3).tolist()
    if ((kept >= MASK_KEPT) | (kept <= MASK_OUT)).all():
        return {"class": "misshaped", **info}
    j = int(np.argmax((kept > MASK_OUT) & (kept < MASK_KEPT)))
    whole = mask_inside_fractions(boxes, masks[j:j + 1], W, H)[0] >= MASK_KEPT
    info["whole_candidates"] = int(whole.sum())
    info["whole_pre_allowed"] = int((whole & pre).sum())
    if not whole.any():
        return {"class": "no-candidate", **info}
    return {"class": "rule-order", **info}


def main() -> None:
    ap = argparse.ArgumentParser(description="Why procrop cuts a salient object: each avoidable cut of "
                                             "cuts_salient.py put in one class.")
    ap.add_argument("--photos", default="../shared/data/photos", help="folder the split's names are relative to")
    ap.add_argument("--split", default=str(Path(__file__).resolve().parent / "split.json"),
                    help="the split file (its heldout photos are used)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N photos (trials; 0: all)")
    ap.add_argument("--oracle", choices=("off", "map", "subjects"), default="off",
                    help="hand the analysis the teacher's map (map) or only its subjects (subjects) instead of the head's")
    ap.add_argument("--out", default="/tmp/cuts_salient_diag.json", help="JSON file of the classified cases")
    ap.add_argument("--head", type=Path, help="another salient-head ONNX file (default: the shipped one)")
    args = ap.parse_args()
    if args.head is not None:
        use_head(args.head)
    import procrop.cropper as cropper_mod
    import procrop.perception.analyzer as analyzer_mod
    from procrop import Cropper
    from procrop.perception.salient import SalientHead

    names = json.loads(Path(args.split).read_text(encoding="utf-8"))["heldout"]
    names = names[: args.limit] if args.limit else names
    steps: list[dict[str, Any]] = []
    real = cropper_mod.allowed_crops

    def watched(boxes: np.ndarray, analysis: Any, face_inside: np.ndarray) -> np.ndarray:
        allowed = real(boxes, analysis, face_inside)
        bare = replace(analysis, subjects=[s for s in analysis.subjects if s.mask is None])
        steps.append({"boxes": np.asarray(boxes, np.float64), "analysis": analysis, "allowed": allowed,
                      "pre": real(boxes, bare, face_inside)})
        return allowed

    cropper_mod.allowed_crops = watched
    current: dict[str, np.ndarray] = {}
    if args.oracle != "off":
        def oracle_map(self: SalientHead, maps: Any, size: tuple[int, int]) -> np.ndarray:
            return cv2.resize(current["teacher"], size, interpolation=cv2.INTER_LINEAR).astype(np.float32)

        if args.oracle == "map":
            SalientHead.__call__ = oracle_map  # type: ignore[method-assign]
        else:
            real_subjects = analyzer_mod.mask_subjects

            def oracle_subjects(sal: np.ndarray, *rest: Any) -> Any:
                return real_subjects(oracle_map(None, None, sal.shape[::-1]), *rest)  # type: ignore[arg-type]

            analyzer_mod.mask_subjects = oracle_subjects
    crop = Cropper()
    classes: Counter[str] = Counter()
    cases, n_avoid, t0 = [], 0, time.perf_counter()
    for pi, name in enumerate(names):
        path = Path(args.photos) / name
        H, W = load_rgb(str(path)).shape[:2]
        current["teacher"] = teacher_mask(path, name, [])
        masks = objects(current["teacher"], W, H)
        steps.clear()
        res = crop.process(str(path), RATIOS, top_k=1)
        for lb, step in zip(RATIOS, steps):
            box = np.asarray(res.for_ratio(lb)[0].box, np.float64)
            g = grid(W, H, ratio_value(lb))
            inside = mask_inside_fractions(g, masks, W, H)
            clean = ~((inside > LEAVE) & (inside < KEEP)).any(axis=0)
            kept = mask_inside_fractions(box[None], masks, W, H)[:, 0]
            for k in range(len(masks)):
                if not (clean & (inside[k] >= KEEP)).any():
                    continue
                n_avoid += 1
                if LEAVE < kept[k] < KEEP:
                    c = classify(masks[k], box, step, W, H)
                    classes[c["class"]] += 1
                    cases.append({"file": name, "ratio": lb, "object": k, "kept": round(float(kept[k]), 3),
                                  "area": round(float(masks[k].mean()), 4), **c})
        print(f"[{pi + 1}/{len(names)}] {name} {time.perf_counter() - t0:.0f} s cuts {sum(classes.values())}",
              file=sys.stderr, flush=True)
    cut = sum(classes.values())
    print(f"oracle={args.oracle}: {cut} of {n_avoid} avoidable cut ({100 * cut / max(n_avoid, 1):.1f} %)")
    for k, v in classes.most_common():
        print(f"  {k}: {v}")
    Path(args.out).write_text(json.dumps({"oracle": args.oracle, "avoidable": n_avoid, "classes": classes,
                                          "cases": cases}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
