"""``procrop serve``: the web app and HTTP API (extra ``procrop[server]``)."""

from __future__ import annotations

from typing import Optional

import typer

from .common import style_strength_number, usage_error, usage_errors


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, "--port", "-p", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Worker processes, one Cropper each; "
                                "reference sets (the page's 'crop like these') need 1."),
    concurrency: Optional[int] = typer.Option(
        None, "--concurrency", min=1,
        help="Requests a worker crops at once (default: the cores, at most 4); the rest wait in the queue."),
    max_upload_mb: float = typer.Option(25.0, "--max-upload-mb", min=0.1, help="Largest upload accepted (MiB)."),
    max_megapixels: float = typer.Option(50.0, "--max-megapixels", min=0.1, help="Largest image accepted."),
    timeout: float = typer.Option(30.0, "--timeout", min=1.0, help="Seconds one request may take."),
    queue: int = typer.Option(16, "--queue", min=0, help="Requests that may wait; beyond, 503 + Retry-After."),
    db: Optional[str] = typer.Option(
        None, "--db", help="Reference database ('procrop index build PHOTOS --out DB'): every crop follows its photos."),
    style_strength: Optional[str] = typer.Option(
        None, "--style-strength", metavar="NUMBER",
        help="How strongly the --db photos' composition steers the crops, beside the default or learned "
        "score's 1; 0 = off, at most 10. Default 3 with --db."),
) -> None:
    """Serve the web page at / and the HTTP API; needs the server extra: pip install 'procrop\\[server]'.

    The API: /v1/crop, /v1/crop/image, /v1/describe, /v1/score, /v1/references and /health (at /docs).
    A request asks for at most 10 crops per ratio (top_k 1-10; procrop crop allows 50)."""
    from ..server import serve

    if style_strength is not None and not db:
        raise usage_error("--style-strength steers the crops with a --db of your photos: add --db DB")
    strength = style_strength_number(style_strength)
    with usage_errors():
        from ..server.runner import check_free

        check_free(host, port, workers)  # before the database and the models load
        if db:  # a missing or unusable database: one line now, not an error per request
            from ..scoring.terms.learned import LearnedTerm
            from ..scoring.terms.style import style_term_for

            style_term_for(LearnedTerm(reference_db=db), strength, True)
        serve(
            host, port, workers, max_upload_bytes=int(max_upload_mb * 1024 * 1024),
            max_pixels=int(max_megapixels * 1e6), timeout_s=timeout, max_queue=queue,
            reference_db=db or "default", style_strength=strength,
            **({"max_concurrency": concurrency} if concurrency else {}),
        )
