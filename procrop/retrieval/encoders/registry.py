"""The encoder registry and the types every encoder family shares.

Owns :class:`Encoding` (what an encoder extracts from a photo), the :class:`Encoder` base class,
the registry (:func:`register_encoder`, :func:`create_encoder`, :func:`encoder_class`,
:func:`available_encoders`) and the grid helpers shared by all families (:data:`GRID`,
:func:`pool_windows`, :func:`pool_frame`, :func:`grid_similarity`).

Every encoder produces an :class:`Encoding`:

* ``vector``: ``(D,)`` float32, L2-normalised: what the reference database searches;
* ``tokens``: ``(T, F)`` float32: per-image composition tokens stored in the database and fed to
  the neural model (ProCrop feeds 64 SAM tokens of 256 per reference);
* ``feature_map``: ``(h, w, C)`` spatial features of the whole frame, from which
  :meth:`Encoder.crop_grids` pools an 8x8 grid for any crop window. The retrieval term compares
  these crop grids with the reference grids (:meth:`Encoder.grid_from_tokens`).

Encoder families live in sibling modules (:mod:`.layout`, :mod:`.sam`, :mod:`.mobilenet`,
:mod:`.hf`), which register themselves when imported. This module imports none of them: the
built-in families are listed in :data:`BUILTIN_FAMILIES` by module name and imported on first
use, so importing the registry needs neither OpenCV nor torch, and there is no import cycle
between the registry and the families.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import UsageError, require
from ...perception.integral import IntegralMap

if TYPE_CHECKING:
    from ...imaging.load import LoadedImage
    from ...perception.analysis import CompositionAnalysis

#: Side of the spatial grid used for composition tokens and crop comparison.
GRID = 8


@dataclass
class Encoding:
    """What an encoder extracts from one photo (see the module docstring for shapes)."""

    vector: np.ndarray
    tokens: np.ndarray
    feature_map: np.ndarray = field(repr=False)
    flipped_vector: np.ndarray | None = field(default=None, repr=False)
    _integral: IntegralMap | None = field(default=None, repr=False)

    @property
    def integral(self) -> IntegralMap:
        """Integral image of the feature map (computed once, reused for every crop)."""
        if self._integral is None:
            self._integral = IntegralMap(self.feature_map)
        return self._integral


class Encoder(ABC):
    """Base class: subclasses set ``name``, ``version``, ``dim``, ``token_shape``."""

    name: str = ""
    version: str = ""
    dim: int = 0
    token_shape: tuple[int, int] = (GRID * GRID, 0)
    #: Weight of each feature-map channel in the crop/reference grid similarity.
    grid_weights: np.ndarray | None = None

    #: Long side at which :meth:`load` reads photos.
    load_side: int = 256

    def load(self, source) -> LoadedImage:
        """Read a photo at the size this encoder works at (what :meth:`encode` expects)."""
        from ...imaging.load import load_image

        return load_image(source, max_side=self.load_side)

    @abstractmethod
    def encode(self, image: LoadedImage, analysis: CompositionAnalysis | None = None) -> Encoding:
        """Encode a loaded image (``analysis`` is reused when given, computed otherwise)."""

    @classmethod
    def grid_from_tokens(cls, tokens: np.ndarray) -> np.ndarray:
        """``(N, T, F)`` stored tokens -> ``(N, 64, C)`` spatial grids of the full frames.

        A class method: it needs no weights, so databases can be calibrated and searched
        without loading the network that built them.
        """
        return tokens.astype(np.float32)

    @classmethod
    def flip_grid(cls, grids: np.ndarray) -> np.ndarray:
        """Grids ``(N, 64, C)`` of the mirrored frames."""
        n, t, c = grids.shape
        return grids.reshape(n, GRID, GRID, c)[:, :, ::-1].reshape(n, t, c)

    def crop_grids(self, encoding: Encoding, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        """``(N, 64, C)`` grids pooled from the feature map over each ``xywh`` box (original px)."""
        fmap = encoding.feature_map
        return pool_windows(encoding.integral, boxes, width, height, fmap.shape[1], fmap.shape[0])

    def config(self) -> dict[str, Any]:
        """What is needed to re-create this encoder (stored in a database's manifest)."""
        return {}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "dim": self.dim,
            "token_shape": list(self.token_shape),
            "config": self.config(),
        }


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

EncoderFactory = Callable[..., Encoder]
_REGISTRY: dict[str, EncoderFactory] = {}

