"""End-to-end cropping speed, side by side with the peers, in one run.

For every photo each method produces crops for three ratios (1:1, 4:5, 16:9), including the
decode of the file:

* ``procrop``          boxes, scores and reasons, top-5 per ratio (what ``procrop crop`` returns);
* ``procrop-fast``     the same with ``profile="fast"`` (classical perception, ``--fast``);
* ``procrop+pixels``   the same plus the best crop of each ratio as a 400-px thumbnail in memory;
* ``vips-attention``   ``pyvips.Image.thumbnail(path, w, height=h, crop="attention")`` per ratio,
                       a 400-px thumbnail in memory (libvips' smart crop, as sharp uses it);
* ``smartcrop.py``     ``SmartCrop().crop(image, w, h)`` per ratio (the Python port of smartcrop.js);
* ``centre``           decode (shrink-on-load) and the centred box (the floor of any method).

Methods run interleaved, image by image, so machine noise hits all of them alike. Peers are
skipped with a message when their package is missing (``pip install 'procrop[peers]'``).

    python benchmarks/bench_crop.py --photos ../shared/data/photos [--limit 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

RATIOS = ((1, 1), (4, 5), (16, 9))
THUMB = 400


def thumb_size(rw: int, rh: int) -> tuple[int, int]:
    if rw >= rh:
        return THUMB, round(THUMB * rh / rw)
    return round(THUMB * rw / rh), THUMB


def make_methods(with_smartcrop: bool, smartcrop_every: int) -> dict[str, Callable[[str], object]]:
    from PIL import Image

    from procrop import Cropper
    from procrop.geometry import largest_box

    cropper = Cropper()
    fast = Cropper(profile="fast")
    labels = [f"{a}:{b}" for a, b in RATIOS]
    methods: dict[str, Callable[[str], object]] = {}

    def procrop_boxes(path: str) -> object:
        return cropper.process(path, labels, top_k=5)

    def procrop_pixels(path: str) -> object:
        result = cropper.process(path, labels, top_k=5)
        im = Image.open(path)
        im.draft("RGB", (2 * THUMB, 2 * THUMB))
        im = im.convert("RGB")
        k = im.width / result.width
        out = []
        for label in labels:
            x, y, w, h = result.for_ratio(label)[0].box
            box = (x * k, y * k, (x + w) * k, (y + h) * k)
            out.append(im.resize(thumb_size(w, h), Image.Resampling.BILINEAR, box=box))
        return out

    methods["procrop"] = procrop_boxes
    methods["procrop-fast"] = lambda path: fast.process(path, labels, top_k=5)
    methods["procrop+pixels"] = procrop_pixels

    try:
        import pyvips

        def vips_attention(path: str) -> object:
            out = []
            for rw, rh in RATIOS:
                w, h = thumb_size(rw, rh)
                out.append(pyvips.Image.thumbnail(path, w, height=h, crop="attention").write_to_memory())
            return out

        methods["vips-attention"] = vips_attention
    except (ImportError, OSError) as exc:
        print(f"skipping vips-attention: {exc} (pip install 'procrop[peers]')", file=sys.stderr)

    if with_smartcrop:
        try:
            from smartcrop import SmartCrop

            sc = SmartCrop()

            def smartcrop_py(path: str) -> object:
                im = Image.open(path).convert("RGB")
                return [sc.crop(im, width=100 * rw, height=100 * rh) for rw, rh in RATIOS]

            smartcrop_py.every = smartcrop_every  # type: ignore[attr-defined]
            methods["smartcrop.py"] = smartcrop_py
        except ImportError as exc:
            print(f"skipping smartcrop.py: {exc} (pip install 'procrop[peers]')", file=sys.stderr)

    def centre(path: str) -> object:
        im = Image.open(path)
        im.draft("RGB", (THUMB, THUMB))
        im = im.convert("RGB")
        return [largest_box(im.width, im.height, rw / rh) for rw, rh in RATIOS]

    methods["centre"] = centre
    return methods


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"))
    ap.add_argument("--limit", type=int, default=0, help="use the first N photos (0: all)")
    ap.add_argument("--no-smartcrop", action="store_true", help="skip smartcrop.py (slow)")
    ap.add_argument("--smartcrop-every", type=int, default=5, help="time smartcrop.py on every Nth photo only")
    ap.add_argument("--json", help="write the raw timings here")
    args = ap.parse_args()

    photos = sorted(
        str(p) for p in Path(args.photos).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")
    )
    if args.limit:
        photos = photos[: args.limit]
    if not photos:
        sys.exit(f"no photos under {args.photos}")
    methods = make_methods(not args.no_smartcrop, args.smartcrop_every)
    times: dict[str, list[float]] = {m: [] for m in methods}
    warmup = photos[:3]
    for path in warmup:  # load cascades, caches, libvips
        for fn in methods.values():
            fn(path)
    names = list(methods)
    for i, path in enumerate(photos):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            fn = methods[name]
            if getattr(fn, "every", 1) > 1 and i % fn.every:  # type: ignore[attr-defined]
                continue
            t = time.perf_counter()
            fn(path)
            times[name].append((time.perf_counter() - t) * 1e3)
        if (i + 1) % 50 == 0:
            print(f"{i + 1}/{len(photos)}", file=sys.stderr)

    vips = statistics.median(times["vips-attention"]) if times.get("vips-attention") else None
    print(f"\n{len(photos)} photos from {args.photos}; 3 ratios (1:1, 4:5, 16:9) per photo, decode included")
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}\n")
    print("| method | n | median ms/photo | p90 ms | vs vips-attention (median) |")
    print("|---|---:|---:|---:|---:|")
    for name, ts in times.items():
        if not ts:
            continue
        med = statistics.median(ts)
        p90 = sorted(ts)[int(0.9 * (len(ts) - 1))]
        ratio = f"{med / vips:.2f}x" if vips else "n/a"
        print(f"| {name} | {len(ts)} | {med:.1f} | {p90:.1f} | {ratio} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"photos": len(photos), "times_ms": times}, indent=1))


if __name__ == "__main__":
    main()
