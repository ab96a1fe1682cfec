"""``procrop crop`` and ``procrop describe``: options in, work handed to :mod:`procrop.output.batch`."""

from __future__ import annotations

import json
from dataclasses import replace
import sys
import zipfile
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape

from ..errors import ProcropError
from ..scoring.setup import DEFAULT_SCORER, SCORERS

from .common import (BarProgress, EXIT_INTERRUPTED, check_reference_db, err, exit_if_failed, exit_no_inputs,
                     output_file_problem, output_folder_problem, parse_ratio_options, progress_bar,
                     refuse_outputs, remove_if_left_empty, style_strength_number, usage_error, usage_errors)



def crop_command(
    inputs: list[str] = typer.Argument(..., help="Image files, folders (searched recursively) or globs."),
    ratio: Optional[list[str]] = typer.Option(
        None,
        "--ratio",
        "-r",
        help="free, original, W:H or W/H (e.g. 1:1, 4:5, 16:9) or an output size WxH (1080x1350); "
        "comma-separated or repeated. Default: free.",
    ),
    top_k: int = typer.Option(
        3, "--top-k", "-k", min=1, max=50,
        help="At most this many crops per ratio (dropped: near-duplicates, alternatives under 80 % of the "
        "best (--diversity-iou, --min-score-ratio), or keeping under a third of what the best keeps)."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Folder for cropped files and per-image JSON; re-runs skip done images."
    ),
    json_path: Optional[str] = typer.Option(
        None, "--json", help="Write results here: JSON for one image, JSON Lines for many, a failed "
        "input's line {\"image\", \"error\"} after them ('-' = stdout; with neither --json nor --out the "
        "results go to stdout)."
    ),
    preview: bool = typer.Option(False, "--preview", help="With --out, write <name>_preview.png with the crops drawn."),
    no_upscale: bool = typer.Option(
        False, "--no-upscale", help="Never enlarge a crop to a WxH output size: write it at its own size (noted)."
    ),
    max_upscale: Optional[float] = typer.Option(
        None, "--max-upscale", min=1.0, max=1000.0, metavar="X",
        help="With a WxH output size, choose only crops it enlarges at most X times (when none that cuts "
        "nothing it could keep is wide enough, the widest of those, with a note): sharp files before tight "
        "framing. Default: any size."),
    save_crops: bool = typer.Option(True, "--save-crops/--no-save-crops", help="With --out, write cropped image files."),
    image_format: Optional[str] = typer.Option(
        None, "--format", metavar="jpeg|png|webp",
        help="The crop files' format (jpg too; default: each input's own)."
    ),
    quality: Optional[int] = typer.Option(
        None, "--quality", min=1, max=100,
        help="JPEG or WebP quality of the crop files, 1-100 (default: a JPEG's own quantisation; WebP 92)."
    ),
    strip_exif: bool = typer.Option(
        False, "--strip-exif",
        help="Crop files without the photo's EXIF (camera, date, GPS position); the ICC profile stays."
    ),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Worker processes."),
    ray: Optional[str] = typer.Option(
        None, "--ray", help="Run on Ray: 'local', 'auto' or a ray:// address (extra procrop\\[distributed])."
    ),
    scorer: str = typer.Option(
        DEFAULT_SCORER, "--scorer", help="preference (default: the learned score, the terms and subject cuts weighed as "
        "editors rank crops), learned (the box scorer trained on professional compositions alone) or classic "
        "(hand-set terms)."
    ),
    learned_model: Optional[str] = typer.Option(None, "--learned-model", metavar="FOLDER",
                                                help="Learned-scorer bundle folder (default: shipped)."),
    preference_model: Optional[Path] = typer.Option(
        None, "--preference-model", metavar="PATH", help="Preference model file made by 'procrop prefs fit' "
        "(its --out, default ./preference.npz) in place of the shipped one; the preference scorer (the default) only."),
    db: Optional[str] = typer.Option(
        None, "--db", help="Reference database ('procrop index build PHOTOS --out DB'): crop like its photos "
        "(the default and the learned scorer), or the classic scorer's retrieval."),
    style_strength: Optional[str] = typer.Option(
        None, "--style-strength", metavar="NUMBER",
        help="How strongly the --db photos' composition (subject place and size, horizon) steers the "
        "crops, beside the default or learned score's 1; 0 = off, at most 10. Default 3 with --db."),
    no_db: bool = typer.Option(False, "--no-db", help="Switch retrieval guidance off (classic scorer)."),
    model: Optional[str] = typer.Option(None, "--model", metavar="PATH", help="Neural ProCrop checkpoint (extra procrop\\[torch]; implies --scorer classic)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Scoring weights TOML (classic scorer; default: shipped)."),
    min_area: float = typer.Option(
        0.3, "--min-area", min=0.01, max=1.0,
        help="Smallest crop, as a share of the largest box of its ratio. Left at its default (0.3), a "
             "product or person photographed on a plain white backdrop gets 0.02 instead, so its crops "
             "can frame the subject."),
    min_score_ratio: float = typer.Option(
        0.8, "--min-score-ratio", min=0.0, max=1.0,
        help="Alternatives scoring under this share of their ratio's best are dropped (0: every diverse one, "
        "up to --top-k)."),
    diversity_iou: float = typer.Option(
        0.6, "--diversity-iou", min=0.05, max=1.0,
        help="Crops of one ratio overlap less than this (IoU); higher lets near alternatives through "
        "(1: all but identical boxes)."),
    analysis_size: int = typer.Option(224, "--analysis-size", min=64, max=2048, help="Working size (long side) of the analysis."),
    force: bool = typer.Option(False, "--force", help="Redo images already done in --out."),
    no_analysis: bool = typer.Option(False, "--no-analysis", help="Leave the analysis out of the JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, summary, warnings or notes (they stay in the JSON)."),
    fast: bool = typer.Option(
        False, "--fast", help="Faces (YuNet) on the working image and no object detector (the salient-object "
        "head still finds the subjects): about 20 % faster than the default (README, Benchmarks). Without "
        "the detector a small subject the head does not see stands out less (a kite in the sky can be left "
        "out) and people are not named; crops differ from the default's."
    ),
    pose: bool = typer.Option(False, "--pose", help="Body keypoints (MoveNet, extra procrop\\[pose]) guide cuts through people."),
) -> None:
    """Find the best crops of each image, with scores and reasons.

    \f
    Over 60 lines only because of its 20 option declarations; the work is in
    :func:`procrop.output.batch.crop_files`.
    """
    from ..geometry import parse_ratios
    from ..output.batch import FORMAT_ALIASES, IMAGE_FORMATS, crop_files
    from ..output.naming import drop_own_outputs
    from ..imaging.files import iter_image_files

    ratios = parse_ratio_options(ratio)
    if preview and out is None:
        raise usage_error("--preview writes <name>_preview.png into the output folder: add --out FOLDER")
    sized = [r for r in parse_ratios(list(ratios)) if r.output_size is not None]  # WxH output sizes
    for name, given in (("--no-upscale", no_upscale), ("--max-upscale", max_upscale is not None)):
        if given and not sized:
            raise usage_error(f"{name} applies to WxH output sizes (e.g. -r 1080x1350): none is asked")
    if not save_crops and out is None:
        raise usage_error("--no-save-crops applies to --out, where crops are written: add --out or leave it")
    json_file = json_path not in (None, "-")
    # a --json file inside --out's folder, which the run creates, needs no folder of its own yet (a trial)
    made_by_out = json_file and out is not None and Path(out).resolve() in Path(json_path).resolve().parents
    refuse_outputs(output_folder_problem(out) if out is not None else None,  # before any photo is read
                   output_file_problem(json_path, "--json") if json_file and not (
                       made_by_out and not Path(json_path).parent.exists()) else None)
    files, problems = iter_image_files(inputs)
    files, own = drop_own_outputs(files, str(out) if out else None, inputs)
    if own and files and not quiet:
        err.print(f"{len(own)} file(s) that procrop wrote (crops, previews) left out of the inputs")
    if not files and own and not problems:  # only earlier outputs: say so, even with -q
        raise usage_error(f"no input images: the {len(own)} file(s) found are procrop's own outputs "
                          "(crops and previews a result beside them names), which are never cropped again; "
                          "copy one elsewhere to crop it")
    if not files:  # why each input gave no image, one line each ("error: DIR: ..." for one)
        raise exit_no_inputs(problems)
    options, output = _crop_options(
        ratios, top_k, out, preview, save_crops, db, no_db, model, weights, min_area, analysis_size, no_analysis
    )
    if scorer not in SCORERS:
        raise usage_error(f"--scorer {scorer!r}: use {', '.join(SCORERS)}")
    classic_only = [name for name, given in (("--no-db", no_db), ("--weights", weights)) if given]
    if style_strength is not None and (scorer == "classic" or model):
        raise usage_error("--style-strength steers the default and learned scorers, not the classic scorer or --model")
    if style_strength is not None and not db:
        raise usage_error("--style-strength steers the default and learned scorers with a --db of your "
                          "photos: add --db DB")
    strength = style_strength_number(style_strength)
    if scorer != "classic" and not model and classic_only:
        raise usage_error(f"{', '.join(classic_only)} applies to the classic scorer: add --scorer classic")
    if learned_model and (model or scorer == "classic"):  # it would be loaded for nothing, without a word
        other = "--model" if model else "--scorer classic"
        raise usage_error(f"--learned-model feeds the default and learned scorers; {other} ranks without it: "
                          "give one or the other")
    if learned_model and not (Path(learned_model) / "model.json").exists():
        raise usage_error(f"--learned-model {learned_model}: not a learned-scorer bundle (no model.json)")
    if preference_model is not None:
        _check_preference_model(preference_model, "--model" if model else None if scorer == "preference" else scorer)
    fmt = FORMAT_ALIASES.get(image_format.lower(), image_format.lower()) if image_format else None
    if fmt is not None and fmt not in IMAGE_FORMATS:
        raise usage_error(f"--format {image_format!r}: use {', '.join(IMAGE_FORMATS)}")
    given = [name for name, value in (("--format", fmt), ("--quality", quality), ("--strip-exif", strip_exif))
             if value]
    if given and not (out and save_crops):
        verb = "apply" if len(given) > 1 else "applies"
        raise usage_error(f"{' and '.join(given)} {verb} to the crop files: " +
                          ("they are not written with --no-save-crops" if out else "add --out"))
    if quality is not None and fmt == "png":
        raise usage_error("--quality sets JPEG and WebP quality: a PNG is lossless")
    options = replace(options, profile="fast" if fast else "default", pose=pose,
                      scorer="classic" if model else scorer,
                      learned_model=str(Path(learned_model).resolve()) if learned_model else None,
                      no_upscale=no_upscale, max_upscale=max_upscale, style_strength=strength,
                      min_score_ratio=min_score_ratio, diversity_iou=diversity_iou,
                      quality=quality, strip_exif=strip_exif,
                      image_format=fmt,
                      preference_model=str(preference_model.resolve()) if preference_model else None)
    if model and not db and not no_db and not quiet:  # eval retrieves as the model was trained: crop may not
        trained = _trained_reference_db(model)
        if trained not in ("", "none", "default"):
            err.print(f"note: {escape(model)} was trained with the reference database {escape(trained)}; "
                      f"this crop retrieves from the bundled one (--db {escape(trained)} crops as 'procrop "
                      "eval' measures)")
    if db and options.scorer != "classic":  # a missing or unusable database: one line, before any photo
        check_reference_db(db, options.learned_model, strength, quiet)
    stream = json_path is None and out is None and len(files) > 1
    fresh_out = out is not None and not Path(out).exists()  # made by this run: not left behind empty
    progress: BarProgress | None = None  # counts the images finished, for the line a Ctrl-C leaves
    try:
        with usage_errors(), progress_bar(len(files), quiet, "cropping") as bar:
            progress = BarProgress(bar, bar.add_task("crop", total=len(files)))
            report = crop_files(
                files, options, output, workers=workers, ray=ray, force=force,
                on_result=(lambda r: typer.echo(json.dumps(r))) if stream else None, progress=progress,
            )
    except KeyboardInterrupt:  # typer would exit 130 without a word
        where = f" (in {out})" if out else ""
        done = progress.done if progress else 0
        err.print(f"interrupted: at least {done} of {len(files)} image(s) done{where}; the same command "
                  "goes on from there (an image cut short left no files)")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    failures = list(problems) + report.failures
    skipped = report.skipped
    done_results = report.results
    _emit(done_results, json_path, out, stream, len(files), failures)
    if not quiet and skipped:  # said first: the summary below repeats the earlier run's (a trial)
        err.print(f"note: {skipped} image(s) already done in {escape(str(out))} by an earlier run with these "
                  "options, skipped (--force crops them again); the summary below covers every image done")
    if not quiet:  # every warning is also in the JSON; the terminal shows the first photos' only
        _print_warnings(done_results)
    if not quiet and (out or json_path not in (None, "-")) and done_results:  # none done: the errors say it
        _print_verdicts(done_results)
        msg = f"{len(done_results)} of {len(files)} image(s) done"
        if skipped:
            msg += f" ({skipped} already done, skipped)"
        err.print(msg + (f"; outputs in {out}" if out and done_results else ""))
    remove_if_left_empty(out, fresh_out)
    exit_if_failed(failures, unmatched=len(problems))


