"""Snapshot the JSON of ``procrop crop`` on fixed photos, to prove a refactor changes no behaviour.

``python tools/crop_snapshot.py write OUT.json`` crops the example photo and 20 photos of the pool
(every 25th file of ``MANIFEST.csv``) at free, 1:1, 4:5 and 16:9 with the default options and stores
each result (without ``timings_ms``, which varies run to run, and ``procrop_version``).
``python tools/crop_snapshot.py compare OLD.json NEW.json`` lists every photo whose JSON differs
and exits 1 if any does. Run ``write`` before and after a change, then ``compare``. Since 0.2 the
default perception uses pretrained detectors; ``--profile fast`` is 0.1's perception, so
``write --profile fast`` after the change compares like with like.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def snapshot_photos(shared: Path, n: int = 20) -> list[Path]:
    """The example photo and ``n`` photos of the pool, spread over its manifest."""
    pool = shared / "data" / "photos"
    with open(pool / "MANIFEST.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    key = next(k for k in rows[0] if k.lower() in ("path", "file", "filename"))
    picked = [pool / rows[i][key] for i in range(0, len(rows), max(1, len(rows) // n))][:n]
    return [ROOT / "examples" / "beach.jpg", *picked]


def write(out: Path, shared: Path, profile: str | None) -> None:
    """Crop every snapshot photo and write ``{name: json}`` to ``out``."""
    from procrop import Cropper

    cropper = Cropper() if profile is None else Cropper(profile=profile)
    results = {}
    for path in snapshot_photos(shared):
        d = cropper.process(str(path), ["free", "1:1", "4:5", "16:9"], top_k=5).to_dict()
        d.pop("timings_ms", None)
        d.pop("procrop_version", None)
        d["image"] = path.name
        results[path.name] = json.dumps(d, sort_keys=True)
    out.write_text(json.dumps(results, indent=0, sort_keys=True))
    print(f"wrote {len(results)} results to {out}")


def compare(old: Path, new: Path) -> int:
    """Print the photos whose JSON differs; 0 when all are byte-identical."""
    a, b = json.loads(old.read_text()), json.loads(new.read_text())
    bad = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    for k in bad:
        print(f"differs: {k}")
    print(f"{len(a) - len(bad)} of {len(a)} identical")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("out", type=Path)
    w.add_argument("--shared", type=Path, default=Path(os.environ.get("PROCROP_SHARED", ROOT.parent / "shared")))
    w.add_argument("--profile", default=None, help="perception profile (procrop >= 0.2; 'fast' is 0.1's)")
    c = sub.add_parser("compare")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    args = ap.parse_args()
    if args.cmd == "write":
        write(args.out, args.shared, args.profile)
        return 0
    return compare(args.old, args.new)


if __name__ == "__main__":
    sys.exit(main())
