"""Would another feature beside the shipped preference scorer agree better with the judges? (issue 19)

    python benchmarks/preference_residuals.py [--photos ../shared/data/photos] [--work data/learned]

``procrop-preference-v3`` reads one feature (the crop's mirror symmetry) through a single linear
weight fitted on top of its networks (:func:`procrop.training.scorer.preffit.fit_residual`). This
tries more such features the same way: for each candidate, weights fitted by a pairwise logistic
loss with an L2 penalty on the judged TRAINING pairs (the shipped model's logits held fixed), then
the agreement with the 3-judge majority on the held-out sheets, per judging round
(:func:`preference_gate.agreement`). Candidates:

* pixel statistics of the crop at the analysis map's resolution: mean lightness, share of dark
  (L < 50) and of blown (L > 235) cells, mean chroma, mean edge strength, spread of the lightness,
  mean saliency; each alone and all together (penalty 1e-3, on pairs of two crops of the same size
  as ``fit_residual``, and on every pair);
* the learned box scorer's own crop embedding: the 128 values before its last layer and the 128
  before those (extra outputs of ``score.onnx``), as a ridge-penalised linear residual at several
  penalties;
* with ``--edge-press`` instead: how close a subject kept whole comes to an edge of the crop that
  is not the photo's (:data:`PRESS`: 1 touching, 0 at 5 % of the crop's side; the detected people
  and animals, the most pressed of them and how many are, the faces, the salient regions holding a
  tenth of the saliency), each alone and together (another minute of analysis, not cached);
* with ``--peaks`` instead: where the saliency lies in the crop (:data:`PEAKS`): the head's map's
  mirror symmetry (the lightness's is v3's feature), how far its centroid in the crop is from the
  crop's centre across (a share of the width), and, on the hand-cue map the head replaced (spectral
  residual and colour contrast, :func:`procrop.perception.analyzer.cue_saliency`, a second opinion
  on what stands out), the share of it kept, its pressure across the crop's left and right inner
  edges, and whether its peak (and the head's) lies inside the crop 6 % from every edge, with the
  peaks' distance to the nearest edge.

Features are computed once for every judged sheet's boxes by the default cropper's own path and
cached in ``WORK/residual_features.npz`` (about a minute on the 2-core machine). The model card
("Tried, not shipped (2026-12-07): more residual features") quotes the result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from preference_gate import agreement, data_arguments

from procrop.preferences.records import read_jsonl

PIXELS = ("lightness", "dark", "blown", "chroma", "edges", "lightness_spread", "saliency")
#: The ``--edge-press`` candidates (:func:`edge_press`).
PRESS = ("people_animals", "people_animals_count", "faces", "regions")
#: How close to an inner crop edge counts as pressed against it, as a share of the crop's side.
PRESS_MARGIN = 0.05
#: The box scorer's hidden layers read as the embedding (before its last layer, and the one before).
HIDDEN = ("/head/head.4/Mul_1_output_0", "/head/head.1/Mul_1_output_0")


def pixel_stats(ctx, boxes: np.ndarray) -> np.ndarray:
    """``(N, 7)`` :data:`PIXELS` of ``xywh`` boxes from the photo's analysis maps."""
    from procrop.perception.integral import IntegralMap

    a = ctx.analysis
    lab = a.lab.astype(np.float64)
    L, chroma = lab[..., 0] / 255, np.hypot(lab[..., 1] - 128, lab[..., 2] - 128) / 128
    maps = np.stack([L, (L < 50 / 255), (L > 235 / 255), chroma, a.edges, L**2, a.saliency], axis=2)
    mh, mw = L.shape
    sx, sy = mw / a.width, mh / a.height
    x0, y0 = boxes[:, 0] * sx, boxes[:, 1] * sy
    x1, y1 = (boxes[:, 0] + boxes[:, 2]) * sx, (boxes[:, 1] + boxes[:, 3]) * sy
    area = np.maximum((x1 - x0) * (y1 - y0), 1e-9)[:, None]
    s = IntegralMap(maps.astype(np.float64)).box_sum(x0, y0, x1, y1) / area
    s[:, 5] = np.sqrt(np.maximum(s[:, 5] - s[:, 0] ** 2, 0.0))
    return s


