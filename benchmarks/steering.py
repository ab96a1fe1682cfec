"""Do references steer the crops? Contrasting reference sets applied to held-out photos (issue 20).

    python benchmarks/steering.py [--photos ../shared/data/photos] [--per-set 24] [--limit N]
        [--strength 1.0] [--ratio free] [--quality N] [--work data/steering] [--out benchmarks/results]
        [--md benchmarks/RESULTS.md]

1. Every TRAINING photo of ``benchmarks/split.json`` is measured (:mod:`procrop.retrieval.composition`:
   subject centre and fill, horizon height; cached in ``WORK/train_stats.json``, resumable).
2. Three pairs of contrasting reference sets, ``--per-set`` training photos each: ``fill`` (the
   subject filling the frame most vs least), ``side`` (the subject's centre closest to the left vs the
   right third), ``horizon`` (the horizon closest to the lower vs the upper third). Each set is built
   into a reference database with ``procrop index build``'s defaults (:func:`build_database`).
3. Every HELD-OUT photo is cropped (``--ratio``, default free; top 1) by ``Cropper(reference_db=SET,
   style_strength=--strength)`` for each of the six sets, and by the default ``Cropper()``; the
   statistic of the pair is measured in each crop (:func:`crop_stats`, from the photo's own analysis).
   Per pair: the paired difference (set that should raise the statistic minus the one that should
   lower it), its mean, Cohen's d of the differences (mean / sd), and the share of photos that move
   the right way (difference > 0; ties count as not moving). Photos where the statistic does not
   exist (no subject; no horizon) are left out of that pair. Whether a photo can move at all
   (:func:`can_move`: the statistic's range over the candidates the two sets' croppers ranked, after
   protection) gives the share among the photos that can; the share over every photo is reported too.
4. A contact sheet (``results/steering_sheet_<ratio>_s<strength>.jpg``) shows the same held-out photos
   cropped by each set.
5. With ``--quality N``: the recovery benchmark on the first N held-out photos, the default against the
   stored ``results/recovery.json`` and with the bundled references' style switched on.

Each run (ratio, strength) is added to ``results/steering_runs.json``; ``results/steering.md`` and the
section of ``RESULTS.md`` between its ``<!-- steering -->`` markers (replaced, or appended when absent)
show every run measured. Per-photo rows: ``WORK/steering_<ratio>_s<strength>.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from blind_peers import git_describe
from steering_report import FORMER_DEFAULT, MOVABLE, PAIRS, contact_sheet, embed, markdown, quality_markdown

from procrop.retrieval.composition import COLUMNS, composition_stats, crop_stats, horizon_height, subject_box
from procrop.scoring.terms.style import DEFAULT_STRENGTH

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = ROOT.parent / "shared" / "data" / "photos"
RESULTS = ROOT / "benchmarks" / "results"
#: The project's split: its held-out photos are the ones cropped, its training photos the references.
SPLIT = ROOT / "benchmarks" / "split.json"
#: Bump when the style term changes, so cached crops are not reused.
STYLE_VERSION = 21


def cropper_analysis() -> Any:
    """The analysis the cropper makes of a photo (its learned backbone feeding the salient-object
    head), which is what ``procrop index build`` measures references with."""
    from procrop import Cropper

    return Cropper(reference_db=None).analyze


def train_stats(photos: Path, files: list[str], cache: Path) -> dict[str, dict[str, float]]:
    """Composition statistics of each training photo (cached in ``cache``, written every 20 photos)."""
    have = json.loads(cache.read_text("utf-8")) if cache.exists() else {}
    analyze = None
    todo = [f for f in files if f not in have]
    for n, f in enumerate(todo, 1):
        analyze = analyze or cropper_analysis()
        have[f] = composition_stats(analyze(str(photos / f)))
        if n % 20 == 0 or n == len(todo):
            cache.write_text(json.dumps(have), "utf-8")
            print(f"measured {n}/{len(todo)} training photos", flush=True)
    return have


#: set -> the value of its statistic its photos are closest to (``None``: the lowest / highest)
TARGETS = {"small_in_space": None, "fills_frame": None, "left_third": 1 / 3, "right_third": 2 / 3,
           "high_horizon": 1 / 3, "low_horizon": 2 / 3}


def reference_sets(stats: dict[str, dict[str, float]], per_set: int) -> dict[str, list[str]]:
    """The six contrasting sets of ``per_set`` training photos: the lowest and highest ``fill``; the
    subject's centre closest to the left and the right third; the horizon closest to the upper and
    the lower third."""
    sets: dict[str, list[str]] = {}
    for stat, high, low, _ in PAIRS.values():
        for name, rank in ((low, 1.0), (high, -1.0)):
            target = TARGETS[name]
            have = sorted((rank * s[stat] if target is None else abs(s[stat] - target), f)
                          for f, s in stats.items() if stat in s)
            sets[name] = [f for _, f in have[:per_set]]
    return sets


def build_sets(photos: Path, sets: dict[str, list[str]], work: Path) -> dict[str, Path]:
    """One database per set, with ``procrop index build``'s defaults (resumable)."""
    from procrop.retrieval import build_database

    out = {}
    analyze = cropper_analysis()
    for name, files in sets.items():
        digest = hashlib.sha256("\n".join(sorted(files)).encode()).hexdigest()[:10]
        db = work / f"db_{name}_{digest}"  # a set chosen differently is another database
        report = build_database([str(photos / f) for f in files], db, source_root=photos, analyze=analyze)
        if report.failed:
            raise SystemExit(f"{db}: {report.failed[:3]}")
        out[name] = db
    return out


