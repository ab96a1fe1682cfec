"""Seam check of the box-set fills: could a model find the frame from the out-painting alone?

    python benchmarks/boxsets_check.py [--photos ../shared/data/photos] [--per-fill 40] [--seed 0]

The learned box scorer is trained on canvases made by :func:`procrop.training.scorer.boxsets.draw_canvas`
(a professional photo shrunk into a wider canvas, the surroundings filled by one of
:data:`procrop.weaklabels.outpaint.TRAINING_FILLS`, then geometric and photometric augmentation);
the label is the photo's frame. If the fill left a visible seam, the scorer could learn "find the
seam" instead of "find the good composition". This script draws ``--per-fill`` canvases of
*train-split* photos (``benchmarks/split.json``) with every training fill, exactly as training does,
and as many with each fill of the recovery benchmark (``benchmarks/recovery.py``: ``mirror_dark``,
``flat_noise``, ``blur_cover``, never used in training, no augmentation, as the benchmark makes
them), and reports per fill:

* ``seam AUC`` (:func:`procrop.weaklabels.seam.seam_report`): cross-validated ROC AUC of a logistic
  regression telling 16 px patches just outside the frame from patches just inside it by sharpness,
  grain, gradient energy and saturation. 0.5: the seam cannot be told from the photo; 1.0: trivially;
* ``seam line ratio``: median over canvases of the gradient across the frame's edge divided by the
  gradient across parallel lines 6 px either side (about 1: no seam line);
* ``label / frame area``: the training label (the frame normalised to the canvas, float32, as
  :func:`~procrop.training.scorer.boxsets.photo_records` stores it) scaled back to pixels, over the frame's
  area in the canvas spec: labels are the frames, so it must be exactly 1.

Writes ``benchmarks/results/boxsets_check.md`` (the table and what it means) and
``benchmarks/results/boxsets_fills.png`` (two example canvases per fill, the frame drawn in green).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # recovery.py sits beside this script
sys.path.insert(0, str(ROOT))

from recovery import COVERAGES, RATIOS, canvas_geometry, fill_canvas
from recovery import FILLS as BENCHMARK_FILLS

from procrop.imaging.load import load_image
from procrop.training.scorer.boxsets import SELF_EVERY, BoxSetOptions, draw_canvas
from procrop.weaklabels.outpaint import TRAINING_FILLS
from procrop.weaklabels.seam import seam_report

DEFAULT_PHOTOS = ROOT.parent / "shared" / "data" / "photos"
RESULTS = ROOT / "benchmarks" / "results"
POOL_SIDE = 320  # the foreign fill's pool photos, as photo_records loads them
Frame = tuple[int, int, int, int]


@dataclass
class FillStats:
    """The canvases of one fill and what was measured on them."""

    fill: str
    kind: str  # "training" or "benchmark"
    items: list[tuple[np.ndarray, Frame]] = field(default_factory=list)
    area_ratios: list[float] = field(default_factory=list)
    coverages: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, canvas: np.ndarray, frame: Frame, seconds: float) -> None:
        H, W = canvas.shape[:2]
        self.items.append((canvas, frame))
        self.area_ratios.append(label_area_ratio(frame, W, H))
        self.coverages.append(frame[2] * frame[3] / (W * H))
        self.seconds += seconds

    def row(self) -> dict[str, float | str | int]:
        seam = seam_report(self.items)
        return {"fill": self.fill, "kind": self.kind, "canvases": len(self.items),
                "seam_auc": seam["seam_auc"], "seam_line_ratio": seam["seam_line_ratio"],
                "patches": seam["patches"], "coverage": float(np.mean(self.coverages)),
                "label_area_min": min(self.area_ratios), "label_area_max": max(self.area_ratios),
                "ms_per_canvas": 1000 * self.seconds / max(1, len(self.items))}


def label_area_ratio(frame: Frame, W: int, H: int) -> float:
    """The stored label (normalised float32 ``x1, y1, x2, y2``) back in pixels, over the frame's area."""
    x, y, w, h = frame
    label = np.array([x / W, y / H, (x + w) / W, (y + h) / H], np.float32).astype(np.float64)
    return float((label[2] - label[0]) * W * (label[3] - label[1]) * H / (w * h))


def pick_photos(split: Path, n: int, seed: int) -> list[str]:
    """``n`` train-split photo names (seeded; repeated when the split has fewer)."""
    train = json.loads(split.read_text(encoding="utf-8"))["train"]
    rng = np.random.default_rng(seed)
    return [train[int(i)] for i in rng.permutation(max(n, len(train)))[:n] % len(train)]


