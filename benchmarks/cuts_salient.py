"""Salient-object cuts: how often each cropper slices a salient object it could have kept whole.

On the held-out photos of ``benchmarks/split.json`` (whole sources the head never trained on), at
1:1, 4:5, 16:9 and 9:16, each method gives one box (as in :mod:`cuts`):

* ``procrop``          ``Cropper()`` (learned default; saliency and subjects from the salient-object head);
* ``procrop-cues``     the same with the head switched off (``analyzer.salient_head = None``): the
                       hand-made saliency cues, i.e. the default before the head;
* ``procrop-fast``     ``Cropper(profile="fast")`` (YuNet faces, no object detector; the head on the
                       learned scorer's backbone as in the default);
* ``procrop-classic``  ``Cropper(scorer="classic")`` (hand cues: no backbone runs on that path);
* ``centre``, ``smartcrop``, ``vips-attention`` as in :mod:`cuts`.

References: **salient objects** are the connected regions of the teacher's mask (U²-Netp, the
same fused map the head was distilled from, :class:`procrop.training.scorer.saliency_data.Teacher`, read
from the training command's held-out cache when there) at >= 0.5, each at least 0.5 % of the frame.
A case is one object in one photo at one ratio; it is **avoidable** when some box of the ratio
(positions every 1 % of the short side, the largest size and 0.9 ... 0.3 of it) keeps it whole
(>= 90 % of its mask inside) and cuts no other object. The method **cuts** it when 10-90 % of
its mask lies inside its box. The **main** object is the photo's largest. Faces: YuNet (score >=
0.7, tiled) as in :mod:`cuts`, cut at 2-97 % inside, avoidable when some box keeps all whole.

    python benchmarks/cuts_salient.py [--photos ../shared/data/photos] [--limit N] [--out benchmarks/results]
        [--head another_salient_head.onnx]

Writes ``cuts_salient.md``, ``cuts_salient.json`` and ``cuts_salient_worst.png`` (the 12 worst
procrop cuts: mask tinted, procrop red, the best peer green).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cuts_common import SCALES, Methods, avoidable, is_cut, largest, load_rgb, ratio_value, shares
from procrop.files import atomic_write
from procrop.scoring.protection import mask_inside_fractions
from procrop.training.scorer.saliency_data import LOAD_SIDE, Teacher, photo_key

RATIOS = ["1:1", "4:5", "16:9", "9:16"]
METHODS = ["procrop", "procrop-cues", "procrop-fast", "procrop-classic", "centre", "smartcrop", "vips-attention"]
PEERS = ["vips-attention", "smartcrop", "centre"]
KEEP, LEAVE = 0.9, 0.1
MIN_AREA = 0.005
MASK_SIDE = 160
CACHES = {"heldout": Path("data/learned/saliency/cache/heldout"), "train": Path("data/learned/saliency/cache/train-v6")}
#: This benchmark's own teacher masks (one ``.npz`` per photo; ``data/learned`` is not committed).
TEACHER_CACHE = Path("data/learned/saliency/cache/teacher")


def use_head(path: Path) -> None:
    """Make every ``Cropper()`` built from now on run the salient head in ``path`` (benchmark-only)."""
    import procrop.perception.analyzer as analyzer
    import procrop.perception.salient as salient

    if not path.is_file():
        sys.exit(f"error: {path}: no such salient-head file")
    salient.HEAD_ONNX = analyzer.HEAD_ONNX = path.resolve()


def objects(teacher: np.ndarray, W: int, H: int) -> np.ndarray:
    """``(K, mh, mw)`` bool masks of the salient objects over the photo (long side ``MASK_SIDE``),
    largest first."""
    k = MASK_SIDE / max(W, H)
    mw, mh = max(8, round(W * k)), max(8, round(H * k))
    m = cv2.resize(teacher, (mw, mh), interpolation=cv2.INTER_LINEAR) >= 0.5
    n, labels = cv2.connectedComponents(m.astype(np.uint8), connectivity=8)
    found = [labels == i for i in range(1, n)]
    found = sorted((f for f in found if f.mean() >= MIN_AREA), key=lambda f: -int(f.sum()))
    return np.asarray(found, bool).reshape(-1, mh, mw)


def grid(W: int, H: int, r: float) -> np.ndarray:
    """Boxes of ratio ``r``: positions every 1 % of the short side at the largest size and 0.9 ... 0.3 of it."""
    w0, h0 = largest(W, H, r)
    step = max(1, round(min(W, H) / 100))
    out = []
    for s in SCALES:
        w, h = max(1, round(w0 * s)), max(1, round(h0 * s))
        xs = np.unique(np.append(np.arange(0, W - w + 1, step), W - w))
        ys = np.unique(np.append(np.arange(0, H - h + 1, step), H - h))
        gx, gy = np.meshgrid(xs, ys)
        out.append(np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, w), np.full(gx.size, h)], axis=1))
    return np.concatenate(out).astype(np.float64)


def teacher_mask(path: Path, name: str, teacher: list[Teacher]) -> np.ndarray:
    """The teacher's ``(320, 320)`` map of a photo squashed square: from this benchmark's own cache
    (:data:`TEACHER_CACHE`, exact values, written on first use, so a second run takes a minute
    instead of five), else from the head's training cache (rounded to 1/255), else computed."""
    own = TEACHER_CACHE / f"{photo_key(name)}.npz"
    if own.exists():
        with np.load(own) as z:
            return z["mask"].astype(np.float32)
    cached = next((c / f"{photo_key(name)}.npz" for c in CACHES.values() if (c / f"{photo_key(name)}.npz").exists()),
                  None)
    if cached is not None:
        with np.load(cached) as z:
            return z["teacher"].astype(np.float32) / 255.0
    from procrop.imaging.load import load_image

    if not teacher:
        teacher.append(Teacher())
    mask = teacher[0](load_image(path, LOAD_SIDE).pixels)
    with atomic_write(own) as fh:
        np.savez_compressed(fh, mask=mask.astype(np.float32))
    return mask


