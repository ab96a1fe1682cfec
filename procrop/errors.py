"""Exceptions raised by procrop.

Every error that reaches a user names the file (or option) and the problem, so a batch run can
list what failed and why while the other inputs are still processed. All derive from
:class:`ProcropError` and are importable from ``procrop``: :class:`UsageError` (a bad option or
argument), :class:`ImageLoadError` (an input that cannot be read), :class:`ImageWriteError` (a crop
that cannot be written), :class:`ModelLoadError` (weights that cannot be loaded),
:class:`MissingExtraError` (an optional dependency to install) and ``DatabaseError`` (a reference
database that is missing or damaged; :mod:`procrop.retrieval.integrity`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path


def _rebuild_error(cls: type[BaseException], args: tuple, state: dict) -> BaseException:
    """Unpickle a :class:`ProcropError` without calling its ``__init__`` (see ``__reduce__``)."""
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class ProcropError(Exception):
    """Base class of every error procrop raises on purpose.

    Every subclass pickles, whatever its ``__init__`` takes, so an error raised in a worker process
    arrives whole in the parent (the default pickling calls ``cls(*args)``, which fails for a
    subclass whose constructor takes other arguments than its message, and a pool waiting for
    that result waits forever).
    """

    def __reduce__(self) -> tuple:
        return (_rebuild_error, (type(self), self.args, dict(self.__dict__)))


class ImageLoadError(ProcropError):
    """An input image could not be read: missing, empty, truncated, not an image, too large."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        where = self.path if self.path is not None else "<in-memory image>"
        super().__init__(f"{where}: {problem}")


class ImageWriteError(ProcropError):
    """A crop could not be encoded or written (the file named is left absent)."""

    def __init__(self, path: str | Path, problem: str | OSError) -> None:
        self.path = str(path)
        self.problem = problem if isinstance(problem, str) else os_problem(problem)
        super().__init__(f"{self.path}: cannot write: {self.problem}")


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """An ``OSError`` while writing ``path`` as one :class:`ImageWriteError` (no temporary name, no errno)."""
    try:
        yield
    except OSError as exc:
        raise ImageWriteError(path, exc) from exc


def os_problem(exc: OSError) -> str:
    """An operating-system error in words, without the temporary file names or errno it carries."""
    if isinstance(exc, IsADirectoryError):
        return "a folder is in the way"
    return exc.strerror.lower() if exc.strerror else str(exc)


class UsageError(ProcropError):
    """A caller passed an invalid option (a bad ratio, a negative top-k, ...)."""


class MissingExtraError(ProcropError, ImportError):
    """A feature needs an optional dependency that is not installed."""

    def __init__(self, feature: str, extra: str, package: str | Sequence[str]) -> None:
        names = [package] if isinstance(package, str) else [str(n) for n in package] or [f"procrop[{extra}]"]
        self.feature = feature
        self.extra = extra
        self.package = ", ".join(names)
        quoted = [f"'{n}'" for n in names]
        which = (f"extra '{names[0]}'" if not package else f"package {quoted[0]}" if len(quoted) == 1
                 else f"packages {', '.join(quoted[:-1])} and {quoted[-1]}")  # every one missing, at once
        them = "it" if len(names) == 1 else "them"
        super().__init__(f"{feature} needs the optional {which}. "
                         f"Install {them} with: pip install 'procrop[{extra}]'")


class ModelLoadError(ProcropError):
    """Weights or a checkpoint could not be found, read or matched to a configuration."""


def require(module: str, feature: str, extra: str, package: str | None = None):
    """Import an optional module or raise :class:`MissingExtraError` naming the extra to install.

    >>> require("json", "reading JSON", "base")  # doctest: +ELLIPSIS
    <module 'json' ...>
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised when extras are missing
        raise MissingExtraError(feature, extra, package or module.split(".")[0]) from exc
