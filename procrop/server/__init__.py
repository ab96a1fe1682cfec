"""procrop's web app and HTTP API (extra ``procrop[server]``: fastapi, uvicorn, python-multipart).

    >>> from procrop.server import serve
    >>> serve(port=8000, workers=2, max_upload_bytes=20_000_000)     # doctest: +SKIP

    >>> from procrop.server import create_app, ServerSettings
    >>> app = create_app(ServerSettings(timeout_s=10))                # doctest: +SKIP

Endpoints: ``POST /v1/crop`` (the CLI's JSON), ``POST /v1/crop/image`` (one cropped image),
``POST /v1/describe``, ``POST /v1/score`` (a given box), ``GET /health``, the page at ``/`` and
OpenAPI at ``/docs``. Importing this package needs no web framework; :func:`create_app` and
:func:`serve` raise :class:`procrop.MissingExtraError` naming ``procrop[server]`` without it.

Modules: ``settings`` (limits), ``uploads`` (bounded bodies, multipart, sniffing, fields),
``limits`` (threadpool, queue, deadline), ``errors`` (JSON errors), ``imaging`` (crop encoding),
``boxscore`` (scoring a given box, with an analysis cache), ``service`` (the work), ``app`` (routes),
``runner`` (uvicorn), ``extra`` (whether the extra is installed), ``static/`` (the page).
"""

from __future__ import annotations

from typing import Any

from .settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "serve"]


def create_app(settings: ServerSettings | None = None, cropper: Any = None) -> Any:
    """Build the FastAPI app; see :func:`procrop.server.app.create_app`."""
    from .extra import require_server_extra

    require_server_extra()  # before importing modules that need the extra
    from .app import create_app as _create_app

    return _create_app(settings, cropper)


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, **limits: Any) -> None:
    """Serve with uvicorn; see :func:`procrop.server.runner.serve` (which checks the extra)."""
    from .runner import serve as _serve

    _serve(host, port, workers, **limits)
