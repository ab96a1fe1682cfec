"""Frame recovery on held-out photos: how well each cropper finds the photographer's frame in a wider canvas.

    python benchmarks/recovery.py [--photos ../shared/data/photos] [--limit N] [--seed 0]
        [--bundle NAME=DIR ...] [--preference NAME=FILE ...] [--quick] [--skip-peers] [--render-only]
        [--out DIR] [--md FILE]

(``sh benchmarks/results.sh [ARGS]`` runs bench_crop.py and cuts.py first, then this with ARGS:
the whole of ``RESULTS.md`` in one command.)

This script owns the recovery benchmark and its results table (``benchmarks/RESULTS.md``,
``benchmarks/results/recovery.json``, and ``benchmarks/results/recovery_worst_learned.png``, a contact
sheet of the default's 8 worst recoveries). On the held-out photos of ``benchmarks/split.json``
(whole sources the reference database and any training never see), each photo is shrunk into a wider
canvas -- the photographer's frame is the answer -- with fills the weak-label training never uses (its
fills are :data:`procrop.weaklabels.outpaint.TRAINING_FILLS`; the disjointness is checked at run time):

* ``mirror_dark``: a plain mirror extension, blurred and darkened with distance from the frame;
* ``flat_noise``: a flat border of the photo's mean colour with Gaussian noise;
* ``blur_cover``: the photo itself scaled to cover the canvas and heavily blurred (a social-media
  "blurred background" letterbox).

Canvas ratio and coverage are drawn (seeded) per photo and fill from :data:`RATIOS` and
:data:`COVERAGES`. Methods run interleaved per canvas, their order rotated, on the in-memory canvas (no
decoding timed). procrop's methods (free ratio, top 1, unless said otherwise) get no size hint:

* ``procrop (default)``: ``Cropper()``, the preference scorer; ``procrop --scorer learned``: the learned
  box scorer alone; ``procrop @ frame ratio``: the default
  same at the frame's ratio; ``procrop --fast``: ``Cropper(profile="fast")``;
* ``classic``: ``Cropper(scorer="classic")``, the hand-set scorer with retrieval (the former default);
  ``classic (no retrieval)``: the same with ``reference_db=None``;
* ``untrained network``: the learned scorer's network with random weights (torch seed 0, no
  references), exported by this script into a temporary bundle (skipped when torch is missing);
* ``learned: NAME``: the learned scorer from the bundle folder of each ``--bundle NAME=DIR`` (ablations);
* ``preference: NAME``: the default cropper with the preference model file of each
  ``--preference NAME=FILE`` (a ``procrop prefs fit`` candidate; ``--quick`` runs only these rows and
  the default, for development).

``centre`` gets no size hint either; smartcrop.py and libvips' attention and entropy smart crops get the
frame's exact size (the oracle hint of ``procrop eval``'s peers; ``--skip-peers`` drops the four, for
development only). libvips' box is read from the crop's ``xoffset``/``yoffset`` (minus the left/top),
verified pixel-exact on the first canvas. Metrics: IoU with the frame and BDE (mean displacement of the
four edges, x over the canvas width, y over its height). ``RESULTS.md`` also embeds the speed table of
``benchmarks/results/bench_crop.md`` (written by ``benchmarks/bench_crop.py``) when it exists.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from procrop.evaluation.metrics import bde
from procrop.geometry import iou

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = ROOT.parent / "shared" / "data" / "photos"
RESULTS = ROOT / "benchmarks" / "results"
WORST_SHEET = "recovery_worst_learned.png"

from recovery_parts import (  # noqa: F401 - re-exported (boxsets_check.py, steering.py import them from here)
    COVERAGES, DEFAULT_METHOD, FILLS, LEARNED_METHOD, NO_TORCH, RATIOS, UNTRAINED_METHOD, Canvas, Method,
    canvas_geometry, check_fills, fill_canvas, make_canvases, peer_methods, procrop_methods, top1,
    untrained_bundle, vips_box,
)


# ---- the run --------------------------------------------------------------------------------------

def run(photos: Path, files: list[str], seed: int, methods: dict[str, Method]) -> list[dict[str, Any]]:
    """One row per canvas and method: IoU, BDE, milliseconds, the box."""
    names = list(methods)
    rows: list[dict[str, Any]] = []
    for n, (f, fill, ratio, cov, canvas, frame) in enumerate(make_canvases(photos, files, seed)):
        if n == 0 and "vips attention (size hint)" in methods:
            vips_box(canvas, frame[2], frame[3], "attention", verify=True)
        H, W = canvas.shape[:2]
        for name in names[n % len(names):] + names[: n % len(names)]:  # rotate the order per canvas
            t0 = time.perf_counter()
            box = methods[name](canvas, (frame[2], frame[3]))
            ms = (time.perf_counter() - t0) * 1000
            rows.append({"photo": f, "fill": fill, "canvas_ratio": f"{ratio[0]}:{ratio[1]}", "coverage": cov,
                         "canvas": [W, H], "frame": list(frame), "method": name,
                         "box": [round(v, 1) for v in box], "iou": round(iou(box, frame), 4),
                         "bde": round(bde(box, frame, W, H), 4), "ms": round(ms, 2)})
        if (n + 1) % 30 == 0:
            print(f"  {n + 1} canvases", file=sys.stderr, flush=True)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per method: mean/median IoU and BDE overall and per fill, median ms, ratio to vips attention."""
    out: dict[str, dict[str, Any]] = {}
    for m in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == m]
        s: dict[str, Any] = {"canvases": len(mine), "median_ms": float(np.median([r["ms"] for r in mine]))}
        for fill in ("all", *FILLS):
            sel = [r for r in mine if fill in ("all", r["fill"])]
            s[fill] = {"mean_iou": float(np.mean([r["iou"] for r in sel])),
                       "median_iou": float(np.median([r["iou"] for r in sel])),
                       "mean_bde": float(np.mean([r["bde"] for r in sel])),
                       "median_bde": float(np.median([r["bde"] for r in sel]))}
        out[m] = s
    ref = out.get("vips attention (size hint)", {}).get("median_ms")
    for s in out.values():
        s["vs_vips_attention"] = s["median_ms"] / ref if ref else None
    return out


