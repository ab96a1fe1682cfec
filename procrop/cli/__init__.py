"""The command-line interface: one module per command group, no business logic."""

from __future__ import annotations

__all__ = ["run"]


def run() -> None:
    """Console-script entry point. The application is imported inside the Ctrl-C guard, so an
    interrupt while its modules load is one line and exit 130, not a traceback."""
    import signal
    import sys

    signal.signal(signal.SIGTERM, _terminated)  # `kill`, a job scheduler's stop: as Ctrl-C
    try:
        from .app import run as run_app

        run_app()
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: the image being written removes its files, the command says
    how far it got and exits 130 (a second SIGTERM ends the process at once)."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt
