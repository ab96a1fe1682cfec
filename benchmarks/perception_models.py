"""Speed and face recall of the shipped perception models, against the old Haar cascades.

On the BSDS500 train+val photos (300, many people) and the photo pool (517), it times every model
(median and p90 ms per image; MoveNet per person) and counts faces per photo from four sources:

* ``yunet_n``   :class:`YuNetFaceDetector` (the default: YuNet-n, one letterboxed 320 px pass);
* ``yunet_s``   the other YuNet variant (same family, so not fully independent);
* ``haar``      the existing :class:`HaarFaceDetector`;
* ``pose``      faces implied by YOLOX people whose MoveNet nose and both eyes score >= 0.3
                (an independent model family);

and ``yunet_n_tiles`` / ``yunet_s_tiles`` (plus the 2x2 zoomed pass), scored but not voting.
Faces of all sources are clustered per photo (one face's centre inside the other's box, grown by
25%); a cluster found by >= 2 voting sources is a *consensus* face. Recall of each source is
measured against the consensus and against the union. The photos where the sources disagree most
go to a contact sheet for a human to judge.

    python benchmarks/perception_models.py --shared ../shared [--limit N]

Writes ``benchmarks/results/perception_models.md``, ``benchmarks/results/faces_contact.png`` and
``benchmarks/results/faces_disputed.png`` (face crops found by one voter only, and consensus faces
the default detector missed).
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from procrop.perception.detectors import Detection, HaarFaceDetector
from procrop.perception.faces import YuNetFaceDetector
from procrop.perception.objects import YoloxObjectDetector
from procrop.perception.pose import PoseEstimator

VOTERS = ("yunet_s", "yunet_n", "haar", "pose")
READING = "## Reading the contact sheets"
SOURCES = VOTERS + ("yunet_n_tiles", "yunet_s_tiles")
COLOURS = {  # BGR
    "yunet_s": (0, 220, 0), "yunet_n": (255, 200, 0), "haar": (0, 0, 255),
    "pose": (0, 230, 255), "yunet_n_tiles": (255, 0, 255), "yunet_s_tiles": (128, 0, 128),
}


@dataclass
class PhotoResult:
    path: Path
    dataset: str
    faces: dict[str, list[Detection]]
    people: int
    clusters: list[dict[str, Detection]] = field(default_factory=list)


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def photo_list(shared: Path, limit: int | None) -> list[tuple[str, Path]]:
    bsds = sorted((shared / "data" / "bsds500_trainval" / "images").glob("*.jpg"))
    photos = shared / "data" / "photos"
    with open(photos / "MANIFEST.csv", newline="", encoding="utf-8") as fh:
        pool = [photos / row["file"] for row in csv.DictReader(fh)]
    if limit:
        bsds, pool = bsds[:limit], pool[:limit]
    return [("bsds500", p) for p in bsds] + [("pool", p) for p in pool]


def implied_face(person: Detection, min_score: float = 0.3) -> Detection | None:
    """A face box implied by a person's MoveNet nose and eyes, or None when they are not seen."""
    pts = {n: (x, y, s) for n, x, y, s in person.keypoints}
    if min(pts["nose"][2], pts["left_eye"][2], pts["right_eye"][2]) < min_score:
        return None
    (lx, ly, _), (rx, ry, _), (nx, ny, _) = pts["left_eye"], pts["right_eye"], pts["nose"]
    eye_dist = float(np.hypot(lx - rx, ly - ry))
    ears = [pts[e] for e in ("left_ear", "right_ear") if pts[e][2] >= min_score]
    side = max(2.5 * eye_dist, 0.06 * person.box[3])
    if len(ears) == 2:
        side = max(side, 1.1 * abs(ears[0][0] - ears[1][0]))
    cx, cy = (lx + rx + nx) / 3, (ly + ry + 2 * ny) / 4
    score = float(np.mean([pts["nose"][2], pts["left_eye"][2], pts["right_eye"][2]]))
    return Detection((cx - side / 2, cy - 0.45 * side, side, side), score, "face", "pose")


class Timer:
    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = defaultdict(list)

    def run(self, name: str, fn, *args):
        t = time.perf_counter()
        out = fn(*args)
        self.ms[name].append((time.perf_counter() - t) * 1000)
        return out


