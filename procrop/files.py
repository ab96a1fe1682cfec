"""Atomic file writes: data lands in a temporary file beside the target and is renamed over it
only when complete, so no reader ever sees a half-written file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from fnmatch import fnmatchcase
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it over ``path`` only if the block succeeds.

    Readers never see a partial file, and a crash leaves at most a hidden ``.tmp`` file that the
    next run overwrites or ignores.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp creates 0600; results are ordinary shared files
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)


def foreign_folder(folder: str | os.PathLike, marker: str, own: tuple[str, ...] = ()) -> bool:
    """Whether ``folder`` exists holding something a run of ours did not write there: it is not
    empty, has no ``marker`` file (what such a run writes first) and holds more than the ``own``
    entries a run may leave before its marker (names, or ``fnmatch`` patterns: ``"shard-*"``). A run
    refuses to write into it (a data set written into a reference database, a database into a
    folder of the user's photos)."""
    root = Path(folder)
    if not root.is_dir() or (root / marker).exists():
        return False
    return any(not any(fnmatchcase(entry.name, name) for name in own) for entry in root.iterdir())
