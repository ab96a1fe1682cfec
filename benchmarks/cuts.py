"""Face and person cuts: how often each cropper cuts a face or a body when it did not have to.

For every photo and ratio, each method gives one box:

* ``procrop``         ``Cropper().process(path, [ratio], top_k=1)``, the best crop's box: the default
                      (the preference scorer over the learned box scorer);
* ``procrop-learned`` the same with ``Cropper(scorer="learned")``, the learned box scorer alone (the
                      default until December 2026), so the new default's cuts are measured next to it;
* ``procrop-classic`` the same with ``Cropper(scorer="classic")``, the hand-set scorer with retrieval;
* ``procrop-fast``    the same with ``Cropper(profile="fast")`` (YuNet faces, no object detector);
* ``centre``          the largest centred box of the ratio;
* ``smartcrop``       smartcrop.py ``SmartCrop().crop(image, w, h)`` with the largest w, h;
* ``vips-attention``  libvips ``smartcrop(w, h, interesting="attention")`` at the largest size
                      (the crop ``thumbnail(..., crop="attention")`` makes); the box comes from the
                      output's ``xoffset``/``yoffset`` (= -left, -top), checked by template matching;
* ``vips-entropy``    the same with ``interesting="entropy"``.

References (full-resolution image, EXIF-oriented): faces from procrop's shipped YuNet
(``YuNetFaceDetector(score_threshold=0.7, tiles=2)``), persons from the shipped YOLOX-nano (kind
``person``, score >= 0.5). Faces come from YuNet only (person boxes are not faces).

* A face (person) is **cut** when 2 % < share of its box inside the crop < 97 %.
* A case (photo x ratio) is **avoidable** when some box of the ratio keeps all faces (persons)
  whole (>= 97 % inside each); searched exhaustively on a position grid at the largest size and at
  0.9, 0.8, ..., 0.3 of it.
* A **bad person cut** (all cases with persons, avoidable or not): the crop's top or bottom edge
  crosses a person box in a joint band (share of the box height from its top: neck 0.12-0.22,
  knees 0.68-0.78, ankles 0.90-0.98), or its left or right edge crosses the middle 60 % of the
  person's width. Crop edges on the photo's own border cut nothing and are ignored.
* **Speed**: per photo, decode included, ratios 1:1, 4:5, 16:9, methods interleaved photo by
  photo (rotating order); procrop makes one ``process`` call for the three ratios, the peers one
  decode and three crops. Median per method.

    python benchmarks/cuts.py --photos /work/shared/data/bsds500_trainval [--limit N]
        [--ratios 1:1 4:5 16:9 9:16] [--methods procrop centre ...] [--out benchmarks/results]

Writes ``cuts.md``, ``cuts.json`` and ``cuts_worst.png`` (the 12 worst procrop cases: procrop red,
best peer green, faces/persons yellow) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from cuts_common import (ALL_METHODS, HI_FACE, SPEED_RATIOS, EXTS, Methods, avoidable, bad_person_cuts, is_cut,
                         load_rgb, ratio_value, shares, verify_vips_box)
from cuts_report import contact_sheet, markdown, summarise, worst_cases

# ----------------------------------------------------------------------------- run


def list_photos(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in EXTS)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from procrop.perception.faces import YuNetFaceDetector
    from procrop.perception.objects import YoloxObjectDetector

    photos = list_photos(Path(args.photos))
    if args.limit:
        photos = photos[: args.limit]
    if not photos:
        sys.exit(f"no photos under {args.photos}")
    methods = Methods(list(args.methods))
    names = methods.names
    face_det = YuNetFaceDetector(score_threshold=0.7, tiles=2)
    obj_det = YoloxObjectDetector(score_threshold=0.5)

    verification = verify_vips_box(str(photos[0]), ratio_value(args.ratios[0]))
    print(f"vips box check on {photos[0].name}: {verification}", flush=True)

    # warm-up (model loads, first-call costs), not timed
    for n in names:
        methods.speed(n, str(photos[0]), SPEED_RATIOS)

    records: list[dict[str, Any]] = []
    times: dict[str, list[float]] = {n: [] for n in names}
    errors: list[str] = []
    t_start = time.perf_counter()
    stopped_early = False
    for i, photo in enumerate(photos):
        if time.perf_counter() - t_start > args.max_seconds:
            stopped_early = True
            print(f"stopping after {i} photos: --max-seconds {args.max_seconds} reached", flush=True)
            break
        path = str(photo)
        rgb = load_rgb(path)
        H, W = rgb.shape[:2]
        faces = [d for d in face_det.detect(rgb) if d.score >= 0.7]
        persons = [d for d in obj_det.detect(rgb) if d.kind == "person" and d.score >= 0.5]
        fb = np.array([d.box for d in faces], dtype=np.float64).reshape(-1, 4)
        pb = np.array([d.box for d in persons], dtype=np.float64).reshape(-1, 4)

        # speed, interleaved with a rotating order
        k = i % len(names)
        for n in names[k:] + names[:k]:
            t0 = time.perf_counter()
            try:
                methods.speed(n, path, SPEED_RATIOS)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{photo.name} speed {n}: {exc!r}")
                continue
            times[n].append(time.perf_counter() - t0)

        rec: dict[str, Any] = {
            "file": str(photo.relative_to(args.photos)),
            "size": [W, H],
            "faces": [[round(v, 1) for v in d.box] + [round(d.score, 3)] for d in faces],
            "persons": [[round(v, 1) for v in d.box] + [round(d.score, 3)] for d in persons],
            "ratios": {},
        }
        for label in args.ratios:
            r = ratio_value(label)
            fav = avoidable(fb, W, H, r)
            hi = np.array([d.score >= HI_FACE for d in faces], dtype=bool)
            fav_hi = avoidable(fb[hi], W, H, r) if hi.any() else None
            pav = avoidable(pb, W, H, r)
            entry: dict[str, Any] = {
                "face_avoidable": fav is not None,
                "face_avoidable_hi": fav_hi is not None,
                "person_avoidable": pav is not None,
                "witness_face": fav,
                "witness_person": pav,
                "methods": {},
            }
            for n in names:
                try:
                    box = methods.box(n, path, label, W, H)
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"{photo.name} {label} {n}: {exc!r}")
                    continue
                fs, ps = shares(fb, box), shares(pb, box)
                fc, pc = is_cut(fs), is_cut(ps)
                cut_fracs = [float(b[2] * b[3] / (box[2] * box[3])) for b in np.vstack([fb[fc], pb[pc]])]
                entry["methods"][n] = {
                    "box": [round(v, 1) for v in box],
                    "face_shares": [round(float(s), 3) for s in fs],
                    "person_shares": [round(float(s), 3) for s in ps],
                    "faces_cut": int(fc.sum()),
                    "persons_cut": int(pc.sum()),
                    "bad_person_cuts": bad_person_cuts(pb, box, W, H),
                    "max_cut_frac": round(max(cut_fracs, default=0.0), 3),
                }
            rec["ratios"][label] = entry
        records.append(rec)
        if (i + 1) % 25 == 0:
            el = time.perf_counter() - t_start
            nf = sum(1 for r_ in records if r_["faces"])
            npn = sum(1 for r_ in records if r_["persons"])
            print(
                f"[{i + 1}/{len(photos)}] {el:.0f}s, photos with faces {nf}, with persons {npn}", flush=True
            )

    return {
        "records": records,
        "times": times,
        "errors": errors,
        "names": names,
        "notes": methods.notes,
        "vips_box_check": verification,
        "stopped_early": stopped_early,
        "elapsed_s": time.perf_counter() - t_start,
        "n_listed": len(photos),
    }


def main() -> None:
    from procrop.helptext import plain

    ap = argparse.ArgumentParser(description=plain(__doc__.split("\n")[0]))
    ap.add_argument("--photos", default="/work/shared/data/bsds500_trainval",
                    help="folder of BSDS500 people photos")
    ap.add_argument("--limit", type=int, default=0, help="only the first N photos (0: all)")
    ap.add_argument("--ratios", nargs="+", default=["1:1", "4:5", "16:9", "9:16"],
                    help="ratios every photo is cropped at")
    ap.add_argument("--methods", nargs="+", default=list(ALL_METHODS), choices=ALL_METHODS,
                    help="the methods to run")
    ap.add_argument("--out", default="benchmarks/results", help="folder of the results")
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=1080.0,
        help="stop taking new photos after this long (keeps the run bounded)",
    )
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    try:
        git = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            check=False,
        ).stdout.strip()
        git = f"{git}{' (modified tree)' if dirty else ''}"
    except OSError:
        git = "unknown"
    import cv2
    import pyvips

    meta = {
        "command": "python " + " ".join([sys.argv[0]] + sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "git": git,
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs, Python {platform.python_version()}",
        "versions": {"libvips": f"{pyvips.version(0)}.{pyvips.version(1)}", "opencv": cv2.__version__},
    }
    meta["load_start"] = round(os.getloadavg()[0], 2)
    res = run(args)
    meta["load_end"] = round(os.getloadavg()[0], 2)
    summ = summarise(res, list(args.ratios))
    worst = worst_cases(res, list(args.ratios)) if "procrop" in res["names"] else []
    if worst:
        contact_sheet(worst, args.photos, out / "cuts_worst.png")
    (out / "cuts.md").write_text(markdown(res, summ, args, meta, worst))
    payload = {
        "meta": meta,
        "args": vars(args),
        "summary": summ,
        "worst": worst,
        **{k: v for k, v in res.items() if k != "times"},
        "times_ms": {k: [round(1000 * t, 2) for t in v] for k, v in res["times"].items()},
    }
    (out / "cuts.json").write_text(json.dumps(payload, indent=1))
    print((out / "cuts.md").read_text())


if __name__ == "__main__":
    main()
