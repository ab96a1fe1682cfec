"""``procrop train`` and ``procrop export``: the neural model (extra ``procrop[torch]``).

``procrop train CONFIG --set section.key=value`` overrides any configuration field (typed by the
field, unknown keys are usage errors). Under ``torchrun --nproc_per_node N -m procrop.cli train
CONFIG`` (or the ``procrop`` script) each process trains one data-parallel replica; rank 0 alone
prints, logs and writes checkpoints. Ctrl-C or SIGTERM stops training after the step under way,
with ``last.pt`` saved and named (exit code 130); an error inside the run is one line (exit 2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Optional

import typer


from rich.markup import escape

from ..files import foreign_folder
from .common import EXIT_INTERRUPTED, err, progress_bar, remove_if_left_empty, usage_error, usage_errors


#: What a run writes into its folder before its first checkpoint (last.pt): a run stopped that early
#: is started again there.
RUN_ENTRIES = ("conditioning", "refined", "metrics.csv", "metrics.jsonl", "eval.csv", "eval.pt", "best.pt",
               "best.json")


def train_command(
    config: Path = typer.Argument(..., help="Training configuration (TOML, or YAML with PyYAML)."),
    resume: Optional[Path] = typer.Option(
        None, "--resume",
        help="Checkpoint to continue exactly from (e.g. OUT/last.pt); the run goes on in its folder "
             "unless --out or --set train.out_dir names another."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Override train.out_dir."),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="Override train.data."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Override train.max_steps."),
    set_: Optional[List[str]] = typer.Option(
        None, "--set", help="Override any field: section.key=value (e.g. train.lr=1e-4, model.num_queries=24); repeatable."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train the ProCrop network (supervised or weak labels); needs the torch extra:
    pip install 'procrop\\[torch]'. Runs under torchrun for several GPUs (one process per device)."""
    from .common import require_extra as require

    require("torch", "training", "torch")
    from ..model.paper.config import Config, apply_overrides
    from ..training.paper.trainer import Trainer, TrainingInterrupted

    worker = int(os.environ.get("RANK", "0")) > 0  # a torchrun process other than rank 0
    quiet = quiet or worker
    with usage_errors():
        cfg = apply_overrides(Config.load(config), set_ or [])
        overrides: dict[str, Any] = {}
        if out:
            overrides["out_dir"] = str(out)
        elif resume is not None and not any(o.split("=")[0].strip() == "train.out_dir" for o in set_ or []):
            if not Path(resume).is_file():  # a folder by mistake would have made its parent the run
                raise usage_error(f"--resume {resume}: not a checkpoint file (e.g. OUT/last.pt)")
            overrides["out_dir"] = str(Path(resume).parent)  # where its run is (it went to the config's)
        if data:
            overrides["data"] = str(data)
        if max_steps:
            overrides["max_steps"] = max_steps
        if overrides:
            cfg = cfg.replace(train=overrides)
    run_dir = Path(cfg.train.out_dir)
    fresh = not run_dir.exists()
    if resume is None and (run_dir / "last.pt").exists():  # a second run would overwrite it and mix the logs
        raise usage_error(f"{run_dir}: already holds a run (last.pt): continue it with --resume "
                          f"{run_dir / 'last.pt'}, or train into another --out")
    elsewhere = resume is not None and run_dir.resolve() != Path(resume).resolve().parent
    if elsewhere and (run_dir / "last.pt").exists():  # it replaced that run's checkpoint without a word
        raise usage_error(f"{run_dir}: holds another run (last.pt), which resuming {resume} there would "
                          "replace: resume into the checkpoint's own folder or a new one")
    if foreign_folder(run_dir, "last.pt", RUN_ENTRIES):  # the user's own files: not a run folder
        raise usage_error(f"{run_dir}: a folder holding other files, not a run: train into a new or empty "
                          "folder")
    try:
        with usage_errors():
            trainer = Trainer(cfg, resume=resume, quiet=quiet)  # it opens its database: before the bar
    except BaseException:  # refused (no data, a bad --resume, a wrong database): no empty run folder left
        remove_if_left_empty(run_dir, fresh)
        raise
    stopped: TrainingInterrupted | None = None
    with progress_bar(2, quiet, "training") as bar:
        tid = bar.add_task("train", total=trainer.total_steps, completed=trainer.step)

        def tick(step: int, total: int, logs: dict[str, float]) -> None:
            bar.update(tid, completed=step, description=f"loss {logs.get('loss', float('nan')):.3f}")

        try:
            with usage_errors(passing=TrainingInterrupted):
                result = trainer.run(tick)
        except TrainingInterrupted as exc:
            stopped = exc
        finally:
            trainer.close()
    if stopped is not None:  # said once the bar has drawn its last line (it came after, in a log file)
        if not worker:
            err.print(f"[bold yellow]stopped:[/] {escape(str(stopped))}")
        raise typer.Exit(EXIT_INTERRUPTED)
    if worker:
        return
    best = trainer.best.state()
    typer.echo(f"{result.steps} steps, {result.epochs_done} epoch(s); final loss {result.final_loss:.4f}; checkpoint {result.last_checkpoint}"
               + (f"; best {best['checkpoint']} (step {best['step']}, {best['metric']} {best['value']:.4f})" if best else ""))


def export_command(
    checkpoint: Path = typer.Argument(..., help="A procrop checkpoint (.pt)."),
    out: Path = typer.Argument(..., help="The ONNX file to write."),
    size: Optional[str] = typer.Option(None, "--size", help="Input size WxH (default: the model's canvas, or 640x640)."),
    check: bool = typer.Option(True, "--check/--no-check", help="Compare onnxruntime with torch after exporting."),
) -> None:
    """Export a checkpoint to ONNX (and check it against torch).

    Needs the torch extra: pip install 'procrop\\[torch]'."""
    from ..model.paper.export import export_onnx, parity

    dims = None
    if size:
        try:
            w, h = (int(v) for v in size.lower().split("x"))
            dims = (w, h)
        except ValueError:
            raise usage_error(f"--size {size!r}: use WxH, e.g. 640x640") from None
        if min(dims) < 64 or w % 32 or h % 32:
            raise usage_error(f"--size {size}: each side a multiple of 32 from 64 (the network's stride), "
                              "e.g. 640x640")
    if out.is_dir():
        raise usage_error(f"{out}: is a folder; name the .onnx file to write (e.g. {out / 'model.onnx'})")
    with usage_errors():
        path = export_onnx(checkpoint, out, dims)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    if check:
        diffs = parity(checkpoint, path)
        typer.echo("max |torch - onnxruntime|: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))


