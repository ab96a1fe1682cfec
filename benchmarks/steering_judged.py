"""Can a judge tell which reference set a crop followed? A blind check of the steering (issue 20).

    python benchmarks/steering_judged.py sheets [--run RUN] [--photos ../shared/data/photos]
        [--per-pair 8] [--seed 0] --out WORK
    python benchmarks/steering_judged.py tally --work WORK [--md FILE]

``sheets`` takes a run of :mod:`steering` (its per-photo crops under each of the six contrasting
reference sets) and, for each pair of sets (a subject filling the frame against small in wide
space, on the right against the left third, a low against a high horizon), up to ``--per-pair``
held-out photos whose two crops differ (IoU under 0.9). Each sheet shows six photos of one set as
STYLE A, six of the other as STYLE B (which set is A drawn at random), and the photo's two crops
labelled 1 and 2 in random order. A judge answers which crop was made to match STYLE A. The
sheets go to ``WORK/sheets/`` (the only folder a judge is given), the keys to ``WORK/keys.jsonl``,
the brief (:data:`BRIEF`, version :data:`BRIEF_VERSION`) to ``WORK/brief.txt``. A judge's answers
are JSON lines ``{"sheet", "answer": 1 or 2, "reason"}`` in ``WORK/answers/*.jsonl`` (a committed
check keeps them merged, with judge and brief, in ``WORK/answers.jsonl``, which ``tally`` reads too).

``tally`` scores every answer against the keys: per pair and over all, the share of answers and
of sheets (by the judges' majority) that name the crop the STYLE A set made, with a one-sided
binomial p-value against guessing (half).
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from steering_report import PAIRS

from procrop.geometry import iou

ROOT = Path(__file__).resolve().parents[1]
BRIEF_VERSION = "steering-v1"
BRIEF = """You are a photo editor. Each sheet shows two groups of reference photographs, STYLE A (top row)
and STYLE B (second row): two photographers' ways of framing. Below them, the same photo cropped two
ways, labelled 1 and 2. One crop was made to look like STYLE A, the other like STYLE B. Compare how
each style frames its pictures (how much of the frame the subject fills, where it sits left or
right, how high or low the horizon lies) and say which crop, 1 or 2, follows STYLE A. Judge only
the framing, not which crop is better. Answer every sheet, even when unsure."""
THUMB, CROP = 120, 340


def _row(paths: list[Path], label: str, width: int) -> Image.Image:
    """A labelled row of thumbnails, :data:`THUMB` pixels high."""
    row = Image.new("RGB", (width, THUMB + 30), "white")
    ImageDraw.Draw(row).text((8, 8), label, fill="black")
    x = 110
    for p in paths:
        with Image.open(p) as im:
            thumb = ImageOps.exif_transpose(im).convert("RGB")
        thumb.thumbnail((THUMB * 2, THUMB))
        row.paste(thumb, (x, 15))
        x += thumb.width + 8
    return row


def sheet(photo: Path, crops: list[list[int]], style_a: list[Path], style_b: list[Path]) -> Image.Image:
    """The sheet of one photo: the two styles' rows, then its crops 1 and 2 at one height."""
    with Image.open(photo) as im:
        rgb = ImageOps.exif_transpose(im).convert("RGB")
    shown = []
    for x, y, w, h in crops:
        c = rgb.crop((x, y, x + w, y + h))
        shown.append(c.resize((max(1, round(c.width * CROP / c.height)), CROP)))
    width = max(1100, sum(c.width for c in shown) + 120)
    out = Image.new("RGB", (width, 2 * (THUMB + 30) + CROP + 50), "white")
    out.paste(_row(style_a, "STYLE A", width), (0, 0))
    out.paste(_row(style_b, "STYLE B", width), (0, THUMB + 30))
    draw, x, top = ImageDraw.Draw(out), 20, 2 * (THUMB + 30) + 30
    for k, c in enumerate(shown, start=1):
        draw.text((x, top - 20), f"crop {k}", fill="black")
        out.paste(c, (x, top))
        x += c.width + 40
    return out


