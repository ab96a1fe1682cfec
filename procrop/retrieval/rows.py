"""Rows of a large reference database read from its shard files on demand, never all in memory.

A shard (``shard-<hash>.npz``, written by :mod:`.store` with ``np.savez``) is an uncompressed zip
of ``.npy`` members, so every member's array sits at a fixed byte offset of the file
(:func:`npz_member`). :class:`ShardedRows` stacks one member (``vectors`` or ``tokens``) of every
shard into one virtual ``(N, ...)`` array: ``rows[ids]`` reads just those rows with ``os.pread``
(a few kilobytes per row; nothing is memory-mapped, so the process's resident memory does not
grow with the rows a long-running server has touched), ``rows[a:b]`` reads a contiguous block,
and ``np.asarray(rows)`` reads everything (what small databases do anyway).

Code that must work with a database of any size reads rows with ``rows[ids]`` / ``rows[a:b]``
and streams whole-database work with :func:`row_blocks` or :func:`similarities` (what
:meth:`~.store.ReferenceDB.similarities` runs), which accept an in-memory array as well; matrix
operations (``.T``, ``@``) are not offered, as they would read every row at once.
"""

from __future__ import annotations

import os
import struct
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

#: Shard files a :class:`ShardedRows` keeps open at most.
MAX_OPEN = 256
#: Byte size of a zip local file header before its name and extra field.
_LOCAL_HEADER = 30


def npz_member(path: str | os.PathLike, name: str) -> tuple[int, np.dtype, tuple[int, ...]]:
    """``(byte offset of the array data, dtype, shape)`` of member ``name`` (e.g. ``"vectors"``)
    of an uncompressed ``.npz`` file.

    Raises:
        ValueError: the member is missing, compressed, or not a C-ordered ``.npy`` array.
    """
    with zipfile.ZipFile(path) as zf:
        try:
            info = zf.getinfo(f"{name}.npy")
        except KeyError:
            raise ValueError(f"no {name!r} array") from None
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"the {name!r} array is compressed (cannot be read in place)")
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        head = fh.read(_LOCAL_HEADER)
        if len(head) != _LOCAL_HEADER or head[:4] != b"PK\x03\x04":
            raise ValueError(f"bad zip header of the {name!r} array")
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        fh.seek(info.header_offset + _LOCAL_HEADER + name_len + extra_len)
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        if fortran or dtype.hasobject:
            raise ValueError(f"the {name!r} array is not a plain C-ordered array")
        return fh.tell(), np.dtype(dtype), tuple(int(s) for s in shape)


