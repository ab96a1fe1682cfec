"""The steering benchmark's report (``benchmarks/steering.py``, issue 20): its pairs, the markdown
section of ``results/steering.md`` and ``RESULTS.md``, and the contact sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

#: pair -> (statistic, set that raises it, set that lowers it, words)
PAIRS = {
    "fill": ("fill", "fills_frame", "small_in_space", "subject filling the frame vs small in wide space"),
    "side": ("cx", "right_third", "left_third", "subject on the right vs the left third"),
    "horizon": ("horizon", "low_horizon", "high_horizon", "low vs high horizon (its height from the top)"),
}
MARK = ("<!-- steering -->", "<!-- /steering -->")
#: A photo can move in a pair when the two sets' aims, brought into the range its statistic spans over
#: the candidates the croppers ranked, differ by at least this much (2 % of the crop's width / height, or area).
MOVABLE = 0.02
#: The default when the first runs were made (their names and cache keys carry no scorer).
FORMER_DEFAULT = "procrop-learned-v1"


def contact_sheet(photos: Path, rows: dict[str, dict[str, Any]], files: list[str], out: Path, side: int = 190) -> None:
    """The same photos (rows) cropped by the default and each set (columns), crop drawn on the photo."""
    cols = ["default"] + [n for _, h, lo, _ in PAIRS.values() for n in (h, lo)]
    head = 22
    sheet = Image.new("RGB", (side * len(cols), head + side * len(files)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(cols):
        draw.text((c * side + 4, 5), name, fill="black")
    for r, f in enumerate(files):
        im = Image.open(photos / f).convert("RGB")
        W, H = rows[f]["size"]
        scale = side / max(W, H)
        thumb = im.resize((max(1, round(W * scale)), max(1, round(H * scale))))
        for c, name in enumerate(cols):
            x, y, w, h = rows[f]["boxes"][name]
            tile = thumb.copy()
            d = ImageDraw.Draw(tile)
            d.rectangle([x * scale, y * scale, (x + w) * scale - 1, (y + h) * scale - 1], outline=(255, 40, 40), width=3)
            sheet.paste(tile, (c * side, head + r * side))
    sheet.save(out, quality=65, optimize=True)


def markdown(runs: dict[str, dict[str, Any]]) -> str:
    """The steering section (``results/steering.md`` and ``RESULTS.md``) of every run measured
    (``results/steering_runs.json``: ratio and strength -> summary and meta)."""
    first = next(iter(runs.values()))["meta"]
    lines = ["## Steering by references (issue 20)", "",
             f"`python benchmarks/steering.py --ratio R --strength S`: the {first['heldout']} held-out photos, each "
             f"cropped (top 1) with six reference databases built by `procrop index build`'s defaults from "
             f"{first['per_set']} TRAINING photos each (the most and least subject fill; subject closest to the "
             "left / right third; horizon closest to the upper / lower third), at style strength S. Right way: the "
             "crop made with the set that should raise the statistic has it higher than the crop made with the "
             "opposite set (ties count against), among the photos where both crops have the statistic (photos: no "
             "subject, or no horizon inside a crop, leave a photo out; 'of N': the photos whose analysis found a subject, "
             "or a horizon). Can move: those of them where a crop following each set as closely as the photo "
             "allows would differ: each set's mean statistic, brought into the range the statistic spans over the "
             "candidates the two sets' croppers ranked (after protection dropped the crops that cut a subject), differs "
             f"by at least {MOVABLE:g} (a photo whose every allowed crop has the same value, or whose range lies above "
             "or below both sets' aims, cannot move). Right way of "
             "all: over every held-out photo, a photo without the statistic counted as not moving. "
             "d: Cohen's d of the paired differences. Learned score: the "
             "network's expected overlap with a professional's frame, of the top crop (what following the "
             "references costs in its eyes). Cuts: top crops keeping 2-97 % of a detected face or person. "
             "Target: at least 75 % right way for every pair. A note after the scorer names what differs in a run "
             "(an earlier style term, measured on the same tree for comparison).", "",
             "| default scorer | ratio | strength | pair | photos | raising set | lowering set | default | mean difference | d "
             "| right way | ties | can move | right way where it can | right way of all | learned score: default / sets "
             "| cuts: default / sets |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in sorted(runs.values(), key=lambda r: (r["meta"].get("scorer", FORMER_DEFAULT), r["meta"]["ratio"] != "free",
                                                   r["meta"]["ratio"], r["meta"]["strength"], not r["meta"].get("note"))):
        m = run["meta"]
        for pair, x in run["summary"].items():
            has = "" if x.get("with_statistic") is None else f" of {x['with_statistic']}"
            note = f" ({m['note']})" if m.get("note") else ""  # e.g. an earlier style term, measured for comparison
            head = (f"| {m.get('scorer', FORMER_DEFAULT)}{note} | {m['ratio']} | {m['strength']:g} | {pair} ({x['statistic']}) "
                    f"| {x['photos']}{has} |")
            if not x["photos"]:
                lines.append(head + " - |" * 12)
                continue
            d = "-" if x["cohens_d"] is None else f"{x['cohens_d']:.2f}"
            can = "-" if x.get("movable") is None else str(x["movable"])
            where = "-" if x.get("right_way_movable") is None else f"**{x['right_way_movable']:.0%}**"
            every = "-" if x.get("right_way_all") is None else f"{x['right_way_all']:.0%} of {x['all_photos']}"
            lines.append(f"{head} {x['mean_raises']:.3f} | {x['mean_lowers']:.3f} | {x['mean_default']:.3f} | "
                         f"{x['mean_difference']:+.3f} | {d} | **{x['right_way']:.0%}** | {x['ties']:.0%} | "
                         f"{can} | {where} | {every} | "
                         f"{x['learned_default']:.3f} / {x['learned_sets']:.3f} | "
                         f"{x['cuts_default']:.1%} / {x['cuts_sets']:.1%} |")
    lines += ["", "Pairs: fill = subject filling the frame (raises) vs small in wide space; cx = subject on the "
              "right third (raises) vs the left third; horizon = low horizon (raises its height from the top) vs "
              "high. Statistics (`procrop/retrieval/composition.py`): subject = the people found as one group, else "
              "the analysis's main subject; `fill` its box's area over the crop's; `cx` its centre from the left "
              "(fraction of the crop's width); `horizon` its height from the top (fraction of the crop's height).", "",
              "Contact sheets (the crop of each set in red; rows: 8 held-out photos; each sheet once, "
              "named by the last run that drew it): "
              + ", ".join(f"[{m.get('scorer', FORMER_DEFAULT)}, {m['ratio']}, strength {m['strength']:g}]"
                          f"(results/{sheet})"
                          for sheet, m in _last_run_of_each_sheet(runs).items()) + ".", ""]
    return "\n".join(lines)


def _last_run_of_each_sheet(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each contact sheet's file -> the meta of the last run (in ``runs``' order) that drew it: a
    re-run of the same scorer, ratio and strength draws over the same file."""
    sheets: dict[str, dict[str, Any]] = {}
    for r in runs.values():
        if sheet := r["meta"].get("sheet"):
            sheets.pop(sheet, None)
            sheets[sheet] = r["meta"]
    return sheets


