"""The croppers ``procrop eval`` can evaluate, and how a method name becomes one.

Owns :class:`Method` and its kinds (:class:`CropperMethod`, :class:`ModelMethod`,
:class:`PeerMethod`), :func:`make_method` and :func:`resolve_reference_db` (which reference
database a neural checkpoint is evaluated with). Running methods on a benchmark is
:mod:`procrop.evaluation.evaluate`, which re-exports these names.

Method names: ``default``, ``default:noretrieval``, ``model:CKPT``, ``center``, ``smartcrop``,
``vips-attention``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data import CropSample
from ..errors import ModelLoadError, UsageError
from ..geometry import iou_matrix


class Method:
    """A cropper under evaluation."""

    name: str = ""
    #: returns only one box (scored on candidates by IoU with it)
    box_only: bool = False

    def score_candidates(self, sample: CropSample) -> np.ndarray:
        """One score per annotated candidate of ``sample`` (higher is better)."""
        raise NotImplementedError

    def predict(self, sample: CropSample, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k boxes ``(k, 4)`` and their scores, best first."""
        raise NotImplementedError


class CropperMethod(Method):
    """procrop's default cropper."""

    def __init__(self, name: str = "default", retrieval: bool = True) -> None:
        from ..cropper import Cropper

        self.name = name
        self.cropper = Cropper() if retrieval else Cropper(reference_db=None)

    def score_candidates(self, sample: CropSample) -> np.ndarray:
        return self.cropper.score_boxes(str(sample.image), sample.boxes)

    def predict(self, sample: CropSample, k: int) -> tuple[np.ndarray, np.ndarray]:
        crops = self.cropper.crop(str(sample.image), "free", top_k=k)
        return np.array([c.box for c in crops], dtype=np.float64), np.array([c.score for c in crops])


def resolve_reference_db(recorded: str | None, reference_db: str | None, checkpoint: str | os.PathLike) -> str | None:
    """The database a checkpoint is evaluated with.

    Args:
        recorded: the database its configuration records (``train.reference_db``).
        reference_db: the one asked for (``--db``); ``None`` means "the recorded one".
        checkpoint: the checkpoint path (a relative recorded path is also looked up beside it).

    Returns ``"default"`` (bundled), a path, or ``None`` (no references).
    """
    chosen = reference_db if reference_db is not None else (recorded or "default")
    if chosen in ("none", ""):
        return None
    if chosen == "default":
        return "default"
    if Path(chosen).exists():
        return str(chosen)
    beside = Path(checkpoint).parent / chosen
    if reference_db is None and not Path(chosen).is_absolute() and beside.exists():
        return str(beside)
    origin = "--db" if reference_db is not None else "the model's configuration (train.reference_db)"
    raise UsageError(f"reference database {chosen} (from {origin}) not found; pass the database with --db")


class ModelMethod(Method):
    """A neural ProCrop network: a checkpoint, or a ready predictor (:meth:`from_predictor`).

    Args:
        checkpoint: the checkpoint file.
        reference_db: the reference database (``"default"``, a path or ``"none"``); ``None``: the
            one the model's configuration records, else the bundled one.
        device: torch device (default: CUDA when available).
    """

    def __init__(self, checkpoint: str | os.PathLike, *, reference_db: str | None = None, device: str | None = None) -> None:
        import torch

        from ..model.checkpoint import config_of, load_model  # needs torch
        from ..model.predictor import NeuralCropper

        self.name = f"model:{Path(checkpoint).name}"
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model, state = load_model(checkpoint, device=dev)
        cfg = config_of(state)
        self.reference_db = resolve_reference_db(cfg.train.reference_db, reference_db, checkpoint)
        try:
            self.model = NeuralCropper(model, cfg, self.reference_db, device=dev)
        except ModelLoadError as exc:
            raise UsageError(f"{self.name}: {exc}") from None
        self._last: tuple[str, Any] | None = None  # (image path, Prediction) of the latest forward pass

    @classmethod
    def from_predictor(cls, predictor: Any, name: str = "model") -> ModelMethod:
        """Wrap a :class:`~procrop.model.predictor.NeuralCropper` already in memory (the trainer's)."""
        self = cls.__new__(cls)
        self.name = name
        self.model = predictor
        self.reference_db = None
        self._last = None
        return self

    def _prediction(self, sample: CropSample):
        """One forward pass per image, shared by candidate scoring and box prediction."""
        path = str(sample.image)
        if self._last is None or self._last[0] != path:
            self._last = (path, self.model.predict(path))
        return self._last[1]

    def score_candidates(self, sample: CropSample) -> np.ndarray:
        return self.model.score_boxes(str(sample.image), sample.boxes, prediction=self._prediction(sample))

    def predict(self, sample: CropSample, k: int) -> tuple[np.ndarray, np.ndarray]:
        pred = self._prediction(sample)
        return pred.boxes[:k], pred.scores[:k]


class PeerMethod(Method):
    """A peer cropper that returns one box of a given size."""

    box_only = True

    def __init__(self, name: str) -> None:
        from .peers import get_peer

        self.name = name
        self.peer = get_peer(name)
        # fail now, with the extra to install, rather than on the first image
        probe = {"smartcrop": "smartcrop", "vips-attention": "pyvips"}.get(name)
        if probe:
            from ..errors import require

            try:
                require(probe, f"the {name} peer", "peers")
            except OSError as exc:
                raise UsageError(f"{name}: {exc}") from exc

    def _box(self, sample: CropSample) -> np.ndarray:
        _, _, w, h = (int(round(v)) for v in sample.best_box())
        return np.asarray(self.peer(str(sample.image), max(1, w), max(1, h)), dtype=np.float64)

    def score_candidates(self, sample: CropSample) -> np.ndarray:
        return iou_matrix(sample.boxes, self._box(sample)[None])[:, 0]

    def predict(self, sample: CropSample, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self._box(sample)[None], np.ones(1)


def make_method(spec: str, *, reference_db: str | None = None) -> Method:
    """``default``, ``default:noretrieval``, ``model:CKPT``, ``center``, ``smartcrop``, ``vips-attention``.

    ``reference_db`` (``"default"``, a path or ``"none"``) applies to ``model:CKPT`` only; ``None``
    evaluates a model with the database its configuration records (else the bundled one).
    """
    if spec == "default":
        return CropperMethod()
    if spec == "default:noretrieval":
        return CropperMethod(spec, retrieval=False)
    if spec.startswith("model:"):
        path = spec.split(":", 1)[1]
        if not Path(path).exists():
            raise UsageError(f"--method {spec}: no such checkpoint")
        return ModelMethod(path, reference_db=reference_db)
    from .peers import PEERS

    if spec in PEERS:
        return PeerMethod(spec)
    raise UsageError(
        f"unknown method {spec!r}; use default, default:noretrieval, model:CKPT, center, smartcrop or vips-attention"
    )
