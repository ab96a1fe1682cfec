"""Conditioning of the training images (retrieved references and description tokens), cached.

Owns :func:`compute_conditioning` and its on-disk cache. Conditioning an image means analysing it,
retrieving its references and describing it: the slowest part of starting a run. Each result is
stored under ``<out_dir>/conditioning/`` in a file named by a key made of

* the image's content hash (sha256 of the file),
* the reference database's encoder (name, version, token shape) and fingerprint (``none``
  without retrieval),
* what shapes the result (``k_refs``, ``ref_tokens``, ``ref_dim``, ``text``, ``text_vocab``,
  ``text_len``, the excluded sources) and procrop's version (the analysis and the description),

so a resumed (or repeated) run reads it back instead of recomputing it, and a changed image,
database or model shape is recomputed. Files are written atomically. Under ``torchrun`` each rank
computes a strided share of the missing entries; the others read them after a barrier.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..._version import __version__
from ...files import atomic_write_bytes
from ...model.paper.config import Config
from ...model.paper.inputs import Conditioner
from ..shared.keeping import PreparationInterrupted

Conditioning = tuple[np.ndarray, np.ndarray, np.ndarray]


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def database_identity(conditioner: Conditioner) -> dict[str, Any]:
    """Encoder name, version, token shape and fingerprint of the conditioner's database."""
    if conditioner.retriever is None:
        return {"database": "none"}
    db = conditioner.retriever.db
    info = db.encoder_info
    return {"encoder": info.get("name"), "encoder_version": info.get("version"),
            "token_shape": list(info.get("token_shape", [])), "database": db.fingerprint}


def cache_key(image_hash: str, exclude: set[str], cfg: Config, db_identity: dict[str, Any]) -> str:
    """The cache file stem of one image's conditioning (see the module docstring)."""
    m = cfg.model
    parts = {
        "image": image_hash, "exclude": sorted(exclude), "db": db_identity, "procrop": __version__,
        "shape": [m.retrieval, m.k_refs, m.ref_tokens, m.ref_dim, m.text, m.text_vocab, m.text_len],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _save(path: Path, value: Conditioning) -> None:
    buf = io.BytesIO()
    np.savez(buf, refs=value[0], missing=value[1], ids=value[2])
    atomic_write_bytes(path, buf.getvalue())


def _load(path: Path) -> Conditioning | None:
    try:
        with np.load(path) as z:
            return z["refs"], z["missing"], z["ids"]
    except (OSError, ValueError, KeyError):
        return None  # missing or damaged: recompute


class _Computer:
    """Analyses an image and conditions it (the analyser is made on first use)."""

    def __init__(self, conditioner: Conditioner) -> None:
        self.conditioner = conditioner
        self.analyzer = None

    def __call__(self, image: Path, exclude: set[str]) -> Conditioning:
        from ...perception.analyzer import Analyzer
        from ...scoring.context import ScoringContext

        if self.analyzer is None:
            self.analyzer = Analyzer()
        loaded = self.analyzer.load(str(image))
        return self.conditioner(ScoringContext(loaded, self.analyzer.analyze(loaded)), exclude)


def conditioner_for(cfg: Config) -> Conditioner:
    """The conditioner of a training configuration: its model's inputs from ``train.reference_db``
    (``"none"`` or ``""``: no references). Opening it checks the database (a missing one, tokens of
    another shape: :class:`~procrop.errors.ProcropError`)."""
    return Conditioner(cfg.model, None if cfg.train.reference_db in ("none", "") else cfg.train.reference_db)


def compute_conditioning(
    cfg: Config,
    samples: list[Any],
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    rank: int = 0,
    world: int = 1,
    barrier: Callable[[], None] | None = None,
    stop: Callable[[], bool] | None = None,
    conditioner: Conditioner | None = None,
) -> list[Conditioning]:
    """``(refs, ref_missing, text_ids)`` of every training image, from the cache when present.

    With ``world > 1`` rank ``r`` computes the missing entries ``r, r + world, ...`` and writes
    them; after ``barrier()`` every rank reads the rest from the cache. With one process, ``stop()``
    true (a Ctrl-C) ends it after the image under way: :class:`PreparationInterrupted`.
    ``conditioner``: one already opened (default: :func:`conditioner_for`).
    """
    conditioner = conditioner or conditioner_for(cfg)
    if cfg.model.retrieval == "none" and cfg.model.text == "none":
        empty = conditioner.empty()
        return [empty for _ in samples]  # nothing to compute: the network ignores both
    identity = database_identity(conditioner)
    compute = _Computer(conditioner)
    keys = []
    for s in samples:
        exclude = {v for v in (s.extra.get("source_sha256"), s.extra.get("source")) if v}
        keys.append((cache_key(_file_sha256(Path(s.image)), exclude, cfg, identity), exclude))
    out: list[Conditioning | None] = [None] * len(samples)
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(samples):
        if stop is not None and world == 1 and stop():
            raise PreparationInterrupted(i, len(samples))
        path = cache_dir / f"{keys[i][0]}.npz" if cache_dir is not None else None
        got = _load(path) if path is not None and path.exists() else None
        if got is None and (i % world == rank or path is None):
            got = compute(Path(s.image), keys[i][1])
            if path is not None:
                _save(path, got)
        out[i] = got
        if progress:
            progress(i + 1, len(samples))
    if world > 1 and barrier is not None:
        barrier()
        for i in range(len(samples)):
            if out[i] is None:
                out[i] = _load(cache_dir / f"{keys[i][0]}.npz") if cache_dir is not None else None
                if out[i] is None:  # another rank failed to write it: compute it here
                    out[i] = compute(Path(samples[i].image), keys[i][1])
    return [o for o in out if o is not None]
