"""Running the server with uvicorn: one process, or several worker processes.

This module owns :func:`serve`. With ``workers > 1`` uvicorn's multi-process mode starts the
workers, each of which builds its app through the factory
:func:`procrop.server.app.app_from_env` (settings travel as JSON in an environment variable), so
every worker holds one :class:`procrop.Cropper` per scorer, with its models loaded once.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

from procrop import UsageError

from .extra import require_server_extra
from .settings import SETTINGS_ENV, ServerSettings


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1, *,
          log_level: str = "info", **limits: Any) -> None:
    """Serve the web app and API until interrupted.

    Args:
        host: address to bind; loopback by default (put a reverse proxy in front to publish it).
        port: TCP port.
        workers: uvicorn worker processes (one :class:`procrop.Cropper` per scorer each).
        log_level: uvicorn's log level.
        **limits: :class:`~procrop.server.settings.ServerSettings` fields
            (``max_upload_bytes``, ``max_pixels``, ``timeout_s``, ``max_concurrency``, ``max_queue``...).

    Raises:
        MissingExtraError: a package of ``procrop[server]`` is missing (:mod:`.extra`: each one named).
        UsageError: an unknown limit or an invalid value, or a port it cannot listen on
            (:func:`check_free`).
    """
    if workers < 1:
        raise UsageError(f"workers must be at least 1, got {workers}")
    settings = ServerSettings.from_limits(**{**limits, "workers": workers})
    require_server_extra(runner=True)  # every missing package named at once, before any import of them
    import uvicorn

    from .app import create_app

    check_free(host, port, workers)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
        return
    os.environ[SETTINGS_ENV] = settings.to_json()  # inherited by the worker processes
    uvicorn.run("procrop.server.app:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level=log_level)


def check_free(host: str, port: int, workers: int = 1) -> None:
    """Raise :class:`UsageError` when the server could not listen on ``host:port`` (another program
    holds the port, a port below 1024 without the right, an address not of this machine), before
    the models load: uvicorn would say so only after starting the app, in its own words. It binds
    as uvicorn will: one worker, every address the host resolves to (IPv6 ones IPv6 only, as
    asyncio does; ``""`` is every interface); several workers, the host as given, IPv6 (dual-stack)
    when it has a colon."""
    if not 0 <= port <= 65535:
        raise UsageError(f"port {port}: a port is a number from 0 to 65535")
    if workers > 1:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        addresses = [(family, (host, port))]
    else:
        try:
            infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise UsageError(f"--host {host}: not an address this machine can listen on "
                             f"({exc.strerror})") from None
        addresses = list(dict.fromkeys((family, address) for family, _, _, _, address in infos))
    for family, address in addresses:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            if os.name == "posix":  # as uvicorn binds (elsewhere the option lets two share a port)
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and workers == 1 and hasattr(socket, "IPPROTO_IPV6"):
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                why = {errno.EADDRINUSE: "is in use (another server?): pick another with --port",
                       errno.EACCES: "needs more rights (ports below 1024): pick another with --port",
                       errno.EADDRNOTAVAIL: "is on an address that is not this machine's: check --host"}
                problem = why.get(exc.errno, f"cannot be used ({exc.strerror})")
                raise UsageError(f"port {port} on {host or 'every interface'} {problem}") from None
