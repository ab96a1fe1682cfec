"""``procrop eval``: run croppers on a benchmark and report every metric of its protocol.

Owns the methods (:func:`make_method`), running them (:func:`evaluate`) and the in-memory report
(:class:`EvalReport`); writing the report files and plots is :mod:`procrop.evaluation.report`.

Methods:

* ``default``: :class:`procrop.Cropper` as shipped (``default:noretrieval`` switches retrieval off);
* ``model:CKPT``: a neural ProCrop checkpoint (extra ``procrop[torch]``);
* ``center``, ``smartcrop``, ``vips-attention``: the peers of :mod:`procrop.evaluation.peers`.

Protocols:

* **Candidate ranking** (GAICD v1/v2, CPC): a method scores every annotated candidate of an image;
  SRCC, PCC, Acc_{K/N}, Acc5/Acc10 and the weighted Acc_w follow (:mod:`procrop.evaluation.metrics`). Methods
  that only return a box (the peers) score each candidate by its IoU with their box. For GAICD the
  ProCrop box metrics are added: acc5/acc10 at IoU 0.85/0.90 against the best-MOS candidate and AP
  against the top-5 MOS candidates ("good" crops).
* **Box prediction** (FCDB, FLMS, weak-label sets): a method returns its top-10 boxes; IoU@1 and
  BDE@1 take the best over the ground truths (each separately), acc5/acc10 at IoU 0.85/0.90 count a
  hit against the best-scored ground truth (any expert when the set has no scores), AP uses every
  ground truth.
* Peers cannot choose a crop size, so they receive the size of the best ground truth (best MOS
  candidate; FCDB's crop; FLMS's first expert): an oracle hint in their favour.

Images whose file is missing are counted and listed in the report, not silently skipped.
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
from .metrics import (
    acc_at_iou,
    average_precision,
    best_bde,
    best_iou,
    ranking_metrics,
)

BENCHMARKS = ("gaicd-v1", "gaicd-v2", "fcdb", "flms", "cpc", "weak")
IOU_THRESHOLDS = (0.85, 0.90)


class Method:
    """A cropper under evaluation."""

    name: str = ""
    #: returns only one box (scored on candidates by IoU with it)
    box_only: bool = False

    def score_candidates(self, sample: CropSample) -> np.ndarray:
        raise NotImplementedError

    def predict(self, sample: CropSample, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k boxes ``(k, 4)`` and their scores, best first."""
        raise NotImplementedError


class CropperMethod(Method):
    """procrop's default cropper."""

    def __init__(self, name: str = "default", retrieval: bool = True) -> None:
        from ..cropper import Cropper

        self.name = name
        self.cropper = Cropper() if retrieval else Cropper(reference_db=None)

    def score_candidates(self, sample: CropSample) -> np.ndarray:
        return self.cropper.score_boxes(str(sample.image), sample.boxes)

    def predict(self, sample: CropSample, k: int) -> tuple[np.ndarray, np.ndarray]:
        crops = self.cropper.crop(str(sample.image), "free", top_k=k)
        return np.array([c.box for c in crops], dtype=np.float64), np.array([c.score for c in crops])


class ModelMethod(Method):
    """A neural ProCrop checkpoint."""

    def __init__(self, checkpoint: str) -> None:
        from ..model.predictor import NeuralCropper  # needs torch

        self.name = f"model:{Path(checkpoint).name}"
        self.model = NeuralCropper.from_checkpoint(checkpoint)
        self._last: tuple[str, Any] | None = None  # (image path, Prediction) of the latest forward pass

    def _prediction(self, sample: CropSample):
        """One forward pass per image, shared by candidate scoring and box prediction."""
        path = str(sample.image)
        if self._last is None or self._last[0] != path:
            self._last = (path, self.model.predict(path))
        return self._last[1]

    def score_candidates(self, sample: CropSample) -> np.ndarray:
        return self.model.score_boxes(str(sample.image), sample.boxes, prediction=self._prediction(sample))

    def predict(self, sample: CropSample, k: int) -> tuple[np.ndarray, np.ndarray]:
        pred = self._prediction(sample)
        return pred.boxes[:k], pred.scores[:k]


