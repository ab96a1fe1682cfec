"""Does retrieval steer the cropper toward the photographer's frame?

Every 5th photo of the pool is held out; a reference database is built from the others. Each
held-out photo is padded on every side with 8-30 % of mirrored context (so the original frame is a
known good crop inside a wider picture). Among the ``free`` candidates plus the original frame,
the script reports how the frame's rank changes when the retrieval term is switched on, and the
IoU of the best crop with the frame.

    python benchmarks/retrieval_effect.py --photos ../shared/data/photos [--limit 104]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    from procrop import Cropper
    from procrop.geometry import iou_matrix, parse_ratio
    from procrop.io import load_image
    from procrop.retrieval import RetrievalTerm, build_database
    from procrop.scoring import ScoringContext

    files = sorted(str(p) for p in Path(args.photos).rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    held = [f for i, f in enumerate(files) if i % 5 == 0]
    train = [f for i, f in enumerate(files) if i % 5]
    if args.limit:
        held = held[: args.limit]
    db = Path(tempfile.mkdtemp()) / "train_db"
    build_database(train, db, workers=args.workers)
    term = RetrievalTerm(db)
    cropper = Cropper(reference_db=None)
    rng = np.random.default_rng(0)
    rows = []
    for f in held:
        photo = load_image(f, 1024).pixels
        h, w = photo.shape[:2]
        left, right = (rng.uniform(0.08, 0.3, 2) * w).astype(int)
        top, bottom = (rng.uniform(0.08, 0.3, 2) * h).astype(int)
        canvas = cv2.copyMakeBorder(photo, top, bottom, left, right, cv2.BORDER_REFLECT_101)
        frame = np.array([left, top, w, h])
        image = cropper.load(canvas)
        analysis = cropper.analyze(image)
        ctx = ScoringContext(image, analysis)
        boxes = np.concatenate([cropper.candidates(analysis, parse_ratio("free")), frame[None]])
        tv = cropper.scorer.terms(ctx, boxes)
        off = cropper.scorer.combine(tv)
        values, applicable = term.evaluate(ctx, boxes)
        tv.add("retrieval", values, applicable)
        on = cropper.scorer.combine(tv)
        rows.append((
            int((off > off[-1]).sum()) + 1,
            int((on > on[-1]).sum()) + 1,
            float(iou_matrix(boxes[np.argmax(off)][None], frame[None])[0, 0]),
            float(iou_matrix(boxes[np.argmax(on)][None], frame[None])[0, 0]),
            len(boxes),
        ))
    r = np.array(rows)
    print(f"{len(r)} held-out photos padded with mirrored context; reference DB from the other {len(train)}")
    print(f"rank of the original frame among ~{int(np.median(r[:, 4]))} candidates: better with retrieval on "
          f"{int((r[:, 1] < r[:, 0]).sum())} photos, worse on {int((r[:, 1] > r[:, 0]).sum())}; "
          f"median rank {np.median(r[:, 0]):.0f} -> {np.median(r[:, 1]):.0f}")
    print(f"IoU of the best crop with the frame: {r[:, 2].mean():.3f} -> {r[:, 3].mean():.3f}")


if __name__ == "__main__":
    main()