def _trained_reference_db(model: str) -> str:
    """The reference database a checkpoint or its ONNX export records (``train.reference_db``), or
    ``""`` when it cannot be read here (the crop itself then says what is wrong)."""
    try:
        if Path(model).suffix.lower() == ".onnx":
            from ..model.paper.predictor import onnx_config

            return str(onnx_config(model).train.reference_db)
        from ..model.paper.checkpoint import config_of, load_checkpoint

        return str(config_of(load_checkpoint(model)).train.reference_db)
    except Exception:  # a damaged file, no torch: the crop's own loading reports it
        return ""


def _check_preference_model(path: Path, other: str | None) -> None:
    """``--preference-model`` checked before any photo: the preference scorer in use (``other``:
    the scorer or ``--model`` that replaces it) and a readable model file; else one line, exit 2."""
    from ..scoring.terms.preference import PreferenceModel

    if other is not None:
        shown = "--model (a neural checkpoint, classic scorer)" if other == "--model" else f"--scorer {other}"
        raise usage_error(f"--preference-model applies to the preference scorer (the default), not {shown}")
    with usage_errors():
        try:
            PreferenceModel.load(path)
        except zipfile.BadZipFile as exc:  # a cut-short file: PreferenceModel.load lets this one through
            raise usage_error(f"{path}: not a preference model file ({exc})") from None


