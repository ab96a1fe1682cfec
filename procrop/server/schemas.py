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
    licence: str | None = Field(None, description="the photo's licence, as its database records it")


class CropItem(_Open):
    """One crop."""

    box: list[int] = Field(description="[x, y, w, h] in pixels of the oriented upload")
    ratio: str = Field(description="the ratio asked that this crop answers (free, 1:1, 1080x1350...)")
    score: float = Field(description="aesthetic score in [0, 1]")
    rank: int = Field(description="1 for the best crop of its ratio")
    confidence: float = Field(description="how likely the crop looks better than the uncropped photo")
    versus_original: str = Field(description="the confidence in words")
    terms: dict[str, float] = Field(description="each scoring term's value in [0, 1]")
    reason: str = Field(description="why the crop scored as it did, in words")
    output_size: list[int] | None = Field(None, description="[w, h] of a WxH ratio's file")
    references: list[Reference] = Field([], description="the professional photos that guided this crop")


class _Photo(_Open):
    """The fields every answer about an upload starts with."""

    image: str = Field(description="the upload's file name (no path)")
    width: int = Field(description="the EXIF-oriented image's width in pixels")
    height: int = Field(description="the EXIF-oriented image's height in pixels")


class _Scored(_Open):
    """The fields of an answer that scored crops: with what."""

    scorer: str = Field(description="the scorer used: preference, learned or classic")
    model: str | None = Field(None, description="the scoring model's name and version")
    reference_db: str | None = Field(None, description="the reference database or set that was searched")
    style_strength: float | None = Field(None, description="with references=SET: how strongly they steer")


class CropAnswer(_Scored, _Photo):
    """``POST /v1/crop``: the crops of every ratio asked, best first, and the verdict."""

    crops: list[CropItem] = Field(description="every ratio's crops, best score first")
    uncropped_score: float = Field(description="the score of the whole photo, the 'keep it' option")
    confidence: float = Field(description="the confidence of the crop the verdict judges (the best crop of a "
                                          "ratio the photo has, where one was asked, else the best crop)")
    keep_original: bool = Field(description="whether the uncropped photo is the better choice")
    close_call: bool = Field(False, description="whether the verdict is a close call (confidence 40-60 %): "
                                                "either choice will do")
    verdict: str = Field(description="the decision in one sentence")
    description: str = Field(description="the composition in words")
    references: list[Reference] = Field([], description="professional photos retrieved for the image")
    warnings: list[str] = Field([], description="problems: a ratio that cannot fit, a crop enlarged...")
    notes: list[str] = Field([], description="information: e.g. a ratio with fewer crops than asked, and why")
    analysis: dict[str, Any] = Field({}, description="faces, people, subjects, lines, horizon, colour...")
    timings_ms: dict[str, float] = Field({}, description="milliseconds per stage")
    procrop_version: str = Field(description="the server's procrop version")


class ScoreAnswer(_Scored, _Photo):
    """``POST /v1/score``: one box scored and explained as a crop (the fields as in a crop)."""

    box: list[int] = Field(description="the box scored, [x, y, w, h]")
    ratio: str = Field(description="the ratio it was scored as (free by default)")
    score: float = Field(description="aesthetic score in [0, 1]")
    confidence: float = Field(description="how likely the box looks better than the uncropped photo")
    versus_original: str = Field(description="the confidence in words")
    uncropped_score: float = Field(description="the score of the whole photo")
    terms: dict[str, float] = Field(description="each scoring term's value in [0, 1]")
    contributions: dict[str, float] = Field({}, description="each term's share of the score")
    reason: str = Field(description="why the box scored as it did, in words")
    references: list[Reference] = Field([], description="the professional photos that guided the score")


class DescribeAnswer(_Photo):
    """``POST /v1/describe``: the composition in words, and the analysis behind them."""

    description: str = Field(description="the composition in words")
    analysis: dict[str, Any] = Field(description="faces, people, subjects, lines, horizon, colour...")


class SetPhoto(_Open):
    """One photo of a reference set."""

    source: str = Field(description="the uploaded file's name")
    composition: dict[str, Any] = Field({}, description="subject place and fill, horizon height")


class ReferenceSet(_Open):
    """``POST /v1/references``: the set the photo was added to."""

    set: str = Field(description="the set's id: pass it as references=SET")
    count: int = Field(description="photos in the set now")
    max: int = Field(description="the most photos a set holds")
    references: list[SetPhoto] = Field(description="the set's photos, each with its measured composition")


class Deleted(_Open):
    """``DELETE /v1/references/{set}``."""

    set: str = Field(description="the set's id")
    deleted: bool = Field(description="false when the set was not held (deleting twice is no error)")


class Health(_Open):
    """``GET /health``: liveness, version, scorers, limits and load."""

    status: str = Field(description="ok")
    version: str = Field(description="the server's procrop version")
    scorers: dict[str, Any] = Field(description="default (the scorer when none is asked), choices, model")
    limits: dict[str, Any] = Field(description="max_upload_bytes, max_pixels, timeout_s, max_concurrency, "
                                               "max_queue, max_top_k, max_ratios, max_output_side...")
    load: dict[str, int] = Field(description="requests running and waiting now; rejected (503) and timed "
                                             "out (504) since the start")


class ErrorBody(BaseModel):
    """Every error answer."""

    error: str = Field(description="a stable code: invalid_parameter, not_an_image, no_such_reference_set...")
    detail: str = Field(description="the problem in words")
