"""The cropper: image in, ranked and explained crops out.

    >>> from procrop import Cropper
    >>> cropper = Cropper()
    >>> crops = cropper.crop("photo.jpg", ratios=["1:1", "16:9"], top_k=3)   # doctest: +SKIP
    >>> crops[0].box, crops[0].ratio, crops[0].score, crops[0].reason          # doctest: +SKIP

Data flow for one image (:meth:`Cropper.process`):

1. :func:`procrop.imaging.load.load_image` decodes the photo at a small working size (JPEG shrink-on-load) and
   applies the EXIF orientation;
2. :class:`procrop.perception.analyzer.Analyzer` finds faces, people, animals, objects, saliency,
   subjects, lines and horizon;
3. per requested ratio, :mod:`procrop.candidates` lays out candidates (a grid over scale and position, crops
   anchored on faces, subjects, people and animals, the uncropped frame or the largest box of the ratio, and
   the boxes the learned term's search finds; ``free`` also gets the fixed ratios' candidates:
   :mod:`procrop.free_candidates`);
4. :mod:`procrop.scoring.protection` drops crops that cut what they could keep;
5. the learned term scores every remaining crop (default), or the classic terms score them and
   plugged-in terms (retrieval, neural) re-rank the best few dozen (:mod:`procrop.scoring.setup`);
6. greedy IoU suppression keeps the top-K diverse crops, each with its score, term breakdown,
   a confidence that it beats the uncropped frame, and a reason.

A :class:`Cropper` holds no per-image state, so one instance can serve many threads.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .candidates import (CandidateConfig, fill_near_full, has_scan_border, inside_the_picture, large_enough,
                         photo_candidates, ratio_fit_warning, to_the_frame, unique_boxes)
from .errors import UsageError
from .free_candidates import with_free_candidates
from .threads import one_blas_thread
from .geometry import (AspectRatio, check_whole, checked_boxes, inside_fractions, parse_ratios, real_number,
                       select_diverse)
from .results import Crop, CropResult
from .verdict import ENLARGED_BY, UPSCALE_UNMET, dropped_alternatives, small_photo_warning, written_sizes
from .imaging.load import DEFAULT_MAX_PIXELS, ImageSource, LoadedImage
from .perception.analysis import AnalysisConfig, CompositionAnalysis
from .perception.analyzer import Analyzer
from .perception.backdrop import studio_allowed
from .perception.describe import describe, for_reader
from .perception.detectors import Detector
from .scoring.choice import choose_crops
from .scoring.context import FIXED_RATIO, ExtraTerm, ScoringContext, TermValues
from .scoring.explain import explain_crop
from .scoring.extra import all_terms, apply_extra_terms_batched, term_runs
from .scoring.protection import allowed_crops
from .scoring.setup import DEFAULT_SCORER, scoring_setup
from .scoring.weights import ScoringWeights


class Cropper:
    """Aesthetic cropper: composition analysis + interpretable score + plug-in terms.

    Args:
        weights: a :class:`ScoringWeights` or a path to a weights TOML (the classic terms'); default: the shipped file.
        candidates: candidate layout (minimum area, scales, grid density); the learned scorers
            make the default 8 scales x 12 positions 4 x 6 (their own search adds boxes).
        analysis: analysis settings.
        face_detector: a :class:`~procrop.perception.detectors.Detector`; default YuNet
            (both profiles; ``HaarFaceDetector()`` is the classical one).
        people_detector: optional extra whole-person detector.
        extra_terms: plugged-in :class:`~procrop.scoring.composition.ExtraTerm` objects.
        reference_db: a reference database folder: the learned scorer retrieves from it and crops
            like its photos (``style_strength``); the classic scorer's retrieval (default: bundled; ``None``: off).
        diversity_iou: crops of one ratio overlap less than this (IoU).
        min_score_ratio: alternatives under this share of their ratio's best are not returned (0: all).
        rerank_top: how many best candidates per ratio the extra terms re-rank (a neural model: all).
        model: a neural ProCrop checkpoint (``.pt``) or exported model (``.onnx``): its set
            predictions join the candidates and its box score becomes the dominant ``neural``
            term (extra ``procrop[torch]``).
        model_weight: weight of the ``neural`` term; default 1.5 x the sum of the other weights.
        analysis_size, max_pixels: long side of the working image; refuse images with more pixels.
        profile: ``"default"`` (pretrained detectors: YuNet faces, YOLOX-nano people, animals and
            objects) or ``"fast"`` (YuNet faces, no object detector; about 20 % faster, README).
        object_detector: replaces the default YOLOX-nano detector.
        pose: body keypoints (MoveNet; extra ``procrop[pose]``) place the joints a crop must not cut.
        scorer: ``"preference"`` (default: the learned score, the terms and subject cuts weighed
            as editors rank crops), ``"learned"`` or ``"classic"``: see :mod:`procrop.scoring.setup`.
        learned_model: a learned-scorer bundle folder (default: the one shipped with procrop).
        style_strength: weight of the references' composition beside the learned score's 1
            (:mod:`procrop.scoring.terms.style`); default 3 with a ``reference_db`` folder, 0 otherwise.
        preference_model: a preference model file (``procrop prefs fit``) in place of the shipped one;
            preference scorer only (:class:`~procrop.errors.UsageError` otherwise, or when it is no such file).
        max_upscale: for an output size ``WxH``, only crops that reach it enlarged at most this
            many times are chosen (when none of the crops protection allows does, the widest of
            them, and the result's notes say so): sharp files before tight framing. ``None``
            (default): any size, as the scores choose.
    """

    def __init__(
        self, *,
        weights: ScoringWeights | str | Path | None = None,
        candidates: CandidateConfig | None = None,
        analysis: AnalysisConfig | None = None,
        face_detector: Detector | None = None,
        people_detector: Detector | None = None,
        extra_terms: Sequence[ExtraTerm] = (),
        reference_db: str | Path | None = "default",
        model: str | Path | None = None,
        model_weight: float | None = None,
        diversity_iou: float = 0.6,
        min_score_ratio: float = 0.8,
        rerank_top: int = 24,
        analysis_size: int = 224,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        profile: str = "default",
        object_detector: Detector | None = None,
        pose: bool = False,
        scorer: str = DEFAULT_SCORER,
        learned_model: str | Path | None = None,
        style_strength: float | None = None,
        preference_model: str | Path | None = None,
        max_upscale: float | None = None,
    ) -> None:
        checked_choice(diversity_iou, min_score_ratio)
        check_whole("rerank_top", rerank_top, 1)
        check_whole("max_pixels", max_pixels, 1)  # 0: every image "too large"
        check_whole("analysis_size", analysis_size, 64, 2048, " of pixels")
        self.max_upscale = checked_upscale(max_upscale)
        if preference_model is not None:  # before any model loads: a wrong pairing fails at once
            if (used := "a neural --model" if model is not None else scorer) != "preference":
                raise UsageError(f"{preference_model}: a preference model needs the preference scorer, not {used}")
            from .scoring.terms.preference import PreferenceTerm

            extra_terms = (*extra_terms, PreferenceTerm(preference_model))
        self.scorer_name, self.scorer, self.extra_terms = scoring_setup(
            scorer, weights, extra_terms, reference_db, model, model_weight, learned_model, style_strength
        )
        self.candidate_config = candidates or CandidateConfig()
        searches = self.scorer_name in ("learned", "preference")
        if searches and (self.candidate_config.scales, self.candidate_config.grid) == (8, 12):
            # the learned term searches boxes itself: a coarse grid (plus the anchored crops) is enough
            self.candidate_config = replace(self.candidate_config, scales=4, grid=6)
        self.analyzer = Analyzer(
            analysis, face_detector, people_detector, analysis_size, max_pixels,
            profile=profile, object_detector=object_detector, pose=pose,
        )
        self.diversity_iou, self.min_score_ratio, self.rerank_top = diversity_iou, min_score_ratio, rerank_top

    @property
    def weights(self) -> ScoringWeights:
        return self.scorer.weights

    @property
    def model_name(self) -> str | None:
        """The learned model in use (``None`` with the classic scorer)."""
        named = [str(t.model_name) for t in self.extra_terms if getattr(t, "model_name", None)]
        return named[-1] if named else None

    def load(self, image: ImageSource | LoadedImage) -> LoadedImage:
        """Load an image at the cropper's working size (a :class:`LoadedImage` passes through)."""
        return self.analyzer.load(image)

    def analyze(self, image: ImageSource | LoadedImage) -> CompositionAnalysis:
        """Composition analysis of an image (as :meth:`process` makes it: the learned scorer's backbone
        feeds the salient-object head)."""
        return self.prepare(image).analysis

    def describe(self, image: ImageSource | LoadedImage) -> str:
        """The composition of an image, described in words."""
        return describe(self.analyze(image), for_people=True)

    def crop(
        self,
        image: ImageSource | LoadedImage,
        ratios: str | Sequence[str] | None = None,
        top_k: int = 3,
        *,
        max_upscale: float | None = None,
        min_score_ratio: float | None = None,
        diversity_iou: float | None = None,
    ) -> list[Crop]:
        """Best crops of an image.

        Args:
            image: a path, encoded bytes, a Pillow image or an RGB array.
            ratios: ``"free"`` (default), ``"original"``, ``"W:H"`` or ``"WxH"`` output sizes, as
                a list or a comma-separated string.
            top_k: crops per ratio (at most; near-duplicates, crops under 80 % of the best and those
                keeping under a third of what it keeps are dropped, and the ``notes`` say so).
            max_upscale: this call's ``max_upscale`` (see the class; default: the cropper's).
            min_score_ratio, diversity_iou: this call's (see the class; default: the cropper's): a
                lower ratio or a higher IoU lets more alternatives through.

        Returns:
            Crops of all ratios, best score first; boxes in pixels of the oriented original
            (:func:`procrop.save_crop` writes one as ``procrop crop`` does).

        Raises:
            ImageLoadError: the image cannot be read (a missing file too: not an ``OSError``).
            UsageError: a bad ratio, ``top_k``, ``max_upscale``, ``min_score_ratio`` or ``diversity_iou``.
        """
        return self.process(image, ratios, top_k, max_upscale=max_upscale, min_score_ratio=min_score_ratio,
                            diversity_iou=diversity_iou).crops

    @one_blas_thread()
    def process(self, image: ImageSource | LoadedImage, ratios: str | Sequence[str] | None = None,
                top_k: int = 3, *, max_upscale: float | None = None, min_score_ratio: float | None = None,
                diversity_iou: float | None = None) -> CropResult:
        """Like :meth:`crop` (and raising as it does), returning the full :class:`CropResult`
        (description, analysis, verdict...)."""
        check_whole("top_k", top_k, 1)
        limit = self.max_upscale if max_upscale is None else checked_upscale(max_upscale)
        choice = (self.diversity_iou if diversity_iou is None else diversity_iou,
                  self.min_score_ratio if min_score_ratio is None else min_score_ratio)
        checked_choice(*choice)
        requested = parse_ratios(ratios)  # validate before the (slower) image work
        t0 = time.perf_counter()
        loaded = self.load(image)
        t1 = time.perf_counter()
        early = {f"{t.name}:prefetch": t.prefetch(loaded) for t in self.extra_terms if hasattr(t, "prefetch")}
        analysis = self.analyzer.analyze(loaded, backbone=early.get("learned:prefetch"))
        t2 = time.perf_counter()
        ctx = ScoringContext(loaded, analysis)
        ctx.cache.update(early)  # work extra terms started beside perception (the learned backbone)
        ctx.cache.update(ratios=requested, profile=self.analyzer.profile)  # the learned term searches them at once
        ctx.cache["max_upscale"] = limit
        ctx.cache["choice"] = choice  # (diversity_iou, min_score_ratio) of this call
        W, H = loaded.width, loaded.height
        full = np.array([[0, 0, W, H]], dtype=np.int64)
        # the candidates of every ratio and the uncropped frame through the base terms in one batch
        # (a box's terms do not depend on the others), then per ratio: faces protected, shortlisted
        candidates = with_free_candidates(requested, [self.candidates(analysis, r, ctx) for r in requested],
                                          analysis, self.candidate_config.for_photo(analysis))
        ends = np.cumsum([1] + [len(b) for b in candidates])
        every = self.scorer.terms(ctx, np.concatenate([full, *candidates]))
        shortlists = [self._shortlist(ctx, ratio, boxes, every.subset(np.arange(start, end)))
                      for ratio, boxes, start, end in zip(requested, candidates, ends[:-1], ends[1:])]
        # the uncropped frame and every shortlist through the extra terms in one batch (each: fixed or free)
        parts = [(full, every.subset(np.arange(1)))] + shortlists
        for ratio, (boxes, tv) in zip(requested, shortlists):  # the uncropped frame, unmarked, is free
            tv.details[FIXED_RATIO] = np.full(len(boxes), float(not ratio.is_free))
        apply_extra_terms_batched(ctx, self.extra_terms, self.scorer.weights, parts)
        uncropped = float(self.scorer.combine(parts[0][1])[0])
        crops: list[Crop] = []
        for ratio, (boxes, tv) in zip(requested, shortlists):
            crops.extend(self._finish(ctx, ratio, boxes, tv, top_k, uncropped))
        crops.sort(key=lambda c: (-c.score, c.ratio, c.rank))
        t3 = time.perf_counter()
        learned_text = ctx.cache.get("description")  # the learned scorer's, worded for a reader
        text = for_reader(learned_text, analysis) if learned_text else describe(analysis, for_people=True)
        references = list(ctx.cache.get("references", []))
        timings = {"load": (t1 - t0) * 1e3, **analysis.timings, "score": (t3 - t2) * 1e3}
        timings["total"] = (time.perf_counter() - t0) * 1e3
        return CropResult(
            image=loaded.name,
            width=W,
            height=H,
            crops=crops,
            uncropped_score=uncropped,
            description=text,
            analysis=analysis,
            timings=timings,
            references=references,
            warnings=[w for w in (small_photo_warning(W, H), *(ratio_fit_warning(r, W, H) for r in requested))
                      if w] + written_sizes(crops, no_upscale=False, cli=False)[1],  # enlarged to a WxH
            notes=dropped_alternatives(ctx.cache.get("dropped", {}), choice[1], choice[0])
            + ctx.cache.get("upscale_unmet", []),
            ratios=[r.label for r in requested],
        )

    def score_boxes(self, image: ImageSource | LoadedImage, boxes: np.ndarray, fixed_ratio: bool = False
                    ) -> np.ndarray:
        """Scores in [0, 1] of ``(N, 4)`` ``xywh`` boxes, every term included (benchmarks' fixed candidates);
        ``fixed_ratio``: the boxes are of a fixed ratio asked for, as a judged sheet's ``4:5`` crops.

        Raises:
            UsageError: a box without area or outside the image."""
        ctx = self.prepare(image)
        boxes = checked_boxes(boxes, ctx.analysis.width, ctx.analysis.height)
        return self.scorer.combine(self._all_terms(ctx, boxes, [fixed_ratio] * len(boxes))) if len(boxes) \
            else np.zeros(0)

    def _all_terms(self, ctx: ScoringContext, boxes: np.ndarray, fixed: Sequence[bool]) -> TermValues:
        """Every term's values for ``boxes (N, 4)`` (:func:`~procrop.scoring.extra.all_terms`)."""
        return all_terms(ctx, self.scorer, self.extra_terms, boxes, fixed)

    @one_blas_thread()
    def prepare(self, image: ImageSource | LoadedImage) -> ScoringContext:
        """Load and analyse an image once, for scoring many boxes of it with :meth:`score_box`.

        Raises:
            ImageLoadError: the image cannot be read."""
        loaded = self.load(image)
        early = {f"{t.name}:prefetch": t.prefetch(loaded) for t in self.extra_terms if hasattr(t, "prefetch")}
        ctx = ScoringContext(loaded, self.analyzer.analyze(loaded, backbone=early.get("learned:prefetch")))
        ctx.cache.update(early)
        return ctx

    def score_box(
        self, image: ImageSource | LoadedImage | ScoringContext, box: tuple[int, int, int, int], ratio: str = "free"
    ) -> tuple[Crop, float]:
        """Any ``(x, y, w, h)`` box scored and explained like a returned crop of ``ratio`` (a fixed one: the
        box's shape to a pixel, else :class:`UsageError`; a crop's score is found again with its own
        ``ratio``, not ``free``): ``(crop, uncropped_score)``; :meth:`prepare`'s context scores many."""
        ctx = image if isinstance(image, ScoringContext) else self.prepare(image)
        W, H = ctx.analysis.width, ctx.analysis.height
        boxes = np.vstack([checked_boxes(box, W, H), (0, 0, W, H)]).astype(np.int64)
        shapes = parse_ratios(ratio)
        if len(shapes) != 1:  # the first was taken without a word (an HTTP trial's ratio=1:1,4:5)
            raise UsageError(f"ratio must be one ratio for a scored box, got {len(shapes)}: {ratio!r}")
        shape = shapes[0].resolve(W, H)
        if shape.value is not None and abs(boxes[0, 2] - boxes[0, 3] * shape.value) > 1:  # a square: "16:9"
            raise UsageError(f"box {boxes[0, 2]}x{boxes[0, 3]} is not of ratio {shape.label}: "
                             "give ratio='free', or a box of that shape")
        tv = self._all_terms(ctx, boxes, [not shape.is_free, False])  # the box, the uncropped frame
        scores = self.scorer.combine(tv)
        crop = self._make_crop(ctx, shape, boxes, tv, scores, 0, 1, float(scores[1]))
        return crop, float(scores[1])

    # ---- internals -------------------------------------------------------------------------

    def candidates(self, analysis: CompositionAnalysis, ratio: AspectRatio, ctx: ScoringContext | None = None) -> np.ndarray:
        """All candidate boxes ``(N, 4)`` for one ratio: the grid, crops anchored on faces and
        subjects, the largest box of the ratio, and (with ``ctx``) boxes proposed by extra terms
        such as a neural model's set predictions."""
        config = self.candidate_config.for_photo(analysis)
        boxes = [photo_candidates(analysis, ratio, config)]
        if ctx is not None:
            for term in self.extra_terms:
                propose = getattr(term, "extra_candidates", None)
                if propose is not None and term_runs(term, self.extra_terms, self.scorer.weights):
                    boxes.append(large_enough(propose(ctx, ratio), analysis, ratio, config))
        return unique_boxes(fill_near_full(np.concatenate(boxes, axis=0), analysis.width, analysis.height, ratio))

    def _shortlist(self, ctx: ScoringContext, ratio: AspectRatio, boxes: np.ndarray, tv: TermValues
                   ) -> tuple[np.ndarray, TermValues]:
        """``boxes`` of one ratio and their base terms ``tv``, shortlisted: crops that cut a face, person,
        animal or object they could keep whole (or cut cleanly) dropped (:mod:`procrop.scoring.protection`;
        each as output, inside a scan border), then, when extra terms re-rank, the best ``rerank_top``
        plus the largest box (all when a term scores every candidate: a learned model)."""
        output = np.asarray(inside_the_picture(boxes, ctx.analysis, ratio))  # each as it will be output
        judged = to_the_frame(output, ctx.analysis)  # and where its edges cut (a scan border: nothing)
        face_inside = inside_fractions(judged, [f.box for f in ctx.analysis.faces])
        allowed = allowed_crops(judged, ctx.analysis, face_inside)
        a = ctx.analysis
        if a.backdrop is not None:  # on a plain ground: things whole and together, not all ground
            allowed = studio_allowed(allowed, judged, a.backdrop, a.width, a.height)
        if not allowed.all():
            keep = np.flatnonzero(allowed)
            boxes, tv, output = boxes[keep], tv.subset(keep), output[keep]
        limit = ctx.cache.get("max_upscale")
        if limit is not None and ratio.output_size is not None and len(boxes):
            # as output, wide enough to reach the size enlarged at most max_upscale times, else the
            # widest that protection allowed (the result's notes say so)
            need, widest = ratio.output_size[0] / limit, int(np.argmax(output[:, 2]))
            sharp = np.flatnonzero(output[:, 2] >= min(need, output[widest, 2]))
            boxes, tv = boxes[sharp], tv.subset(sharp)
            if output[widest, 2] < need:
                w, h = output[widest, 2:]
                ctx.cache.setdefault("upscale_unmet", []).append(
                    f"{ratio.label}: no crop that cuts nothing it could keep is wide enough for {limit:g} "
                    f"times at most{UPSCALE_UNMET}; the widest such crop, {w:.0f}x{h:.0f}{ENLARGED_BY} "
                    f"{ratio.output_size[0] / w:.2f} times")
        if self.extra_terms and not any(getattr(t, "scores_every_candidate", False) for t in self.extra_terms):
            scores = self.scorer.combine(tv)
            order = np.lexsort((np.arange(len(scores)), -scores))[: self.rerank_top]
            biggest = int(np.argmax(boxes[:, 2] * boxes[:, 3]))
            if biggest not in order:
                order = np.append(order, biggest)
            boxes, tv = boxes[order], tv.subset(order)
        return boxes, tv

    def _finish(
        self, ctx: ScoringContext, ratio: AspectRatio, boxes: np.ndarray, tv: TermValues, top_k: int, uncropped: float
    ) -> list[Crop]:
        """Top-K diverse crops of one ratio, with confidence, reason and references."""
        scores = self.scorer.combine(tv)
        diversity, min_ratio = ctx.cache["choice"]  # this call's (process)
        candidates = len(boxes)
        if has_scan_border(ctx.analysis):  # the best and diverse crops all moved inside it, rescored,
            # and chosen among (moved crops can meet), the same set whatever this call's top_k and diversity
            pool = np.union1d(np.argsort(-scores, kind="stable")[:MOVED_POOL],
                              select_diverse(scores, boxes, MOVED_POOL, 0.5))
            boxes = inside_the_picture(boxes[pool], ctx.analysis, ratio)
            scores = self.scorer.combine(tv := self._all_terms(ctx, boxes, [not ratio.is_free] * len(boxes)))
        chosen, low, *more = choose_crops(scores, boxes, top_k, diversity, min_ratio, tv.details.get("kept"))
        if len(chosen):  # the notes say why a ratio has fewer than top_k (more: thin, overlap)
            ctx.cache.setdefault("dropped", {})[ratio.label] = (top_k, len(chosen), low, candidates, *more)
        return [self._make_crop(ctx, ratio, boxes, tv, scores, int(i), rank, uncropped)
                for rank, i in enumerate(chosen, start=1)]

    def _make_crop(
        self, ctx: ScoringContext, ratio: AspectRatio, boxes: np.ndarray, tv: TermValues, scores: np.ndarray,
        i: int, rank: int, uncropped: float,
    ) -> Crop:
        """Candidate ``i`` as a :class:`Crop`: terms, confidence against ``uncropped``, reason, references."""
        p = self.scorer.weights.param
        terms = {k: float(v[i]) for k, v in tv.values.items() if tv.applicable[k][i]}
        details = {k: float(v[i]) for k, v in tv.details.items()}
        score = float(scores[i])
        z = (score - uncropped - p("confidence", "margin")) / max(p("confidence", "temperature"), 1e-9)
        extra_reasons = [text for term in self.extra_terms
                         if term.name in terms and (text := term.explain(ctx, boxes[i], terms[term.name]))]
        return Crop(
            box=tuple(int(v) for v in boxes[i]),  # type: ignore[arg-type]
            ratio=ratio.label,
            score=score,
            rank=rank,
            confidence=1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0))),
            terms=terms,
            reason=explain_crop(terms, details, self.scorer.contributions(tv, i), extra_reasons),
            output_size=ratio.output_size,
            references=self._crop_references(ctx, boxes[i]),
        )

    def _crop_references(self, ctx: ScoringContext, box: np.ndarray) -> tuple[dict[str, Any], ...]:
        for term in self.extra_terms:
            refs = getattr(term, "crop_references", None)
            if refs is not None:
                return tuple(refs(ctx, box))
        return ()


#: When a ratio's crops move inside a scan border, its best this many and as many diverse ones (IoU
#: under 0.5) are all moved and chosen from, so the top crop does not depend on ``top_k`` or
#: ``diversity_iou``.
MOVED_POOL = 16


def checked_choice(diversity_iou: float, min_score_ratio: float) -> None:
    """Raise :class:`UsageError` unless ``diversity_iou`` is a number in (0, 1] and
    ``min_score_ratio`` one in [0, 1]."""
    if not (real_number(diversity_iou) and 0 < diversity_iou <= 1):  # text was a TypeError (a trial's "x")
        raise UsageError(f"diversity_iou must be a number in (0, 1], got {diversity_iou!r}")
    if not (real_number(min_score_ratio) and 0 <= min_score_ratio <= 1):  # 5 returned no crop at all
        raise UsageError(f"min_score_ratio must be a number in [0, 1], got {min_score_ratio!r}")


def checked_upscale(value: Any) -> float | None:
    """``max_upscale`` as a float of at least 1, or ``None`` (the Python API's check, and the HTTP
    API's).

    Raises:
        UsageError: not a number of at least 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value < math.inf:
        raise UsageError(f"max_upscale must be a number of at least 1 (times), got {value!r}")
    return float(value)
