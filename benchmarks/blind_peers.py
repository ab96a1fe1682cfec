"""Blind two-crop comparisons of today's default against smartcrop.py, libvips attention and the
classic scorer.

    python benchmarks/blind_peers.py sheets --photos ../shared/data/bsds500_trainval/images --n 110 --out WORK
    # each judge: one helper given WORK/prompts/<batch>.txt, writing WORK/answers/<batch>.jsonl
    python benchmarks/blind_peers.py merge --work WORK   # answers/*.jsonl -> answers.jsonl (judge, brief)
    python benchmarks/blind_peers.py tally --work WORK [--md benchmarks/results/blind_peers.md]

``sheets``: for ``--n`` photos drawn from ``--photos`` (seeded by ``--seed``), ``--per-photo`` fixed
ratios each (1:1 and 4:5 weighted 3, 16:9 and 9:16 weighted 2, among those whose largest box covers
under 85 % of the photo: a real decision, as in ``docs/judging.md``), the top crop of ``Cropper()``
and each peer's crop (``--peers``): smartcrop's and libvips attention's at the largest box of the
ratio (the size they are asked for in ``procrop prefs sheets``), the classic scorer's
(``Cropper(scorer="classic")``) its own top crop of the ratio. A pair whose crops overlap at IoU
0.9 or more is not shown. Each sheet shows the photo and the two crops in random order
(``procrop.preferences.sheet.render_sheet``);
``keys.jsonl`` says which is which and is never given to a judge. Every judge gets its own copy of
the sheets, in its own order, in a folder holding nothing else, and a prompt with the brief of
``docs/judging.md`` (its version is kept with every answer).

``tally``: per peer and ratio, the sheets procrop wins and loses by the judges' majority, the votes,
how often two judges of a sheet agree, and the sheets procrop loses with the judges' reasons.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

from procrop.errors import ProcropError  # noqa: E402
from procrop.geometry import iou_matrix, largest_size, parse_ratio  # noqa: E402
from procrop.preferences.batches import brief_text  # noqa: E402
from steering_report import embed  # noqa: E402

RATIO_WEIGHTS = (("1:1", 3), ("4:5", 3), ("16:9", 2), ("9:16", 2))
PEERS = ("smartcrop", "vips-attention")
#: Every peer a sheet can show: the two other croppers, and procrop's own hand-set scorer.
ALL_PEERS = (*PEERS, "classic")
TWO = "Each sheet shows TWO crops (labelled 1 and 2) instead of four: rank those two."


def eligible_ratios(W: int, H: int) -> list[str]:
    """The fixed ratios whose largest box leaves a real decision, each repeated by its weight."""
    out: list[str] = []
    for r, weight in RATIO_WEIGHTS:
        w, h = largest_size(W, H, parse_ratio(r).value or 1.0)
        if w * h < 0.85 * W * H:
            out += [r] * weight
    return out


def make_sheets(photos: Path, n: int, seed: str, work: Path, about: str = "", split: str | None = None,
                peers: tuple[str, ...] = PEERS, per_photo: int = 1) -> list[dict[str, Any]]:
    """Render the sheets of ``n`` photos into ``work/sheets`` and write ``work/keys.jsonl``; the photos
    are the folder's own, or (``split``) those ``benchmarks/split.json`` lists there, under the folder;
    ``per_photo`` different ratios a photo, each shown beside each of ``peers``."""
    from procrop import Cropper
    from procrop.evaluation.peers import smartcrop_py, vips_attention
    from procrop.imaging.load import open_full
    from procrop.preferences.sheet import render_sheet

    classic = Cropper(scorer="classic") if "classic" in peers else None

    def peer_box(peer: str, f: Path, ratio: str, w: int, h: int) -> list[int]:
        if peer == "classic":
            return [int(v) for v in classic.process(str(f), ratio, 1).crops[0].box]
        crop = smartcrop_py if peer == "smartcrop" else vips_attention
        return [int(v) for v in crop(str(f), w, h)]

    rng = random.Random(seed)
    if not photos.is_dir():
        raise Refused(f"{photos}: no such folder of photos")
    if split is not None:
        listed = json.loads((ROOT / "benchmarks" / "split.json").read_text("utf-8")).get(split)
        if not listed:
            raise Refused(f"benchmarks/split.json has no split {split!r}")
        files = sorted(photos / f for f in listed if (photos / f).is_file())
    else:
        files = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise Refused(f"{photos}: no photos (.jpg, .jpeg, .png) in this folder")
    if (work / "keys.jsonl").exists() or work.is_file():
        raise Refused(f"{work}: already holds sheets (or is a file); give a new --out")
    rng.shuffle(files)
    cropper, keys = Cropper(), []
    (work / "sheets").mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(files[:n], 1):
        try:
            photo = open_full(f)
        except ProcropError as exc:
            print(f"skipped {exc}", file=sys.stderr)
            continue
        ratios = eligible_ratios(*photo.size)
        chosen: list[str] = []
        while ratios and len(chosen) < per_photo:
            chosen.append(rng.choice(ratios))
            ratios = [r for r in ratios if r != chosen[-1]]
        for ratio in chosen:
            mine = list(cropper.process(str(f), ratio, 1).crops[0].box)
            w, h = largest_size(*photo.size, parse_ratio(ratio).value or 1.0)
            for peer in peers:
                theirs = peer_box(peer, f, ratio, w, h)
                if iou_matrix([mine], [theirs])[0, 0] >= 0.9:
                    continue
                order = [("procrop", mine), (peer, theirs)]
                rng.shuffle(order)
                key = {"sheet": f"s{len(keys) + 1:03d}", "photo": f.relative_to(photos).as_posix(),
                       "ratio": ratio, "boxes": [b for _, b in order], "methods": [m for m, _ in order]}
                render_sheet(photo, key["boxes"]).save(work / "sheets" / f"{key['sheet']}.png")
                keys.append(key)
        if i % 10 == 0 or i == min(n, len(files)):
            print(f"photo {i} of {min(n, len(files))}: {len(keys)} sheets", flush=True)
    with open(work / "keys.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(k) + "\n" for k in keys)
    meta = {"photos": photos.resolve().name + (f" (split {split})" if split else ""), "drawn": n,
            "seed": seed, "git": git_describe(), "about": about, "peers": list(peers), "per_photo": per_photo}
    (work / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return keys


def git_describe() -> str:
    """The tree the crops were made with (``git describe --always --dirty``; ``unknown`` outside git)."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def write_batches(work: Path, keys: list[dict[str, Any]], judges: int, size: int,
                  judging: Path) -> list[Path]:
    """Per judge: its own shuffled copy of the sheets in batches (one folder each) and a prompt."""
    version, brief = brief_text(judging)
    (work / "answers").mkdir(exist_ok=True)
    (work / "prompts").mkdir(exist_ok=True)
    (work / "brief_version.txt").write_text(version + "\n", encoding="utf-8")
    prompts = []
    for j in range(judges):
        order = [k["sheet"] for k in keys]
        random.Random(f"judge-{j}").shuffle(order)
        photo_of, seen = {k["sheet"]: k["photo"] for k in keys}, defaultdict(int)
        rank = {}
        for sid in order:  # a photo's first sheet, then its second...: its sheets fall in different batches
            rank[sid] = seen[photo_of[sid]]
            seen[photo_of[sid]] += 1
        order.sort(key=lambda sid: rank[sid])
        for b in range(0, len(order), size):
            batch = f"j{j}b{b // size}"
            folder = work / "judges" / batch
            folder.mkdir(parents=True, exist_ok=True)
            for sid in order[b:b + size]:
                shutil.copy(work / "sheets" / f"{sid}.png", folder / f"j{j}-{sid}.png")
            answers = (work / "answers" / f"{batch}.jsonl").resolve()
            text = (f"{brief}\n\n{TWO}\n\nYour sheets: every .png file in the folder "
                    f"{folder.resolve()}/ ({len(order[b:b + size])} files): list it, then open each file "
                    "one by one with your file viewer. Write one JSON line per sheet as the brief says, "
                    f"where \"sheet\" is the file name without .png, to {answers} (append as you go). "
                    "Do not open any other files. When done, reply with the number of lines written.")
            prompt = work / "prompts" / f"{batch}.txt"
            prompt.write_text(text, encoding="utf-8")
            prompts.append(prompt)
    return prompts


