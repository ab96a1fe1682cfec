"""Copy the pretrained model files procrop ships into ``procrop/resources/models/``.

Every file named in :data:`procrop.perception.model_files.MODEL_FILES` is copied from the shared
model folder (no conversion: YuNet and YOLOX-nano stay ONNX, MoveNet stays ``.tflite``), byte for
byte unless its entry names a change: the detectors the default path runs (YuNet-n, YOLOX-nano) get
their input's height and width declared free (:func:`free_input_size`, the ``onnx`` package; the
upstream file's sha256 is checked first), so a photo is run at its own aspect ratio. Each file's
sha256 is checked against the registry, and ``ATTRIBUTION.md`` is rewritten from the registry.
Re-run it whenever the registry changes:

    python tools/vendor_models.py --shared ../shared/models [--dest procrop/resources/models]

Exit status 1 (and nothing half-copied left behind) when a source file is missing or its
sha256 differs from the registry.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from procrop.perception.model_files import FREE_INPUT_SIZE, MODEL_FILES, ModelFile, sha256_of

MAX_TOTAL_BYTES = 12 * 1024 * 1024


def free_input_size(data: bytes) -> bytes:
    """An ONNX model (serialised) with its first input's last two dimensions (height, width) and
    every output's second dimension (rows, which follow the input size) made symbolic (named
    ``h``, ``w`` and ``n``: one letter each, so a reader can turn them back into fixed sizes without
    re-encoding the file, as :func:`procrop.perception.objects.square_input_model` does for
    OpenCV); nothing else changes. Shape annotations of intermediate values are dropped
    (onnxruntime infers them)."""
    try:
        import onnx
    except ImportError:
        raise SystemExit("error: changing a model's input size needs the onnx package (pip install onnx)"
                         ) from None
    model = onnx.load_from_string(data)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "h", "w"
    for out in model.graph.output:
        if len(out.type.tensor_type.shape.dim) >= 2:
            out.type.tensor_type.shape.dim[1].dim_param = "n"
    del model.graph.value_info[:]
    return model.SerializeToString()


def copy_verified(entry: ModelFile, shared: Path, dest: Path) -> int:
    """Copy one file through a temporary name (making its registered change, after checking the
    upstream sha256), check its sha256, then move it in place."""
    src = shared / entry.shared_path
    if not src.is_file():
        raise SystemExit(f"error: {src}: missing (needed for {entry.name})")
    with tempfile.NamedTemporaryFile(dir=dest, prefix=f".{entry.name}.", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        shutil.copyfile(src, tmp_path)
        if entry.change:
            if entry.change != FREE_INPUT_SIZE:
                raise SystemExit(f"error: {entry.name}: no recipe for the change {entry.change!r}")
            upstream = sha256_of(tmp_path)
            if upstream != entry.upstream_sha256:
                raise SystemExit(f"error: {src}: sha256 {upstream} differs from the registry's "
                                 f"{entry.upstream_sha256}")
            tmp_path.write_bytes(free_input_size(tmp_path.read_bytes()))
        tmp_path.chmod(0o644)  # temporary files start private; shipped files are world-readable
        actual = sha256_of(tmp_path)
        if actual != entry.sha256:
            raise SystemExit(f"error: {src}: sha256 {actual} differs from the registry's {entry.sha256}")
        tmp_path.replace(dest / entry.name)
    finally:
        tmp_path.unlink(missing_ok=True)
    return (dest / entry.name).stat().st_size


def attribution(sizes: dict[str, int]) -> str:
    """The text of ``ATTRIBUTION.md`` for the registry."""
    lines = [
        "# Pretrained model files shipped with procrop",
        "",
        "Copied by `tools/vendor_models.py` from the public repositories below, byte for byte unless",
        "a file's entry names a change (then the upstream file's sha256 is given too); the sha256 of",
        "each file is checked when procrop loads it",
        "(`procrop/perception/model_files.py`). The licence texts sit beside the files.",
        "",
    ]
    for entry in MODEL_FILES.values():
        lines += [
            f"## `{entry.name}`",
            "",
            f"- what: {entry.what}",
            f"- source: {entry.source} → `{entry.source_path}`",
            f"- licence: {entry.licence} (text: `{entry.licence_file}`)",
            f"- size: {sizes[entry.name]} bytes",
            f"- sha256: `{entry.sha256}`",
        ]
        if entry.change:
            lines += [f"- changed by procrop: {entry.change}",
                      f"- upstream sha256: `{entry.upstream_sha256}`"]
        lines += [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "models")
    parser.add_argument("--dest", type=Path, default=ROOT / "procrop" / "resources" / "models")
    args = parser.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    sizes = {entry.name: copy_verified(entry, args.shared, args.dest) for entry in MODEL_FILES.values()}
    (args.dest / "ATTRIBUTION.md").write_text(attribution(sizes), encoding="utf-8")
    total = sum(sizes.values())
    for name, size in sizes.items():
        print(f"{size:>10}  {name}")
    print(f"{total:>10}  total ({total / 2**20:.2f} MiB) in {args.dest}")
    if total > MAX_TOTAL_BYTES:
        print(f"error: the shipped models exceed {MAX_TOTAL_BYTES / 2**20:.0f} MiB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