def load_photos(folder: Path, names: list[str], side: int) -> list[np.ndarray]:
    return [np.ascontiguousarray(load_image(str(folder / name), max_side=side).pixels) for name in names]


def pool_for(i: int, photos: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Two other photos at :data:`POOL_SIDE` (the foreign fill's scenery), as photo_records draws them."""
    others = [j for j in range(len(photos)) if j != i]
    pool = []
    for j in rng.choice(others, size=min(2, len(others)), replace=False) if others else []:
        p = photos[int(j)]
        k = min(1.0, POOL_SIDE / max(p.shape[:2]))
        pool.append(cv2.resize(p, (max(1, round(p.shape[1] * k)), max(1, round(p.shape[0] * k))),
                               interpolation=cv2.INTER_AREA))
    return pool


Drawn = Iterator[tuple[np.ndarray, Frame, float]]  # canvas, frame, seconds


def training_canvases(photos: list[np.ndarray], fill: str, seed: int) -> Drawn:
    """Canvases of ``fill`` drawn as box-set training draws them (never a photo-alone index)."""
    options = BoxSetOptions(seed=seed)
    salt = TRAINING_FILLS.index(fill)
    for i, photo in enumerate(photos):
        rng = np.random.default_rng([seed, i, salt])
        pool = pool_for(i, photos, rng)
        index = 1 + i % (SELF_EVERY - 1)
        t0 = time.perf_counter()
        canvas, spec = draw_canvas(photo, index, fill, rng, pool, options)
        yield canvas, spec.frame, time.perf_counter() - t0


def benchmark_canvases(photos: list[np.ndarray], fill: str, seed: int) -> Drawn:
    """Canvases of a recovery-benchmark fill, drawn as ``benchmarks/recovery.py`` draws them."""
    salt = BENCHMARK_FILLS.index(fill)
    for i, photo in enumerate(photos):
        rng = np.random.default_rng([seed, i, salt])
        ratio = RATIOS[int(rng.integers(len(RATIOS)))]
        coverage = float(COVERAGES[int(rng.integers(len(COVERAGES)))])
        h, w = photo.shape[:2]
        t0 = time.perf_counter()
        W, H, x, y = canvas_geometry(w, h, ratio, coverage, rng)
        canvas = fill_canvas(photo, W, H, x, y, fill, rng)
        yield canvas, (x, y, w, h), time.perf_counter() - t0


def measure(photos: list[np.ndarray], seed: int) -> list[FillStats]:
    stats = []
    for kind, fills, make in (("training", TRAINING_FILLS, training_canvases),
                              ("benchmark", BENCHMARK_FILLS, benchmark_canvases)):
        for fill in fills:
            s = FillStats(fill, kind)
            for canvas, frame, seconds in make(photos, fill, seed):
                s.add(canvas, frame, seconds)
            stats.append(s)
    return stats


# ---- outputs ------------------------------------------------------------------------------------

def contact_sheet(stats: list[FillStats], out: Path, per_fill: int = 2, tile: int = 260) -> None:
    """One column per fill, ``per_fill`` example canvases each, the frame in green, the fill named."""
    columns = []
    for s in stats:
        tiles = []
        for canvas, (x, y, w, h) in s.items[:per_fill]:
            img = np.ascontiguousarray(canvas[:, :, ::-1])  # BGR for OpenCV
            thick = max(2, round(max(img.shape) / 200))
            cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), (0, 200, 0), thick)
            k = tile / max(img.shape[:2])
            size = (round(img.shape[1] * k), round(img.shape[0] * k))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            cell = np.full((tile + 24, tile + 8, 3), 255, np.uint8)
            cell[24 : 24 + img.shape[0], 4 : 4 + img.shape[1]] = img
            cv2.putText(cell, f"{s.fill} ({s.kind})", (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                        cv2.LINE_AA)
            tiles.append(cell)
        columns.append(np.vstack(tiles))
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.hstack(columns))


def _mean(rows: list[dict], kind: str, key: str) -> float:
    return float(np.mean([r[key] for r in rows if r["kind"] == kind]))


def _line_sentence(rows: list[dict], visible: float = 1.5) -> str:
    """Which fills leave a visible line at the frame's edge (line ratio above ``visible``)."""
    def names(kind: str) -> str:
        found = [f"`{r['fill']}` ({r['seam_line_ratio']:.1f})" for r in rows
                 if r["kind"] == kind and r["seam_line_ratio"] > visible]
        return ", ".join(found) or "none"

    return (f"Fills with a visible line at the frame's edge (line ratio above {visible}): training "
            f"{names('training')}; benchmark {names('benchmark')}. A network trained on fills with such a "
            "line "
            "can learn to find the line rather than the composition, and the benchmark rewards that when its "
            "own fills leave one too.")


