"""How a procrop process stops on a signal: SIGTERM (``kill``, a scheduler's stop) unwinds as Ctrl-C
does, once.

``timeout`` and process managers often deliver one stop twice (to the command and to its process
group): a second SIGTERM that soon after the first is the same stop, not a harder one, so it is
ignored while the first unwinds (:data:`REPEAT_GRACE_S`); a later one ends the process at once. A
pool worker also ends itself when the process that started it is gone (:func:`exit_with_parent`),
so a parent killed outright leaves no worker behind.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

#: Seconds after a first SIGTERM during which another is taken for the same stop.
REPEAT_GRACE_S = 2.0

_first_stop: float | None = None


def stop_requested(exit_code: int = 143) -> bool:
    """Called from a SIGTERM handler: whether this is a new stop to unwind (True), or the same stop
    delivered again (False, to ignore). A SIGTERM more than :data:`REPEAT_GRACE_S` after the first
    ends the process now with ``exit_code``."""
    global _first_stop
    now = time.monotonic()
    if _first_stop is None:
        _first_stop = now
        return True
    if now - _first_stop < REPEAT_GRACE_S:
        return False
    os._exit(exit_code)


def unwind_on_sigterm(signum: int, frame: Any) -> None:
    """A SIGTERM handler: the first stop raises KeyboardInterrupt (see :func:`stop_requested`)."""
    if stop_requested():
        raise KeyboardInterrupt


#: Set while a pool worker runs a task (:func:`stop_worker` reads it).
WORKER_BUSY = threading.Event()


def stop_worker(signum: int, frame: Any) -> None:
    """A pool worker's SIGTERM and SIGINT handler: an idle worker ends at once (nothing to unwind,
    no traceback to print); a busy one unwinds its task as after Ctrl-C, so the image it was writing
    removes its files; the same stop sent again is ignored, a later one ends it."""
    if not WORKER_BUSY.is_set():
        os._exit(0)
    if stop_requested(1):
        raise KeyboardInterrupt


def exit_with_parent(poll_s: float = 1.0) -> None:
    """Start a daemon thread that ends this process when its parent is gone (it was re-parented)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="procrop-parent-watch", daemon=True).start()


def keep_sigterm_handler() -> Any:
    """The current SIGTERM handler, to put back (``signal.signal(signal.SIGTERM, h)``) after a
    library that installs its own (Ray) has started; ``None`` off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.getsignal(signal.SIGTERM)


def end_descendants(named: str) -> int:
    """Kill (SIGKILL) the processes this one started, and theirs, whose command line holds ``named``
    (Linux: read from ``/proc``); how many. For a library stopped while it started its own
    processes (Ray, interrupted in its start), which knows none of them yet and so cannot stop them;
    the caller's other child processes are left alone."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    todo, found = [os.getpid()], []
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    ended = 0
    for pid in found:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if named.encode() not in fh.read():
                    continue
            os.kill(pid, signal.SIGKILL)
            ended += 1
        except OSError:
            pass
    return ended
