"""``procrop`` command line.

Exit codes: 0 everything done; 1 some inputs failed (each listed with its reason, the others
still written); 2 usage error (bad option, nothing to process).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape

from .._version import __version__
from ..errors import ProcropError, UsageError

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
    from ..geometry import parse_ratios

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
    top_k: int = typer.Option(3, "--top-k", "-k", min=1, max=50, help="At most this many crops per ratio (near-duplicates and alternatives under 80 % of the best are dropped)."),
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
    analysis_size: int = typer.Option(224, "--analysis-size", min=64, max=2048, help="Working size (long side) of the analysis."),
    force: bool = typer.Option(False, "--force", help="Redo images already done in --out."),
    no_analysis: bool = typer.Option(False, "--no-analysis", help="Leave the analysis out of the JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Find the best crops of each image, with scores and reasons."""
    from ..output.batch import CropOptions, CropTask, OutputOptions, completed_result, plan_jobs
    from ..executor import make_executor
    from ..imaging.files import iter_image_files

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
    exit_if_failed(failures)


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


def _emit(results: list[dict[str, Any]], json_path: str | None, out: Path | None, streamed: bool, n_inputs: int) -> None:
    from ..files import atomic_write_text

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
    analysis_size: int = typer.Option(224, "--analysis-size", min=64, max=2048),
) -> None:
    """Describe the composition of each image in words."""
    from ..cropper import Cropper
    from ..perception.describe import describe
    from ..imaging.files import iter_image_files

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
    exit_if_failed(failures)


# --------------------------------------------------------------------------------------------
# procrop index ...
# --------------------------------------------------------------------------------------------

index_app = typer.Typer(help="Build, extend, inspect and query reference databases of professional photos.", no_args_is_help=True)
app.add_typer(index_app, name="index")