def _ratio_cell(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}x"


def recovery_tables(summary: dict[str, dict[str, Any]]) -> list[str]:
    """The overall table and the per-fill table (markdown lines)."""
    cols = ("mean IoU", "median IoU", "mean BDE", "median BDE", "median ms / canvas", "vs vips attention")
    lines = ["| method | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for m, s in summary.items():
        a = s["all"]
        lines.append(f"| {m} | {a['mean_iou']:.3f} | {a['median_iou']:.3f} | {a['mean_bde']:.4f} | "
                     f"{a['median_bde']:.4f} | {s['median_ms']:.1f} | "
                     f"{_ratio_cell(s['vs_vips_attention'])} |")
    lines += ["", "Per fill (mean IoU / mean BDE):", "",
              "| method | " + " | ".join(FILLS) + " |", "|---|" + "---:|" * len(FILLS)]
    for m, s in summary.items():
        cells = " | ".join(f"{s[f]['mean_iou']:.3f} / {s[f]['mean_bde']:.4f}" for f in FILLS)
        lines.append(f"| {m} | {cells} |")
    return lines


def methods_text(meta: dict[str, Any]) -> str:
    """What the procrop rows are: bundles, the untrained network (or why it is missing), ablations."""
    models = meta["models"]
    default = (f"`{DEFAULT_METHOD}` is `Cropper()`, the preference scorer (`{models.get(DEFAULT_METHOD)}`) over "
               "the learned box scorer, free ratio, top 1; `procrop @ frame ratio` the same at the "
               "frame's ratio; `procrop --fast` the same with `profile=\"fast\"` (faces, no object "
               f"detector); `{LEARNED_METHOD}` the learned box scorer alone (bundle "
               f"`{models.get(LEARNED_METHOD)}`, the default until December 2026); "
               "`classic` is `Cropper(scorer=\"classic\")`, the hand-set scorer with retrieval, "
               "and `classic (no retrieval)` the same with `reference_db=None`.")
    parts = [default]
    if UNTRAINED_METHOD in models:
        parts.append(f"`{UNTRAINED_METHOD}`: the same network with random weights (torch seed 0) on the "
                     "same pretrained backbone, exported by the script into a temporary bundle without "
                     "references (so it retrieves none): the floor that training has to beat.")
    else:
        parts.append(f"Not run: `{UNTRAINED_METHOD}` ({meta['untrained_note']}).")
    for name, folder in meta["bundles"].items():
        parts.append(f"`{name}`: bundle `{models[name]}` from `{folder}` (`--bundle`).")
    if meta["skip_peers"]:
        parts.append("**Peers skipped** (`--skip-peers`, a development run).")
    return " ".join(parts)


def cut_summary(text: str) -> list[str]:
    """The ``all``-ratio rows of cuts.md's avoidable face-cut and person-cut tables, side by side."""
    rows: dict[str, dict[str, str]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = "face" if "face" in line.lower() else "person" if "person" in line.lower() else ""
        cells = [c.strip() for c in line.strip("|").split("|")]
        if section and line.startswith("|") and len(cells) > 6 and cells[1] == "all":
            rows.setdefault(cells[0], {})[section] = f"{cells[4]} of {cells[3]} ({cells[6]})"
            if section == "person":
                rows[cells[0]]["bad"] = f"{cells[7]} of {cells[2]} ({cells[8]})"
    out = ["| method | avoidable face cuts | avoidable person cuts | bad person cuts |", "|---|---:|---:|---:|"]
    out += [f"| {m} | {r.get('face', '-')} | {r.get('person', '-')} | {r.get('bad', '-')} |" for m, r in rows.items()]
    return out


def embedded(name: str) -> list[str]:
    """``results/<name>`` as markdown lines of ``RESULTS.md``: a link, then its text without its title."""
    text = (RESULTS / name).read_text(encoding="utf-8").splitlines()
    body = "\n".join(ln for ln in text if not ln.startswith("# ")).strip()
    return [f"From [results/{name}](results/{name}):", "", body, ""]


def linked_sections() -> list[str]:
    """Agreement with the judges (``results/preferences.md``), the face-cuts link and the speed
    table of ``results/bench_crop.md`` (markdown lines)."""
    lines = ["## Agreement with editors' judgements", ""]
    if (RESULTS / "preferences.md").exists():
        lines += embedded("preferences.md")
    else:
        lines += ["Not measured yet (`python benchmarks/preferences.py` writes `results/preferences.md`).", ""]
    if (RESULTS / "preferences_round2.md").exists():  # --round 2: the preference default's own crops judged
        lines += ["### Round 2: the preference default's own crops", "", *embedded("preferences_round2.md")]
    if (RESULTS / "preferences_recheck.md").exists():  # today's default matched to the judged round-2 boxes
        lines += embedded("preferences_recheck.md")
    if (RESULTS / "preferences_round3.md").exists():  # --round 3: procrop-preference-v2's own crops judged
        lines += ["### Round 3: today's default's own crops", "", *embedded("preferences_round3.md")]
    lines += ["## Face cuts", ""]
    cuts = RESULTS / "cuts.md"
    if cuts.exists():
        lines += ["From [results/cuts.md](results/cuts.md) (`python benchmarks/cuts.py`, BSDS500 train/val, "
                  "ratios 1:1, 4:5, 16:9, 9:16; `procrop` is the default), every ratio together:", "", *cut_summary(cuts.read_text("utf-8"))]
    else:
        lines.append("Not measured yet (`python benchmarks/cuts.py` writes `results/cuts.md`).")
    lines += ["", "## Salient-object cuts", ""]
    salient = RESULTS / "cuts_salient.md"
    if salient.exists():  # its whole text but the title
        body = "\n".join(ln for ln in salient.read_text(encoding="utf-8").splitlines() if not ln.startswith("# "))
        lines += ["From [results/cuts_salient.md](results/cuts_salient.md):", "", body.strip()]
    else:
        lines.append("Not measured yet (`python benchmarks/cuts_salient.py` writes `results/cuts_salient.md`).")
    steering = RESULTS / "steering.md"  # written by benchmarks/steering.py (issue 20), its own title
    if steering.exists():
        lines += ["", "<!-- steering -->", steering.read_text(encoding="utf-8").strip(), "<!-- /steering -->"]
    scale = RESULTS / "retrieval_scale.md"  # written by benchmarks/retrieval_scale.py (issue 20), its own title
    if scale.exists():
        lines += ["", "<!-- retrieval_scale -->", scale.read_text(encoding="utf-8").strip(), "<!-- /retrieval_scale -->"]
    lines += ["", "## Speed", ""]
    speed = RESULTS / "bench_crop.md"
    if speed.exists():
        text = speed.read_text(encoding="utf-8").splitlines()
        body = "\n".join(ln for ln in text if not ln.startswith("# "))  # its title: this section has one
        lines += ["From [results/bench_crop.md](results/bench_crop.md):", "", body.strip()]
    else:
        lines.append("Not measured yet (`python benchmarks/bench_crop.py` writes `results/bench_crop.md`).")
    return lines


def results_markdown(summary: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    """``RESULTS.md``: the overall table, IoU per fill, what the rows are, face cuts and speed."""
    fills = ", ".join(f"`{f}`" for f in FILLS)
    training = ", ".join(f"`{f}`" for f in meta["training_fills"])
    ratios = ", ".join(f"{a}:{b}" for a, b in RATIOS)
    setup = (f"`python benchmarks/recovery.py` (seed {meta['seed']}): {meta['photos']} held-out photos of "
             f"`benchmarks/split.json` (whole sources: {', '.join(meta['heldout_sources'])}), each shrunk "
             f"into {len(FILLS)} canvases (fills {fills}; canvas ratio from {ratios}, photo covering "
             f"{'/'.join(str(c) for c in COVERAGES)} of the area, drawn per canvas) = {meta['canvases']} "
             f"canvases; {meta['seconds']:.0f} s in all. These fills were never used in training: the "
             f"learned scorer's weak labels use the fills {training} (`TRAINING_FILLS`, checked disjoint at "
             "run time). Methods interleaved per canvas on the in-memory canvas (no decoding timed); the "
             "peers marked *size hint* receive the frame's exact size. BDE: mean edge displacement "
             "(x / canvas width, y / canvas height); lower is better.")
    sheet = (f"Contact sheet of the default's 8 worst recoveries: `benchmarks/results/{WORST_SHEET}` "
             "(green: the frame, red: its crop; not committed). Per-canvas rows: "
             "[results/recovery.json](results/recovery.json).")
    cmd = " ".join(f'--bundle "{n.removeprefix("learned: ")}=DIR"' for n in meta.get("bundles", {}))
    whole = (f"The whole file: `sh benchmarks/results.sh {cmd}`".rstrip() + " (bench_crop.py, cuts.py, then "
             "recovery.py, which writes it; each `--bundle` is an ablation's bundle folder, see "
             "[docs/model_card.md](../docs/model_card.md)).")
    lines = ["# Benchmark results", "", whole, "", "## Frame recovery on held-out photos", "", setup, "",
             *recovery_tables(summary), "", methods_text(meta), "", sheet, "", *linked_sections()]
    return "\n".join(lines) + "\n"


def contact_sheet(rows: list[dict[str, Any]], photos: Path, seed: int, files: list[str], out: Path) -> None:
    """The 8 canvases where the default's free crop recovers the frame worst (frame green, crop
    red)."""
    worst = sorted((r for r in rows if r["method"] == DEFAULT_METHOD), key=lambda r: r["iou"])[:8]
    wanted = {(r["photo"], r["fill"]): r for r in worst}
    tiles: dict[tuple[str, str], np.ndarray] = {}
    for f, fill, _, _, canvas, frame in _canvases_for(photos, files, seed, set(wanted)):
        r = wanted[(f, fill)]
        img = np.ascontiguousarray(canvas[:, :, ::-1])
        for (x, y, w, h), colour in ((frame, (0, 200, 0)), (r["box"], (0, 0, 255))):
            cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), colour, 3)
        k = 320 / max(img.shape[:2])
        img = cv2.resize(img, (round(img.shape[1] * k), round(img.shape[0] * k)), interpolation=cv2.INTER_AREA)
        tile = np.full((340, 330, 3), 255, np.uint8)
        tile[:img.shape[0], :img.shape[1]] = img
        cv2.putText(tile, f"{Path(f).stem[:22]} {fill} IoU {r['iou']:.2f}", (2, 334), cv2.FONT_HERSHEY_SIMPLEX,
                    0.38, (0, 0, 0), 1, cv2.LINE_AA)
        tiles[(f, fill)] = tile
    ordered = [tiles[(r["photo"], r["fill"])] for r in worst if (r["photo"], r["fill"]) in tiles]
    ordered += [np.full((340, 330, 3), 255, np.uint8)] * (8 - len(ordered))
    sheet = np.vstack([np.hstack(ordered[:4]), np.hstack(ordered[4:8])])
    cv2.imwrite(str(out), sheet)


def _canvases_for(photos: Path, files: list[str], seed: int, wanted: set[tuple[str, str]]
                  ) -> Iterator[Canvas]:
    """The canvases of ``wanted`` ``(file, fill)`` pairs, regenerated exactly (same seeds)."""
    for item in make_canvases(photos, files, seed):
        if (item[0], item[1]) in wanted:
            yield item


def bundle_arg(text: str) -> tuple[str, Path]:
    """``NAME=DIR`` of ``--bundle``: the row name ``learned: NAME`` and an existing bundle folder."""
    name, sep, folder = text.partition("=")
    if not sep or not name or not (Path(folder) / "model.json").is_file():
        raise argparse.ArgumentTypeError(f"expected NAME=DIR with DIR/model.json, got {text!r}")
    return f"learned: {name}", Path(folder)


def preference_arg(text: str) -> tuple[str, Path]:
    """``NAME=FILE`` of ``--preference``: the row name ``preference: NAME`` and an existing model file."""
    name, sep, file = text.partition("=")
    if not sep or not name or not Path(file).is_file():
        raise argparse.ArgumentTypeError(f"expected NAME=FILE with an existing preference model file, got {text!r}")
    return f"preference: {name}", Path(file)


def measure(args: argparse.Namespace, files: list[str], work: Path
            ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Build the methods (the untrained bundle under ``work``) and run them; the rows and the meta."""
    from procrop.weaklabels.outpaint import TRAINING_FILLS

    bundles: dict[str, Path] = {}
    untrained = untrained_bundle(work)
    if untrained is not None:
        bundles[UNTRAINED_METHOD] = untrained
    extra = dict(args.bundle)
    bundles.update(extra)
    methods, models = procrop_methods(bundles)
    for name, file in args.preference:
        from procrop import Cropper
        from procrop.scoring.terms.preference import PreferenceTerm

        cropper = Cropper(scorer="preference", extra_terms=[PreferenceTerm(file)])
        methods[name], models[name] = top1(cropper), f"{cropper.model_name} ({file})"
    if args.quick:
        keep = {DEFAULT_METHOD, *(n for n, _ in args.preference), *extra}
        methods = {n: m for n, m in methods.items() if n in keep}
    elif not args.skip_peers:
        methods.update(peer_methods())
    t0 = time.perf_counter()
    rows = run(args.photos, files, args.seed, methods)
    meta = {"seed": args.seed, "photos": len(files), "canvases": len(rows) // len(methods),
            "seconds": time.perf_counter() - t0, "limit": args.limit, "models": models,
            "bundles": {k: str(v) for k, v in extra.items()}, "skip_peers": args.skip_peers or args.quick,
            "training_fills": list(TRAINING_FILLS),
            "untrained_note": None if untrained else NO_TORCH}
    return rows, meta


#: Sections other scripts add to RESULTS.md (``benchmarks/blind_peers.py tally --results``), kept
#: when it is rewritten: each blind check's tally, between ``<!-- blind_peers NAME -->`` markers.
KEPT_SECTIONS = re.compile(r"<!-- blind_peers (\S+) -->\n(.*?)\n<!-- /blind_peers \1 -->", re.S)


def write_results(path: Path, text: str) -> None:
    """Write ``RESULTS.md``, keeping the sections of :data:`KEPT_SECTIONS` the file held, each
    replacing a section of its name the new text may have (a full run had dropped them)."""
    from steering_report import embed

    old = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(text, encoding="utf-8")
    for m in KEPT_SECTIONS.finditer(old):
        embed(path, m.group(2), (f"<!-- blind_peers {m.group(1)} -->", f"<!-- /blind_peers {m.group(1)} -->"))


def main() -> None:
    from procrop.helptext import plain

    ap = argparse.ArgumentParser(description=plain(__doc__.splitlines()[0]))
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="the shared photo folder")
    ap.add_argument("--split", type=Path, default=ROOT / "benchmarks" / "split.json",
                    help="JSON with 'train' and 'heldout' lists")
    ap.add_argument("--limit", type=int, default=0, help="only the first N held-out photos (development)")
    ap.add_argument("--seed", type=int, default=0, help="random seed of the canvases")
    ap.add_argument("--bundle", type=bundle_arg, action="append", default=[], metavar="NAME=DIR",
                    help="also run the learned scorer of bundle folder DIR, row 'learned: NAME' (repeatable)")
    ap.add_argument("--preference", type=preference_arg, action="append", default=[], metavar="NAME=FILE",
                    help="also run the default cropper with preference model FILE (procrop prefs fit), "
                         "row 'preference: NAME' (repeatable)")
    ap.add_argument("--skip-peers", action="store_true", help="skip centre and the peers (development only)")
    ap.add_argument("--quick", action="store_true",
                    help="only the default and the --preference / --bundle rows (development; give --out and --md "
                         "elsewhere to keep the published results)")
    ap.add_argument("--render-only", action="store_true",
                    help="rewrite RESULTS.md from results/recovery.json (after cuts.py or bench_crop.py ran again)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder of recovery.json and the contact sheet")
    ap.add_argument("--md", type=Path, default=ROOT / "benchmarks" / "RESULTS.md",
                    help="the results file to write")
    args = ap.parse_args()
    if args.render_only:
        saved = json.loads((args.out / "recovery.json").read_text(encoding="utf-8"))
        write_results(args.md, results_markdown(saved["summary"], saved["meta"]))
        return
    check_fills()
    split = json.loads(args.split.read_text(encoding="utf-8"))
    files = split["heldout"][: args.limit or None]
    with tempfile.TemporaryDirectory(prefix="recovery-") as work:
        rows, meta = measure(args, files, Path(work))
    meta["heldout_sources"] = sorted(s for s, v in split["sources"].items() if v["side"] == "heldout")
    summary = summarise(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "recovery.json").write_text(json.dumps({"meta": meta, "summary": summary, "rows": rows}, indent=1)
                                            + "\n", encoding="utf-8")
    write_results(args.md, results_markdown(summary, meta))
    contact_sheet(rows, args.photos, args.seed, files, args.out / WORST_SHEET)
    print(results_markdown(summary, meta))


if __name__ == "__main__":
    main()
