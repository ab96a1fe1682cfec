"""``procrop learned ...``: build, train and export the learned box scorer (extra ``procrop[torch]``; one input of the default preference scorer).

``procrop learned build`` is the one command that rebuilds the shipped bundle (its ``WORK/run/best.pt``
is the trainable checkpoint ``procrop learned finetune --from`` starts from): every stage resumes
where a killed run stopped (finished box-set shards are kept, training continues from
``last.pt``), so it can run in parts.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import typer

from rich.markup import escape

from ..files import foreign_folder
from .common import (EXIT_INTERRUPTED, err, output_folder_problem, progress_bar, refuse_outputs, usage_error,
                     usage_errors)

learned_app = typer.Typer(help="Build, train and export the learned box scorer, one input of the default (needs procrop\\[torch]).",
                          no_args_is_help=True)


@contextlib.contextmanager
def stops_cleanly() -> Iterator[None]:
    """:func:`usage_errors`, and a training stopped by a signal says where its progress is (exit 130)."""
    from ..training.shared.keeping import TrainingInterrupted

    try:
        with usage_errors(passing=TrainingInterrupted):
            yield
    except TrainingInterrupted as exc:
        err.print(f"[bold yellow]stopped:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_INTERRUPTED) from None


@contextlib.contextmanager
def training_bar() -> Iterator[Any]:
    """A progress bar of the training steps (all epochs; a resumed run starts where it stood), as a
    ``progress(step, total)`` callback, shown from the first step (a run refused before it shows
    none); the epochs' validation lines still go to stderr."""
    bar = progress_bar(2, False, "training")
    task = None

    def progress(step: int, total: int) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task("train", total=total)
        bar.update(task, completed=step, total=total)

    try:
        yield progress
    finally:
        if task is not None:
            bar.stop()


def refuse_foreign_bundle(out: Path) -> None:
    """A bundle is written into a new or empty folder, or over a bundle (its model.json): never mixed
    into a folder of other files (a trial's export landed beside its README and photos)."""
    refuse_outputs(output_folder_problem(out))
    if foreign_folder(out, "model.json"):
        raise usage_error(f"{out}: a folder holding other files, not a bundle: write the bundle into a new "
                          "or empty folder")


