"""Calibrate the "beats the uncropped photo" confidence on professional photos.

A finished professional photo should be kept as it is; the same photo out-painted onto a wider
canvas (``procrop.weaklabels``) should be cropped. For the held-out photos of
``benchmarks/split.json`` (the classic scorer's reference database is built from the training
photos, and the learned scorer never saw them, so neither can recognise them) this script
computes the gap ``score(best free crop) - score(uncropped)`` in both situations and reports, for
the shipped ``confidence = sigmoid((gap - margin) / temperature)`` (``scoring.toml``), the share of
finished photos the cropper recommends keeping (confidence < 0.5), the share of canvases it
recommends cropping, and how much of the original frame the best crop of a canvas recovers.

    python benchmarks/calibrate_confidence.py --photos ../shared/data/photos [--limit 100] [--scorer classic]
"""

from __future__ import annotations

import argparse

import numpy as np

from _heldout import DEFAULT_PHOTOS, build_train_db, heldout_split


def main() -> None:
    from procrop.helptext import plain

    ap = argparse.ArgumentParser(description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", default=DEFAULT_PHOTOS,
                    help="photo folder (benchmarks/split.json names its held-out photos)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N held-out photos (0: all)")
    ap.add_argument("--workers", type=int, default=2,
                    help="worker processes building the classic scorer's reference database")
    ap.add_argument("--scorer", choices=("learned", "classic"), default="learned",
                    help="the scorer to calibrate")
    args = ap.parse_args()

    from procrop import Cropper
    from procrop.weaklabels import ClassicalOutpainter, sample_canvas
    from procrop.geometry import iou
    from procrop.imaging.load import load_image

    held, train = heldout_split(args.photos, args.limit)
    if args.scorer == "classic":
        cropper = Cropper(scorer="classic", reference_db=build_train_db(train, args.workers))
    else:
        cropper = Cropper()
    outpainter = ClassicalOutpainter()
    gaps_keep, gaps_crop, recovered = [], [], []
    for i, f in enumerate(held):
        photo = load_image(f, 1024).pixels
        r = cropper.process(photo, "free", top_k=1)
        gaps_keep.append(r.crops[0].score - r.uncropped_score)
        rng = np.random.default_rng(i)
        spec = sample_canvas(photo.shape[1], photo.shape[0], rng)
        canvas = outpainter.fill(photo, spec, rng)
        c = cropper.process(canvas, "free", top_k=1)
        gaps_crop.append(c.crops[0].score - c.uncropped_score)
        recovered.append(iou(c.crops[0].box, spec.frame))
    p = cropper.weights.param
    margin, temperature = p("confidence", "margin"), p("confidence", "temperature")

    def conf(g: list[float]) -> np.ndarray:
        return 1 / (1 + np.exp(-(np.asarray(g) - margin) / temperature))

    print(f"{args.scorer} scorer; {len(held)} held-out photos of benchmarks/split.json ({len(train)} training photos)")
    print(f"gap when the photo is already finished: median {np.median(gaps_keep):.4f}, p90 {np.percentile(gaps_keep, 90):.4f}")
    print(f"gap when the photo sits in a wider canvas: median {np.median(gaps_crop):.4f}, p90 {np.percentile(gaps_crop, 90):.4f}")
    print(f"confidence (margin {margin}, temperature {temperature}): finished photos kept {np.mean(conf(gaps_keep) < 0.5):.0%}, "
          f"canvases cropped {np.mean(conf(gaps_crop) >= 0.5):.0%}")
    print(f"canvases: best free crop IoU with the original frame: mean {np.mean(recovered):.3f}, >= 0.7 in {np.mean(np.array(recovered) >= 0.7):.0%}")


if __name__ == "__main__":
    main()
