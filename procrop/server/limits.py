"""Bounded concurrency for the CPU work: a semaphore, a bounded waiting queue and a deadline.

This module owns :class:`WorkLimiter`. Each request's CPU work (decode, analysis, scoring,
encoding) runs in a dedicated thread pool of ``max_concurrency`` threads (the :class:`Cropper`
is thread-safe, and numpy/OpenCV release the GIL). At most ``max_queue`` further requests wait
for a slot; beyond that the server answers 503 with ``Retry-After`` at once instead of piling up.
A request that misses its deadline (waiting plus working) gets 504; its thread finishes in the
background and only then frees its slot, so timed-out work can never oversubscribe the CPUs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .errors import ApiError

T = TypeVar("T")


class WorkLimiter:
    """Runs blocking functions in a bounded thread pool with admission control and a deadline.

    Args:
        max_concurrency: functions running at once.
        max_queue: requests allowed to wait for a slot.
        timeout_s: deadline per request, from admission to result.
        retry_after_s: ``Retry-After`` sent with 503.
    """

    def __init__(self, max_concurrency: int, max_queue: int, timeout_s: float, retry_after_s: int = 1) -> None:
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self._executor = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="procrop-work")
        self._slots: asyncio.Semaphore | None = None
        self._admitted = 0  # waiting + running requests
        self._running = 0  # functions running in the pool (including timed-out ones)
        self.rejected = 0
        self.timed_out = 0

    def stats(self) -> dict[str, int]:
        """Current load, for ``/health``."""
        return {"running": self._running, "waiting": max(0, self._admitted - self._running),
                "rejected": self.rejected, "timed_out": self.timed_out}

    @contextlib.asynccontextmanager
    async def admitted(self) -> AsyncIterator[float]:
        """Admit one request (503 when ``max_concurrency + max_queue`` are already admitted) and
        yield its deadline on the event loop's clock. Enter it before reading the upload, so a
        full server refuses at once and the bodies held in memory stay bounded."""
        if self._admitted >= self.max_concurrency + self.max_queue:
            self.rejected += 1
            raise ApiError(503, "busy", "the server is busy; retry shortly",
                           headers={"Retry-After": str(self.retry_after_s)})
        self._admitted += 1
        try:
            yield asyncio.get_running_loop().time() + self.timeout_s
        finally:
            self._admitted -= 1

    async def run(self, deadline: float, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the pool once a slot is free; 504 past ``deadline``."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrency)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(self._slots.acquire(), max(deadline - loop.time(), 0.001))
        except asyncio.TimeoutError:
            raise self._timeout() from None
        self._running += 1
        future = loop.run_in_executor(self._executor, fn, *args)
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(deadline - loop.time(), 0.001))
        except asyncio.TimeoutError:
            raise self._timeout() from None

    def _release(self, future: Any) -> None:
        if not future.cancelled():
            future.exception()  # mark retrieved: a timed-out request no longer awaits it
        self._running -= 1
        if self._slots is not None:
            self._slots.release()

    def _timeout(self) -> ApiError:
        self.timed_out += 1
        return ApiError(504, "timeout", f"the request took longer than {self.timeout_s:g} s")

    def close(self) -> None:
        """Stop the pool (running work finishes; nothing new is accepted)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
