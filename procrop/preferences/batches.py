"""Batches of sheets handed to judges, and the brief each judge is given.

A batch is a folder holding only its sheet images (hard links to the made sheets, so a judge
never sees a key) and a name that is also its judge's id (``h2-b03``: held-out, second pass,
batch 3). ``batches.json`` beside the answers records which sheets each batch holds. Validation
sheets are judged in several passes, each with its own shuffle, so the three judges of a sheet
see it among different neighbours.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

from ..errors import UsageError


def plan_batches(sheet_ids: list[str], prefix: str, size: int, passes: int, seed: int = 0,
                 existing: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Batch id -> sheet ids: the sheets not yet in an ``existing`` batch of this ``prefix``,
    shuffled and cut into batches of ``size``; each of the ``passes`` judges a batch's sheets in
    its own order (``<prefix><pass>-b<nn>``). Batch ``b03`` of every pass holds the same sheets,
    so finishing a batch in all passes gives those sheets all their judges even when the
    collection stops early. Existing batches are returned unchanged and new ones are numbered
    after them, so a judge's id always means the same sheets."""
    if size < 1 or passes < 1:
        raise UsageError("batch size and passes must be at least 1")
    mine = {k: v for k, v in (existing or {}).items() if re.fullmatch(rf"{re.escape(prefix)}\d+-b\d+", k)}
    planned = {s for v in mine.values() for s in v}
    first = 1 + max((int(k.rsplit("-b", 1)[1]) for k in mine), default=0)
    ids = sorted(set(sheet_ids) - planned)
    random.Random(f"{seed}:{prefix}:{first}").shuffle(ids)
    plan: dict[str, list[str]] = dict(mine)
    for p in range(1, passes + 1):
        for n, b in enumerate(range(0, len(ids), size), start=first):
            part = ids[b: b + size]
            random.Random(f"{seed}:{prefix}:{p}:{b}:{first}").shuffle(part)
            plan[f"{prefix}{p}-b{n:02d}"] = part
    return plan


def write_batch(batch: str, sheet_ids: list[str], sheets_dir: str | Path, batches_dir: str | Path) -> Path:
    """The batch's folder with its sheets (hard links where possible, else copies)."""
    out = Path(batches_dir) / batch
    out.mkdir(parents=True, exist_ok=True)
    for sid in sheet_ids:
        src, dst = Path(sheets_dir) / f"{sid}.png", out / f"{sid}.png"
        if not src.exists():
            raise UsageError(f"{src}: no such sheet (run procrop prefs sheets first)")
        if not dst.exists():
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
    return out


def brief_text(judging_md: str | Path) -> tuple[str, str]:
    """The brief's version and verbatim text, read from ``docs/judging.md`` (the quoted block
    under "The brief")."""
    try:
        text = Path(judging_md).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{judging_md}: cannot read the judging protocol ({exc.strerror}); "
                         "pass --judging PATH/TO/docs/judging.md") from None
    version = re.search(r"Brief version: \*\*([\w.-]+)\*\*", text)
    start = text.find("## The brief")
    if not version or start < 0:
        raise UsageError(f"{judging_md}: no brief version or no '## The brief' section")
    block = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("## "):
            break
        if line.startswith(">"):
            block.append(line[1:].removeprefix(" "))
    return version.group(1), "\n".join(block).strip()


def judge_prompt(brief: str, sheet_files: list[Path], answers_file: Path) -> str:
    """Everything one judge is told: the brief, the sheets to open one by one, where to write."""
    files = "\n".join(str(f) for f in sheet_files)
    return (
        f"{brief}\n\n"
        f"Your sheets ({len(sheet_files)}): open each file below with your file viewer, one at a time, "
        f"look at it, and write your answer for it before opening the next.\n{files}\n\n"
        f"Write your answers to {answers_file}, one JSON line per sheet, appending as you go (for example "
        f"with a shell `echo '{{...}}' >> {answers_file}`), so nothing is lost if you stop. Do not open "
        "any other file, do not look for other information about the sheets, and do not write anything "
        "else to that file. When all sheets are answered, reply with the number of lines written."
    )


def load_plan(path: str | Path) -> dict[str, list[str]]:
    """The batches recorded in ``batches.json`` (none when it does not exist)."""
    p = Path(path)
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


def save_plan(plan: dict[str, list[str]], path: str | Path) -> None:
    """Add batches to ``batches.json`` (an existing batch keeps its sheets)."""
    p = Path(path)
    old: dict[str, Any] = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
    for k, v in plan.items():
        old.setdefault(k, v)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n", encoding="utf-8")