def _encoder_kwargs(checkpoint: str | None, device: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if checkpoint:
        kwargs["checkpoint"] = checkpoint
    if device:
        kwargs["device"] = device
    return kwargs


def _run_build(
    photos: list[str],
    out: Path,
    must_exist: bool,
    encoder: str,
    checkpoint: str | None,
    device: str | None,
    workers: int,
    ray: str | None,
    thumbnails: bool,
    licences: Path | None,
    source_root: Path | None,
    quiet: bool,
    chunk: int = 256,
) -> None:
    from ..imaging.files import iter_image_files
    from ..retrieval import build_database, read_licences

    files, problems = iter_image_files(photos)
    if not files:
        raise usage_error("no input images")
    try:
        lic = read_licences(licences) if licences else None
    except OSError as exc:
        raise usage_error(f"--licences {licences}: {exc}") from None
    with _progress(len(files), quiet, "indexing") as bar:
        tid = bar.add_task("index", total=len(files))
        try:
            report = build_database(
                files,
                out,
                encoder=encoder,
                encoder_kwargs=_encoder_kwargs(checkpoint, device),
                workers=workers,
                ray=ray,
                thumbnails=thumbnails,
                source_root=source_root,
                licences=lic,
                progress=lambda done, total: bar.update(tid, completed=done),
                must_exist=must_exist,
                chunk=chunk,
            )
        except ProcropError as exc:
            raise usage_error(str(exc)) from None
    if not quiet:
        err.print(
            f"{out}: added {report.added}, already present {report.already_present}, "
            f"duplicates skipped {report.duplicates}, failed {len(report.failed)} "
            f"({report.seconds:.1f} s)"
        )
    exit_if_failed(list(problems) + report.failed)


@index_app.command("build")
def index_build(
    photos: list[str] = typer.Argument(..., help="Photo files, folders or globs."),
    out: Path = typer.Option(..., "--out", "-o", help="Database folder (created; an existing one is resumed)."),
    encoder: str = typer.Option("layout", "--encoder", help="layout (default, no weights), sam, clip or dinov2."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Weights for sam/clip/dinov2 (local path or hub id)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda for neural encoders."),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    ray: Optional[str] = typer.Option(None, "--ray", help="Encode on Ray: 'local', 'auto' or an address."),
    thumbnails: bool = typer.Option(False, "--thumbnails", help="Store small JPEG thumbnails (for previews)."),
    licences: Optional[Path] = typer.Option(None, "--licences", help="CSV with file, licence, attribution columns."),
    source_root: Optional[Path] = typer.Option(None, "--source-root", help="Store sources relative to this folder."),
    chunk: int = typer.Option(256, "--chunk", min=1, help="Photos per committed shard (work lost on a crash is at most one chunk)."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Encode photos into a reference database (resumes an interrupted build; skips duplicates)."""
    _run_build(photos, out, False, encoder, checkpoint, device, workers, ray, thumbnails, licences, source_root, quiet, chunk)


@index_app.command("add")
def index_add(
    db: Path = typer.Argument(..., help="Existing database folder."),
    photos: list[str] = typer.Argument(..., help="Photo files, folders or globs."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Weights, if the encoder needs them."),
    device: Optional[str] = typer.Option(None, "--device"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    ray: Optional[str] = typer.Option(None, "--ray"),
    thumbnails: bool = typer.Option(False, "--thumbnails"),
    licences: Optional[Path] = typer.Option(None, "--licences"),
    source_root: Optional[Path] = typer.Option(None, "--source-root"),
    chunk: int = typer.Option(256, "--chunk", min=1),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Append photos to an existing database (the encoder is the database's)."""
    from ..retrieval import ReferenceDB

    if not ReferenceDB.exists(db):
        raise usage_error(f"{db}: no reference database here (use 'procrop index build')")
    _run_build(photos, db, True, "layout", checkpoint, device, workers, ray, thumbnails, licences, source_root, quiet, chunk)


@index_app.command("info")
def index_info(
    db: Path = typer.Argument(..., help="Database folder."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show a database's encoder, size, shards and calibration (verifies every shard)."""
    from ..retrieval import ReferenceDB

    try:
        d = ReferenceDB.open(db)
    except ProcropError as exc:
        raise usage_error(str(exc)) from None
    m = d.manifest
    size = sum(p.stat().st_size for p in Path(db).iterdir() if p.is_file())
    licences: dict[str, int] = {}
    for it in d.items:
        key = it.get("licence", "(not recorded)")
        licences[key] = licences.get(key, 0) + 1
    info = {
        "path": str(db),
        "schema_version": m["version"],
        "encoder": m["encoder"],
        "count": len(d),
        "shards": len(m["shards"]),
        "bytes": size,
        "thumbnails": sum(t is not None for t in d.thumbnails),
        "created": m.get("created"),
        "updated": m.get("updated"),
        "calibration": m.get("calibration", {}),
        "licences": dict(sorted(licences.items(), key=lambda kv: -kv[1])),
    }
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    enc = m["encoder"]
    typer.echo(f"{db}: {len(d)} photos, {len(m['shards'])} shard(s), {size / 1e6:.2f} MB")
    typer.echo(f"encoder: {enc['name']} {enc['version']}, vectors {enc['dim']}-d, tokens {tuple(enc['token_shape'])}")
    typer.echo(f"created {m.get('created')}, updated {m.get('updated')}, thumbnails: {info['thumbnails']}")
    if info["calibration"]:
        cal = info["calibration"]
        typer.echo(f"layout similarity: random pairs {cal.get('grid_random', 0):.3f}, nearest neighbours {cal.get('grid_neighbour', 0):.3f}")
    for lic, n in list(info["licences"].items())[:12]:
        typer.echo(f"  {n:6d}  {lic}")


@index_app.command("query")
def index_query(
    db: Path = typer.Argument(..., help="Database folder."),
    image: str = typer.Argument(..., help="Query photo."),
    k: int = typer.Option(10, "-k", "--top-k", min=1, max=1000),
    preview: Optional[Path] = typer.Option(None, "--preview", help="Write a contact sheet PNG of the query and its neighbours."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Weights, if the encoder needs them."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Print the photos in a database whose composition is closest to IMAGE."""
    from ..perception.analyzer import analyze
    from ..perception.detectors import HaarFaceDetector
    from ..retrieval import ReferenceDB, create_encoder, make_index
    from ..retrieval.references import neighbours

    try:
        d = ReferenceDB.open(db)
        info = d.encoder_info
        kwargs = dict(info.get("config", {}))
        if checkpoint:
            kwargs["checkpoint"] = checkpoint
        enc_model = create_encoder(info["name"], **kwargs)
        loaded = enc_model.load(image)
        analysis = analyze(loaded, HaarFaceDetector()) if info["name"] == "layout" else None
        enc = enc_model.encode(loaded, analysis)
        index = make_index(d.vectors, cache_dir=db, fingerprint=d.fingerprint)
        ranked = neighbours(index, enc, min(k, len(d)))[:k]
    except ProcropError as exc:
        raise usage_error(str(exc)) from None
    rows = []
    for rank, (i, (sim, mirrored)) in enumerate(ranked, 1):
        it = d.items[i]
        rows.append({"rank": rank, "id": it.get("id", i), "similarity": round(sim, 4), "mirrored": mirrored,
                     "source": it.get("source"), "licence": it.get("licence")})
    if as_json:
        typer.echo(json.dumps({"query": image, "neighbours": rows}, indent=2))
    else:
        for r in rows:
            flag = " (mirrored)" if r["mirrored"] else ""
            typer.echo(f"{r['rank']:3d}  {r['similarity']:.3f}  {r['source']}{flag}")
    if preview:
        _query_sheet(d, loaded, enc.tokens, ranked, preview)


def _query_sheet(d, loaded, query_tokens, ranked, path: Path) -> None:
    import io as _io

    from PIL import Image

    from ..output.preview import composition_map, contact_sheet, save_preview

    enc = d.encoder_info["name"]
    aspect = loaded.width / loaded.height
    tiles = [
        (Image.fromarray(loaded.pixels), "query"),
        (composition_map(query_tokens, enc, aspect=aspect), "query composition"),
    ]
    for rank, (i, (sim, mirrored)) in enumerate(ranked, 1):
        it = d.items[i]
        a = (it.get("width") or 3) / (it.get("height") or 2)
        label = f"#{rank} {sim:.2f} {it.get('source', '')}" + (" (mirrored)" if mirrored else "")
        thumb = d.thumbnails[i] if i < len(d.thumbnails) else None
        if thumb:
            tiles.append((Image.open(_io.BytesIO(thumb)), label))
        tiles.append((composition_map(d.tokens[i].astype(np.float32), enc, aspect=a), label if not thumb else "composition"))
    save_preview(contact_sheet(tiles, tile_width=192, columns=4), path)


@app.command("eval")
def eval_command(
    benchmark: str = typer.Option(..., "--benchmark", "-b", help="gaicd-v1, gaicd-v2, fcdb, flms, cpc or weak."),
    data: Path = typer.Option(..., "--data", "-d", help="The benchmark's folder (annotations, and images where available)."),
    method: Optional[list[str]] = typer.Option(
        None, "--method", "-m",
        help="default, default:noretrieval, model:CKPT, center, smartcrop, vips-attention; repeat for a side-by-side table.",
    ),
    split: str = typer.Option("test", "--split", help="train, val, test or all."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Report folder (default: eval-<benchmark>)."),
    plots: bool = typer.Option(False, "--plots", help="Per-image PNGs of the best crop against the ground truth, IoU histograms."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Evaluate the first N available images."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Evaluate croppers on a benchmark with its exact protocol; writes Markdown + JSON reports."""
    from ..evaluation.evaluate import evaluate, make_method, write_plots, write_report

    specs = method or ["default"]
    try:
        methods = [make_method(m) for m in specs]
    except ProcropError as exc:
        raise usage_error(str(exc)) from None
    with _progress(1, quiet, "evaluating") as bar:
        tid = bar.add_task("eval", total=None)
        try:
            report = evaluate(
                benchmark, data, methods, split=split, limit=limit,
                progress=lambda done, total: bar.update(tid, completed=done, total=total),
            )
        except ProcropError as exc:
            raise usage_error(str(exc)) from None
    folder = out or Path(f"eval-{benchmark}")
    md, js = write_report(report, folder)
    written = write_plots(report, folder) if plots else []
    typer.echo(f"{benchmark} ({split}): {report.evaluated} image(s) evaluated, {len(report.missing)} annotated image(s) missing on disk")
    typer.echo(report.table())
    if not quiet:
        err.print(f"report: {md}, {js}" + (f"; {len(written)} plot(s) in {folder / 'plots'}" if written else ""))
    exit_if_failed([(i, f"{m.method}: {e}") for m in report.methods for i, e in m.failed])


@app.command("train")
def train_command(
    config: Path = typer.Argument(..., help="Training configuration (TOML, or YAML with PyYAML)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Checkpoint to continue exactly from (e.g. OUT/last.pt)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Override train.out_dir."),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="Override train.data."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Override train.max_steps."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Train the ProCrop network (supervised or weak labels); needs procrop[torch]."""
    from ..errors import require

    require("torch", "training", "torch")
    from ..model.config import Config
    from ..training.trainer import Trainer

    try:
        cfg = Config.load(config)
        overrides: dict[str, Any] = {}
        if out:
            overrides["out_dir"] = str(out)
        if data:
            overrides["data"] = str(data)
        if max_steps:
            overrides["max_steps"] = max_steps
        if overrides:
            cfg = cfg.replace(train=overrides)
        trainer = Trainer(cfg, resume=resume, quiet=quiet)
    except ProcropError as exc:
        raise usage_error(str(exc)) from None
    with _progress(2, quiet, "training") as bar:
        tid = bar.add_task("train", total=trainer.total_steps, completed=trainer.step)

        def tick(step: int, total: int, logs: dict[str, float]) -> None:
            bar.update(tid, completed=step, description=f"loss {logs.get('loss', float('nan')):.3f}")

        result = trainer.run(tick)
    typer.echo(f"{result.steps} steps, {result.epochs_done} epoch(s); final loss {result.final_loss:.4f}; checkpoint {result.last_checkpoint}")


@app.command("export")
def export_command(
    checkpoint: Path = typer.Argument(..., help="A procrop checkpoint (.pt)."),
    out: Path = typer.Argument(..., help="The ONNX file to write."),
    size: Optional[str] = typer.Option(None, "--size", help="Input size WxH (default: the model's canvas, or 640x640)."),
    check: bool = typer.Option(True, "--check/--no-check", help="Compare onnxruntime with torch after exporting."),
) -> None:
    """Export a checkpoint to ONNX (and check it against torch); needs procrop[torch]."""
    from ..model.export import export_onnx, parity

    dims = None
    if size:
        try:
            w, h = (int(v) for v in size.lower().split("x"))
            dims = (w, h)
        except ValueError:
            raise usage_error(f"--size {size!r}: use WxH, e.g. 640x640") from None
    try:
        path = export_onnx(checkpoint, out, dims)
    except ProcropError as exc:
        raise usage_error(str(exc)) from None
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    if check:
        diffs = parity(checkpoint, path)
        typer.echo("max |torch - onnxruntime|: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))


# --------------------------------------------------------------------------------------------
# procrop dataset ...
# --------------------------------------------------------------------------------------------

dataset_app = typer.Typer(help="Generate, inspect and preview weak-label data sets (out-painted professional photos).", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")


@dataset_app.command("generate")
def dataset_generate(
    photos: Path = typer.Option(..., "--photos", help="Folder of professional photos (searched recursively)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (re-running resumes it)."),
    per_photo: int = typer.Option(4, "--per-photo", "-n", min=1, help="Canvases per photo."),
    backend: str = typer.Option("classical", "--backend", help="classical (no weights) or diffusers."),
    model: Optional[str] = typer.Option(None, "--model", help="diffusers: in-painting pipeline folder or hub id."),
    seed: int = typer.Option(0, "--seed"),
    coverage: str = typer.Option("0.35,0.9", "--coverage", help="Range of the canvas area the photo covers."),
    rounds: int = typer.Option(2, "--rounds", min=1, help="Proposal refinement rounds."),
    scorer: str = typer.Option("default", "--scorer", help="Proposal scorer: default (composition score) or a checkpoint."),
    max_side: int = typer.Option(1024, "--max-side", min=64, help="Photos are shrunk to this long side first."),
    licences: Optional[Path] = typer.Option(None, "--licences", help="Licence CSV (default: a MANIFEST.csv in PHOTOS or up to three folders above)."),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    ray: Optional[str] = typer.Option(None, "--ray", help="Run on Ray: 'local', 'auto' or an address (procrop[distributed])."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Out-paint photos onto wider canvases and write weak crop labels (resumable, deterministic)."""
    from ..weaklabels import GenerateParams, generate_dataset
    from ..imaging.files import iter_image_files
    from ..retrieval import read_licences

    try:
        lo, hi = (float(v) for v in coverage.split(","))
        if not (0 < lo <= hi < 1):
            raise ValueError
    except ValueError:
        raise usage_error(f"--coverage {coverage!r}: use two numbers 0 < a <= b < 1, e.g. 0.35,0.9") from None
    files, problems = iter_image_files([str(photos)])
    if not files:
        raise usage_error(f"{photos}: no photos")
    csv_path = licences or next(
        (d / "MANIFEST.csv" for d in [photos.resolve(), *photos.resolve().parents][:4] if (d / "MANIFEST.csv").exists()), None
    )
    params = GenerateParams(per_photo=per_photo, backend=backend, backend_model=model or "", seed=seed,
                            coverage=(lo, hi), rounds=rounds, scorer=scorer, max_side=max_side)
    with _progress(2, quiet, "generating") as bar:
        tid = bar.add_task("gen", total=None)
        try:
            report = generate_dataset(
                files, out, params, photo_root=str(photos), licences=read_licences(csv_path) if csv_path else None,
                workers=workers, ray=ray, progress=lambda done, total: bar.update(tid, completed=done, total=total),
            )
        except ProcropError as exc:
            raise usage_error(str(exc)) from None
    typer.echo(
        f"{out}: {report.written} item(s) written, {report.done_before} already done, {len(report.failed)} failed; "
        f"{report.throughput:.2f} items/s; seam AUC {report.seam.get('seam_auc', float('nan'))}, "
        f"seam line ratio {report.seam.get('seam_line_ratio', float('nan'))}"
    )
    exit_if_failed(list(problems) + report.failed)


@dataset_app.command("info")
def dataset_info_command(
    data: Path = typer.Argument(..., help="A generated data set."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Counts, label and coverage statistics, licences, and the seam statistic of a data set."""
    from ..weaklabels import dataset_info

    try:
        info = dataset_info(data)
    except ProcropError as exc:
        raise usage_error(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        p = info["params"] or {}
        typer.echo(f"{data}: {info['items']} items from {info['photos']} photos ({info['format']}, backend {p.get('backend')}, seed {p.get('seed')})")
        typer.echo(f"labels per item: mean {info['labels_per_item']['mean']:.2f} (min {info['labels_per_item']['min']}, max {info['labels_per_item']['max']})")
        typer.echo(f"coverage of the canvas by the photo: mean {info['coverage']['mean']:.2f} ({info['coverage']['min']:.2f}-{info['coverage']['max']:.2f})")
        seam = info.get("seam") or {}
        typer.echo(f"seam check: AUC {seam.get('seam_auc')} (0.5 = seam invisible to a patch classifier), line ratio {seam.get('seam_line_ratio')} (1 = no seam line)")
        for folder, n in info["by_folder"].items():
            typer.echo(f"  {n:6d}  {folder}")
    if info["missing_files"]:
        err.print(f"[red]{len(info['missing_files'])} committed item(s) have missing files[/]")
        raise typer.Exit(EXIT_FAILED)


@dataset_app.command("preview")
def dataset_preview(
    data: Path = typer.Argument(..., help="A generated data set."),
    n: int = typer.Option(12, "--n", min=1, max=200),
    out: Path = typer.Option(Path("preview.png"), "--out", "-o"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """A contact sheet: canvases with the original frame (white, dashed) and the weak labels."""
    from ..weaklabels import preview_sheet
    from ..output.preview import save_preview

    try:
        sheet = preview_sheet(data, n, seed)
    except ProcropError as exc:
        raise usage_error(str(exc)) from None
    save_preview(sheet, out)
    typer.echo(f"wrote {out}")


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    run()
