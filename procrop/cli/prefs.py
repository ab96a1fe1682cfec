"""``procrop prefs``: the crop-preference data set (``docs/judging.md``).

    procrop prefs sheets  --photos ../shared/data/photos --split benchmarks/split.json --part heldout
    procrop prefs batches --part heldout --size 25 --passes 3
    procrop prefs merge   data/preferences/answers/*.jsonl
    procrop prefs stats
    procrop prefs fit     --photos ../shared/data/photos    # the preference scorer
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .common import (EXIT_OK, err, output_file_problem, output_folder_problem, progress_bar, refuse_outputs,
                     usage_error, usage_errors)

prefs_app = typer.Typer(help="The crop-preference data set (judging sheets, batches, answers) and fitting to it "
                        "(build, fit-weights, fit).", no_args_is_help=True)

DATA = Path("data/preferences")
#: Said after each relative default path (--data, --work, --split): it is read from the current folder.
_ROOTED = " The default is relative to the current folder: run from the repository root."


class Part(str, Enum):
    """A part of the split (``--part``; its choices show in ``--help``)."""

    train = "train"
    heldout = "heldout"


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
    split: Path = typer.Option(Path("benchmarks/split.json"), "--split",
                               help="Split file (lists 'train' and 'heldout')." + _ROOTED),
    part_: Part = typer.Option(..., "--part", help="Which part of the split."),
    data: Path = typer.Option(DATA, "--data", help="Data folder: keys go to DATA/keys/PART.jsonl." + _ROOTED),
    work: Path = typer.Option(WORK, "--work", help="Where the sheet images go (WORK/sheets)." + _ROOTED),
    limit: int = typer.Option(0, "--limit", min=0, help="Only the first N photos (0: all)."),
    workers: int = typer.Option(1, "--workers", "-j", help="Worker processes."),
    round_: int = typer.Option(1, "--round", min=1, help="Another round of sheets of the same photos (new ids)."),
    learned_model: Path | None = typer.Option(
        None, "--learned-model", help="A learned bundle to show as the learned method (default: the shipped one)."),
) -> None:
    """Make the judging sheets of one part of the split (resumes: photos with keys are skipped)."""
    from ..preferences.make import make_sheets

    part = part_.value
    if not photos.is_dir():
        raise usage_error(f"{photos}: no such folder")
    # before any sheet is drawn: sheets without their keys are of no use
    refuse_outputs(output_folder_problem(data / "keys"), output_folder_problem(work / "sheets"))
    names = _split_names(split, part)
    names = names[:limit] if limit else names
    if learned_model is not None:  # one line before any photo, not a failure per photo
        if not (learned_model / "model.json").exists():
            raise usage_error(f"--learned-model {learned_model}: not a learned-scorer bundle (no model.json)")
        from .. import Cropper

        with usage_errors():  # a bundle that cannot load all the same
            Cropper(learned_model=str(learned_model))
    with progress_bar(len(names), False, "sheets") as bar, usage_errors():
        task = bar.add_task("sheets", total=len(names))
        made, problems = make_sheets(
            photos, names, part, work / "sheets", data / "keys", workers,
            progress=lambda k, n: bar.update(task, completed=k, total=n), round=round_,
            learned_model=str(learned_model) if learned_model else None,
        )
    for p in problems:
        err.print(f"[red]failed:[/] {p}")
    err.print(f"{made} new sheet(s); keys in {data / 'keys' / (part + '.jsonl')}, sheets in {work / 'sheets'}")
    raise typer.Exit(1 if problems else EXIT_OK)


@prefs_app.command("batches")
def batches_command(
    part_: Part = typer.Option(..., "--part", help="Which part of the split."),
    size: int = typer.Option(25, "--size", help="Sheets per batch (one judge's work)."),
    passes: int = typer.Option(1, "--passes", help="Independent judges per sheet (each pass is shuffled anew)."),
    round_: int = typer.Option(1, "--round", min=1, help="Batch the sheets of this round only."),
    data: Path = typer.Option(DATA, "--data", help="Preference data folder (keys/, batches.json)." + _ROOTED),
    work: Path = typer.Option(WORK, "--work",
                              help="Where sheets, batch folders and prompts are written." + _ROOTED),
    judging: Path = typer.Option(Path("docs/judging.md"), "--judging",
                                 help="The protocol holding the brief." + _ROOTED),
    photos: Path | None = typer.Option(
        None, "--photos", help="The photo folder: sheet images missing from WORK/sheets (a fresh checkout keeps "
        "only the keys) are rendered again from their keys."),
) -> None:
    """Cut a part's sheets into judges' batches: a folder of sheets and a prompt file per batch."""
    part = part_.value
    from ..preferences.batches import brief_text, judge_prompt, load_plan, plan_batches, save_plan, write_batch
    from ..preferences.make import render_missing_sheets
    from ..preferences.records import read_jsonl

    keys = read_jsonl(data / "keys" / f"{part}.jsonl")
    if not keys:
        raise usage_error(f"no keys for '{part}' in {data / 'keys'}: run procrop prefs sheets first")
    if photos is not None:
        if not photos.is_dir():
            raise usage_error(f"{photos}: no such folder")
        with progress_bar(len(keys), False, "sheets") as bar, usage_errors():
            task = bar.add_task("rendering missing sheets", total=None)
            rendered = render_missing_sheets([k for k in keys if k.get("round", 1) == round_], photos,
                                             work / "sheets", progress=lambda k, n: bar.update(task, completed=k, total=n))
        err.print(f"{rendered} sheet image(s) rendered again from their keys")
    with usage_errors():
        version, brief = brief_text(judging)
        prefix = part[0] if round_ == 1 else f"{part[0]}r{round_}-"
        plan = plan_batches([k["sheet"] for k in keys if k.get("round", 1) == round_], prefix, size, passes,
                            existing=load_plan(data / "batches.json"))
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
    data: Path = typer.Option(DATA, "--data",
                              help="Preference data folder (keys/, where the merged files go)." + _ROOTED),
) -> None:
    """Join answers with the keys into DATA/<part>.jsonl (idempotent: merged lines are skipped)."""
    from ..preferences.batches import load_plan
    from ..preferences.records import load_keys, merge_answers

    keys = load_keys(data / "keys")
    batches = load_plan(data / "batches.json")
    if not keys:
        raise usage_error(f"no keys in {data / 'keys'}")
    problems = 0
    for f in answers:
        if not f.is_file():
            what = "a folder, not an answers file" if f.is_dir() else "no such answers file"
            raise usage_error(f"{f}: {what}")
        with usage_errors():
            rep = merge_answers(f, keys, data, batches=batches)
        for p in rep.problems:
            err.print(f"[yellow]skipped:[/] {p}")
        problems += len(rep.problems)
        err.print(f"{f.name}: {rep.added} added, {rep.skipped} already merged")
    raise typer.Exit(1 if problems else EXIT_OK)


@prefs_app.command("stats")
def stats_command(data: Path = typer.Option(DATA, "--data",
                  help="Preference data folder." + _ROOTED)) -> None:
    """Sheets made and judged per part, and the judges' agreement on the held-out sheets."""
    from ..preferences.agreement import judge_agreement
    from ..preferences.records import group_by_sheet, read_jsonl

    if not data.is_dir():
        why = "is a file, not a preference data folder" if data.exists() else "no such folder"
        raise usage_error(f"{data}: {why}")
    if not any((data / f).exists() for f in ("keys", "train.jsonl", "heldout.jsonl")):
        raise usage_error(f"{data}: not a preference data folder (no keys/, train.jsonl or heldout.jsonl)")
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
            if not a.pairs:  # one judge a sheet: nothing to compare (it printed "agree on 0.000")
                typer.echo("  judges' agreement: none to measure (no held-out sheet has two judges yet)")
                continue
            typer.echo(
                f"  judges agree on {a.pairwise:.3f} of pairs ({a.pairs} pair comparisons); "
                f"each judge with the other judges' majority: {a.leave_one_out:.3f}"
            )


