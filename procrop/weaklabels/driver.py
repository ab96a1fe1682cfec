"""The weak-label *generator driver* (``procrop dataset generate / info / preview``): writes a
resumable, deterministic weak-label data set.

Owns running the generator over photos (:func:`generate_dataset`), the data set's manifest and
summary (:func:`dataset_info`) and its preview sheet (:func:`preview_sheet`). Reading the written set
back is :func:`procrop.data.read_weak` (:mod:`procrop.data` holds the readers); turning it into
network inputs is :mod:`procrop.training.paper.samples` (the training set).

Layout of ``OUT/`` (the ProCrop weak-label layout that :func:`procrop.data.read_weak` reads)::

    OUT/dataset.json           format, generation parameters, counts, seam statistic
    OUT/manifest.jsonl         one line per finished item: id, files, source photo and its sha256,
                               licence, attribution, seed, canvas size, frame box, coverage, backend
    OUT/images/<id>.jpg        the out-painted canvas
    OUT/annotations/<id>.txt   ``y1 x1 y2 x2 score`` per line: the pseudo-label (the photographer's
                               frame, score 5) first, then up to four refined proposals

Item ``<stem>-<hash>_<k>`` is the k-th expansion of a photo; every random choice of an item comes
from a generator seeded by ``(seed, photo sha256, k)``, so the same seed gives the same data set
whatever the order or the number of workers. An item's image and annotation are written atomically
by the worker, then its manifest line is appended by the parent, in input order: the manifest line
is the commit. A re-run skips committed items; a killed run loses only uncommitted ones and leaves
no half file (a torn last manifest line is dropped on the next start).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import ProcropError, UsageError
from ..executor import make_executor
from ..files import atomic_write_bytes, atomic_write_text, foreign_folder
from ..geometry import xywh_to_xyxy
from ..imaging.load import load_image
from ..retrieval.build import licence_for
from .refine import format_annotation

#: 2: the photographer's frame is scored like the proposals (0-10); 1 gave it a fixed 5.0
FORMAT = "procrop-weak-2"


@dataclass(frozen=True)
class GenerateParams:
    """Everything that decides the content of a generated set (stored in ``dataset.json``)."""

    per_photo: int = 4
    backend: str = "classical"
    backend_model: str = ""
    seed: int = 0
    coverage: tuple[float, float] = (0.35, 0.9)
    rounds: int = 2
    keep: int = 4
    max_side: int = 1024
    scorer: str = "default"  # "default" (composition score) or a checkpoint path
    quality: int = 92

    def signature(self) -> dict[str, Any]:
        d = asdict(self)
        d["coverage"] = list(self.coverage)
        return d


@dataclass(frozen=True)
class Job:
    photo: str
    source: str  # relative to the photo folder
    sha256: str
    index: int
    item_id: str
    licence: dict[str, str] = field(default_factory=dict)


@dataclass
class GenerateReport:
    total: int = 0
    done_before: int = 0
    written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    seam: dict[str, float] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


class GenerateTask:
    """Make one item (picklable; backend and scorer are built once per worker)."""

    def __init__(self, params: GenerateParams, out: str) -> None:
        self.params = params
        self.out = out
        self._backend: Any = None
        self._scorer: Any = None
        self._analyzer: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"params": self.params, "out": self.out}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["params"], state["out"])  # type: ignore[misc]

    def _tools(self):
        if self._backend is None:
            from ..perception.analyzer import Analyzer
            from .outpaint import create_outpainter
            from .proposals import CropperScorer, NeuralScorer

            kwargs = {"model": self.params.backend_model} if self.params.backend == "diffusers" else {}
            backend = create_outpainter(self.params.backend, **kwargs)
            scorer = CropperScorer() if self.params.scorer == "default" else NeuralScorer(self.params.scorer)
            # all or none: a scorer that fails to load must fail again for the next photo, not leave None
            self._backend, self._scorer, self._analyzer = backend, scorer, Analyzer()
        return self._backend, self._scorer, self._analyzer

    def __call__(self, job: Job) -> dict[str, Any]:
        from PIL import Image

        from ..perception.describe import describe
        from .canvas import sample_canvas
        from .proposals import weak_labels

        backend, scorer, analyzer = self._tools()
        p = self.params
        rng = np.random.default_rng(np.random.SeedSequence([p.seed, int(job.sha256[:16], 16), job.index]))
        from .outpaint import trim_scan_border

        photo, trimmed = trim_scan_border(load_image(job.photo, max_side=p.max_side).pixels)
        h, w = photo.shape[:2]
        spec = sample_canvas(w, h, rng, coverage=p.coverage)
        prompt = describe(analyzer.analyze(photo)) if backend.name == "diffusers" else ""
        canvas = backend.fill(photo, spec, rng, prompt)
        labels = weak_labels(canvas, spec.frame, scorer, rng, rounds=p.rounds, keep=p.keep)
        buf = io.BytesIO()
        Image.fromarray(canvas).save(buf, format="JPEG", quality=p.quality)
        out = Path(self.out)
        atomic_write_bytes(out / "images" / f"{job.item_id}.jpg", buf.getvalue())
        atomic_write_text(out / "annotations" / f"{job.item_id}.txt", format_annotation(labels))
        return {
            "id": job.item_id,
            "image": f"images/{job.item_id}.jpg",
            "annotation": f"annotations/{job.item_id}.txt",
            "source": job.source,
            "source_sha256": job.sha256,
            **{k: v for k, v in job.licence.items() if k in ("licence", "attribution", "source_repo", "commit", "source_path")},
            "seed": p.seed,
            "index": job.index,
            "width": spec.width,
            "height": spec.height,
            "frame": list(spec.frame),
            "coverage": round(spec.coverage, 4),
            "trimmed_border": list(trimmed),
            "backend": backend.name,
            "labels": len(labels),
        }


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def plan(photos: list[str], root: str | None, per_photo: int, licences: dict[str, dict[str, str]] | None) -> tuple[list[Job], list[tuple[str, str]]]:
    """Jobs for every photo and expansion (in input order), plus unreadable photos."""
    jobs, failed = [], []
    seen: set[str] = set()
    for p in photos:
        try:
            sha = _sha256(p)
        except OSError as exc:
            failed.append((p, f"cannot read: {exc.strerror or exc}"))
            continue
        if sha in seen:  # identical files make identical items: keep one
            continue
        seen.add(sha)
        try:
            source = str(Path(p).resolve().relative_to(Path(root).resolve())) if root else Path(p).name
        except ValueError:
            source = Path(p).name
        lic = licence_for(licences, p, sha)
        for k in range(1, per_photo + 1):
            jobs.append(Job(p, source, sha, k, f"{Path(p).stem}-{sha[:6]}_{k}", lic))
    return jobs, failed


def read_manifest(out: Path, repair: bool = False) -> list[dict[str, Any]]:
    """Committed manifest rows; with ``repair`` a torn last line (a killed run) is dropped."""
    path = out / "manifest.jsonl"
    if not path.exists():
        return []
    rows, bad = [], False
    for line in path.read_text("utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            bad = True
    if bad and repair:
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
    return rows


def _write_info(out: Path, params: GenerateParams, extra: dict[str, Any]) -> None:
    path = out / "dataset.json"
    info = json.loads(path.read_text("utf-8")) if path.exists() else {}
    info.update(
        {
            "format": FORMAT,
            "generator": f"procrop {__version__}",
            "params": params.signature(),
            "updated": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            **extra,
        }
    )
    info.setdefault("created", info["updated"])
    atomic_write_text(path, json.dumps(info, indent=1) + "\n")


def generate_dataset(
    photos: list[str],
    out: str | os.PathLike,
    params: GenerateParams,
    photo_root: str | None = None,
    licences: dict[str, dict[str, str]] | None = None,
    workers: int = 1,
    ray: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    seam_sample: int = 200,
) -> GenerateReport:
    """Generate (or resume) a weak-label set; see the module docstring."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a data-set folder")
    if foreign_folder(out, "dataset.json", ("images", "annotations", "manifest.jsonl")):
        raise UsageError(f"{out}: a folder holding other files, not a data set: generate into a new or "
                         "empty folder")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    info_path = out / "dataset.json"
    if info_path.exists():
        stored = json.loads(info_path.read_text("utf-8"))
        if stored.get("format", FORMAT) != FORMAT:
            raise UsageError(f"{out} was generated in format {stored.get('format')} (frames scored 5.0, not on the "
                             f"proposals' scale); use a new --out to generate {FORMAT}")
        old = stored.get("params")
        if old and old != params.signature():
            changed = sorted(k for k in old if old.get(k) != params.signature().get(k))
            raise UsageError(f"{out} was generated with other parameters ({', '.join(changed)}); use a new --out")
    _write_info(out, params, {})
    jobs, failed = plan(photos, photo_root, params.per_photo, licences)
    done = {r["id"] for r in read_manifest(out, repair=True)
            if (out / r.get("image", "")).exists() and (out / r.get("annotation", "")).exists()}
    todo = [j for j in jobs if j.item_id not in done]
    report = GenerateReport(total=len(jobs), done_before=len(jobs) - len(todo), failed=failed)
    if progress:
        progress(report.done_before, report.total)
    task = GenerateTask(params, str(out))
    pending: dict[int, dict[str, Any] | None] = {}
    next_i = 0
    t_gen = time.perf_counter()
    with make_executor(workers, ray) as ex, open(out / "manifest.jsonl", "a", encoding="utf-8") as manifest:
        for outcome in ex.run(task, todo):
            if outcome.ok:
                pending[outcome.index] = outcome.value
            else:
                pending[outcome.index] = None
                report.failed.append((todo[outcome.index].photo, outcome.error or "unknown error"))
            while next_i in pending:  # commit in input order
                row = pending.pop(next_i)
                next_i += 1
                if row is not None:
                    manifest.write(json.dumps(row) + "\n")
                    manifest.flush()
                    report.written += 1
            if progress:
                progress(report.done_before + report.written + len([1 for v in pending.values() if v is None]), report.total)
    report.seconds = time.perf_counter() - t_gen
    rows = read_manifest(out)
    report.seam = compute_seam(out, rows, seam_sample)
    _write_info(out, params, {"items": len(rows), "photos": len({r["source_sha256"] for r in rows}), "seam": report.seam})
    return report