def report(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Box-set fills: seam check",
        "",
        (f"`python benchmarks/boxsets_check.py --per-fill {meta['per_fill']} --seed {meta['seed']}` "
        f"({meta['photos']} train-split photos, one canvas per photo and fill, {meta['seconds']:.0f} s). "
        "Training fills are drawn by `procrop.training.scorer.boxsets.draw_canvas` (geometric and photometric "
        "augmentation included, as training sees them); the recovery benchmark's fills by "
        "`benchmarks/recovery.py`'s `canvas_geometry` and `fill_canvas` (no augmentation, as the benchmark "
        "makes them). Examples: [boxsets_fills.png](boxsets_fills.png)."),
        "",
        ("| fill | used by | canvases | seam AUC | seam line ratio | patches | mean coverage "
        "| label / frame area | ms / canvas |"),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lo, hi = f"{r['label_area_min']:.6f}", f"{r['label_area_max']:.6f}"
        area = lo if lo == hi else f"{lo}-{hi}"
        lines.append(f"| {r['fill']} | {r['kind']} | {r['canvases']} | {r['seam_auc']:.3f} | "
                     f"{r['seam_line_ratio']:.3f} | {r['patches']} | {r['coverage']:.2f} | {area} | "
                     f"{r['ms_per_canvas']:.0f} |")
    worst = max((r for r in rows if r["kind"] == "training"), key=lambda r: r["seam_auc"])
    exact = all(abs(r["label_area_min"] - 1) < 1e-3 and abs(r["label_area_max"] - 1) < 1e-3 for r in rows)
    lines += [
        "",
        ("**Seam AUC**: a logistic regression on four local statistics (sharpness, grain, gradient energy, "
        "saturation) of 16 px patches centred 12 px inside and outside the frame's edges, 5-fold "
        "cross-validated. 0.5 means the seam cannot be told from the photo by these cues; 1.0 means "
        "it gives the frame away. **Seam line ratio**: gradient across the frame's edge line over the "
        "gradient across lines 6 px either side; about 1 when there is no seam line, above 1 for a "
        "visible step at the edge, below 1 when the edge is smoother than its surroundings."),
        "",
        (f"Training fills: mean seam AUC {_mean(rows, 'training', 'seam_auc'):.3f}, the most detectable is "
        f"`{worst['fill']}` ({worst['seam_auc']:.3f}); benchmark fills: mean "
        f"{_mean(rows, 'benchmark', 'seam_auc'):.3f}. These are weak detectors on local statistics only: "
        "an AUC near 0.5 does not prove a network cannot find the seam, but an AUC well above it proves it "
        "can."),
        "",
        _line_sentence(rows),
        "",
        "**Label / frame area** (min-max over canvases): the stored label, normalised to the canvas in "
        "float32 and scaled back, over the frame's area in the canvas spec. "
        + ("It is 1.000 for every canvas: the labels are the frames, never enlarged or shrunk (the "
           "float32 normalisation moves an edge by far less than a pixel)." if exact else
           "**It is not 1 for every canvas: the labels are not exactly the frames.**"),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    from procrop.helptext import plain

    ap = argparse.ArgumentParser(description=plain(__doc__.splitlines()[0]))
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="the shared photo folder")
    ap.add_argument("--split", type=Path, default=ROOT / "benchmarks" / "split.json",
                    help="JSON with 'train' and 'heldout' lists")
    ap.add_argument("--per-fill", type=int, default=40, help="canvases per fill (one per train photo)")
    ap.add_argument("--seed", type=int, default=0, help="random seed of the photos and canvases")
    ap.add_argument("--out", type=Path, default=RESULTS,
                    help="folder of boxsets_check.md and boxsets_fills.png")
    args = ap.parse_args()
    t0 = time.perf_counter()
    names = pick_photos(args.split, args.per_fill, args.seed)
    photos = load_photos(args.photos, names, max(BoxSetOptions().photo_side))
    stats = measure(photos, args.seed)
    rows = [s.row() for s in stats]
    meta = {"per_fill": args.per_fill, "seed": args.seed, "photos": len(set(names)),
            "seconds": time.perf_counter() - t0}
    args.out.mkdir(parents=True, exist_ok=True)
    text = report(rows, meta)
    (args.out / "boxsets_check.md").write_text(text, encoding="utf-8")
    contact_sheet(stats, args.out / "boxsets_fills.png")
    print(text)


if __name__ == "__main__":
    main()
