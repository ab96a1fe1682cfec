"""Licences of a reference database's photos: the rows of a licence CSV (:func:`read_licences`,
:func:`licence_for`) and the database's ``ATTRIBUTION.md`` (:func:`write_attribution`)."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from ..files import atomic_write_text
from .store import ReferenceDB, file_sha256


def read_licences(csv_path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """Per-file licence rows from a CSV with a ``file`` column (paths relative to the CSV's folder),
    e.g. the photo pool's ``MANIFEST.csv`` (``licence``, ``attribution``, ``source_repo``...).

    Each row is keyed by the file's absolute path and, when the file is there, by ``sha256:<hex>``
    of its content, so a copy of a listed photo elsewhere finds its row (:func:`licence_for`).

    Raises:
        OSError: the file cannot be read, or is no CSV with a ``file`` column (a photo, a text).
    """
    base = Path(csv_path).resolve().parent
    rows: dict[str, dict[str, str]] = {}
    if not Path(csv_path).is_file():
        raise OSError("no such file" if not Path(csv_path).exists() else "not a file")
    with open(csv_path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh)
        if "file" not in (reader.fieldnames or ()):
            raise OSError("not a licence CSV (its first line names no 'file' column)")
        for row in reader:
            f = row.get("file")
            if f:
                path = (base / f).resolve()
                rows[str(path)] = {k: v for k, v in row.items() if k != "file" and v}
                if path.is_file():
                    rows[f"sha256:{file_sha256(path)}"] = rows[str(path)]
    return rows


def find_manifest(folder: str | os.PathLike) -> Path | None:
    """The licence list that covers a photo folder when none is given: a ``MANIFEST.csv`` in it or
    in up to three folders above (the photo pool keeps one at its root); None when there is none."""
    here = Path(folder).resolve()
    listed = [d / "MANIFEST.csv" for d in [here, *here.parents][:4]]
    return next((p for p in listed if p.is_file()), None)


def licence_for(licences: dict[str, dict[str, str]] | None, path: str | os.PathLike,
                sha256: str | None = None) -> dict[str, str]:
    """The licence row of ``path`` from :func:`read_licences`: by its absolute path, else by its
    content (``sha256``, computed when not given); ``{}`` when unlisted."""
    if not licences:
        return {}
    row = licences.get(str(Path(path).resolve()))
    if row is None:
        try:
            row = licences.get(f"sha256:{sha256 or file_sha256(path)}")
        except OSError:
            row = None
    return dict(row or {})


def write_attribution(root: str | os.PathLike) -> Path | None:
    """Write ``ATTRIBUTION.md`` listing every item's source, licence and attribution (when the
    items carry licence information); returns its path."""
    db = ReferenceDB.open(root)
    if not any(it.get("licence") for it in db.items):
        return None
    lines = [
        "# Attribution",
        "",
        f"This reference database holds derived data only (composition vectors and tokens, "
        f"{db.encoder_info['name']} encoder {db.encoder_info['version']}) of {len(db)} photographs; "
        "no photo is included. Sources and licences:",
        "",
        "| # | source | licence | attribution | upstream |",
        "|---:|---|---|---|---|",
    ]

    def cell(v: Any) -> str:
        return str(v or "").replace("|", "\\|").replace("\n", " ")

    for it in db.items:
        upstream = " @ ".join(x for x in (it.get("source_repo", ""), it.get("commit", "")[:10]) if x)
        if it.get("source_path"):
            upstream += f" : {it['source_path']}"
        lines.append(
            f"| {it.get('id')} | {cell(it.get('source'))} | {cell(it.get('licence'))} | "
            f"{cell(it.get('attribution'))} | {cell(upstream)} |"
        )
    path = Path(root) / "ATTRIBUTION.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
