"""The FastAPI application: routes, OpenAPI description, static page, per-process state.

This module owns :func:`create_app` (one app = one :class:`~procrop.server.service.CropService`
= one :class:`procrop.Cropper` per scorer) and :func:`app_from_env`, the factory uvicorn's worker
processes call, so every worker loads each scorer's models once. Every route reads the upload
itself through :mod:`procrop.server.uploads` (bounded, in memory), runs the CPU work through
:class:`~procrop.server.limits.WorkLimiter`, and answers JSON, an image, or the page.
"""

# no "from __future__ import annotations": FastAPI reads the route annotations (Request) at runtime

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from procrop import Cropper, __version__
from procrop.threads import limit_blas_threads

from .errors import ApiError, install_error_handlers
from .extra import require_server_extra
from .limits import WorkLimiter
from .refsets import parse_strength, require_one_worker
from .schemas import CropAnswer, Deleted, DescribeAnswer, ErrorBody, Health, ReferenceSet, ScoreAnswer
from .service import DEFAULT_SCORER, CropService, Steer, split_ratios
from .settings import ServerSettings
from .uploads import (SCORERS, Upload, parse_choice, parse_int, parse_multipart, parse_scorer, parse_upscale,
                      read_body, require_upload)

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Where the API documentation pages' scripts and styles are served from (installed, not a CDN).
DOCS_ASSETS = "/docs-assets"
_PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
             "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def _form_doc(fields: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a multipart form with a ``file`` and text fields."""
    props: dict[str, Any] = {"file": {"type": "string", "format": "binary",
                                      "description": "the image (JPEG, PNG, WebP, TIFF, BMP, GIF)"}}
    for name, (kind, text) in fields.items():
        props[name] = {"type": kind, "description": text}
    schema = {"type": "object", "required": ["file"], "properties": props}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


#: The ``scorer`` form field of the routes that rank or score boxes.
_SCORER_TEXT = ("default, preference, learned or classic: the preference scorer (default: the learned score, "
                "the terms and subject cuts weighed as editors rank crops), the learned box scorer alone (trained "
                "on professional compositions) or the classic hand-set terms with retrieval")
_SCORER_FIELD = ("string", _SCORER_TEXT)
_UPSCALE_FIELD = ("number", "with a WxH output size, only crops it enlarges at most this many times (when "
                  "none that cuts nothing it could keep is, the widest of those); default: any")
#: The fields that steer the learned scorer with reference photos uploaded to ``/v1/references``.
_STEER_FIELDS = {
    "references": ("string", "id of a reference set from POST /v1/references: crop like those photos"),
    "style_strength": ("number", "how strongly their composition steers the crops, 0-10 (default 3)")}


def _steer(fields: dict[str, str]) -> Steer:
    """The ``references`` and ``style_strength`` fields of a request (a strength without a set would
    be ignored: refused instead)."""
    steer = Steer(fields.get("references", "").strip() or None, parse_strength(fields))
    if steer.strength is not None and steer.references is None:
        raise ApiError(422, "invalid_parameter",
                       "style_strength steers a reference set: give references=SET too (the id the "
                       "references endpoint answers for uploaded photos; the server's own --db crops "
                       "at its --style-strength)")
    return steer

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text,
           "content": {"application/json": {"example": {"error": err, "detail": "..."}}}}
    for code, err, text in [
        (400, "invalid_form", "a body that is no multipart form, or a bad Content-Length"),
        (404, "no_such_reference_set", "references=SET names a set this server does not hold"),
        (405, "method_not_allowed", "another HTTP method than the route's"),
        (408, "request_timeout", "the upload did not arrive in time"),
        (409, "one_worker_only", "reference sets need a server of one worker process (--workers 1)"),
        (413, "too_large", "upload over the byte limit"),
        (415, "unsupported_media_type", "not a multipart form"),
        (422, "not_an_image", "no file, not an image, truncated, too many pixels, bad parameter"),
        (503, "busy", "queue full (Retry-After)"), (504, "timeout", "past the deadline")]}


def _answers(model: type) -> dict[int | str, dict[str, Any]]:
    """A route's documented answers: ``model`` on success, then the errors."""
    return {200: {"model": model}, **_ERRORS}


def _now() -> float:
    return asyncio.get_running_loop().time()