def _print_warnings(results: list[dict[str, Any]], most: int = 20) -> None:
    """The warnings (problems) of the first ``most`` photos that have any, then how many more photos
    have some; the notes (information: fewer crops than asked) of a photo when only one has any,
    else one line counting the photos that have notes."""
    from ..verdict import ENLARGED, NOT_ENLARGED, OTHERS_DROPPED, UPSCALE_UNMET

    enlarged = [(r, line) for r in results for line in r.get("warnings", []) if ENLARGED in line]
    summed = len({id(r) for r, _ in enlarged}) > 1  # several photos enlarged: one line for them all
    warned = [(r, [w for w in r.get("warnings", []) if not (summed and ENLARGED in w)]) for r in results]
    warned = [(r, lines) for r, lines in warned if lines]
    for r, lines in warned[:most]:
        for line in lines:
            err.print(f"[yellow]warning:[/] {escape(str(r.get('image')))}: {escape(line)}")
    if len(warned) > most:
        err.print(f"[yellow]warning:[/] {len(warned) - most} more photo(s) with warnings (see their JSON)")
    if summed:
        r, line = max(enlarged, key=lambda e: float(e[1].split(ENLARGED)[1].split("x")[0]))
        most_line = line.split(" (--no-upscale")[0]
        photos = len({id(r) for r, _ in enlarged})
        err.print(f"[yellow]warning:[/] {photos} photos have crops enlarged to the size asked (the most: "
                  f"{escape(str(r.get('image')))}, {escape(most_line)}); each photo's JSON lists them under "
                  "'warnings'; --no-upscale writes crops at their own size")
    def kind(note: str) -> str:
        return "own" if NOT_ENLARGED in note else "unmet" if UPSCALE_UNMET in note else "fewer"

    for which, said in (("fewer", "have fewer crops than asked at some ratio (why, ratio by ratio, differs"),
                        ("own", "have crops kept at their own size, smaller than asked (--no-upscale"),
                        ("unmet", "have no crop wide enough for --max-upscale that cuts nothing it could "
                                  "keep (the widest such crops were chosen")):
        noted = [(r, lines) for r in results
                 if (lines := [n for n in r.get("notes", []) if kind(n) == which])]
        if len(noted) == 1:  # one photo: its own lines; several: one line counting them (per kind)
            result, lines = noted[0]
            name = escape(str(result.get("image")))
            if which == "fewer" and len(lines) > 1:  # several ratios short: one line (a trial counted 5-6)
                counts = ", ".join(line.split(" crop")[0].replace(": ", " ") for line in lines)  # "1:1 1"
                asked = result.get("options", {}).get("top_k", "number")
                err.print(f"[dim]note:[/] {name}: fewer crops than the {asked} asked ({escape(counts)}); "
                          "why, ratio by ratio, under 'notes' in its JSON")
            else:
                for line in lines:
                    err.print(f"[dim]note:[/] {name}: {escape(line)}")
        elif noted:
            err.print(f"[dim]note:[/] {len(noted)} photos {said}; see 'notes' in their JSON)")
        if which == "fewer" and any(OTHERS_DROPPED in line for _, lines in noted for line in lines):
            # two trials asked --top-k 3, got one crop a ratio, and did not find the two options
            err.print("[dim]note:[/] a lower --min-score-ratio or a higher --diversity-iou lets more "
                      "alternatives through")