class ShardedRows:
    """One array member of several shard files, seen as one ``(N, *row_shape)`` array.

    Args:
        parts: ``(path, data offset, rows)`` per shard, in database order (from :func:`npz_member`).
        dtype: the stored dtype; ``row_shape``: the shape of one row.
        out_dtype: the dtype rows are returned in (default: ``dtype``).
    """

    def __init__(self, parts: list[tuple[Path, int, int]], dtype: np.dtype, row_shape: tuple[int, ...],
                 out_dtype: Any = None) -> None:
        self.parts = parts
        self.stored_dtype = np.dtype(dtype)
        self.dtype = np.dtype(out_dtype or dtype)
        self.row_shape = tuple(row_shape)
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.stored_dtype.itemsize
        self.starts = np.concatenate([[0], np.cumsum([n for _, _, n in parts])]).astype(np.int64)
        self._offsets = np.asarray([off for _, off, _ in parts] + [0], np.int64)
        self._fds: dict[int, int] = {}
        self._lock = threading.Lock()

    @property
    def shape(self) -> tuple[int, ...]:
        return (int(self.starts[-1]), *self.row_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    @property
    def nbytes(self) -> int:
        """Bytes the whole array would take in memory (in ``dtype``)."""
        return self.shape[0] * int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __repr__(self) -> str:
        return f"ShardedRows(shape={self.shape}, dtype={self.dtype}, shards={len(self.parts)})"

    def _fd(self, shard: int) -> int:
        """The open file of shard ``shard`` (call with the lock held: no other reader is using a
        file while the cache of open files is emptied)."""
        fd = self._fds.get(shard)
        if fd is None:
            if len(self._fds) >= MAX_OPEN:  # bound the open files of databases with many shards
                self.close()
            fd = self._fds[shard] = os.open(self.parts[shard][0], os.O_RDONLY)
        return fd

    def close(self) -> None:
        """Close the shard files (they are reopened when needed; not while another thread reads)."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def _block(self, a: int, b: int) -> np.ndarray:
        """Rows ``a:b`` (``0 <= a <= b <= N``), read shard by shard."""
        out = np.empty((b - a, *self.row_shape), self.dtype)
        pos = a
        while pos < b:
            s = int(np.searchsorted(self.starts, pos, side="right")) - 1
            end = min(b, int(self.starts[s + 1]))
            path, offset, _ = self.parts[s]
            count = (end - pos) * self.row_bytes
            with self._lock:
                buf = os.pread(self._fd(s), count, offset + (pos - int(self.starts[s])) * self.row_bytes)
            if len(buf) != count:
                raise OSError(f"{path}: truncated shard file")
            out[pos - a : end - a] = np.frombuffer(buf, self.stored_dtype).reshape(end - pos, *self.row_shape)
            pos = end
        return out

    def take(self, ids: np.ndarray) -> np.ndarray:
        """Rows ``ids`` (any integer array, repeats allowed; negative ids count from the end)."""
        ids = np.asarray(ids, dtype=np.int64)
        flat = ids.reshape(-1)
        n = len(self)
        flat = np.where(flat < 0, flat + n, flat)
        if flat.size and (flat.min() < 0 or flat.max() >= n):
            raise IndexError(f"row index out of range for {n} rows")
        shards = np.searchsorted(self.starts, flat, side="right") - 1
        offsets = (self._offsets[shards] + (flat - self.starts[shards]) * self.row_bytes).tolist()
        rb, pread = self.row_bytes, os.pread
        with self._lock:  # the reads hold the lock: no file is closed under them
            bufs = [pread(self._fd(s), rb, off) for s, off in zip(shards.tolist(), offsets)]
        data = b"".join(bufs)
        if len(data) != rb * flat.size:
            raise OSError(f"{self.parts[0][0].parent}: truncated shard file")
        out = np.frombuffer(data, self.stored_dtype).reshape(flat.size, *self.row_shape).astype(self.dtype, copy=False)
        return out.reshape(*ids.shape, *self.row_shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self.take(np.asarray([key]))[0]
        if isinstance(key, slice):
            a, b, step = key.indices(len(self))
            if step == 1:
                return self._block(a, max(a, b))
            return self.take(np.arange(a, b, step))
        return self.take(np.asarray(key))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self._block(0, len(self))
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def blocks(self, size: int = 65536):
        """``(start, rows)`` blocks of at most ``size`` rows, in order (to stream a large database)."""
        for a in range(0, len(self), size):
            yield a, self._block(a, min(len(self), a + size))


def row_blocks(rows: Any, size: int = 65536):  # noqa: ANN201 - an iterator of (int, ndarray)
    """``(start, rows[start:start + size])`` blocks of an array or :class:`ShardedRows`, in order."""
    if isinstance(rows, ShardedRows):
        yield from rows.blocks(size)
        return
    for a in range(0, len(rows), size):
        yield a, np.asarray(rows[a : a + size])


def similarities(rows: Any, queries: np.ndarray, block: int = 65536) -> np.ndarray:
    """``queries (Q, D) @ rows.T`` as ``(Q, N)`` float32, for an array or :class:`ShardedRows`
    (read ``block`` rows at a time: never the whole database at once)."""
    q = np.atleast_2d(np.asarray(queries, np.float32))
    out = np.empty((len(q), len(rows)), np.float32)
    for a, b in row_blocks(rows, block):
        out[:, a : a + len(b)] = q @ np.asarray(b, np.float32).T
    return out
