"""``procrop eval``: croppers side by side on a benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


from rich.markup import escape

from .common import (err, exit_if_failed, output_folder_problem, progress_bar, refuse_outputs, usage_error,
                     usage_errors)



def eval_command(
    benchmark: str = typer.Option(..., "--benchmark", "-b", help="gaicd-v1, gaicd-v2, fcdb, flms, cpc, sacd or weak."),
    data: Path = typer.Option(..., "--data", "-d", help="The benchmark's folder (annotations, and images where available)."),
    method: Optional[list[str]] = typer.Option(
        None, "--method", "-m",
        help="default, default:noretrieval, learned:DIR (a learned bundle), model:CKPT (.pt or .onnx), center, "
             "smartcrop, vips-attention; LABEL=METHOD names the row; repeat for a side-by-side table.",
    ),
    db: Optional[str] = typer.Option(
        None, "--db",
        help="Reference database for model:CKPT methods (a path, 'default' for the bundled one, or 'none'); "
             "default: the one the model's configuration records.",
    ),
    split: str = typer.Option("test", "--split", help="train, val, test or all."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Report folder (default: eval-<benchmark>)."),
    plots: bool = typer.Option(False, "--plots", help="Per-image PNGs of the best crop against the ground truth, IoU histograms."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Evaluate the first N available images."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no 'report:' line on stderr "
                               "(the results table still goes to stdout)."),
) -> None:
    """Evaluate croppers on a benchmark with its exact protocol; writes Markdown + JSON reports."""
    from ..evaluation.evaluate import evaluate, make_methods
    from ..evaluation.report import write_plots, write_report

    specs = method or ["default"]
    if db is not None and not any(s.split("=", 1)[-1].startswith("model:") for s in specs):
        raise usage_error(f"--db {db}: only model:CKPT methods read a reference database; "
                          "the default and learned:DIR methods use their own")
    with usage_errors():
        methods = make_methods(specs, reference_db=db)
    for m in methods:
        for warning in m.warnings:
            err.print(f"[bold yellow]warning:[/] {escape(warning)}")
    refuse_outputs(output_folder_problem(out or Path(f"eval-{benchmark}")))  # before the evaluation
    with progress_bar(1, quiet, "evaluating") as bar:
        tid = bar.add_task("eval", total=None)
        with usage_errors():
            report = evaluate(
                benchmark, data, methods, split=split, limit=limit,
                progress=lambda done, total: bar.update(tid, completed=done, total=total),
            )
    folder = out or Path(f"eval-{benchmark}")
    md, js = write_report(report, folder)
    written = write_plots(report, folder) if plots else []
    typer.echo(f"{benchmark} ({split}): {report.evaluated} image(s) evaluated, {len(report.missing)} annotated image(s) missing on disk")
    typer.echo(report.table())
    if not quiet:
        err.print(f"report: {md}, {js}" + (f"; {len(written)} plot(s) in {folder / 'plots'}" if written else ""))
    exit_if_failed([(i, f"{m.method}: {e}") for m in report.methods for i, e in m.failed])


