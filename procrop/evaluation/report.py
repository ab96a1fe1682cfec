"""Writing ``procrop eval`` results: ``report.md`` / ``report.json`` and the plots.

Owns :func:`write_report` (the Markdown and JSON reports of an
:class:`~procrop.evaluation.evaluate.EvalReport`) and :func:`write_plots` (per-image PNGs of each
method's best crop against the ground truth, and per-method IoU histograms). Running the methods
and computing the metrics is :mod:`procrop.evaluation.evaluate`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data import read_benchmark
from ..files import atomic_write_text
from ..geometry import xywh_to_xyxy

if TYPE_CHECKING:
    from .evaluate import EvalReport




def write_report(report: EvalReport, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.json`` (atomically) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "report.md"
    js = out / "report.json"
    atomic_write_text(md, report.markdown())
    atomic_write_text(js, json.dumps(report.to_dict(), indent=1) + "\n")
    return md, js


def write_plots(report: EvalReport, out_dir: str | Path, max_images: int = 50) -> list[Path]:
    """Per-image PNGs of each method's best crop against the ground truth, and per-method
    histograms of per-image IoU. Returns the written paths."""
    from PIL import ImageDraw

    from ..imaging.load import open_full
    from ..output.preview import RANK_COLOURS, _font, save_preview

    out = Path(out_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    ds = read_benchmark(report.benchmark, report.data)
    by_id = {s.id: s for s in ds.samples}
    written: list[Path] = []
    font = _font(14)
    ids = [r["image"] for r in report.methods[0].rows][:max_images] if report.methods else []
    for image_id in ids:
        s = by_id.get(image_id)
        if s is None or s.image is None:
            continue
        photo = open_full(s.image).convert("RGB")
        k = min(1.0, 800 / max(photo.size))
        canvas = photo.resize((max(1, round(photo.width * k)), max(1, round(photo.height * k))))
        draw = ImageDraw.Draw(canvas, "RGBA")
        gts = s.boxes if ds.kind == "boxes" else s.boxes[np.argsort(-np.asarray(s.scores))[:1]]
        for g in gts:
            draw.rectangle(xywh_to_xyxy(np.asarray(g, dtype=np.float64) * k)[0].tolist(), outline=(255, 255, 255, 200), width=2)
        for mi, m in enumerate(report.methods):
            row = next((r for r in m.rows if r["image"] == image_id), None)
            if row is None or not row.get("top1_box"):
                continue
            colour = RANK_COLOURS[mi % len(RANK_COLOURS)]
            draw.rectangle(xywh_to_xyxy(np.asarray(row["top1_box"], dtype=np.float64) * k)[0].tolist(), outline=colour + (255,), width=3)
            iou = row.get("IoU@1", row.get("IoU@1_best"))
            label = f"{m.method}  IoU {iou:.2f}" if iou is not None else m.method
            tb = draw.textbbox((6, 6 + 18 * mi), label, font=font)
            draw.rectangle([tb[0] - 3, tb[1] - 2, tb[2] + 3, tb[3] + 2], fill=(0, 0, 0, 170))
            draw.text((6, 6 + 18 * mi), label, fill=colour, font=font)
        path = out / f"{image_id}.png"
        save_preview(canvas, path)
        written.append(path)
    for m in report.methods:
        values = [r.get("IoU@1", r.get("IoU@1_best")) for r in m.rows]
        values = [v for v in values if v is not None]
        if not values:
            continue
        path = out / f"iou_histogram_{_safe(m.method)}.png"
        n = 2
        while path in written:  # two names that read the same as file names: never overwrite
            path = out / f"iou_histogram_{_safe(m.method)}_{n}.png"
            n += 1
        save_preview(_histogram(values, f"{report.benchmark}: per-image IoU, {m.method}"), path)
        written.append(path)
    return written


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _histogram(values: list[float], title: str, bins: int = 20):
    from PIL import Image, ImageDraw

    from ..output.preview import _font

    W, H, pad = 640, 360, 40
    counts, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    im = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(im)
    font = _font(13)
    d.text((pad, 8), f"{title} (n={len(values)}, mean {np.mean(values):.3f})", fill=(0, 0, 0), font=font)
    top = max(1, counts.max())
    bw = (W - 2 * pad) / bins
    for i, c in enumerate(counts):
        h = (H - 2 * pad - 20) * c / top
        x0 = pad + i * bw
        d.rectangle([x0 + 1, H - pad - h, x0 + bw - 1, H - pad], fill=(60, 120, 200))
    d.line([pad, H - pad, W - pad, H - pad], fill=(0, 0, 0))
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = pad + t * (W - 2 * pad)
        d.text((x - 10, H - pad + 6), f"{t:.2f}", fill=(0, 0, 0), font=font)
    d.text((pad, H - pad + 20), "IoU with the ground truth", fill=(0, 0, 0), font=font)
    return im
