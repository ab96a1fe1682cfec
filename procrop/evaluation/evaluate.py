"""``procrop eval``: run croppers on a benchmark and report every metric of its protocol.

Owns running methods (:func:`evaluate`) and the in-memory report (:class:`EvalReport`); the
methods themselves and :func:`make_method` are :mod:`procrop.evaluation.methods` (re-exported
here), writing the report files and plots is :mod:`procrop.evaluation.report`, the checkpoint
selection hook is :mod:`procrop.evaluation.selection`.

Methods:

* ``default``: :class:`procrop.Cropper` as shipped (``default:noretrieval`` switches retrieval off);
* ``learned:DIR``: the cropper with another learned-scorer bundle (``procrop learned export``);
* ``model:CKPT``: a neural ProCrop checkpoint or its ONNX export (extra ``procrop[torch]``), with the
  reference database its configuration records unless another is given (``--db``);
* ``center``, ``smartcrop``, ``vips-attention``: the peers of :mod:`procrop.evaluation.peers`.

Protocols:

* **Candidate ranking** (GAICD v1/v2, CPC): a method scores every annotated candidate of an image;
  SRCC, PCC, Acc_{K/N}, Acc5/Acc10 and the weighted Acc_w follow (:mod:`procrop.evaluation.metrics`).
  Methods that only return a box (the peers) score each candidate by its IoU with their box. For
  GAICD the ProCrop box metrics are added: acc5/acc10 at IoU 0.85/0.90 against the best-MOS
  candidate, AP as ProCrop's evaluator computes it per IoU threshold on its "good" set (the
  candidates tied at the best MOS; :mod:`procrop.evaluation.official`), named
  ``AP{5,10}@{0.85,0.90} (official)``, and procrop's COCO-style AP over IoU 0.85:0.95 against the
  top-5 MOS candidates, named ``AP{5,10}[.85:.95] (coco-style)``.
* **Box prediction** (FCDB, FLMS, SACD, weak-label sets): a method returns its top-10 boxes; IoU@1
  and BDE@1 take the best over the ground truths (each separately; SACD: the loader's good boxes,
  those tied at the top score), acc5/acc10 at IoU 0.85/0.90 count a hit against the best-scored
  ground truth (any expert when the set has no scores), AP both ways as above (official: every
  expert box of FLMS/FCDB, the top-score ties of SACD and weak sets).
* Peers cannot choose a crop size, so they receive the size of the best ground truth (best MOS
  candidate; FCDB's crop; FLMS's first expert): an oracle hint in their favour.

Images whose file is missing are counted and listed in the report, not silently skipped; when no
image at all can be evaluated, :func:`evaluate` raises :class:`~procrop.errors.UsageError`. Rows are
named uniquely (:func:`~procrop.evaluation.methods.make_methods`) and the report records what each
method ran (:attr:`MethodReport.info`: spec, checkpoint or bundle path, reference database).
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..data import CropSample, read_benchmark
from ..errors import UsageError
from ..geometry import iou_matrix
from .methods import CropperMethod, Method, ModelMethod, PeerMethod, make_method, make_methods, resolve_reference_db
from .metrics import (
    acc_at_iou,
    average_precision,
    best_bde,
    best_iou,
    ranking_metrics,
)
from .official import GOOD_RULES, good_indices, official_ap

BENCHMARKS = ("gaicd-v1", "gaicd-v2", "fcdb", "flms", "cpc", "weak", "sacd")
IOU_THRESHOLDS = (0.85, 0.90)
#: Predictions per image that count for AP (ProCrop's evaluator prints 5, 10, 20, 40, 60, 90).
AP_MAX_DETS = (5, 10)

__all__ = [
    "BENCHMARKS", "CropperMethod", "EvalReport", "Method", "MethodReport", "ModelMethod", "PeerMethod",
    "evaluate", "make_method", "make_methods", "resolve_reference_db",
]


@dataclass
class MethodReport:
    """Metrics of one method on one benchmark, with per-image rows."""

    method: str
    metrics: dict[str, float]
    rows: list[dict[str, Any]]
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    #: what the method ran: spec, checkpoint or bundle path, reference database (:attr:`Method.info`)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalReport:
    benchmark: str
    data: str
    split: str | None
    counts: dict[str, int]
    evaluated: int
    missing: list[str]
    methods: list[MethodReport]

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "data": self.data,
            "split": self.split,
            "annotated_images": self.counts,
            "evaluated_images": self.evaluated,
            "missing_images": {"count": len(self.missing), "ids": self.missing},
            "methods": [
                {
                    "method": m.method,
                    "source": m.info,
                    "metrics": m.metrics,
                    "seconds": round(m.seconds, 2),
                    "failed": [{"image": i, "error": e} for i, e in m.failed],
                    "per_image": m.rows,
                }
                for m in self.methods
            ],
            "procrop_version": __version__,
            "python": platform.python_version(),
        }

    def metric_names(self) -> list[str]:
        names: list[str] = []
        for m in self.methods:
            for k in m.metrics:
                if k not in names:
                    names.append(k)
        return names

    def table(self, names: Iterable[str] | None = None) -> str:
        """Side-by-side Markdown table: one row per method."""
        cols = list(names or self.metric_names())
        lines = ["| method | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        for m in self.methods:
            vals = [_fmt(m.metrics.get(c, float("nan"))) for c in cols]
            lines.append(f"| {m.method} | " + " | ".join(vals) + " |")
        return "\n".join(lines)

    def markdown(self) -> str:
        out = [
            f"# procrop eval: {self.benchmark}",
            "",
            f"- data: `{self.data}`, split: {self.split or 'all'}",
            f"- annotated images: {self.counts}; evaluated: {self.evaluated}; "
            f"missing image files: {len(self.missing)}"
            + (f" (first: {', '.join(self.missing[:10])})" if self.missing else ""),
            f"- procrop {__version__}, Python {platform.python_version()}",
            "",
            self.table(),
            "",
        ]
        for m in self.methods:
            if m.info:
                out.append(f"- {m.method}: " + ", ".join(f"{k} `{v}`" for k, v in m.info.items()))
        out.append("")
        for m in self.methods:
            if m.failed:
                out.append(f"{m.method}: {len(m.failed)} image(s) failed: " + "; ".join(f"{i}: {e}" for i, e in m.failed[:10]))
        out += ["", "Per-image rows are in the JSON report.", ""]
        return "\n".join(out)


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"


def benchmark_samples(benchmark: str, data: str | Path, split: str | None = "test",
                      limit: int | None = None) -> tuple[Any, list[Any]]:
    """The benchmark's data set and the samples an evaluation would run on (their images on disk).

    Raises:
        UsageError: an unknown benchmark, an empty split, or no image on disk.
        DatasetError: the annotation files are missing or malformed (the message names the file).
    """
    if benchmark not in BENCHMARKS:
        raise UsageError(f"unknown benchmark {benchmark!r}; choose from {', '.join(BENCHMARKS)}")
    if not Path(data).exists():  # not "no annotations/ folder" for a folder that is not there at all
        raise UsageError(f"{data}: no such folder")
    ds = read_benchmark(benchmark, data, split if split not in ("all", None) else None)
    if split not in (None, "all") and not ds.samples:
        full = read_benchmark(benchmark, data)
        present = full.counts()
        hint = f" (give --split {next(iter(present))})" if len(present) == 1 else ""
        raise UsageError(f"split {split!r} is empty in {data}; splits present: {present}{hint}")
    samples = ds.available()
    if limit:
        samples = samples[:limit]
    if not samples:
        first = f" (first: {', '.join(ds.missing[:3])})" if ds.missing else ""
        raise UsageError(f"{data}: no {benchmark} image to evaluate: {len(ds.missing)} annotated image(s) missing "
                         f"on disk{first}; put the images where the annotations expect them")
    return ds, samples


def evaluate(
    benchmark: str,
    data: str | Path,
    methods: list[Method],
    split: str | None = "test",
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    """Evaluate methods on a benchmark (see the module docstring for the protocols)."""
    ds, samples = benchmark_samples(benchmark, data, split, limit)
    reports = []
    total = len(samples) * len(methods)
    for mi, method in enumerate(methods):
        t0 = time.perf_counter()

        def tick(i: int, offset: int = mi * len(samples)) -> None:
            if progress:
                progress(offset + i + 1, total)

        if ds.kind == "candidates":
            rep = _eval_candidates(benchmark, method, samples, tick)
        else:
            rep = _eval_boxes(benchmark, method, samples, tick)
        rep.seconds = time.perf_counter() - t0
        rep.info = dict(getattr(method, "info", {}) or {})
        if getattr(method, "warnings", ()):
            rep.info["warnings"] = list(method.warnings)
        reports.append(rep)
    return EvalReport(benchmark, str(data), split, ds.counts(), len(samples), ds.missing, reports)


def _ap_metrics(preds: list[tuple[np.ndarray, np.ndarray]], official_sets: list[np.ndarray],
                coco_sets: list[np.ndarray]) -> dict[str, float]:
    """AP both ways, named apart: ProCrop's evaluator per IoU threshold on its "good" set
    (``AP10@0.85 (official)``) and procrop's COCO-style average (``AP10[.85:.95] (coco-style)``)."""
    out: dict[str, float] = {}
    for md in AP_MAX_DETS:
        for t in IOU_THRESHOLDS:
            out[f"AP{md}@{t:.2f} (official)"] = official_ap(preds, official_sets, t, max_dets=md)
        out[f"AP{md}[.85:.95] (coco-style)"] = average_precision(preds, coco_sets, max_dets=md)
    return out


