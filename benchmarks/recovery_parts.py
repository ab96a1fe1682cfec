"""Frame recovery's canvases, fills and methods (:mod:`recovery` runs and reports them; split
from it to keep each module under 450 lines, behaviour unchanged)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from procrop.evaluation.peers import vips_smartcrop_box
from procrop.weaklabels.canvas import CanvasSpec
from procrop.weaklabels.outpaint import distance_outside

RATIOS = ((16, 9), (3, 2), (4, 3), (1, 1), (21, 9))
COVERAGES = (0.45, 0.6, 0.75)
ANALYSIS_SIDE = 640  # photos are shrunk to this long side before the canvas is made
FILLS = ("mirror_dark", "flat_noise", "blur_cover")
Box = tuple[float, float, float, float]
Canvas = tuple[str, str, tuple[int, int], float, np.ndarray, tuple[int, int, int, int]]


# ---- canvases and fills -------------------------------------------------------------------------

def canvas_geometry(w: int, h: int, ratio: tuple[int, int], coverage: float, rng: np.random.Generator
                    ) -> tuple[int, int, int, int]:
    """Canvas ``W, H`` of ``ratio`` whose area is the photo's / ``coverage`` (at least the photo's
    size on each side, so a narrow canvas around a wide photo covers less), and the photo's ``x, y``."""
    r = ratio[0] / ratio[1]
    H = math.sqrt(w * h / coverage / r)
    W, H = max(w, round(r * H)), max(h, round(H))
    if W / H > r:  # the photo's width forced W: keep the ratio by growing H
        H = max(H, round(W / r))
    else:
        W = max(W, round(H * r))
    x = int(rng.integers(0, W - w + 1))
    y = int(rng.integers(0, H - h + 1))
    return W, H, x, y


def fill_canvas(photo: np.ndarray, W: int, H: int, x: int, y: int, fill: str, rng: np.random.Generator
                ) -> np.ndarray:
    """The canvas ``(H, W, 3)`` uint8 with the photo at ``x, y`` and ``fill`` around it."""
    h, w = photo.shape[:2]
    if fill == "mirror_dark":
        ext = np.pad(photo, ((y, H - h - y), (x, W - w - x), (0, 0)), mode="symmetric").astype(np.float32)
        blur = cv2.GaussianBlur(ext, (0, 0), 0.02 * max(W, H))
        d = distance_outside(CanvasSpec(W, H, (x, y, w, h))) / (0.25 * max(W, H))
        t = np.clip(d * 4, 0, 1)[..., None]  # blend in the blur over the first few percent
        dark = np.clip(1.0 - 0.45 * np.clip(d, 0, 1) - 0.15, 0.3, 1.0)[..., None]
        out = (ext * (1 - t) + blur * t) * np.where(d[..., None] > 0, dark, 1.0)
    elif fill == "flat_noise":
        mean = photo.reshape(-1, 3).mean(axis=0)
        out = mean[None, None, :] + rng.normal(0, 6.0, (H, W, 3))
    elif fill == "blur_cover":
        k = max(W / w, H / h)
        big = cv2.resize(photo, (math.ceil(w * k), math.ceil(h * k)), interpolation=cv2.INTER_LINEAR)
        oy, ox = (big.shape[0] - H) // 2, (big.shape[1] - W) // 2
        out = cv2.GaussianBlur(big[oy:oy + H, ox:ox + W].astype(np.float32), (0, 0), 0.03 * max(W, H))
    else:
        raise ValueError(f"unknown fill {fill!r}")
    out = np.clip(out, 0, 255).astype(np.uint8)
    out[y:y + h, x:x + w] = photo
    return out


# ---- methods ------------------------------------------------------------------------------------

def ratio_text(w: float, h: float) -> str:
    g = math.gcd(int(w), int(h))
    return f"{int(w) // g}:{int(h) // g}"


def largest_box(W: int, H: int, w: float, h: float) -> Box:
    """The centred largest box of ``w:h`` in a ``W x H`` canvas."""
    k = min(W / w, H / h)
    bw, bh = w * k, h * k
    return ((W - bw) / 2, (H - bh) / 2, bw, bh)


def vips_box(canvas: np.ndarray, w: int, h: int, interesting: str, verify: bool = False) -> Box:
    """libvips smartcrop's box on an in-memory canvas (:func:`procrop.evaluation.peers.vips_smartcrop_box`)."""
    import pyvips

    H, W = canvas.shape[:2]
    im = pyvips.Image.new_from_memory(np.ascontiguousarray(canvas).tobytes(), W, H, 3, "uchar")
    left, top, cw, ch = vips_smartcrop_box(im, w, h, interesting)
    if verify:
        out = im.crop(left, top, cw, ch)
        got = np.ndarray(buffer=out.write_to_memory(), dtype=np.uint8, shape=(ch, cw, 3))
        assert np.array_equal(got, canvas[top:top + ch, left:left + cw]), "vips offset"
    return (left, top, cw, ch)


