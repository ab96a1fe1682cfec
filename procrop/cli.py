"""``procrop`` command line.

Exit codes: 0 everything done; 1 some inputs failed (each listed with its reason, the others
still written); 2 usage error (bad option, nothing to process).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from . import __version__
from .errors import ProcropError, UsageError

app = typer.Typer(
    name="procrop",
    help="Aesthetic image cropping guided by professional compositions (ProCrop, AAAI 2026).",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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


def usage_error(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(EXIT_USAGE)


def _ratios(values: list[str] | None) -> tuple[str, ...]:
    from .geometry import parse_ratios

    try:
        return tuple(r.label for r in parse_ratios(values or None))
    except UsageError as exc:
        raise usage_error(str(exc)) from None


def _progress(total: int, quiet: bool, label: str):
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


@app.command("crop")
def crop_command(
    inputs: list[str] = typer.Argument(..., help="Image files, folders (searched recursively) or globs."),
    ratio: Optional[list[str]] = typer.Option(
        None,
        "--ratio",
        "-r",
        help="free, original, W:H (e.g. 1:1, 4:5, 16:9) or an output size WxH (1080x1350); "
        "comma-separated or repeated. Default: free.",
    ),
    top_k: int = typer.Option(3, "--top-k", "-k", min=1, max=50, help="Crops per ratio."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Folder for cropped files and per-image JSON; re-runs skip done images."
    ),
    json_path: Optional[str] = typer.Option(
        None, "--json", help="Write results here: JSON for one image, JSON Lines for many ('-' = stdout)."
    ),
    preview: bool = typer.Option(False, "--preview", help="Write <name>_preview.png with the crops drawn."),
    save_crops: bool = typer.Option(True, "--save-crops/--no-save-crops", help="With --out, write cropped image files."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Worker processes."),
    ray: Optional[str] = typer.Option(
        None, "--ray", help="Run on Ray: 'local', 'auto' or a ray:// address (extra procrop[distributed])."
    ),
    db: Optional[str] = typer.Option(None, "--db", help="Reference database of professional photos."),
    no_db: bool = typer.Option(False, "--no-db", help="Switch retrieval guidance off."),
    model: Optional[str] = typer.Option(None, "--model", help="Neural ProCrop checkpoint (extra procrop[torch])."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Scoring weights TOML (default: shipped)."),
    min_area: float = typer.Option(0.3, "--min-area", min=0.01, max=1.0, help="Smallest crop, as a share of the largest box of its ratio."),
    analysis_size: int = typer.Option(256, "--analysis-size", min=64, max=2048, help="Working size (long side) of the analysis."),
    force: bool = typer.Option(False, "--force", help="Redo images already done in --out."),
    no_analysis: bool = typer.Option(False, "--no-analysis", help="Leave the analysis out of the JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Find the best crops of each image, with scores and reasons."""
    from .batch import CropOptions, CropTask, OutputOptions, completed_result, plan_jobs
    from .executor import make_executor
    from .io import iter_image_files

    ratios = _ratios(ratio)
    if db and no_db:
        raise usage_error("--db and --no-db contradict each other")
    files, problems = iter_image_files(inputs)
    if not files:
        for item, reason in problems:
            err.print(escape(f"{item}: {reason}"))
        raise usage_error("no input images")
    reference = None if no_db else (db or "default")
    if reference not in (None, "default") and not Path(reference).exists():
        raise usage_error(f"--db {reference}: no such reference database")
    if model and not Path(model).exists():
        raise usage_error(f"--model {model}: no such checkpoint")
    options = CropOptions(
        ratios=ratios,
        top_k=top_k,
        min_area=min_area,
        analysis_size=analysis_size,
        reference_db=reference,
        model=str(Path(model).resolve()) if model else None,
        weights=weights,
        include_analysis=not no_analysis,
    )
    output = OutputOptions(
        out_dir=str(out) if out else None,
        save_crops=save_crops,
        preview=preview,
        preview_dir=None if out else ".",
    )
    jobs = plan_jobs(files)
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        done = completed_result(output.out_dir, job, options) if (out and not force) else None
        if done is not None:
            results[i] = done
        else:
            todo.append(i)
    skipped = len(jobs) - len(todo)
    failures: list[tuple[str, str]] = [(item, reason) for item, reason in problems]
    stream = json_path is None and out is None and len(jobs) > 1
    try:
        task = CropTask(options, output)
        if todo and workers == 1 and not ray:
            task.cropper  # noqa: B018 - build now so a bad weights file, DB or model is a usage error
        with make_executor(workers, ray) as ex, _progress(len(todo), quiet, "cropping") as bar:
            tid = bar.add_task("crop", total=len(todo))
            for outcome in ex.run(task, [jobs[i] for i in todo]):
                i = todo[outcome.index]
                if outcome.ok:
                    results[i] = outcome.value
                    if stream:
                        typer.echo(json.dumps(outcome.value))
                else:
                    failures.append((jobs[i].path, outcome.error or "unknown error"))
                bar.advance(tid)
    except ProcropError as exc:
        raise usage_error(str(exc)) from None
    done_results = [r for r in results if r is not None]
    _emit(done_results, json_path, out, stream, len(jobs))
    if not quiet and (out or json_path not in (None, "-")):
        msg = f"{len(done_results)} of {len(jobs)} image(s) done"
        if skipped:
            msg += f" ({skipped} already done, skipped)"
        err.print(msg + (f"; outputs in {out}" if out else ""))
    if failures:
        report_failures(failures)
        raise typer.Exit(EXIT_FAILED)


def report_failures(failures: list[tuple[str, str]]) -> None:
    """List failed inputs on stderr, one per line: ``path: reason``."""
    err.print(f"[bold red]{len(failures)} input(s) failed:[/]")
    for path, reason in failures:
        line = reason if reason.startswith(f"{path}:") else f"{path}: {reason}"
        err.print(f"  {escape(line)}")


def _emit(results: list[dict[str, Any]], json_path: str | None, out: Path | None, streamed: bool, n_inputs: int) -> None:
    from .io import atomic_write_text

    if streamed:
        return
    if n_inputs == 1 and len(results) == 1:
        text = json.dumps(results[0], indent=2) + "\n"
    else:
        text = "".join(json.dumps(r) + "\n" for r in results)
    if json_path is None:
        if out is None:
            sys.stdout.write(text)
        return
    if json_path == "-":
        sys.stdout.write(text)
    else:
        atomic_write_text(json_path, text)


@app.command("describe")
def describe_command(
    inputs: list[str] = typer.Argument(..., help="Image files, folders or globs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON with the analysis."),
    analysis_size: int = typer.Option(256, "--analysis-size", min=64, max=2048),
) -> None:
    """Describe the composition of each image in words."""
    from .cropper import Cropper
    from .describe import describe
    from .io import iter_image_files

    files, problems = iter_image_files(inputs)
    if not files:
        raise usage_error("no input images")
    cropper = Cropper(analysis_size=analysis_size, reference_db=None)
    failures = list(problems)
    for f in files:
        try:
            analysis = cropper.analyze(f)
        except ProcropError as exc:
            failures.append((f, str(exc)))
            continue
        text = describe(analysis)
        if as_json:
            typer.echo(json.dumps({"image": f, "width": analysis.width, "height": analysis.height, "description": text, "analysis": analysis.to_dict()}))
        elif len(files) > 1:
            typer.echo(f"{f}: {text}")
        else:
            typer.echo(text)
    if failures:
        report_failures(failures)
        raise typer.Exit(EXIT_FAILED)


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    run()
