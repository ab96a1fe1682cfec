"""Other croppers, wrapped to return a box so they can be evaluated beside procrop.

* ``center``: the centred box of the requested size;
* ``smartcrop``: smartcrop.py (the Python port of smartcrop.js), ``SmartCrop().crop(image, w, h)``,
  run on the photo shrunk to at most 512 px and scaled back;
* ``vips-attention``: libvips ``smartcrop(w, h, interesting="attention")`` (what sharp's
  ``strategy.attention`` uses); the box is read from the crop's offset in the image
  (:func:`vips_smartcrop_box`).

Each takes the photo's path and the target ``(w, h)`` in pixels of the oriented original and returns
``(x, y, w, h)``. Peers need a size because they cannot choose one; the evaluator supplies it.
The packages come with the extra ``procrop[peers]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UsageError, require
from ..imaging.load import open_full

PeerCropper = Callable[[str, int, int], tuple[int, int, int, int]]


def center_crop(path: str, w: int, h: int) -> tuple[int, int, int, int]:
    from ..imaging.load import load_image

    im = load_image(path)
    W, H = im.width, im.height
    w, h = min(w, W), min(h, H)
    return (W - w) // 2, (H - h) // 2, w, h


def smartcrop_py(path: str, w: int, h: int) -> tuple[int, int, int, int]:
    smartcrop = require("smartcrop", "the smartcrop.py peer", "peers")
    im = open_full(path).convert("RGB")
    W, H = im.size
    k = min(1.0, 512 / max(W, H))
    small = im.resize((max(1, round(W * k)), max(1, round(H * k)))) if k < 1 else im
    tw, th = max(1, min(small.width, round(w * k))), max(1, min(small.height, round(h * k)))
    top = smartcrop.SmartCrop().crop(small, width=tw, height=th)["top_crop"]
    x, y = round(top["x"] / k), round(top["y"] / k)
    cw, ch = min(W, round(top["width"] / k)), min(H, round(top["height"] / k))
    return min(max(x, 0), W - cw), min(max(y, 0), H - ch), cw, ch


def vips_smartcrop_box(image: Any, w: int, h: int, interesting: str = "attention") -> tuple[int, int, int, int]:
    """libvips' smart crop of a ``pyvips.Image`` as a box ``(x, y, w, h)``: the cropped image's
    ``xoffset``/``yoffset`` are minus its left/top in ``image`` (checked pixel-exact by
    ``benchmarks/cuts.py``). ``interesting`` is ``"attention"`` or ``"entropy"``."""
    out = image.smartcrop(min(w, image.width), min(h, image.height), interesting=interesting)
    return -int(out.xoffset), -int(out.yoffset), int(out.width), int(out.height)


def vips_attention(path: str, w: int, h: int) -> tuple[int, int, int, int]:
    try:
        pyvips = require("pyvips", "the vips-attention peer", "peers")
    except OSError as exc:  # pyvips without a libvips
        raise UsageError(f"pyvips cannot load libvips ({exc}); pip install 'pyvips[binary]'") from exc
    return vips_smartcrop_box(pyvips.Image.new_from_file(path, access="sequential").autorot(), w, h)


PEERS: dict[str, PeerCropper] = {
    "center": center_crop,
    "smartcrop": smartcrop_py,
    "vips-attention": vips_attention,
}


def get_peer(name: str) -> PeerCropper:
    try:
        return PEERS[name]
    except KeyError:
        raise UsageError(f"unknown peer {name!r}; choose from {', '.join(PEERS)}") from None
