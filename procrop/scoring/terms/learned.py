"""The learned term: procrop's default scorer, a box scorer trained on professional compositions.

The shipped bundle (:mod:`procrop.model.scorer.runtime`, card in ``docs/model_card.md``) scores any box
of a photo with the expected overlap of that box with a professional photographer's frame, given
the photo, its description and its most similar professional photographs. As an
:class:`~procrop.scoring.context.ExtraTerm` it

* proposes, per requested ratio, the best boxes :func:`procrop.model.scorer.search.search` finds under
  its own score (a grid, then local refinement), so the winner is not limited to the grid of
  :mod:`procrop.candidates`; under the preference scorer, which re-ranks them among every other
  candidate, a fixed ratio's proposals are its best grid boxes, unrefined (:attr:`LearnedTerm.refine_fixed`);
* scores every candidate; with :class:`~procrop.cropper.Cropper`'s default ``scorer="learned"`` it
  is the only weighted term, and :mod:`procrop.scoring.protection` still drops crops that cut a
  face, person, animal or object they could keep.

onnxruntime only (a base dependency); the model loads on first use.
"""

from __future__ import annotations

import copy
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ...geometry import AspectRatio, snap_to_ratio
from ...imaging.load import LoadedImage
from ...model.scorer.runtime import BackboneMaps, EncodedPhoto, LearnedModel
from ...model.scorer.search import FAST_GRID_STEPS, FAST_REFINE_STEPS, REFINE_STEPS, search_many
from ...retrieval.store import DatabaseError, ReferenceDB
from ...perception.describe import describe
from ..context import ScoringContext
from ..protection import KEPT, LEFT_OUT, inside_fractions


#: One background thread per process runs prefetched backbones (onnxruntime releases the GIL).
_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="procrop-learned")