def _acc_metrics(preds: list[tuple[np.ndarray, np.ndarray]], targets: list[list[np.ndarray]]) -> dict[str, float]:
    """ProCrop's acc5/acc10 at each IoU threshold: a hit when any of the top-N predictions reaches
    the threshold with one of the image's target boxes."""
    out: dict[str, float] = {}
    for n in (5, 10):
        for t in IOU_THRESHOLDS:
            hits = [max(acc_at_iou(b, g, n, t) for g in tg) for (b, _), tg in zip(preds, targets)]
            out[f"acc{n}@{t:.2f}"] = float(np.mean(hits))
    return out


def official_good_boxes(benchmark: str, sample: CropSample) -> np.ndarray:
    """The ground truths ProCrop's evaluator matches against, best first (see
    :mod:`procrop.evaluation.official`): GAICD/weak/SACD the boxes tied at the top score, CPC the
    views whose mean vote is >= 2.0 (NMS 0.8), FLMS/FCDB every expert box."""
    return sample.boxes[good_indices(sample.boxes, sample.scores, GOOD_RULES.get(benchmark))]


def _eval_candidates(benchmark: str, method: Method, samples: list[CropSample], tick: Callable[[int], None]) -> MethodReport:
    preds, mos, rows, failed = [], [], [], []
    box_preds, good_sets, official_sets = [], [], []
    for i, s in enumerate(samples):
        tick(i)
        try:
            p = np.asarray(method.score_candidates(s), dtype=np.float64)
            boxes, scores = method.predict(s, 10) if benchmark.startswith("gaicd") else (None, None)
        except Exception as exc:  # one image failing must not stop the evaluation
            failed.append((s.id, f"{type(exc).__name__}: {exc}"))
            continue
        m = np.asarray(s.scores, dtype=np.float64)
        preds.append(p)
        mos.append(m)
        row: dict[str, Any] = {"image": s.id, **{k: _json(v) for k, v in ranking_metrics([p], [m]).items() if k in ("SRCC", "PCC", "Acc1/5", "Acc1/10")}}
        if boxes is not None:
            order = np.argsort(-m, kind="mergesort")
            best_gt = s.boxes[order[0]]
            box_preds.append((boxes, scores))
            good_sets.append(s.boxes[order[: min(5, len(order))]])  # procrop's coco-style: top-5 MOS
            official_sets.append(official_good_boxes(benchmark, s))
            row["IoU@1_best"] = _json(float(iou_matrix(boxes[:1], best_gt[None])[0, 0])) if len(boxes) else 0.0
            row["top1_box"] = [round(float(v), 1) for v in boxes[0]] if len(boxes) else None
        rows.append(row)
    metrics = ranking_metrics(preds, mos) if preds else {}
    if box_preds:
        # acc against the first official good box (= a best-MOS candidate), as ProCrop's evaluator
        metrics.update(_acc_metrics(box_preds, [[g[0]] for g in official_sets]))
        metrics.update(_ap_metrics(box_preds, official_sets, good_sets))
    return MethodReport(method.name, metrics, rows, failed)