def read_answers(work: Path) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], list[str]]:
    """The keys, the valid answers (each with its ``judge``: the answer's own, else its batch file's
    name) and why each other line was left out: not JSON, no sheet of the keys, a ranking that is not
    an order of the sheet's crops, or a judge's second answer to a sheet. Read from
    ``work/answers.jsonl`` (merged, as committed) when it exists, else ``work/answers/*.jsonl`` (as the
    judges write them)."""
    if not (work / "keys.jsonl").is_file():
        raise Refused(f"{work}: no keys.jsonl (make the sheets with 'blind_peers.py sheets --out {work}')")
    keys = {k["sheet"]: k for k in map(json.loads, (work / "keys.jsonl").read_text("utf-8").splitlines())}
    answers: list[dict[str, Any]] = []
    left_out: list[str] = []
    seen: set[tuple[str, str]] = set()
    merged = work / "answers.jsonl"  # once merged, the judges' own files are its copies
    for f in [merged] if merged.is_file() else sorted((work / "answers").glob("*.jsonl")):
        for n, line in enumerate(f.read_text("utf-8").splitlines(), 1):
            where = f"{f.name}:{n}"
            try:
                a = json.loads(line)
                sid = str(a["sheet"]).removesuffix(".png").split("-", 1)[-1]
                ranking = [int(v) for v in a["ranking"]]
            except (ValueError, KeyError, TypeError):
                left_out.append(f"{where}: not an answer line")
                continue
            if sid not in keys:
                left_out.append(f"{where}: no sheet {sid}")
                continue
            if sorted(ranking) != list(range(1, len(keys[sid]["boxes"]) + 1)):
                left_out.append(f"{where}: ranking {ranking} does not order the sheet's crops")
                continue
            judge = str(a.get("judge") or f.stem)
            if (judge, sid) in seen:
                left_out.append(f"{where}: {judge} answered {sid} before")
                continue
            seen.add((judge, sid))
            answers.append({**a, "sheet": sid, "ranking": ranking, "judge": judge})
    return keys, answers, left_out


