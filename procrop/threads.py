"""How many threads procrop's own work may use: the models' threads (``PROCROP_THREADS``) and
numpy's BLAS, kept on one thread while a photo is worked on.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import UsageError


def inference_threads() -> int:
    """Threads one photo's model calls may use: ``PROCROP_THREADS`` when set (a pool's worker
    processes set it to 1, one worker per core), else up to two of the machine's cores.

    Raises:
        UsageError: ``PROCROP_THREADS`` is not a whole number from 1 to :func:`max_threads`.
    """
    value = os.environ.get("PROCROP_THREADS")
    if not value:
        return max(1, min(2, os.cpu_count() or 1))
    try:
        threads = int(value)
    except ValueError:
        raise UsageError(f"PROCROP_THREADS={value!r}: not a whole number of threads") from None
    if threads < 1:
        raise UsageError(f"PROCROP_THREADS={value!r}: must be at least 1")
    if threads > max_threads():
        raise UsageError(f"PROCROP_THREADS={value!r}: must be at most {max_threads()} "
                         f"(4 x this machine's {os.cpu_count() or 1} core(s))")
    return threads


_blas_lock = threading.Lock()
_blas_state: dict[str, Any] = {"users": 0, "limiter": None}


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries (made once), or ``None`` without it."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    return ThreadpoolController()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's BLAS (OpenBLAS) on one thread while procrop works on a photo (a context manager and a
    decorator: :meth:`procrop.Cropper.process` and :meth:`~procrop.Cropper.prepare` use it).

    procrop's matrix products are small, yet OpenBLAS hands them to its worker threads, and an idle
    worker busy-waits for the next product: on a 2-core machine it held a whole core for as long as a
    photo took, a core the detectors and the backbone needed (the default 67.9 -> 50.6 ms a photo
    with one BLAS thread, the crops identical). The limit is process-wide while any photo is being
    worked on (concurrent photos share it) and lifted when the last one is done, so numpy work of the
    caller's own between photos keeps its threads. OpenBLAS ignores a limit asked for from another
    thread once the main thread has set one: a program that crops in threads calls
    :func:`limit_blas_threads` once from its main thread (the web server does). Without threadpoolctl,
    or a BLAS it can see, it does nothing.
    """
    with _blas_lock:
        if _blas_state["users"] == 0 and (controller := _blas_controller()) is not None:
            _blas_state["limiter"] = controller.limit(limits=1, user_api="blas")
        _blas_state["users"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_state["users"] -= 1
            if _blas_state["users"] == 0 and _blas_state["limiter"] is not None:
                _blas_state["limiter"].restore_original_limits()
                _blas_state["limiter"] = None


def limit_blas_threads() -> None:
    """numpy's BLAS on one thread for the rest of the process, asked for from the main thread: for
    processes that are procrop's own (the command line, the web server), where photos may be
    cropped in other threads (see :func:`one_blas_thread`)."""
    with _blas_lock:
        if (controller := _blas_controller()) is not None:
            controller.limit(limits=1, user_api="blas")


def max_threads() -> int:
    """The most ``PROCROP_THREADS`` may ask for: 4 threads per core of this machine (more only
    oversubscribes the cores; a typo such as 999 is refused rather than obeyed)."""
    return 4 * (os.cpu_count() or 1)
