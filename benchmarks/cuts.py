"""Face and person cuts: how often each cropper cuts a face or a body when it did not have to.

For every photo and ratio, each method gives one box:

* ``procrop``         ``Cropper().process(path, [ratio], top_k=1)``, the best crop's box: the learned
                      default (the learned box scorer);
* ``procrop-classic`` the same with ``Cropper(scorer="classic")``, the hand-set scorer with retrieval
                      (the former default), so the new default's cuts are measured next to the old;
* ``procrop-fast``    the same with ``Cropper(profile="fast")`` (learned scorer, classical perception);
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
import statistics
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from procrop.evaluation.peers import vips_smartcrop_box
from procrop.scoring.protection import inside_fractions

CUT_LO, CUT_HI = 0.02, 0.97
HI_FACE = 0.9  # second, higher-precision face set (YuNet score)
SCALES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
BANDS = {"neck": (0.12, 0.22), "knees": (0.68, 0.78), "ankles": (0.90, 0.98)}
SPEED_RATIOS = ("1:1", "4:5", "16:9")
CROPPERS: dict[str, dict[str, str]] = {  # procrop's methods -> Cropper keyword arguments
    "procrop": {},
    "procrop-classic": {"scorer": "classic"},
    "procrop-fast": {"profile": "fast"},
}
ALL_METHODS = (*CROPPERS, "centre", "smartcrop", "vips-attention", "vips-entropy")
PEERS = ("vips-attention", "smartcrop", "vips-entropy", "centre")  # tie-break order for "best peer"
EXTS = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"}

Box = tuple[float, float, float, float]


# ----------------------------------------------------------------------------- geometry


def ratio_value(label: str) -> float:
    a, b = label.replace("/", ":").split(":")
    return float(Fraction(a) / Fraction(b))


def largest(W: int, H: int, r: float) -> tuple[int, int]:
    """Largest (w, h) of ratio r inside W x H."""
    if W / H >= r:
        h = H
        w = min(W, max(1, round(H * r)))
    else:
        w = W
        h = min(H, max(1, round(W / r)))
    return w, h


def shares(boxes: np.ndarray, crop: Box) -> np.ndarray:
    """Share of each box (n, 4: x, y, w, h) inside crop."""
    if len(boxes) == 0:
        return np.zeros(0)
    return inside_fractions(np.asarray([crop], dtype=np.float64), list(boxes))[:, 0]


def is_cut(s: np.ndarray) -> np.ndarray:
    return (s > CUT_LO) & (s < CUT_HI)


def _positions(total: int, size: int, step: int) -> np.ndarray:
    pos = np.arange(0, total - size + 1, step, dtype=np.float64)
    if len(pos) == 0 or pos[-1] != total - size:
        pos = np.append(pos, total - size)
    return pos


def avoidable(boxes: np.ndarray, W: int, H: int, r: float) -> Box | None:
    """A box of ratio r keeping every box whole (>= 97 % inside), or None: exhaustive on a grid of
    positions (step ~ short side / 200, at least 1 px) at the largest size and 0.9 ... 0.3 of it."""
    if len(boxes) == 0:
        return None
    w0, h0 = largest(W, H, r)
    step = max(1, round(min(W, H) / 200))
    need = CUT_HI * np.maximum(boxes[:, 2] * boxes[:, 3], 1e-9)
    bx0, by0 = boxes[:, 0], boxes[:, 1]
    bx1, by1 = bx0 + boxes[:, 2], by0 + boxes[:, 3]
    for s in SCALES:
        w, h = max(1, round(w0 * s)), max(1, round(h0 * s))
        xs, ys = _positions(W, w, step), _positions(H, h, step)
        ox = np.clip(np.minimum(bx1[None], xs[:, None] + w) - np.maximum(bx0[None], xs[:, None]), 0, None)
        oy = np.clip(np.minimum(by1[None], ys[:, None] + h) - np.maximum(by0[None], ys[:, None]), 0, None)
        # prune: an x (y) position is useless if some box is not covered enough along x alone
        okx = np.all(ox * boxes[None, :, 3] >= need[None], axis=1)
        oky = np.all(oy * boxes[None, :, 2] >= need[None], axis=1)
        if not okx.any() or not oky.any():
            continue
        ox, oy, xs2, ys2 = ox[okx], oy[oky], xs[okx], ys[oky]
        good = np.all(ox[:, None, :] * oy[None, :, :] >= need[None, None, :], axis=2)
        if good.any():
            i, j = np.argwhere(good)[0]
            return (float(xs2[i]), float(ys2[j]), float(w), float(h))
    return None


def bad_person_cuts(persons: np.ndarray, crop: Box, W: int, H: int) -> list[str]:
    """Joint-band / mid-body crossings of the crop's edges (edges on the photo border ignored)."""
    out: list[str] = []
    x, y, w, h = crop
    edges_y = [e for e in (y, y + h) if 1 <= e <= H - 1]
    edges_x = [e for e in (x, x + w) if 1 <= e <= W - 1]
    for px, py, pw, ph in persons:
        if pw <= 0 or ph <= 0:
            continue
        if x < px + pw and x + w > px:  # top/bottom edges span the person horizontally
            for e in edges_y:
                t = (e - py) / ph
                for name, (lo, hi) in BANDS.items():
                    if lo <= t <= hi:
                        out.append(name)
        if y < py + ph and y + h > py:
            for e in edges_x:
                if px + 0.2 * pw <= e <= px + 0.8 * pw:
                    out.append("side")
    return out


