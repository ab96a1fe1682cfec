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

import numpy as np

from _heldout import DEFAULT_PHOTOS, build_train_db, pad_with_mirror, split_pool


def main() -> None:
    from procrop.helptext import plain

    ap = argparse.ArgumentParser(description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", default=DEFAULT_PHOTOS, help="photo folder (every 5th photo is held out)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N held-out photos (0: all)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes building the reference database")
    args = ap.parse_args()

    from procrop import Cropper
    from procrop.geometry import iou_matrix, parse_ratio
    from procrop.imaging.load import load_image
    from procrop.scoring.terms.retrieval import RetrievalTerm
    from procrop.scoring.context import ScoringContext

    held, train = split_pool(args.photos, args.limit)
    term = RetrievalTerm(build_train_db(train, args.workers))
    cropper = Cropper(reference_db=None)
    rng = np.random.default_rng(0)
    rows = []
    for f in held:
        canvas, frame = pad_with_mirror(load_image(f, 1024).pixels, rng)
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
