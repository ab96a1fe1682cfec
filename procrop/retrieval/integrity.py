"""Checking a reference database's shard files cheaply on every open, fully on demand.

Hashing every shard (sha256, what the manifest records) is the full check: a million references
are 13.5 GB, about a minute of reading. Opening a database therefore verifies a shard's data
file (``.npz``) by its **stamp** instead: when the file was last hashed and matched the manifest,
``.verified.json`` in the database folder recorded its size, modification and change times and
inode; as long as these are unchanged the file is the one that was hashed, and only its headers
and size are checked (a truncated file fails there). A file without a matching stamp (copied,
touched, rewritten, first opened on this machine) is hashed once and stamped. The small item files
(``.jsonl``) are read on every open anyway, so they are always hashed.

What the quick check cannot see is a file changed on disk without any of its stamp changing (bit
rot, a raw write to the device): ``procrop index verify DB`` (:func:`verify_files`) hashes every
file again and refreshes the stamps.

Light module (no OpenCV, no torch): imported by :mod:`.store`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ProcropError
from ..files import atomic_write_text

#: The stamps of the shard files last hashed, in the database folder (machine-local: not shared).
STAMPS = ".verified.json"
#: Verification levels of :meth:`~.store.ReferenceDB.open`.
LEVELS = ("none", "quick", "full")


class DatabaseError(ProcropError):
    """A reference database is missing, corrupt, or made with another encoder."""


def level(verify: bool | str) -> str:
    """``True`` -> ``"quick"``, ``False`` -> ``"none"``; a level name is returned as it is.

    Raises:
        ValueError: an unknown level.
    """
    if verify is True:
        return "quick"
    if verify is False:
        return "none"
    if verify not in LEVELS:
        raise ValueError(f"unknown verification {verify!r} (use {', '.join(LEVELS)})")
    return str(verify)


def file_sha256(path: str | os.PathLike, progress: Callable[[int], None] | None = None) -> str:
    """The sha256 of a file, streamed; ``progress`` gets the bytes read of each 1 MiB chunk."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            if progress:
                progress(len(chunk))
    return h.hexdigest()


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


#: The installed package's folder: a database inside it (the bundled references) keeps its stamps in
#: the user's cache instead, so nothing is written into site-packages (pip left such a file behind on
#: uninstall, and the folder it kept hid a later editable install: a new user's trial).
_PACKAGE = Path(__file__).resolve().parents[1]


def stamps_path(root: Path) -> Path:
    """Where the stamps of the database folder ``root`` live: ``root/.verified.json``, or for a
    database inside the installed package, ``$XDG_CACHE_HOME/procrop/verified/<folder's hash>.json``
    (``~/.cache`` without it)."""
    folder = Path(root).resolve()
    if folder != _PACKAGE and _PACKAGE not in folder.parents:
        return Path(root) / STAMPS
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "procrop" / "verified"
    return cache / f"{hashlib.sha256(str(folder).encode('utf-8')).hexdigest()[:16]}.json"


class Stamps:
    """The stamps of one database folder (read once; :meth:`save` writes them back if changed)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = stamps_path(root)
        self.changed = False
        try:
            data = json.loads(self.path.read_text("utf-8"))
            self.files: dict[str, Any] = data["files"] if data.get("version") == 1 else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.files = {}

    def matches(self, path: Path, st: os.stat_result, sha256: str) -> bool:
        """Whether ``path`` is, by its stamp, the file last hashed to ``sha256``."""
        rec = self.files.get(path.name)
        return isinstance(rec, dict) and rec.get("sha256") == sha256 and rec.get("stat") == _stamp(st)

    def record(self, path: Path, st: os.stat_result, sha256: str) -> None:
        self.files[path.name] = {"sha256": sha256, "stat": _stamp(st)}
        self.changed = True

    def save(self) -> None:
        """Write the stamps (best effort: a read-only database is hashed on every open instead)."""
        if not self.changed:
            return
        names = {p.name for p in self.root.glob("shard-*")}
        files = {k: v for k, v in sorted(self.files.items()) if k in names}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps({"version": 1, "files": files}) + "\n")
        except OSError:
            pass
        self.changed = False


def check_file(path: Path, sha256: str, size: int | None, how: str, stamps: Stamps | None = None,
               progress: Callable[[int], None] | None = None) -> None:
    """Check one shard file against the manifest: present, of the recorded ``size`` (when the
    manifest has it), and, by ``how``: ``"full"`` hashed; ``"quick"`` hashed unless its stamp
    matches; ``"none"`` not hashed.

    Raises:
        DatabaseError: one line naming the file and the problem.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DatabaseError(f"{path}: missing shard file") from None
    except OSError as exc:
        raise DatabaseError(f"{path}: unreadable shard file ({exc.strerror or exc})") from None
    if size is not None and st.st_size != size:
        what = "truncated" if st.st_size < size else "longer than recorded"
        raise DatabaseError(f"{path}: {what} shard file ({st.st_size} bytes, the manifest says {size})")
    if how == "none" or (how == "quick" and stamps is not None and stamps.matches(path, st, sha256)):
        return
    try:
        digest = file_sha256(path, progress)
    except OSError as exc:
        raise DatabaseError(f"{path}: unreadable shard file ({exc.strerror or exc})") from None
    if digest != sha256:
        raise DatabaseError(f"{path}: checksum mismatch (the file is corrupt or was modified)")
    if stamps is not None and path.stat().st_mtime_ns == st.st_mtime_ns:  # not rewritten while hashed
        stamps.record(path, st, sha256)


def check_bytes(path: Path, data: bytes, sha256: str, how: str) -> None:
    """Check a file already read whole (an item file) against its checksum, unless ``how`` is ``"none"``.

    Raises:
        DatabaseError: naming the file.
    """
    if how != "none" and hashlib.sha256(data).hexdigest() != sha256:
        raise DatabaseError(f"{path}: checksum mismatch (the file is corrupt or was modified)")


def verify_files(root: str | os.PathLike, manifest: dict[str, Any],
                 progress: Callable[[int, int], None] | None = None) -> int:
    """Hash every shard file the manifest lists (the full check of ``procrop index verify``) and
    refresh the stamps; ``progress`` gets ``(files hashed, files)``. Returns the bytes hashed.

    Raises:
        DatabaseError: at the first missing, truncated or corrupt file.
    """
    root = Path(root)
    files = []
    for s in manifest["shards"]:
        files.append((root / f"{s['name']}.npz", s["sha256"], s.get("bytes")))
        files.append((root / f"{s['name']}.jsonl", s["meta_sha256"], s.get("meta_bytes")))
    stamps, hashed = Stamps(root), 0

    def count(n: int) -> None:
        nonlocal hashed
        hashed += n

    for done, (p, sha, size) in enumerate(files, 1):
        check_file(p, sha, size, "full", stamps if p.suffix == ".npz" else None, count)
        if progress:
            progress(done, len(files))
    stamps.save()
    return hashed