# ----------------------------------------------------------------------------- loading


def load_rgb(path: str) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def verify_vips_box(path: str, ratio: float) -> dict[str, Any]:
    """Check on one photo that the box read from xoffset/yoffset is exactly where the crop's pixels
    are (template matching the crop against the whole image)."""
    import cv2
    import pyvips

    im = pyvips.Image.new_from_file(path).autorot()
    a = np.ndarray(buffer=im.write_to_memory(), dtype=np.uint8, shape=(im.height, im.width, im.bands))
    w, h = largest(im.width, im.height, ratio)
    res = {}
    for mode in ("attention", "entropy"):
        out = im.smartcrop(w, h, interesting=mode)
        c = np.ndarray(buffer=out.write_to_memory(), dtype=np.uint8, shape=(out.height, out.width, out.bands))
        bx = (float(-out.xoffset), float(-out.yoffset), float(out.width), float(out.height))
        r = cv2.matchTemplate(a.astype(np.float32), c.astype(np.float32), cv2.TM_SQDIFF)
        mn, _, loc, _ = cv2.minMaxLoc(r)
        x, y = int(bx[0]), int(bx[1])
        exact = bool(np.array_equal(a[y : y + out.height, x : x + out.width], c))
        res[mode] = {"box": bx, "match_at": loc, "match_sqdiff": float(mn), "pixels_equal": exact}
    return res


# ----------------------------------------------------------------------------- methods


def cropper_note(kwargs: dict[str, str], model: str | None) -> str:
    """How a procrop method was built, e.g. ``Cropper(profile='fast'), learned bundle `tiny```."""
    call = f"Cropper({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    return f"{call}, learned bundle `{model}`" if model else f"{call}, classic scorer"


