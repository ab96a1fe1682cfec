"""Split the photo pool into train and held-out photos *by source*, and write ``benchmarks/split.json``.

    python tools/split_pool.py [--photos ../shared/data/photos] [--out benchmarks/split.json] [--seed 0]

This tool owns the held-out split that the learned default trains and is measured on. Rules:

* a source (``MANIFEST.csv``'s ``source_repo``) is wholly on one side, so no photo, and no near-duplicate
  from the same collection, is on both sides;
* 20-30 % of the photos are held out;
* stratified: each photo is tagged ``people`` (a face or a person detected by the default perception:
  YuNet + YOLOX-nano) or ``landscape`` (no face, person or animal, and a horizon or a wide frame);
  both sides must hold at least :data:`MIN_PER_TAG` of each tag; among the source subsets that qualify,
  the ones whose held-out share of people and of landscapes is closest to the overall share are kept,
  and the seed picks one of the best :data:`TOP_CHOICES`, so the split is deterministic.

The JSON lists the held-out and train files (relative to the pool), the sources on each side, the
per-source counts and tags, and the rule that made it.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = ROOT.parent / "shared" / "data" / "photos"
HELD_RANGE = (0.20, 0.30)
MIN_PER_TAG = 8
TOP_CHOICES = 3
ANIMALS = {"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"}


def read_manifest(photos: Path) -> list[dict[str, str]]:
    """The pool's ``MANIFEST.csv`` rows whose file exists, in file order."""
    with open(photos / "MANIFEST.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if (photos / r["file"]).is_file()]
    return sorted(rows, key=lambda r: r["file"])


def tag_photos(photos: Path, files: list[str]) -> dict[str, list[str]]:
    """``file -> tags`` (``people``, ``landscape``, ``portrait_format``) from the default perception."""
    from procrop.perception.analyzer import Analyzer

    analyzer = Analyzer()
    tags: dict[str, list[str]] = {}
    for f in files:
        a = analyzer.analyze(str(photos / f))
        labels = {o.label for o in a.objects}
        people = bool(a.faces) or any(p.label == "person" for p in a.people) or "person" in labels
        wide = a.width >= 1.3 * a.height
        landscape = not people and not (labels & ANIMALS) and (a.horizon is not None or wide)
        tags[f] = [t for t, on in (("people", people), ("landscape", landscape),
                                   ("portrait_format", a.height > a.width)) if on]
    return tags


def source_stats(rows: list[dict[str, str]], tags: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    """Per source: photos, and photos per tag."""
    stats: dict[str, Counter] = {}
    for r in rows:
        c = stats.setdefault(r["source_repo"], Counter())
        c["photos"] += 1
        c.update(tags[r["file"]])
    return {s: {k: int(c.get(k, 0)) for k in ("photos", "people", "landscape", "portrait_format")}
            for s, c in sorted(stats.items())}


def choose_held(stats: dict[str, dict[str, int]], seed: int) -> tuple[list[str], list[tuple[float, tuple[str, ...]]]]:
    """The held-out sources: every subset that meets the rules, ranked by imbalance, one of the best
    :data:`TOP_CHOICES` picked with ``seed``."""
    total = {k: sum(s[k] for s in stats.values()) for k in ("photos", "people", "landscape")}
    feasible: list[tuple[float, tuple[str, ...]]] = []
    names = sorted(stats)
    for n in range(1, len(names)):
        for subset in itertools.combinations(names, n):
            held = {k: sum(stats[s][k] for s in subset) for k in total}
            share = held["photos"] / total["photos"]
            if not HELD_RANGE[0] <= share <= HELD_RANGE[1]:
                continue
            if min(held["people"], held["landscape"], total["people"] - held["people"],
                   total["landscape"] - held["landscape"]) < MIN_PER_TAG:
                continue
            imbalance = sum(abs(held[k] / max(total[k], 1) - share) for k in ("people", "landscape"))
            feasible.append((round(imbalance + abs(share - 0.22), 6), subset))
    if not feasible:
        raise SystemExit("no source subset meets the split rules")
    feasible.sort()
    pick = random.Random(seed).randrange(min(TOP_CHOICES, len(feasible)))
    return list(feasible[pick][1]), feasible[:TOP_CHOICES]


def make_split(photos: Path, seed: int) -> dict[str, Any]:
    """The split as written to ``split.json``."""
    rows = read_manifest(photos)
    tags = tag_photos(photos, [r["file"] for r in rows])
    stats = source_stats(rows, tags)
    held_sources, best = choose_held(stats, seed)
    held = [r["file"] for r in rows if r["source_repo"] in held_sources]
    train = [r["file"] for r in rows if r["source_repo"] not in held_sources]
    side = {s: ("heldout" if s in held_sources else "train") for s in stats}
    return {
        "rule": (f"whole sources held out ({HELD_RANGE[0]:.0%}-{HELD_RANGE[1]:.0%} of photos), >= {MIN_PER_TAG} "
                 "people and landscape photos on each side, least imbalanced subsets, seeded pick"),
        "seed": seed,
        "candidates": [{"imbalance": s, "heldout_sources": list(sub)} for s, sub in best],
        "counts": {"heldout": len(held), "train": len(train)},
        "sources": {s: {"side": side[s], **stats[s]} for s in stats},
        "heldout": held,
        "train": train,
        "tags": {f: tags[f] for f in sorted(tags) if tags[f]},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "split.json")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    split = make_split(args.photos, args.seed)
    args.out.write_text(json.dumps(split, indent=1) + "\n", encoding="utf-8")
    for s, st in split["sources"].items():
        print(f"{st['side']:8s} {s:40s} {st['photos']:4d} photos, {st['people']:3d} people, {st['landscape']:3d} landscape")
    print(f"held out {split['counts']['heldout']}, train {split['counts']['train']} -> {args.out}")


if __name__ == "__main__":
    main()
