"""procrop: aesthetic image cropping guided by professional compositions.

A re-implementation and extension of ProCrop (Zhang et al., AAAI 2026). The public entry point is
:class:`Cropper`::

    from procrop import Cropper
    crops = Cropper().crop("photo.jpg", ratios=["1:1", "4:5"], top_k=3)

The names below are the public API. They are imported on first use, so that importing a light
subpackage (``procrop.geometry``, ``procrop.retrieval.store``, ``procrop.data``) does not load
OpenCV or the cropper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (ImageLoadError, ImageWriteError, MissingExtraError, ModelLoadError, ProcropError,
                     UsageError)

if TYPE_CHECKING:
    from .cropper import Crop, Cropper, CropResult
    from .imaging.save import save_crop
    from .retrieval.integrity import DatabaseError

_LAZY = {"Crop": "cropper", "Cropper": "cropper", "CropResult": "cropper",
         "DatabaseError": "retrieval.integrity", "save_crop": "imaging.save"}

__all__ = [
    "Crop",
    "CropResult",
    "Cropper",
    "DatabaseError",
    "ImageLoadError",
    "ImageWriteError",
    "MissingExtraError",
    "ModelLoadError",
    "ProcropError",
    "UsageError",
    "__version__",
    "save_crop",
]


def __getattr__(name: str) -> Any:
    """Import the public classes that need OpenCV only when they are first asked for."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """``dir(procrop)`` (a REPL's completion): the public API, lazy names included (they were
    missing, while ``Any`` and ``TYPE_CHECKING`` showed: a developer's trial), and the module's own
    dunders; listing the lazy names does not import them."""
    own = {k for k in globals() if (not k.startswith("_") or k.startswith("__")) and k not in _HIDDEN}
    return sorted(set(__all__) | own)


_HIDDEN = {"Any", "TYPE_CHECKING", "annotations"}
