"""Reference database of professional photos: encoders, storage, search, and the retrieval term.

See :mod:`procrop.retrieval.encoders.layout` (composition embeddings), :mod:`procrop.retrieval.store`
(on-disk format), :mod:`procrop.retrieval.search` (exact / faiss search),
:mod:`procrop.retrieval.build` (``procrop index build``) and :mod:`procrop.retrieval.references` (how
references guide the cropper).
"""

from .build import BuildReport, build_database, calibrate, read_licences
from .encoders.layout import Encoder, Encoding, LayoutEncoder, available_encoders, create_encoder, register_encoder
from .search import ExactIndex, FaissIndex, SearchIndex, make_index
from .store import DatabaseError, ReferenceDB
from .references import RetrievalTerm, bundled_db_path

__all__ = [
    "BuildReport",
    "DatabaseError",
    "Encoder",
    "Encoding",
    "ExactIndex",
    "FaissIndex",
    "LayoutEncoder",
    "ReferenceDB",
    "RetrievalTerm",
    "SearchIndex",
    "available_encoders",
    "build_database",
    "bundled_db_path",
    "calibrate",
    "create_encoder",
    "make_index",
    "read_licences",
    "register_encoder",
]
