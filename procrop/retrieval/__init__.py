"""Reference database of professional photos: encoders, storage, search, building, references.

See :mod:`procrop.retrieval.encoders` (composition embeddings: the registry and one module per
encoder family), :mod:`procrop.retrieval.store` (on-disk format), :mod:`procrop.retrieval.search`
(exact / faiss search), :mod:`procrop.retrieval.build` (``procrop index build``) and
:mod:`procrop.retrieval.references` (retrieving references for a photo).

The names below are imported on first use, so that importing a light submodule
(``procrop.retrieval.store``) does not load OpenCV or torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .build import BuildOptions, BuildReport, build_database, calibrate, licence_for, read_licences
    from .encoders.layout import LayoutEncoder
    from .encoders.registry import Encoder, Encoding, available_encoders, create_encoder, register_encoder
    from .references import ReferenceRetriever, Retrieved, bundled_db_path, neighbours
    from .search import ExactIndex, FaissIndex, SearchIndex, make_index
    from .store import DatabaseError, ReferenceDB

#: Public name -> submodule that defines it.
_LAZY = {
    "BuildOptions": "build",
    "BuildReport": "build",
    "build_database": "build",
    "calibrate": "build",
    "read_licences": "build",
    "licence_for": "build",
    "LayoutEncoder": "encoders.layout",
    "Encoder": "encoders.registry",
    "Encoding": "encoders.registry",
    "available_encoders": "encoders.registry",
    "create_encoder": "encoders.registry",
    "register_encoder": "encoders.registry",
    "ReferenceRetriever": "references",
    "Retrieved": "references",
    "bundled_db_path": "references",
    "neighbours": "references",
    "ExactIndex": "search",
    "FaissIndex": "search",
    "SearchIndex": "search",
    "make_index": "search",
    "DatabaseError": "store",
    "ReferenceDB": "store",
}

__all__ = [
    "BuildOptions",
    "BuildReport",
    "DatabaseError",
    "Encoder",
    "Encoding",
    "ExactIndex",
    "FaissIndex",
    "LayoutEncoder",
    "ReferenceDB",
    "ReferenceRetriever",
    "Retrieved",
    "SearchIndex",
    "available_encoders",
    "build_database",
    "bundled_db_path",
    "calibrate",
    "create_encoder",
    "make_index",
    "neighbours",
    "read_licences",
    "licence_for",
    "register_encoder",
]


def __getattr__(name: str) -> Any:
    """Import a public name's submodule when the name is first asked for."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
