"""The reference database on disk: versioned, append-only shards, atomic commits, checked loads.

Layout of a database folder ``DB/``::

    DB/manifest.json          the commit point (see below)
    DB/shard-<hash>.npz       vectors (n, D) float32, tokens (n, T, F) float16,
                              thumbnails as one uint8 buffer + offsets (optional)
    DB/shard-<hash>.jsonl     one JSON object per item: id, source, sha256, licence,
                              attribution, width, height
    DB/.lock                  advisory lock taken while committing
    DB/.verified.json         stamps of the shard files last hashed (:mod:`.integrity`; local; the
                              bundled references' in the user's cache)
    DB/index-*.faiss          approximate-search index (rebuilt when stale; built with the
                              database by ``procrop index build --index``)

``manifest.json``::

    {"schema": "procrop-refdb", "version": 1,
     "encoder": {"name", "version", "dim", "token_shape", "config"},
     "count": N, "shards": [{"name", "count", "sha256", "meta_sha256", "bytes", "meta_bytes"}, ...],
     "created", "updated", "procrop_version", "calibration": {...},
     "index": "compressed"}       (optional: the search index chosen at build time)

A shard is written completely (temporary files renamed into place) *before* the manifest that
lists it; the manifest is replaced atomically under an exclusive lock after re-reading it, so
concurrent writers never lose each other's shards and a killed writer leaves at most an unlisted
shard, which is ignored, and temporaries, which the next writer removes. Items are unique by
content hash (sha256 of the file): a writer drops items another commit added meanwhile. Loading
verifies the schema version, the encoder and every shard's checksum and shapes, and names the file
and the problem when something is off; on open a shard's data file is hashed only when its stamp
(size, times, inode: :mod:`.integrity`) shows it changed since it was last hashed, and ``procrop
index verify`` hashes everything.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..files import atomic_write_bytes, atomic_write_text
from .integrity import DatabaseError, Stamps, check_bytes, check_file, file_sha256, level  # noqa: F401 (re-exported)

SCHEMA = "procrop-refdb"
SCHEMA_VERSION = 1

#: Above this many items :meth:`ReferenceDB.open` leaves vectors and tokens in the shard files.
LAZY_LIMIT = 50_000


@dataclass
class NewItem:
    """An encoded photo waiting to be committed."""

    meta: dict[str, Any]
    vector: np.ndarray
    tokens: np.ndarray
    thumbnail: bytes | None = None


@dataclass
class ReferenceDB:
    """A loaded reference database.

    Attributes:
        path: the folder.
        manifest: the parsed manifest.
        vectors: ``(N, D)`` float32, L2-normalised.
        tokens: ``(N, T, F)`` float16.
            (Opened ``lazy``, both are :class:`~.rows.ShardedRows`: ``[ids]``, ``[a:b]`` and
            ``np.asarray`` read the rows from the shard files; no ``.T`` or ``@``: use
            :meth:`similarities` or :func:`~.rows.row_blocks`, which work either way.)
        items: per-item metadata, aligned with ``vectors``.
        thumbnails: JPEG bytes per item, or ``None`` where not stored.
        composition: for a database held in memory only (:mod:`.memory`), the composition
            statistics by content hash (on disk they live in ``composition.json``); else ``None``.
    """

    path: Path
    manifest: dict[str, Any]
    vectors: np.ndarray
    tokens: np.ndarray
    items: list[dict[str, Any]]
    thumbnails: list[bytes | None] = field(default_factory=list)
    composition: dict[str, dict[str, float]] | None = None

    def __len__(self) -> int:
        return len(self.items)

    @property
    def encoder_info(self) -> dict[str, Any]:
        return self.manifest["encoder"]

    @property
    def hashes(self) -> set[str]:
        return {it["sha256"] for it in self.items if it.get("sha256")}

    def similarities(self, queries: np.ndarray) -> np.ndarray:
        """``(Q, N)`` inner products of ``queries (Q, D)`` with every vector, in memory or lazy alike."""
        from .rows import similarities

        return similarities(self.vectors, queries)

    @property
    def fingerprint(self) -> str:
        """Changes whenever the content changes (used to invalidate cached indexes)."""
        h = hashlib.sha256()
        for s in self.manifest["shards"]:
            h.update(s["sha256"].encode())
        return h.hexdigest()[:16]

    # ---- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: str | os.PathLike, expect_encoder: str | None = None, lazy: bool | None = None,
        verify: bool | str = True,
    ) -> ReferenceDB:
        """Load and verify a database.

        Args:
            path: the database folder.
            expect_encoder: raise unless the database was built with this encoder.
            lazy: leave vectors and tokens in the shard files (:class:`~.rows.ShardedRows`: rows are
                read when asked for) instead of loading them; default: when the database holds more
                than :data:`LAZY_LIMIT` items.
            verify: ``True`` or ``"quick"``: check every shard file's size and headers, hash the
                item files, and hash a data file only when its stamp (:mod:`.integrity`) shows it
                changed since it was last hashed; ``"full"``: hash every file (``procrop index
                verify``); ``False``: no checksums.

        Raises:
            DatabaseError: missing folder or manifest, unknown schema version, another encoder
                than ``expect_encoder``, a missing or corrupt shard.
        """
        root = Path(path)
        manifest = read_manifest(root)
        enc = manifest["encoder"]
        if expect_encoder is not None and enc["name"] != expect_encoder:
            raise DatabaseError(
                f"{root}: built with the {enc['name']!r} encoder, not {expect_encoder!r} (build one with "
                f"'procrop index build PHOTOS --out DB --encoder {expect_encoder}')"
            )
        dim = int(enc["dim"])
        tshape = tuple(int(v) for v in enc["token_shape"])
        if lazy is None:
            lazy = int(manifest["count"]) > LAZY_LIMIT
        vectors, tokens, items, thumbs = [], [], [], []
        how, stamps = level(verify), Stamps(root)
        for shard in manifest["shards"]:
            v, t, meta, th = _read_shard(root, shard, dim, tshape, lazy, how, stamps)
            vectors.append(v)
            tokens.append(t)
            items.extend(meta)
            thumbs.extend(th)
        stamps.save()
        if len(items) != manifest["count"]:
            raise DatabaseError(
                f"{root / 'manifest.json'}: count {manifest['count']} but shards hold {len(items)} items"
            )
        if lazy:
            from .rows import ShardedRows

            return cls(root, manifest, ShardedRows(vectors, np.dtype(np.float32), (dim,)),
                       ShardedRows(tokens, np.dtype(np.float16), tshape), items, thumbs)
        return cls(root, manifest, np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32),
                   np.concatenate(tokens) if tokens else np.zeros((0, *tshape), np.float16), items, thumbs)

    @staticmethod
    def exists(path: str | os.PathLike) -> bool:
        return (Path(path) / "manifest.json").exists()


def read_manifest(root: Path) -> dict[str, Any]:
    mpath = root / "manifest.json"
    if not root.exists():
        raise DatabaseError(f"{root}: no such reference database")
    if not mpath.exists():
        raise DatabaseError(f"{root}: not a reference database (no manifest.json)")
    try:
        manifest = json.loads(mpath.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise DatabaseError(f"{mpath}: unreadable or corrupt manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise DatabaseError(f"{mpath}: not a procrop reference-database manifest")
    if manifest.get("version") != SCHEMA_VERSION:
        raise DatabaseError(
            f"{mpath}: schema version {manifest.get('version')} is not supported "
            f"(this procrop reads version {SCHEMA_VERSION})"
        )
    for key in ("encoder", "count", "shards"):
        if key not in manifest:
            raise DatabaseError(f"{mpath}: manifest lacks {key!r}")
    return manifest


def _read_shard(
    root: Path, shard: dict[str, Any], dim: int, tshape: tuple[int, ...], lazy: bool = False, how: str = "quick",
    stamps: Stamps | None = None,
) -> tuple[Any, Any, list[dict[str, Any]], list[bytes | None]]:
    """One shard's vectors, tokens, items and thumbnails, checked as ``how`` says (:mod:`.integrity`);
    with ``lazy`` the vectors and tokens are ``(path, data offset, rows)`` of their arrays in the
    file (for :class:`~.rows.ShardedRows`)."""
    npz_path = root / f"{shard['name']}.npz"
    meta_path = root / f"{shard['name']}.jsonl"
    check_file(npz_path, shard["sha256"], shard.get("bytes"), how, stamps)
    try:
        meta_bytes = meta_path.read_bytes()
    except OSError as exc:
        raise DatabaseError(f"{meta_path}: {'missing' if not meta_path.exists() else 'unreadable'} shard file") from exc
    check_bytes(meta_path, meta_bytes, shard["meta_sha256"], how)
    n = int(shard["count"])
    vectors: Any
    tokens: Any
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            thumb_buf = z["thumb_data"] if "thumb_data" in z else None
            thumb_off = z["thumb_offsets"] if "thumb_offsets" in z else None
            if lazy:  # the data stays in the file: where it lies there
                from .rows import npz_member

                (voff, vdt, vshape), (toff, tdt, tsh) = (npz_member(npz_path, k) for k in ("vectors", "tokens"))
                if vdt != np.float32 or tdt != np.float16:
                    raise ValueError(f"dtypes {vdt}/{tdt}, expected float32/float16")
                vectors, tokens = (npz_path, voff, n), (npz_path, toff, n)
                end = max(voff + n * dim * 4, toff + n * int(np.prod(tshape)) * 2)
                if npz_path.stat().st_size < end:
                    raise ValueError(f"truncated: {npz_path.stat().st_size} bytes, its arrays end at {end}")
            else:
                vectors, tokens = z["vectors"].astype(np.float32), z["tokens"]
                vshape, tsh = vectors.shape, tokens.shape
    except Exception as exc:
        raise DatabaseError(f"{npz_path}: cannot read shard: {exc}") from exc
    if vshape != (n, dim) or tsh != (n, *tshape):
        raise DatabaseError(
            f"{npz_path}: shapes {vshape}/{tsh} do not match the manifest ({n} x {dim}, tokens {tshape})"
        )
    lines = meta_bytes.decode("utf-8", "replace").splitlines()
    try:  # one parse per shard (a million items: seconds less than one per line)
        items = json.loads("[" + ",".join(lines) + "]")
    except ValueError:
        for lineno, line in enumerate(lines, 1):  # name the line
            try:
                json.loads(line)
            except ValueError as exc:
                raise DatabaseError(f"{meta_path}:{lineno}: invalid JSON: {exc}") from exc
        raise DatabaseError(f"{meta_path}: invalid JSON lines") from None
    if len(items) != n:
        raise DatabaseError(f"{meta_path}: {len(items)} items but the manifest says {n}")
    thumbs: list[bytes | None] = [None] * n
    if thumb_buf is not None and thumb_off is not None:
        for i in range(n):
            a, b = int(thumb_off[i]), int(thumb_off[i + 1])
            thumbs[i] = bytes(thumb_buf[a:b]) if b > a else None
    return vectors, tokens, items, thumbs


# ---- Writing -------------------------------------------------------------------------------


# temporaries of the files written only under the lock (``io.atomic_write`` names them ``.NAME.*.tmp``)
_LOCKED_TEMPORARIES = (".manifest.json.*.tmp", ".hashes.json.*.tmp", ".shard-*.tmp")
#: What a writer may leave in a database folder before the first manifest (a build started beside it).
OWN_ENTRIES = (".lock", "shard-*", "hashes.json", ".verified.json", "index-*", *_LOCKED_TEMPORARIES)


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``root/.lock`` (blocks until free).

    Whoever holds the lock is the only writer of the manifest, the hash cache and shards, so any
    temporary of those found on entry was left by a writer killed mid-write and is removed.
    """
    root.mkdir(parents=True, exist_ok=True)
    fh = open(root / ".lock", "a+")
    try:
        try:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - non-POSIX: best effort without a lock
            pass
        else:
            for pattern in _LOCKED_TEMPORARIES:
                for stale in root.glob(pattern):
                    with contextlib.suppress(FileNotFoundError):
                        stale.unlink()
        yield
    finally:
        fh.close()  # closing releases the lock


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def create_db(root: str | os.PathLike, encoder_info: dict[str, Any], exist_ok: bool = True) -> dict[str, Any]:
    """Create an empty database (or return the manifest of an existing one with the same encoder)."""
    root = Path(root)
    with locked(root):
        if (root / "manifest.json").exists():
            manifest = read_manifest(root)
            if not exist_ok:
                raise DatabaseError(f"{root}: a reference database exists already")
            _check_same_encoder(root, manifest["encoder"], encoder_info)
            return manifest
        manifest = {"schema": SCHEMA, "version": SCHEMA_VERSION, "encoder": encoder_info, "count": 0, "shards": [],
                    "created": _now(), "updated": _now(), "procrop_version": __version__, "calibration": {}}
        atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=1) + "\n")
        return manifest


