"""Building and extending a reference database from photo files (``procrop index build/add``).

Owns encoding photos into a database (:func:`build_database`, :func:`build_from_options` with
:class:`BuildOptions`) and its calibration (:func:`calibrate`); licence rows and ``ATTRIBUTION.md``
are :mod:`.licences`'. The on-disk format is :mod:`.store`'s.

Photos are hashed (sha256 of the file) and skipped when the database already holds the same
content, so a re-run after a crash resumes where the last committed shard ended, and adding a
folder twice adds nothing. Encoding runs through :mod:`procrop.executor` (``workers``, Ray);
results are committed every ``chunk`` photos as one shard. Unreadable files are listed, not fatal.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from ..executor import make_executor
from ..verdict import SMALL_PHOTO_SIDE
from .encoders.registry import Encoder, create_encoder, encoder_class, grid_similarity
from .licences import licence_for, read_licences, write_attribution  # noqa: F401 (re-exported)
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
    #: ``(path, width, height)`` of the photos added that are too small to measure (under
    #: :data:`procrop.verdict.SMALL_PHOTO_SIDE` on their short side)
    small: list[tuple[str, int, int]] = field(default_factory=list)


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


@dataclass
class BuildOptions:
    """How :func:`build_from_options` encodes and stores photos.

    Attributes:
        encoder: registered encoder name; ignored with ``must_exist`` (the database's own).
        encoder_kwargs: keyword arguments of the encoder (with ``must_exist``: override the
            database's stored configuration).
        workers: encoding processes (:mod:`procrop.executor`).
        ray: a Ray address, to encode on a Ray cluster instead.
        thumbnails: store a JPEG thumbnail of every photo.
        source_root: store sources relative to this folder (no absolute local paths in a DB you
            share).
        licences: from :func:`read_licences` (matched by path, else by content: :func:`licence_for`).
        chunk: photos per committed shard.
        must_exist: add to an existing database (raise :class:`DatabaseError` when missing)
            instead of creating one.
        index: the search index stored with the database (:func:`build_index`): ``"auto"`` by
            size, or a kind to record (``"compressed"`` for databases too large for memory).
        composition: measure each photo's composition (subject, fill, horizon, space) into the
            database's ``composition.json`` (:mod:`.composition`), which steers the learned
            scorer's style term; photos already measured are skipped, so adding the same photos
            to an older database measures them.
        analyze: the analysis the statistics come from; give the cropper's (``Cropper().analyze``,
            as ``procrop index build`` does) so that they are measured as the cropper measures its
            crops (default: :class:`~procrop.perception.analyzer.Analyzer`, without the learned
            scorer's salient-object head).
    """

    encoder: str = "mobilenet"
    encoder_kwargs: dict[str, Any] = field(default_factory=dict)
    workers: int = 1
    ray: str | None = None
    thumbnails: bool = False
    source_root: str | os.PathLike | None = None
    licences: dict[str, dict[str, str]] | None = None
    chunk: int = 256
    must_exist: bool = False
    composition: bool = True
    analyze: Callable[[str], Any] | None = None
    index: str = "auto"


def build_database(
    paths: list[str],
    out: str | os.PathLike,
    encoder: str = "mobilenet",
    encoder_kwargs: dict[str, Any] | None = None,
    workers: int = 1,
    ray: str | None = None,
    thumbnails: bool = False,
    source_root: str | os.PathLike | None = None,
    licences: dict[str, dict[str, str]] | None = None,
    chunk: int = 256,
    progress: Callable[[int, int], None] | None = None,
    must_exist: bool = False,
    composition: bool = True,
    analyze: Callable[[str], Any] | None = None,
    index: str = "auto",
    stage: Callable[[str], None] | None = None,
) -> BuildReport:
    """Encode ``paths`` into the database at ``out`` (created when missing unless ``must_exist``).

    The keyword form of :func:`build_from_options` (see :class:`BuildOptions` for the arguments;
    the default ``mobilenet`` encoder makes a database the learned scorer reads); ``progress``
    is called with ``(photos done, photos)``, ``stage`` with the name of each step.
    """
    options = BuildOptions(
        encoder=encoder,
        encoder_kwargs=dict(encoder_kwargs or {}),
        workers=workers,
        ray=ray,
        thumbnails=thumbnails,
        source_root=source_root,
        licences=licences,
        chunk=chunk,
        must_exist=must_exist,
        composition=composition,
        analyze=analyze,
        index=index,
    )
    return build_from_options(paths, out, options, progress, stage)


def build_from_options(
    paths: list[str],
    out: str | os.PathLike,
    options: BuildOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    stage: Callable[[str], None] | None = None,
) -> BuildReport:
    """Encode ``paths`` into the database at ``out``, then calibrate it and write its attribution.

    Photos already in the database (same file content) and duplicates within ``paths`` are
    skipped; unreadable files are listed in the report. ``progress`` is called with ``(photos
    done, photos given)``: a photo is done once encoded and, with ``options.composition``, measured
    (each as it is encoded; photos a killed build encoded but did not measure are measured first),
    so a resumed build starts where the last one stopped. ``stage`` is called with ``"encoding"``,
    ``"measuring"``, ``"calibrating"`` and ``"indexing"`` as the build reaches each step.
    """
    t0 = time.perf_counter()
    options = options or BuildOptions()
    report = BuildReport(total=len(paths))
    out = Path(out)
    task = _encode_task(out, options)
    encoder_info = task.encoder.describe()
    create_db(out, encoder_info)
    todo, present = _plan(paths, known_hashes(out), report)
    recorder = None
    if options.composition:
        from .composition import CompositionRecorder

        recorder = CompositionRecorder(out, options.analyze)
        present = [(p, sha) for p, sha in present if not recorder.has(sha)]  # encoded, not measured
    else:
        present = []
    done = report.total - len(todo) - len(present)

    def step(path: str, sha: str | None) -> None:  # one photo done (measured when it was encoded)
        nonlocal done
        problem = recorder.measure(path, sha) if recorder is not None and sha else None
        if problem:
            report.failed.append((path, problem))
        done += 1
        if progress:
            progress(done, report.total)

    if progress:
        progress(done, report.total)
    if present and stage:
        stage("measuring")
    for path, sha in present:
        step(path, sha)
    if stage:
        stage("encoding")
    committer = _InOrderCommitter(out, encoder_info, options.chunk, report)
    with make_executor(options.workers, options.ray) as ex:
        for outcome in ex.run(task, [p for p, _ in todo]):
            path, sha = todo[outcome.index]
            if outcome.ok:
                assert outcome.value is not None
                committer.add(outcome.index, _new_item(path, sha, outcome.value, options))
                w, h = outcome.value["width"], outcome.value["height"]
                if min(w, h) < SMALL_PHOTO_SIDE:
                    report.small.append((path, w, h))
            else:
                committer.add(outcome.index, None)
                report.failed.append((path, outcome.error or "unknown error"))
            step(path, sha if outcome.ok else None)
    committer.flush()
    if recorder is not None:
        recorder.flush()
    for name, run in (("calibrating", lambda: (calibrate(out), write_attribution(out))),
                      ("indexing", lambda: build_index(out, options.index))):
        if stage:
            stage(name)
        run()
    report.seconds = time.perf_counter() - t0
    return report


def _encode_task(out: Path, options: BuildOptions) -> EncodeTask:
    """The encoding task: the options' encoder, or the existing database's with ``must_exist``."""
    encoder, encoder_kwargs = options.encoder, dict(options.encoder_kwargs)
    if options.must_exist:
        manifest = ReferenceDB.open(out).manifest  # raises DatabaseError when missing or corrupt
        encoder = manifest["encoder"]["name"]
        encoder_kwargs = {**manifest["encoder"].get("config", {}), **encoder_kwargs}
    return EncodeTask(encoder, encoder_kwargs, options.thumbnails)


def _plan(paths: list[str], present: set[str],
          report: BuildReport) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(path, sha256)`` of the photos to encode (readable, not in the database, first of their
    content) and of those in the database already (first of their content); counts the others in
    ``report``."""
    todo: list[tuple[str, str]] = []
    there: list[tuple[str, str]] = []
    seen: set[str] = set()
    for p in paths:
        try:
            h = file_sha256(p)
        except OSError as exc:
            report.failed.append((p, f"cannot read: {exc.strerror or exc}"))
            continue
        if h in present:
            report.already_present += 1
            if h not in seen:
                seen.add(h)
                there.append((p, h))
        elif h in seen:
            report.duplicates += 1
        else:
            seen.add(h)
            todo.append((p, h))
    return todo, there


def _new_item(path: str, sha: str, encoded: dict[str, Any], options: BuildOptions) -> NewItem:
    """A database item from one :class:`EncodeTask` result, with its licence row when known."""
    meta: dict[str, Any] = licence_for(options.licences, path, sha)
    meta.update(
        source=_source_name(path, options.source_root), sha256=sha, width=encoded["width"], height=encoded["height"]
    )
    return NewItem(meta, encoded["vector"], encoded["tokens"], encoded["thumbnail"])


class _InOrderCommitter:
    """Commits items in input order, whatever order the workers finish in (so a database does not
    depend on the number of workers), one shard every ``chunk`` items."""

    def __init__(self, out: Path, encoder_info: dict[str, Any], chunk: int, report: BuildReport) -> None:
        self.out = out
        self.encoder_info = encoder_info
        self.chunk = chunk
        self.report = report
        self.pending: list[NewItem] = []
        self.ready: dict[int, NewItem | None] = {}
        self.next_index = 0

    def add(self, index: int, item: NewItem | None) -> None:
        """Item number ``index`` of the input (``None``: it failed)."""
        self.ready[index] = item
        while self.next_index in self.ready:
            item = self.ready.pop(self.next_index)
            self.next_index += 1
            if item is not None:
                self.pending.append(item)
            if len(self.pending) >= self.chunk:
                self.flush()

    def flush(self) -> None:
        """Commit the pending items as one shard."""
        self.report.added += commit_items(self.out, self.encoder_info, self.pending)
        self.pending.clear()


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
    sample = np.asarray(db.vectors[idx], np.float32)
    best, nn = np.full(len(idx), -np.inf, np.float32), np.zeros(len(idx), np.int64)
    for a in range(0, n, 65536):  # in blocks: a lazily opened database is never read whole
        vs = sample @ np.asarray(db.vectors[a : min(n, a + 65536)], np.float32).T
        own = (idx >= a) & (idx < a + vs.shape[1])
        vs[np.nonzero(own)[0], idx[own] - a] = -np.inf
        j = np.argmax(vs, axis=1)
        better = vs[np.arange(len(idx)), j] > best
        best[better], nn[better] = vs[np.arange(len(idx)), j][better], j[better] + a
    nn_grids = cls.grid_from_tokens(db.tokens[nn])
    nn_sims = [float(grid_similarity(grids[i : i + 1], nn_grids[i : i + 1], cls.grid_weights)[0, 0]) for i in range(len(idx))]
    cal = {
        "grid_random": float(np.nanmedian(sims)),
        "grid_neighbour": float(np.median(nn_sims)),
        "vector_neighbour": float(np.median(best)),
        "sample": int(len(idx)),
    }
    set_calibration(root, cal)
    return cal


def build_index(root: str | os.PathLike, kind: str = "auto",
                progress: Callable[[int, int], None] | None = None) -> str:
    """Build the database's search index once, stored next to its shards (``index-<kind>-*.faiss``,
    older versions removed), so that loading it does not rebuild it; returns the kind.

    ``kind``: ``"auto"`` (the database's recorded kind, else by size:
    :func:`~.search.auto_kind`) or a kind of :func:`~.search.make_index`, then recorded in the
    manifest so that retrieval with ``index="auto"`` uses it. Exact search stores nothing.
    """
    from .search import KINDS, auto_kind, index_path, make_index
    from .store import set_index_kind

    if kind not in KINDS:
        raise UsageError(f"unknown index kind {kind!r} (use {', '.join(KINDS)})")
    db = ReferenceDB.open(root, verify=False)
    if kind != "auto" and db.manifest.get("index") != kind:
        set_index_kind(root, kind)
    kind = kind if kind != "auto" else db.manifest.get("index") or auto_kind(len(db))
    if kind == "exact" or not len(db):
        return kind
    keep = index_path(root, kind, db.fingerprint)
    for old in Path(root).glob(f"index-{kind}-*.faiss"):
        if old != keep:
            old.unlink(missing_ok=True)
    make_index(db.vectors, kind, cache_dir=root, fingerprint=db.fingerprint, progress=progress)
    return kind