def _print_verdicts(results: list[dict[str, Any]], most: int = 20) -> None:
    """Each photo's crop-or-keep verdict, worded as in the JSON and on the web page (procrop.verdict)."""
    names = [Path(str(r.get("image"))).name for r in results]
    for r, name in zip(results[:most], names):
        if r.get("verdict"):  # two inputs of one name (a/x.jpg, b/x.jpg) are told apart by their path
            err.print(escape(f"{name if names.count(name) == 1 else r.get('image')}: {r['verdict']}"))
    kept = sum(bool(r.get("keep_original")) and not r.get("close_call") for r in results)
    close = sum(bool(r.get("close_call")) for r in results)
    if len(results) > most:
        err.print(f"... {len(results) - most} more; {kept} of {len(results)} photo(s) best kept uncropped, "
                  f"{close} a close call (every verdict is in the JSON)")


def error_record(path: str, reason: str) -> dict[str, str]:
    """A failed input's JSON (``{"image": path, "error": reason}``, the reason without the path
    that stderr's line begins with)."""
    return {"image": path, "error": reason.removeprefix(f"{path}: ")}


def _emit(results: list[dict[str, Any]], json_path: str | None, out: Path | None, streamed: bool,
          n_inputs: int, failures: list[tuple[str, str]]) -> None:
    """The JSON of a run: one object for one image, else JSON Lines, a failed input's line after the
    results' (``{"image": path, "error": reason}``, as stderr words it): a run whose every input
    failed writes its errors too, so a ``--json`` file is never an earlier run's."""
    from ..files import atomic_write_text

    errors = [error_record(path, reason) for path, reason in failures]
    if streamed:  # the results went out as they came
        sys.stdout.write("".join(json.dumps(e) + "\n" for e in errors))
        return
    records = [*results, *errors]
    if not records:
        return
    if n_inputs == 1 and len(records) == 1:
        text = json.dumps(records[0], indent=2) + "\n"
    else:
        text = "".join(json.dumps(r) + "\n" for r in records)
    if json_path is None:
        if out is None:
            sys.stdout.write(text)
        return
    if json_path == "-":
        sys.stdout.write(text)
        return
    try:
        atomic_write_text(json_path, text)
    except OSError as exc:  # checked before the work; gone since (a full disk, a folder removed)
        exit_if_failed([(json_path, f"cannot write the --json file: {exc.strerror or exc}")])


