"""Building and extending a reference database from photo files (``procrop index build/add``).

Photos are hashed (sha256 of the file) and skipped when the database already holds the same
content, so a re-run after a crash resumes where the last committed shard ended, and adding a
folder twice adds nothing. Encoding runs through :mod:`procrop.executor` (``workers``, Ray);
results are committed every ``chunk`` photos as one shard. Unreadable files are listed, not fatal.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..executor import make_executor
from .encoders.layout import Encoder, create_encoder, encoder_class, grid_similarity
from .store import NewItem, ReferenceDB, commit_items, create_db, file_sha256, known_hashes, set_calibration


@dataclass
class BuildReport:
    """What a build or add did."""

    added: int = 0
    duplicates: int = 0
    already_present: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    total: int = 0


@dataclass
class EncodeTask:
    """Encode one photo file (picklable; the encoder is built once per worker)."""

    encoder_name: str
    encoder_kwargs: dict[str, Any]
    thumbnails: bool = False
    thumb_side: int = 160

    def __post_init__(self) -> None:
        self._encoder: Encoder | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_encoder"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._encoder = None

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = create_encoder(self.encoder_name, **self.encoder_kwargs)
        return self._encoder

    def __call__(self, path: str) -> dict[str, Any]:
        image = self.encoder.load(path)
        enc = self.encoder.encode(image)
        thumb = None
        if self.thumbnails:
            from PIL import Image

            im = Image.fromarray(image.pixels)
            im.thumbnail((self.thumb_side, self.thumb_side))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=80)
            thumb = buf.getvalue()
        return {
            "width": image.width,
            "height": image.height,
            "vector": enc.vector.astype(np.float32),
            "tokens": enc.tokens.astype(np.float16),
            "thumbnail": thumb,
        }


def read_licences(csv_path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """Per-file licence rows from a CSV with a ``file`` column (paths relative to the CSV's folder),
    e.g. the photo pool's ``MANIFEST.csv`` (``licence``, ``attribution``, ``source_repo``...)."""
    base = Path(csv_path).resolve().parent
    rows: dict[str, dict[str, str]] = {}
    with open(csv_path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            f = row.get("file")
            if f:
                rows[str((base / f).resolve())] = {k: v for k, v in row.items() if k != "file" and v}
    return rows


def build_database(
    paths: list[str],
    out: str | os.PathLike,
    encoder: str = "layout",
    encoder_kwargs: dict[str, Any] | None = None,
    workers: int = 1,
    ray: str | None = None,
    thumbnails: bool = False,
    source_root: str | os.PathLike | None = None,
    licences: dict[str, dict[str, str]] | None = None,
    chunk: int = 256,
    progress: Callable[[int, int], None] | None = None,
    must_exist: bool = False,
) -> BuildReport:
    """Encode ``paths`` into the database at ``out`` (created when missing unless ``must_exist``).

    Args:
        source_root: store sources relative to this folder (no absolute local paths in a DB you
            share).
        licences: from :func:`read_licences`, keyed by absolute path.
        progress: called with ``(done, total)``.
    """
    t0 = time.perf_counter()
    encoder_kwargs = encoder_kwargs or {}
    report = BuildReport(total=len(paths))
    out = Path(out)
    if must_exist:
        manifest = ReferenceDB.open(out).manifest  # raises DatabaseError when missing or corrupt
        encoder = manifest["encoder"]["name"]
        encoder_kwargs = {**manifest["encoder"].get("config", {}), **encoder_kwargs}
    task = EncodeTask(encoder, encoder_kwargs, thumbnails)
    encoder_info = task.encoder.describe()
    create_db(out, encoder_info)

    present = known_hashes(out)
    todo: list[tuple[str, str]] = []
    seen: set[str] = set()
    for p in paths:
        try:
            h = file_sha256(p)
        except OSError as exc:
            report.failed.append((p, f"cannot read: {exc.strerror or exc}"))
            continue
        if h in present:
            report.already_present += 1
        elif h in seen:
            report.duplicates += 1
        else:
            seen.add(h)
            todo.append((p, h))
    done = report.total - len(todo)
    if progress:
        progress(done, report.total)

    pending: list[NewItem] = []
    ready: dict[int, NewItem | None] = {}
    next_index = 0

    def flush() -> None:
        report.added += commit_items(out, encoder_info, pending)
        pending.clear()

    with make_executor(workers, ray) as ex:
        for outcome in ex.run(task, [p for p, _ in todo]):
            path, sha = todo[outcome.index]
            done += 1
            if outcome.ok:
                r = outcome.value
                assert r is not None
                meta: dict[str, Any] = dict(licences.get(str(Path(path).resolve()), {})) if licences else {}
                meta.update(
                    source=_source_name(path, source_root), sha256=sha, width=r["width"], height=r["height"]
                )
                ready[outcome.index] = NewItem(meta, r["vector"], r["tokens"], r["thumbnail"])
            else:
                ready[outcome.index] = None
                report.failed.append((path, outcome.error or "unknown error"))
            # commit in input order, whatever order the workers finish in, so that a database
            # does not depend on the number of workers
            while next_index in ready:
                item = ready.pop(next_index)
                next_index += 1
                if item is not None:
                    pending.append(item)
                if len(pending) >= chunk:
                    flush()
            if progress:
                progress(done, report.total)
    flush()
    calibrate(out)
    write_attribution(out)
    report.seconds = time.perf_counter() - t0
    return report


def _source_name(path: str, root: str | os.PathLike | None) -> str:
    if root is None:
        return str(path)
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def calibrate(root: str | os.PathLike, sample: int = 400, seed: int = 0) -> dict[str, float]:
    """Similarity statistics of the database, stored in its manifest.

    ``grid_random``: median layout similarity of random pairs; ``grid_neighbour``: median layout
    similarity of each item to its nearest neighbour by vector. The retrieval term maps a crop's
    similarity to its references linearly from the first (0) to the second (1).
    """
    db = ReferenceDB.open(root)
    n = len(db)
    if n < 3:
        return {}
    cls = encoder_class(db.encoder_info["name"])
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, min(sample, n), replace=False))
    grids = cls.grid_from_tokens(db.tokens[idx])
    sims = grid_similarity(grids, grids, cls.grid_weights)
    np.fill_diagonal(sims, np.nan)
    vs = db.vectors[idx] @ db.vectors.T
    vs[np.arange(len(idx)), idx] = -np.inf
    nn = np.argmax(vs, axis=1)
    nn_grids = cls.grid_from_tokens(db.tokens[nn])
    nn_sims = [float(grid_similarity(grids[i : i + 1], nn_grids[i : i + 1], cls.grid_weights)[0, 0]) for i in range(len(idx))]
    cal = {
        "grid_random": float(np.nanmedian(sims)),
        "grid_neighbour": float(np.median(nn_sims)),
        "vector_neighbour": float(np.median(vs.max(axis=1))),
        "sample": int(len(idx)),
    }
    set_calibration(root, cal)
    return cal