@prefs_app.command("build")
def build_command(
    photos: Path = typer.Option(..., "--photos", help="The professional photo pool."),
    split: Path = typer.Option(Path("benchmarks/split.json"), "--split",
                               help="JSON with 'train' and 'heldout' lists." + _ROOTED),
    work: Path = typer.Option(Path("data/learned"), "--work",
                              help="Working folder: box sets, database, features, run." + _ROOTED),
    out: Path = typer.Option(..., "--out", "-o", help="Bundle folder to write."),
    data: Path = typer.Option(DATA, "--data", help="Preference data (train.jsonl)." + _ROOTED),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Training epochs."),
    pref_weight: float = typer.Option(1.0, "--pref-weight", help="Weight of the preference loss."),
    run: str = typer.Option("run_prefs", "--run", help="Run folder name under --work (resumes from its last.pt)."),
    stop_after: int = typer.Option(0, "--stop-after", help="Train at most N epochs now (0: to the end)."),
    workers: int = typer.Option(2, "--workers", "-j", min=1, help="Worker processes building the box sets."),
    name: str = typer.Option("procrop-learned-v2", "--name", help="The bundle's model name (in its model.json)."),
) -> None:
    """The learned scorer trained on editors' rankings and professional frames, end to end.

    Resumable: reference database and box sets (as `procrop learned build`), photo features of the
    judged sheets, training with both objectives, export of the best epoch."""
    from .common import require_extra as require

    require("torch", "training on preferences", "torch")

    from ..model.scorer.boxnet_export import export_bundle, load_checkpoint
    from ..preferences.records import read_jsonl
    from ..retrieval import build_database, read_licences
    from ..training.scorer.boxsets import BoxSetOptions, build_boxsets
    from ..training.scorer.boxtrain import BoxTrainConfig
    from ..training.scorer.preftrain import PrefTrainConfig, cache_photo_features, train_preferences

    train = [str(photos / n) for n in _split_names(split, "train")]
    held = [str(photos / n) for n in _split_names(split, "heldout")]
    records = [r for r in read_jsonl(data / "train.jsonl") if r["split"] == "train"]
    if not records:
        raise usage_error(f"no judged training sheets in {data / 'train.jsonl'} (procrop prefs merge first)")
    from .learned import refuse_foreign_bundle

    refuse_foreign_bundle(out)  # before the hours of work, not after them
    refs = work / "refdb_train_mobilenet"
    cfg = PrefTrainConfig(box=BoxTrainConfig(epochs=epochs), pref_weight=pref_weight)
    with usage_errors():
        manifest = photos / "MANIFEST.csv"
        build_database(train, refs, encoder="mobilenet", source_root=photos,
                       licences=read_licences(manifest) if manifest.exists() else None)
        build_boxsets(train, work / "boxsets_train", BoxSetOptions(canvases=12, seed=0), root=str(photos),
                      workers=workers)
        build_boxsets(held, work / "boxsets_heldout", BoxSetOptions(canvases=4, seed=1), root=str(photos),
                      workers=workers)
        err.print("photo features of the judged sheets ...")
        features = cache_photo_features(photos, sorted({r["photo"] for r in records}), work / "pref_features.npz")
        best = train_preferences(str(work / "boxsets_train"), str(work / "boxsets_heldout"), features, records,
                                 work / run, str(refs), cfg, stop_after or None)
        if stop_after and not (work / run / "best.pt").exists():
            err.print(f"stopped after {stop_after} epoch(s); rerun to continue")
            raise typer.Exit(EXIT_OK)
        model, state = load_checkpoint(work / run / "best.pt")
        export_bundle(model, out, str(refs), {"name": name, "record": state.get("record"), "training": state.get("meta")})
    if best.get("below_floor"):
        err.print(f"warning: no epoch kept held-out frame recovery at {cfg.min_recovery} or more: the bundle "
                  "is the epoch that recovered frames best (train longer, or on more photos)")
    typer.echo(f"best epoch {best.get('epoch')}: selection agreement {best.get('selection_agreement')}, "
               f"held-out recovery {best.get('recovery', {}).get('all')}; bundle {out}")


