"""A scorer fitted to the judged sheets alone, gated with the shipped one: does it help? (issue 19)

    python benchmarks/preference_gate.py [--photos ../shared/data/photos] [--work data/learned]

The recovery canvases cost the preference scorer agreement with the judges. This fits the shipped
recipe (``procrop prefs fit``'s settings: one hidden layer of 16, 5 seeds) on the judged training
sheets alone and blends it with the shipped model by a gate on the learned box scorer's value for
the uncropped photo (``learned_uncropped``: high on a finished photo, low on a wider scene),
``(1 - g) * sheets_only + g * shipped``, ``g = sigmoid((t - learned_uncropped) / tau)``. It reports,
on cached features (the caches ``procrop prefs fit`` makes, plus the held-out sheets' and held-out
canvases', made here on first use, a few minutes):

* agreement with the judges' majority on the held-out sheets with 3 judges, per round;
* the top pick's IoU with the photographer's frame on 2 out-painted canvases of each held-out photo
  (a quick stand-in for ``benchmarks/recovery.py``).

The model card (``docs/model_card.md``, "Tried, not shipped (2026-12-06)") quotes its table.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Callable

import numpy as np

from procrop.preferences.records import group_by_sheet, majority_pairs, read_jsonl

ROOT = Path(__file__).resolve().parents[1]
GATES = ((0.90, 0.01), (0.95, 0.01))


def round_of(sheet: str) -> int:
    """The judging round of a held-out sheet id (``h0055b``: 1, ``h3-0013a``: 3)."""
    m = re.match(r"h(\d)-", sheet)
    return int(m.group(1)) if m else 1


def agreement(score: Callable[[np.ndarray], np.ndarray], records: list[dict], feats: dict[str, np.ndarray]
              ) -> dict[int, float]:
    """Per round, the weighted share of the 3-judge majority pairs the scorer orders alike."""
    hits: dict[int, list[float]] = {}
    for sid, recs in group_by_sheet(records).items():
        if len({r["judge"] for r in recs}) < 3 or sid not in feats:
            continue
        s = score(feats[sid])
        acc = hits.setdefault(round_of(sid), [0.0, 0.0])
        for i, j, w in majority_pairs(recs, min_judges=3):
            acc[0] += w * ((s[i] > s[j]) + 0.5 * (s[i] == s[j]))
            acc[1] += w
    return {k: v[0] / v[1] for k, v in sorted(hits.items()) if v[1]}


def frame_found(score: Callable[[np.ndarray], np.ndarray], canvases: dict[str, tuple[np.ndarray, np.ndarray]]
                ) -> float:
    """Mean IoU with the frame of each canvas's top-scored candidate."""
    return float(np.mean([iou[int(np.argmax(score(f)))] for f, iou in canvases.values()]))


def data_arguments(description: str, work: str) -> argparse.ArgumentParser:
    """A parser with ``--photos``, ``--data`` (the preference data) and ``--work`` (what it caches,
    ``work`` in its help), each with the repository's default."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "photos",
                    help="the shared photo folder (the sheets' photo names are relative to it)")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "preferences",
                    help="preference data (train.jsonl, heldout.jsonl, keys/)")
    ap.add_argument("--work", type=Path, default=ROOT / "data" / "learned", help=work)
    return ap


def main() -> None:
    caches = "feature caches (procrop prefs fit's, and the held-out ones made here)"
    args = data_arguments(__doc__.split("\n\n")[0], caches).parse_args()

    from procrop.cropper import Cropper
    from procrop.scoring.preference_features import FEATURE_NAMES
    from procrop.scoring.terms.preference import PreferenceModel
    from procrop.training.scorer.prefcanvas import canvas_features
    from procrop.training.scorer.preffit import (FitConfig, box_features, fit_preference_model, fit_residual,
                                                 sheet_features)

    train = [r for r in read_jsonl(args.data / "train.jsonl") if r["split"] == "train"]
    held = list(read_jsonl(args.data / "heldout.jsonl"))
    judged = {"train": {r["sheet"] for r in train}, "heldout": {r["sheet"] for r in held}}
    keys = {split: [k for k in read_jsonl(args.data / "keys" / f"{split}.jsonl") if k["sheet"] in sheets]
            for split, sheets in judged.items()}
    args.work.mkdir(parents=True, exist_ok=True)
    cropper = Cropper()
    feats = {split: sheet_features(k, args.photos, args.work / f"preference_features_{split}.npz", cropper)
             for split, k in keys.items()}
    names = sorted({k["photo"] for k in keys["heldout"]})
    canvases = canvas_features(names, args.photos, args.work / "preference_canvases_heldout_2.npz", cropper,
                               box_features, 2)
    shipped = PreferenceModel.load()
    sheets_only, _ = fit_preference_model(feats["train"], train, FitConfig(hidden=(16,), seeds=5), None,
                                          log=lambda line: None)
    sheets_only = fit_residual(sheets_only, feats["train"], train, log=lambda line: None)  # as shipped
    u = FEATURE_NAMES.index("learned_uncropped")

    def gated(t: float, tau: float) -> Callable[[np.ndarray], np.ndarray]:
        def score(x: np.ndarray) -> np.ndarray:
            g = 1.0 / (1.0 + np.exp(-(t - x[:, u]) / tau))
            return (1 - g) * sheets_only.logits(x) + g * shipped.logits(x)
        return score

    rows = [("shipped", shipped.logits), ("sheets only", sheets_only.logits)]
    rows += [(f"gated, t {t:.2f}, tau {tau:g}", gated(t, tau)) for t, tau in GATES]
    print("| scorer | round 1 | round 2 | round 3 | canvases: top pick's IoU |")
    print("|---|---:|---:|---:|---:|")
    for name, score in rows:
        agree = agreement(score, held, feats["heldout"])
        cells = " | ".join(f"{agree.get(r, float('nan')):.3f}" for r in (1, 2, 3))
        print(f"| {name} | {cells} | {frame_found(score, canvases):.3f} |")


if __name__ == "__main__":
    main()