class _State:
    """What the routes share: settings, service and limiter."""

    def __init__(self, settings: ServerSettings, cropper: Cropper | None) -> None:
        self.settings = settings
        self.service = CropService(settings, cropper)
        self.limiter = WorkLimiter(settings.max_concurrency, settings.max_queue, settings.timeout_s,
                                   settings.retry_after_s)

    async def form(self, request: Any) -> tuple[dict[str, str], Upload]:
        body = await read_body(dict(request.headers), request.stream(), self.settings.max_upload_bytes)
        fields, upload = parse_multipart(request.headers.get("content-type", ""), body)
        return fields, require_upload(upload, self.settings.max_upload_bytes)

    async def work(self, request: Any, job: Any) -> Any:
        """Admit, read the form, check its fields are the route's, then run ``job(fields, upload)``
        in the pool under the deadline."""
        async with self.limiter.admitted() as deadline:
            try:  # a slow upload must not hold its admission slot past the deadline
                fields, upload = await asyncio.wait_for(self.form(request), max(deadline - _now(), 0.001))
            except asyncio.TimeoutError:
                raise ApiError(408, "request_timeout", "the upload did not arrive in time") from None
            _only_documented(fields, request)
            call = job(fields, upload)
            return await self.limiter.run(deadline, call)


#: ``format`` field values of ``/v1/crop/image`` -> Pillow format names.
_OUTPUT_FORMATS = {"jpeg": "JPEG", "jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


def _output_format(fields: dict[str, str]) -> str | None:
    """The Pillow format a crop image is asked in (``None``: the upload's)."""
    value = fields.get("format", "").strip().lower()
    if not value:
        return None
    if value not in _OUTPUT_FORMATS:
        raise ApiError(422, "invalid_parameter", f"format must be jpeg, png or webp, not {value[:20]!r}")
    return _OUTPUT_FORMATS[value]


def _ratio_field(fields: dict[str, str], names: tuple[str, str]) -> str:
    """The ratio text of a form that may name it either way (``names``: the route's own name first),
    "" when absent; 422 when both are given, even with one value."""
    if all(n in fields for n in names):
        raise ApiError(422, "invalid_parameter", f"give the {names[0]} once: '{names[0]}' or '{names[1]}', "
                       "not both")
    return fields.get(names[0], fields.get(names[1], ""))


def _only_documented(fields: dict[str, str], request: Any) -> None:
    """422 for a form field the route does not document (``topk`` for ``top_k`` gave 3 crops without
    a word), naming the nearest documented one."""
    import difflib

    schema = (getattr(request.scope.get("route"), "openapi_extra", None) or {}).get("requestBody", {})
    props = schema.get("content", {}).get("multipart/form-data", {}).get("schema", {}).get("properties")
    if props is None:
        return
    known = sorted(set(props) - {"file"})
    unknown = [f for f in fields if f not in props]
    if unknown:
        hints = [f"{f} (did you mean {near[0]}?)" if (near := difflib.get_close_matches(f, known, 1)) else f
                 for f in unknown]
        raise ApiError(422, "invalid_parameter", f"unknown field(s): {', '.join(hints)}; this endpoint takes "
                       f"{', '.join(known) or 'only the file'}")


def create_app(settings: ServerSettings | None = None, cropper: Cropper | None = None) -> Any:
    """Build the FastAPI app (extra ``procrop[server]``).

    Args:
        settings: limits and tuning; defaults to :class:`ServerSettings()`.
        cropper: a ready :class:`Cropper` to share for its scorer (``cropper.scorer_name``); the
            croppers of the other scorers (all of them by default) are built from ``settings``
            on first use.

    Raises:
        MissingExtraError: a package of the server extra is not installed (:mod:`.extra`).
    """
    require_server_extra()
    limit_blas_threads()  # crops run in the server's threads, where a scoped BLAS limit may not hold
    settings = settings or ServerSettings()
    state = _State(settings, cropper)
    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        yield
        state.limiter.close()

    from fastapi_offline import FastAPIOffline

    # /docs and /redoc from the Swagger UI and ReDoc files that fastapi-offline installs (FastAPI's
    # own pages load them from a CDN: blank offline)
    app = FastAPIOffline(title="procrop", version=__version__, lifespan=lifespan, static_url=DOCS_ASSETS,
                         description="Aesthetic image cropping: ranked, explained crops of an uploaded photo.")
    app.state.procrop = state
    install_error_handlers(app)
    _add_api_routes(app, state)
    _add_analysis_routes(app, state)
    _add_page_routes(app)
    return app


def app_from_env() -> Any:
    """App factory for uvicorn workers: settings from ``PROCROP_SERVER_SETTINGS``."""
    return create_app(ServerSettings.from_env())


def _add_api_routes(app: Any, state: _State) -> None:
    from fastapi import Request
    from fastapi.responses import JSONResponse, Response

    s = state.settings
    svc = state.service

    @app.post("/v1/crop", tags=["crop"], responses=_answers(CropAnswer), openapi_extra=_form_doc({
        "ratios": ("string", "comma list: free, original, W:H (1:1,4:5,16:9) or output sizes WxH (1080x1350)"),
        "ratio": ("string", "the same, for one ratio (the name /v1/crop/image uses): give ratios or ratio"),
        "top_k": ("integer", f"crops per ratio, 1-{s.max_top_k} (default 3)"),
        "max_upscale": _UPSCALE_FIELD, "scorer": _SCORER_FIELD, **_STEER_FIELDS,
        "min_score_ratio": ("number", "alternatives under this share of their ratio's best are dropped, 0-1 "
                            "(default 0.8; 0 keeps every diverse one up to top_k)"),
        "diversity_iou": ("number", "crops of one ratio overlap less than this IoU, above 0 to 1 "
                          "(default 0.6; higher lets near alternatives through)")}))
    async def crop(request: Request) -> JSONResponse:
        """Ranked crops with scores, term breakdowns, reasons, description and analysis (the CLI's
        JSON), with the ``scorer`` (and learned ``model``) that ranked them."""
        def job(fields: dict[str, str], up: Upload) -> Any:
            given = [k for k in ("ratios", "ratio") if k in fields]
            text = _ratio_field(fields, ("ratios", "ratio"))
            if given and not text.strip():  # ratios= (an empty variable): not "free"
                raise ApiError(422, "invalid_parameter", f"{given[0]} is empty: give free, original, W:H "
                               "(16:9) or an output size WxH, or leave it out for free")
            ratios = split_ratios(text, s.max_ratios)
            top_k = parse_int(fields, "top_k", 3, 1, s.max_top_k)
            scorer, steer, limit = parse_scorer(fields), _steer(fields), parse_upscale(fields)
            choice = parse_choice(fields)
            return lambda: svc.crop_json(up.data, up.filename, ratios, top_k, scorer, steer, limit, choice)
        return JSONResponse(await state.work(request, job))

    @app.post("/v1/crop/image", tags=["crop"], responses={**_ERRORS, 200: {
        "content": {"image/*": {}}, "description": "the crop, in the upload's format"}},
        openapi_extra=_form_doc({
            "ratio": ("string", "one ratio (default free, or WxH of width/height when both are given)"),
            "ratios": ("string", "the same (the name /v1/crop uses), one ratio: give ratio or ratios"),
            "rank": ("integer", "which crop of that ratio (1 = best)"),
            "box": ("string", "x,y,w,h: cut this box instead of searching (e.g. an adjusted crop)"),
            "width": ("integer", "output width"), "height": ("integer", "output height"),
            "format": ("string", "jpeg, png or webp: the crop's format (default: the upload's)"),
            "quality": ("integer", "1-100, for a JPEG or WebP crop (default: a JPEG upload's own, else 95 "
                                   "for JPEG, 92 for WebP)"),
            "max_upscale": _UPSCALE_FIELD, "scorer": _SCORER_FIELD, **_STEER_FIELDS}))
    async def crop_image(request: Request) -> Response:
        """One cropped image, in the format of the upload."""
        def job(fields: dict[str, str], up: Upload) -> Any:
            ratio = _ratio_field(fields, ("ratio", "ratios"))  # "ratios": /v1/crop's name for it, one here
            params = {"box": fields.get("box", "").strip(), "ratio": ratio.strip(),
                      "rank": parse_int(fields, "rank", 1, 1, s.max_top_k),
                      "width": parse_int(fields, "width", None, 1, s.max_output_side),
                      "height": parse_int(fields, "height", None, 1, s.max_output_side),
                      "max_upscale": parse_upscale(fields), "format": _output_format(fields),
                      "quality": parse_int(fields, "quality", None, 1, 100)}
            if params["box"] and (chosen := [k for k in ("rank", "ratio") if fields.get(k, "").strip()]):
                raise ApiError(422, "invalid_parameter", f"a box is cut as given: leave out "
                               f"{' and '.join(chosen)} (they choose one of the searched crops instead)")
            if params["ratio"]:
                split_ratios(params["ratio"], 1)
            scorer, steer = parse_scorer(fields), _steer(fields)
            return lambda: svc.crop_image(up.data, up.filename, params, scorer, steer)
        reply = await state.work(request, job)
        ascii_name = reply.filename.encode("ascii", "replace").decode().replace("?", "_")
        headers = {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                                          f"filename*=UTF-8''{quote(reply.filename)}",
                   "X-Procrop-Box": ",".join(str(v) for v in reply.box), "Cache-Control": "no-store"}
        if reply.score is not None:
            headers["X-Procrop-Score"] = f"{reply.score:.4f}"
        if reply.warning:
            headers["X-Procrop-Warning"] = reply.warning
        return Response(reply.data, media_type=reply.mime, headers=headers)



def _add_analysis_routes(app: Any, state: _State) -> None:
    from fastapi import Request
    from fastapi.responses import JSONResponse

    s = state.settings
    svc = state.service

    @app.post("/v1/describe", tags=["analysis"], responses=_answers(DescribeAnswer),
              openapi_extra=_form_doc({}))
    async def describe(request: Request) -> JSONResponse:
        """The composition in words, with the analysis (faces, subjects, lines, horizon, colour)."""
        return JSONResponse(await state.work(request, lambda f, up: lambda: svc.describe(up.data, up.filename)))

    @app.post("/v1/score", tags=["analysis"], responses=_answers(ScoreAnswer), openapi_extra=_form_doc({
        "box": ("string", "x,y,w,h in pixels of the (EXIF-oriented) image"),
        "ratio": ("string", "score it as a crop of this ratio (default free; a fixed one must be the box's "
                            "shape, and a small crop of one scores lower, as in /v1/crop)"),
        "scorer": _SCORER_FIELD, **_STEER_FIELDS}))
    async def score(request: Request) -> JSONResponse:
        """Score a given box: score, confidence, term breakdown, reason, references, and the
        ``scorer`` (and learned ``model``) used."""
        def job(fields: dict[str, str], up: Upload) -> Any:
            if not fields.get("box", "").strip():
                raise ApiError(422, "invalid_parameter", "box is required: x,y,w,h")
            scorer, steer = parse_scorer(fields), _steer(fields)
            ratio = fields.get("ratio", "").strip() or "free"
            return lambda: svc.score(up.data, up.filename, fields["box"], scorer, steer, ratio)
        return JSONResponse(await state.work(request, job))

    @app.post("/v1/references", tags=["references"], responses=_answers(ReferenceSet),
              openapi_extra=_form_doc({
        "set": ("string", "add to this reference set (from an earlier answer); absent: a new set")}))
    async def add_reference(request: Request) -> JSONResponse:
        """Add a reference photo to a set held in this server's memory only ("crop like these"):
        its composition steers the learned scorer for requests naming the set (``references``).
        The answer gives the set's id, its photos and their measured composition."""
        require_one_worker(s.workers)  # before the upload is read: another worker would not know the set

        def job(fields: dict[str, str], up: Upload) -> Any:
            if "set" in fields and not fields["set"].strip():  # set= (an empty variable): not a new set
                raise ApiError(422, "invalid_parameter", "set is empty: give a set's id, or leave set out "
                                                         "for a new set")
            return lambda: svc.add_reference(up.data, up.filename, fields.get("set", "").strip() or None)
        return JSONResponse(await state.work(request, job))

    @app.delete("/v1/references/{set_id}", tags=["references"], response_model=Deleted,
                responses={code: _ERRORS[code] for code in (405, 409)})
    async def delete_references(set_id: str) -> dict[str, Any]:
        """Forget a reference set (the page does so when it is closed; idle sets expire)."""
        require_one_worker(s.workers)
        return {"set": set_id, "deleted": svc.refsets.delete(set_id)}

    @app.get("/health", tags=["service"], response_model=Health)
    async def health() -> dict[str, Any]:
        """Liveness, version, scorers (with the default model), limits and current load."""
        scorers = {"default": DEFAULT_SCORER, "choices": sorted(set(SCORERS.values())),
                   "model": svc.cropper(DEFAULT_SCORER).model_name}
        return {"status": "ok", "version": __version__, "scorers": scorers, "limits": s.public(),
                "load": state.limiter.stats()}


def _add_page_routes(app: Any) -> None:
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    index = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    page_headers = {"Content-Security-Policy": _PAGE_CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(index, headers=page_headers)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
