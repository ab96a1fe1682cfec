"""Agreement with editors' judgements on the held-out sheets (``docs/judging.md``).

    python benchmarks/preferences.py [--round 1|2] [--bundle NAME=DIR ...] [--preference NAME=FILE ...] [--nima] [--min-judges 3]

For every held-out sheet judged by at least ``--min-judges`` judges (``data/preferences/heldout.jsonl``):

* the judges' own agreement: pairwise between judges, and each judge against the majority of the
  others (the ceiling a scorer can reach);
* each scorer's **pairwise agreement** with the judges' majority: the share of majority pairs it
  orders the same way (ties count half); scorers rank the sheet's four boxes by the score procrop
  gives each box (``Cropper.score_boxes``: the default, the shipped learned box scorer and
  preference scorer, each ``--preference`` model and ``--bundle``, the classic scorer), or the box's area (``largest box``), or NIMA's mean AVA rating of the crop;
* **top-1**: the share of sheets where the scorer's best box is the judges' winner (most first
  places, then the best mean position);
* **own crop first**: for each method whose crop the sheets show (procrop's default when the
  sheets were made: procrop-learned-v1 in round 1, procrop-preference-v1 in round 2 (``--round 2``);
  the classic scorer, smartcrop.py, libvips attention), the share of sheets where the judges'
  winner is that method's crop (a box may stand for several methods when they chose the same crop);
* **head to head**: procrop's crop against each other method's, over every judge's ranking.

Writes ``benchmarks/results/preferences.md`` and ``.json`` (``--out``), which ``RESULTS.md`` embeds.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from procrop.preferences.agreement import judge_agreement, scorer_agreement  # noqa: E402
from procrop.preferences.records import group_by_sheet, read_jsonl  # noqa: E402

#: The methods whose own crop the sheets show. The ``learned`` source is procrop's default when
#: the sheets were made (``learned_model`` in their keys): procrop-learned-v1 in round 1,
#: procrop-preference-v1 in round 2.
METHOD_SOURCES = {"learned": "procrop default", "classic": "classic scorer", "smartcrop": "smartcrop.py",
                  "vips-attention": "libvips attention"}
#: Head-to-head pairs: procrop's own crop against each other method's.
RIVALS = ("smartcrop", "vips-attention", "classic")


def winner(records: list[dict[str, Any]]) -> int:
    """The judges' winner of one sheet: most first places, then the best mean position."""
    n = len(records[0]["boxes"])
    firsts = np.zeros(n)
    pos = np.zeros(n)
    for r in records:
        firsts[r["ranking"][0]] += 1
        for p, i in enumerate(r["ranking"]):
            pos[i] += p
    return int(sorted(range(n), key=lambda i: (-firsts[i], pos[i]))[0])


def own_index(record: dict[str, Any]) -> int | None:
    """Which of a sheet's boxes is procrop's own crop (its ``learned`` source: the default when
    the sheet was made), or None when the sheet does not show it."""
    return next((i for i, src in enumerate(record["sources"]) if "learned" in src), None)


def cropper_scorer(cropper: Any, photos: Path) -> Callable[[dict[str, Any]], np.ndarray]:
    def score(rec: dict[str, Any]) -> np.ndarray:
        boxes = np.array(rec["boxes"], float)  # a fixed ratio's crops are scored as the cropper scores them
        fixed = rec["ratio"] != "free"
        return np.asarray(cropper.score_boxes(str(photos / rec["photo"]), boxes, fixed_ratio=fixed))
    return score


def area_scorer(rec: dict[str, Any]) -> np.ndarray:
    b = np.array(rec["boxes"], float)
    return b[:, 2] * b[:, 3]


def nima_scorer(photos: Path) -> Callable[[dict[str, Any]], np.ndarray]:
    from procrop.evaluation.nima import NimaScorer

    nima = NimaScorer()

    def score(rec: dict[str, Any]) -> np.ndarray:
        from procrop.imaging.load import open_full

        im = open_full(photos / rec["photo"]).convert("RGB")
        return np.array([nima.mean_rating(im.crop((x, y, x + w, y + h))) for x, y, w, h in rec["boxes"]])
    return score