def read_votes(work: Path) -> tuple[dict[str, dict[str, Any]], dict[str, list[tuple[bool, str]]], list[str]]:
    """The keys, per sheet each judge's (procrop first?, reason), and the lines left out
    (:func:`read_answers`)."""
    keys, answers, left_out = read_answers(work)
    votes: dict[str, list[tuple[bool, str]]] = defaultdict(list)
    for a in answers:
        best = keys[a["sheet"]]["methods"][a["ranking"][0] - 1]
        votes[a["sheet"]].append((best == "procrop", str(a.get("reason", ""))))
    return keys, votes, left_out


def merge(work: Path) -> int:
    """Write ``work/answers.jsonl``: the valid answers of ``work/answers/*.jsonl``, each with its judge
    and the brief's version (``work/brief_version.txt``), as committed beside the keys."""
    if (work / "answers.jsonl").exists():
        raise Refused(f"{work / 'answers.jsonl'}: already merged (remove it to merge again)")
    version = (work / "brief_version.txt").read_text("utf-8").strip()
    _, answers, left_out = read_answers(work)
    for line in left_out:
        print(f"left out {line}", file=sys.stderr)
    text = "".join(json.dumps({**a, "brief": a.get("brief", version)}) + "\n" for a in answers)
    (work / "answers.jsonl").write_text(text, encoding="utf-8")
    return len(answers)


def read_meta(work: Path) -> dict[str, Any]:
    """What ``sheets`` wrote of the draw (``work/meta.json``; empty before it existed); sheets made
    before ``--peers`` and ``--per-photo`` show the two other croppers, one ratio a photo."""
    meta_file = work / "meta.json"
    meta = json.loads(meta_file.read_text("utf-8")) if meta_file.exists() else {}
    return {"peers": list(PEERS), "per_photo": 1, **meta}