def embed(md_path: Path, section: str, mark: tuple[str, str] = MARK) -> None:
    """Replace a section of ``RESULTS.md`` (between ``mark``, the steering one's by default), or append it."""
    text = md_path.read_text("utf-8") if md_path.exists() else ""
    block = f"{mark[0]}\n{section}\n{mark[1]}"
    if mark[0] in text and mark[1] in text:
        a, b = text.index(mark[0]), text.index(mark[1]) + len(mark[1])
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    md_path.write_text(text, "utf-8")


def quality_markdown(q: dict[str, Any], limit: int) -> str:
    """The quality check's lines for the steering section."""
    names = [k for k in q if isinstance(q[k], dict)]
    cells = "; ".join(f"{n}: mean IoU {q[n]['mean_iou']:.3f}" for n in names)
    text = (f"**The default's quality with the bundled database** (`python benchmarks/steering.py --quality {limit}`): "
            f"the recovery benchmark on the first {q['photos']} held-out photos ({q['canvases']} canvases): {cells}.")
    if "compared" in q:
        text += (f" The default (bundled references, style off: the shipped behaviour) gives the same box as the "
                 f"stored `results/recovery.json` run on {q['identical_boxes']} of {q['compared']} canvases "
                 f"(stored mean IoU {q['stored_default_mean_iou']:.3f}).")
    return text