def _pressed(boxes: np.ndarray, subjects: list, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The most any of ``subjects`` (boxes) kept whole is pressed against an inner edge of each of
    ``boxes``, and the sum over them (at most 2), each ``(N,)``."""
    from procrop.geometry import inside_fractions

    most, total = np.zeros(len(boxes)), np.zeros(len(boxes))
    if not subjects:
        return most, total
    x, y, w, h = boxes.T
    for (sx, sy, sw, sh), inside in zip(subjects, inside_fractions(boxes, subjects)):
        sides = [((sx - x) / w, x > 1), ((x + w - sx - sw) / w, x + w < width - 1),
                 ((sy - y) / h, y > 1), ((y + h - sy - sh) / h, y + h < height - 1)]
        press = np.max([np.where(inner, np.clip(1 - gap / PRESS_MARGIN, 0, 1), 0.0)
                        for gap, inner in sides], axis=0)
        press = press * (inside >= 0.97)
        most, total = np.maximum(most, press), total + press
    return most, np.minimum(total, 2.0)


def edge_press(records: list[dict], photos: Path) -> dict[str, np.ndarray]:
    """Sheet id -> ``(n, 4)`` :data:`PRESS` of its boxes, from each photo's analysis."""
    from procrop.cropper import Cropper

    cropper, out, by_photo = Cropper(), {}, {}
    for r in records:
        by_photo.setdefault(r["photo"], {}).setdefault(r["sheet"], r)
    for photo, sheets in by_photo.items():
        a = cropper.prepare(str(photos / photo)).analysis
        people = [d.box for d in a.subjects_to_keep if d.kind in ("person", "animal") and not a.is_worn(d)]
        regions = [s.box for s in a.subjects if s.mask is not None and s.mass >= 0.1]
        for sid, r in sheets.items():
            b = np.asarray(r["boxes"], np.float64)
            most, count = _pressed(b, people, a.width, a.height)
            faces = _pressed(b, [f.box for f in a.faces], a.width, a.height)[0]
            out[sid] = np.column_stack([most, count, faces, _pressed(b, regions, a.width, a.height)[0]])
    return out


PEAKS = ("saliency_symmetry", "centroid_offset", "cue_kept", "cue_edge", "cue_peak_in", "cue_peak_room",
         "head_peak_in", "head_peak_room")


def _peak_features(ctx, boxes: np.ndarray, cue: np.ndarray) -> np.ndarray:
    """``(N, len(PEAKS))`` of ``boxes`` (``xywh``) given the photo's cue saliency ``cue`` (map size)."""
    import cv2

    from procrop.perception.integral import IntegralMap
    from procrop.scoring.symmetry import mirror_symmetry

    a, head = ctx.analysis, ctx.analysis.saliency.astype(np.float64)
    mh, mw = head.shape
    x0, y0 = boxes[:, 0] * mw / a.width, boxes[:, 1] * mh / a.height
    x1, y1 = x0 + boxes[:, 2] * mw / a.width, y0 + boxes[:, 3] * mh / a.height
    area = np.maximum((x1 - x0) * (y1 - y0), 1e-9)
    cols = np.arange(mw) + 0.5
    maps = IntegralMap(np.stack([cue, head, head * cols], axis=-1))
    sums = maps.box_sum(x0, y0, x1, y1)
    centroid = sums[:, 2] / np.maximum(sums[:, 1], 1e-9)
    ix0, ix1 = np.floor(x0).astype(int), np.maximum(np.ceil(x1).astype(int), np.floor(x0).astype(int) + 1)
    iy0, iy1 = np.floor(y0).astype(int), np.minimum(np.ceil(y1).astype(int), mh)
    out = [mirror_symmetry(head, np.minimum(ix0, mw - 1), np.minimum(ix1, mw), iy0, iy1),
           np.abs(centroid - (x0 + x1) / 2) / (x1 - x0), sums[:, 0] / max(float(cue.sum()), 1e-9)]
    tx, ty, mean = 0.06 * (x1 - x0), 0.06 * (y1 - y0), max(float(cue.mean()), 1e-9)
    strips = [((x0, x0 + tx), (x0 - tx, x0), x0 > 0.5), ((x1 - tx, x1), (x1, x1 + tx), x1 < mw - 0.5)]
    press = []
    for i, o, inner in strips:  # the cue saliency on both sides of a left or right inner edge, the lesser
        both = np.minimum(maps.box_sum(i[0], y0, i[1], y1)[:, 0], maps.box_sum(o[0], y0, o[1], y1)[:, 0])
        press.append(np.where(inner, both / (tx * (y1 - y0)) / mean, 0.0))
    out.append(np.tanh(np.max(press, axis=0) / 2))
    for m in (cue, head):
        py, px = np.unravel_index(np.argmax(cv2.GaussianBlur(m.astype(np.float32), (0, 0), 2)), m.shape)
        room = np.min([(px + 0.5 - x0) / (x1 - x0), (x1 - px - 0.5) / (x1 - x0),
                       (py + 0.5 - y0) / (y1 - y0), (y1 - py - 0.5) / (y1 - y0)], axis=0)
        out += [(room >= 0.06).astype(float), np.clip(room, -0.1, 0.25)]
    return np.column_stack(out)


def peaks(records: list[dict], photos: Path) -> dict[str, np.ndarray]:
    """Sheet id -> ``(n, len(PEAKS))`` of its boxes, from each photo's analysis."""
    import cv2

    from procrop.cropper import Cropper
    from procrop.perception.analyzer import cue_saliency

    cropper, out, by_photo = Cropper(), {}, {}
    for r in records:
        by_photo.setdefault(r["photo"], {}).setdefault(r["sheet"], r)
    for photo, sheets in by_photo.items():
        ctx = cropper.prepare(str(photos / photo))
        gray = cv2.cvtColor(ctx.image.pixels, cv2.COLOR_RGB2GRAY)
        cue = cue_saliency(ctx.analysis.lab, gray, cropper.analyzer.config).astype(np.float64)
        for sid, r in sheets.items():
            out[sid] = _peak_features(ctx, np.asarray(r["boxes"], np.float64), cue)
    return out


def features(records: list[dict], photos: Path, cache: Path) -> dict[str, tuple[np.ndarray, ...]]:
    """Sheet id -> (preference features, pixel statistics, embedding) of its boxes (cached)."""
    wanted = {r["sheet"] for r in records}
    if cache.exists():  # used only when it holds every sheet (more were judged since: made again)
        got = np.load(cache)
        sheets = [k[:-2] for k in got.files if k.endswith(":f")]
        if wanted <= set(sheets):
            return {s: (got[s + ":f"], got[s + ":p"], got[s + ":e"]) for s in sheets}
    import onnx
    import onnxruntime as ort
    from onnx import helper

    from procrop.cropper import Cropper
    from procrop.model.scorer.runtime import DEFAULT_BUNDLE
    from procrop.training.scorer.preffit import box_features

    graph = onnx.load(str(DEFAULT_BUNDLE / "score.onnx"))
    graph.graph.output.extend(helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None) for o in HIDDEN)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    cropper = Cropper()
    learned = next(t for t in cropper.extra_terms if t.name == "learned")
    by_photo: dict[str, dict[str, dict]] = {}
    for r in records:
        by_photo.setdefault(r["photo"], {}).setdefault(r["sheet"], r)
    out = {}
    for n, (photo, sheets) in enumerate(by_photo.items(), start=1):
        ctx = cropper.prepare(str(photos / photo))
        enc = learned.encoded(ctx)
        for sid, r in sheets.items():
            boxes = np.asarray(r["boxes"], np.float64)
            unit = learned._normalised(ctx, boxes).astype(np.float32)[None]
            feed = {"fused": enc.fused, "edges": enc.edges, "context": enc.context, "boxes": unit,
                    "aspect": np.asarray([enc.aspect], np.float32)}
            hidden = session.run(list(HIDDEN), feed)
            out[sid] = (box_features(cropper, ctx, boxes), pixel_stats(ctx, boxes),
                        np.concatenate([h[0] for h in hidden], axis=1))
        if n % 100 == 0 or n == len(by_photo):
            print(f"features: {n}/{len(by_photo)} photos", flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **{f"{k}:{t}": v for k, vs in out.items() for t, v in zip("fpe", vs)})
    return out