def measure(sheets: list[list[dict[str, Any]]], scorers: dict[str, Callable[[dict[str, Any]], np.ndarray]],
            min_judges: int) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    winners = {recs[0]["sheet"]: winner(recs) for recs in sheets}
    for name, fn in scorers.items():
        t = time.perf_counter()
        scores = [fn(recs[0]) for recs in sheets]
        agree, pairs = scorer_agreement(sheets, scores, min_judges)
        top1 = float(np.mean([int(np.argmax(sc)) == winners[recs[0]["sheet"]] for recs, sc in zip(sheets, scores)]))
        rows[name] = {"agreement": round(agree, 4), "pairs": pairs, "top1": round(top1, 4),
                      "seconds": round(time.perf_counter() - t, 1)}
        print(f"{name}: agreement {agree:.3f} over {pairs} pairs, top-1 {top1:.3f}", file=sys.stderr, flush=True)
    own = {}
    for src, label in METHOD_SOURCES.items():
        if src == "learned":
            models = sorted({r.get("learned_model", "procrop-learned-v1") for recs in sheets for r in recs})
            label = f"{label} ({', '.join(models)})"
        shown = [(recs, i) for recs in sheets for i, s in enumerate(recs[0]["sources"]) if src in s]
        own[label] = {"sheets": len(shown),
                      "first": round(float(np.mean([winners[r[0]["sheet"]] == i for r, i in shown])), 4) if shown else None}
    return {"scorers": rows, "own_first": own, "head_to_head": head_to_head(sheets)}


def head_to_head(sheets: list[list[dict[str, Any]]]) -> dict[str, dict[str, int]]:
    """procrop's own crop against each rival's, over every judge's ranking of every sheet that
    shows both: ``won`` (procrop's box ranked above the rival's), ``lost``, and ``same`` (both
    methods chose one box, so the sheet shows it once)."""
    out = {}
    for rival in RIVALS:
        won = lost = same = 0
        for recs in sheets:
            mine = own_index(recs[0])
            theirs = next((i for i, s in enumerate(recs[0]["sources"]) if rival in s), None)
            if mine is None or theirs is None:
                continue
            for r in recs:
                if mine == theirs:
                    same += 1
                elif r["ranking"].index(mine) < r["ranking"].index(theirs):
                    won += 1
                else:
                    lost += 1
        out[rival] = {"won": won, "lost": lost, "same": same}
    return out


def markdown(res: dict[str, Any], meta: dict[str, Any]) -> str:
    j = meta["judges"]
    out = ["# Agreement with editors' judgements (held-out sheets)", "",
           f"`python benchmarks/preferences.py {meta['argv']}`: {meta['sheets']} held-out sheets of round "
           f"{meta.get('round', 1)} ({meta['photos']} photos of the held-out split, never used for training or selection) judged by at least "
           f"{meta['min_judges']} judge{'s' if meta['min_judges'] != 1 else ''} each (brief {meta['briefs']}; the judges are an AI model acting as a photo editor, "
           "see docs/judging.md). Judges agree with each other on "
           f"**{j['pairwise']:.3f}** of pairs ({j['pairs']} comparisons); each judge agrees with the majority of the "
           f"others on **{j['leave_one_out']:.3f}** (the ceiling).", "",
           "| scorer | pairwise agreement with the judges' majority | majority pairs | top-1 = judges' winner |",
           "|---|---:|---:|---:|"]
    for name, r in res["scorers"].items():
        out.append(f"| {name} | {r['agreement']:.3f} | {r['pairs']} | {r['top1']:.3f} |")
    if any("no retrieval" in name for name in res["scorers"]):
        out += ["", "The bundled reference database (the classic scorer's retrieval) holds the held-out photos too, so on "
                "these photos retrieval can find the photo itself: the rows without retrieval are the fair comparison."]
    out += ["", "Each method's own crop ranked first by the judges (share of the sheets showing it):", "",
            "| method | sheets | own crop first |", "|---|---:|---:|"]
    for name, r in res["own_first"].items():
        out.append(f"| {name} | {r['sheets']} | {r['first'] if r['first'] is not None else '-'} |")
    if res.get("head_to_head"):
        out += ["", "procrop's own crop against each method's, over every judge's ranking of the sheets showing both "
                "(a sheet where both chose the same crop shows it once and counts as `same`):", "",
                "| procrop default against | procrop ranked higher | procrop ranked lower | same crop | procrop preferred |",
                "|---|---:|---:|---:|---:|"]
        for rival, h in res["head_to_head"].items():
            decided = h["won"] + h["lost"]
            share = f"{h['won'] / decided:.0%}" if decided else "-"
            out.append(f"| {METHOD_SOURCES[rival]} | {h['won']} | {h['lost']} | {h['same']} | {share} |")
    return "\n".join(out) + "\n"


