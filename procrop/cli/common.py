"""What every command shares: the error console, exit codes, the one error handler, progress bars."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import ProcropError, UsageError

err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # stopped by SIGINT/SIGTERM (after saving what resumes the work)


def usage_error(message: str) -> typer.Exit:
    """Print ``message`` as an error and return the exit (code 2) to raise."""
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(EXIT_USAGE)


@contextlib.contextmanager
def usage_errors(passing: type[BaseException] | tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Turn any :class:`~procrop.errors.ProcropError` raised inside the block into a usage error
    (one line on stderr, exit code 2); errors of the ``passing`` types are re-raised as they are."""
    try:
        yield
    except ProcropError as exc:
        if passing and isinstance(exc, passing):
            raise
        raise usage_error(str(exc)) from None


def parse_ratio_options(values: list[str] | None) -> tuple[str, ...]:
    """The labels of ``--ratio`` values (comma-separated or repeated), validated."""
    from ..geometry import parse_ratios

    try:
        return tuple(r.label for r in parse_ratios(values or None))
    except UsageError as exc:
        raise usage_error(str(exc)) from None


def progress_bar(total: int, quiet: bool, label: str):  # noqa: ANN201 - a rich Progress
    """A progress bar on stderr (hidden when quiet or for a single item)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet or total <= 1,
        transient=False,
    )


def exit_if_failed(failures: list[tuple[str, str]]) -> None:
    """List failed inputs and exit with code 1 when there are any."""
    if failures:
        report_failures(failures)
        raise typer.Exit(EXIT_FAILED)


def report_failures(failures: list[tuple[str, str]]) -> None:
    """List failed inputs on stderr, one per line: ``path: reason``."""
    err.print(f"[bold red]{len(failures)} input(s) failed:[/]")
    for path, reason in failures:
        line = reason if reason.startswith(f"{path}:") else f"{path}: {reason}"
        err.print(f"  {escape(line)}")
