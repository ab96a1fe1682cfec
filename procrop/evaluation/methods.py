"""The croppers ``procrop eval`` can evaluate, and how a method name becomes one.

Owns :class:`Method` and its kinds (:class:`CropperMethod`, :class:`ModelMethod`,
:class:`PeerMethod`), :func:`make_method` and :func:`resolve_reference_db` (which reference
database a neural checkpoint is evaluated with). Running methods on a benchmark is
:mod:`procrop.evaluation.evaluate`, which re-exports these names.

Method names: ``default``, ``default:noretrieval``, ``learned:DIR`` (a learned-scorer bundle),
``model:CKPT`` (a checkpoint or an exported ``.onnx``), ``center``, ``smartcrop``,
``vips-attention``; ``LABEL=SPEC`` names a row. :func:`make_methods` names every row uniquely and
each method's :attr:`Method.info` records what it ran (checkpoint or bundle path, database).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data import CropSample
from ..errors import ModelLoadError, UsageError
from ..geometry import iou_matrix
from ..retrieval.search import ExactIndex


class Method:
    """A cropper under evaluation."""

    name: str = ""
    #: returns only one box (scored on candidates by IoU with it)
    box_only: bool = False
    #: what the report records about the method: its spec, checkpoint or bundle, database, options
    info: dict[str, Any] = {}
    #: what the user should know before trusting the numbers (printed by ``procrop eval``, in the report)
    warnings: tuple[str, ...] = ()

    def score_candidates(self, sample: CropSample) -> np.ndarray:
        """One score per annotated candidate of ``sample`` (higher is better)."""
        raise NotImplementedError

    def predict(self, sample: CropSample, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k boxes ``(k, 4)`` and their scores, best first."""
        raise NotImplementedError


def _db_info(db: str | os.PathLike | None) -> str:
    """A reference database as the report names it: an absolute path, or ``none``."""
    if db is None or str(db) in ("none", ""):
        return "none"
    if str(db) == "default":
        from ..retrieval import bundled_db_path

        return f"default ({bundled_db_path()})"
    return str(Path(db).resolve())


class CropperMethod(Method):
    """procrop's cropper: the shipped learned scorer, or another learned bundle (``learned_model``)."""

    def __init__(self, name: str = "default", retrieval: bool = True,
                 learned_model: str | os.PathLike | None = None) -> None:
        from ..cropper import Cropper

        self.name = name
        if learned_model is not None:
            self.cropper = Cropper(learned_model=learned_model)
        else:
            self.cropper = Cropper() if retrieval else Cropper(reference_db=None)
        self.info = {"kind": "cropper", "scorer": self.cropper.scorer_name}
        learned = next((t for t in self.cropper.extra_terms if t.name == "learned"), None)
        if learned is not None:
            bundle = learned.model
            refs = bundle.path / "references"
            if not retrieval:  # the bundle's network with every reference slot empty (masked)
                bundle._refs = (ExactIndex(np.zeros((0, 1), np.float32)), np.zeros((0, 64, 64), np.float16), [])
            uses = retrieval and bundle.config.get("refs") and refs.exists()
            self.info.update(bundle=str(bundle.path.resolve()), model=bundle.name,
                             reference_db=_db_info(refs if uses else None))
        else:
            self.info["reference_db"] = _db_info("default" if retrieval else None)

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
    if reference_db is not None:
        raise UsageError(f"--db {chosen}: no such reference database")
    raise UsageError(f"reference database {chosen} (from the model's configuration, train.reference_db) not "
                     "found; pass the database with --db")


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

        from ..model.paper.checkpoint import config_of, load_model  # needs torch
        from ..model.paper.predictor import NeuralCropper, onnx_config

        self.name = f"model:{Path(checkpoint).name}"
        onnx = Path(checkpoint).suffix.lower() == ".onnx"
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            if onnx:  # an exported model: its configuration is in the file's metadata
                cfg, model = onnx_config(checkpoint), None
            else:
                model, state = load_model(checkpoint, device=dev)
                cfg = config_of(state)
            self.reference_db = resolve_reference_db(cfg.train.reference_db, reference_db, checkpoint)
            if onnx:
                self.model = NeuralCropper.from_onnx(checkpoint, reference_db=self.reference_db)
            else:
                self.model = NeuralCropper(model, cfg, self.reference_db, device=dev)
        except ModelLoadError as exc:
            raise UsageError(f"{self.name}: {exc}") from None
        self.info = {"kind": "model", "checkpoint": str(Path(checkpoint).resolve()),
                     "format": "onnx" if onnx else "torch", "reference_db": _db_info(self.reference_db),
                     "trained_with_reference_db": cfg.train.reference_db}
        self.warnings = _reference_warnings(self.name, cfg, self.reference_db, checkpoint)
        self._last: tuple[str, Any] | None = None  # (image path, Prediction) of the latest forward pass

    @classmethod
    def from_predictor(cls, predictor: Any, name: str = "model") -> ModelMethod:
        """Wrap a :class:`~procrop.model.paper.predictor.NeuralCropper` already in memory (the trainer's)."""
        self = cls.__new__(cls)
        self.name = name
        self.model = predictor
        self.reference_db = None
        self.info = {"kind": "model", "checkpoint": "(in memory)"}
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


