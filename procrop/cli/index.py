"""``procrop index ...``: build, extend, inspect and query reference databases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer
from rich.markup import escape

from ..files import foreign_folder
from .common import (EXIT_FAILED, EXIT_INTERRUPTED, err, exit_if_failed, exit_no_inputs, progress_bar,
                     usage_error, usage_errors)

#: ``--licences`` of ``index build`` and ``index add``.
LICENCES_HELP = ("CSV with file, licence, attribution columns (default: a MANIFEST.csv in the first photo "
                 "folder or up to three folders above).")

index_app = typer.Typer(help="Build, extend, inspect and query reference databases of professional photos.", no_args_is_help=True)

#: The progress bar's label in each step of a build (the bar counts photos).
STAGES = {"encoding": "encoding photos", "measuring": "measuring composition", "calibrating": "calibrating",
          "indexing": "building the search index"}


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
    index: str = "auto",
) -> None:
    from ..imaging.files import iter_image_files
    from ..retrieval import build_database, read_licences
    from ..retrieval.licences import find_manifest
    from ..retrieval.store import OWN_ENTRIES

    files, problems = iter_image_files(photos)
    unmatched = len(problems)  # folders and patterns that held no image (a missing file is a failed image)
    problems += [(f, "no such file or folder") for f in files if not Path(f).is_file()]
    files = [f for f in files if Path(f).is_file()]
    if not files:  # nothing to encode: say why (exit 2, as procrop crop does), and create no database
        raise exit_no_inputs(problems)
    if out.exists() and not out.is_dir():
        raise usage_error(f"{out}: exists and is not a database folder")
    if foreign_folder(out, "manifest.json", OWN_ENTRIES):  # a build into the same folder may be under way
        raise usage_error(f"{out}: a folder holding other files, not a reference database: build into a "
                          "new or empty folder")
    if licences is None:  # a photo folder's own list, as dataset generate finds it (a researcher's trial)
        folders = [Path(p) for p in photos if Path(p).is_dir()] or [Path(files[0]).parent]
        licences = find_manifest(folders[0])
        if licences is not None and not quiet:
            err.print(f"note: licences from {escape(str(licences))} (--licences FILE gives another list)")
    try:
        lic = read_licences(licences) if licences else None
    except OSError as exc:
        raise usage_error(f"--licences {licences}: {exc}") from None
    fresh = not out.exists()
    # the bar closes before an error's line is printed (an unknown encoder: no bar drawn under it)
    encoded = 0  # photos encoded so far, for the line a Ctrl-C leaves

    def progress(done: int, total: int) -> None:
        nonlocal encoded
        encoded = done
        bar.update(tid, completed=done, total=total)

    try:
        with usage_errors(), progress_bar(len(files), quiet, "{task.description}") as bar:
            # counts photos: encoded (and measured, as the cropper measures crops) of all given
            tid = bar.add_task("photos", total=len(files))
            from ..cropper import Cropper

            report = build_database(
                files, out, analyze=Cropper(reference_db=None).analyze,
                encoder=encoder, encoder_kwargs=_encoder_kwargs(checkpoint, device), workers=workers, ray=ray,
                thumbnails=thumbnails, source_root=source_root, licences=lic, progress=progress,
                stage=lambda name: bar.update(tid, description=STAGES.get(name, name)), must_exist=must_exist,
                chunk=chunk, index=index,
            )
            bar.update(tid, description="photos added")  # the last step's label stayed on the finished bar
    except KeyboardInterrupt:  # as dataset generate says it (a researcher's trial read only "interrupted")
        err.print(f"interrupted after encoding {encoded} of {len(files)} photo(s): {escape(str(out))} keeps "
                  f"the chunks of {chunk} committed before it (--chunk); the same command goes on from there")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if not quiet and (report.added or report.already_present or report.duplicates or not report.failed):
        err.print(
            f"{out}: added {report.added}, already present {report.already_present}, "
            f"duplicates skipped {report.duplicates}, failed {len(report.failed)} "
            f"({report.seconds:.1f} s)"
        )
    if not quiet:
        _note_tiny(report.small)
    if fresh and not (report.added or report.already_present) and out.is_dir():
        shutil.rmtree(out)  # no photo could be added: leave no empty database behind
    exit_if_failed(list(problems) + report.failed, unmatched=unmatched)


def _note_tiny(small: list[tuple[str, int, int]]) -> None:
    """One note for the photos added that are too small to measure (the build's ``small``; under 64
    px on the short side, as a crop's warning says): taken in, they steer with what little could be
    found in them (a trial's 8 x 5 PNG entered a database without a word)."""
    from ..verdict import SMALL_PHOTO_SIDE

    if small:
        path, w, h = small[0]
        err.print(f"note: {len(small)} photo(s) under {SMALL_PHOTO_SIDE} px on their short side, too small "
                  f"for subjects or lines to be found (first: {escape(path)} ({w}x{h})): their composition "
                  "steers little")


@index_app.command("build")
def index_build(
    photos: list[str] = typer.Argument(..., help="Photo files, folders or globs."),
    out: Path = typer.Option(..., "--out", "-o", help="Database folder (created; an existing one is resumed)."),
    encoder: str = typer.Option(
        "mobilenet", "--encoder",
        help="mobilenet (default: packaged weights, 64 tokens x 64 as the model configs expect), "
             "layout (no network), sam, clip or dinov2."),
    checkpoint: Optional[str] = typer.Option(
        None, "--checkpoint", help="Weights for sam/clip/dinov2: a local path (clip/dinov2 also take a hub id "
        "already in the local Hugging Face cache; nothing is downloaded)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda for neural encoders."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Worker processes encoding photos."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Encode on Ray: 'local', 'auto' or an address."),
    thumbnails: bool = typer.Option(False, "--thumbnails", help="Store small JPEG thumbnails (for previews)."),
    licences: Optional[Path] = typer.Option(None, "--licences", help=LICENCES_HELP),
    source_root: Optional[Path] = typer.Option(None, "--source-root", help="Store sources relative to this folder."),
    chunk: int = typer.Option(256, "--chunk", min=1, help="Photos per committed shard (work lost on a crash is at most one chunk)."),
    index: str = typer.Option(
        "auto", "--index",
        help="Search index stored with the database: auto (exact up to 50k photos, hnsw up to 200k, "
             "compressed above), exact, hnsw, ivf or compressed (codes in memory, vectors and tokens "
             "read from disk: for millions of photos)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Encode photos into a reference database (resumes an interrupted build; skips duplicates)."""
    from ..retrieval.search import KINDS

    if index not in KINDS:
        raise usage_error(f"--index {index}: unknown index kind (use {', '.join(KINDS)})")
    _run_build(photos, out, False, encoder, checkpoint, device, workers, ray, thumbnails, licences, source_root, quiet,
               chunk, index)


@index_app.command("add")
def index_add(
    db: Path = typer.Argument(..., help="Existing database folder."),
    photos: list[str] = typer.Argument(..., help="Photo files, folders or globs."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Weights, if the encoder needs them."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda for neural encoders."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Worker processes encoding photos."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Encode on Ray: 'local', 'auto' or an address."),
    thumbnails: Optional[bool] = typer.Option(
        None, "--thumbnails/--no-thumbnails", help="Thumbnails of the added photos (default: as the database has them)."
    ),
    licences: Optional[Path] = typer.Option(None, "--licences", help=LICENCES_HELP),
    source_root: Optional[Path] = typer.Option(None, "--source-root", help="Store sources relative to this folder."),
    chunk: int = typer.Option(256, "--chunk", min=1, help="Photos per committed shard (work lost on a crash is at most one chunk)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Append photos to an existing database (the encoder is the database's)."""
    from ..retrieval import ReferenceDB

    if not ReferenceDB.exists(db):
        raise usage_error(f"{db}: no reference database here (use 'procrop index build')")
    if thumbnails is None:  # a database built with thumbnails gets them for its new photos too
        with usage_errors():
            thumbnails = any(ReferenceDB.open(db).thumbnails)
    # the encoder is the database's own (the name passed here is ignored when adding)
    _run_build(photos, db, True, "", checkpoint, device, workers, ray, thumbnails, licences, source_root, quiet, chunk)


@index_app.command("info")
def index_info(
    db: Path = typer.Argument(..., help="Database folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    photos: bool = typer.Option(False, "--photos", help="Also list each photo's measured composition (what "
                                "the style term follows: subject place and fill, horizon)."),
) -> None:
    """Show a database's encoder, size, search index, shards and calibration.

    It checks every shard's size and headers, and hashes those changed since they were last hashed
    ('procrop index verify' hashes all); with --photos, how each photo was measured."""
    from ..retrieval import ReferenceDB
    from ..retrieval.composition import item_stats, read_composition
    from ..retrieval.search import index_summary
    from ..retrieval.store import LAZY_LIMIT

    with usage_errors():
        d = ReferenceDB.open(db)
        try:
            per_photo = item_stats(d.items, read_composition(db))
        except ValueError as exc:
            raise usage_error(str(exc)) from None
    measured = sum(s is not None for s in per_photo)
    m = d.manifest
    size = sum(p.stat().st_size for p in Path(db).iterdir() if p.is_file())
    search = index_summary(db, m, d.fingerprint, LAZY_LIMIT)
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
        "index": search,
        "thumbnails": sum(t is not None for t in d.thumbnails),
        "composition": measured,
        "created": m.get("created"),
        "updated": m.get("updated"),
        "calibration": m.get("calibration", {}),
        "licences": dict(sorted(licences.items(), key=lambda kv: -kv[1])),
    }
    if photos:
        info["photos"] = [{"source": it.get("source", ""), "composition": st}
                          for it, st in zip(d.items, per_photo)]
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    enc = m["encoder"]
    typer.echo(f"{db}: {len(d)} photos, {len(m['shards'])} shard(s), {size / 1e6:.2f} MB")
    typer.echo(f"encoder: {enc['name']} {enc['version']}, vectors {enc['dim']}-d, tokens {tuple(enc['token_shape'])}")
    typer.echo(_index_line(search))
    typer.echo(f"created {m.get('created')}, updated {m.get('updated')}, thumbnails: {info['thumbnails']}")
    typer.echo(f"composition measured (steers the learned scorer's style): {measured} of {len(d)} photos"
               + ("" if measured == len(d) else " ('procrop index add DB PHOTOS' measures the rest)"))
    if info["calibration"]:
        cal = info["calibration"]
        typer.echo(f"layout similarity: random pairs {cal.get('grid_random', 0):.3f}, nearest neighbours {cal.get('grid_neighbour', 0):.3f}")
    shown = list(info["licences"].items())
    typer.echo("photos per licence" + (f" (the 12 commonest of {len(shown)}):" if len(shown) > 12 else ":"))
    for lic, n in shown[:12]:
        typer.echo(f"  {n:6d}  {lic}")
    if photos:
        typer.echo("each photo's composition, as the style term reads it (shares of the frame):")
    for row in info.get("photos", []):
        typer.echo(f"  {_composition_words(row['composition'])}  {row['source']}")


def _composition_words(st: dict[str, float] | None) -> str:
    """One photo's measured composition for ``index info --photos``: subject centre and fill,
    horizon height (shares of the frame, from the left and from the top)."""
    if st is None:
        return "not measured"
    subject = (f"subject at {st['cx']:.0%} from the left, {st['cy']:.0%} down, filling {st['fill']:.0%}"
               if "cx" in st else "no subject")
    horizon = f"horizon {st['horizon']:.0%} down" if "horizon" in st else "no horizon"
    return f"{subject}; {horizon}"


def _index_line(search: dict[str, Any]) -> str:
    """``procrop index info``'s line on the search index: kind, file on disk, memory."""
    kind = search["kind"]
    how = "as recorded at build" if search["chosen"] == "recorded" else "chosen by size ('auto')"
    mb = lambda n: f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"  # noqa: E731
    if kind == "exact":
        disk = "nothing stored"
        mem = f"vectors in memory: {mb(search['memory'])}"
    else:
        disk = f"{mb(search['stored'])} on disk" if search["stored"] else "not built yet (built on first query)"
        what = "codes" if kind == "compressed" else "index"
        mem = f"{what} in memory: {'about ' if search['memory_estimated'] else ''}{mb(search['memory'])}"
    rows = (f"vectors and tokens loaded on open: {mb(search['rows_memory'])}" if search["rows_memory"]
            else "vectors and tokens read from the shard files as needed")
    return f"search index: {kind} ({how}), {disk}; {mem}; {rows}"


@index_app.command("verify")
def index_verify(
    db: Path = typer.Argument(..., help="Database folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Hash every shard file and compare it with the manifest.

    (Opening a database checks sizes and headers, and hashes only the files changed since they were
    last hashed.) Exit code 1 names the first corrupt, truncated or missing file."""
    from ..retrieval import ReferenceDB
    from ..retrieval.integrity import DatabaseError, verify_files
    from ..retrieval.store import read_manifest

    with usage_errors():
        manifest = read_manifest(Path(db))
    with progress_bar(2, quiet, "verifying shard files") as bar:
        tid = bar.add_task("files", total=2 * len(manifest["shards"]))
        try:
            hashed = verify_files(db, manifest, lambda done, total: bar.update(tid, completed=done, total=total))
            d = ReferenceDB.open(db, verify="quick")  # shapes and items, with the fresh stamps
        except DatabaseError as exc:
            bar.stop()
            err.print(f"[bold red]error:[/] {escape(str(exc))}")
            raise typer.Exit(EXIT_FAILED) from None
    if not quiet:
        err.print(f"{db}: {len(d)} photos in {len(manifest['shards'])} shard(s), {hashed / 1e6:.1f} MB hashed: "
                  "every file matches the manifest")


@index_app.command("query")
def index_query(
    db: Path = typer.Argument(..., help="Database folder."),
    image: str = typer.Argument(..., help="Query photo."),
    k: int = typer.Option(10, "-k", "--top-k", min=1, max=1000, help="How many nearest photos to list."),
    preview: Optional[Path] = typer.Option(None, "--preview", help="Write a contact sheet PNG of the query and its neighbours."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Weights, if the encoder needs them."),
    as_json: bool = typer.Option(False, "--json", help="Print the neighbours as JSON."),
) -> None:
    """Print the photos in a database whose composition is closest to IMAGE."""
    from ..perception.analyzer import analyze
    from ..perception.detectors import HaarFaceDetector
    from ..retrieval import ReferenceDB, create_encoder, make_index
    from ..retrieval.references import neighbours

    with usage_errors():
        d = ReferenceDB.open(db)
        info = d.encoder_info
        kwargs = dict(info.get("config", {}))
        if checkpoint:
            kwargs["checkpoint"] = checkpoint
        enc_model = create_encoder(info["name"], **kwargs)
        loaded = enc_model.load(image)
        analysis = analyze(loaded, HaarFaceDetector()) if info["name"] == "layout" else None
        enc = enc_model.encode(loaded, analysis)
        index = make_index(d.vectors, d.manifest.get("index", "auto"), cache_dir=db, fingerprint=d.fingerprint)
        ranked = neighbours(index, enc, min(k, len(d)))[:k]
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