def tally(work: Path) -> str:
    """The markdown report of ``work``'s answers."""
    keys, votes, left_out = read_votes(work)
    lines = ["| procrop against | ratio | sheets | procrop wins | peer wins | tied "
             "| votes (procrop : peer) |", "|---|---|---:|---:|---:|---:|---:|"]
    for peer in read_meta(work)["peers"]:
        for ratio in ("all", *[r for r, _ in RATIO_WEIGHTS]):
            rows = [v for s, v in votes.items()
                    if peer in keys[s]["methods"] and ratio in ("all", keys[s]["ratio"])]
            won = sum(sum(p for p, _ in v) * 2 > len(v) for v in rows)
            lost = sum(sum(not p for p, _ in v) * 2 > len(v) for v in rows)
            mine = sum(p for v in rows for p, _ in v)
            total = sum(len(v) for v in rows)
            label = f"**{ratio}**" if ratio == "all" else ratio
            lines.append(f"| {peer} | {label} | {len(rows)} | {won} | {lost} | {len(rows) - won - lost} | "
                         f"{mine} : {total - mine} ({mine / max(total, 1):.0%}) |")
    pairs = [(a[0], b[0]) for v in votes.values() for i, a in enumerate(v) for b in v[i + 1:]]
    agree = sum(a == b for a, b in pairs) / max(len(pairs), 1)
    answers = sum(len(v) for v in votes.values())
    lost = [s for s, v in sorted(votes.items()) if sum(not p for p, _ in v) * 2 > len(v)]
    judges = sorted({len(v) for v in votes.values()}) or [0]
    each = f"{judges[0]}" if len(judges) == 1 else f"{judges[0]}-{judges[-1]}"
    out = [f"{answers} answers on {len(votes)} of the {len(keys)} sheets ({each} judges a sheet"
           + (f"; {len(left_out)} lines left out: {'; '.join(left_out[:5])}" if left_out else "")
           + f"); two judges of a sheet pick the same crop on **{agree:.0%}** of {len(pairs)} pairs of "
           "judges.",
           "", *lines, "",
           f"Sheets procrop loses ({len(lost)}), with the judges' reasons:", ""]
    for s in lost:
        k = keys[s]
        peer = next(m for m in k["methods"] if m != "procrop")
        reasons = "; ".join(r for p, r in votes[s] if not p)
        out.append(f"- {k['photo']} {k['ratio']} (against {peer}): {reasons}")
    return "\n".join(out) + "\n"


