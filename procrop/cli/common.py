"""What every command shares: the error console, exit codes, the one error handler, progress bars."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperArgument, TyperGroup, TyperOption

from ..errors import ProcropError, UsageError

try:  # typer >= 0.20 carries its own click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.exceptions import ClickException

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


def require_extra(module: str, feature: str, extra: str) -> Any:
    """:func:`procrop.errors.require` for a command: a missing optional package is one line on
    stderr and exit code 2, as for every other extra (torch's was a traceback, exit 1)."""
    from ..errors import require

    with usage_errors():
        return require(module, feature, extra)


def remove_if_left_empty(folder: Path | None, made_here: bool) -> None:
    """Remove ``folder`` when this run made it (``made_here``) and left it empty: every input
    failed, or the work was refused before it began."""
    if made_here and folder is not None and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def style_strength_number(text: str | None) -> float | None:
    """``--style-strength`` (``crop``, ``serve``) as a number from 0 to 10, ``None`` when not
    given; else one line in the same words for a word, NaN or 11 (typer worded a word its own way)."""
    from ..scoring.terms.style import checked_strength

    with usage_errors():
        return None if text is None else checked_strength(text)


class OneLineErrors(TyperGroup):
    """The command group whose option and argument errors (unknown option, value out of range,
    missing argument) are one line on stderr, ``error: procrop crop: ...`` with exit code 2, like
    every other error, instead of click's usage block; every option and argument of every
    command shows a readable metavar (:func:`readable_metavars`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        readable_metavars(self)

    def make_context(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - click's signature
        with _one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):  # noqa: ANN001, ANN201 - click's signature
        with _one_line():
            return super().invoke(ctx)


@contextlib.contextmanager
def _one_line() -> Iterator[None]:
    try:
        yield
    except ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as click shows it
            raise
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        message = " ".join(exc.format_message().split())
        err.print(f"[bold red]error:[/] {escape(where + message + hint)}")
        raise typer.Exit(exc.exit_code) from None
    except (NotADirectoryError, FileExistsError, IsADirectoryError, PermissionError) as exc:
        # an output path in the way (a file where a folder goes, a folder where a file goes): the
        # commands that check their outputs first say so before any work; this is the one line for
        # the others, never a traceback
        what = {NotADirectoryError: "a file is where a folder must be",
                FileExistsError: "exists, and a folder cannot be made in its place",
                IsADirectoryError: "is a folder, not a file", PermissionError: "permission denied"}[type(exc)]
        paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p)
        err.print(f"[bold red]error:[/] {escape(f'{paths}: {what}' if paths else str(exc))}")
        # a path given in the way is a usage error (2), as the commands that check first say it
        raise typer.Exit(EXIT_FAILED if isinstance(exc, PermissionError) else EXIT_USAGE) from None


#: Metavars of text options whose name alone says too little (the others read as their name: --db DB).
_TEXT_METAVARS = {"--ray": "ADDRESS", "--set": "KEY=VALUE", "--json": "PATH", "--weights": "PATH"}


class _NamedArgument(TyperArgument):
    """An argument shown by its metavar alone (``INPUTS...``), without typer's raw type beside it."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _get_number_range_help_str(self) -> str | None:
        return range_in_words(self.min, self.max)


class _WordedRangeOption(TyperOption):
    """An option whose allowed range its help says in words, ``[from 1 to 50]``, not ``[1<=x<=50]``."""

    def _get_number_range_help_str(self) -> str | None:
        if getattr(self, "count", False) and self.min == 0 and self.max is None:
            return None
        return range_in_words(self.min, self.max)


def range_in_words(low: float | None, high: float | None) -> str | None:
    """An allowed range as a new user reads it: ``from 0.01 to 1``, ``at least 1``, ``at most 5``
    (``None`` without bounds)."""
    def num(v: float) -> str:
        return f"{v:g}" if isinstance(v, float) else str(v)

    if low is None and high is None:
        return None
    if low is None:
        return f"at most {num(high)}"  # type: ignore[arg-type]
    if high is None:
        return f"at least {num(low)}"
    return f"from {num(low)} to {num(high)}"


#: The width of help pages written where no terminal says one (a pipe, a file, a CI log): rich's own
#: fallback, 80 columns, squeezes each option's help into a narrow column.
MIN_HELP_WIDTH = 100


def help_width(minimum: int = MIN_HELP_WIDTH) -> int | None:
    """The width for ``--help`` pages: ``None`` (rich measures the terminal) when standard output is
    a terminal or ``COLUMNS`` / ``TERMINAL_WIDTH`` set one; else the width of the terminal on
    standard error or input (``procrop crop --help | less``), at least ``minimum``."""
    if os.environ.get("COLUMNS", "").isdigit() or os.environ.get("TERMINAL_WIDTH", "").isdigit():
        return None
    if sys.stdout is not None and sys.stdout.isatty():
        return None
    measured = 0
    for stream in (sys.stderr, sys.stdin):
        try:
            if stream is not None and stream.isatty():
                measured = os.get_terminal_size(stream.fileno()).columns
                break
        except (OSError, ValueError):
            continue
    return max(minimum, measured)


#: Below this many columns ``--help`` is click's plain layout, which wraps the descriptions under
#: the options, instead of rich's table, whose description column gets too narrow to read.
PLAIN_HELP_BELOW = 110
_plain_help = False


def use_help_width() -> None:
    """Make typer's help pages :func:`help_width` wide (called once, as the command starts), and
    plain (click's layout) on a terminal (or ``COLUMNS``) narrower than :data:`PLAIN_HELP_BELOW`."""
    import typer.rich_utils

    global _plain_help
    width = help_width()
    if width is not None:
        typer.rich_utils.MAX_WIDTH = width
        return  # piped or written to a file: rich's table at that width
    columns = os.environ.get("COLUMNS", "")
    try:
        shown = int(columns) if columns.isdigit() else os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return
    _plain_help = shown < PLAIN_HELP_BELOW


def readable_metavars(command: Any, help_names: list[str] | None = None) -> None:
    """Give every parameter of ``command`` and its subcommands that declares no metavar one a person
    reads, in place of typer's raw types (``<list[str]>``, ``<bool>``, ``<int range>``): none for a
    flag (``--help`` too), ``N`` for a whole number, ``NUMBER``, ``PATH``, the choices
    (``train|heldout``), else the option's name (``--db DB``); an argument shows its name alone.
    Allowed ranges are said in words, ``N [from 1 to 50]`` (:func:`range_in_words`). On a narrow
    terminal (:func:`use_help_width`) the commands also take click's plain help layout.

    Args:
        command: a click command or group (as typer builds it); changed in place.
        help_names: the help option's names (default: the command's context settings', else ``--help``).
    """
    help_names = help_names or (command.context_settings or {}).get("help_option_names") or ["--help"]
    ctx = command.context_class(command, help_option_names=help_names)
    shown_help = command.get_help_option(ctx)  # made once and kept by the command: named here
    if shown_help is not None and shown_help.metavar is None:
        shown_help.metavar = ""
    for param in command.params:
        if isinstance(param, TyperArgument):
            param.metavar = param.metavar or param.name.upper()
            param.__class__ = _NamedArgument
            continue
        if param.metavar is None and hasattr(param, "display_type"):
            param.metavar = _option_metavar(param, param.display_type(ctx).strip("<>"))
        if type(param) is TyperOption:
            param.__class__ = _WordedRangeOption
    if _plain_help and hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None  # click's own layout (use_help_width), without rich's escapes
        for item in [command, *command.params]:
            if getattr(item, "help", None):
                item.help = item.help.replace("\\[", "[")
    for sub in getattr(command, "commands", {}).values():
        readable_metavars(sub, help_names)


def _option_metavar(param: Any, shown: str) -> str:
    """The metavar of a typer option whose type typer would show as ``<shown>``."""
    kind = shown[5:-1] if shown.startswith("list[") else shown  # a repeatable option: one value's
    long = max(param.opts, key=len)
    if getattr(param, "is_flag", False) or kind == "bool":
        return ""
    if "|" in kind:
        return kind
    if kind.startswith("int"):
        return "N"
    if kind.startswith("float"):
        return "NUMBER"
    if kind.lower() in ("path", "file", "directory", "dir"):
        return "PATH"
    return _TEXT_METAVARS.get(long) or long.lstrip("-").upper()


def parse_ratio_options(values: list[str] | None) -> tuple[str, ...]:
    """The labels of ``--ratio`` values (comma-separated or repeated), validated."""
    from ..geometry import parse_ratios

    if values and any(not v.strip() for v in values):  # -r "" or -r "$UNSET": a slip, not a choice
        raise usage_error("--ratio is empty: give free, original, W:H (16:9) or an output size WxH")
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
        TimeRemainingColumn(elapsed_when_finished=True),  # a finished batch: its time, not 0:00:00 left
        console=err,
        disable=quiet or total <= 1,
        transient=False,
    )