def write_attribution(root: str | os.PathLike) -> Path | None:
    """Write ``ATTRIBUTION.md`` listing every item's source, licence and attribution (when the
    items carry licence information); returns its path."""
    db = ReferenceDB.open(root)
    if not any(it.get("licence") for it in db.items):
        return None
    from ..files import atomic_write_text

    lines = [
        "# Attribution",
        "",
        f"This reference database holds derived data only (composition vectors and tokens, "
        f"{db.encoder_info['name']} encoder {db.encoder_info['version']}) of {len(db)} photographs; "
        "no photo is included. Sources and licences:",
        "",
        "| # | source | licence | attribution | upstream |",
        "|---:|---|---|---|---|",
    ]

    def cell(v: Any) -> str:
        return str(v or "").replace("|", "\\|").replace("\n", " ")

    for it in db.items:
        upstream = " @ ".join(x for x in (it.get("source_repo", ""), it.get("commit", "")[:10]) if x)
        if it.get("source_path"):
            upstream += f" : {it['source_path']}"
        lines.append(
            f"| {it.get('id')} | {cell(it.get('source'))} | {cell(it.get('licence'))} | "
            f"{cell(it.get('attribution'))} | {cell(upstream)} |"
        )
    path = Path(root) / "ATTRIBUTION.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
