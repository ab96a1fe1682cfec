"""Copy the pretrained model files procrop ships into ``procrop/resources/models/``.

Every file named in :data:`procrop.perception.model_files.MODEL_FILES` is copied from the
shared model folder, its sha256 checked against the registry (the upstream file's, then the
shipped file's), and ``ATTRIBUTION.md`` is rewritten from the registry. Files are copied byte for
byte (YuNet stays ONNX, MoveNet ``.tflite``) except where the registry names a conversion:

* ``free-input-size`` (YOLOX-nano): the upstream export fixes the input to 1x3x416x416; the
  input's height and width (and the output's row count) become free dimensions, so that a photo
  is padded to a multiple of 32 instead of a square. Nothing else changes: the same nodes and
  weights (needs the ``onnx`` package, in ``procrop[torch]``).

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

from procrop.perception.model_files import MODEL_FILES, ModelFile, sha256_of

MAX_TOTAL_BYTES = 12 * 1024 * 1024


def free_input_size(path: Path) -> None:
    """Make the ONNX model's input height and width (dims 2, 3) and its output rows (dim 1) free."""
    import onnx

    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in model.graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "cells"
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


CONVERSIONS = {"free-input-size": free_input_size}


def copy_verified(entry: ModelFile, shared: Path, dest: Path) -> int:
    """Copy one file through a temporary name, check its sha256 (and the upstream one, then convert
    it, when the registry names a conversion), then move it in place."""
    src = shared / entry.shared_path
    if not src.is_file():
        raise SystemExit(f"error: {src}: missing (needed for {entry.name})")
    with tempfile.NamedTemporaryFile(dir=dest, prefix=f".{entry.name}.", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        shutil.copyfile(src, tmp_path)
        tmp_path.chmod(0o644)  # temporary files start private; shipped files are world-readable
        if entry.conversion:
            upstream = sha256_of(tmp_path)
            if upstream != entry.upstream_sha256:
                raise SystemExit(f"error: {src}: sha256 {upstream} differs from the registry's {entry.upstream_sha256}")
            CONVERSIONS[entry.conversion](tmp_path)
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
        "Copied by `tools/vendor_models.py` from the public repositories below, byte for byte unless a",
        "conversion is named; the sha256 of each file is checked when procrop loads it",
        "(`procrop/perception/model_files.py`). The licence texts sit beside the files.",
        "",
    ]
    for entry in MODEL_FILES.values():
        lines += [
            f"## `{entry.name}`",
            "",
            f"- what: {entry.what}",
            f"- source: {entry.source} → `{entry.source_path}`"
            + (f" (sha256 `{entry.upstream_sha256}`)" if entry.upstream_sha256 else ""),
            *([f"- conversion: `{entry.conversion}` (see `tools/vendor_models.py`)"] if entry.conversion else []),
            f"- licence: {entry.licence} (text: `{entry.licence_file}`)",
            f"- size: {sizes[entry.name]} bytes",
            f"- sha256: `{entry.sha256}`",
            "",
        ]
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
