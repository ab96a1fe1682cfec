"""procrop: aesthetic image cropping guided by professional compositions.

A re-implementation and extension of ProCrop (Zhang et al., AAAI 2026). The public entry point is
:class:`Cropper`::

    from procrop import Cropper
    crops = Cropper().crop("photo.jpg", ratios=["1:1", "4:5"], top_k=3)
"""

__version__ = "0.1.0"

from .cropper import Crop, Cropper, CropResult  # noqa: E402
from .errors import ImageLoadError, MissingExtraError, ProcropError, UsageError  # noqa: E402

__all__ = [
    "Crop",
    "CropResult",
    "Cropper",
    "ImageLoadError",
    "MissingExtraError",
    "ProcropError",
    "UsageError",
    "__version__",
]
