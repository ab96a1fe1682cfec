"""Benchmark and training data sets: readers with one record type.

See :mod:`procrop.data.readers` for every format; :class:`CropSample` and :class:`CropDataset`
are what they return.
"""

from .readers import (
    PSEUDO_LABEL_SCORE,
    READERS,
    read_benchmark,
    read_cpc,
    read_fcdb,
    read_flms,
    read_gaicd_v1,
    read_gaicd_v2,
    read_weak,
)
from .records import CropDataset, CropSample, DatasetError

__all__ = [
    "PSEUDO_LABEL_SCORE",
    "READERS",
    "CropDataset",
    "CropSample",
    "DatasetError",
    "read_benchmark",
    "read_cpc",
    "read_fcdb",
    "read_flms",
    "read_gaicd_v1",
    "read_gaicd_v2",
    "read_weak",
]