class BarProgress:
    """A ``progress(n, total)`` callback that moves ``task`` of a :func:`progress_bar` and keeps the
    count: ``done`` says how many items were finished when a Ctrl-C stops the work."""

    def __init__(self, bar: Any, task: Any) -> None:
        self.bar, self.task, self.done = bar, task, 0

    def __call__(self, n: int, total: int) -> None:
        self.done = n
        self.bar.update(self.task, completed=n, total=total)


def exit_no_inputs(problems: list[tuple[str, str]]) -> typer.Exit:
    """The exit (code 2) to raise when no input is an image: why each input gave none, else ``no
    input images``; one line for one input (``error: emptydir: folder contains no image files``)."""
    if not problems:
        return usage_error("no input images")
    report_failures(problems)
    return typer.Exit(EXIT_USAGE)


def exit_if_failed(failures: list[tuple[str, str]], unmatched: int = 0) -> None:
    """List failed inputs and exit with code 1 when there are any (``unmatched``: how many of them,
    listed first, are folders or patterns that held no image, see :func:`report_failures`)."""
    if failures:
        report_failures(failures, unmatched)
        raise typer.Exit(EXIT_FAILED)


def report_failures(failures: list[tuple[str, str]], unmatched: int = 0) -> None:
    """List failed inputs on stderr, one per line: ``path: reason`` (one failure: one line,
    ``error: path: reason``). When ``unmatched`` of them are folders or patterns that held no image,
    the header counts the images apart ("6 image(s) failed, and 1 folder(s) or pattern(s) held none"), so
    that it adds up with the images done (a trial read "4 of 10 image(s) done" beside "7 input(s)
    failed")."""
    lines = [reason if reason.startswith(f"{path}:") else f"{path}: {reason}" for path, reason in failures]
    if len(lines) == 1:
        err.print(f"[bold red]error:[/] {escape(lines[0])}")
        return
    images = len(failures) - unmatched
    if unmatched and images:
        held = f"{unmatched} folder(s) or pattern(s) held none"
        err.print(f"[bold red]{images} image(s) failed, and {held}:[/]")
    else:
        err.print(f"[bold red]{len(failures)} input(s) failed:[/]")
    for line in lines:
        err.print(f"  {escape(line)}")


