"""Run one task over many items: in this process, in a local process pool, or on a Ray cluster.

One interface serves ``procrop crop`` over many images and ``procrop dataset generate``:

    with make_executor(workers=4) as ex:                  # or ray="auto" / "ray://host:10001"
        for outcome in ex.run(task, items):
            ...  # outcome.index, outcome.value or outcome.error, in completion order

``task`` is a picklable callable. It is shipped to each worker **once** (a pool initializer, or
a Ray actor), so a task may build expensive state lazily (a :class:`~procrop.Cropper`, a model)
and reuse it for every item that worker handles. Exceptions raised by the task are caught in
the worker and come back as ``outcome.error`` (a one-line message), so one bad item never stops
the batch. At most a few items per worker are in flight, so huge item lists stay cheap.

A pool never hangs: a worker that dies is reported (the pool breaks, the run ends with an error),
and a watchdog ends the run with :class:`WorkerStallError` when no item finishes for
``stall_timeout`` seconds (default :data:`STALL_TIMEOUT_S`, or ``PROCROP_WATCHDOG_S``), stopping
the workers.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import ProcropError, UsageError, require
from .signals import WORKER_BUSY, exit_with_parent, keep_sigterm_handler, stop_worker

T = TypeVar("T")
R = TypeVar("R")

#: Seconds a pool may go without finishing any item before its watchdog ends the run.
STALL_TIMEOUT_S = 1800.0


def stall_timeout_default() -> float:
    """The watchdog's timeout: ``PROCROP_WATCHDOG_S`` when set (seconds), else :data:`STALL_TIMEOUT_S`."""
    value = os.environ.get("PROCROP_WATCHDOG_S")
    if not value:
        return STALL_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        raise UsageError(f"PROCROP_WATCHDOG_S={value!r}: not a number of seconds") from None
    if seconds <= 0:
        raise UsageError(f"PROCROP_WATCHDOG_S={value!r}: must be positive")
    return seconds


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