def boxes_for(methods: Methods, name: str, path: str, W: int, H: int) -> dict[str, tuple[float, ...]]:
    """One box per ratio: procrop's methods in one ``process`` call for all ratios."""
    if name in methods.croppers:
        res = methods.croppers[name].process(path, RATIOS, top_k=1)
        return {lb: tuple(float(v) for v in res.for_ratio(lb)[0].box) for lb in RATIOS}
    return {lb: methods.box(name, path, lb, W, H) for lb in RATIOS}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from procrop.perception.faces import YuNetFaceDetector

    split = json.loads(Path(args.split).read_text(encoding="utf-8"))[args.part]
    if args.part == "train":  # tuning: only the training photos whose teacher masks the head's training cached
        split = [n for n in split if (CACHES["train"] / f"{photo_key(n)}.npz").exists()]
    names = split[: args.limit] if args.limit else split
    methods = Methods([m for m in METHODS if m != "procrop-cues"])
    if "procrop-cues" in METHODS:
        from procrop import Cropper

        cues = Cropper()
        cues.analyzer.salient_head = None
        methods.croppers["procrop-cues"] = cues
        methods.notes["procrop-cues"] = "Cropper(), analyzer.salient_head = None (hand cues)"
    face_det = YuNetFaceDetector(score_threshold=0.7, tiles=2)
    teacher: list[Teacher] = []
    records, t0 = [], time.perf_counter()
    for i, name in enumerate(names):
        path = Path(args.photos) / name
        rgb = load_rgb(str(path))
        H, W = rgb.shape[:2]
        masks = objects(teacher_mask(path, name, teacher), W, H)
        faces = np.array([d.box for d in face_det.detect(rgb) if d.score >= 0.7], np.float64).reshape(-1, 4)
        rec: dict[str, Any] = {"file": name, "size": [W, H], "objects": int(len(masks)),
                               "object_area": [round(float(m.mean()), 4) for m in masks],
                               "faces": faces.round(1).tolist(), "ratios": {}}
        got = {m: boxes_for(methods, m, str(path), W, H) for m in METHODS}
        for lb in RATIOS:
            g = grid(W, H, ratio_value(lb))
            inside = mask_inside_fractions(g, masks, W, H)
            clean = ~((inside > LEAVE) & (inside < KEEP)).any(axis=0)
            entry: dict[str, Any] = {
                "avoidable": [bool((clean & (inside[k] >= KEEP)).any()) for k in range(len(masks))],
                "face_avoidable": avoidable(faces, W, H, ratio_value(lb)) is not None, "methods": {}}
            for m in METHODS:
                box = got[m][lb]
                kept = mask_inside_fractions(np.asarray([box]), masks, W, H)[:, 0]
                entry["methods"][m] = {"box": [round(v, 1) for v in box], "kept": kept.round(3).tolist(),
                                       "faces_cut": int(is_cut(shares(faces, box)).sum())}
            rec["ratios"][lb] = entry
        records.append(rec)
        print(f"[{i + 1}/{len(names)}] {name}: {len(masks)} objects, {time.perf_counter() - t0:.0f} s",
              file=sys.stderr, flush=True)
    return {"records": records, "notes": methods.notes}