def can_write_in(folder: Path) -> bool:
    """Whether a file can be made in the existing ``folder``: a temporary file is made and removed
    (permission bits say nothing of a read-only mount, ``/proc`` or a full quota)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def output_folder_problem(folder: str | os.PathLike) -> str | None:
    """Why ``folder`` cannot become an output folder (None when it can), checked before any work,
    leaving nothing behind: a file in its place or on its path, or a nearest existing parent that
    cannot be written."""
    path = Path(folder)
    if path.exists():
        if not path.is_dir():
            return f"{folder}: cannot be the output folder: it is a file"
        return None if can_write_in(path) else f"{folder}: output folder is not writable"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{folder}: cannot create the output folder: {parent} is a file"
    if not can_write_in(parent):
        return f"{folder}: cannot create the output folder: {parent} is not writable"
    return None


def refuse_outputs(*problems: str | None) -> None:
    """Raise the first of ``problems`` (:func:`output_folder_problem`, :func:`output_file_problem`)
    as a usage error: outputs are checked before any work, so a bad one leaves nothing behind."""
    for problem in problems:
        if problem:
            raise usage_error(problem)


def output_file_problem(file: str | os.PathLike, option: str) -> str | None:
    """Why ``file`` (the value of ``option``) cannot be written (None when it can), checked before
    any work, leaving nothing behind: a folder in its place, a missing or unwritable folder."""
    path = Path(file)
    if path.is_dir():
        return f"{option} {file}: is a folder, not a file"
    if not path.parent.is_dir():
        up = next((p for p in path.parents if p.exists()), None)
        if up is not None and not up.is_dir():  # a file where a folder of the path should be
            return f"{option} {file}: {up} is a file, not a folder"
        return f"{option} {file}: no such folder {path.parent}"
    if not can_write_in(path.parent):
        return f"{option} {file}: cannot write in {path.parent}"
    return None


def check_reference_db(db: Path, learned_model: str | None, strength: float | None, quiet: bool) -> None:
    """Open a user's reference database ``db`` for the learned scorer ``learned_model`` before any
    photo (a missing or unusable one: one line, exit 2), and say on stderr what it does: the style
    strength crops follow its photos at, or why no style follows them (no photos, no composition
    statistics) unless ``strength`` is 0; nothing when ``quiet``."""
    from ..scoring.terms.learned import LearnedTerm
    from ..scoring.terms.style import style_term_for

    with usage_errors():
        learned = LearnedTerm(learned_model, reference_db=db)
        steers = style_term_for(learned, strength, True)
    if quiet:
        return
    if steers is not None:  # the strength a run follows its references at, said once (a trial)
        err.print(f"note: crops follow the composition of {escape(str(db))}'s photos at style strength "
                  f"{steers.strength:g} (--style-strength, 0-10; 0 switches the style off)")
    elif strength != 0:  # --db alone: say why nothing steers
        held = learned.model.reference_items()
        why = ("has no composition statistics ('procrop index add DB PHOTOS' measures them): its photos are "
               "the learned scorer's references, but no style follows them" if held
               else "holds no photos: there is nothing to retrieve or follow")
        err.print(f"note: {escape(str(db))} {why}")