class _SharedAnalysis:
    """One analysis per loaded photo for every cropper (they differ only in their scoring)."""

    def __init__(self, analyzer: Any) -> None:
        self.analyzer = analyzer
        self.last: tuple[Any, Any] | None = None

    def __getattr__(self, name: str) -> Any:  # everything else is the analyzer's
        return getattr(self.analyzer, name)

    def load(self, image: Any) -> Any:
        return self.analyzer.load(image)

    def analyze(self, image: Any, **kwargs: Any) -> Any:
        if self.last is None or self.last[0] is not image:
            self.last = (image, self.analyzer.analyze(image, **kwargs))
        return self.last[1]


class _Ranked:
    """Records the boxes a cropper ranks last (its candidates once protection has dropped the crops
    that cut a subject, the style term's proposals included): what the crop could have been."""

    def __init__(self, cropper: Any) -> None:
        self.boxes = np.zeros((0, 4))
        finish = cropper._finish

        def record(ctx: Any, ratio: Any, boxes: np.ndarray, *rest: Any) -> Any:
            self.boxes = np.asarray(boxes, np.float64)
            return finish(ctx, ratio, boxes, *rest)

        cropper._finish = record


def ranges(analysis: Any, ranked: dict[str, _Ranked]) -> dict[str, list[float | None]]:
    """Per pair: the lowest and highest value of its statistic over the boxes either set's cropper
    ranked (``None`` where no box has it): how far the photo lets the crop move."""
    out: dict[str, list[float | None]] = {}
    for pair, (stat, high, low, _) in PAIRS.items():
        boxes = np.concatenate([ranked[high].boxes, ranked[low].boxes]) if high in ranked else np.zeros((0, 4))
        v = crop_stats(analysis, boxes)[:, COLUMNS.index(stat)] if len(boxes) else np.zeros(0)
        v = v[np.isfinite(v)]
        out[pair] = [round(float(v.min()), 4), round(float(v.max()), 4)] if len(v) else [None, None]
    return out