def _eval_boxes(benchmark: str, method: Method, samples: list[CropSample], tick: Callable[[int], None]) -> MethodReport:
    rows, failed = [], []
    ious, bdes, preds, gts, official_sets, targets = [], [], [], [], [], []
    for i, s in enumerate(samples):
        tick(i)
        try:
            boxes, scores = method.predict(s, 10)
            W, H = s.size()
        except Exception as exc:
            failed.append((s.id, f"{type(exc).__name__}: {exc}"))
            continue
        if len(boxes) == 0:
            failed.append((s.id, "no prediction"))
            continue
        good = official_good_boxes(benchmark, s)
        truth = good if benchmark == "sacd" else s.boxes  # SACD: the loader's good boxes
        top = boxes[0]
        i1 = best_iou(top, truth)
        b1 = best_bde(top, truth, W, H)
        ious.append(i1)
        bdes.append(b1)
        preds.append((boxes, scores))
        gts.append(truth)
        official_sets.append(good)
        targets.append([s.best_box()] if s.scores is not None and benchmark != "sacd" else list(truth))
        rows.append({"image": s.id, "IoU@1": round(i1, 4), "BDE@1": round(b1, 4), "top1_box": [round(float(v), 1) for v in top]})
    metrics: dict[str, float] = {}
    if ious:
        metrics["IoU@1"] = float(np.mean(ious))
        metrics["BDE@1"] = float(np.mean(bdes))
        metrics.update(_acc_metrics(preds, targets))
        metrics.update(_ap_metrics(preds, official_sets, gts))
    return MethodReport(method.name, metrics, rows, failed)


def _json(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4)