def fit_weights(base, feats: dict, extra: dict[str, np.ndarray], records: list[dict], decay: float,
                same_size: bool):
    """A scorer: ``base``'s logits plus linear weights on ``extra`` (sheet id -> ``(n, k)``), fitted
    on the judged pairs of ``records`` (only two crops of the same size when ``same_size``)."""
    from procrop.training.scorer.preffit import same_size_pairs, sheet_pairs, weights_beside

    pairs = same_size_pairs(records, feats) if same_size else sheet_pairs(records)
    rows, better, worse, weight, offset = [], [], [], [], 0
    for sid in sorted(p for p in pairs if p in feats):
        rows.append(np.column_stack([base.logits(feats[sid]), extra[sid]]))
        for i, j, w in pairs[sid]:
            better.append(offset + i), worse.append(offset + j), weight.append(w)
        offset += len(extra[sid])
    table = np.vstack(rows)
    mean, std = table[:, 1:].mean(axis=0), table[:, 1:].std(axis=0) + 1e-6
    z, fixed = torch.tensor((table[:, 1:] - mean) / std), torch.tensor(table[:, 0])
    weights = weights_beside(fixed, z, torch.tensor(better), torch.tensor(worse),
                             torch.tensor(weight, dtype=torch.float64), decay, max_iter=300).numpy()
    return weights, {sid: base.logits(feats[sid]) + ((extra[sid] - mean) / std) @ weights for sid in extra}


