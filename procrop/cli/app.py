"""The ``procrop`` command: the application and its command groups.

Exit codes: 0 everything done; 1 some inputs failed (each listed with its reason, the others
still written); 2 usage error (bad option, nothing to process).
"""

from __future__ import annotations

import sys

import typer

from .._version import __version__
from ..threads import limit_blas_threads
from .common import EXIT_OK, OneLineErrors, err, use_help_width
from .checkpoints import import_checkpoint_command
from .crop import crop_command, describe_command
from .dataset import dataset_app
from .evaluate import eval_command
from .index import index_app
from .learned import learned_app
from .prefs import prefs_app
from .serve import serve_command
from .train import export_command, train_command

app = typer.Typer(
    name="procrop",
    cls=OneLineErrors,
    help="Aesthetic image cropping guided by professional compositions (ProCrop, AAAI 2026).",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

def _version(value: bool) -> None:
    if value:
        typer.echo(f"procrop {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Aesthetic image cropping guided by professional compositions."""


app.command("crop")(crop_command)
app.command("describe")(describe_command)
app.add_typer(index_app, name="index")
app.command("eval")(eval_command)
app.command("train")(train_command)
app.command("export")(export_command)
app.command("import-checkpoint")(import_checkpoint_command)
app.add_typer(dataset_app, name="dataset")
app.add_typer(learned_app, name="learned")
app.add_typer(prefs_app, name="prefs")
app.command("serve")(serve_command)


def run() -> None:
    """Console-script entry point."""
    use_help_width()
    limit_blas_threads()  # procrop's own process: numpy's small products need no BLAS threads
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except SystemExit as exc:  # typer turns a Ctrl-C inside a command into exit 130 without a word
        if exc.code == 130 and isinstance(getattr(exc.__context__, "__cause__", None), KeyboardInterrupt):
            err.print("interrupted")
        raise


if __name__ == "__main__":  # pragma: no cover
    run()