@prefs_app.command("fit-weights")
def fit_weights_command(
    photos: Path = typer.Option(..., "--photos", help="The photo pool the sheets were made of."),
    out: Path = typer.Option(..., "--out", "-o", help="Weights file to write (scoring.toml's layout)."),
    data: Path = typer.Option(DATA, "--data", help="Preference data (train.jsonl, keys/)." + _ROOTED),
    work: Path = typer.Option(Path("data/learned"), "--work",
                              help="Where the sheets' term values are cached." + _ROOTED),
) -> None:
    """The classic scorer's weights fitted to the judged training sheets (pairwise logistic loss).

    Use them with `procrop crop --scorer classic --weights OUT`."""
    from .common import require_extra as require

    require("torch", "fitting weights", "torch")
    import numpy as np

    from ..preferences.agreement import scorer_agreement
    from ..preferences.records import read_jsonl
    from ..scoring.weights import ScoringWeights
    from ..training.scorer.preftrain import split_selection
    from ..training.scorer.prefweights import FITTED_TERMS, PairData, fit_weights, pair_data, sheet_terms, weighted_scores

    records = [r for r in read_jsonl(data / "train.jsonl") if r["split"] == "train"]
    if not records:
        raise usage_error(f"no judged training sheets in {data / 'train.jsonl'} (procrop prefs merge first)")
    if not photos.is_dir():
        raise usage_error(f"{photos}: no such folder")
    refuse_outputs(output_file_problem(out, "--out"), output_folder_problem(work))  # before minutes of work
    cache = work / "sheet_terms_classic.json"
    terms = json.loads(cache.read_text(encoding="utf-8")) if cache.exists() else {}
    keys = [k for k in read_jsonl(data / "keys" / "train.jsonl") if k["sheet"] not in terms]
    if keys:
        photos_n = len({k["photo"] for k in keys})
        with progress_bar(photos_n, False, "terms") as bar, usage_errors():
            task = bar.add_task("terms", total=photos_n)
            terms.update(sheet_terms(keys, photos, lambda k, n: bar.update(task, completed=k, total=n)))
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(terms), encoding="utf-8")
    fit, selection = split_selection(records, 0.15, 0)
    fit_data, sel_data = pair_data(fit, terms), pair_data(selection, terms)
    weights, loss = fit_weights(fit_data)

    def agreement(w: ScoringWeights, d: PairData) -> float:
        sc = weighted_scores(np.array([w.weight(t) for t in FITTED_TERMS]), d)
        return scorer_agreement(d.sheets, sc)[0]

    hand = ScoringWeights.load()
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# Fitted by `procrop prefs fit-weights` on {len(fit_data.sheets)} judged training sheets "
              f"({len(fit_data.pairs)} pairs);\n# selection sheets (photo-disjoint): agreement "
              f"{agreement(weights, sel_data):.3f} (hand-set weights {agreement(hand, sel_data):.3f}).\n")
    out.write_text(header + weights.to_toml(), encoding="utf-8")
    typer.echo(f"loss {loss:.4f}; selection agreement {agreement(weights, sel_data):.3f} "
               f"(hand-set {agreement(hand, sel_data):.3f}); weights in {out}")


