"""Weak-label generation throughput: the local process pool against a local Ray instance.

Both runs generate the same items (same seed) from the same photos with the same number of
workers; the report gives items per second (start-up of the pool or of Ray included) and checks
that the two data sets are identical.

    python benchmarks/bench_generate.py --photos ../shared/data/photos --limit 60 --workers 2
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path


def digest(out: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name != "dataset.json":
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def main() -> None:
    from procrop.helptext import plain

    ap = argparse.ArgumentParser(description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"), help="photo folder (searched recursively)")
    ap.add_argument("--limit", type=int, default=60, help="the first N photos")
    ap.add_argument("--per-photo", type=int, default=1, help="canvases per photo")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the pool and Ray runs")
    args = ap.parse_args()

    from procrop.weaklabels import GenerateParams, generate_dataset

    files = sorted(str(p) for p in Path(args.photos).rglob("*") if p.suffix.lower() in (".jpg", ".png"))[: args.limit]
    params = GenerateParams(per_photo=args.per_photo)
    tmp = Path(tempfile.mkdtemp())
    rows = []
    for name, kwargs in (("serial", {"workers": 1}), ("process pool", {"workers": args.workers}), ("ray (local)", {"workers": args.workers, "ray": "local"})):
        out = tmp / name.replace(" ", "_").replace("(", "").replace(")", "")
        t = time.perf_counter()
        report = generate_dataset(files, out, params, photo_root=args.photos, **kwargs)
        total = time.perf_counter() - t
        rows.append((name, kwargs["workers"], report.written, total, report.written / total, digest(out), report.seam))
    print(f"\n{len(files)} photos x {args.per_photo} canvas, classical backend, 2 refinement rounds\n")
    print("| executor | workers | items | seconds (incl. start-up) | items/s | data set digest |")
    print("|---|---:|---:|---:|---:|---|")
    for name, w, n, s, ips, dig, _ in rows:
        print(f"| {name} | {w} | {n} | {s:.1f} | {ips:.2f} | {dig} |")
    seam = rows[0][6]
    print(f"\nseam check: AUC {seam.get('seam_auc')}, line ratio {seam.get('seam_line_ratio')} ({seam.get('patches')} patches)")


if __name__ == "__main__":
    main()
