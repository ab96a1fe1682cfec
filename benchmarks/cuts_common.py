"""Shared parts of the cut benchmarks (:mod:`cuts`, :mod:`cuts_salient`): geometry of avoidable
cuts, loading, and the methods compared (procrop's croppers, centre, smartcrop.py, libvips)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from procrop.evaluation.peers import vips_smartcrop_box
from procrop.scoring.protection import inside_fractions


from procrop.evaluation.peers import vips_smartcrop_box
from procrop.scoring.protection import inside_fractions

CUT_LO, CUT_HI = 0.02, 0.97
HI_FACE = 0.9  # second, higher-precision face set (YuNet score)
SCALES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
BANDS = {"neck": (0.12, 0.22), "knees": (0.68, 0.78), "ankles": (0.90, 0.98)}
SPEED_RATIOS = ("1:1", "4:5", "16:9")
CROPPERS: dict[str, dict[str, str]] = {  # procrop's methods -> Cropper keyword arguments
    "procrop": {},
    "procrop-learned": {"scorer": "learned"},
    "procrop-classic": {"scorer": "classic"},
    "procrop-fast": {"profile": "fast"},
}
ALL_METHODS = (*CROPPERS, "centre", "smartcrop", "vips-attention", "vips-entropy")
PEERS = ("vips-attention", "smartcrop", "vips-entropy", "centre")  # tie-break order for "best peer"
EXTS = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"}

Box = tuple[float, float, float, float]


# ----------------------------------------------------------------------------- geometry


def ratio_value(label: str) -> float:
    a, b = label.replace("/", ":").split(":")
    return float(Fraction(a) / Fraction(b))


def largest(W: int, H: int, r: float) -> tuple[int, int]:
    """Largest (w, h) of ratio r inside W x H."""
    if W / H >= r:
        h = H
        w = min(W, max(1, round(H * r)))
    else:
        w = W
        h = min(H, max(1, round(W / r)))
    return w, h


def shares(boxes: np.ndarray, crop: Box) -> np.ndarray:
    """Share of each box (n, 4: x, y, w, h) inside crop."""
    if len(boxes) == 0:
        return np.zeros(0)
    return inside_fractions(np.asarray([crop], dtype=np.float64), list(boxes))[:, 0]


def is_cut(s: np.ndarray) -> np.ndarray:
    return (s > CUT_LO) & (s < CUT_HI)


def _positions(total: int, size: int, step: int) -> np.ndarray:
    pos = np.arange(0, total - size + 1, step, dtype=np.float64)
    if len(pos) == 0 or pos[-1] != total - size:
        pos = np.append(pos, total - size)
    return pos


def avoidable(boxes: np.ndarray, W: int, H: int, r: float) -> Box | None:
    """A box of ratio r keeping every box whole (>= 97 % inside), or None: exhaustive on a grid of
    positions (step ~ short side / 200, at least 1 px) at the largest size and 0.9 ... 0.3 of it."""
    if len(boxes) == 0:
        return None
    w0, h0 = largest(W, H, r)
    step = max(1, round(min(W, H) / 200))
    need = CUT_HI * np.maximum(boxes[:, 2] * boxes[:, 3], 1e-9)
    bx0, by0 = boxes[:, 0], boxes[:, 1]
    bx1, by1 = bx0 + boxes[:, 2], by0 + boxes[:, 3]
    for s in SCALES:
        w, h = max(1, round(w0 * s)), max(1, round(h0 * s))
        xs, ys = _positions(W, w, step), _positions(H, h, step)
        ox = np.clip(np.minimum(bx1[None], xs[:, None] + w) - np.maximum(bx0[None], xs[:, None]), 0, None)
        oy = np.clip(np.minimum(by1[None], ys[:, None] + h) - np.maximum(by0[None], ys[:, None]), 0, None)
        # prune: an x (y) position is useless if some box is not covered enough along x alone
        okx = np.all(ox * boxes[None, :, 3] >= need[None], axis=1)
        oky = np.all(oy * boxes[None, :, 2] >= need[None], axis=1)
        if not okx.any() or not oky.any():
            continue
        ox, oy, xs2, ys2 = ox[okx], oy[oky], xs[okx], ys[oky]
        good = np.all(ox[:, None, :] * oy[None, :, :] >= need[None, None, :], axis=2)
        if good.any():
            i, j = np.argwhere(good)[0]
            return (float(xs2[i]), float(ys2[j]), float(w), float(h))
    return None


def bad_person_cuts(persons: np.ndarray, crop: Box, W: int, H: int) -> list[str]:
    """Joint-band / mid-body crossings of the crop's edges (edges on the photo border ignored)."""
    out: list[str] = []
    x, y, w, h = crop
    edges_y = [e for e in (y, y + h) if 1 <= e <= H - 1]
    edges_x = [e for e in (x, x + w) if 1 <= e <= W - 1]
    for px, py, pw, ph in persons:
        if pw <= 0 or ph <= 0:
            continue
        if x < px + pw and x + w > px:  # top/bottom edges span the person horizontally
            for e in edges_y:
                t = (e - py) / ph
                for name, (lo, hi) in BANDS.items():
                    if lo <= t <= hi:
                        out.append(name)
        if y < py + ph and y + h > py:
            for e in edges_x:
                if px + 0.2 * pw <= e <= px + 0.8 * pw:
                    out.append("side")
    return out


