"""Loading Hugging Face-style pretrained models from a local folder, or a hub id already in the
local Hugging Face cache: procrop never downloads weights (everything loads with
``local_files_only``), and any failure becomes a :class:`~procrop.errors.ModelLoadError` that says
what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ModelLoadError


def from_pretrained(load: Callable[..., Any], name: str, what: str) -> Any:
    """``load(name, local_files_only=True)`` (nothing is downloaded: ``name`` is a local folder or a
    hub id in the local cache) with a clear error naming ``what`` failed to load."""
    local = Path(name).exists()
    try:
        return load(name, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot load {what} {name!r}"
            + ("" if local else " (no such folder, nor in the local Hugging Face cache; procrop works "
               "offline and never downloads: download it elsewhere and pass the local folder)")
            + f": {exc}"
        ) from exc
