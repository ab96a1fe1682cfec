"""Contact sheet of the held-out preference sheets the default scorer loses most clearly.

    python benchmarks/preference_losses.py [--photos ../shared/data/photos] [--out docs/preference_losses.jpg]
    python benchmarks/preference_losses.py --round 2 --out docs/preference_losses_round2.jpg

A loss: the default's pick on a sheet is not the judges' winner; the clearest are those where the
winner had the most first places and the default's pick the worst mean position. Round 1: the
pick is the box the default scores best among the four shown. Round 2 (``--round 2``): the sheets
show the default's own crop (what ``procrop crop`` returned when they were made), and the pick is
that crop. Green: the judges' winner; red: the default's pick; the first judge's reason below.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from preferences import own_index, winner  # noqa: E402
from procrop import Cropper  # noqa: E402
from procrop.imaging.load import open_full  # noqa: E402
from procrop.preferences.records import group_by_sheet, read_jsonl  # noqa: E402

TILE_H = 360


def tile(photo: Path, rec: dict, win: int, pick: int) -> Image.Image:
    """The photo with the judges' winner (green) and the pick (red), its id and the first reason."""
    font = ImageFont.load_default()
    im = open_full(photo).convert("RGB")
    k = TILE_H / im.height
    im = im.resize((max(1, int(im.width * k)), TILE_H))
    d = ImageDraw.Draw(im)
    for i, col in ((win, (40, 220, 60)), (pick, (240, 40, 40))):
        x, y, bw, bh = [v * k for v in rec["boxes"][i]]
        d.rectangle([x, y, x + bw - 1, y + bh - 1], outline=col, width=4)
    out = Image.new("RGB", (im.width, TILE_H + 40), (20, 20, 20))
    out.paste(im, (0, 0))
    dd = ImageDraw.Draw(out)
    dd.text((4, TILE_H + 2), f"{rec['sheet']} {rec['ratio']} {rec['photo'][-40:]}", fill=(230, 230, 230), font=font)
    dd.text((4, TILE_H + 18), ("judges: " + rec["reason"])[:110], fill=(180, 220, 180), font=font)
    return out


def main() -> None:
    from procrop.helptext import plain

    ap = argparse.ArgumentParser(description=plain(__doc__.splitlines()[0]))
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "photos",
                    help="the shared photo folder")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "preferences" / "heldout.jsonl",
                    help="judged held-out sheets (JSON Lines)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "preference_losses.jpg",
                    help="the contact sheet to write (JPEG)")
    ap.add_argument("--count", type=int, default=8, help="sheets on the contact sheet")
    ap.add_argument("--round", type=int, default=1,
                    help="which round of held-out sheets (2: the default's own crops)")
    args = ap.parse_args()
    cropper = Cropper() if args.round == 1 else None
    cases = []
    sheets = group_by_sheet(r for r in read_jsonl(args.data) if r.get("round", 1) == args.round)
    for recs in sheets.values():
        r = recs[0]
        if cropper is not None:
            s = np.asarray(cropper.score_boxes(str(args.photos / r["photo"]), np.array(r["boxes"], float),
                                               fixed_ratio=r["ratio"] != "free"))
            pick = int(np.argmax(s))
        else:
            pick = own_index(r)
        win = winner(recs)
        if win != pick:
            clarity = sum(x["ranking"][0] == win for x in recs) + np.mean([x["ranking"].index(pick) for x in recs])
            cases.append((clarity, r, win, pick))
    cases.sort(key=lambda t: -t[0])
    tiles = [tile(args.photos / r["photo"], r, w, p) for _, r, w, p in cases[: args.count]]
    rows = [tiles[i:i + 2] for i in range(0, len(tiles), 2)]
    width = max(sum(t.width for t in row) + 8 * (len(row) - 1) for row in rows)
    sheet = Image.new("RGB", (width, len(rows) * (TILE_H + 48) + 30), (0, 0, 0))
    what = "the default's pick" if args.round == 1 else "the default's own crop"
    ImageDraw.Draw(sheet).text((6, 8), f"procrop default, round {args.round}: held-out sheets it loses most clearly. "
                               f"Green: the judges' winner; red: {what}.", fill=(255, 255, 255), font=ImageFont.load_default())
    y = 30
    for row in rows:
        x = 0
        for t in row:
            sheet.paste(t, (x, y))
            x += t.width + 8
        y += TILE_H + 48
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=82)
    print(f"{len(cases)} losses of {len(sheets)} sheets; wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