def _split(split: Path, photos: Path) -> tuple[list[str], list[str]]:
    """The split's training and held-out photo paths; every one must exist and both lists be non-empty."""
    try:
        s = json.loads(split.read_text(encoding="utf-8"))
        train, held = [str(photos / f) for f in s["train"]], [str(photos / f) for f in s["heldout"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise usage_error(f"{split}: not a split file with 'train' and 'heldout' lists ({exc})") from None
    for key, names in (("train", train), ("heldout", held)):
        if not names:
            raise usage_error(f"{split}: the '{key}' list is empty")
    missing = [p for p in train + held if not Path(p).is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise usage_error(f"{split}: {len(missing)} listed photo(s) not found under {photos}: {shown}")
    return train, held


@learned_app.command("boxsets")
def boxsets_command(
    photos: list[str] = typer.Argument(..., help="Professional photos (files)."),
    out: Path = typer.Option(..., "--out", "-o", help="Box-set folder (re-running resumes it)."),
    root: Optional[Path] = typer.Option(None, "--root", help="Store photo names relative to this folder."),
    canvases: int = typer.Option(12, "--canvases", "-n", min=1, help="Canvases per photo."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the canvases (the same seed gives the same box sets)."),
    backbone: str = typer.Option("pretrained", "--backbone", help="pretrained, or random (the ablation)."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Worker processes."),
) -> None:
    """Shrink professional photos into augmented canvases and cache their backbone features."""
    from .common import require_extra as require

    require("torch", "building box sets", "torch")
    from ..training.scorer.boxsets import BoxSetOptions, build_boxsets

    with usage_errors():
        shards = build_boxsets(photos, out, BoxSetOptions(canvases=canvases, seed=seed, backbone=backbone),
                               root=str(root) if root else None, workers=workers)
    typer.echo(f"{len(shards)} shards in {out}")


@learned_app.command("train")
def train_command(
    train: Path = typer.Option(..., "--train", help="Training box sets."),
    val: Path = typer.Option(..., "--val", help="Held-out box sets (validated every epoch)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (re-running resumes from last.pt)."),
    refs: Optional[Path] = typer.Option(None, "--refs", help="Reference database (mobilenet encoder) of the training photos."),
    epochs: int = typer.Option(16, "--epochs", min=1, help="Training epochs."),
    no_refs: bool = typer.Option(False, "--no-refs", help="Ablation: no reference fusion."),
    no_text: bool = typer.Option(False, "--no-text", help="Ablation: no description fusion."),
    threads: int = typer.Option(2, "--threads", min=1, help="CPU threads for torch."),
    stop_after: Optional[int] = typer.Option(None, "--stop-after", min=1, help="Run at most N epochs now; rerun to continue the same schedule."),
) -> None:
    """Train the learned box scorer on cached box sets, keeping the best epoch by held-out recovery.

    A rerun resumes exactly from OUT/last.pt."""
    from .common import require_extra as require

    require("torch", "training", "torch")
    from ..training.scorer.boxtrain import BoxTrainConfig, train_boxnet, with_net

    cfg = with_net(BoxTrainConfig(epochs=epochs, threads=threads), refs=not no_refs, text=not no_text)
    with stops_cleanly(), training_bar() as progress:
        db = str(refs) if refs and not no_refs else None
        best = train_boxnet(str(train), str(val), out, db, cfg, stop_after, progress=progress)
    typer.echo(f"best epoch {best['epoch']}: held-out recovery {best['recovery']['all']:.3f} -> {out / 'best.pt'}")


@learned_app.command("export")
def export_command(
    checkpoint: Path = typer.Argument(..., help="A run's best.pt."),
    out: Path = typer.Argument(..., help="Bundle folder to write."),
    refs: Optional[Path] = typer.Option(None, "--refs", help="The reference database the model was trained with."),
    name: str = typer.Option("procrop-learned", "--name", help="Model name reported in JSON options."),
    check: Optional[Path] = typer.Option(None, "--check", help="A photo to compare torch and onnxruntime on."),
    no_refs: bool = typer.Option(False, "--no-refs", help="Ship a model trained with references without them "
                                 "(crops then run without references)."),
) -> None:
    """Export a trained box scorer as the onnxruntime bundle that procrop crop uses.

    A model trained with references needs --refs (the database it was trained with), or --no-refs to
    ship it without."""
    from .common import require_extra as require

    require("torch", "exporting", "torch")
    from ..model.scorer.boxnet_export import bundle_parity, export_bundle, load_checkpoint

    with usage_errors():
        model, state = load_checkpoint(checkpoint)
    refuse_foreign_bundle(out)
    meta = state.get("meta")
    trained = meta.get("references") if isinstance(meta, dict) else "a reference database"
    if model.cfg.refs and trained and refs is None:  # a model that learned to use references
        if not no_refs:
            raise usage_error(f"{checkpoint}: trained with references ({trained}): pass "
                              "--refs DB (that database) so the bundle ships them, or --no-refs to ship it without")
        err.print(f"[bold yellow]warning:[/] {escape(str(checkpoint))} was trained with references "
                  f"({escape(str(trained))}) but the bundle ships none: crops will run without them")
    if refs is not None and isinstance(trained, str) and Path(trained).is_dir() \
            and Path(trained).resolve() != refs.resolve():  # (a path seen from elsewhere: cannot tell)
        err.print(f"[bold yellow]warning:[/] {escape(str(checkpoint))} was trained with the references of "
                  f"{escape(trained)}; the bundle ships {escape(str(refs))}")
    with usage_errors():  # what the bundle needs is checked before anything is written
        if refs is not None:
            from ..retrieval.store import DatabaseError, read_manifest

            encoder = read_manifest(refs)["encoder"]["name"]
            if encoder != "mobilenet":
                raise DatabaseError(f"{refs}: built with the {encoder!r} encoder, not 'mobilenet' (the "
                                    "learned scorer's references: procrop index build's default)")
        if check:
            from ..imaging.load import load_image

            check_pixels = load_image(str(check), max_side=416).pixels
        info = {"name": name, "record": state.get("record"), "training": state.get("meta")}
        path = export_bundle(model, out, str(refs) if refs else None, info,
                             backbone=(state.get("meta") or {}).get("backbone", "pretrained"))
    typer.echo(f"wrote {path}")
    if check:
        diff = bundle_parity(model, path, check_pixels)
        typer.echo(f"max |torch - onnxruntime| score: {diff:.2e}")


@learned_app.command("build")
def build_command(
    photos: Path = typer.Option(..., "--photos", help="The professional photo pool."),
    split: Path = typer.Option(..., "--split", help="JSON with 'train' and 'heldout' lists (names under --photos)."),
    work: Path = typer.Option(..., "--work", help="Working folder: box sets, reference database, runs (resumable)."),
    out: Path = typer.Option(..., "--out", "-o", help="Bundle folder to write."),
    epochs: int = typer.Option(16, "--epochs", min=1, help="Training epochs."),
    workers: int = typer.Option(2, "--workers", "-j", min=1, help="Worker processes building the box sets."),
    name: str = typer.Option("procrop-learned", "--name", help="The bundle's model name (in its model.json)."),
) -> None:
    """Everything, resumable: reference database, box sets, training with held-out validation, export.

    The reference database is of the training photos; box sets are 12 canvases per training photo
    and 4 per held-out photo; each epoch is validated on the held-out ones."""
    from .common import require_extra as require

    require("torch", "building the learned model", "torch")
    from ..model.scorer.boxnet_export import export_bundle, load_checkpoint
    from ..retrieval import build_database, read_licences
    from ..training.scorer.boxsets import BoxSetOptions, build_boxsets
    from ..training.scorer.boxtrain import BoxTrainConfig, train_boxnet

    train, held = _split(split, photos)
    refuse_foreign_bundle(out)
    refs = work / "refdb_train_mobilenet"
    with stops_cleanly():
        manifest = photos / "MANIFEST.csv"
        licences = read_licences(manifest) if manifest.exists() else None
        build_database(train, refs, encoder="mobilenet", source_root=photos, licences=licences)
        build_boxsets(train, work / "boxsets_train", BoxSetOptions(canvases=12, seed=0), root=str(photos),
                      workers=workers)
        build_boxsets(held, work / "boxsets_heldout", BoxSetOptions(canvases=4, seed=1), root=str(photos),
                      workers=workers)
        with training_bar() as progress:
            best = train_boxnet(str(work / "boxsets_train"), str(work / "boxsets_heldout"), work / "run",
                                str(refs), BoxTrainConfig(epochs=epochs), progress=progress)
        model, state = load_checkpoint(work / "run" / "best.pt")
        export_bundle(model, out, str(refs), {"name": name, "record": state.get("record"), "training": state.get("meta")})
    typer.echo(f"best epoch {best['epoch']}: held-out recovery {best['recovery']['all']:.3f}; bundle {out}")


@learned_app.command("finetune")
def finetune_command(
    photos: list[str] = typer.Argument(..., help="Your photos: files, folders or globs (at least 2)."),
    start: Path = typer.Option(..., "--from", help="The checkpoint to start from: a run's best.pt "
                               "(procrop learned build writes WORK/run/best.pt)."),
    work: Path = typer.Option(..., "--work", help="Working folder: box sets, reference database, run (resumable)."),
    out: Path = typer.Option(..., "--out", "-o", help="Bundle folder to write."),
    epochs: int = typer.Option(4, "--epochs", min=1, help="Fine-tuning epochs."),
    lr: float = typer.Option(3e-4, "--lr", min=0.0, help="Learning rate (the build trains at 1e-3)."),
    heldout_every: int = typer.Option(5, "--heldout-every", min=2, help="Hold out every N-th photo for validation."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Worker processes building the box sets."),
    name: str = typer.Option("procrop-learned-finetuned", "--name", help="The bundle's model name (in its model.json)."),
) -> None:
    """Fine-tune a trained learned scorer on your own photos (resumable) and export it as a bundle.

    Crop with the bundle by procrop crop --learned-model OUT."""
    from .common import require_extra as require

    require("torch", "fine-tuning the learned model", "torch")
    from ..imaging.files import iter_image_files
    from ..training.scorer.finetune import FinetuneOptions, finetune

    files, problems = iter_image_files(photos)
    problems += [(f, "no such file") for f in files if not Path(f).is_file()]  # not counted as a photo
    if problems:
        raise usage_error(f"{problems[0][0]}: {problems[0][1]}")
    refuse_foreign_bundle(out)  # before the training, not after it
    options = FinetuneOptions(epochs=epochs, lr=lr, heldout_every=heldout_every, workers=workers)
    with stops_cleanly(), training_bar() as progress:
        best = finetune(files, start, work, out, options, name=name, progress=progress)
    typer.echo(f"best epoch {best['epoch']}: held-out recovery {best['recovery']['all']:.3f}; bundle {out}")