class PeerMethod(Method):
    """A peer cropper that returns one box of a given size."""

    box_only = True

    def __init__(self, name: str) -> None:
        from .peers import get_peer

        self.name = name
        self.peer = get_peer(name)
        # fail now, with the extra to install, rather than on the first image
        probe = {"smartcrop": "smartcrop", "vips-attention": "pyvips"}.get(name)
        if probe:
            from ..errors import require

            try:
                require(probe, f"the {name} peer", "peers")
            except OSError as exc:
                raise UsageError(f"{name}: {exc}") from exc

    def _box(self, sample: CropSample) -> np.ndarray:
        _, _, w, h = (int(round(v)) for v in sample.best_box())
        return np.asarray(self.peer(str(sample.image), max(1, w), max(1, h)), dtype=np.float64)

    def score_candidates(self, sample: CropSample) -> np.ndarray:
        return iou_matrix(sample.boxes, self._box(sample)[None])[:, 0]

    def predict(self, sample: CropSample, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self._box(sample)[None], np.ones(1)


def make_method(spec: str) -> Method:
    """``default``, ``default:noretrieval``, ``model:CKPT``, ``center``, ``smartcrop``, ``vips-attention``."""
    if spec == "default":
        return CropperMethod()
    if spec == "default:noretrieval":
        return CropperMethod(spec, retrieval=False)
    if spec.startswith("model:"):
        path = spec.split(":", 1)[1]
        if not Path(path).exists():
            raise UsageError(f"--method {spec}: no such checkpoint")
        return ModelMethod(path)
    from .peers import PEERS

    if spec in PEERS:
        return PeerMethod(spec)
    raise UsageError(
        f"unknown method {spec!r}; use default, default:noretrieval, model:CKPT, center, smartcrop or vips-attention"
    )


@dataclass
class MethodReport:
    """Metrics of one method on one benchmark, with per-image rows."""

    method: str
    metrics: dict[str, float]
    rows: list[dict[str, Any]]
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


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
            if m.failed:
                out.append(f"{m.method}: {len(m.failed)} image(s) failed: " + "; ".join(f"{i}: {e}" for i, e in m.failed[:10]))
        out += ["", "Per-image rows are in the JSON report.", ""]
        return "\n".join(out)


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"


def evaluate(
    benchmark: str,
    data: str | Path,
    methods: list[Method],
    split: str | None = "test",
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    """Evaluate methods on a benchmark (see the module docstring for the protocols)."""
    if benchmark not in BENCHMARKS:
        raise UsageError(f"unknown benchmark {benchmark!r}; choose from {', '.join(BENCHMARKS)}")
    ds = read_benchmark(benchmark, data, split if split not in ("all", None) else None)
    if split not in (None, "all") and not ds.samples:
        full = read_benchmark(benchmark, data)
        raise UsageError(f"split {split!r} is empty in {data}; splits present: {full.counts()}")
    samples = ds.available()
    if limit:
        samples = samples[:limit]
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
            rep = _eval_boxes(method, samples, tick)
        rep.seconds = time.perf_counter() - t0
        reports.append(rep)
    return EvalReport(benchmark, str(data), split, ds.counts(), len(samples), ds.missing, reports)


def _eval_candidates(benchmark: str, method: Method, samples: list[CropSample], tick: Callable[[int], None]) -> MethodReport:
    preds, mos, rows, failed = [], [], [], []
    box_preds, good_sets, best_gts = [], [], []
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
            good = s.boxes[order[: min(5, len(order))]]
            box_preds.append((boxes, scores))
            good_sets.append(good)
            best_gts.append(best_gt)
            row["IoU@1_best"] = _json(float(iou_matrix(boxes[:1], best_gt[None])[0, 0])) if len(boxes) else 0.0
            row["top1_box"] = [round(float(v), 1) for v in boxes[0]] if len(boxes) else None
        rows.append(row)
    metrics = ranking_metrics(preds, mos) if preds else {}
    if box_preds:
        for n in (5, 10):
            for t in IOU_THRESHOLDS:
                metrics[f"acc{n}@{t:.2f}"] = float(np.mean([acc_at_iou(b, g, n, t) for (b, _), g in zip(box_preds, best_gts)]))
        for md in (5, 10):
            metrics[f"AP@{md}"] = average_precision(box_preds, good_sets, max_dets=md)
    return MethodReport(method.name, metrics, rows, failed)


def _eval_boxes(method: Method, samples: list[CropSample], tick: Callable[[int], None]) -> MethodReport:
    rows, failed = [], []
    ious, bdes, preds, gts, best = [], [], [], [], []
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
        top = boxes[0]
        i1 = best_iou(top, s.boxes)
        b1 = best_bde(top, s.boxes, W, H)
        ious.append(i1)
        bdes.append(b1)
        preds.append((boxes, scores))
        gts.append(s.boxes)
        best.append(s.best_box() if s.scores is not None else None)
        rows.append({"image": s.id, "IoU@1": round(i1, 4), "BDE@1": round(b1, 4), "top1_box": [round(float(v), 1) for v in top]})
    metrics: dict[str, float] = {}
    if ious:
        metrics["IoU@1"] = float(np.mean(ious))
        metrics["BDE@1"] = float(np.mean(bdes))
        for n in (5, 10):
            for t in IOU_THRESHOLDS:
                hits = []
                for (b, _), g, bg in zip(preds, gts, best):
                    targets = [bg] if bg is not None else list(g)
                    hits.append(max(acc_at_iou(b, tg, n, t) for tg in targets))
                metrics[f"acc{n}@{t:.2f}"] = float(np.mean(hits))
        for md in (5, 10):
            metrics[f"AP@{md}"] = average_precision(preds, gts, max_dets=md)
    return MethodReport(method.name, metrics, rows, failed)


def _json(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4)
