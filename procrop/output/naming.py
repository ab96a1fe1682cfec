"""The names of procrop's output files, and recognising them: a run never takes its own outputs
(crops, previews) as inputs, and a re-run with other options takes back the files it replaces.

For an output folder ``OUT`` and an input ``photos/beach.jpg`` the outputs are ``OUT/beach.json``,
``OUT/beach_<ratio>_<rank>.<ext>`` and ``OUT/beach_preview.png``; the JSON lists the others (each
crop's ``file``, and ``preview``).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: ``<stem>_<ratio slug>_<rank>`` or ``<stem>_preview``: the shape of an output's name (its stem).
_OUTPUT_NAME = re.compile(r"^(?P<stem>.+?)_(?:[A-Za-z0-9.]+_[0-9]+|preview)$")


@dataclass(frozen=True)
class CropJob:
    """One input image and the stem its outputs are named after."""

    path: str
    stem: str


def ratio_slug(label: str) -> str:
    """A file-name-safe form of a ratio label: ``1:1`` -> ``1x1``."""
    return re.sub(r"[^A-Za-z0-9.]+", "x", label)


def plan_jobs(files: list[str], out_dir: str | None = None) -> list[CropJob]:
    """Assign each input a unique output stem (``beach``, then ``beach-2``...), in input order.

    With ``out_dir``, a stem whose result there names another source is not taken, and an input
    whose result is there keeps its stem: re-running ``b/x.jpg`` alone into a folder holding
    ``a/x.jpg``'s ``x.json`` and its own ``x-2.json`` writes ``x-2.*`` again (it replaced ``x.*``).
    """
    bases = [Path(f).stem or "image" for f in files]
    owner: dict[str, str] = {}  # stem -> the source its stored result names
    if out_dir is not None:
        for base, count in Counter(bases).items():
            free = 0  # probe until this base has a free stem for each of its inputs
            for stem in _stems(base):
                stored = read_result(Path(out_dir) / f"{stem}.json")
                if stored is not None:
                    owner[stem] = str(stored.get("source"))
                elif (free := free + 1) >= count:
                    break
    stored_for: dict[str, list[str]] = {}
    for stem, src in owner.items():
        stored_for.setdefault(src, []).append(stem)
    taken: set[str] = set()
    jobs = []
    for f, base in zip(files, bases):
        source = os.path.abspath(f)
        mine = [s for s in stored_for.get(source, []) if s not in taken and _of(s, base)]
        stem = mine[0] if mine else next(s for s in _stems(base) if s not in taken and s not in owner)
        taken.add(stem)
        jobs.append(CropJob(f, stem))
    return jobs


def _stems(base: str) -> Iterator[str]:
    """``base``, ``base-2``, ``base-3``... (unbounded)."""
    yield base
    for n in itertools.count(2):
        yield f"{base}-{n}"


def _of(stem: str, base: str) -> bool:
    """Whether ``stem`` is one of :func:`_stems` of ``base``."""
    return stem == base or (stem.startswith(base + "-") and stem[len(base) + 1:].isdigit())


def result_path(out_dir: str, job: CropJob) -> Path:
    """Where a job's result JSON goes (its presence marks the image as done)."""
    return Path(out_dir) / f"{job.stem}.json"


def listed_outputs(result: dict[str, Any]) -> list[str]:
    """The files a stored result names: each crop's ``file`` and the ``preview``."""
    files = [c.get("file") for c in result.get("crops", []) if isinstance(c, dict)]
    files.append(result.get("preview"))
    return [f for f in files if isinstance(f, str) and f]


def read_result(path: str | os.PathLike) -> dict[str, Any] | None:
    """The procrop result stored at ``path``, or None (missing, unreadable, not a result)."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "crops" in data and "source" in data else None


def is_own_output(path: str, out_dir: str | None = None) -> bool:
    """Whether ``path`` is a file procrop wrote: anything under ``out_dir``, or an image that the
    procrop result beside it (``<stem>.json``) names as one of its crops or its preview."""
    if out_dir is not None:
        real, root = os.path.realpath(path), os.path.realpath(out_dir)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return True
    p = Path(path)
    m = _OUTPUT_NAME.match(p.stem)
    if m is None:
        return False
    result = read_result(p.parent / f"{m.group('stem')}.json")
    # results name their files as written (relative to the folder procrop ran in): compare names
    return result is not None and p.name in {Path(f).name for f in listed_outputs(result)}


def drop_own_outputs(files: list[str], out_dir: str | None,
                     inputs: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Split ``files`` into ``(inputs, own outputs)`` (see :func:`is_own_output`), keeping order.

    ``inputs`` are the folders and files asked for: when one of them is the output folder itself
    or lies inside it (``procrop crop . -o .``), the folder cannot be left out whole, and only
    the files a result there names are.
    """
    whole = out_dir
    if out_dir is not None:
        root = os.path.realpath(out_dir)
        for item in inputs or []:
            real = os.path.realpath(item)
            if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
                whole = None
    kept: list[str] = []
    dropped: list[str] = []
    for f in files:
        (dropped if is_own_output(f, whole) else kept).append(f)
    return kept, dropped


def replaced_outputs(previous: dict[str, Any], current: dict[str, Any], out_dir: str, stem: str) -> list[Path]:
    """The files an earlier run wrote for this image (``previous``, its stored result) that the
    new result (``current``) no longer names: crops of other ratios or ranks, an old preview.

    Only files inside ``out_dir`` named after ``stem`` (``<stem>_...``) are ever returned, whatever
    the old result says, so nothing but procrop's own outputs can be removed; a file the old result
    names in another folder is looked for by its name in ``out_dir`` (an output folder copied or
    moved: its results still name the first one).
    """
    root = os.path.realpath(out_dir)
    keep = {os.path.realpath(f) for f in listed_outputs(current)}
    out = []
    for f in listed_outputs(previous):
        real = os.path.realpath(f)
        if os.path.dirname(real) != root:
            real = os.path.join(root, os.path.basename(real))
        m = _OUTPUT_NAME.match(Path(real).stem)
        if real in keep or m is None or m.group("stem") != stem:
            continue
        out.append(Path(real))
    return out