class LearnedTerm:
    """:class:`~procrop.scoring.context.ExtraTerm` named ``learned`` (see the module docstring).

    Args:
        bundle: a bundle folder (default: the one shipped with procrop).
        proposals: boxes proposed per ratio.
        threads: onnxruntime intra-op threads of the box scores (default:
            :func:`procrop.threads.inference_threads`, 1 in a worker pool).
        reference_db: a ``mobilenet`` reference database (``procrop index build`` makes one by
            default) to retrieve from instead of the bundle's own; checked here.

    Raises:
        DatabaseError: one line naming the folder when ``reference_db`` is missing, corrupt or
            made with another encoder.
    """

    name = "learned"
    scores_every_candidate = True

    def __init__(self, bundle: str | os.PathLike | None = None, proposals: int = 2, threads: int | None = None,
                 reference_db: str | os.PathLike | ReferenceDB | None = None) -> None:
        self.model = LearnedModel(bundle, threads=threads, references=reference_db)
        self.proposals = proposals
        #: whether a fixed ratio's proposals are refined; :func:`~procrop.scoring.setup.scoring_setup`
        #: turns it off when the preference term re-ranks them (refining them there cost a sixth of the
        #: time for 3 ratios; blind judges, see docs/model_card.md)
        self.refine_fixed = True
        self.user_db = reference_db is not None
        if self.user_db:
            self._check_references()

    def _check_references(self) -> None:
        try:
            self.model.reference_items()
        except DatabaseError as exc:
            if "reference database" not in str(exc):  # a damaged one: the file and the fault say it all
                raise
            raise DatabaseError(f"{exc}; the learned scorer reads databases that 'procrop index build "
                                "PHOTOS --out DB' makes with its default (mobilenet) encoder") from None

    def with_references(self, reference_db: str | os.PathLike | ReferenceDB) -> LearnedTerm:
        """A copy retrieving from ``reference_db`` that shares this term's loaded network.

        Raises:
            DatabaseError: as the constructor."""
        twin = copy.copy(self)
        twin.model = self.model.with_references(reference_db)
        twin.user_db = True
        twin._check_references()
        return twin

    @property
    def reference_db(self) -> str:
        """The database it retrieves from: the folder given, or ``<model name>/references``."""
        return str(self.model.references_path) if self.user_db else f"{self.model.name}/references"

    @property
    def model_name(self) -> str:
        return self.model.name

    def prefetch(self, image: LoadedImage) -> Future[BackboneMaps]:
        """Start the backbone on ``image`` in a background thread (it needs no analysis, so it
        runs while perception does); :class:`~procrop.cropper.Cropper` hands the future to
        :meth:`encoded` through ``ctx.cache["learned:prefetch"]``."""
        return _BACKGROUND.submit(self.model.backbone, image.detection_pixels)

    def encoded(self, ctx: ScoringContext) -> EncodedPhoto:
        """The photo through the network once per context (cached in ``ctx.cache``)."""
        enc = ctx.cache.get("learned")
        if enc is None:
            image = ctx.image
            if image is None:
                raise ValueError("the learned term needs the image")
            early = ctx.cache.pop("learned:prefetch", None)
            maps = early.result() if early is not None else self.model.backbone(image.detection_pixels)
            text = ctx.cache["description"] = describe(ctx.analysis, animal_words=False)  # its training words
            enc = self.model.encode(maps, text)
            ctx.cache["learned"] = enc
            ctx.cache["references"] = enc.references
        return enc

    def _normalised(self, ctx: ScoringContext, boxes: np.ndarray) -> np.ndarray:
        W, H = ctx.analysis.width, ctx.analysis.height
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        return np.stack([b[:, 0] / W, b[:, 1] / H, (b[:, 0] + b[:, 2]) / W, (b[:, 1] + b[:, 3]) / H], axis=1)

    def extra_candidates(self, ctx: ScoringContext, ratio: AspectRatio) -> np.ndarray:
        """The best boxes of ``ratio`` under the learned score, ``(K, 4)`` ``xywh`` pixels. The
        first call searches every ratio of ``ctx.cache["ratios"]`` (the request) in one batch, with
        the coarser :data:`~procrop.model.scorer.search.FAST_GRID_STEPS` search under the fast profile."""
        enc = self.encoded(ctx)
        W, H = ctx.analysis.width, ctx.analysis.height
        value = ratio.resolve(W, H).value
        faces = [f.box for f in ctx.analysis.faces]

        def score(b: np.ndarray) -> np.ndarray:
            values = self.model.score(enc, b)
            if faces:  # steer the search away from boxes that cut a face
                px = np.stack([b[:, 0] * W, b[:, 1] * H, (b[:, 2] - b[:, 0]) * W, (b[:, 3] - b[:, 1]) * H], axis=1)
                inside = inside_fractions(px, faces)
                values = values - ((inside > LEFT_OUT) & (inside < KEPT)).any(axis=0)
            return values

        searched = ctx.cache.setdefault("learned:searched", {})
        if value not in searched:
            todo = [value] + [r.resolve(W, H).value for r in ctx.cache.get("ratios", ())]
            todo = [v for v in dict.fromkeys(todo) if v not in searched]
            fast = ctx.cache.get("profile") == "fast"
            found_all = search_many(score, W / H, todo, top=self.proposals, ratio_steps=FAST_GRID_STEPS if fast else None,
                                    refine_steps=FAST_REFINE_STEPS if fast else REFINE_STEPS,
                                    refine_fixed=self.refine_fixed)
            searched.update(zip(todo, (b for b, _ in found_all)))
        found = searched[value]
        x1, y1 = np.floor(found[:, 0] * W + 1e-6), np.floor(found[:, 1] * H + 1e-6)
        x2, y2 = np.ceil(found[:, 2] * W - 1e-6), np.ceil(found[:, 3] * H - 1e-6)
        out = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)
        if value is not None:
            out = np.asarray([snap_to_ratio(tuple(int(v) for v in b), value, W, H) for b in out], np.float64)
        out = out[(out[:, 2] >= 2) & (out[:, 3] >= 2)]
        return out.astype(np.int64).reshape(-1, 4)

    def evaluate(self, ctx: ScoringContext, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = self.model.score(self.encoded(ctx), self._normalised(ctx, boxes))
        return values, np.ones(len(values), dtype=bool)

    def crop_references(self, ctx: ScoringContext, box: np.ndarray, top: int = 3) -> list[dict[str, Any]]:
        """The professional photos the network read beside this photo, best first: they guide
        every crop of it alike (the model fuses them with the whole photo, not with one box)."""
        return [dict(r) for r in self.encoded(ctx).references[:top]]

    def explain(self, ctx: ScoringContext, box: np.ndarray, value: float) -> str | None:
        return f"the learned model expects {value:.0%} overlap with a professional's framing"
