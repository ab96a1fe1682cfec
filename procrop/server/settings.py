"""Server settings: upload and pixel limits, timeouts, concurrency and cache sizes.

This module owns :class:`ServerSettings`, a plain dataclass with no web-framework dependency, so
it can be built, validated and passed to worker processes (as JSON in an environment variable)
without FastAPI being installed.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

from procrop import UsageError

#: Environment variable carrying the settings (JSON) to uvicorn worker processes.
SETTINGS_ENV = "PROCROP_SERVER_SETTINGS"


def _default_concurrency() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class ServerSettings:
    """Limits and tuning of one server process.

    Attributes:
        max_upload_bytes: largest accepted image upload; larger bodies get 413.
        max_pixels: largest accepted image (width x height of the original); larger get 422.
        timeout_s: per-request deadline (waiting for a slot plus the work); past it, 504.
        max_concurrency: requests whose CPU work runs at the same time (threadpool size).
        max_queue: requests allowed to wait for a slot; beyond, 503 with ``Retry-After``.
        retry_after_s: the ``Retry-After`` value sent with 503.
        max_top_k: largest ``top_k`` a client may ask for.
        max_ratios: most ratios in one request.
        max_output_side: largest ``width``/``height`` of a returned crop image.
        analysis_cache: images whose analysis is kept for ``/v1/score`` (drag-to-adjust).
        reference_db: ``"default"`` (the bundled database), ``"none"`` or a database folder (the
            learned scorer then crops like its photos).
        style_strength: how strongly a ``reference_db`` folder's composition steers the learned
            scorer (``None``: the default, 3).
        workers: the worker processes serving (:func:`~procrop.server.runner.serve` sets it);
            reference sets live in one process's memory, so ``/v1/references`` needs 1.
    """

    max_upload_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 50_000_000
    timeout_s: float = 30.0
    max_concurrency: int = _default_concurrency()
    max_queue: int = 16
    retry_after_s: int = 1
    max_top_k: int = 10
    max_ratios: int = 8
    max_output_side: int = 8192
    analysis_cache: int = 16
    reference_db: str = "default"
    style_strength: float | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        positive = ("max_upload_bytes", "max_pixels", "max_concurrency", "max_top_k", "max_ratios",
                    "max_output_side", "retry_after_s", "workers")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise UsageError(f"server setting {name} must be at least 1, got {getattr(self, name)}")
        if self.max_queue < 0 or self.analysis_cache < 0:
            raise UsageError("server settings max_queue and analysis_cache must be >= 0")
        if not self.timeout_s > 0:
            raise UsageError(f"server setting timeout_s must be positive, got {self.timeout_s}")

    @classmethod
    def from_limits(cls, **limits: Any) -> ServerSettings:
        """Settings from keyword arguments, rejecting unknown names with a clear message."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(limits) - known)
        if unknown:
            raise UsageError(f"unknown server setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**limits)

    def to_json(self) -> str:
        """The settings as JSON (for worker processes)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServerSettings:
        """Settings written by :meth:`to_json`."""
        return cls.from_limits(**json.loads(text))

    @classmethod
    def from_env(cls) -> ServerSettings:
        """Settings from :data:`SETTINGS_ENV`, defaults when it is unset."""
        text = os.environ.get(SETTINGS_ENV)
        return cls.from_json(text) if text else cls()

    def public(self) -> dict[str, Any]:
        """Limits a client may see (``/health``): no paths."""
        d = asdict(self)
        d.pop("reference_db")
        return d
