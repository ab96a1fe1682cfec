"""The record every dataset reader returns, and helpers shared by the readers.

Owns :class:`CropSample` / :class:`CropDataset`, :class:`DatasetError`, the weak-label pseudo-label
score (:data:`PSEUDO_LABEL_SCORE`) and the box-row conversions the readers share. This package
(:mod:`procrop.data`) only *reads* data sets; the training set built from them is
:mod:`procrop.training.paper.samples`, and the weak-label generator that writes one is
:mod:`procrop.weaklabels.driver`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ProcropError
from ..geometry import xyxy_to_xywh

#: Score of a weak-label pseudo-label (the photographer's original frame) read from a line without
#: a score (older sets). ``procrop dataset generate`` scores the frame like the proposals (0-10).
PSEUDO_LABEL_SCORE = 5.0


class DatasetError(ProcropError):
    """A malformed annotation file; the message names the file (and line) and the problem."""


@dataclass
class CropSample:
    """One image of a cropping data set.

    Attributes:
        id: the image's identifier (its file name stem for most sets).
        image: path of the image file, or ``None`` when it is not on disk.
        boxes: ``(N, 4)`` float ``x, y, w, h`` in pixels of the image: GAICD/CPC candidates,
            FCDB/FLMS ground truths, weak-label crops.
        scores: ``(N,)`` per-box quality (GAICD MOS, CPC votes, weak-label score) or ``None``.
        split: ``train``, ``val``, ``test`` or ``all``.
        width, height: image size when known from the annotations (else read from the file).
        extra: reader-specific fields (Flickr URL, per-annotator votes...).
    """

    id: str
    image: Path | None
    boxes: np.ndarray
    scores: np.ndarray | None
    split: str
    width: int | None = None
    height: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def size(self) -> tuple[int, int]:
        """``(width, height)``, reading the image header if the annotations did not give it."""
        if self.width is None or self.height is None:
            if self.image is None:
                raise DatasetError(f"{self.id}: image not available, size unknown")
            from PIL import Image

            with Image.open(self.image) as im:
                from ..imaging.load import exif_orientation, oriented_size

                self.width, self.height = oriented_size(im.size, exif_orientation(im))
        return int(self.width), int(self.height)

    def best_box(self) -> np.ndarray:
        """The highest-scored box (the first one when there are no scores)."""
        if self.scores is None or len(self.scores) == 0:
            return self.boxes[0]
        return self.boxes[int(np.argmax(self.scores))]


@dataclass
class CropDataset:
    """A data set: samples (images present or not) plus what could not be found.

    Attributes:
        name: ``gaicd-v1``, ``fcdb``...
        samples: every annotated image of the requested split(s).
        missing: ids of annotated images whose file was not found (they stay in ``samples`` with
            ``image=None``; evaluation leaves them out and reports them).
        root: where the data was read from.
        kind: ``candidates`` (rank given boxes) or ``boxes`` (predict boxes).
    """

    name: str
    samples: list[CropSample]
    missing: list[str]
    root: Path
    kind: str

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[CropSample]:
        return iter(self.samples)

    def available(self) -> list[CropSample]:
        """Samples whose image file exists."""
        return [s for s in self.samples if s.image is not None]

    def split(self, name: str | None) -> CropDataset:
        """The samples of one split (``None`` or ``"all"``: every sample)."""
        if name in (None, "all"):
            return self
        samples = [s for s in self.samples if s.split == name]
        missing = [s.id for s in samples if s.image is None]
        return CropDataset(self.name, samples, missing, self.root, self.kind)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.samples:
            out[s.split] = out.get(s.split, 0) + 1
        return out


IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG", ".bmp", ".webp")


def find_image(name: str, roots: Iterable[Path]) -> Path | None:
    """Look for an image file by name (or stem) in each root folder, in order."""
    stem = Path(name).stem
    has_ext = Path(name).suffix != ""
    for root in roots:
        if root is None:
            continue
        candidates = [root / name] if has_ext else []
        candidates += [root / f"{stem}{ext}" for ext in IMAGE_EXTS]
        for c in candidates:
            if c.is_file():
                return c
    return None


def xyxy_rows(rows: np.ndarray, order_corners: bool = False) -> np.ndarray:
    """``(N, 4)`` ``x1, y1, x2, y2`` -> ``x, y, w, h`` (float).

    ``order_corners`` accepts boxes drawn from the bottom-right corner (``x2 < x1``), as two of
    FLMS's expert boxes are.
    """
    r = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    if order_corners:
        r = np.stack([np.minimum(r[:, 0], r[:, 2]), np.minimum(r[:, 1], r[:, 3]),
                      np.maximum(r[:, 0], r[:, 2]), np.maximum(r[:, 1], r[:, 3])], axis=1)
    return xyxy_to_xywh(r)


def yxyx_rows(rows: np.ndarray) -> np.ndarray:
    """``(N, 4)`` ``y1, x1, y2, x2`` (GAICD's row-first order) -> ``x, y, w, h`` (float)."""
    r = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    return xyxy_to_xywh(r[:, [1, 0, 3, 2]])


def check_boxes(boxes: np.ndarray, where: str) -> np.ndarray:
    """Reject boxes with non-positive size or non-finite values, naming where they came from."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not np.isfinite(b).all():
        raise DatasetError(f"{where}: non-finite box coordinates")
    bad = np.flatnonzero((b[:, 2] <= 0) | (b[:, 3] <= 0))
    if bad.size:
        raise DatasetError(f"{where}: box {int(bad[0])} has no area: {b[bad[0]].tolist()}")
    return b