def analyse(dataset: str, path: Path, models: dict, timer: Timer, opencv_every: int, index: int) -> PhotoResult:
    rgb = read_rgb(path)
    faces = {
        "yunet_s": timer.run("YuNet-s (320 letterbox)", models["yunet_s"].detect, rgb),
        "yunet_n": timer.run("YuNet-n (320 letterbox)", models["yunet_n"].detect, rgb),
        "haar": timer.run("Haar cascades (existing)", models["haar"].detect, rgb),
        "yunet_n_tiles": timer.run("YuNet-n + 2x2 zoomed pass", models["tiles_n"].detect, rgb),
        "yunet_s_tiles": timer.run("YuNet-s + 2x2 zoomed pass", models["tiles"].detect, rgb),
    }
    objects = timer.run("YOLOX-nano onnxruntime", models["yolox"].detect, rgb)
    if index % opencv_every == 0:
        timer.run("YOLOX-nano OpenCV DNN", models["yolox_cv"].detect, rgb)
    people = [d for d in objects if d.kind == "person" and d.score >= 0.5]
    posed = []
    for person in people:
        posed += timer.run("MoveNet Lightning (per person)", models["pose"].annotate, rgb, [person])
    faces["pose"] = [f for f in (implied_face(p) for p in posed) if f is not None]
    return PhotoResult(path, dataset, faces, len(people))


def _same_face(a: Detection, b: Detection, grow: float = 0.25) -> bool:
    """One face's centre inside the other's box grown by ``grow`` (either way round)."""

    def centre_in(p: Detection, q: Detection) -> bool:
        cx, cy = p.box[0] + p.box[2] / 2, p.box[1] + p.box[3] / 2
        x, y, w, h = q.box
        return x - grow * w <= cx <= x + (1 + grow) * w and y - grow * h <= cy <= y + (1 + grow) * h

    return centre_in(a, b) or centre_in(b, a)


def cluster(result: PhotoResult) -> None:
    """Group the faces of all sources in one photo; each cluster maps source → its face."""
    clusters: list[dict[str, Detection]] = []
    items = sorted(((s, f) for s in SOURCES for f in result.faces[s]), key=lambda t: -t[1].box[2])
    for source, face in items:
        for c in clusters:
            if source not in c and any(_same_face(face, g) for g in c.values()):
                c[source] = face
                break
        else:
            clusters.append({source: face})
    result.clusters = clusters


def votes(c: dict[str, Detection]) -> int:
    return sum(1 for s in VOTERS if s in c)


