"""Copy the pretrained model files procrop ships into ``procrop/resources/models/``.

Every file named in :data:`procrop.perception.model_files.MODEL_FILES` is copied byte for byte
from the shared model folder (no conversion is needed: YuNet and YOLOX-nano stay ONNX, MoveNet
stays ``.tflite``), its sha256 is checked against the registry, and ``ATTRIBUTION.md`` is
rewritten from the registry. Re-run it whenever the registry changes:

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


def copy_verified(entry: ModelFile, shared: Path, dest: Path) -> int:
    """Copy one file through a temporary name, check its sha256, then move it in place."""
    src = shared / entry.shared_path
    if not src.is_file():
        raise SystemExit(f"error: {src}: missing (needed for {entry.name})")
    with tempfile.NamedTemporaryFile(dir=dest, prefix=f".{entry.name}.", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        shutil.copyfile(src, tmp_path)
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
        "Copied byte for byte (no conversion) by `tools/vendor_models.py` from the public repositories",
        "below; the sha256 of each file is checked when procrop loads it",
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
