"""The shapes of the HTTP API's answers, for its OpenAPI page (``/openapi.json``, ``/docs``).

The routes answer with the same dictionaries ``procrop crop --json`` writes
(:meth:`procrop.results.CropResult.to_dict` and friends); these models only describe them, so a
client can be generated from the spec. Boxes are ``[x, y, w, h]`` in pixels of the EXIF-oriented
upload. Every model accepts more fields than it names, as the answers may grow.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Reference(_Open):
    """A professional photo retrieval found similar, with its licence."""

    source: str = Field(description="the photo, relative to the reference database")
    similarity: float | None = Field(None, description="cosine similarity of the search vectors")
    licence: str | None = None


class CropItem(_Open):
    """One crop."""

    box: list[int] = Field(description="[x, y, w, h] in pixels of the oriented upload")
    ratio: str = Field(description="the ratio asked that this crop answers (free, 1:1, 1080x1350...)")
    score: float = Field(description="aesthetic score in [0, 1]")
    rank: int = Field(description="1 for the best crop of its ratio")
    confidence: float = Field(description="how likely the crop looks better than the uncropped photo")
    versus_original: str = Field(description="the confidence in words")
    terms: dict[str, float] = Field(description="each scoring term's value in [0, 1]")
    reason: str
    output_size: list[int] | None = Field(None, description="[w, h] of a WxH ratio's file")
    references: list[Reference] = []


class CropAnswer(_Open):
    """``POST /v1/crop``: the crops of every ratio asked, best first, and the verdict."""

    image: str
    width: int
    height: int
    crops: list[CropItem]
    uncropped_score: float
    confidence: float = Field(description="the top crop's confidence")
    keep_original: bool = Field(description="whether the uncropped photo is the better choice")
    verdict: str = Field(description="the decision in one sentence")
    description: str = Field(description="the composition in words")
    references: list[Reference] = []
    warnings: list[str] = []
    notes: list[str] = []
    analysis: dict[str, Any] = Field({}, description="faces, people, subjects, lines, horizon, colour...")
    timings_ms: dict[str, float] = {}
    procrop_version: str
    scorer: str
    model: str | None = Field(None, description="the scoring model's name and version")
    reference_db: str | None = None
    style_strength: float | None = Field(None, description="with references=SET: how strongly they steer")


class ScoreAnswer(_Open):
    """``POST /v1/score``: one box scored and explained as a crop."""

    image: str
    width: int
    height: int
    box: list[int]
    ratio: str
    score: float
    confidence: float
    versus_original: str
    uncropped_score: float
    terms: dict[str, float]
    contributions: dict[str, float] = Field({}, description="each term's share of the score")
    reason: str
    references: list[Reference] = []
    scorer: str
    model: str | None = None
    reference_db: str | None = None
    style_strength: float | None = None


class DescribeAnswer(_Open):
    """``POST /v1/describe``: the composition in words, and the analysis behind them."""

    image: str
    width: int
    height: int
    description: str
    analysis: dict[str, Any]


class SetPhoto(_Open):
    source: str
    composition: dict[str, Any] = Field({}, description="subject place and fill, horizon height")


class ReferenceSet(_Open):
    """``POST /v1/references``: the set the photo was added to."""

    set: str = Field(description="the set's id: pass it as references=SET")
    count: int
    max: int = Field(description="the most photos a set holds")
    references: list[SetPhoto]


class Deleted(_Open):
    """``DELETE /v1/references/{set}``."""

    set: str
    deleted: bool = Field(description="false when the set was not held (deleting twice is no error)")


class ErrorBody(BaseModel):
    """Every error answer."""

    error: str = Field(description="a stable code: invalid_parameter, not_an_image, no_such_reference_set...")
    detail: str = Field(description="the problem in words")