def recall_table(results: list[PhotoResult]) -> list[str]:
    consensus = [c for r in results for c in r.clusters if votes(c) >= 2]
    independent = [c for c in consensus if "haar" in c or "pose" in c]
    union = [c for r in results for c in r.clusters if votes(c) >= 1]
    lines = [
        (
            f"Consensus faces (>= 2 of {', '.join(VOTERS)}): {len(consensus)}; of which confirmed by "
            f"Haar or pose (a non-YuNet family): {len(independent)}; union of voters: {len(union)}."
        ),
        "",
        (
            "| source | faces found | recall vs consensus | recall vs non-YuNet-confirmed | recall vs union "
            "| unconfirmed (found by no other voter) | photos with >= 1 face |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for s in SOURCES:
        found = sum(len(r.faces[s]) for r in results)
        lonely = sum(1 for r in results for c in r.clusters if s in c and votes(c) - (s in VOTERS) == 0)
        photos = sum(1 for r in results if r.faces[s])
        lines.append(
            f"| {s} | {found} | {_rate(consensus, s)} | {_rate(independent, s)} | {_rate(union, s)} "
            f"| {lonely} | {photos} |"
        )
    return lines


def _rate(clusters: list[dict[str, Detection]], source: str) -> str:
    if not clusters:
        return "n/a"
    hit = sum(1 for c in clusters if source in c)
    return f"{hit / len(clusters):.2f} ({hit}/{len(clusters)})"


def timing_table(timer: Timer) -> list[str]:
    lines = ["| model | runs | median ms | p90 ms | min ms |", "|---|---|---|---|---|"]
    for name, ms in timer.ms.items():
        lines.append(
            f"| {name} | {len(ms)} | {np.median(ms):.1f} | {np.percentile(ms, 90):.1f} | {np.min(ms):.1f} |"
        )
    return lines


def disagreement(r: PhotoResult) -> float:
    """How much the voters disagree in a photo: a 2-2 split counts most, unanimity nothing."""
    n = len(VOTERS)
    return float(sum(votes(c) * (n - votes(c)) for c in r.clusters) + sum(
        1 for c in r.clusters if votes(c) == 0
    ))


def contact_sheet(results: list[PhotoResult], out: Path, n: int = 20, cols: int = 4) -> list[PhotoResult]:
    """Draw the ``n`` most disputed photos with every source's boxes; returns them."""
    picked = sorted(results, key=lambda r: -disagreement(r))[:n]
    cell_w, cell_h, cap = 320, 240, 34
    rows = (len(picked) + cols - 1) // cols
    sheet = np.full((60 + rows * (cell_h + cap), cols * cell_w, 3), 255, np.uint8)
    x = 8
    for s in SOURCES:
        cv2.rectangle(sheet, (x, 18), (x + 24, 38), COLOURS[s], 3)
        cv2.putText(sheet, s, (x + 30, 35), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        x += 36 + 10 * len(s)
    for i, r in enumerate(picked):
        tile = _draw(r, cell_w, cell_h)
        y0, x0 = 60 + (i // cols) * (cell_h + cap), (i % cols) * cell_w
        sheet[y0 : y0 + tile.shape[0], x0 : x0 + tile.shape[1]] = tile
        counts = " ".join(f"{s[:7]}={len(r.faces[s])}" for s in SOURCES[:4]) + f" n_tl={len(r.faces['yunet_n_tiles'])}"
        cv2.putText(sheet, r.path.name[:34], (x0 + 4, y0 + cell_h + 13), 0, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(sheet, counts, (x0 + 4, y0 + cell_h + 29), 0, 0.38, (60, 60, 60), 1, cv2.LINE_AA)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return picked


def _draw(r: PhotoResult, cell_w: int, cell_h: int) -> np.ndarray:
    bgr = cv2.imread(str(r.path), cv2.IMREAD_COLOR)
    k = min(cell_w / bgr.shape[1], cell_h / bgr.shape[0])
    img = cv2.resize(bgr, (int(bgr.shape[1] * k), int(bgr.shape[0] * k)), interpolation=cv2.INTER_AREA)
    widths = {"yunet_s": 1, "yunet_n": 3, "haar": 2, "pose": 2, "yunet_n_tiles": 1, "yunet_s_tiles": 1}
    for s in ("haar", "pose", "yunet_s_tiles", "yunet_n_tiles", "yunet_n", "yunet_s"):
        for f in r.faces[s]:
            x, y, w, h = (round(float(v) * k) for v in f.box)
            pad = 2 if s == "yunet_s" else 0
            cv2.rectangle(img, (x - pad, y - pad), (x + w + pad, y + h + pad), COLOURS[s], widths[s])
    return img


def disputed_sheet(results: list[PhotoResult], out: Path, per_row: int = 14, side: int = 80) -> None:
    """Face crops, one row of up to ``per_row`` per group: faces only one voter found (for
    ``yunet_n``, ``yunet_s``, ``pose``) and consensus faces the default ``yunet_n`` missed."""
    groups: dict[str, list[tuple[Path, Detection]]] = {
        "only yunet_n": [], "only yunet_s": [], "only pose": [], "missed by yunet_n": [],
    }
    for r in results:
        for c in r.clusters:
            if votes(c) == 1:
                for s in ("yunet_n", "yunet_s", "pose"):
                    if s in c:
                        groups[f"only {s}"].append((r.path, c[s]))
            elif votes(c) >= 2 and "yunet_n" not in c:
                groups["missed by yunet_n"].append((r.path, next(c[s] for s in VOTERS if s in c)))
    label_w = 150
    sheet = np.full((len(groups) * (side + 8) + 8, label_w + per_row * (side + 4), 3), 255, np.uint8)
    for g, (title, items) in enumerate(groups.items()):
        y0 = 8 + g * (side + 8)
        cv2.putText(sheet, f"{title} ({len(items)})", (4, y0 + side // 2), 0, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        for i, (path, face) in enumerate(items[:per_row]):
            x0 = label_w + i * (side + 4)
            sheet[y0 : y0 + side, x0 : x0 + side] = _face_crop(path, face, side)
    cv2.imwrite(str(out), sheet)


def _face_crop(path: Path, face: Detection, side: int) -> np.ndarray:
    """A square crop of ``face`` (grown 60%) from the photo, resized to ``side``."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    x, y, w, h = face.box
    s = max(w, h) * 1.6
    x0, y0 = round(x + w / 2 - s / 2), round(y + h / 2 - s / 2)
    n = max(2, round(s))
    crop = np.zeros((n, n, 3), np.uint8)
    ax, ay = max(0, x0), max(0, y0)
    bx, by = min(bgr.shape[1], x0 + n), min(bgr.shape[0], y0 + n)
    if bx > ax and by > ay:
        crop[ay - y0 : by - y0, ax - x0 : bx - x0] = bgr[ay:by, ax:bx]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


def report(results: list[PhotoResult], timer: Timer, picked: list[PhotoResult], args) -> str:
    lines = [
        "# Perception models: speed and face recall",
        "",
        (
            f"`python benchmarks/perception_models.py` on {platform.processor() or platform.machine()}, "
            f"{cv2.getNumThreads()} OpenCV threads, OpenCV {cv2.__version__}. Images as stored "
            "(BSDS 481x321, pool long side <= 1024)."
        ),
        "",
        "## Milliseconds per image (per person for MoveNet)",
        "",
        *timing_table(timer),
        "",
        "## Faces",
        "",
    ]
    for name in ("bsds500", "pool", None):
        subset = [r for r in results if name is None or r.dataset == name]
        title = name or "all"
        lines += [f"### {title} ({len(subset)} photos, {sum(r.people for r in subset)} YOLOX people >= 0.5)", ""]
        lines += recall_table(subset) + [""]
    lines += [
        "## Contact sheets",
        "",
        "`faces_disputed.png`: face crops found by one voter only, and consensus faces yunet_n missed.",
        "`faces_contact.png`: the most disputed photos, in order:",
        "",
    ]
    lines += [f"- {r.dataset}/{r.path.name}: " + ", ".join(f"{s} {len(r.faces[s])}" for s in SOURCES) for r in picked]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from procrop.helptext import plain

    parser = argparse.ArgumentParser(description=plain(__doc__.splitlines()[0]))
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared",
                        help="the shared data folder (models and data sets)")
    parser.add_argument("--limit", type=int, default=None, help="at most N photos per dataset")
    parser.add_argument("--opencv-every", type=int, default=4, help="time OpenCV DNN on every Nth photo")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder of the results")
    args = parser.parse_args(argv)
    models = {
        "yunet_s": YuNetFaceDetector(variant="s"), "yunet_n": YuNetFaceDetector(variant="n"),
        "tiles": YuNetFaceDetector(variant="s", tiles=2), "tiles_n": YuNetFaceDetector(tiles=2),
        "haar": HaarFaceDetector(),
        "yolox": YoloxObjectDetector(backend="onnxruntime"), "yolox_cv": YoloxObjectDetector(backend="opencv"),
        "pose": PoseEstimator(backend="litert"),
    }
    warm = np.zeros((64, 64, 3), np.uint8)
    for key in ("yunet_s", "yunet_n", "tiles", "tiles_n", "haar", "yolox", "yolox_cv"):
        models[key].detect(warm)
    models["pose"].annotate(warm, [Detection((0, 0, 64, 64), 1.0, "person")])
    timer = Timer()
    results = []
    for i, (dataset, path) in enumerate(photo_list(args.shared, args.limit)):
        result = analyse(dataset, path, models, timer, args.opencv_every, i)
        cluster(result)
        results.append(result)
    picked = contact_sheet(results, args.out / "faces_contact.png")
    disputed_sheet(results, args.out / "faces_disputed.png")
    text = report(results, timer, picked, args)
    md = args.out / "perception_models.md"
    if md.exists():  # keep the hand-written reading of the contact sheets across re-runs
        old = md.read_text(encoding="utf-8")
        if READING in old:
            text += "\n" + old[old.index(READING) :]
    md.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