def main() -> None:
    from procrop.helptext import plain

    ap = argparse.ArgumentParser(description=plain(__doc__.splitlines()[0]))
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "photos",
                    help="the shared photo folder")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "preferences",
                    help="preference data folder (heldout.jsonl)")
    ap.add_argument("--bundle", action="append", default=[], metavar="NAME=DIR",
                    help="another learned bundle")
    ap.add_argument("--weights", action="append", default=[], metavar="NAME=FILE",
                    help="the classic scorer with another weights file (e.g. procrop prefs fit-weights)")
    ap.add_argument("--preference", action="append", default=[], metavar="NAME=FILE",
                    help="another preference model file (procrop prefs fit)")
    ap.add_argument("--nima", action="store_true", help="NIMA (AVA ratings) as a baseline scorer")
    ap.add_argument("--min-judges", type=int, default=3, help="only sheets with at least this many judges")
    ap.add_argument("--quick", action="store_true",
                    help="score with the default and the classic scorer only (and the box area)")
    ap.add_argument("--round", type=int, default=1,
                    help="which round of held-out sheets (2: made with procrop-preference-v1 as procrop's crop; "
                         "3: with procrop-preference-v2)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "preferences.md",
                    help="Markdown report (a .json beside it)")
    ap.add_argument("--render-only", action="store_true",
                    help="rewrite the markdown from the .json beside --out")
    args = ap.parse_args()
    if args.render_only:
        saved = json.loads(args.out.with_suffix(".json").read_text(encoding="utf-8"))
        args.out.write_text(markdown(saved, saved["meta"]), encoding="utf-8")
        return
    from procrop import Cropper

    groups = group_by_sheet(r for r in read_jsonl(args.data / "heldout.jsonl") if r.get("round", 1) == args.round)
    sheets = [g for g in groups.values() if len(g) >= args.min_judges]
    if not sheets:
        sys.exit(f"error: no held-out sheet in {args.data / 'heldout.jsonl'} has {args.min_judges} judges")
    default = Cropper()
    scorers: dict[str, Callable[[dict[str, Any]], np.ndarray]] = {
        f"{default.model_name} (the default, `Cropper()`)": cropper_scorer(default, args.photos)}
    for other in ("learned", "preference"):
        if other != default.scorer_name and not args.quick:
            cropper = Cropper(scorer=other)
            scorers[f"{cropper.model_name} (`--scorer {other}`)"] = cropper_scorer(cropper, args.photos)
    for spec in args.preference:
        name, _, file = spec.partition("=")
        from procrop.scoring.terms.preference import PreferenceTerm

        scorers[name] = cropper_scorer(Cropper(scorer="preference", extra_terms=[PreferenceTerm(file)]), args.photos)
    for spec in args.bundle:
        name, _, folder = spec.partition("=")
        scorers[name] = cropper_scorer(Cropper(learned_model=folder), args.photos)
    scorers["classic scorer"] = cropper_scorer(Cropper(scorer="classic"), args.photos)
    if not args.quick:
        scorers["classic scorer, no retrieval"] = cropper_scorer(Cropper(scorer="classic", reference_db=None), args.photos)
    for spec in args.weights:
        name, _, file = spec.partition("=")
        scorers[name] = cropper_scorer(Cropper(scorer="classic", weights=file), args.photos)
        scorers[name + ", no retrieval"] = cropper_scorer(
            Cropper(scorer="classic", weights=file, reference_db=None), args.photos)
    scorers["largest box (area)"] = area_scorer
    if args.nima:
        scorers["NIMA (AVA mean rating of the crop)"] = nima_scorer(args.photos)
    res = measure(sheets, scorers, args.min_judges)
    ja = judge_agreement(sheets)
    meta = {"argv": shlex.join(sys.argv[1:]), "sheets": len(sheets), "round": args.round, "photos": len({s[0]["photo"] for s in sheets}),
            "min_judges": args.min_judges, "briefs": ", ".join(sorted({r["brief"] for s in sheets for r in s})),
            "judges": {"pairwise": ja.pairwise, "pairs": ja.pairs, "leave_one_out": ja.leave_one_out}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(res, meta), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, **res}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
