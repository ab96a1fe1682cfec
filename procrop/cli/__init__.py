"""The command-line interface: one module per command group, no business logic."""

from __future__ import annotations

__all__ = ["run"]


def run() -> None:
    """Console-script entry point. The application is imported inside the Ctrl-C guard, so an
    interrupt while its modules load is one line and exit 130, not a traceback."""
    import signal
    import sys

    from ..imaging import quiet_broken_mpo
    from ..signals import unwind_on_sigterm

    signal.signal(signal.SIGTERM, unwind_on_sigterm)  # `kill`, a job scheduler's stop: as Ctrl-C
    quiet_broken_mpo()
    try:
        from .app import run as run_app

        run_app()
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
