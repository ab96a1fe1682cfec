"""``procrop prefs``: the crop-preference data set (``docs/judging.md``).

    procrop prefs sheets  --photos ../shared/data/photos --split benchmarks/split.json --part heldout
    procrop prefs batches --part heldout --size 25 --passes 3
    procrop prefs merge   data/preferences/answers/*.jsonl
    procrop prefs stats
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .common import EXIT_OK, err, progress_bar, usage_error, usage_errors

prefs_app = typer.Typer(help="The crop-preference data set: judging sheets, batches, answers.", no_args_is_help=True)

DATA = Path("data/preferences")
WORK = Path("data/preferences/work")  # sheets and batch folders: regenerable, not committed


def _split_names(split_file: Path, part: str) -> list[str]:
    try:
        split = json.loads(split_file.read_text(encoding="utf-8"))
        names = split[part]
    except (OSError, ValueError, KeyError, TypeError):
        raise usage_error(f"{split_file}: cannot read the '{part}' list of a split file") from None
    if not isinstance(names, list) or not names:
        raise usage_error(f"{split_file}: the '{part}' list is empty")
    return names


@prefs_app.command("sheets")
def sheets_command(
    photos: Path = typer.Option(..., "--photos", help="Folder the split's photo names are relative to."),
    split: Path = typer.Option(Path("benchmarks/split.json"), "--split", help="Split file (lists 'train' and 'heldout')."),
    part: str = typer.Option(..., "--part", help="'train' or 'heldout'."),
    data: Path = typer.Option(DATA, "--data", help="Data folder: keys go to DATA/keys/PART.jsonl."),
    work: Path = typer.Option(WORK, "--work", help="Where the sheet images go (WORK/sheets)."),
    limit: int = typer.Option(0, "--limit", help="Only the first N photos (0: all)."),
    workers: int = typer.Option(1, "--workers", "-j", help="Worker processes."),
) -> None:
    """Make the judging sheets of one part of the split (resumes: photos with keys are skipped)."""
    from ..preferences.make import make_sheets

    if part not in ("train", "heldout"):
        raise usage_error(f"--part must be 'train' or 'heldout', got {part!r}")
    if not photos.is_dir():
        raise usage_error(f"{photos}: no such folder")
    names = _split_names(split, part)
    names = names[:limit] if limit else names
    with progress_bar(len(names), False, "sheets") as bar, usage_errors():
        task = bar.add_task("sheets", total=len(names))
        made, problems = make_sheets(
            photos, names, part, work / "sheets", data / "keys", workers,
            progress=lambda k, n: bar.update(task, completed=k, total=n),
        )
    for p in problems:
        err.print(f"[red]failed:[/] {p}")
    err.print(f"{made} new sheet(s); keys in {data / 'keys' / (part + '.jsonl')}, sheets in {work / 'sheets'}")
    raise typer.Exit(1 if problems else EXIT_OK)


@prefs_app.command("batches")
def batches_command(
    part: str = typer.Option(..., "--part", help="'train' or 'heldout'."),
    size: int = typer.Option(25, "--size", help="Sheets per batch (one judge's work)."),
    passes: int = typer.Option(1, "--passes", help="Independent judges per sheet (each pass is shuffled anew)."),
    data: Path = typer.Option(DATA, "--data"),
    work: Path = typer.Option(WORK, "--work"),
    judging: Path = typer.Option(Path("docs/judging.md"), "--judging", help="The protocol holding the brief."),
) -> None:
    """Cut a part's sheets into judges' batches: a folder of sheets and a prompt file per batch."""
    from ..preferences.batches import brief_text, judge_prompt, plan_batches, save_plan, write_batch
    from ..preferences.records import read_jsonl

    keys = read_jsonl(data / "keys" / f"{part}.jsonl")
    if not keys:
        raise usage_error(f"no keys for '{part}' in {data / 'keys'}: run procrop prefs sheets first")
    with usage_errors():
        version, brief = brief_text(judging)
        plan = plan_batches([k["sheet"] for k in keys], part[0], size, passes)
        for batch, ids in plan.items():
            folder = write_batch(batch, ids, work / "sheets", work / "batches")
            answers = (data / "answers" / f"{batch}.jsonl").resolve()
            prompt = judge_prompt(brief, [(folder / f"{i}.png").resolve() for i in ids], answers)
            (work / "prompts").mkdir(parents=True, exist_ok=True)
            (work / "prompts" / f"{batch}.txt").write_text(prompt + "\n", encoding="utf-8")
        save_plan(plan, data / "batches.json")
    err.print(f"{len(plan)} batch(es) of up to {size} sheets ({version}); prompts in {work / 'prompts'}")


@prefs_app.command("merge")
def merge_command(
    answers: list[Path] = typer.Argument(..., help="Judges' answer files (the file's stem is the judge)."),
    data: Path = typer.Option(DATA, "--data"),
) -> None:
    """Join answers with the keys into DATA/<part>.jsonl (idempotent: merged lines are skipped)."""
    from ..preferences.records import load_keys, merge_answers

    keys = load_keys(data / "keys")
    if not keys:
        raise usage_error(f"no keys in {data / 'keys'}")
    problems = 0
    for f in answers:
        if not f.is_file():
            raise usage_error(f"{f}: no such answers file")
        with usage_errors():
            rep = merge_answers(f, keys, data)
        for p in rep.problems:
            err.print(f"[yellow]skipped:[/] {p}")
        problems += len(rep.problems)
        err.print(f"{f.name}: {rep.added} added, {rep.skipped} already merged")
    raise typer.Exit(1 if problems else EXIT_OK)


@prefs_app.command("stats")
def stats_command(data: Path = typer.Option(DATA, "--data")) -> None:
    """Sheets made and judged per part, and the judges' agreement on the validation sheets."""
    from ..preferences.agreement import judge_agreement
    from ..preferences.records import group_by_sheet, read_jsonl

    for part in ("train", "heldout"):
        keys = read_jsonl(data / "keys" / f"{part}.jsonl")
        groups = group_by_sheet(read_jsonl(data / f"{part}.jsonl"))
        by_n: dict[int, int] = {}
        for recs in groups.values():
            by_n[len(recs)] = by_n.get(len(recs), 0) + 1
        judged = ", ".join(f"{v} by {k}" for k, v in sorted(by_n.items())) or "none"
        typer.echo(f"{part}: {len(keys)} sheet(s), judged: {judged}")
        if part == "heldout" and groups:
            a = judge_agreement(list(groups.values()))
            typer.echo(
                f"  judges agree on {a.pairwise:.3f} of pairs ({a.pairs} pair comparisons); "
                f"each judge with the other judges' majority: {a.leave_one_out:.3f}"
            )
