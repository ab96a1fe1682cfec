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

import contextlib
import logging
import os
import signal
import threading
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, InvalidStateError, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import ProcropError, UsageError, require
from .signals import WORKER_BUSY, end_descendants, exit_with_parent, keep_sigterm_handler, stop_worker

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
        _quiet_cancelled_futures()
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
        _quiet_cancelled_futures()  # before any is cancelled: one signal may have ended the workers
        running = [f for f in self._pending if not f.cancel()]
        wait(running, timeout=STOP_GRACE_S)
        self._kill()


def _quiet_cancelled_futures() -> None:
    """The pool's manager thread, finding its workers stopped, sets an error on every future,
    including those a stop cancelled: ``InvalidStateError`` there is no news (it printed a
    traceback above the one line an interrupted batch gives); other thread errors still show."""
    shown = threading.excepthook
    if getattr(shown, "procrop_quiet", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not InvalidStateError:
            shown(args)

    hook.procrop_quiet = True  # type: ignore[attr-defined]
    threading.excepthook = hook


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
            try:
                self.ray.init(**kwargs)
            except (KeyboardInterrupt, SystemExit) as exc:  # stopped while Ray starts: its handler exits 15
                if isinstance(exc, SystemExit) and exc.code != signal.SIGTERM:
                    raise
                with contextlib.suppress(Exception):
                    self.ray.shutdown()
                end_descendants("ray")  # what Ray had started and does not know yet (its agents stayed)
                raise KeyboardInterrupt from None
            finally:
                if ours is not None:  # Ray's handler aborts with a crash dump: a SIGTERM unwinds as before
                    signal.signal(signal.SIGTERM, ours)
            self._started_here = True
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        self.workers = workers or max(1, int(cpus // num_cpus))
        self.num_cpus = num_cpus

    def run(self, task: Callable[[T], R], items: Sequence[T]) -> Iterator[Outcome[R]]:
        ray = self.ray
        actor_cls = ray.remote(num_cpus=self.num_cpus)(_RayWorker)
        actors = [actor_cls.remote(task) for _ in range(self.workers)]
        pending: dict[Any, tuple[int, Any]] = {}
        try:
            window = 2
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
            if pending:  # stopped (Ctrl-C, SIGTERM, the watchdog): the items under way may finish, as
                # in a local pool, so an image being written is whole rather than without its JSON
                ray.wait(list(pending), num_returns=len(pending), timeout=STOP_GRACE_S)
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
