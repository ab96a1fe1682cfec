"""End-to-end cropping speed, side by side with the peers, in one run.

For every photo each method produces crops for three ratios (1:1, 4:5, 16:9), including the
decode of the file:

* ``procrop (default)``: ``Cropper().process(path, ratios, top_k=5)``: boxes, scores and
  reasons, up to 5 crops per ratio (``procrop crop --top-k 5``; ``procrop crop`` returns 3 unless
  told), scored by the default scorer (the preference scorer over the learned box scorer's search);
* ``procrop --scorer learned``: the same with ``scorer="learned"`` (the learned box scorer alone);
* ``procrop --fast``: the same with ``profile="fast"`` (classical perception, ``--fast``);
* ``procrop --scorer classic``: the same with ``scorer="classic"`` (the hand-set scorer with
  retrieval, the former default);
* ``vips-attention``: ``pyvips.Image.thumbnail(path, w, height=h, crop="attention")`` per ratio, a
  400-px thumbnail in memory (libvips' smart crop, as sharp uses it);
* ``smartcrop.py``: ``SmartCrop().crop(image, w, h)`` per ratio (the Python port of smartcrop.js),
  timed on every ``--smartcrop-every``-th photo;
* ``centre``: decode (shrink-on-load) and the centred box (the floor of any method).

Methods run interleaved, image by image, their order rotated, so machine noise hits all of them
alike. Peers are skipped with a message when their package is missing (``pip install
'procrop[peers]'``). The table (median ms per photo and the ratio to vips-attention) is printed and
written to ``--md`` (``benchmarks/results/bench_crop.md``, which ``benchmarks/recovery.py`` embeds in
``RESULTS.md``).

    python benchmarks/bench_crop.py --photos ../shared/data/photos [--limit 200] [--json out.json]
        [--md benchmarks/results/bench_crop.md] [--heldout] [--no-classic]

``--heldout``: only the held-out photos of ``benchmarks/split.json`` (the learned scorer never saw
them); ``--no-classic``: leave the classic-scorer row out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RATIOS = ((1, 1), (4, 5), (16, 9))
LABELS = [f"{a}:{b}" for a, b in RATIOS]
THUMB = 400
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MD = ROOT / "benchmarks" / "results" / "bench_crop.md"
PROCROP = {  # row name -> Cropper keyword arguments
    "procrop (default)": {},
    "procrop --scorer learned": {"scorer": "learned"},
    "procrop --fast": {"profile": "fast"},
    "procrop --scorer classic": {"scorer": "classic"},
}
Method = Callable[[str], object]


def thumb_size(rw: int, rh: int) -> tuple[int, int]:
    """The thumbnail size of ratio ``rw:rh``, :data:`THUMB` on its long side."""
    if rw >= rh:
        return THUMB, round(THUMB * rh / rw)
    return round(THUMB * rw / rh), THUMB


def procrop_methods(classic: bool = True) -> tuple[dict[str, Method], str | None]:
    """procrop's rows (:data:`PROCROP`, the classic scorer's only when ``classic``) and the
    default's model name."""
    from procrop import Cropper

    croppers = {name: Cropper(**kwargs) for name, kwargs in PROCROP.items() if classic or "classic" not in name}

    def process(cropper: Any) -> Method:
        return lambda path: cropper.process(path, LABELS, top_k=5)

    methods = {name: process(c) for name, c in croppers.items()}
    return methods, croppers["procrop (default)"].model_name


def vips_method() -> dict[str, Method]:
    """libvips' attention thumbnail per ratio, or nothing when pyvips is missing."""
    try:
        import pyvips
    except (ImportError, OSError) as exc:
        print(f"skipping vips-attention: {exc} (pip install 'procrop[peers]')", file=sys.stderr)
        return {}

    def vips_attention(path: str) -> object:
        out = []
        for rw, rh in RATIOS:
            w, h = thumb_size(rw, rh)
            out.append(pyvips.Image.thumbnail(path, w, height=h, crop="attention").write_to_memory())
        return out

    return {"vips-attention": vips_attention}


def smartcrop_method(every: int) -> dict[str, Method]:
    """smartcrop.py per ratio (timed on every ``every``-th photo), or nothing when it is missing."""
    try:
        from PIL import Image
        from smartcrop import SmartCrop
    except ImportError as exc:
        print(f"skipping smartcrop.py: {exc} (pip install 'procrop[peers]')", file=sys.stderr)
        return {}
    sc = SmartCrop()

    def smartcrop_py(path: str) -> object:
        im = Image.open(path).convert("RGB")
        return [sc.crop(im, width=100 * rw, height=100 * rh) for rw, rh in RATIOS]

    smartcrop_py.every = every  # type: ignore[attr-defined]
    return {"smartcrop.py": smartcrop_py}


def centre(path: str) -> object:
    """Decode with shrink-on-load and the centred box per ratio."""
    from PIL import Image

    from procrop.geometry import largest_box

    im = Image.open(path)
    im.draft("RGB", (THUMB, THUMB))
    im = im.convert("RGB")
    return [largest_box(im.width, im.height, rw / rh) for rw, rh in RATIOS]