def crop_all(photos: Path, files: list[str], dbs: dict[str, Path], strength: float, cache: Path, ratio: str = "free"
             ) -> dict[str, dict[str, Any]]:
    """Per held-out photo: its size, its analysis's statistics, each cropper's top box and, per pair,
    the range of its statistic over the candidates the two sets' croppers ranked."""
    from procrop import Cropper

    have = json.loads(cache.read_text("utf-8")) if cache.exists() else {}
    croppers = {"default": Cropper(), **{n: Cropper(reference_db=str(d), style_strength=strength) for n, d in dbs.items()}}
    ranked = {n: _Ranked(c) for n, c in croppers.items() if n != "default"}
    shared = _SharedAnalysis(croppers["default"].analyzer)
    for c in croppers.values():
        c.analyzer = shared
    for f in [f for f in files if f in have and "cut" not in have[f]]:  # rows cropped before cuts were counted
        have[f]["cut"] = cut_flags(shared.analyze(shared.load(str(photos / f))), have[f]["boxes"])
    todo = [f for f in files if f not in have]
    t0 = time.perf_counter()
    for n, f in enumerate(todo, 1):
        loaded = shared.load(str(photos / f))
        row: dict[str, Any] = {"size": [loaded.width, loaded.height], "boxes": {}, "reasons": {}, "learned": {}}
        for name, c in croppers.items():
            crop = c.process(loaded, ratio, 1).crops[0]
            row["boxes"][name] = list(crop.box)
            row["reasons"][name] = crop.reason
            row["learned"][name] = round(float(crop.terms["learned"]), 4)
        analysis = shared.analyze(loaded)
        row["cut"] = cut_flags(analysis, row["boxes"])
        row["range"] = ranges(analysis, ranked)
        row["has"] = {"subject": subject_box(analysis) is not None, "horizon": horizon_height(analysis) is not None}
        boxes = np.asarray(list(row["boxes"].values()), np.float64)
        st = crop_stats(analysis, boxes)
        row["stats"] = {name: [None if not np.isfinite(v) else round(float(v), 4) for v in st[i]]
                        for i, name in enumerate(row["boxes"])}
        have[f] = row
        cache.write_text(json.dumps(have), "utf-8")
        print(f"cropped {n}/{len(todo)} held-out photos ({(time.perf_counter() - t0) / n:.1f} s each)", flush=True)
    return have


def cut_flags(analysis: Any, boxes: dict[str, list[int]]) -> dict[str, bool]:
    """Per cropper: whether its crop cuts a face or a person (keeps between 2 % and 97 % of it)."""
    from procrop.scoring.protection import KEPT, LEFT_OUT, inside_fractions

    objects = [tuple(float(v) for v in d.box) for d in list(analysis.faces) + list(analysis.people)]
    inside = inside_fractions(np.asarray(list(boxes.values()), np.float64), objects)
    cut = ((inside > LEFT_OUT) & (inside < KEPT)).any(axis=0) if len(objects) else np.zeros(len(boxes), bool)
    return {name: bool(c) for name, c in zip(boxes, cut)}


def set_means(stats: dict[str, dict[str, float]], sets: dict[str, list[str]]) -> dict[str, float]:
    """Per set: the mean of its pair's statistic over its photos (what following it aims at)."""
    stat_of = {n: stat for stat, high, low, _ in PAIRS.values() for n in (high, low)}
    return {n: float(np.mean([stats[f][stat_of[n]] for f in files])) for n, files in sets.items()}


def can_move(span: list[float | None] | None, aim_high: float, aim_low: float) -> float:
    """1 when a photo lets the two sets' crops differ (each set's mean statistic, brought into the range
    the photo's candidates span, differs by at least :data:`MOVABLE`), 0 when not, NaN when unknown."""
    if not span or span[0] is None or span[1] is None:
        return float("nan")
    return float(abs(np.clip(aim_high, *span) - np.clip(aim_low, *span)) >= MOVABLE)


