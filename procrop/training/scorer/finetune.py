"""Fine-tuning a trained learned scorer on your own photos: ``procrop learned finetune``.

:func:`finetune` starts from a run's checkpoint (``best.pt`` of ``procrop learned build`` or
``procrop learned train``) and repeats the build's stages on the given photos, in ``work``, each
resumable: every ``heldout_every``-th photo (sorted by path) is held out for validation, the
others are the training photos; a ``mobilenet`` reference database of the training photos is
built when the network fuses references; box sets are drawn as the build draws them; the network
(the checkpoint's configuration) is initialised with the checkpoint's weights and trained for
``epochs`` at learning rate ``lr``; the best epoch by held-out recovery is exported as a bundle
(:func:`procrop.model.scorer.boxnet_export.export_bundle`) whose card records the checkpoint it started
from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ...model.scorer.boxnet_export import export_bundle, load_checkpoint
from .boxsets import BoxSetOptions, build_boxsets
from .boxtrain import BoxTrainConfig, train_boxnet


@dataclass(frozen=True)
class FinetuneOptions:
    """How :func:`finetune` runs (see the module docstring)."""

    epochs: int = 4
    lr: float = 3e-4
    canvases: int = 12
    heldout_canvases: int = 4
    heldout_every: int = 5
    workers: int = 1
    threads: int = 2
    photo_side: tuple[int, int] = BoxSetOptions().photo_side


def split_photos(photos: Sequence[str], every: int) -> tuple[list[str], list[str]]:
    """``(train, heldout)``: every ``every``-th photo of the sorted list is held out (at least one).

    Raises:
        UsageError: fewer than two photos.
    """
    ordered = sorted(dict.fromkeys(str(p) for p in photos))
    if len(ordered) < 2:
        raise UsageError(f"fine-tuning needs at least 2 photos (one is held out for validation), got {len(ordered)}")
    held = ordered[every - 1::every] or ordered[-1:]
    return [p for p in ordered if p not in held], held


def finetune(photos: Sequence[str], checkpoint: str | os.PathLike, work: str | os.PathLike, out: str | os.PathLike,
             options: FinetuneOptions | None = None, name: str = "procrop-learned-finetuned",
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Fine-tune the learned scorer of ``checkpoint`` on ``photos``; writes the bundle ``out`` and
    returns the best epoch's record (``progress``: the training steps, as :func:`train_boxnet`).

    Raises:
        ModelLoadError: ``checkpoint`` is missing or not a learned-scorer checkpoint.
        UsageError: fewer than two photos.
    """
    options = options or FinetuneOptions()
    work, out = Path(work), Path(out)
    start, state = load_checkpoint(checkpoint)
    train, held = split_photos(photos, options.heldout_every)
    backbone = (state.get("meta") or {}).get("backbone", "pretrained")  # the box sets' features must match
    root = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in train + held])
    refs = None
    if start.cfg.refs:
        from ...retrieval import build_database

        refs = str(work / "refdb_train_mobilenet")
        build_database(train, refs, encoder="mobilenet", source_root=root)
    build_boxsets(train, work / "boxsets_train",
                  BoxSetOptions(canvases=options.canvases, seed=0, photo_side=options.photo_side, backbone=backbone), root=root,
                  workers=options.workers)
    build_boxsets(held, work / "boxsets_heldout",
                  BoxSetOptions(canvases=options.heldout_canvases, seed=1, photo_side=options.photo_side,
                                backbone=backbone),
                  root=root, workers=options.workers)
    cfg = BoxTrainConfig(epochs=options.epochs, lr=options.lr, threads=options.threads, net=start.cfg)
    best = train_boxnet(str(work / "boxsets_train"), str(work / "boxsets_heldout"), work / "run", refs, cfg,
                        init=str(checkpoint), progress=progress)
    model, tuned = load_checkpoint(work / "run" / "best.pt")
    export_bundle(model, out, refs, {"name": name, "record": tuned.get("record"), "training": tuned.get("meta"),
                                     "finetuned_from": {"checkpoint": str(Path(checkpoint).resolve()),
                                                        "record": state.get("record")}},
                  backbone=backbone)
    return best
