"""``procrop dataset ...``: generate, inspect and preview weak-label data sets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

import typer


from .common import (BarProgress, EXIT_FAILED, EXIT_INTERRUPTED, err, exit_if_failed, progress_bar,
                     usage_error, usage_errors)

dataset_app = typer.Typer(help="Generate, inspect and preview weak-label data sets (out-painted professional photos).", no_args_is_help=True)




@dataset_app.command("generate")
def dataset_generate(
    photos: Path = typer.Option(..., "--photos", help="Folder of professional photos (searched recursively)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (re-running resumes it)."),
    per_photo: int = typer.Option(4, "--per-photo", "-n", min=1, help="Canvases per photo."),
    backend: str = typer.Option(
        "classical", "--backend", help="classical, smear, inpaint, foreign (no weights) or diffusers."
    ),
    model: Optional[str] = typer.Option(None, "--model", help="diffusers: local in-painting pipeline folder (nothing is downloaded)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (the same seed gives the same data set)."),
    coverage: str = typer.Option("0.35,0.9", "--coverage", help="Range of the canvas area the photo covers."),
    rounds: int = typer.Option(2, "--rounds", min=1, help="Proposal refinement rounds."),
    scorer: str = typer.Option("default", "--scorer", help="Proposal scorer: default (composition score) or a checkpoint."),
    max_side: int = typer.Option(1024, "--max-side", min=64, help="Photos are shrunk to this long side first."),
    licences: Optional[Path] = typer.Option(None, "--licences", help="Licence CSV (default: a MANIFEST.csv in PHOTOS or up to three folders above)."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Worker processes."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Run on Ray: 'local', 'auto' or an address (procrop\\[distributed])."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Out-paint photos onto wider canvases and write weak crop labels (resumable, deterministic)."""
    from ..weaklabels import GenerateParams, generate_dataset
    from ..imaging.files import iter_image_files
    from ..retrieval import read_licences
    from ..retrieval.licences import find_manifest

    try:
        lo, hi = (float(v) for v in coverage.split(","))
        if not (0 < lo <= hi < 1):
            raise ValueError
    except ValueError:
        raise usage_error(f"--coverage {coverage!r}: use two numbers 0 < a <= b < 1, e.g. 0.35,0.9") from None
    if not photos.is_dir():
        raise usage_error(f"{photos}: no such folder")
    if out.exists() and not out.is_dir():
        raise usage_error(f"{out}: exists and is not a data-set folder")
    files, problems = iter_image_files([str(photos)])
    made = out.resolve()  # a data set inside --photos: its canvases are no professional photos
    files = [f for f in files if made not in Path(f).resolve().parents]
    if not files:
        raise usage_error(f"{photos}: no photos")
    csv_path = licences or find_manifest(photos)
    params = GenerateParams(per_photo=per_photo, backend=backend, backend_model=model or "", seed=seed,
                            coverage=(lo, hi), rounds=rounds, scorer=scorer, max_side=max_side)
    _check_tools(backend, model, scorer)
    try:
        lic = read_licences(csv_path) if csv_path else None
    except OSError as exc:
        raise usage_error(f"--licences {csv_path}: {exc}") from None
    if csv_path is None and not quiet:
        err.print(f"note: no licence list (a MANIFEST.csv in {photos} or up to three folders above, or "
                  "--licences FILE): the items record no licence")
    elif lic is not None and not quiet:
        from ..retrieval.licences import licence_for

        unlisted = [f for f in files if not licence_for(lic, f)]
        if unlisted:  # a list that names only some photos: the others' items record no licence
            err.print(f"note: {len(unlisted)} of {len(files)} photo(s) have no row in {csv_path} (first: "
                      f"{unlisted[0]}): their items record no licence")
    fresh, progress = not out.exists(), None
    try:
        with usage_errors(), progress_bar(2, quiet, "generating") as bar:
            progress = BarProgress(bar, bar.add_task("gen", total=None))
            report = generate_dataset(
                files, out, params, photo_root=str(photos), licences=lic, workers=workers, ray=ray,
                progress=progress,
            )
    except KeyboardInterrupt:  # typer would exit 130 without a word
        done = progress.done if progress else 0
        err.print(f"interrupted: {done} item(s) done in {out}; the same command goes on from there")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if fresh and not (report.written or report.done_before) and out.is_dir():
        shutil.rmtree(out)  # every photo failed: no empty data set left behind
    elif not quiet:
        seam = (f"; seam AUC {report.seam['seam_auc']}, seam line ratio {report.seam.get('seam_line_ratio')}"
                if "seam_auc" in report.seam else "")
        typer.echo(f"{out}: {report.written} item(s) written, {report.done_before} already done, "
                   f"{len(report.failed)} failed; {report.throughput:.2f} items/s{seam}")
    exit_if_failed(list(problems) + report.failed, unmatched=len(problems))