def summarise(rows: dict[str, dict[str, Any]], aims: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per pair: photos, mean statistic under each set and the default, paired difference, Cohen's d,
    share moving the right way (and of ties), among all photos and among those that can move
    (:func:`can_move`; ``aims``: :func:`set_means`)."""
    out = {}
    for pair, (stat, high, low, words) in PAIRS.items():
        j = COLUMNS.index(stat)
        hi, lo, de, free = [], [], [], []
        for r in rows.values():
            a, b, d = r["stats"][high][j], r["stats"][low][j], r["stats"]["default"][j]
            if a is not None and b is not None:
                hi.append(a)
                lo.append(b)
                de.append(np.nan if d is None else d)
                free.append(can_move(r.get("range", {}).get(pair), aims[high], aims[low]))
        hi_a, lo_a, de_a = np.asarray(hi), np.asarray(lo), np.asarray(de)
        diff = hi_a - lo_a
        sd = float(diff.std(ddof=1)) if len(diff) > 1 else float("nan")
        can = np.asarray(free, np.float64)
        movable = (can == 1) if len(can) and np.isfinite(can).all() else None
        out[pair] = {
            "words": words, "statistic": stat, "raises": high, "lowers": low, "photos": len(diff),
            "mean_raises": float(hi_a.mean()) if len(diff) else None,
            "mean_lowers": float(lo_a.mean()) if len(diff) else None,
            "mean_default": float(np.nanmean(de_a)) if len(diff) else None,
            "mean_difference": float(diff.mean()) if len(diff) else None,
            "cohens_d": float(diff.mean() / sd) if len(diff) > 1 and sd > 0 else None,
            "right_way": float((diff > 0).mean()) if len(diff) else None,
            "ties": float((diff == 0).mean()) if len(diff) else None,
            "all_photos": len(rows), "right_way_all": float((diff > 0).sum() / len(rows)) if rows else None,
            "with_statistic": sum(r["has"]["horizon" if stat == "horizon" else "subject"] for r in rows.values())
            if all("has" in r for r in rows.values()) else None,
            "movable": None if movable is None else int(movable.sum()),
            "right_way_movable": float((diff[movable] > 0).mean()) if movable is not None and movable.any() else None,
            "cuts_default": float(np.mean([r["cut"]["default"] for r in rows.values()])),
            "cuts_sets": float(np.mean([r["cut"][n] for r in rows.values() for n in (high, low)])),
            "learned_default": float(np.mean([r["learned"]["default"] for r in rows.values()])),
            "learned_sets": float(np.mean([r["learned"][n] for r in rows.values() for n in (high, low)])),
            "raises_vs_default": float((hi_a > de_a).mean()) if len(diff) else None,
            "lowers_vs_default": float((lo_a < de_a).mean()) if len(diff) else None,
        }
    return out


def quality(photos: Path, files: list[str], strength: float, seed: int = 0) -> dict[str, Any]:
    """The recovery benchmark (``benchmarks/recovery.py``: the photographer's frame in a wider canvas,
    3 unseen fills) on ``files``: the default ``Cropper()`` and the same with the bundled references'
    style switched on at ``strength``; the default's boxes are compared with the stored
    ``results/recovery.json`` rows of the same canvases (seed ``seed``)."""
    from recovery import run, top1

    from procrop import Cropper

    methods = {"default": top1(Cropper()), f"bundled references, style {strength:g}": top1(Cropper(style_strength=strength))}
    rows = run(photos, files, seed, methods)
    stored = {}
    saved = RESULTS / "recovery.json"
    if saved.exists():
        data = json.loads(saved.read_text("utf-8"))
        if data["meta"].get("seed") == seed:
            names = ("procrop (default)", "procrop (learned default)")  # the default's name now, and before
            stored = {(r["photo"], r["fill"]): r for r in data["rows"] if r["method"] in names}
    out: dict[str, Any] = {"photos": len(files), "canvases": len(rows) // len(methods)}
    for name in methods:
        mine = [r for r in rows if r["method"] == name]
        out[name] = {"mean_iou": float(np.mean([r["iou"] for r in mine]))}
    mine = [r for r in rows if r["method"] == "default"]
    same = [stored[(r["photo"], r["fill"])] for r in mine if (r["photo"], r["fill"]) in stored]
    if same:
        out["stored_default_mean_iou"] = float(np.mean([r["iou"] for r in same]))
        out["identical_boxes"] = sum(s["box"] == r["box"] for s, r in zip(same, mine))
        out["compared"] = len(same)
    return out


def main() -> None:
    from procrop.helptext import plain

    ap = argparse.ArgumentParser(description=plain(__doc__.splitlines()[0]))
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="the shared photo folder")
    ap.add_argument("--split", type=Path, default=SPLIT,
                    help="JSON with 'train' and 'heldout' lists")
    ap.add_argument("--per-set", type=int, default=24, help="training photos in each reference set")
    ap.add_argument("--limit", type=int, default=0,
                    help="only every held-out photo up to N (spread over sources)")
    ap.add_argument("--strength", type=float, default=DEFAULT_STRENGTH,
                    help="style strength of the steering (--style-strength; default: procrop's with a --db)")
    ap.add_argument("--ratio", default="free", help="the ratio every photo is cropped at (free, 1:1, 4:5...)")
    ap.add_argument("--work", type=Path, default=ROOT / "data" / "steering",
                    help="working folder: training photo statistics, reference databases (resumable)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder of the results")
    ap.add_argument("--md", type=Path, default=ROOT / "benchmarks" / "RESULTS.md",
                    help="the results file to write")
    ap.add_argument("--sheet", type=int, default=8, help="photos on the contact sheet")
    ap.add_argument("--quality", type=int, default=0, metavar="N",
                    help="also run the recovery benchmark on the first N held-out photos with the bundled references, "
                         "style off (default) and on at --strength")
    args = ap.parse_args()
    split = json.loads(args.split.read_text("utf-8"))
    held = split["heldout"]
    if args.limit:
        held = [held[round(i * len(held) / args.limit)] for i in range(min(args.limit, len(held)))]
    args.work.mkdir(parents=True, exist_ok=True)
    stats = train_stats(args.photos, split["train"], args.work / "train_stats.json")
    sets = reference_sets(stats, args.per_set)
    dbs = build_sets(args.photos, sets, args.work / "sets")
    from procrop import Cropper

    scorer = Cropper(reference_db=None).model_name or "classic"  # the default the sets steer
    former = scorer == FORMER_DEFAULT  # runs of the former default keep their cache keys and names
    parts = [sorted(map(str, dbs.values())), args.strength, STYLE_VERSION] + ([args.ratio] if args.ratio != "free" else [])
    tree = git_describe()  # the crops of another tree are not reused (a free-crop change kept stale ones);
    parts.append(tree if not tree.endswith("-dirty") else f"{tree}-{time.time()}")  # nor an edited tree's
    key = hashlib.sha256(json.dumps(parts + ([] if former else [scorer])).encode()).hexdigest()[:12]
    rows = crop_all(args.photos, held, dbs, args.strength, args.work / f"crops_{key}.json", args.ratio)
    rows = {f: rows[f] for f in held}
    summary = summarise(rows, set_means(stats, sets))
    step = max(1, len(held) // args.sheet)
    sheet_files = held[::step][: args.sheet]
    name = f"{args.ratio.replace(':', 'x')}_s{args.strength:g}" + ("" if former else f"_{scorer}")
    if args.split.resolve() != SPLIT.resolve():  # another split's photos: a run of its own
        name += f"_{args.split.stem}"
    meta = {"scorer": scorer, "per_set": args.per_set, "strength": args.strength, "ratio": args.ratio, "limit": args.limit,
            "heldout": len(held), "sheet_photos": len(sheet_files), "sheet": f"steering_sheet_{name}.jpg", "sets": sets}
    args.out.mkdir(parents=True, exist_ok=True)
    contact_sheet(args.photos, rows, sheet_files, args.out / meta["sheet"])
    (args.work / f"steering_{name}.json").write_text(json.dumps({"meta": meta, "summary": summary, "rows": rows},
                                                                indent=1) + "\n", "utf-8")
    runs_file = args.out / "steering_runs.json"
    runs = json.loads(runs_file.read_text("utf-8")) if runs_file.exists() else {}
    runs[name] = {"meta": meta, "summary": summary}
    runs_file.write_text(json.dumps(runs, indent=1) + "\n", "utf-8")
    section = markdown(runs)
    qfile = args.out / "steering_quality.json"
    if args.quality:
        q = quality(args.photos, split["heldout"][: args.quality], args.strength)
        qfile.write_text(json.dumps({"limit": args.quality, **q}, indent=1) + "\n", "utf-8")
    if qfile.exists():
        saved = json.loads(qfile.read_text("utf-8"))
        section += "\n" + quality_markdown(saved, saved.pop("limit")) + "\n"
    (args.out / "steering.md").write_text(section, "utf-8")
    embed(args.md, section)
    print(section)


if __name__ == "__main__":
    main()