def smartcrop_box(canvas: np.ndarray, w: int, h: int) -> Box:
    """smartcrop.py's box for the frame's size, found on a copy at most 400 px wide (as the peer does)."""
    import smartcrop

    H, W = canvas.shape[:2]
    k = min(1.0, 400 / W)
    small = Image.fromarray(canvas).resize((max(1, round(W * k)), max(1, round(H * k))))
    top = smartcrop.SmartCrop().crop(small, width=max(1, round(w * k)), height=max(1, round(h * k)))["top_crop"]
    return (top["x"] / k, top["y"] / k, top["width"] / k, top["height"] / k)


Method = Callable[[np.ndarray, tuple[int, int]], Box]
DEFAULT_METHOD = "procrop (default)"
LEARNED_METHOD = "procrop --scorer learned"
UNTRAINED_METHOD = "untrained network"
NO_TORCH = "the torch extra is not installed: `pip install 'procrop[torch]'`"


def top1(cropper: Any, ratio: str | None = "free") -> Method:
    """The best box of ``cropper`` at ``ratio`` (``None``: the frame's ratio)."""
    def method(canvas: np.ndarray, frame: tuple[int, int]) -> Box:
        label = ratio if ratio is not None else ratio_text(*frame)
        return tuple(cropper.crop(canvas, ratios=[label], top_k=1)[0].box)

    return method


def untrained_bundle(out_dir: Path) -> Path | None:
    """The learned scorer's network with random weights (torch seed 0, no references) exported as a
    bundle under ``out_dir``; ``None`` when the torch extra (torch, onnx) is not installed."""
    try:
        import torch

        from procrop.model.scorer.boxnet import BoxNet
        from procrop.model.scorer.boxnet_export import export_bundle

        torch.manual_seed(0)
        return export_bundle(BoxNet().eval(), out_dir / "untrained", None, {"name": "untrained"})
    except ImportError:  # also procrop.errors.MissingExtraError (onnx)
        return None


def procrop_methods(bundles: dict[str, Path]) -> tuple[dict[str, Method], dict[str, str | None]]:
    """procrop's methods (see the module docstring) and each one's bundle name (``None``: classic).
    ``bundles`` maps a row name (``untrained network``, ``learned: NAME``) to a bundle folder."""
    from procrop import Cropper

    default = Cropper()
    croppers = {DEFAULT_METHOD: default, "procrop --fast": Cropper(profile="fast"),
                LEARNED_METHOD: Cropper(scorer="learned"),
                "classic": Cropper(scorer="classic"),
                "classic (no retrieval)": Cropper(scorer="classic", reference_db=None),
                **{name: Cropper(scorer="learned", learned_model=folder) for name, folder in bundles.items()}}
    methods = {name: top1(c) for name, c in croppers.items()}
    methods = {DEFAULT_METHOD: methods.pop(DEFAULT_METHOD), "procrop @ frame ratio": top1(default, None),
               **methods}
    models = {name: croppers.get(name, default).model_name for name in methods}
    return methods, models


def peer_methods() -> dict[str, Method]:
    """The centre box and the size-hinted peers."""
    return {
        "centre (frame ratio)": lambda c, f: largest_box(c.shape[1], c.shape[0], *f),
        "smartcrop.py (size hint)": lambda c, f: smartcrop_box(c, *f),
        "vips attention (size hint)": lambda c, f: vips_box(c, *f, "attention"),
        "vips entropy (size hint)": lambda c, f: vips_box(c, *f, "entropy"),
    }


def check_fills() -> None:
    """Fail unless the benchmark's fills are disjoint from the weak-label training's."""
    from procrop.weaklabels.outpaint import TRAINING_FILLS

    shared = set(FILLS) & set(TRAINING_FILLS)
    if shared:
        raise AssertionError(f"recovery fills {sorted(shared)} are training fills; the benchmark would leak")


# ---- the run --------------------------------------------------------------------------------------

def load_photo(path: Path) -> np.ndarray:
    """RGB uint8, oriented, at most :data:`ANALYSIS_SIDE` on the long side."""
    from procrop.imaging.load import load_image

    return np.ascontiguousarray(load_image(str(path), max_side=ANALYSIS_SIDE).pixels)


def make_canvases(photos: Path, files: list[str], seed: int) -> Iterator[Canvas]:
    """Yield ``(file, fill, ratio, coverage, canvas, frame box)`` for every held-out photo and fill."""
    for i, f in enumerate(files):
        photo = load_photo(photos / f)
        h, w = photo.shape[:2]
        for j, fill in enumerate(FILLS):
            rng = np.random.default_rng([seed, i, j])
            ratio = RATIOS[int(rng.integers(len(RATIOS)))]
            coverage = float(COVERAGES[int(rng.integers(len(COVERAGES)))])
            W, H, x, y = canvas_geometry(w, h, ratio, coverage, rng)
            yield f, fill, ratio, coverage, fill_canvas(photo, W, H, x, y, fill, rng), (x, y, w, h)
