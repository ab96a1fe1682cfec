"""HTTP errors of the server, always answered as JSON ``{"error": ..., "detail": ...}``.

This module owns :class:`ApiError` (raised anywhere in the server code, framework-free) and
:func:`install_error_handlers`, which maps it, FastAPI's validation errors, Starlette's HTTP
errors and any unexpected exception to that JSON shape. Details never carry a server path:
unexpected exceptions are logged and answered with a generic message.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from procrop import ImageLoadError, ProcropError, UsageError

log = logging.getLogger("procrop.server")

_PATHISH = re.compile(r"(?:[A-Za-z]:\\|/)(?:[\w.\-]+[/\\])+[\w.\-]*")


class ApiError(Exception):
    """An error answered to the client.

    Args:
        status: HTTP status code.
        error: short machine-readable code (``"not_an_image"``, ``"too_large"``...).
        detail: human-readable explanation, safe to show to a user.
        headers: extra response headers (``Retry-After``...).
    """

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = scrub(detail)
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "detail": self.detail}


def scrub(text: str) -> str:
    """Remove anything that looks like a file-system path from a message."""
    return _PATHISH.sub("<path>", text)


def from_procrop(exc: ProcropError) -> ApiError:
    """Map a procrop exception to the API error a client should see."""
    if isinstance(exc, ImageLoadError):
        problem = exc.problem
        if "exceeds the limit" in problem or "decompression bomb" in problem:
            return ApiError(422, "too_many_pixels", problem)
        if "truncated" in problem:
            return ApiError(422, "truncated_image", problem)
        if "empty" in problem:
            return ApiError(422, "empty_file", problem)
        return ApiError(422, "not_an_image", problem)
    if isinstance(exc, UsageError):
        return ApiError(422, "invalid_parameter", str(exc))
    return ApiError(422, "cannot_process", str(exc))


def install_error_handlers(app: Any) -> None:
    """Register JSON error handlers on a FastAPI app."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    async def api_error(_request: Any, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    async def procrop_error(_request: Any, exc: ProcropError) -> JSONResponse:
        err = from_procrop(exc)
        return JSONResponse(err.body(), status_code=err.status)

    async def validation_error(_request: Any, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg", "invalid")))
        return JSONResponse({"error": "invalid_parameter", "detail": scrub("; ".join(parts))}, status_code=422)

    async def http_error(_request: Any, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return JSONResponse(
            {"error": codes.get(exc.status_code, "http_error"), "detail": scrub(detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def unexpected(_request: Any, exc: Exception) -> JSONResponse:
        log.exception("unexpected server error")
        return JSONResponse({"error": "internal_error", "detail": "the server could not process this request"},
                            status_code=500)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(ProcropError, procrop_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