class WorkerStallError(ProcropError):
    """No worker finished an item for the watchdog's timeout; the workers were stopped.

    Attributes:
        indices: the indices (into the run's items) of the items still in flight.
        seconds: the timeout that expired.
    """

    def __init__(self, indices: Sequence[int], seconds: float) -> None:
        self.indices = sorted(indices)
        self.seconds = seconds
        shown = ", ".join(f"#{i}" for i in self.indices[:8]) + (" ..." if len(self.indices) > 8 else "")
        super().__init__(
            f"no worker finished an item in {seconds:g} s (item(s) {shown} in flight); workers stopped "
            "(set PROCROP_WATCHDOG_S to wait longer, or run with --workers 1 to see where it stops)"
        )


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """The result of one item: ``value`` on success, else ``error`` (a message)."""

    index: int
    value: R | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def describe_error(exc: BaseException) -> str:
    """A one-line message for an exception raised by a task."""
    if isinstance(exc, ProcropError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"{type(exc).__name__}: {exc}"


def call_safely(task: Callable[[T], R], index: int, item: T) -> Outcome[R]:
    """Run ``task(item)`` and wrap the result or the error in an :class:`Outcome`."""
    try:
        return Outcome(index, value=task(item))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure is reported per item
        if os.environ.get("PROCROP_DEBUG"):
            traceback.print_exc()
        return Outcome(index, error=describe_error(exc))


class Executor(ABC):
    """Runs a task over items; use as a context manager so workers are shut down."""

    workers: int = 1

    @abstractmethod
    def run(self, task: Callable[[T], R], items: Sequence[T]) -> Iterator[Outcome[R]]:
        """Yield one :class:`Outcome` per item, in completion order."""

    def close(self) -> None:
        """Release workers."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """Everything in the calling process, in order."""

    def run(self, task: Callable[[T], R], items: Sequence[T]) -> Iterator[Outcome[R]]:
        for i, item in enumerate(items):
            yield call_safely(task, i, item)


# The task a pool worker runs, installed once per worker process by the initializer.
_WORKER_TASK: Callable[[Any], Any] | None = None


def _install_task(task: Callable[[Any], Any]) -> None:
    global _WORKER_TASK
    _WORKER_TASK = task
    # stopped by the parent (Ctrl-C there: _kill), a worker unwinds as after Ctrl-C, so the
    # image it was writing removes its files (procrop.output.batch.CropTask)
    signal.signal(signal.SIGTERM, stop_worker)
    signal.signal(signal.SIGINT, stop_worker)  # Ctrl-C at a terminal reaches the workers too
    exit_with_parent()  # a parent killed outright leaves no worker waiting for work
    # one worker per core: keep each worker's OpenCV/BLAS and model calls single-threaded
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("PROCROP_THREADS", "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - opencv is a base dependency
        pass


def _run_installed(index: int, item: Any) -> Outcome[Any]:
    assert _WORKER_TASK is not None, "worker task not installed"
    WORKER_BUSY.set()
    try:
        return call_safely(_WORKER_TASK, index, item)
    finally:
        WORKER_BUSY.clear()


#: Seconds the tasks under way may take to finish when the work is stopped (Ctrl-C).
STOP_GRACE_S = 10.0


class ProcessExecutor(Executor):
    """A local pool of worker processes (``spawn`` start method, safe with threads)."""

    def __init__(self, workers: int, stall_timeout: float | None = None) -> None:
        if workers < 1:
            raise UsageError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.stall_timeout = stall_timeout if stall_timeout is not None else stall_timeout_default()
        self._pool: ProcessPoolExecutor | None = None
        self._pending: dict[Future[Any], int] = {}

    def run(self, task: Callable[[T], R], items: Sequence[T]) -> Iterator[Outcome[R]]:
        import multiprocessing as mp

        self.close()
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=mp.get_context("spawn"),
            initializer=_install_task,
            initargs=(task,),
        )
        window = 4 * self.workers
        pending: dict[Future[Outcome[R]], int] = {}
        self._pending = pending  # what a Ctrl-C leaves: cancelled, or finished before the workers stop
        it = iter(enumerate(items))
        exhausted = False
        while True:
            while not exhausted and len(pending) < window:
                try:
                    i, item = next(it)
                except StopIteration:
                    exhausted = True
                    break
                try:
                    pending[self._pool.submit(_run_installed, i, item)] = i
                except BrokenProcessPool as exc:
                    raise ProcropError(
                        f"worker processes died or could not start ({exc}); "
                        "run with --workers 1 to see the error"
                    ) from exc
            if not pending:
                return
            done, _ = wait(list(pending), timeout=self.stall_timeout, return_when=FIRST_COMPLETED)
            if not done:  # the watchdog: nothing finished in time
                stuck = list(pending.values())
                self._kill()
                raise WorkerStallError(stuck, self.stall_timeout)
            for fut in done:
                i = pending.pop(fut)
                try:
                    yield fut.result()
                except Exception as exc:  # a worker died (killed, out of memory...)
                    yield Outcome(i, error=f"worker failed: {describe_error(exc)}")

    def _kill(self) -> None:
        """Stop every worker now (the watchdog fired: waiting for them could wait forever)."""
        if self._pool is None:
            return
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        for proc in processes:
            proc.terminate()  # the first unwinds the task under way (its files removed)
        for proc in processes:
            proc.join(1)
            if proc.is_alive():
                proc.terminate()  # the second ends the worker, which otherwise waits for more work
                proc.join(4)
            if proc.is_alive():
                proc.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __exit__(self, *exc: object) -> None:
        # leaving on an error or Ctrl-C: the queued tasks are cancelled, those under way get a
        # while to finish (an image half written is none), then the workers are stopped rather
        # than joined (a pool interrupted inside wait() could hang in a graceful shutdown)
        if exc[0] is None:
            self.close()
            return
        if self._pool is None:  # stopped already (the watchdog)
            return
        running = [f for f in self._pending if not f.cancel()]
        wait(running, timeout=STOP_GRACE_S)
        self._kill()


class RayExecutor(Executor):
    """A pool of Ray actors, each holding one copy of the task (extra ``procrop[distributed]``).

    Args:
        address: ``None`` or ``"local"`` starts a local Ray instance; ``"auto"`` joins the running
            cluster; ``"ray://host:port"`` connects a client.
        workers: number of actors (default: the cluster's CPU count).
        num_cpus: CPUs each actor reserves.
    """

    def __init__(self, address: str | None = None, workers: int | None = None, num_cpus: float = 1.0,
                 stall_timeout: float | None = None) -> None:
        self.ray = require("ray", "running on a Ray cluster (--ray)", "distributed")
        self.stall_timeout = stall_timeout if stall_timeout is not None else stall_timeout_default()
        self.address = address
        self._started_here = False
        if not self.ray.is_initialized():
            logging.getLogger("ray").setLevel(logging.ERROR)  # its INFO and WARNING lines: not the user's
            kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False,
                                      "logging_level": logging.ERROR}
            if address in (None, "", "local"):
                if workers is not None:
                    kwargs["num_cpus"] = max(1, int(workers * num_cpus))
                kwargs["include_dashboard"] = False
            else:
                kwargs["address"] = address
            ours = keep_sigterm_handler()
            self.ray.init(**kwargs)
            if ours is not None:  # Ray's own handler aborts with a crash dump: a SIGTERM unwinds as before
                signal.signal(signal.SIGTERM, ours)
            self._started_here = True
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        self.workers = workers or max(1, int(cpus // num_cpus))
        self.num_cpus = num_cpus

    def run(self, task: Callable[[T], R], items: Sequence[T]) -> Iterator[Outcome[R]]:
        ray = self.ray
        actor_cls = ray.remote(num_cpus=self.num_cpus)(_RayWorker)
        actors = [actor_cls.remote(task) for _ in range(self.workers)]
        try:
            window = 2
            pending: dict[Any, tuple[int, Any]] = {}
            it = iter(enumerate(items))
            free = [a for a in actors for _ in range(window)]
            exhausted = False
            while True:
                while not exhausted and free:
                    try:
                        i, item = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    actor = free.pop()
                    pending[actor.call.remote(i, item)] = (i, actor)
                if not pending:
                    return
                done, _ = ray.wait(list(pending), num_returns=1, timeout=self.stall_timeout)
                if not done:  # the watchdog; the actors are killed below
                    raise WorkerStallError([i for i, _ in pending.values()], self.stall_timeout)
                for ref in done:
                    i, actor = pending.pop(ref)
                    free.append(actor)
                    try:
                        yield ray.get(ref)
                    except Exception as exc:  # an actor died
                        yield Outcome(i, error=f"ray worker failed: {describe_error(exc)}")
        finally:
            for a in actors:
                ray.kill(a)

    def close(self) -> None:
        if self._started_here and self.ray.is_initialized():
            ours = keep_sigterm_handler()
            self.ray.shutdown()  # which puts the default SIGTERM action back
            if ours is not None:
                signal.signal(signal.SIGTERM, ours)
            self._started_here = False


class _RayWorker:
    """Ray actor body: holds the task, runs items."""

    def __init__(self, task: Callable[[Any], Any]) -> None:
        _install_task(task)
        self.task = task

    def call(self, index: int, item: Any) -> Outcome[Any]:
        return call_safely(self.task, index, item)


def make_executor(workers: int = 1, ray: str | None | bool = None, stall_timeout: float | None = None) -> Executor:
    """Pick an executor: Ray when ``ray`` is given (``True``/``"local"``, ``"auto"`` or an
    address), a process pool for ``workers > 1``, else the calling process. ``stall_timeout``: the
    pools' watchdog (seconds without a finished item; default :func:`stall_timeout_default`)."""
    if ray:
        address = None if ray is True else str(ray)
        return RayExecutor(address, workers if workers > 1 else None, stall_timeout=stall_timeout)
    if workers > 1:
        return ProcessExecutor(workers, stall_timeout)
    if workers < 1:
        raise UsageError(f"workers must be at least 1, got {workers}")
    return SerialExecutor()