def make_sheets(args: argparse.Namespace) -> None:
    run = json.loads(Path(args.run).read_text("utf-8"))
    sets, rows = run["meta"]["sets"], run["rows"]
    rng = random.Random(args.seed)
    out = Path(args.out)
    (out / "sheets").mkdir(parents=True, exist_ok=True)
    keys: list[dict] = []
    ids = rng.sample(range(len(PAIRS) * args.per_pair), len(PAIRS) * args.per_pair)  # names tell nothing
    for pair, (_, high, low, _) in PAIRS.items():
        differ = [name for name, r in sorted(rows.items()) if iou(r["boxes"][high], r["boxes"][low]) < 0.9]
        for name in rng.sample(differ, min(args.per_pair, len(differ))):
            a, b = (high, low) if rng.random() < 0.5 else (low, high)
            order = [a, b] if rng.random() < 0.5 else [b, a]
            refs = [[Path(args.photos) / p for p in rng.sample(sets[s], 6)] for s in (a, b)]
            sid = f"s{ids[len(keys)]:02d}"
            sheet(Path(args.photos) / name, [rows[name]["boxes"][s] for s in order], *refs).save(
                out / "sheets" / f"{sid}.png")
            keys.append({"sheet": sid, "pair": pair, "photo": name, "style_a": a, "style_b": b,
                         "crops": order, "answer": order.index(a) + 1, "strength": run["meta"]["strength"],
                         "ratio": run["meta"]["ratio"], "scorer": run["meta"]["scorer"]})
    (out / "keys.jsonl").write_text("".join(json.dumps(k) + "\n" for k in keys), "utf-8")
    (out / "brief.txt").write_text(f"{BRIEF_VERSION}\n\n{BRIEF}\n", "utf-8")
    print(f"{len(keys)} sheets in {out / 'sheets'}; keys in {out / 'keys.jsonl'}")


def binomial_p(hits: int, n: int) -> float:
    """One-sided P(X >= hits) for X ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, k) for k in range(hits, n + 1)) / 2**n if n else 1.0


def tally(args: argparse.Namespace) -> None:
    work = Path(args.work)
    if not (work / "keys.jsonl").is_file():
        raise SystemExit(f"error: {work}: no keys.jsonl (not a folder of steering_judged.py sheets)")
    keys = {k["sheet"]: k for k in map(json.loads, (work / "keys.jsonl").read_text("utf-8").splitlines())}
    # each judge's file in WORK/answers, or the merged WORK/answers.jsonl a committed check keeps
    files = sorted((work / "answers").glob("*.jsonl")) or [f for f in [work / "answers.jsonl"] if f.exists()]
    answers = [json.loads(line) for f in files for line in f.read_text("utf-8").splitlines() if line.strip()]
    if not answers:
        raise SystemExit(f"error: {work}: no answers (answers/*.jsonl or answers.jsonl)")
    lines = ["| pair | answers right | sheets right (majority) | p (answers) |", "|---|---:|---:|---:|"]
    for pair in [*PAIRS, "all"]:
        mine = [a for a in answers
                if a["sheet"] in keys and (pair == "all" or keys[a["sheet"]]["pair"] == pair)]
        right = [int(a["answer"]) == keys[a["sheet"]]["answer"] for a in mine]
        votes: dict[str, list[bool]] = {}
        for a, ok in zip(mine, right):
            votes.setdefault(a["sheet"], []).append(ok)
        decided = [sum(v) > len(v) / 2 for v in votes.values() if sum(v) != len(v) / 2]
        lines.append(f"| {pair} | {sum(right)} of {len(right)} | {sum(decided)} of {len(decided)} | "
                     f"{binomial_p(sum(right), len(right)):.2g} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        Path(args.md).write_text(text, "utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sheets", help="make the sheets, the keys and the brief")
    run = ROOT / "data" / "steering" / "steering_free_s3_procrop-preference-v3.json"
    s.add_argument("--run", default=str(run), help="a steering run's per-photo file (benchmarks/steering.py "
                   "writes it in its --work; default: the free ratio at strength 3, procrop's default with "
                   "--db)")
    s.add_argument("--photos", default=str(ROOT.parent / "shared" / "data" / "photos"),
                   help="the shared photo folder the run's names are relative to")
    s.add_argument("--per-pair", type=int, default=8, help="photos a pair of reference sets gets")
    s.add_argument("--seed", type=int, default=0, help="seed of the photos', styles' and crops' draws")
    s.add_argument("--out", required=True, help="working folder (sheets/, keys.jsonl, brief.txt)")
    t = sub.add_parser("tally",
                       help="score the answers in WORK/answers (or WORK/answers.jsonl) against the keys")
    t.add_argument("--work", required=True, help="the sheets' working folder")
    t.add_argument("--md", help="also write the table here")
    args = ap.parse_args()
    make_sheets(args) if args.command == "sheets" else tally(args)


if __name__ == "__main__":
    main()
