"""Summaries, worst cases, the contact sheet and the markdown of the face and person cut benchmark
(:mod:`cuts`)."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from cuts_common import CUT_HI, CUT_LO, HI_FACE, PEERS, SPEED_RATIOS, avoidable, ratio_value

#: Faces of at least this share of the photo's largest face's area form its group (as procrop's
#: protection counts a group, ``procrop.scoring.protection.GROUP_FACE``).
GROUP_FACE = 0.25


def severity(case: dict[str, Any]) -> float:
    """How bad a cut case is: faces cut count most, then persons, then the largest box cut."""
    return 10 * case["faces_cut"] + case["persons_cut"] + case["max_cut_frac"]

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
    groups = group_left_out(names, records, ratios)
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
        "groups": groups,
        "persons": persons,
        "speed": speed,
        "procrop_over_vips_attention": ratio,
    }


def group_left_out(names: list[str], records: list[dict[str, Any]], ratios: list[str]) -> dict[str, dict[str, Any]]:
    """Per method: the cases (photo x ratio) whose group of faces (two or more faces of at least
    :data:`GROUP_FACE` of the largest one's area) some box of the ratio keeps whole together, and
    those where the method's crop leaves one of them out entirely (2 % or less inside)."""
    out = {n: {"cases": 0, "left_out": 0, "files": []} for n in names}
    for rec in records:
        faces = np.asarray([f[:4] for f in rec["faces"]], dtype=np.float64).reshape(-1, 4)
        area = faces[:, 2] * faces[:, 3]
        group = area >= GROUP_FACE * area.max() if len(area) else np.zeros(0, bool)
        if group.sum() < 2:
            continue
        W, H = rec["size"]
        for lb in ratios:
            if avoidable(faces[group], W, H, ratio_value(lb)) is None:
                continue
            for n in names:
                m = rec["ratios"][lb]["methods"].get(n)
                if m is None:
                    continue
                out[n]["cases"] += 1
                if (np.asarray(m["face_shares"])[group] <= CUT_LO).any():
                    out[n]["left_out"] += 1
                    out[n]["files"].append(f"{rec['file']} {lb}")
    for g in out.values():
        g["rate"] = g["left_out"] / g["cases"] if g["cases"] else None
    return out


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
        "## Someone left out of a group that fits",
        "",
        (
            f"A group: two or more faces of at least {GROUP_FACE:g} of the largest face's area. Cases: photo x ratio where "
            "some box of the ratio keeps the whole group (each face >= 97 % inside); left out: the crop keeps 2 % or less "
            "of one of them (all ratios)."
        ),
        "",
        "| method | group cases | someone left out | rate |",
        "|---|---:|---:|---:|",
    ]
    for m in names:
        g = summ["groups"][m]
        L.append(f"| {m} | {g['cases']} | {g['left_out']} | {pct(g['rate'])} |")
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
        "## Worst procrop (default) cases (contact sheet `cuts_worst.png`)",
        "",
        (
            "Red: procrop (default); green: best peer (fewest face, then person, then bad cuts); "
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