class Methods:
    """Per-method box functions (one ratio) and speed functions (decode + several ratios)."""

    def __init__(self, names: list[str]) -> None:
        import pyvips

        pyvips.cache_set_max(0)  # no operation cache: every call decodes and analyses again
        self.pyvips = pyvips
        self.notes: dict[str, str] = {}
        self.names: list[str] = []
        self.croppers: dict[str, Any] = {}
        from procrop import Cropper

        for n in names:
            if n in CROPPERS:
                kwargs = CROPPERS[n]
                self.croppers[n] = Cropper(**kwargs)
                self.notes[n] = cropper_note(kwargs, self.croppers[n].model_name)
            elif n == "smartcrop":
                import smartcrop

                self.sc = smartcrop.SmartCrop()
            self.names.append(n)

    # --- boxes for one ratio
    def box(self, name: str, path: str, label: str, W: int, H: int) -> Box:
        r = ratio_value(label)
        if name in self.croppers:
            res = self.croppers[name].process(path, [label], top_k=1)
            best = [c for c in res.crops if c.rank == 1] or res.crops
            return tuple(float(v) for v in best[0].box)  # type: ignore[return-value]
        w, h = largest(W, H, r)
        if name == "centre":
            return (float((W - w) // 2), float((H - h) // 2), float(w), float(h))
        if name == "smartcrop":
            return self._smartcrop(self._pil(path), [(w, h)])[0]
        if name.startswith("vips-"):
            im = self.pyvips.Image.new_from_file(path).autorot()
            return tuple(float(v) for v in vips_smartcrop_box(im, w, h, name[5:]))  # type: ignore[return-value]
        raise ValueError(name)

    def _pil(self, path: str) -> Any:
        from PIL import Image, ImageOps

        with Image.open(path) as im:
            return ImageOps.exif_transpose(im).convert("RGB")

    def _smartcrop(self, pil: Any, sizes: list[tuple[int, int]]) -> list[Box]:
        out = []
        for w, h in sizes:
            t = self.sc.crop(pil, w, h)["top_crop"]
            out.append((float(t["x"]), float(t["y"]), float(t["width"]), float(t["height"])))
        return out

    # --- speed: decode included, several ratios
    def speed(self, name: str, path: str, labels: tuple[str, ...]) -> None:
        if name in self.croppers:
            self.croppers[name].process(path, list(labels), top_k=1)
            return
        if name == "centre":
            from PIL import Image

            with Image.open(path) as im:  # header only: the centre needs no pixels
                W, H = im.size
                if im.getexif().get(274, 1) in (5, 6, 7, 8):
                    W, H = H, W
            for lb in labels:
                largest(W, H, ratio_value(lb))
            return
        if name == "smartcrop":
            pil = self._pil(path)
            W, H = pil.size
            self._smartcrop(pil, [largest(W, H, ratio_value(lb)) for lb in labels])
            return
        if name.startswith("vips-"):
            im = self.pyvips.Image.new_from_file(path).autorot()
            for lb in labels:
                w, h = largest(im.width, im.height, ratio_value(lb))
                vips_smartcrop_box(im, w, h, name[5:])
            return
        raise ValueError(name)


# ----------------------------------------------------------------------------- run


def list_photos(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in EXTS)


def severity(case: dict[str, Any]) -> float:
    return 10 * case["faces_cut"] + case["persons_cut"] + case["max_cut_frac"]


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


# ----------------------------------------------------------------------------- summary


def summarise(res: dict[str, Any], ratios: list[str]) -> dict[str, Any]:
    names, records = res["names"], res["records"]
    faces: dict[str, dict[str, dict[str, Any]]] = {}
    persons: dict[str, dict[str, dict[str, Any]]] = {}
    for n in names:
        faces[n], persons[n] = {}, {}
        for label in ratios + ["all"]:
            labs = ratios if label == "all" else [label]
            f = {"photos": 0, "avoidable": 0, "cut_cases": 0, "faces_cut": 0, "unavoidable_cut_cases": 0}
            p = {
                "photos": 0,
                "avoidable": 0,
                "cut_cases": 0,
                "persons_cut": 0,
                "bad_cases": 0,
                "bad_neck": 0,
                "bad_knees": 0,
                "bad_ankles": 0,
                "bad_side": 0,
            }
            for rec in records:
                for lb in labs:
                    e = rec["ratios"][lb]
                    m = e["methods"].get(n)
                    if m is None:
                        continue
                    if rec["faces"]:
                        f["photos"] += 1
                        if e["face_avoidable"]:
                            f["avoidable"] += 1
                            f["cut_cases"] += m["faces_cut"] > 0
                            f["faces_cut"] += m["faces_cut"]
                        else:
                            f["unavoidable_cut_cases"] += m["faces_cut"] > 0
                    if rec["persons"]:
                        p["photos"] += 1
                        if e["person_avoidable"]:
                            p["avoidable"] += 1
                            p["cut_cases"] += m["persons_cut"] > 0
                            p["persons_cut"] += m["persons_cut"]
                        bad = m["bad_person_cuts"]
                        p["bad_cases"] += bool(bad)
                        for kind in ("neck", "knees", "ankles", "side"):
                            p[f"bad_{kind}"] += bad.count(kind)
            f["rate"] = f["cut_cases"] / f["avoidable"] if f["avoidable"] else None
            p["rate"] = p["cut_cases"] / p["avoidable"] if p["avoidable"] else None
            p["bad_rate"] = p["bad_cases"] / p["photos"] if p["photos"] else None
            faces[n][label], persons[n][label] = f, p
    faces_hi: dict[str, dict[str, Any]] = {}
    for n in names:
        h = {"photos": 0, "avoidable": 0, "cut_cases": 0}
        for rec in records:
            scores = [f[4] for f in rec["faces"]]
            if not any(sc >= HI_FACE for sc in scores):
                continue
            for lb in ratios:
                e = rec["ratios"][lb]
                m = e["methods"].get(n)
                if m is None:
                    continue
                h["photos"] += 1
                if e["face_avoidable_hi"]:
                    h["avoidable"] += 1
                    h["cut_cases"] += any(
                        sc >= HI_FACE and CUT_LO < sh < CUT_HI
                        for sc, sh in zip(scores, m["face_shares"], strict=True)
                    )
        h["rate"] = h["cut_cases"] / h["avoidable"] if h["avoidable"] else None
        faces_hi[n] = h
    speed = {}
    for n in names:
        ts = res["times"][n]
        if ts:
            q = sorted(ts)
            speed[n] = {
                "n": len(ts),
                "median_ms": 1000 * statistics.median(ts),
                "p90_ms": 1000 * q[min(len(q) - 1, int(0.9 * len(q)))],
                "mean_ms": 1000 * statistics.fmean(ts),
            }
    ratio = None
    if "procrop" in speed and "vips-attention" in speed:
        ratio = speed["procrop"]["median_ms"] / speed["vips-attention"]["median_ms"]
    return {
        "faces": faces,
        "faces_hi": faces_hi,
        "persons": persons,
        "speed": speed,
        "procrop_over_vips_attention": ratio,
    }


def worst_cases(res: dict[str, Any], ratios: list[str], k: int = 12) -> list[dict[str, Any]]:
    cases = []
    for rec in res["records"]:
        for lb in ratios:
            e = rec["ratios"][lb]
            m = e["methods"].get("procrop")
            if m is None:
                continue
            fcut = m["faces_cut"] if e["face_avoidable"] else 0
            pcut = m["persons_cut"] if e["person_avoidable"] else 0
            if fcut == 0 and pcut == 0:
                continue
            peers = [p for p in PEERS if p in e["methods"]]
            best = None
            if peers:
                best = min(
                    peers,
                    key=lambda p: (
                        e["methods"][p]["faces_cut"],
                        e["methods"][p]["persons_cut"],
                        len(e["methods"][p]["bad_person_cuts"]),
                        PEERS.index(p),
                    ),
                )
            cases.append(
                {
                    "file": rec["file"],
                    "ratio": lb,
                    "faces_cut": fcut,
                    "persons_cut": pcut,
                    "max_cut_frac": m["max_cut_frac"],
                    "procrop_box": m["box"],
                    "peer": best,
                    "peer_box": e["methods"][best]["box"] if best else None,
                    "peer_faces_cut": e["methods"][best]["faces_cut"] if best else None,
                    "peer_persons_cut": e["methods"][best]["persons_cut"] if best else None,
                    "faces": rec["faces"],
                    "persons": rec["persons"],
                    "cut_face_scores": [
                        f[4]
                        for f, sh in zip(rec["faces"], m["face_shares"], strict=True)
                        if CUT_LO < sh < CUT_HI
                    ]
                    if fcut
                    else [],
                }
            )
    cases.sort(key=lambda c: -severity(c))
    return cases[:k]


def contact_sheet(cases: list[dict[str, Any]], photos_root: str, out: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont, ImageOps

    tile, label_h, cols = 320, 34, 4
    rows = max(1, (len(cases) + cols - 1) // cols)
    sheet = Image.new("RGB", (cols * tile, rows * (tile + label_h)), (40, 40, 40))
    font = ImageFont.load_default()
    for i, c in enumerate(cases):
        with Image.open(Path(photos_root) / c["file"]) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
        s = tile / max(im.size)
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))))
        d = ImageDraw.Draw(im)

        def rect(b: list[float], colour: tuple[int, int, int], width: int, s: float = s, d: Any = d) -> None:
            x, y, w, h = (v * s for v in b[:4])
            d.rectangle([x, y, x + w - 1, y + h - 1], outline=colour, width=width)

        for b in c["faces"] + c["persons"]:
            rect(b, (255, 230, 0), 1)
        if c["peer_box"]:
            rect(c["peer_box"], (0, 220, 0), 3)
        rect(c["procrop_box"], (255, 0, 0), 2)
        x0, y0 = (i % cols) * tile, (i // cols) * (tile + label_h)
        sheet.paste(im, (x0 + (tile - im.width) // 2, y0 + (tile - im.height) // 2))
        dd = ImageDraw.Draw(sheet)
        dd.text(
            (x0 + 4, y0 + tile + 2), f"{Path(c['file']).name}  {c['ratio']}", fill=(255, 255, 255), font=font
        )
        dd.text(
            (x0 + 4, y0 + tile + 16),
            f"procrop cuts f{c['faces_cut']}{c['cut_face_scores'] or ''} p{c['persons_cut']} | green={c['peer']} "
            f"f{c['peer_faces_cut']} p{c['peer_persons_cut']}",
            fill=(200, 200, 200),
            font=font,
        )
    sheet.save(out)


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f} %"


def markdown(
    res: dict[str, Any],
    summ: dict[str, Any],
    args: argparse.Namespace,
    meta: dict[str, Any],
    worst: list[dict[str, Any]],
) -> str:
    names, ratios = res["names"], list(args.ratios)
    n = len(res["records"])
    L = [
        "# Face and person cuts",
        "",
        f"`{meta['command']}`  ",
        f"{n} photos from `{args.photos}` ({meta['date']}, procrop at {meta['git']}), ratios {', '.join(ratios)}, "
        f"{res['elapsed_s']:.0f} s. Method notes: "
        + ("; ".join(f"{k}: {v}" for k, v in res["notes"].items()) or "none")
        + ".",
        "",
        (
            "References: faces = procrop's YuNet (`YuNetFaceDetector(score_threshold=0.7, tiles=2)`) on the full-resolution "
            "photo, YuNet only (YOLOX person boxes are not used as faces); persons = YOLOX-nano kind `person`, score >= 0.5. "
            "Cut: 2 % < share of the box inside the crop < 97 %. Avoidable: some box of the ratio (grid, largest size and "
            "0.9 ... 0.3 of it) keeps every face (person) >= 97 % inside. Cut cases = avoidable cases where the method cut "
            "at least one face (person); rate = cut cases / avoidable cases."
        ),
        "",
    ]
    recs = res["records"]
    L += [
        (
            f"Reference set: {sum(1 for r in recs if r['faces'])} photos with faces ({sum(len(r['faces']) for r in recs)} faces), "
            f"{sum(1 for r in recs if r['persons'])} photos with persons ({sum(len(r['persons']) for r in recs)} persons). "
            "In the `all` rows the photo columns count cases (photo x ratio). Load average (1 min) at start / end: "
            f"{meta.get('load_start')} / {meta.get('load_end')}."
        ),
        "",
    ]
    if res["stopped_early"]:
        L += [f"**Stopped early** (--max-seconds) after {n} of {res['n_listed']} photos.", ""]
    if res["errors"]:
        L += [f"{len(res['errors'])} errors (see cuts.json).", ""]

    L += [
        "## Avoidable face cuts",
        "",
        "| method | ratio | photos with faces | avoidable cases | cut cases | faces cut | rate | cuts when unavoidable |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in names:
        for lb in ratios + ["all"]:
            f = summ["faces"][m][lb]
            L.append(
                f"| {m} | {lb} | {f['photos']} | {f['avoidable']} | {f['cut_cases']} | {f['faces_cut']} | "
                f"{pct(f['rate'])} | {f['unavoidable_cut_cases']} |"
            )
    L += [
        "",
        f"Same, all ratios, with only the faces YuNet scores >= {HI_FACE} (fewer false faces):",
        "",
        "| method | cases with such faces | avoidable | cut cases | rate |",
        "|---|---:|---:|---:|---:|",
    ]
    for m in names:
        h = summ["faces_hi"][m]
        L.append(f"| {m} | {h['photos']} | {h['avoidable']} | {h['cut_cases']} | {pct(h['rate'])} |")
    L += [
        "",
        "## Avoidable person cuts and bad person cuts",
        "",
        (
            "Bad cuts count all cases with persons (avoidable or not): top/bottom crop edge in a joint band of a person "
            "box (neck 0.12-0.22, knees 0.68-0.78, ankles 0.90-0.98 of its height) or a left/right edge through the middle "
            "60 % of its width; edges on the photo border are ignored. Kind columns count crossings."
        ),
        "",
        "| method | ratio | photos with persons | avoidable | cut cases | persons cut | rate | bad-cut cases | bad rate | neck | knees | ankles | side |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in names:
        for lb in ratios + ["all"]:
            p = summ["persons"][m][lb]
            L.append(
                f"| {m} | {lb} | {p['photos']} | {p['avoidable']} | {p['cut_cases']} | {p['persons_cut']} | "
                f"{pct(p['rate'])} | {p['bad_cases']} | {pct(p['bad_rate'])} | {p['bad_neck']} | {p['bad_knees']} | "
                f"{p['bad_ankles']} | {p['bad_side']} |"
            )
    L += [
        "",
        "## Speed",
        "",
        (
            f"Per photo, decode included, ratios {', '.join(SPEED_RATIOS)}, methods interleaved photo by photo "
            "(rotating order), one method at a time, on this machine "
            f"({meta['machine']}). procrop: one `process` call for the three ratios; peers: one decode and three crops; "
            "centre reads only the header."
        ),
        "",
        "| method | photos | median ms | p90 ms | mean ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for m, s in summ["speed"].items():
        L.append(f"| {m} | {s['n']} | {s['median_ms']:.1f} | {s['p90_ms']:.1f} | {s['mean_ms']:.1f} |")
    if summ["procrop_over_vips_attention"] is not None:
        L += ["", f"procrop median / vips-attention median = **{summ['procrop_over_vips_attention']:.2f}x**"]
    L += [
        "",
        "## Worst procrop (learned default) cases (contact sheet `cuts_worst.png`)",
        "",
        (
            "Red: procrop (learned default); green: best peer (fewest face, then person, then bad cuts); "
            "yellow: faces and persons."
        ),
        "",
        "| file | ratio | faces cut | YuNet score of cut faces | persons cut | best peer | its faces cut | its persons cut |",
        "|---|---|---:|---|---:|---|---:|---:|",
    ]
    for c in worst:
        L.append(
            f"| {c['file']} | {c['ratio']} | {c['faces_cut']} | {', '.join(map(str, c['cut_face_scores']))} | "
            f"{c['persons_cut']} | {c['peer']} | "
            f"{c['peer_faces_cut']} | {c['peer_persons_cut']} |"
        )
    vb = res["vips_box_check"]
    L += [
        "",
        "vips box check (xoffset/yoffset against template matching, first photo): "
        + ", ".join(
            f"{k}: box {v['box'][:2]} match {tuple(v['match_at'])} pixels equal {v['pixels_equal']}"
            for k, v in vb.items()
        ),
        "",
    ]
    return "\n".join(L)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", default="/work/shared/data/bsds500_trainval")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--ratios", nargs="+", default=["1:1", "4:5", "16:9", "9:16"])
    ap.add_argument("--methods", nargs="+", default=list(ALL_METHODS), choices=ALL_METHODS)
    ap.add_argument("--out", default="benchmarks/results")
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