def _check_same_encoder(root: Path, have: dict[str, Any], want: dict[str, Any]) -> None:
    for key in ("name", "version", "dim"):
        if have.get(key) != want.get(key):
            raise DatabaseError(
                f"{root}: built with encoder {have.get('name')} {have.get('version')} "
                f"(dim {have.get('dim')}), cannot add {want.get('name')} {want.get('version')} "
                f"(dim {want.get('dim')}) embeddings"
            )


def commit_items(root: str | os.PathLike, encoder_info: dict[str, Any], new: list[NewItem]) -> int:
    """Append items as one shard; returns how many were added (duplicates by sha256 are dropped).

    Safe against concurrent writers and crashes (see the module docstring).
    """
    root = Path(root)
    if not new:
        return 0
    with locked(root):
        manifest = read_manifest(root)
        _check_same_encoder(root, manifest["encoder"], encoder_info)
        known = _known_hashes(root, manifest)
        fresh: list[NewItem] = []
        for it in new:
            h = it.meta.get("sha256")
            if h and h in known:
                continue
            if h:
                known.add(h)
            fresh.append(it)
        if not fresh:
            return 0
        start = int(manifest["count"])
        for k, it in enumerate(fresh):
            it.meta["id"] = start + k
        shard = _write_shard(root, fresh)
        stamps, npz = Stamps(root), root / f"{shard['name']}.npz"
        stamps.record(npz, npz.stat(), shard["sha256"])  # just hashed in memory: the next open need not
        stamps.save()
        manifest["shards"].append(shard)
        manifest["count"] = start + len(fresh)
        manifest["updated"] = _now()
        manifest["procrop_version"] = __version__
        atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=1) + "\n")
        _write_hash_cache(root, manifest, known)
        return len(fresh)


