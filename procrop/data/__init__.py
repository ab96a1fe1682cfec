"""Reading cropping data sets: benchmark and weak-label readers with one record type.

This package only reads annotation files; the training set prepared for the network is
:mod:`procrop.training.paper.samples`, and the weak-label generator that writes data sets is
:mod:`procrop.weaklabels.driver`.

See :mod:`procrop.data.readers` for every format; :class:`CropSample` and :class:`CropDataset`
are what they return.
"""

from .readers import (
    READERS,
    read_benchmark,
    read_cpc,
    read_fcdb,
    read_flms,
    read_gaicd_v1,
    read_gaicd_v2,
    read_sacd,
    read_weak,
)
from .records import PSEUDO_LABEL_SCORE, CropDataset, CropSample, DatasetError

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
    "read_sacd",
    "read_weak",
]
