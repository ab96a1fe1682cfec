"""Loading Hugging Face-style pretrained models from a local folder or a hub id, offline-safe.

procrop never downloads weights unasked: a local folder loads with ``local_files_only``; a hub id
is tried only when the ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` switches are off, and any
failure becomes a :class:`~procrop.errors.ModelLoadError` that says what to do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ModelLoadError


def offline() -> bool:
    """Whether the Hugging Face offline switches are set."""
    return any(os.environ.get(k, "") not in ("", "0") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def from_pretrained(load: Callable[..., Any], name: str, what: str) -> Any:
    """``load(name, local_files_only=...)`` with a clear error naming ``what`` failed to load."""
    local = Path(name).exists()
    try:
        return load(name, local_files_only=local or offline())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot load {what} {name!r}"
            + ("" if local else " from the hub (offline? download it elsewhere and pass the local folder)")
            + f": {exc}"
        ) from exc