def compute_seam(out: Path, rows: list[dict[str, Any]], sample: int = 200) -> dict[str, float]:
    """The seam statistic (:mod:`procrop.weaklabels.seam`) over up to ``sample`` items."""
    from PIL import Image

    from .seam import seam_report

    if not rows:
        return {}
    step = max(1, len(rows) // sample)

    def items():
        for r in rows[::step][:sample]:
            path = out / r["image"]
            if path.exists():
                yield np.asarray(Image.open(path).convert("RGB")), tuple(r["frame"])

    return seam_report(items())


def dataset_info(out: str | os.PathLike) -> dict[str, Any]:
    """Counts and statistics of a generated set (verifies every committed item's files)."""
    out = Path(out)
    if not (out / "dataset.json").exists():
        what = "not a generated data set (no dataset.json)" if out.exists() else "no such folder"
        raise ProcropError(f"{out}: {what}")
    info = json.loads((out / "dataset.json").read_text("utf-8"))
    rows = read_manifest(out)
    missing = [r["id"] for r in rows if not (out / r["image"]).exists() or not (out / r["annotation"]).exists()]
    labels = [count_labels(out, r) for r in rows if r["id"] not in missing]
    cov = [r.get("coverage", 0) for r in rows]
    by_source: dict[str, int] = {}
    for r in rows:
        folder = r["source"].split("/")[0] if "/" in r["source"] else "."
        by_source[folder] = by_source.get(folder, 0) + 1
    licences: dict[str, int] = {}
    for r in rows:
        licences[r.get("licence", "(not recorded)")] = licences.get(r.get("licence", "(not recorded)"), 0) + 1
    return {
        "path": str(out),
        "format": info.get("format"),
        "params": info.get("params"),
        "items": len(rows),
        "photos": len({r["source_sha256"] for r in rows}),
        "missing_files": missing,
        "labels_per_item": {"mean": float(np.mean(labels)) if labels else 0.0, "min": min(labels, default=0),
                            "max": max(labels, default=0), "total": int(sum(labels))},
        "coverage": {"mean": float(np.mean(cov)) if cov else 0.0, "min": min(cov, default=0), "max": max(cov, default=0)},
        "canvas_sizes": {"median_width": float(np.median([r["width"] for r in rows])) if rows else 0, "median_height": float(np.median([r["height"] for r in rows])) if rows else 0},
        "by_folder": by_source,
        "licences": licences,
        "seam": info.get("seam", {}),
    }


def count_labels(out: Path, row: dict[str, Any]) -> int:
    """An item's weak labels as ``dataset info`` and ``dataset preview`` both count them: every box
    of its annotation file, the photographer's frame included."""
    from ..data.readers import read_row_first_txt
    from ..data.records import PSEUDO_LABEL_SCORE

    return len(read_row_first_txt(out / row["annotation"], default_score=PSEUDO_LABEL_SCORE)[0])


def preview_sheet(out: str | os.PathLike, n: int = 12, seed: int = 0, tile: int = 300):
    """A contact sheet of ``n`` items: the canvas, the original frame (white, dashed) and the weak
    labels (coloured, with scores)."""
    from PIL import Image, ImageDraw

    from ..data.readers import read_row_first_txt
    from ..data.records import PSEUDO_LABEL_SCORE
    from ..output.preview import RANK_COLOURS, contact_sheet

    out = Path(out)
    rows = read_manifest(out)
    if not rows:
        raise ProcropError(f"{out}: no items")
    pick = np.random.default_rng(seed).permutation(len(rows))[:n]
    tiles = []
    for i in sorted(pick):
        r = rows[int(i)]
        im = Image.open(out / r["image"]).convert("RGB")
        d = ImageDraw.Draw(im)
        boxes, scores = read_row_first_txt(out / r["annotation"], default_score=PSEUDO_LABEL_SCORE)
        lw = max(2, im.width // 250)
        for j, corners in enumerate(xywh_to_xyxy(boxes)[1:]):
            d.rectangle(corners.tolist(), outline=RANK_COLOURS[j % len(RANK_COLOURS)], width=lw)
        fx, fy, fw, fh = r["frame"]
        _dashed_rect(d, (fx, fy, fx + fw, fy + fh), (255, 255, 255), lw + 1)
        tiles.append((im, f"{r['id']}  cov {r['coverage']:.2f}  {len(boxes)} labels (frame included)"))
    return contact_sheet(tiles, tile_width=tile, columns=4)


def _dashed_rect(d, box, colour, width: int, dash: int = 14) -> None:
    x0, y0, x1, y1 = box
    for a, b, horizontal, fixed in ((x0, x1, True, y0), (x0, x1, True, y1), (y0, y1, False, x0), (y0, y1, False, x1)):
        t = a
        while t < b:
            e = min(t + dash, b)
            d.line([(t, fixed), (e, fixed)] if horizontal else [(fixed, t), (fixed, e)], fill=colour, width=width)
            t += 2 * dash