def _write_shard(root: Path, items: list[NewItem]) -> dict[str, Any]:
    vectors = np.stack([it.vector for it in items]).astype(np.float32)
    tokens = np.stack([it.tokens for it in items]).astype(np.float16)
    arrays: dict[str, np.ndarray] = {"vectors": vectors, "tokens": tokens}
    if any(it.thumbnail for it in items):
        blobs = [it.thumbnail or b"" for it in items]
        offsets = np.zeros(len(blobs) + 1, np.int64)
        offsets[1:] = np.cumsum([len(b) for b in blobs])
        arrays["thumb_data"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        arrays["thumb_offsets"] = offsets
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    npz = buf.getvalue()
    meta = "".join(json.dumps(it.meta, sort_keys=True) + "\n" for it in items).encode("utf-8")
    digest = hashlib.sha256(npz + meta).hexdigest()[:16]
    name = f"shard-{digest}"
    atomic_write_bytes(root / f"{name}.npz", npz)
    atomic_write_bytes(root / f"{name}.jsonl", meta)
    return {
        "name": name,
        "count": len(items),
        "sha256": hashlib.sha256(npz).hexdigest(),
        "meta_sha256": hashlib.sha256(meta).hexdigest(),
        "bytes": len(npz),
        "meta_bytes": len(meta),
    }


def _known_hashes(root: Path, manifest: dict[str, Any]) -> set[str]:
    """Content hashes already in the database (cached in ``hashes.json`` per fingerprint)."""
    cache = root / "hashes.json"
    key = ",".join(s["sha256"] for s in manifest["shards"])
    try:
        data = json.loads(cache.read_text("utf-8"))
        if data.get("key") == hashlib.sha256(key.encode()).hexdigest():
            return set(data["hashes"])
    except (OSError, ValueError, KeyError):
        pass
    hashes: set[str] = set()
    for s in manifest["shards"]:
        for line in (root / f"{s['name']}.jsonl").read_text("utf-8").splitlines():
            h = json.loads(line).get("sha256")
            if h:
                hashes.add(h)
    return hashes


def _write_hash_cache(root: Path, manifest: dict[str, Any], hashes: set[str]) -> None:
    key = ",".join(s["sha256"] for s in manifest["shards"])
    atomic_write_text(
        root / "hashes.json",
        json.dumps({"key": hashlib.sha256(key.encode()).hexdigest(), "hashes": sorted(hashes)}),
    )


def known_hashes(root: str | os.PathLike) -> set[str]:
    """Content hashes of the items of an existing database (empty if there is none)."""
    root = Path(root)
    if not (root / "manifest.json").exists():
        return set()
    return _known_hashes(root, read_manifest(root))


def _set_manifest(root: str | os.PathLike, key: str, value: Any) -> None:
    """Set one manifest field (under the lock, re-reading the manifest first)."""
    root = Path(root)
    with locked(root):
        manifest = read_manifest(root)
        manifest[key] = value
        atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=1) + "\n")


def set_calibration(root: str | os.PathLike, calibration: dict[str, float]) -> None:
    """Store similarity statistics used by the retrieval term (under the lock)."""
    _set_manifest(root, "calibration", calibration)


def set_index_kind(root: str | os.PathLike, kind: str) -> None:
    """Record the search index the database is meant to be searched with (under the lock)."""
    _set_manifest(root, "index", kind)
