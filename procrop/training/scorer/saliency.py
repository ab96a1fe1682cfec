"""Distil U²-Netp into the salient-object head (:mod:`procrop.model.scorer.salient_head`). Resumable.

One command rebuilds the shipped ``procrop/resources/models/salient_head.onnx``::

    PROCROP_SHARED=/work/shared python -m procrop.training.scorer.saliency \\
        --photos $PROCROP_SHARED/data/photos --split benchmarks/split.json --work data/learned/saliency

1. **cache**: every one of the split's ``train`` photos (``--train-photos N``: a seeded sample of N;
   ``--extra-photos DIR``: every photo of DIR too), 6 views each (whole, mirrored, random crops; see
   :mod:`.saliency_data`) through the frozen backbone, with the teacher's targets; every ``heldout``
   photo whole, for the agreement report only (never trained on). ``<work>/cache/train-v<views>/``
   keeps one file per photo (whatever the sample), so a stopped run resumes.
2. **train**: the head (``--width`` channels, batch-normalised; ``--plain``: the first shipped
   design) on the cached maps (binary cross-entropy plus soft IoU against the soft targets, Adam,
   cosine schedule), a checkpoint ``<work>/head.pt`` after every epoch (resumed; a checkpoint made
   with other settings is refused, naming them).
3. **report**: agreement with the teacher on the held-out photos (max F-beta, beta^2 = 0.3, and
   IoU of both binarised at 0.5, in the teacher's 320 x 320 squashed frame), into
   ``<work>/report.json``; **export**: ONNX to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ProcropError
from ...model.scorer.salient_head import WIDTH, build_head, export_onnx
from .saliency_data import TEACHER_SIDE, Teacher, cache_photo, load_cache, photo_key

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "resources" / "models" / "salient_head.onnx"
BETA2 = 0.3


def _split(split: Path, photos: Path, part: str) -> list[tuple[Path, str]]:
    try:
        names = json.loads(split.read_text(encoding="utf-8"))[part]
    except (OSError, ValueError, KeyError) as exc:
        raise ProcropError(f"{split}: cannot read the '{part}' list ({exc})") from None
    missing = [n for n in names if not (photos / n).is_file()]
    if missing:
        raise ProcropError(f"{photos / missing[0]}: listed in {split} but missing ({len(missing)} missing)")
    return [(photos / n, n) for n in names]


def _extra(folders: list[Path]) -> list[tuple[Path, str]]:
    """Every photo of ``folders`` (hidden files left out; a folder given twice counted once) as
    ``(path, name)``, the name its resolved path (the cache's key: two folders of one name, or one
    folder renamed, never share a cache file)."""
    items: dict[Path, str] = {}
    for folder in folders:
        if not folder.is_dir():
            raise ProcropError(f"{folder}: no such folder of extra photos")
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in (".jpg", ".jpeg", ".png") and not path.name.startswith("."):
                items.setdefault(path, f"extra{path.resolve().as_posix()}")
    return list(items.items())


def cache(items: list[tuple[Path, str]], folder: Path, count: int, label: str, recolour: bool = False) -> list[Path]:
    """Cache every photo of ``items`` (``count`` views each, ``recolour``: see
    :func:`.saliency_data.cache_photo`); progress on stderr."""
    from ...model.scorer.runtime import LearnedModel

    folder.mkdir(parents=True, exist_ok=True)
    model, teacher = LearnedModel(), None
    files = []
    for i, (path, name) in enumerate(items):
        out = folder / f"{photo_key(name)}.npz"
        if not out.exists():
            teacher = teacher or Teacher()
            cache_photo(path, name, out, teacher, model.backbone, count, seed=int(photo_key(name)[-8:], 16),
                        recolour=recolour)
        files.append(out)
        if (i + 1) % 20 == 0 or i + 1 == len(items):
            print(f"cache {label}: {i + 1}/{len(items)}", file=sys.stderr, flush=True)
    return files


def train(files: list[Path], work: Path, epochs: int, batch: int, lr: float, seed: int,
          design: dict[str, Any] | None = None) -> Any:
    """Train (or resume) the head on the cached views; returns the trained module."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    data = load_cache(files)
    n = len(data["target"])
    design = design or {}
    head = build_head(**design)
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=1e-5)
    ckpt, start = work / "head.pt", 0
    settings = {"epochs": epochs, "batch": batch, "lr": lr, "views": n, "seed": seed, **design}
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        if state["settings"] != settings:
            raise ProcropError(f"{ckpt}: made with {state['settings']}, now {settings}; delete it to start over")
        head.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = state["epoch"]
    steps = epochs * ((n + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps)))
    for _ in range(start * ((n + batch - 1) // batch)):
        sched.step()
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(n) for _ in range(epochs)]
    for epoch in range(start, epochs):
        head.train()
        total, t0 = 0.0, time.perf_counter()
        for s in range(0, n, batch):
            idx = np.sort(orders[epoch][s:s + batch])
            c3, c4, c5 = (torch.from_numpy(data[k][idx].astype(np.float32)) for k in ("c3", "c4", "c5"))
            target = torch.from_numpy(data["target"][idx].astype(np.float32) / 255.0)[:, None]
            logits = F.interpolate(head(c3, c4, c5), size=target.shape[-2:], mode="bilinear", align_corners=False)
            p = torch.sigmoid(logits)
            inter = (p * target).sum(dim=(1, 2, 3))
            union = (p + target - p * target).sum(dim=(1, 2, 3))
            loss = F.binary_cross_entropy_with_logits(logits, target) + (1 - (inter + 1) / (union + 1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        torch.save({"model": head.state_dict(), "opt": opt.state_dict(), "epoch": epoch + 1,
                    "settings": settings}, ckpt)
        print(f"epoch {epoch + 1}/{epochs}: loss {total / n:.4f} ({time.perf_counter() - t0:.0f} s)",
              file=sys.stderr, flush=True)
    head.eval()
    return head


def fbeta_iou(preds: list[np.ndarray], teachers: list[np.ndarray]) -> dict[str, float]:
    """Max F-beta over 255 thresholds (precision and recall averaged over photos per threshold), the
    mean IoU at 0.5 and the mean absolute error of ``preds`` against the binarised ``teachers``."""
    thr = np.linspace(0, 1, 256)[1:]
    prec, rec, ious, maes = np.zeros_like(thr), np.zeros_like(thr), [], []
    for p, t in zip(preds, teachers):
        gt = t >= 0.5
        hist_pos = np.histogram(p[gt], bins=256, range=(0, 1))[0][::-1].cumsum()[::-1][1:]
        hist_all = np.histogram(p, bins=256, range=(0, 1))[0][::-1].cumsum()[::-1][1:]
        prec += hist_pos / np.maximum(hist_all, 1)
        rec += hist_pos / max(int(gt.sum()), 1)
        pb = p >= 0.5
        union = int((pb | gt).sum())
        ious.append(float((pb & gt).sum()) / union if union else 1.0)
        maes.append(float(np.abs(p - t).mean()))
    prec, rec = prec / len(preds), rec / len(preds)
    f = (1 + BETA2) * prec * rec / np.maximum(BETA2 * prec + rec, 1e-9)
    return {"max_fbeta": round(float(f.max()), 4), "iou_at_0.5": round(float(np.mean(ious)), 4),
            "mae": round(float(np.mean(maes)), 4), "photos": len(preds)}


def report(onnx_path: Path, files: list[Path]) -> dict[str, Any]:
    """Agreement of the exported head with the teacher on held-out ``files``, and its time."""
    import cv2
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    preds, coarse, teachers, times = [], [], [], []
    size = (TEACHER_SIDE, TEACHER_SIDE)
    for f in files:
        with np.load(f) as z:
            feed = {k: z[k][:1].astype(np.float32) for k in ("c3", "c4", "c5")}
            t = z["teacher"].astype(np.float32) / 255.0
        t0 = time.perf_counter()
        (out,) = session.run(None, feed)
        times.append((time.perf_counter() - t0) * 1e3)
        preds.append(cv2.resize(out[0, 0], size, interpolation=cv2.INTER_LINEAR))
        small = cv2.resize(t, (32, 32), interpolation=cv2.INTER_AREA)
        coarse.append(cv2.resize(small, size, interpolation=cv2.INTER_LINEAR))
        teachers.append(t)
    return {"head": fbeta_iou(preds, teachers),
            "teacher_at_32x32": fbeta_iou(coarse, teachers),
            "head_ms_median": round(float(np.median(times)), 3),
            "onnx_bytes": onnx_path.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m procrop.training.scorer.saliency", description="Distil U²-Netp into the salient-object head and export it as ONNX. Resumable.")
    ap.add_argument("--photos", type=Path, required=True, help="folder the split's names are relative to")
    ap.add_argument("--split", type=Path, default=Path("benchmarks/split.json"),
                    help="the split file: trains on its train photos, reports on its heldout photos")
    ap.add_argument("--work", type=Path, default=Path("data/learned/saliency"),
                    help="work folder: cache/ (one file per photo), head.pt (checkpoint), report.json")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the ONNX file to write")
    ap.add_argument("--views", type=int, default=6,
                    help="views per training photo (whole, mirrored, random crops); cached in cache/train-v<views>")
    ap.add_argument("--recolour", action="store_true",
                    help="views after the whole photo and its mirror also change light and colour (exposure, "
                         "contrast, saturation, gamma, sometimes grey or soft); cached in cache/train-v<views>-recolour")
    ap.add_argument("--epochs", type=int, default=20, help="training epochs")
    ap.add_argument("--batch", type=int, default=32, help="views per training step")
    ap.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (cosine schedule)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the initialisation, the order and --train-photos")
    ap.add_argument("--width", type=int, default=WIDTH, help="channels of the decoder")
    ap.add_argument("--plain", action="store_true",
                    help="the first shipped design: no batch normalisation, no extra 32 x 32 convolution")
    ap.add_argument("--dropout", type=float, default=0.0,
                    help="share of the backbone's input channels dropped while training (0: none)")
    ap.add_argument("--train-photos", type=int, default=0,
                    help="train on this many training photos, a seeded random sample (0: all)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N photos of each part (trials)")
    ap.add_argument("--extra-photos", type=Path, action="append", default=[], metavar="DIR",
                    help="also train on every photo (.jpg, .jpeg, .png) of DIR (repeatable): more sources "
                         "than the split's (none from a held-out source: the report measures on those)")
    args = ap.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(1)
        train_items = _split(args.split, args.photos, "train")
        held_items = _split(args.split, args.photos, "heldout")
        if args.train_photos:
            pick = np.random.default_rng(args.seed).permutation(len(train_items))[: args.train_photos]
            train_items = [train_items[i] for i in sorted(pick)]
        train_items += _extra(args.extra_photos)
        if args.limit:
            train_items, held_items = train_items[: args.limit], held_items[: args.limit]
        train_cache = f"train-v{args.views}" + ("-recolour" if args.recolour else "")
        train_files = cache(train_items, args.work / "cache" / train_cache, args.views, "train", args.recolour)
        held_files = cache(held_items, args.work / "cache" / "heldout", 1, "heldout")
        design = {"width": args.width, "norm": not args.plain, "extra": not args.plain}
        if args.dropout:
            design["dropout"] = args.dropout
        head = train(train_files, args.work, args.epochs, args.batch, args.lr, args.seed, design)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.work / "salient_head.onnx"
        export_onnx(head, tmp)
        result = report(tmp, held_files)
        result.update(train_photos=len(train_files), train_views=len(train_files) * args.views,
                      command=" ".join(["python -m procrop.training.scorer.saliency", *(argv or sys.argv[1:])]))
        tmp.replace(args.out)
        (args.work / "report.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(result, indent=2))
    except ProcropError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