def summarise(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per method and ratio (and ``all``): avoidable object cases, cuts; main-object cuts; face cuts."""
    out: dict[str, dict[str, Any]] = {}
    for m in METHODS:
        out[m] = {}
        for lb in RATIOS + ["all"]:
            labs = RATIOS if lb == "all" else [lb]
            n = cut = main_n = main_cut = fn = fcut = 0
            for rec in records:
                for r in labs:
                    e = rec["ratios"][r]
                    kept = e["methods"][m]["kept"]
                    for k, ok in enumerate(e["avoidable"]):
                        if ok:
                            c = LEAVE < kept[k] < KEEP
                            n, cut = n + 1, cut + c
                            if k == 0:
                                main_n, main_cut = main_n + 1, main_cut + c
                    if e["face_avoidable"] and rec["faces"]:
                        fn, fcut = fn + 1, fcut + (e["methods"][m]["faces_cut"] > 0)
            out[m][lb] = {"avoidable": n, "cut": cut, "main_avoidable": main_n, "main_cut": main_cut,
                          "face_avoidable": fn, "face_cut": fcut}
    return out


def worst(records: list[dict[str, Any]], k: int = 12) -> list[dict[str, Any]]:
    """The procrop cases cutting the most mask (avoidable objects only), with the best peer's box
    (procrop's default, or the first procrop method run without it; peers among those run)."""
    run = next((list(e["methods"]) for rec in records for e in rec["ratios"].values()), [])  # every case runs all
    ours = next((m for m in sorted(run, key=lambda m: m != "procrop") if m.startswith("procrop")), None)
    if ours is None:
        return []
    peers = [p for p in PEERS if p in run]
    cases = []
    for rec in records:
        for lb, e in rec["ratios"].items():
            kept = e["methods"][ours]["kept"]
            bad = [j for j, ok in enumerate(e["avoidable"]) if ok and LEAVE < kept[j] < KEEP]
            if not bad:
                continue
            lost = sum(rec["object_area"][j] * (1 - kept[j]) for j in bad)
            peer = min(peers, key=lambda p: sum(LEAVE < e["methods"][p]["kept"][j] < KEEP for j in bad), default=None)
            cases.append({"file": rec["file"], "ratio": lb, "objects_cut": len(bad), "severity": round(lost, 4),
                          "procrop_box": e["methods"][ours]["box"], "peer": peer,
                          "peer_box": e["methods"][peer]["box"] if peer else None})
    return sorted(cases, key=lambda c: -c["severity"])[:k]


def contact_sheet(cases: list[dict[str, Any]], photos: str, out: Path) -> None:
    """The worst cases, 4 a row: the teacher's objects tinted, procrop red, the best peer green."""
    from PIL import Image, ImageDraw, ImageFont

    tile, label_h, cols = 320, 20, 4
    rows = max(1, (len(cases) + cols - 1) // cols)
    sheet = Image.new("RGB", (cols * tile, rows * (tile + label_h)), (40, 40, 40))
    font = ImageFont.load_default()
    for i, c in enumerate(cases):
        path = Path(photos) / c["file"]
        rgb = load_rgb(str(path))
        H, W = rgb.shape[:2]
        s = tile / max(W, H)
        small = cv2.resize(rgb, (max(1, round(W * s)), max(1, round(H * s))), interpolation=cv2.INTER_AREA)
        masks = objects(teacher_mask(path, c["file"], []), W, H)
        if len(masks):
            tint = cv2.resize(masks.any(axis=0).astype(np.uint8), small.shape[1::-1], interpolation=cv2.INTER_NEAREST)
            small[tint > 0] = (0.6 * small[tint > 0] + 0.4 * np.array([0, 160, 255])).astype(np.uint8)
        im = Image.fromarray(small)
        d = ImageDraw.Draw(im)
        for b, colour, width in ((c["peer_box"], (0, 220, 0), 3), (c["procrop_box"], (255, 0, 0), 2)):
            if b is None:
                continue
            x, y, w, h = (v * s for v in b)
            d.rectangle([x, y, x + w - 1, y + h - 1], outline=colour, width=width)
        x0, y0 = (i % cols) * tile, (i // cols) * (tile + label_h)
        sheet.paste(im, (x0 + (tile - im.width) // 2, y0 + (tile - im.height) // 2))
        ImageDraw.Draw(sheet).text((x0 + 4, y0 + tile + 4), f"{Path(c['file']).name} {c['ratio']} green={c['peer']}",
                                   fill=(255, 255, 255), font=font)
    sheet.save(out)


def pct(a: int, n: int) -> str:
    return f"{a} of {n} ({100 * a / n:.1f} %)" if n else "-"


def markdown(res: dict[str, Any], summ: dict[str, Any], meta: dict[str, Any], cases: list[dict[str, Any]]) -> str:
    recs = res["records"]
    lines = [
        "# Salient-object cuts", "",
        f"`{meta['command']}` ({meta['date']}, git {meta['git']}): {len(recs)} held-out photos "
        f"({sum(r['objects'] > 0 for r in recs)} with salient objects, {sum(r['objects'] for r in recs)} objects, "
        f"{sum(bool(r['faces']) for r in recs)} with faces), ratios {', '.join(RATIOS)}. Objects: U²-Netp teacher "
        f"mask >= 0.5, connected regions >= {MIN_AREA:.1%} of the frame. Avoidable: some box of the ratio keeps "
        f"the object whole (>= {KEEP:.0%}) and cuts no other. Cut: {LEAVE:.0%}-{KEEP:.0%} of its mask inside.", "",
        "| method | salient objects cut (avoidable) | main object cut | faces cut (avoidable) |",
        "|---|---:|---:|---:|",
    ]
    for m in METHODS:
        a = summ[m]["all"]
        lines.append(f"| {m} | {pct(a['cut'], a['avoidable'])} | {pct(a['main_cut'], a['main_avoidable'])} | "
                     f"{pct(a['face_cut'], a['face_avoidable'])} |")
    lines += ["", "Per ratio, salient objects cut:", "", "| method | " + " | ".join(RATIOS) + " |",
              "|---|" + "---:|" * len(RATIOS)]
    for m in METHODS:
        lines.append(f"| {m} | " + " | ".join(pct(summ[m][lb]["cut"], summ[m][lb]["avoidable"]) for lb in RATIOS) + " |")
    lines += ["", "Methods: " + "; ".join(f"`{k}`: {v}" for k, v in res["notes"].items()) + ".", "",
              "Worst procrop cases (`cuts_salient_worst.png`: objects tinted, procrop red, best peer green):", ""]
    lines += [f"- {c['file']} {c['ratio']}: {c['objects_cut']} object(s) cut, best peer {c['peer']}" for c in cases]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", default="../shared/data/photos", help="folder the split's names are relative to")
    ap.add_argument("--split", default=str(Path(__file__).resolve().parent / "split.json"),
                    help="the split file (benchmarks/split.json)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N photos (trials; 0: all)")
    ap.add_argument("--out", default="benchmarks/results", help="folder for cuts_salient.md, .json and the worst-case sheet")
    ap.add_argument("--part", choices=("heldout", "train"), default="heldout",
                    help="train: the training photos the head's command cached (for tuning, never reported)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, help="the croppers to measure")
    ap.add_argument("--threshold", type=float, help="the head's mask threshold (tuning; default: the shipped one)")
    ap.add_argument("--head", type=Path, help="another salient-head ONNX file (default: the shipped one)")
    args = ap.parse_args()
    if args.head is not None:
        use_head(args.head)
    METHODS[:] = [m for m in METHODS if m in args.methods]
    PEERS[:] = [p for p in PEERS if p in METHODS]
    if args.threshold is not None:
        import procrop.perception.salient as salient

        salient.THRESHOLD = args.threshold
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import subprocess

    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    meta = {"command": "python " + " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "git": git or "unknown"}
    res = run(args)
    summ = summarise(res["records"])
    cases = worst(res["records"])
    if cases:
        contact_sheet(cases, args.photos, out / "cuts_salient_worst.png")
    (out / "cuts_salient.md").write_text(markdown(res, summ, meta, cases), encoding="utf-8")
    (out / "cuts_salient.json").write_text(json.dumps({"meta": meta, "summary": summ, "worst": cases, **res}, indent=1),
                                           encoding="utf-8")
    print((out / "cuts_salient.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