def _check_tools(backend: str, model: str | None, scorer: str) -> None:
    """The out-painting backend and the proposal scorer, checked once before any photo (and any
    data-set folder): one usage line instead of the same error for every photo."""
    from ..weaklabels.outpaint import BACKENDS

    if backend not in BACKENDS:
        raise usage_error(f"--backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend == "diffusers" and not model:
        raise usage_error("--backend diffusers needs --model (a local in-painting pipeline folder)")
    if scorer != "default":
        from ..weaklabels.proposals import NeuralScorer

        with usage_errors():
            NeuralScorer(scorer)


@dataset_app.command("info")
def dataset_info_command(
    data: Path = typer.Argument(..., help="A generated data set."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Counts, label and coverage statistics, licences, and the seam statistic of a data set."""
    from ..weaklabels import dataset_info

    with usage_errors():
        info = dataset_info(data)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        p = info["params"] or {}
        typer.echo(f"{data}: {info['items']} items from {info['photos']} photos ({info['format']}, backend {p.get('backend')}, seed {p.get('seed')})")
        lab = info["labels_per_item"]
        typer.echo(f"labels per item, the frame included (as dataset preview counts them): mean {lab['mean']:.2f} "
                   f"(min {lab['min']}, max {lab['max']}; {lab['total']} in all)")
        typer.echo(f"coverage of the canvas by the photo: mean {info['coverage']['mean']:.2f} ({info['coverage']['min']:.2f}-{info['coverage']['max']:.2f})")
        seam = info.get("seam") or {}
        if "seam_auc" in seam:
            typer.echo(f"seam check: AUC {seam['seam_auc']} (0.5 = seam invisible to a patch classifier), "
                       f"line ratio {seam.get('seam_line_ratio')} (1 = no seam line)")
        else:  # measured when a generation ends: this one was stopped (or is still running)
            typer.echo("seam check: not measured yet (a generation measures it when it ends; the same "
                       "`dataset generate` command goes on and finishes it)")
        typer.echo("items by source folder:")  # (a bare "12  ." line read as a stray one: a trial)
        for folder, n in info["by_folder"].items():
            typer.echo(f"  {n:6d}  {'(the photo folder itself)' if folder == '.' else folder}")
        typer.echo("items by licence:")
        for licence, n in info["licences"].items():
            typer.echo(f"  {n:6d}  {licence}")
    if info["missing_files"]:
        err.print(f"[red]{len(info['missing_files'])} committed item(s) have missing files[/]")
        raise typer.Exit(EXIT_FAILED)


@dataset_app.command("preview")
def dataset_preview(
    data: Path = typer.Argument(..., help="A generated data set."),
    n: int = typer.Option(12, "--n", min=1, max=200, help="Canvases on the sheet."),
    out: Path = typer.Option(Path("preview.png"), "--out", "-o", help="PNG file to write."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the canvases picked."),
) -> None:
    """A contact sheet: canvases with the original frame (white, dashed) and the weak labels."""
    from ..weaklabels import preview_sheet
    from ..output.preview import save_preview

    if out.suffix.lower() != ".png":
        raise usage_error(f"--out {out}: the contact sheet is a PNG; name a .png file")
    with usage_errors():
        sheet = preview_sheet(data, n, seed)
    save_preview(sheet, out)
    typer.echo(f"wrote {out}")