def results_section(work: Path, md: Path | None, report: str) -> str:
    """The section of ``RESULTS.md``: what was judged and the report's table (the losses stay in ``md``)."""
    keys, answers, _ = read_answers(work)
    photos = len({k["photo"] for k in keys.values()})
    meta = read_meta(work)
    source = (f" of folder `{meta['photos']}` ({meta['drawn']} drawn with seed `{meta['seed']}`, "
              f"cropped at {meta['git']})") if "photos" in meta else ""
    about = f", {meta['about']}" if meta.get("about") else ""
    briefs = ", ".join(sorted({str(a.get("brief", "unknown")) for a in answers})) or "none yet"
    where = (f" (the sheets procrop loses, with the judges' reasons: [{md.name}](results/{md.name}))"
             if md else "")
    head, _, _ = report.partition("\n\nSheets procrop loses")
    title = f": {meta['photos']}" if "photos" in meta else ""
    names = {"smartcrop": "smartcrop.py's", "vips-attention": "libvips attention's",
             "classic": "the classic scorer's own top crop"}
    shown = [names[p] for p in meta["peers"]]
    if set(meta["peers"]) & set(PEERS):
        last = max(i for i, p in enumerate(meta["peers"]) if p in PEERS)
        shown[last] += " at the largest box of the ratio"
    shown_text = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
    ratios = ("one fixed ratio a photo" if meta["per_photo"] == 1
              else f"up to {meta['per_photo']} fixed ratios a photo")
    return (f"## Blind comparisons against the peers{title}\n\n"
            f"`python benchmarks/blind_peers.py tally --work {work.as_posix()}`{where}: {photos} photos"
            f"{source}{about}, {len(keys)} two-crop sheets ({ratios}; today's `Cropper()` "
            f"top crop beside {shown_text}, in "
            "random order; pairs at IoU 0.9 or more not shown), judged blind (brief "
            f"{briefs}: an AI model acting as a photo editor, see docs/judging.md). Sheets won by the "
            f"judges' majority; votes: every judge's first choice.\n\n{head}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sheets", help="make the sheets, the keys and a prompt per judge batch (extra: peers)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    s.add_argument("--photos", type=Path, required=True, help="folder of the photos to judge on")
    s.add_argument("--n", type=int, default=110,
                   help="photos drawn (each gives up to --per-photo x peers sheets: fewer where a ratio's "
                   "largest box covers nearly the whole photo or procrop and a peer crop alike)")
    s.add_argument("--seed", default="peer19", help="seed of the draw, the ratios and the orders")
    s.add_argument("--out", type=Path, required=True, help="work folder (sheets, keys, judges, prompts)")
    s.add_argument("--judges", type=int, default=3, help="independent judges of every sheet")
    s.add_argument("--batch", type=int, default=42, help="sheets per judge batch")
    s.add_argument("--judging", type=Path, default=ROOT / "docs" / "judging.md",
                   help="the protocol whose brief (and its version) the judges are given")
    s.add_argument("--split", help="only the photos benchmarks/split.json lists under this name (e.g. "
                   "heldout), paths under --photos")
    s.add_argument("--peers", nargs="+", choices=ALL_PEERS, default=list(PEERS),
                   help="whose crops are shown beside procrop's (classic: procrop's hand-set scorer)")
    s.add_argument("--per-photo", type=int, default=1,
                   help="fixed ratios drawn for each photo, all different (each ratio gives its own sheets)")
    s.add_argument("--about", default="", help="what the photos are, for the report (e.g. 'never used to fit "
                   "a scorer')")
    m = sub.add_parser("merge", help="WORK/answers/*.jsonl -> WORK/answers.jsonl with judge and brief")
    m.add_argument("--work", type=Path, required=True, help="the sheets' work folder")
    t = sub.add_parser("tally", help="the result of the answers in WORK/answers")
    t.add_argument("--work", type=Path, required=True,
                   help="the sheets' work folder (keys.jsonl, answers/*.jsonl or a merged answers.jsonl)")
    t.add_argument("--md", type=Path, help="also write the report here")
    t.add_argument("--results", type=Path, help="and its table into this RESULTS.md (between its marks)")
    args = ap.parse_args()
    try:
        run(args)
    except (Refused, ProcropError, OSError) as exc:
        sys.exit(f"error: {exc}")


class Refused(Exception):
    """A bad argument or folder, said in one line."""


def run(args: argparse.Namespace) -> None:
    """The command ``args`` asks for."""
    if args.cmd == "sheets":
        if min(args.n, args.judges, args.batch, args.per_photo) < 1:
            raise Refused("--n, --judges, --batch and --per-photo must be at least 1")
        brief_text(args.judging)  # readable, before the photos are cropped
        keys = make_sheets(args.photos, args.n, args.seed, args.out, args.about, args.split,
                           tuple(dict.fromkeys(args.peers)), args.per_photo)
        if not keys:
            raise Refused(f"{args.photos}: no sheet made (no readable photo, or every pair of crops alike)")
        prompts = write_batches(args.out, keys, args.judges, args.batch, args.judging)
        print(f"{len(keys)} sheets; {len(prompts)} judge batches: {args.out / 'prompts'} (a pair of crops at "
              "IoU 0.9 or more, or a ratio whose largest box covers 85 % of the photo, makes no sheet)")
    elif args.cmd == "merge":
        print(f"{merge(args.work)} answers: {args.work / 'answers.jsonl'}")
    else:
        report = tally(args.work)
        if args.md:
            args.md.write_text(report, encoding="utf-8")
        if args.results:
            mark = (f"<!-- blind_peers {args.work.name} -->", f"<!-- /blind_peers {args.work.name} -->")
            embed(args.results, results_section(args.work, args.md, report), mark)
        print(report)


if __name__ == "__main__":
    main()
