"""What the cropper returns: :class:`Crop` (one recommended crop) and :class:`CropResult`
(everything found for one image), with their JSON form (``to_dict``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._version import __version__
from .perception.analysis import CompositionAnalysis
from .verdict import can_keep, result_verdict, too_small_to_judge, versus_original, whole_words


@dataclass(frozen=True)
class Crop:
    """One recommended crop.

    Attributes:
        box: ``(x, y, w, h)`` in pixels of the oriented original image.
        ratio: the requested ratio label this crop answers (``"1:1"``, ``"free"``...).
        score: aesthetic score in [0, 1].
        rank: 1 for the best crop of its ratio.
        confidence: probability-like value in [0, 1] that this crop is better than leaving the
            photo uncropped (0.5: no better, no worse).
        terms: term name -> value in [0, 1] (only the terms that apply).
        reason: why this crop scored as it did, in words.
        output_size: ``(w, h)`` written files are resized to, for ``WxH`` requests.
        references: the professional photos that guided the crop (retrieval), best first.
    """

    box: tuple[int, int, int, int]
    ratio: str
    score: float
    rank: int
    confidence: float
    terms: dict[str, float]
    reason: str
    output_size: tuple[int, int] | None = None
    references: tuple[dict[str, Any], ...] = ()

    def to_dict(self, image_size: tuple[int, int] | None = None,
                content: tuple[float, float, float, float] | None = None,
                uncropped_score: float | None = None) -> dict[str, Any]:
        """The crop as the JSON shows it; with the photo's ``image_size`` (and its scan border's
        ``content`` box), ``versus_original`` says so when the crop is the whole photo, and with the
        ``uncropped_score`` too when it is of a shape the photo is not and scores under it
        (:func:`~procrop.verdict.versus_original`)."""
        whole = whole_words(self.box, *image_size, content) if image_size is not None else None
        new_shape = (image_size is not None and uncropped_score is not None and self.score < uncropped_score
                     and not can_keep([self.ratio], *image_size))
        too_small = image_size is not None and too_small_to_judge(*image_size)
        d: dict[str, Any] = {
            "box": [int(v) for v in self.box],
            "ratio": self.ratio,
            "score": round(float(self.score), 4),
            "rank": self.rank,
            "confidence": round(float(self.confidence), 4),
            "versus_original": versus_original(self.confidence, whole, new_shape, too_small),
            "terms": {k: round(float(v), 4) for k, v in self.terms.items()},
            "reason": self.reason,
        }
        if self.output_size is not None:
            d["output_size"] = list(self.output_size)
        d["references"] = list(self.references)  # always present: [] with retrieval off
        return d


@dataclass
class CropResult:
    """Everything procrop found for one image.

    Attributes:
        image: the file path (or the ``name`` given), else ``<in-memory image>``.
        width, height: size of the oriented original.
        crops: all crops of all ratios, best score first.
        uncropped_score: the score of the full frame (the "keep it as it is" option).
        description: the composition described in words.
        analysis: the underlying analysis.
        timings: milliseconds per stage.
        references: professional photos retrieved for this image (retrieval), best first.
        warnings: problems worth telling the user: a ratio that cannot fit the image, a photo too
            small to judge, crops an output size ``WxH`` enlarges (``procrop crop`` words these with
            its ``--no-upscale`` hint, or as notes with ``--no-upscale``).
        notes: information, not a problem: e.g. a ratio with fewer crops than asked, and why.
        ratios: the ratio labels asked for, in the order asked (the verdict names them so).
    """

    image: str
    width: int
    height: int
    crops: list[Crop]
    uncropped_score: float
    description: str
    analysis: CompositionAnalysis
    timings: dict[str, float] = field(default_factory=dict)
    references: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ratios: list[str] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        """Confidence that the crop the verdict judges beats the uncropped frame: the best crop of a
        ratio the photo has, where one was asked, else the best crop (0 when there is no crop)."""
        return float(self._verdict()["confidence"])

    def for_ratio(self, label: str) -> list[Crop]:
        """Crops answering one requested ratio, best first; ``label`` as asked (``"1/1"`` is
        ``"1:1"``: :func:`~procrop.geometry.parse_ratio`).

        Raises:
            UsageError: a label that is no ratio (``"1:"``).
        """
        from .geometry import parse_ratio

        label = parse_ratio(label).label
        return [c for c in self.crops if c.ratio == label]

    @property
    def keep_original(self) -> bool:
        """Whether the uncropped photo is the better choice (the JSON's ``keep_original``)."""
        return bool(self._verdict()["keep_original"])

    @property
    def close_call(self) -> bool:
        """Whether the verdict is a close call, either choice will do (the JSON's ``close_call``)."""
        return bool(self._verdict()["close_call"])

    @property
    def verdict(self) -> str:
        """The decision in one sentence: keep the photo or crop it, and how sure (the JSON's ``verdict``)."""
        return str(self._verdict()["verdict"])

    def _verdict(self) -> dict[str, Any]:
        return result_verdict(self.crops, self.uncropped_score, self.width, self.height, self.ratios,
                              self.content)

    @property
    def content(self) -> tuple[float, float, float, float] | None:
        """The picture's box inside a scan border (``None``: none, or no analysis to say); a crop
        of all of it is the whole photo (:func:`~procrop.verdict.is_whole`)."""
        return getattr(self.analysis, "content", None)

    def to_dict(self, include_analysis: bool = True) -> dict[str, Any]:
        """The result as the JSON shows it: these fields, each crop's :meth:`Crop.to_dict` (with
        ``versus_original``), :attr:`keep_original` and :attr:`verdict`, the analysis (unless
        ``include_analysis`` is False), ``timings_ms`` (:attr:`timings`) and ``procrop_version``."""
        d: dict[str, Any] = {
            "image": self.image,
            "width": self.width,
            "height": self.height,
            "crops": [c.to_dict((self.width, self.height), self.content, self.uncropped_score)
                      for c in self.crops],
            "uncropped_score": round(float(self.uncropped_score), 4),
            **{k: round(float(v), 4) if k == "confidence" else v for k, v in self._verdict().items()},
            "description": self.description,
        }
        d["references"] = list(self.references)  # always present: [] with retrieval off
        d["warnings"] = list(self.warnings)  # always present, [] when none (a reader need not test the key)
        d["notes"] = list(self.notes)
        if include_analysis:
            d["analysis"] = self.analysis.to_dict()
        d["timings_ms"] = {k: round(v, 2) for k, v in self.timings.items()}
        d["procrop_version"] = __version__
        return d