def main() -> None:
    ap = data_arguments(__doc__.split("\n\n")[0], "where the feature cache (residual_features.npz) is kept")
    instead = ap.add_mutually_exclusive_group()
    instead.add_argument("--edge-press", action="store_true",
                         help="try how close subjects come to inner crop edges, not pixels and embeddings")
    instead.add_argument("--peaks", action="store_true",
                         help="try where the saliency lies in the crop (the head's and the hand cues')")
    args = ap.parse_args()
    from procrop.scoring.terms.preference import PreferenceModel

    train = [r for r in read_jsonl(args.data / "train.jsonl") if r["split"] == "train"]
    held = list(read_jsonl(args.data / "heldout.jsonl"))
    got = features(train + held, args.photos, args.work / "residual_features.npz")
    feats = {k: v[0] for k, v in got.items()}
    base = PreferenceModel.load()

    def show(name: str, scores: dict[str, np.ndarray]) -> None:
        rounds = agreement(lambda s: s, held, scores)  # the scores of each sheet, already computed
        cells = " | ".join(f"{rounds.get(k, float('nan')):.3f}" for k in (1, 2, 3))
        print(f"| {name} | {cells} |", flush=True)

    print("| residual on top of procrop-preference-v3 | round 1 | round 2 | round 3 |\n|---|---:|---:|---:|")
    show("none (v3)", {k: base.logits(f) for k, f in feats.items()})
    if args.edge_press or args.peaks:
        names = PRESS if args.edge_press else PEAKS
        table = edge_press(train + held, args.photos) if args.edge_press else peaks(train + held, args.photos)
        for same in (True, False):
            for cols in [[j] for j in range(len(names))] + [list(range(len(names)))]:
                weights, scores = fit_weights(base, feats, {k: v[:, cols] for k, v in table.items()},
                                              train, 1e-3, same)
                named = ", ".join(f"{names[c]} {w:+.2f}" for c, w in zip(cols, weights))
                show(f"{named} ({'same-size pairs' if same else 'all pairs'})", scores)
        return
    for same in (True, False):
        pairs = "same-size pairs" if same else "all pairs"
        for cols in [[j] for j in range(len(PIXELS))] + [list(range(len(PIXELS)))]:
            extra = {k: v[1][:, cols] for k, v in got.items()}
            weights, scores = fit_weights(base, feats, extra, train, 1e-3, same)
            named = ", ".join(f"{PIXELS[c]} {w:+.2f}" for c, w in zip(cols, weights))
            show(f"{named} ({pairs})", scores)
        for part, cols in (("last", slice(0, 128)), ("previous", slice(128, 256)), ("both", slice(0, 256))):
            extra = {k: v[2][:, cols] for k, v in got.items()}
            for decay in (0.1, 1.0, 3.0, 10.0):
                show(f"embedding {part}, penalty {decay:g} ({pairs})",
                     fit_weights(base, feats, extra, train, decay, same)[1])


if __name__ == "__main__":
    main()
