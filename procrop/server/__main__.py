"""``python -m procrop.server``: serve the web app and API (loopback by default)."""

from __future__ import annotations

import argparse

from .runner import serve
from .settings import ServerSettings


def main(argv: list[str] | None = None) -> None:
    """Parse options and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m procrop.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    defaults = ServerSettings()
    for name in ("max_upload_bytes", "max_pixels", "max_concurrency", "max_queue", "analysis_cache"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(defaults, name))
    parser.add_argument("--timeout-s", type=float, default=defaults.timeout_s)
    parser.add_argument("--reference-db", default=defaults.reference_db)
    parser.add_argument("--style-strength", type=float, default=defaults.style_strength)
    args = vars(parser.parse_args(argv))
    host, port, workers, log_level = (args.pop(k) for k in ("host", "port", "workers", "log_level"))
    serve(host, port, workers, log_level=log_level, **args)


if __name__ == "__main__":
    main()
