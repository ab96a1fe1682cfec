"""``python -m procrop.server``: serve the web app and API (loopback by default)."""

from __future__ import annotations

import argparse

from ..helptext import plain
from .runner import serve
from .settings import ServerSettings


def main(argv: list[str] | None = None) -> None:
    """Parse options and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m procrop.server", description=plain(__doc__))
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--workers", type=int, default=1, help="server processes (each loads its own models)")
    parser.add_argument("--log-level", default="info", help="uvicorn log level: debug, info, warning, error")
    defaults = ServerSettings()
    limits = {"max_upload_bytes": "largest image upload in bytes (larger: 413)",
              "max_pixels": "largest image in pixels, width x height (larger: 422)",
              "max_concurrency": "requests whose work runs at the same time",
              "max_queue": "requests that may wait for a slot (beyond: 503)",
              "analysis_cache": "images whose analysis is kept for /v1/score"}
    for name, text in limits.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(defaults, name), help=text)
    parser.add_argument("--timeout-s", type=float, default=defaults.timeout_s,
                        help="per-request deadline in seconds, waiting included (past it: 504)")
    parser.add_argument("--reference-db", default=defaults.reference_db,
                        help="'default' (the bundled database), 'none' or a reference database folder")
    parser.add_argument("--style-strength", type=float, default=defaults.style_strength,
                        help="how strongly a --reference-db folder's composition steers the crops "
                             "(default 3)")
    args = vars(parser.parse_args(argv))
    host, port, workers, log_level = (args.pop(k) for k in ("host", "port", "workers", "log_level"))
    serve(host, port, workers, log_level=log_level, **args)


if __name__ == "__main__":
    main()