# ----------------------------------------------------------------------------- loading


def load_rgb(path: str) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def verify_vips_box(path: str, ratio: float) -> dict[str, Any]:
    """Check on one photo that the box read from xoffset/yoffset is exactly where the crop's pixels
    are (template matching the crop against the whole image)."""
    import cv2
    import pyvips

    im = pyvips.Image.new_from_file(path).autorot()
    a = np.ndarray(buffer=im.write_to_memory(), dtype=np.uint8, shape=(im.height, im.width, im.bands))
    w, h = largest(im.width, im.height, ratio)
    res = {}
    for mode in ("attention", "entropy"):
        out = im.smartcrop(w, h, interesting=mode)
        c = np.ndarray(buffer=out.write_to_memory(), dtype=np.uint8, shape=(out.height, out.width, out.bands))
        bx = (float(-out.xoffset), float(-out.yoffset), float(out.width), float(out.height))
        r = cv2.matchTemplate(a.astype(np.float32), c.astype(np.float32), cv2.TM_SQDIFF)
        mn, _, loc, _ = cv2.minMaxLoc(r)
        x, y = int(bx[0]), int(bx[1])
        exact = bool(np.array_equal(a[y : y + out.height, x : x + out.width], c))
        res[mode] = {"box": bx, "match_at": loc, "match_sqdiff": float(mn), "pixels_equal": exact}
    return res


# ----------------------------------------------------------------------------- methods


def cropper_note(kwargs: dict[str, str], model: str | None) -> str:
    """How a procrop method was built, e.g. ``Cropper(profile='fast'), model `tiny```."""
    call = f"Cropper({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    return f"{call}, model `{model}`" if model else f"{call}, classic scorer"


class Methods:
    """Per-method box functions (one ratio) and speed functions (decode + several ratios)."""

    def __init__(self, names: list[str]) -> None:
        import pyvips

        pyvips.cache_set_max(0)  # no operation cache: every call decodes and analyses again
        self.pyvips = pyvips
        self.notes: dict[str, str] = {}
        self.names: list[str] = []
        self.croppers: dict[str, Any] = {}
        from procrop import Cropper

        for n in names:
            if n in CROPPERS:
                kwargs = CROPPERS[n]
                self.croppers[n] = Cropper(**kwargs)
                self.notes[n] = cropper_note(kwargs, self.croppers[n].model_name)
            elif n == "smartcrop":
                import smartcrop

                self.sc = smartcrop.SmartCrop()
            self.names.append(n)

    # --- boxes for one ratio
    def box(self, name: str, path: str, label: str, W: int, H: int) -> Box:
        r = ratio_value(label)
        if name in self.croppers:
            res = self.croppers[name].process(path, [label], top_k=1)
            best = [c for c in res.crops if c.rank == 1] or res.crops
            return tuple(float(v) for v in best[0].box)  # type: ignore[return-value]
        w, h = largest(W, H, r)
        if name == "centre":
            return (float((W - w) // 2), float((H - h) // 2), float(w), float(h))
        if name == "smartcrop":
            return self._smartcrop(self._pil(path), [(w, h)])[0]
        if name.startswith("vips-"):
            im = self.pyvips.Image.new_from_file(path).autorot()
            return tuple(float(v) for v in vips_smartcrop_box(im, w, h, name[5:]))  # type: ignore[return-value]
        raise ValueError(name)

    def _pil(self, path: str) -> Any:
        from PIL import Image, ImageOps

        with Image.open(path) as im:
            return ImageOps.exif_transpose(im).convert("RGB")

    def _smartcrop(self, pil: Any, sizes: list[tuple[int, int]]) -> list[Box]:
        out = []
        for w, h in sizes:
            t = self.sc.crop(pil, w, h)["top_crop"]
            out.append((float(t["x"]), float(t["y"]), float(t["width"]), float(t["height"])))
        return out

    # --- speed: decode included, several ratios
    def speed(self, name: str, path: str, labels: tuple[str, ...]) -> None:
        if name in self.croppers:
            self.croppers[name].process(path, list(labels), top_k=1)
            return
        if name == "centre":
            from PIL import Image

            with Image.open(path) as im:  # header only: the centre needs no pixels
                W, H = im.size
                if im.getexif().get(274, 1) in (5, 6, 7, 8):
                    W, H = H, W
            for lb in labels:
                largest(W, H, ratio_value(lb))
            return
        if name == "smartcrop":
            pil = self._pil(path)
            W, H = pil.size
            self._smartcrop(pil, [largest(W, H, ratio_value(lb)) for lb in labels])
            return
        if name.startswith("vips-"):
            im = self.pyvips.Image.new_from_file(path).autorot()
            for lb in labels:
                w, h = largest(im.width, im.height, ratio_value(lb))
                vips_smartcrop_box(im, w, h, name[5:])
            return
        raise ValueError(name)