#: Built-in encoder families: registry name -> module that registers it when imported. The
#: modules are imported by name on first use (importing them needs no torch).
BUILTIN_FAMILIES: dict[str, str] = {
    "layout": f"{__package__}.layout",
    "sam": f"{__package__}.sam",
    "mobilenet": f"{__package__}.mobilenet",
    "clip": f"{__package__}.hf",
    "dinov2": f"{__package__}.hf",
}


def register_encoder(name: str) -> Callable[[EncoderFactory], EncoderFactory]:
    """Class/function decorator adding an encoder factory to the registry."""

    def deco(factory: EncoderFactory) -> EncoderFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def _load_builtin_families() -> None:
    for module in dict.fromkeys(BUILTIN_FAMILIES.values()):
        importlib.import_module(module)


def _factory(name: str) -> EncoderFactory:
    _load_builtin_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown encoder {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None


def encoder_class(name: str) -> type[Encoder]:
    """The class registered under ``name`` (for its class-level methods)."""
    factory = _factory(name)
    if not isinstance(factory, type):
        raise UsageError(f"encoder {name!r} is registered as a function, not a class")
    return factory


def available_encoders() -> list[str]:
    """Names of the registered encoders (the built-in families and any registered since)."""
    _load_builtin_families()
    return sorted(_REGISTRY)


def create_encoder(name: str, **kwargs: Any) -> Encoder:
    """Instantiate a registered encoder (``layout``, ``sam``, ``clip``, ``dinov2``...)."""
    return _factory(name)(**kwargs)


# --------------------------------------------------------------------------------------------
# Grid helpers shared by the families
# --------------------------------------------------------------------------------------------


def pool_windows(
    integral: IntegralMap, boxes: np.ndarray, width: int, height: int, map_w: int, map_h: int, g: int = GRID
) -> np.ndarray:
    """Average an integrated ``(map_h, map_w, C)`` map over a ``g x g`` grid in each box.

    ``boxes`` are ``(N, 4)`` ``xywh`` in a ``width x height`` frame. Returns ``(N, g*g, C)``.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sx, sy = map_w / width, map_h / height
    t = np.linspace(0.0, 1.0, g + 1)
    xs = (b[:, 0, None] + b[:, 2, None] * t[None]) * sx  # (N, g+1)
    ys = (b[:, 1, None] + b[:, 3, None] * t[None]) * sy
    n = len(b)
    px = np.broadcast_to(xs[:, None, :], (n, g + 1, g + 1)).reshape(-1)
    py = np.broadcast_to(ys[:, :, None], (n, g + 1, g + 1)).reshape(-1)
    I = integral.at(px, py).reshape(n, g + 1, g + 1, -1)
    cells = I[:, 1:, 1:] - I[:, :-1, 1:] - I[:, 1:, :-1] + I[:, :-1, :-1]
    area = (np.diff(xs, axis=1)[:, None, :] * np.diff(ys, axis=1)[:, :, None])[..., None]
    return (cells / np.maximum(area, 1e-9)).reshape(n, g * g, -1).astype(np.float32)


def pool_frame(fmap: np.ndarray, g: int) -> np.ndarray:
    """Area-average a ``(h, w, C)`` map (any number of channels) to ``(g, g, C)``."""
    h, w = fmap.shape[:2]
    grid = pool_windows(IntegralMap(fmap), np.array([[0, 0, w, h]]), w, h, w, h, g)
    return grid.reshape(g, g, -1)


def grid_similarity(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Layout similarity of grids ``(N, 64, C)`` and ``(K, 64, C)`` -> ``(N, K)`` in [-1, 1].

    Per channel the grids are centred over their cells (so only the spatial pattern counts) and
    compared by cosine; channels are averaged with ``weights``, counting only channels with a
    pattern in both grids.
    """
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    na = np.linalg.norm(a, axis=1)  # (N, C)
    nb = np.linalg.norm(b, axis=1)  # (K, C)
    dot = np.einsum("ntc,ktc->nkc", a, b)
    cos = dot / np.maximum(na[:, None, :] * nb[None, :, :], 1e-9)
    valid = (na[:, None, :] > 1e-4) & (nb[None, :, :] > 1e-4)
    w = np.ones(a.shape[2]) if weights is None else np.asarray(weights, dtype=np.float64)
    wv = valid * w[None, None, :]
    return (cos * wv).sum(axis=2) / np.maximum(wv.sum(axis=2), 1e-9)


def require_torch():
    """torch, for the neural encoder families (a clear error naming the extra when missing)."""
    return require("torch", "the SAM/MobileNet/CLIP/DINOv2 encoders", "torch")
