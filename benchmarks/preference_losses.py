"""Contact sheet of the held-out preference sheets the default scorer loses most clearly.

    python benchmarks/preference_losses.py      # writes docs/preference_losses.jpg

A loss: the default's best box of a sheet is not the judges' winner; the clearest are those where
the winner had the most first places and the default's pick the worst mean position. Green: the
judges' winner; red: the default's pick; the first judge's reason below.
"""
import sys, json, numpy as np
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / 'benchmarks'))
from PIL import Image, ImageDraw, ImageFont
from procrop import Cropper
from procrop.preferences.records import read_jsonl, group_by_sheet
from preferences import winner
from procrop.imaging.load import open_full
c = Cropper()
g = group_by_sheet(read_jsonl(ROOT / 'data' / 'preferences' / 'heldout.jsonl'))
cases = []
for sid, recs in sorted(g.items()):
    r = recs[0]
    s = np.asarray(c.score_boxes(str(ROOT.parent / 'shared' / 'data' / 'photos') + '/' + r['photo'], np.array(r['boxes'], float)))
    w, p = winner(recs), int(np.argmax(s))
    if w != p:
        firsts = sum(1 for x in recs if x['ranking'][0] == w)
        pos_p = np.mean([x['ranking'].index(p) for x in recs])
        cases.append((firsts + pos_p, sid, r, w, p, recs))
cases.sort(key=lambda t: -t[0])
print(len(cases), 'losses of', len(g))
font = ImageFont.load_default()
tiles = []
for _, sid, r, w, p, recs in cases[:8]:
    im = open_full(str(ROOT.parent / 'shared' / 'data' / 'photos') + '/' + r['photo']).convert('RGB')
    k = 360 / im.height
    im = im.resize((max(1, int(im.width * k)), 360))
    d = ImageDraw.Draw(im)
    for i, col in ((w, (40, 220, 60)), (p, (240, 40, 40))):
        x, y, bw, bh = [v * k for v in r['boxes'][i]]
        d.rectangle([x, y, x + bw - 1, y + bh - 1], outline=col, width=4)
    tile = Image.new('RGB', (im.width, 360 + 40), (20, 20, 20))
    tile.paste(im, (0, 0))
    dd = ImageDraw.Draw(tile)
    dd.text((4, 362), f"{sid} {r['ratio']} {r['photo'][-40:]}", fill=(230, 230, 230), font=font)
    dd.text((4, 378), ('judges: ' + recs[0]['reason'])[:110], fill=(180, 220, 180), font=font)
    tiles.append(tile)
rows = [tiles[i:i + 2] for i in range(0, len(tiles), 2)]
W = max(sum(t.width for t in row) + 8 * (len(row) - 1) for row in rows)
out = Image.new('RGB', (W, len(rows) * 408 + 30), (0, 0, 0))
ImageDraw.Draw(out).text((6, 8), 'procrop-preference-v1: held-out sheets it loses most clearly. Green: the judges\' winner; red: the model\'s pick.', fill=(255, 255, 255), font=font)
y = 30
for row in rows:
    x = 0
    for t in row:
        out.paste(t, (x, y)); x += t.width + 8
    y += 408
out.save(ROOT / 'docs' / 'preference_losses.jpg', quality=82)
print(out.size)