def make_methods(with_smartcrop: bool, smartcrop_every: int, classic: bool = True
                 ) -> tuple[dict[str, Method], str | None]:
    """Every row in table order, and the default's model name."""
    methods, model = procrop_methods(classic)
    methods.update(vips_method())
    if with_smartcrop:
        methods.update(smartcrop_method(smartcrop_every))
    methods["centre"] = centre
    return methods, model


def time_methods(methods: dict[str, Method], photos: list[str]) -> dict[str, list[float]]:
    """Milliseconds per photo and method, interleaved photo by photo in a rotating order, after an
    untimed warm-up on the first three photos (model loads, caches)."""
    for path in photos[:3]:
        for fn in methods.values():
            fn(path)
    times: dict[str, list[float]] = {m: [] for m in methods}
    names = list(methods)
    for i, path in enumerate(photos):
        for name in names[i % len(names):] + names[: i % len(names)]:
            fn = methods[name]
            if getattr(fn, "every", 1) > 1 and i % fn.every:  # type: ignore[attr-defined]
                continue
            t = time.perf_counter()
            fn(path)
            times[name].append((time.perf_counter() - t) * 1e3)
        if (i + 1) % 50 == 0:
            print(f"{i + 1}/{len(photos)}", file=sys.stderr)
    return times


def table_markdown(times: dict[str, list[float]], meta: dict[str, Any]) -> str:
    """The speed table with a line on how it was measured (markdown, with a ``#`` title)."""
    vips = statistics.median(times["vips-attention"]) if times.get("vips-attention") else None
    setup = (f"`{meta['command']}` ({meta['date']}): {meta['photos']} photos from `{meta['photos_dir']}`; "
             f"3 ratios ({', '.join(LABELS)}) per photo, decode included; procrop returns the top 5 per "
             f"ratio (default: `{meta['model']}`); methods interleaved photo by photo. "
             f"Machine: {meta['machine']}" + (f"; load average {meta['load']} (other jobs shared the "
             "machine, so absolute times are inflated and the ratios only indicative)" if "load" in meta else "") + ".")
    header = "| method | n | median ms/photo | p90 ms | vs vips-attention (median) |"
    lines = ["# Cropping speed", "", setup, "", header, "|---|---:|---:|---:|---:|"]
    for name, ts in times.items():
        if not ts:
            continue
        med = statistics.median(ts)
        p90 = sorted(ts)[int(0.9 * (len(ts) - 1))]
        ratio = f"{med / vips:.2f}x" if vips else "n/a"
        lines.append(f"| {name} | {len(ts)} | {med:.1f} | {p90:.1f} | {ratio} |")
    return "\n".join(lines) + "\n"


def list_photos(root: str, limit: int, heldout: bool = False) -> list[str]:
    """The JPEG and PNG files under ``root`` (only the held-out ones of ``benchmarks/split.json``
    when ``heldout``), sorted, the first ``limit`` (0: all)."""
    exts = (".jpg", ".jpeg", ".png")
    photos = sorted(str(p) for p in Path(root).rglob("*") if p.suffix.lower() in exts)
    if heldout:
        names = set(json.loads((ROOT / "benchmarks" / "split.json").read_text(encoding="utf-8"))["heldout"])
        photos = [p for p in photos if Path(p).relative_to(root).as_posix() in names]
    return photos[:limit] if limit else photos


def main() -> None:
    from procrop.helptext import plain

    ap = argparse.ArgumentParser(description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", default=str(ROOT.parent / "shared" / "data" / "photos"),
                    help="folder of photos to time (searched recursively)")
    ap.add_argument("--limit", type=int, default=0, help="use the first N photos (0: all)")
    ap.add_argument("--no-smartcrop", action="store_true", help="skip smartcrop.py (slow)")
    ap.add_argument("--smartcrop-every", type=int, default=5, help="time smartcrop.py on every Nth photo only")
    ap.add_argument("--heldout", action="store_true", help="only the held-out photos of benchmarks/split.json")
    ap.add_argument("--no-classic", action="store_true", help="leave the classic-scorer row out")
    ap.add_argument("--json", help="write the raw timings here")
    ap.add_argument("--md", type=Path, default=DEFAULT_MD, help="write the markdown table here")
    args = ap.parse_args()

    photos = list_photos(args.photos, args.limit, args.heldout)
    if not photos:
        sys.exit(f"no photos under {args.photos}")
    methods, model = make_methods(not args.no_smartcrop, args.smartcrop_every, not args.no_classic)
    load_before = os.getloadavg()[0]
    times = time_methods(methods, photos)
    meta = {"load": f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end", "command": "python " + " ".join(["benchmarks/bench_crop.py", *sys.argv[1:]]),
            "date": time.strftime("%Y-%m-%d", time.gmtime()), "photos": len(photos),
            "photos_dir": args.photos, "model": model,
            "machine": f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} CPUs, "
                       f"Python {platform.python_version()}"}
    table = table_markdown(times, meta)
    print("\n" + table)
    args.md.parent.mkdir(parents=True, exist_ok=True)
    args.md.write_text(table, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps({"photos": len(photos), "times_ms": times}, indent=1))


if __name__ == "__main__":
    main()