def _crop_options(
    ratios: tuple[str, ...], top_k: int, out: Path | None, preview: bool, save_crops: bool, db: str | None,
    no_db: bool, model: str | None, weights: str | None, min_area: float, analysis_size: int, no_analysis: bool,
):  # noqa: ANN202 - (CropOptions, OutputOptions)
    """The validated options of ``procrop crop`` as the batch runner takes them."""
    from ..output.batch import CropOptions, OutputOptions

    if db and no_db:
        raise usage_error("--db and --no-db contradict each other")
    reference = None if no_db else (db or "default")
    if reference not in (None, "default") and not Path(reference).exists():
        raise usage_error(f"--db {reference}: no such reference database")
    if model and not Path(model).exists():
        raise usage_error(f"--model {model}: no such checkpoint")
    options = CropOptions(
        ratios=ratios,
        top_k=top_k,
        min_area=min_area,
        analysis_size=analysis_size,
        reference_db=reference,
        model=str(Path(model).resolve()) if model else None,
        weights=weights,
        include_analysis=not no_analysis,
    )
    output = OutputOptions(
        out_dir=str(out) if out else None,
        save_crops=save_crops,
        preview=preview,
    )
    return options, output


def describe_command(
    inputs: list[str] = typer.Argument(..., help="Image files, folders or globs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines with the analysis to stdout ('--json -', as procrop crop writes it, means the same)."),
    analysis_size: int = typer.Option(
        224, "--analysis-size", min=64, max=2048,
        help="Working size (long side) of the analysis, as in procrop crop.",
    ),
    fast: bool = typer.Option(
        False, "--fast", help="Faces but no object detector (procrop crop --fast's description)."
    ),
) -> None:
    """Describe the composition of each image in words (the description procrop crop gives)."""
    from ..output.batch import CropOptions
    from ..perception.describe import describe
    from ..imaging.files import iter_image_files

    if as_json:  # '--json -' (procrop crop's way to ask for JSON on stdout) leaves a '-' among the inputs
        inputs = [i for i in inputs if i != "-"] or inputs
        named = [i for i in inputs if i.lower().endswith((".json", ".jsonl"))]
        if named:  # crop's '--json FILE' habit: describe writes to stdout only
            raise usage_error(f"{named[0]}: not an image; describe --json prints to stdout and takes no "
                              f"file name (redirect it: > {named[0]})")
    files, problems = iter_image_files(inputs)
    if as_json:  # a JSON-lines reader sees each failure too, in its place among the lines
        for name, message in problems:
            typer.echo(json.dumps(error_record(name, message)))
    if not files:
        raise exit_no_inputs(problems)
    # the perception procrop crop runs: the default scorer's learned backbone feeds the salient-object
    # head (a classic cropper has no backbone and would describe from the hand-set cues instead)
    with usage_errors():
        cropper = CropOptions(analysis_size=analysis_size, reference_db=None,
                              profile="fast" if fast else "default").make_cropper()
    failures = list(problems)
    for f in files:
        try:
            analysis = cropper.analyze(f)
        except ProcropError as exc:
            failures.append((f, str(exc)))
            if as_json:
                typer.echo(json.dumps(error_record(f, str(exc))))
            continue
        text = describe(analysis, for_people=True)
        if as_json:
            typer.echo(json.dumps({"image": f, "width": analysis.width, "height": analysis.height, "description": text, "analysis": analysis.to_dict()}))
        elif len(files) > 1:
            typer.echo(f"{f}: {text}")
        else:
            typer.echo(text)
    exit_if_failed(failures, unmatched=len(problems))


