"""``procrop import-checkpoint``: foreign checkpoints (COCO Conditional DETR, official ProCrop) as
procrop checkpoints (extra ``procrop[torch]``). The name maps and shape checks are
:mod:`procrop.model.paper.importers`'."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import usage_error, usage_errors


def import_checkpoint_command(
    fmt: str = typer.Argument(..., metavar="FORMAT", help="conditional-detr or procrop-official."),
    src: Path = typer.Argument(..., help="The checkpoint to import (.pth)."),
    out: Path = typer.Argument(..., help="The procrop checkpoint to write (.pt)."),
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", help="Configuration of the target network (default: the official one, 90 queries)."
    ),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Override a configuration field: section.key=value."),
) -> None:
    """Convert a COCO Conditional-DETR or official ProCrop checkpoint into a procrop checkpoint.

    Needs the torch extra: pip install 'procrop\\[torch]'."""
    from .common import require_extra as require

    require("torch", "importing checkpoints", "torch")
    from ..model.paper.config import Config, apply_overrides
    from ..model.paper.importers import FORMATS, import_checkpoint, official_model_config

    if fmt not in FORMATS:
        raise usage_error(f"unknown format {fmt!r}; use {' or '.join(FORMATS)}")
    with usage_errors():
        cfg = Config.load(config) if config else official_model_config()
        cfg = apply_overrides(cfg, set_ or [])
        report = import_checkpoint(fmt, src, out, cfg)
    typer.echo(f"wrote {out}: {report.summary()}")
    if report.not_in_source:
        typer.echo("kept initialised: " + ", ".join(report.not_in_source[:12]) + (" ..." if len(report.not_in_source) > 12 else ""))
