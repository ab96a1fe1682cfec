"""Resumable ``.npz`` caches of crop features, stamped with what made them.

The preference fit (:mod:`.preffit`, :mod:`.prefcanvas`) caches features per sheet and per canvas
so that an interrupted run goes on where it stopped. Those numbers depend on the shipped models
(the salient-object head, the learned box scorer, the detectors), the classic scoring settings and
the feature list; a cache made by other models would mix silently with new rows. Every cache
therefore carries a fingerprint of those inputs (:func:`feature_fingerprint`) under the key
:data:`STAMP`, and :func:`open_cache` starts afresh (saying so) when the stamp differs.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from ...perception.model_files import models_dir, sha256_of
from ...scoring.preference_features import FEATURE_NAMES, FEATURES_VERSION

#: The array in every cache that holds the fingerprint (as a 0-d string array).
STAMP = "__fingerprint__"


@lru_cache(maxsize=1)
def feature_fingerprint() -> str:
    """sha256 (first 16 hex digits) over the feature names and version, the scoring settings and every shipped
    model file except the preference model itself (whose fit the caches feed), licences, notes and
    hidden bookkeeping files."""
    digest = hashlib.sha256("\n".join([*FEATURE_NAMES, f"version {FEATURES_VERSION}"]).encode("utf-8"))
    folder = models_dir()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if (rel.startswith("preference/") or path.suffix in (".md", ".txt") or rel.startswith("LICENSE")
                or path.name.startswith(".")):  # e.g. a reference database's .verified.json stamps
            continue
        digest.update(f"{rel}:{sha256_of(path)}\n".encode("utf-8"))
    settings = Path(__file__).resolve().parents[2] / "resources" / "scoring.toml"
    digest.update(settings.read_bytes())
    return digest.hexdigest()[:16]


def open_cache(path: str | Path, log: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """The arrays of the cache at ``path`` (without the stamp), or ``{}`` when there is none or it
    was made by other models or features (``log`` is told why it starts afresh)."""
    path = Path(path)
    if not path.exists():
        return {}
    arrays = dict(np.load(path))
    stamp = str(arrays.pop(STAMP, ""))
    if stamp != feature_fingerprint():
        if log:
            log(f"{path}: made by other models or features ({stamp or 'no fingerprint'}); computing afresh")
        return {}
    return arrays


def save_cache(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` with the current fingerprint, atomically (a temporary file, then a rename)."""
    path = Path(path)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays, **{STAMP: np.array(feature_fingerprint())})
    tmp.replace(path)