def _reference_warnings(name: str, cfg: Any, used: str | None, checkpoint: str | os.PathLike) -> tuple[str, ...]:
    """A warning when a model that retrieves references runs without the database it was trained with."""
    trained = cfg.train.reference_db
    if cfg.model.retrieval == "none" or trained in ("none", ""):
        return ()
    if used is None:
        return (f"{name} was trained with references ({trained}) and runs without them (--db none): "
                "its numbers are not the model's",)
    same = {str(trained), str(Path(trained).resolve()), str((Path(checkpoint).parent / trained).resolve())}
    if str(used) not in same and str(Path(str(used)).resolve()) not in same:
        return (f"{name} was trained with the reference database {trained} and runs with {used}",)
    return ()


class PeerMethod(Method):
    """A peer cropper that returns one box of a given size."""

    box_only = True

    def __init__(self, name: str) -> None:
        from .peers import get_peer

        self.name = name
        self.peer = get_peer(name)
        self.info = {"kind": "peer", "size_hint": "the best ground truth's size (oracle)"}
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
    """``default``, ``default:noretrieval``, ``learned:DIR``, ``model:CKPT`` (``.pt`` or ``.onnx``),
    ``center``, ``smartcrop``, ``vips-attention``; ``LABEL=SPEC`` names the row ``LABEL``.

    ``reference_db`` (``"default"``, a path or ``"none"``) applies to ``model:CKPT`` only; ``None``
    evaluates a model with the database its configuration records (else the bundled one).
    """
    label, _, rest = spec.partition("=")
    if rest and label and not any(c in label for c in ":/\\"):
        method = make_method(rest, reference_db=reference_db)
        method.name = label
        return method
    method = _make(spec, reference_db)
    method.info = {"spec": spec, **method.info}
    return method


def _make(spec: str, reference_db: str | None) -> Method:
    if spec == "default":
        return CropperMethod()
    if spec == "default:noretrieval":
        return CropperMethod(spec, retrieval=False)
    if spec.startswith("learned:"):
        path = spec.split(":", 1)[1]
        if not Path(path).is_dir():  # a run's best.pt is a checkpoint: its bundle is what export writes
            what = "a file, not a learned-model folder (procrop learned export makes one from a checkpoint)" \
                if Path(path).is_file() else "no such learned-model folder"
            raise UsageError(f"--method {spec}: {what}")
        try:
            return CropperMethod(f"learned:{Path(path).name}", learned_model=path)
        except ModelLoadError as exc:
            raise UsageError(f"--method {spec}: {exc}") from None
    if spec.startswith("model:"):
        path = spec.split(":", 1)[1]
        if not Path(path).exists():
            raise UsageError(f"--method {spec}: no such checkpoint")
        return ModelMethod(path, reference_db=reference_db)
    from .peers import PEERS

    if spec in PEERS:
        return PeerMethod(spec)
    raise UsageError(
        f"unknown method {spec!r}; use default, default:noretrieval, learned:DIR, model:CKPT (.pt or .onnx), "
        "center, smartcrop, vips-attention, or LABEL=one of those"
    )


def make_methods(specs: list[str], *, reference_db: str | None = None) -> list[Method]:
    """:func:`make_method` for each spec, every row named uniquely: rows whose names collide are
    named by their spec as given (``model:runs/A/last.pt``), then numbered (``#2``) if still equal."""
    methods = [make_method(s, reference_db=reference_db) for s in specs]
    names = [m.name for m in methods]
    for i, m in enumerate(methods):
        if names.count(m.name) > 1 and "=" not in specs[i].split(":", 1)[0]:
            m.name = specs[i]
    seen: dict[str, int] = {}
    for m in methods:
        seen[m.name] = seen.get(m.name, 0) + 1
        if seen[m.name] > 1:
            m.name = f"{m.name} #{seen[m.name]}"
    return methods
