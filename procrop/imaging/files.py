"""Turning command-line inputs (files, folders, globs) into the list of image files to process."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from .load import IMAGE_EXTENSIONS


def iter_image_files(inputs: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Expand files, folders (recursively, image extensions only) and globs, keeping order.

    Returns:
        ``(files, problems)`` where ``problems`` lists ``(input, reason)`` for inputs that matched
        nothing. Duplicates are dropped.
    """
    files: list[str] = []
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(p: str) -> None:
        key = os.path.abspath(p)
        if key not in seen:
            seen.add(key)
            files.append(p)

    for item in inputs:
        if os.path.isdir(item):
            # a link to nothing (broken.jpg -> a moved photo) is an input that fails, not one left out
            found = sorted(
                str(p)
                for p in Path(item).rglob("*")
                if p.suffix.lower() in IMAGE_EXTENSIONS
                and (p.is_file() or (p.is_symlink() and not p.exists()))
            )
            if not found:
                problems.append((item, "folder contains no image files"))
            for f in found:
                add(f)
        elif os.path.exists(item):
            add(item)
        elif glob.has_magic(item):
            matches = sorted(m for m in glob.glob(item, recursive=True) if os.path.isfile(m))
            if not matches:
                problems.append((item, "pattern matched no files"))
            for m in matches:
                add(m)
        else:
            # keep it: loading reports "no such file" as a per-image failure
            add(item)
    return files, problems
