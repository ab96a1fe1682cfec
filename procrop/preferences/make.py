"""Make judging sheets for a split of photos: candidates, sheet images and keys, resumably.

:func:`make_sheets` runs, for every photo, the learned default and the classic scorer (top two of
each ratio), smartcrop.py and libvips attention (at the largest size of each fixed ratio), builds
the candidate pool (:mod:`.pool`), picks four, renders the sheet (:mod:`.sheet`) to
``sheets_dir/<sheet>.png`` and appends its key to ``keys_dir/<split>.jsonl``. A photo whose sheets
all have keys is skipped, so an interrupted run continues where it stopped.

Ratios per photo (seeded by the photo's name): a ratio is eligible when its largest box covers
less than 85 % of the photo (a real decision); validation sheets take two eligible fixed ratios,
training sheets ``free`` and two eligible fixed ratios.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..geometry import largest_size, parse_ratio
from .pool import Box, candidate_pool, pick_sheet
from .records import append_jsonl, read_jsonl

#: Fixed ratios a sheet may ask for, with how often each is drawn (social and phone formats first).
RATIO_WEIGHTS = {"1:1": 3, "4:5": 3, "9:16": 2, "16:9": 2, "3:2": 1, "2:3": 1}
ELIGIBLE_AREA = 0.85


@dataclass(frozen=True)
class SheetJob:
    """One photo to make sheets of: its path, its name relative to the photo folder, its index in
    the split (the sheet ids' stem) and whether its sheets are validation sheets."""

    path: str
    name: str
    index: int
    split: str
    round: int = 1

    @property
    def validation(self) -> bool:
        return self.split != "train"


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def sheet_ratios(name: str, W: int, H: int, validation: bool) -> list[str]:
    """The ratios judged for one photo (seeded by its name)."""
    rng = random.Random(_seed("ratios:" + name))
    eligible = {
        r: wgt for r, wgt in RATIO_WEIGHTS.items()
        if math.prod(largest_size(W, H, parse_ratio(r).value or 1.0)) < ELIGIBLE_AREA * W * H
    }
    chosen: list[str] = []
    while eligible and len(chosen) < 2:
        r = rng.choices(list(eligible), weights=list(eligible.values()))[0]
        chosen.append(r)
        del eligible[r]
    return chosen if validation else ["free"] + chosen


def sheet_id(job: SheetJob, slot: int) -> str:
    """``t0042b``: split initial, photo index, ratio slot; later rounds ``h2-0042b``."""
    stem = job.split[0] if job.round == 1 else f"{job.split[0]}{job.round}-"
    return f"{stem}{job.index:04d}{'abc'[slot]}"


def _subject_boxes(analysis: Any) -> list[Box]:
    found = [d.box for d in list(analysis.faces) + analysis.subjects_to_keep]
    if not found and analysis.compact_subjects:
        found = [analysis.compact_subjects[0].box]
    return [tuple(int(round(v)) for v in b) for b in found]  # type: ignore[misc]


class SheetMaker:
    """Runs the methods on a photo and writes its sheets; one per worker process."""

    def __init__(self, sheets_dir: str | Path, learned_model: str | None = None) -> None:
        from ..cropper import Cropper

        self.sheets_dir = Path(sheets_dir)
        self.learned = Cropper(learned_model=learned_model) if learned_model else Cropper()
        self.classic = Cropper(scorer="classic")

    def method_boxes(self, job: SheetJob, ratios: list[str], W: int, H: int) -> tuple[dict[str, dict[str, list[Box]]], list[Box]]:
        from ..evaluation.peers import smartcrop_py, vips_attention

        per_ratio: dict[str, dict[str, list[Box]]] = {r: {} for r in ratios}
        analysis = None
        loaded = self.learned.load(job.path)  # decoded once for both scorers (same loading options)
        for name, cropper in (("learned", self.learned), ("classic", self.classic)):
            result = cropper.process(loaded, ratios, top_k=2)
            analysis = analysis or result.analysis
            for r in ratios:
                per_ratio[r][name] = [tuple(c.box) for c in result.for_ratio(r)]  # type: ignore[misc]
        for r in ratios:
            ratio = parse_ratio(r)
            if ratio.is_free:
                continue
            w, h = largest_size(W, H, ratio.value or 1.0)
            per_ratio[r]["smartcrop"] = [smartcrop_py(job.path, w, h)]
            per_ratio[r]["vips-attention"] = [vips_attention(job.path, w, h)]
        return per_ratio, _subject_boxes(analysis)

    def __call__(self, job: SheetJob) -> list[dict[str, Any]]:
        from ..imaging.load import open_full
        from .sheet import render_sheet, save_sheet

        photo = open_full(job.path)
        W, H = photo.size
        ratios = sheet_ratios(job.name, W, H, job.validation)
        per_ratio, subjects = self.method_boxes(job, ratios, W, H)
        keys = []
        for slot, r in enumerate(ratios):
            sid = sheet_id(job, slot)
            pool = candidate_pool(W, H, parse_ratio(r), per_ratio[r], subjects)
            chosen = pick_sheet(pool, job.validation, random.Random(_seed("sheet:" + sid)))
            if len(chosen) < 2:
                continue
            boxes = [list(c.box) for c in chosen]
            save_sheet(render_sheet(photo, [c.box for c in chosen]), self.sheets_dir / f"{sid}.png")
            keys.append({
                "sheet": sid, "photo": job.name, "split": job.split, "ratio": r, "size": [W, H],
                "boxes": boxes, "sources": [c.sources for c in chosen], "round": job.round,
                "learned_model": self.learned.model_name,
            })
        return keys


def render_missing_sheets(keys: list[dict[str, Any]], photos_dir: str | Path, sheets_dir: str | Path,
                          progress: Callable[[int, int], None] | None = None) -> int:
    """Render again, from their keys, the sheet images missing from ``sheets_dir`` (the images are
    not committed; the keys are): the same photo and boxes give the same sheet. Returns how many
    were rendered; a photo that cannot be opened raises the loader's error naming the file."""
    from ..imaging.load import open_full
    from .sheet import render_sheet, save_sheet

    missing = [k for k in keys if not (Path(sheets_dir) / f"{k['sheet']}.png").exists()]
    Path(sheets_dir).mkdir(parents=True, exist_ok=True)
    by_photo: dict[str, list[dict[str, Any]]] = {}
    for k in missing:
        by_photo.setdefault(k["photo"], []).append(k)
    done = 0
    for photo_name, photo_keys in by_photo.items():
        photo = open_full(Path(photos_dir) / photo_name)
        for k in photo_keys:
            boxes = [tuple(b) for b in k["boxes"]]
            save_sheet(render_sheet(photo, boxes), Path(sheets_dir) / f"{k['sheet']}.png")  # type: ignore[arg-type]
            done += 1
            if progress:
                progress(done, len(missing))
    return done


_MAKER: SheetMaker | None = None


class _Task:
    """Picklable per-photo task: builds its worker's :class:`SheetMaker` once."""

    def __init__(self, sheets_dir: str, learned_model: str | None) -> None:
        self.sheets_dir = sheets_dir
        self.learned_model = learned_model

    def __call__(self, job: SheetJob) -> list[dict[str, Any]]:
        global _MAKER
        if _MAKER is None:
            _MAKER = SheetMaker(self.sheets_dir, self.learned_model)
        return _MAKER(job)


def make_sheets(
    photos_dir: str | Path,
    names: list[str],
    split: str,
    sheets_dir: str | Path,
    keys_dir: str | Path,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    round: int = 1,
    learned_model: str | None = None,
) -> tuple[int, list[str]]:
    """Make the sheets of ``names`` (photo files relative to ``photos_dir``); returns the number of
    new sheets and the problems (one line per photo that failed). Resumes from ``keys_dir``.
    ``round`` > 1 makes another round of sheets of the same photos and ratios (new ids), e.g. with
    another ``learned_model`` bundle as the learned method, to judge a new model's own crops."""
    from ..executor import make_executor

    keys_file = Path(keys_dir) / f"{split}.jsonl"
    done = {k["photo"] for k in read_jsonl(keys_file) if k.get("round", 1) == round}
    Path(sheets_dir).mkdir(parents=True, exist_ok=True)
    jobs = [SheetJob(str(Path(photos_dir) / n), n, i, split, round) for i, n in enumerate(names) if n not in done]
    made, problems = 0, []
    with make_executor(workers) as ex:
        for k, outcome in enumerate(ex.run(_Task(str(sheets_dir), learned_model), jobs), start=1):
            if outcome.error:
                path = jobs[outcome.index].path  # an image error names the photo itself: once
                problems.append(outcome.error if outcome.error.startswith(f"{path}:") else f"{path}: {outcome.error}")
            else:
                made += append_jsonl(keys_file, outcome.value or [])
            if progress:
                progress(k, len(jobs))
    return made, problems