@prefs_app.command("fit")
def fit_command(
    photos: Path = typer.Option(..., "--photos", help="The photo pool the sheets were made of."),
    out: Path = typer.Option(Path("preference.npz"), "--out", "-o",
                             help="Preference model file to write (default: preference.npz here; the shipped one "
                             "is replaced only when named: --out procrop/resources/models/preference/preference.npz)."),
    data: Path = typer.Option(DATA, "--data", help="Preference data (train.jsonl, keys/)." + _ROOTED),
    work: Path = typer.Option(Path("data/learned"), "--work",
                              help="Where the sheets' features are cached." + _ROOTED),
    hidden: int = typer.Option(16, "--hidden", min=0,
                               help="Width of the scorer's hidden layer (0: linear, one readable weight per feature)."),
    seeds: int = typer.Option(5, "--seeds", min=1, help="Networks averaged in score space when --hidden is above 0 "
                              "(a linear fit is deterministic: one)."),
    recovery_weight: float = typer.Option(12.0, "--recovery-weight", min=0.0,
                                          help="Weight of one recovery canvas's pairs together (a judged sheet of 4 "
                                          "crops has 6 pairs of weight 1)."),
    canvases: int = typer.Option(2, "--canvases", min=0,
                                 help="Recovery canvases per training photo (0: judged sheets only)."),
    name: str = typer.Option("procrop-preference-v3", "--name", help="The model's name (JSON, model card)."),
    networks: Optional[Path] = typer.Option(
        None, "--networks", metavar="FILE",
        help="Keep this preference model's networks (a model of this or the previous feature list) and fit "
             "only the weights beside them (the mirror symmetry's): no recovery canvases are drawn, and "
             "--hidden, --seeds, --recovery-weight and --canvases do not apply."),
) -> None:
    """The preference scorer fitted to the judged training sheets and to recovery canvases, then the
    mirror symmetry's weight beside its networks, on the judged pairs of two crops of the same size.

    The canvases are of the training photos; the feature caches resume. Compare it with the shipped one by
    python benchmarks/preferences.py --preference NAME=FILE; crop with it by procrop crop PHOTOS
    --preference-model FILE; the shipped model is replaced only when --out names it."""
    from .common import require_extra as require

    require("torch", "fitting the preference model", "torch")
    from ..cropper import Cropper
    from ..preferences.records import read_jsonl
    from ..training.scorer.prefcanvas import canvas_features
    from ..scoring.preference_features import RESIDUAL_FEATURES
    from ..scoring.terms.preference import PreferenceModel
    from ..training.scorer.preffit import (FitConfig, box_features, fit_preference_model, fit_residual,
                                           sheet_features)

    records = [r for r in read_jsonl(data / "train.jsonl") if r["split"] == "train"]
    if not records:
        raise usage_error(f"no judged training sheets in {data / 'train.jsonl'} (procrop prefs merge first)")
    if not photos.is_dir():
        raise usage_error(f"{photos}: no such folder")
    refuse_outputs(output_file_problem(out, "--out"), output_folder_problem(work))  # before minutes of work
    judged = {r["sheet"] for r in records}
    keys = [k for k in read_jsonl(data / "keys" / "train.jsonl") if k["sheet"] in judged]
    names = sorted({k["photo"] for k in keys})
    with usage_errors():
        kept = PreferenceModel.load(networks) if networks is not None else None  # a bad file: before the work
    work.mkdir(parents=True, exist_ok=True)
    cropper = Cropper()
    with progress_bar(len(names), False, "features") as bar, usage_errors():
        task = bar.add_task("sheets", total=len(names))
        feats = sheet_features(keys, photos, work / "preference_features_train.npz", cropper,
                               progress=lambda k, n: bar.update(task, completed=k, total=n), log=err.print)
        bar.update(task, completed=len(names), total=len(names))
        drawn = None
        if canvases and kept is None:
            task = bar.add_task("canvases", total=len(names))
            drawn = canvas_features(names, photos, work / f"preference_canvases_{canvases}.npz", cropper,
                                    box_features, canvases, log=err.print,
                                    progress=lambda k, n: bar.update(task, completed=k, total=n))
            bar.update(task, completed=len(names), total=len(names))
    if kept is None:
        config = FitConfig(hidden=(hidden,), seeds=seeds, recovery_weight=recovery_weight)
        model, summary = fit_preference_model(feats, records, config, drawn, log=err.print)
        done = (f"{summary['sheets']} sheets, {summary['canvases']} canvases, {summary['pairs']} pairs: "
                f"cross-validated agreement {summary['cv_agreement']:.3f} (hidden {summary['hidden']}, "
                f"decay {summary['decay']:g}, {summary['epochs']} epochs)")
    else:
        model = kept
        model.meta["networks_from"] = {"name": kept.meta.get("name"), "file": networks.name}
        done = f"the networks of {networks} ({kept.meta.get('name', 'unnamed')})"
    try:
        model = fit_residual(model, feats, records, log=err.print)
    except ValueError as exc:
        if kept is not None:  # the weight is all --networks asks for
            raise usage_error(str(exc)) from None
        err.print(f"{exc}: the networks alone, the mirror symmetry's weight at 0")  # not minutes lost
        model.meta["residual"] = {n: 0.0 for n in RESIDUAL_FEATURES}
    model.meta.update({"name": name, "brief": sorted({r.get("brief", "") for r in records}),
                       "judges": len({r.get("judge") for r in records})})
    model.save(out)
    beside = ", ".join(f"{k} {v:.3f}" for k, v in model.meta["residual"].items())
    typer.echo(f"{done}; beside them the weights {beside}; model in {out}")
    typer.echo(f"crop with it: procrop crop PHOTOS --preference-model {out}")
