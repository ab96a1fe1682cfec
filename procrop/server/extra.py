"""Whether the server extra (``procrop[server]``) is installed, asked before any module that needs it
is imported: a missing package is one clear line naming every package missing, never an import
traceback."""

from __future__ import annotations

import importlib.util
import sys

from procrop.errors import MissingExtraError

#: The modules of ``procrop[server]`` (module name, package name); the runner needs uvicorn too.
SERVER_MODULES = (("fastapi", "fastapi"), ("fastapi_offline", "fastapi-offline"), ("pydantic", "pydantic"),
                  ("python_multipart", "python-multipart"))
RUNNER_MODULES = (("uvicorn", "uvicorn"),)


def missing_packages(runner: bool = False) -> list[str]:
    """The packages of ``procrop[server]`` (with ``runner``, uvicorn too) that are not installed."""
    missing = []
    for name, package in SERVER_MODULES + (RUNNER_MODULES if runner else ()):
        try:  # installed, not imported: a package that is there but fails to import fails at its import
            found = importlib.util.find_spec(name) is not None  # (None for an entry of None in sys.modules)
        except ValueError:  # a module already imported without a spec (a stub): present
            found = sys.modules.get(name) is not None
        if not found:
            missing.append(package)
    return missing


def require_server_extra(runner: bool = False) -> None:
    """Raise :class:`MissingExtraError` naming every package of ``procrop[server]`` that is missing
    (with ``runner``, uvicorn too: a trial's error named uvicorn alone where fastapi was missing too)."""
    missing = missing_packages(runner)
    if missing:
        raise MissingExtraError("the procrop web server", "server", missing)
