"""Cropping many images to files: naming, resumable outputs, one task per image.

For an output folder ``OUT`` and an input ``photos/beach.jpg`` a run writes

* ``OUT/beach.json``: the result (the same schema as ``procrop crop`` prints), written **last**
  and atomically: its presence marks the image as done, so a re-run skips it;
* ``OUT/beach_1x1_1.jpg``, ``OUT/beach_16x9_2.jpg``...: the crops (``<stem>_<ratio>_<rank>``),
  in the input's format with its quality, ICC profile and EXIF kept, resized to ``WxH`` output
  sizes when one was requested (a crop of the whole upright photo at its own size is a copy of
  the input file);
* ``OUT/beach_preview.png`` with ``--preview``.

Inputs with the same file name from different folders get ``-2``, ``-3``... stems, assigned in
input order so that a re-run maps each input to the same files.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from collections.abc import Callable
from typing import Any

from ..cropper import Cropper, CropResult
from ..candidates import CandidateConfig
from ..errors import MissingExtraError, writing
from ..retrieval.composition import SIDECAR
from ..scoring.setup import DEFAULT_SCORER
from ..files import atomic_write_text
from ..imaging.load import open_full
from ..imaging.save import copy_unchanged, crop_extension, crop_file_losses, crop_resized, save_image
from ..verdict import ENLARGED, unenlarged_notes, written_sizes
from .naming import CropJob, plan_jobs, ratio_slug, read_result, replaced_outputs, result_path

#: The crops' file formats ``--format`` offers, and their extensions.
IMAGE_FORMATS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}
#: Other names ``--format`` takes for them.
FORMAT_ALIASES = {"jpg": "jpeg"}


#: Options added after results were first stored: each is left out of a result's options at its default.
LATER_OPTIONS = ("no_upscale", "style_strength", "preference_model", "image_format", "quality", "max_upscale",
                 "min_score_ratio", "diversity_iou", "strip_exif")


@dataclass(frozen=True)
class CropOptions:
    """Everything that decides a result; stored in each result so resumes can check it."""

    ratios: tuple[str, ...] = ("free",)
    top_k: int = 3
    min_area: float = 0.3
    analysis_size: int = 224
    reference_db: str | None = "default"
    model: str | None = None
    weights: str | None = None
    include_analysis: bool = True
    profile: str = "default"
    pose: bool = False
    scorer: str = DEFAULT_SCORER
    learned_model: str | None = None
    no_upscale: bool = False
    #: choose only crops a WxH output size enlarges at most this many times (Cropper's max_upscale)
    max_upscale: float | None = None
    style_strength: float | None = None
    #: a preference model file (``procrop prefs fit``) in place of the shipped one (preference scorer)
    preference_model: str | None = None
    #: the crops' file format (``jpeg``, ``png``, ``webp``; default: the input's) and JPEG / WebP quality
    image_format: str | None = None
    quality: int | None = None
    #: crop files without the photo's EXIF (camera, date, GPS position); the ICC profile stays
    strip_exif: bool = False
    #: alternatives kept from this share of their ratio's best, and how little crops of a ratio overlap
    min_score_ratio: float = 0.8
    diversity_iou: float = 0.6

    def signature(self) -> dict[str, Any]:
        """The options as stored in each result; with the learned scorer, ``learned_model_name``
        names the learned model in use (its bundle's name) and ``reference_db`` the database it
        actually retrieves from (``<name>/references``, the bundle's own; ``None`` without), and with a
        user's database ``style_strength`` the strength in effect (its default too) and
        ``style_term_version`` (:data:`~procrop.scoring.terms.style.STYLE_TERM_VERSION`); with the
        preference scorer, ``preference_model_name`` names its model (``preference_model`` the file, when
        not the shipped one)."""
        d = asdict(self)
        d["ratios"] = list(self.ratios)
        d.pop("include_analysis")
        defaults = {f.name: f.default for f in fields(self)}
        for key in LATER_OPTIONS:  # at its default, an option added since is left out: results stored
            if d[key] == defaults[key]:  # before it existed still resume (a preference_model: named below)
                d.pop(key)
        if self.scorer in ("learned", "preference") and not self.model:
            from ..model.scorer.runtime import LearnedModel
            from ..scoring.terms.style import DEFAULT_STRENGTH, STYLE_TERM_VERSION

            learned = LearnedModel(self.learned_model)
            d["learned_model_name"] = learned.name
            # the learned scorer retrieves from --db (a folder), else from its own bundle
            has_refs = bool(learned.config.get("refs")) and (learned.path / "references").exists()
            user = self.reference_db not in (None, "default")
            d["reference_db"] = self.reference_db if user else f"{learned.name}/references" if has_refs else None
            if user:  # a database that changed since (photos added, measured) makes other crops
                d["reference_db_state"] = database_state(str(self.reference_db))
                # the strength in effect (its default too), and the style term that used it
                d["style_strength"] = DEFAULT_STRENGTH if self.style_strength is None else self.style_strength
                d["style_term_version"] = STYLE_TERM_VERSION
            if self.scorer == "preference":
                from ..scoring.terms.preference import model_name

                d["preference_model_name"] = model_name(self.preference_model)
        return d

    def check_extras(self) -> None:
        """Raise :class:`~procrop.errors.MissingExtraError` now for an option whose extra is not
        installed (``pose``, a ``model``: a checkpoint or its ONNX export, both run by the paper's
        network code, which needs torch), rather than at the first image that needs it."""
        import importlib.util

        needs = []
        if self.pose:
            needs.append(("ai_edge_litert", "body keypoints (MoveNet, --pose)", "pose", "ai-edge-litert"))
        if self.model:
            needs.append(("torch", "a ProCrop checkpoint or exported model (--model)", "torch", "torch"))
        for module, feature, extra, package in needs:
            if importlib.util.find_spec(module) is None:
                raise MissingExtraError(feature, extra, package)

    def make_cropper(self) -> Cropper:
        kwargs: dict[str, Any] = {
            # a --min-area of the user's own holds on a studio backdrop too (there the default is lower)
            "candidates": CandidateConfig(min_area=self.min_area) if self.min_area == CandidateConfig.min_area
            else CandidateConfig(min_area=self.min_area, backdrop_min_area=None),
            "analysis_size": self.analysis_size,
            "profile": self.profile,
            "pose": self.pose,
            "scorer": self.scorer,
            "learned_model": self.learned_model,
            "min_score_ratio": self.min_score_ratio,
            "diversity_iou": self.diversity_iou,
        }
        if self.weights:
            kwargs["weights"] = self.weights
        if self.reference_db != "default":
            kwargs["reference_db"] = self.reference_db
        if self.model:
            kwargs["model"] = self.model
        if self.style_strength is not None:
            kwargs["style_strength"] = self.style_strength
        if self.preference_model is not None:
            kwargs["preference_model"] = self.preference_model
        if self.max_upscale is not None:
            kwargs["max_upscale"] = self.max_upscale
        return Cropper(**kwargs)


def database_state(root: str) -> str:
    """A short fingerprint of a reference database's contents (its manifest and composition
    statistics), so that a re-run with the same ``--db`` after ``procrop index add`` crops again
    instead of keeping the old results. Every result's options carry it, so the files are hashed
    once per process and version of them (their size and modification time), not once per photo."""
    files = [Path(root, name) for name in ("manifest.json", SIDECAR)]
    stamps = []
    for f in files:
        try:
            st = f.stat()
            stamps.append((st.st_size, st.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return _hashed_state(tuple(map(str, files)), tuple(stamps))


@functools.lru_cache(maxsize=8)
def _hashed_state(files: tuple[str, ...], stamps: tuple[Any, ...]) -> str:
    """:func:`database_state` of ``files`` as they are at ``stamps`` (the cache key)."""
    digest = hashlib.sha256()
    for name in files:
        try:
            digest.update(Path(name).read_bytes())
        except OSError:
            digest.update(b"-")
    return digest.hexdigest()[:16]


@dataclass
class OutputOptions:
    """What to write per image besides the JSON result."""

    out_dir: str | None = None
    save_crops: bool = True
    preview: bool = False
    preview_dir: str | None = None


def completed_result(out_dir: str, job: CropJob, options: CropOptions, save_crops: bool = True,
                     preview: bool = False) -> dict[str, Any] | None:
    """The stored result of a job when it is complete and made with the same options (and, when
    ``save_crops``, with its crop files: a run with --no-save-crops wrote none; when ``preview``, with
    its preview: a run without --preview wrote none)."""
    path = result_path(out_dir, job)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("options") != options.signature():
        return None
    if os.path.abspath(str(data.get("source", ""))) != os.path.abspath(job.path):
        return None
    files = [c.get("file") for c in data.get("crops", []) if c.get("file")]
    if not all(os.path.exists(f) for f in files) or (save_crops and len(files) < len(data.get("crops", []))):
        return None
    if preview and not os.path.exists(str(data.get("preview", ""))):
        return None
    root = os.path.realpath(out_dir)  # a copied output folder: its results name the first one's files
    if any(os.path.dirname(os.path.realpath(f)) != root for f in files):
        return None
    return data


@dataclass
class CropTask:
    """Crop one image and write its outputs; picklable, builds its :class:`Cropper` lazily."""

    options: CropOptions
    output: OutputOptions = field(default_factory=OutputOptions)

    def __post_init__(self) -> None:
        self._cropper: Cropper | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"options": self.options, "output": self.output}

    def __setstate__(self, state: dict[str, Any]) -> None:  # unpickled in a worker: as quiet as the CLI
        from ..imaging import quiet_broken_mpo

        quiet_broken_mpo()
        self.options = state["options"]
        self.output = state["output"]
        self._cropper = None

    @property
    def cropper(self) -> Cropper:
        if self._cropper is None:
            self._cropper = self.options.make_cropper()
        return self._cropper

    def __call__(self, job: CropJob) -> dict[str, Any]:
        result = self.cropper.process(job.path, list(self.options.ratios), self.options.top_k)
        data = result.to_dict(include_analysis=self.options.include_analysis)
        data["source"] = os.path.abspath(job.path)
        data["options"] = self.options.signature()
        sizes, said = written_sizes(result.crops, self.options.no_upscale)
        for crop_dict, size in zip(data["crops"], sizes):
            if "output_size" in crop_dict:
                crop_dict["output_size"] = list(size) if size else crop_dict["box"][2:]
        # the result's enlargement lines, in the command line's words (with the --no-upscale hint) or,
        # kept smaller as asked (--no-upscale), as notes instead of warnings
        data["warnings"] = [w for w in data["warnings"] if ENLARGED not in w]
        if self.options.no_upscale:
            data["notes"] = unenlarged_notes(data["notes"])
        if said:
            key = "notes" if self.options.no_upscale else "warnings"
            data[key] = data[key] + said
        out = self.output
        previous = read_result(result_path(out.out_dir, job)) if out.out_dir else None
        written: list[str] = []
        try:  # interrupted (Ctrl-C) or failing before its JSON, an image leaves no files behind
            if out.out_dir and out.save_crops:
                written = write_crops(result, job, out.out_dir, sizes, self.options.image_format,
                                      self.options.quality, keep_exif=not self.options.strip_exif)
                for crop_dict, path in zip(data["crops"], written):
                    crop_dict["file"] = path
                kinds = {Path(p).suffix.lstrip(".").upper() for p in written}
                data["warnings"] = data.get("warnings", []) + crop_file_losses(job.path, kinds)
                lossless = sorted(kinds - {"JPG", "JPEG", "WEBP"})
                if self.options.quality is not None and lossless:  # a PNG input's crops are PNG
                    data["warnings"] = data.get("warnings", []) + [
                        f"--quality {self.options.quality} does not apply to {' and '.join(lossless)} crops "
                        "(lossless, the photo's own format): --format jpeg or webp writes them at that "
                        "quality"]
            preview_dir = out.preview_dir or out.out_dir
            if out.preview and preview_dir:
                from .preview import render_preview, save_preview

                ppath = Path(preview_dir) / f"{job.stem}_preview.png"
                with writing(ppath):
                    save_preview(render_preview(open_full(job.path), result), ppath)
                written.append(str(ppath))
                data["preview"] = str(ppath)
            if out.out_dir:
                with writing(result_path(out.out_dir, job)):
                    atomic_write_text(result_path(out.out_dir, job), json.dumps(data, indent=1) + "\n")
        except BaseException:
            for path in written:
                Path(path).unlink(missing_ok=True)
            if out.out_dir and previous is not None:  # an earlier result whose files this run replaced
                old_files = replaced_outputs(previous, {}, out.out_dir, job.stem)  # no result now: it goes
                if not all(f.is_file() for f in old_files):
                    for f in [*old_files, result_path(out.out_dir, job)]:
                        if f.is_file():  # a folder in a file's way stays (it is the reported problem)
                            f.unlink()
            raise
        if out.out_dir and previous is not None:  # a re-run with other options: the old crops and preview go
            for stale in replaced_outputs(previous, data, out.out_dir, job.stem):
                stale.unlink(missing_ok=True)
        return data


def write_crops(result: CropResult, job: CropJob, out_dir: str,
                sizes: list[tuple[int, int] | None] | None = None, image_format: str | None = None,
                quality: int | None = None, keep_exif: bool = True) -> list[str]:
    """Write every crop of ``result`` as an image file, at ``sizes`` (default: each crop's
    ``output_size``, else its own), in ``image_format`` (:data:`IMAGE_FORMATS`; default: the
    photo's) at ``quality`` (JPEG, WebP), with the photo's EXIF unless not ``keep_exif``; returns the
    paths in crop order. A crop of the whole photo at its own size, in the photo's format, quality
    and EXIF, with no orientation to apply, is a copy of the photo's file
    (:func:`~procrop.imaging.save.copy_unchanged`)."""
    photo = open_full(job.path)
    ext = crop_extension(job.path, photo.format)
    as_is = image_format is None and quality is None and keep_exif
    ext = IMAGE_FORMATS[image_format] if image_format else ext
    paths: list[str] = []
    try:
        for i, crop in enumerate(result.crops):
            name = f"{job.stem}_{ratio_slug(crop.ratio)}_{crop.rank}{ext}"
            path = Path(out_dir) / name
            size = crop.output_size if sizes is None else sizes[i]
            whole = tuple(crop.box) == (0, 0, *photo.size) and size in (None, photo.size)
            with writing(path):  # the whole photo at its own size: the original file, not a re-encode of it
                if not (whole and as_is and copy_unchanged(job.path, path)):
                    save_image(crop_resized(photo, crop.box, size), path, source=photo, quality=quality,
                               keep_exif=keep_exif)
            paths.append(str(path))
    except BaseException:
        for written in paths:  # a failed image leaves none of its crops behind
            Path(written).unlink(missing_ok=True)
        raise
    return paths


@dataclass
class BatchReport:
    """What a batch run produced.

    Attributes:
        results: one JSON-ready result per input that is done (new or from an earlier run), in
            input order.
        failures: ``(input, reason)`` for inputs that failed.
        skipped: inputs already done in the output folder by an earlier run.
    """

    results: list[dict[str, Any]]
    failures: list[tuple[str, str]]
    skipped: int


def crop_files(
    files: list[str],
    options: CropOptions,
    output: OutputOptions,
    *,
    workers: int = 1,
    ray: str | None = None,
    force: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BatchReport:
    """Crop ``files`` with ``workers`` processes (or on Ray), resuming an earlier run into the
    same output folder unless ``force``.

    Args:
        on_result: called with each new result as it arrives (for streaming output).
        progress: called as ``progress(done, total)`` once before the first image and after each
            one; ``total`` counts every input, ``done`` those already done by an earlier run too
            (a resumed run with nothing left shows ``3/3``, not ``0/0``).

    Raises:
        MissingExtraError: an option needs an extra that is not installed (checked first).
        ProcropError: the weights file, reference database or model cannot be loaded (checked
            before any image is processed when running in this process).
    """
    from ..executor import make_executor

    options.check_extras()
    jobs = plan_jobs(files, output.out_dir)
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        done = (completed_result(output.out_dir, job, options, output.save_crops, output.preview)
                if (output.out_dir and not force) else None)
        if done is not None:
            results[i] = done
        else:
            todo.append(i)
    failures: list[tuple[int, str, str]] = []  # (input index, input, reason): reported in input order
    task = CropTask(options, output)
    if todo and workers == 1 and not ray:
        task.cropper  # noqa: B018 - build now so a bad weights file, DB or model fails first
    finished = len(jobs) - len(todo)
    if progress is not None:
        progress(finished, len(jobs))
    with make_executor(workers, ray) as ex:
        for outcome in ex.run(task, [jobs[i] for i in todo]):
            i = todo[outcome.index]
            if outcome.ok:
                results[i] = outcome.value
                if on_result is not None:
                    on_result(outcome.value)
            else:
                failures.append((i, jobs[i].path, outcome.error or "unknown error"))
            finished += 1
            if progress is not None:
                progress(finished, len(jobs))
    return BatchReport([r for r in results if r is not None], [(p, why) for _, p, why in sorted(failures)],
                       len(jobs) - len(todo))
