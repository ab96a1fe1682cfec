"""Does today's default still crop as the judged round-2 sheets show? Re-using the judgements.

    python benchmarks/preferences_recheck.py [--photos ../shared/data/photos] [--out benchmarks/results/preferences_recheck.md]

The round-2 held-out sheets (``procrop prefs sheets --round 2``) show the crop the default returned
when they were made. When the default changes afterwards (new candidates, protection, a refitted
model), judging new sheets takes hours; this reads what the existing judgements already say. For
every round-2 sheet it crops the photo at the sheet's ratio with today's ``Cropper()`` (top 1) and
looks for the shown box it matches (IoU >= 0.9):

* **unchanged**: today's crop is the judged default crop;
* **moved to a judged box**: today's crop is another box on the sheet (another method's, a largest
  box...), so the judges' ranking says whether the change helped: judges' winner or not;
* **new**: today's crop is none of the shown boxes (unknown until judged again).

Own crop first is reported on the sheets where today's crop was judged (unchanged or moved), for
today's crop and for the crop the sheets were made with, so the two are compared on one set.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from preferences import own_index, winner  # noqa: E402
from procrop.geometry import iou_matrix  # noqa: E402
from procrop.preferences.records import group_by_sheet, read_jsonl  # noqa: E402

MATCH_IOU = 0.9


def recheck(sheets: list[list[dict[str, Any]]], photos: Path) -> dict[str, Any]:
    """Counts and own-first shares of today's default on the judged round-2 sheets."""
    from procrop import Cropper

    cropper = Cropper()
    by_photo: dict[str, list[list[dict[str, Any]]]] = defaultdict(list)
    for recs in sheets:
        by_photo[recs[0]["photo"]].append(recs)
    unchanged = moved = new = 0
    today_first: list[bool] = []
    then_first: list[bool] = []
    for n, (photo, groups) in enumerate(sorted(by_photo.items()), start=1):
        result = cropper.process(str(photos / photo), [g[0]["ratio"] for g in groups], top_k=1)
        for recs in groups:
            rec = recs[0]
            crops = result.for_ratio(rec["ratio"])
            if not crops:
                new += 1
                continue
            shown = np.asarray(rec["boxes"], float)
            overlap = iou_matrix(np.asarray([crops[0].box], float), shown)[0]
            j = int(np.argmax(overlap))
            then = own_index(rec)
            if overlap[j] < MATCH_IOU:
                new += 1
                continue
            unchanged += j == then
            moved += j != then
            win = winner(recs)
            today_first.append(j == win)
            then_first.append(then == win)
        if n % 20 == 0:
            print(f"{n}/{len(by_photo)} photos", file=sys.stderr, flush=True)
    return {"sheets": len(sheets), "unchanged": unchanged, "moved": moved, "new": new,
            "today_first": float(np.mean(today_first)) if today_first else None,
            "then_first": float(np.mean(then_first)) if then_first else None, "model": cropper.model_name}


def markdown(res: dict[str, Any], argv: str) -> str:
    judged = res["unchanged"] + res["moved"]
    share = (lambda v: f"{v:.3f}" if v is not None else "-")
    return "\n".join([
        "# Today's default on the judged round-2 sheets", "",
        f"`python benchmarks/preferences_recheck.py {argv}` ({res['when']}): today's `Cropper()` (`{res['model']}`) on the "
        f"{res['sheets']} round-2 held-out sheets, top crop at each sheet's ratio, matched to the shown boxes "
        f"(IoU >= {MATCH_IOU}).", "",
        "| today's crop is | sheets |", "|---|---:|",
        f"| the judged default crop (unchanged) | {res['unchanged']} |",
        f"| another judged box of the sheet (moved) | {res['moved']} |",
        f"| none of the shown boxes (not judged) | {res['new']} |", "",
        f"On the {judged} sheets where today's crop was judged, it is the judges' winner on "
        f"**{share(res['today_first'])}** of them; the crop the sheets were made with, on "
        f"**{share(res['then_first'])}** of the same sheets.", ""])


def main() -> None:
    from procrop.helptext import plain

    ap = argparse.ArgumentParser(description=plain(__doc__.splitlines()[0]))
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "photos",
                    help="the shared photo folder")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "preferences" / "heldout.jsonl",
                    help="judged held-out sheets (JSON Lines)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "preferences_recheck.md",
                    help="Markdown report to write")
    args = ap.parse_args()
    sheets = list(group_by_sheet(r for r in read_jsonl(args.data) if r.get("round", 1) == 2).values())
    if not sheets:
        sys.exit(f"error: no judged round-2 sheet in {args.data} (procrop prefs sheets --round 2, then judge them)")
    res = recheck(sheets, args.photos)
    rev = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    res["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()) + (f", git {rev}" if rev else "")
    text = markdown(res, shlex.join(sys.argv[1:]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
