"""Scan borders and bars are trimmed; flat parts of the picture are not (procrop.perception.borders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from procrop.perception.borders import content_box, fit_inside

BEACH = Path(__file__).resolve().parents[1] / "examples" / "beach.jpg"


def _picture(h: int = 200, w: int = 300, seed: int = 0) -> np.ndarray:
    """A busy picture: smooth random colour blobs plus texture (no flat rows or columns)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 120 + 60 * np.sin(xx / 9.0)[..., None] * np.cos(yy / 7.0)[..., None] * rng.uniform(0.5, 1, 3)
    return np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)


def test_a_scan_border_on_every_side_is_trimmed() -> None:
    """As on the README's beach photo: 3 grey lines around the picture and a black last row."""
    img = _picture()
    rng = np.random.default_rng(1)
    for sl in (np.s_[:3], np.s_[-3:], np.s_[:, :3], np.s_[:, -3:]):
        img[sl] = np.clip(99 + rng.normal(0, 3, img[sl].shape), 0, 255).astype(np.uint8)
    img[-1] = 0
    x, y, w, h = content_box(img, 300, 200)
    assert (x, y) in {(4, 4)} and (x + w, y + h) == (296, 196)


def test_pillarbox_bars_are_trimmed_but_a_dark_band_on_one_side_is_the_picture() -> None:
    img = _picture()
    img[:, :24] = 2
    img[:, -20:] = 3
    x, y, w, h = content_box(img, 600, 400)  # the original is twice the working size
    assert (x, w) == (50, 600 - 50 - 42) and (y, h) == (0, 400)
    one = _picture()
    one[:, :24] = 2  # a black band along one edge only (a shadow, a night foreground): kept
    assert content_box(one, 300, 200) == (0, 0, 300, 200)


def test_a_clear_sky_and_a_flat_band_are_not_borders() -> None:
    img = _picture()
    img[:60] = np.linspace(200, 150, 60)[:, None, None].astype(np.uint8)  # a sky fading to the horizon
    assert content_box(img, 300, 200) == (0, 0, 300, 200)
    img = _picture()
    img[-12:] = 40  # a flat dark strip at the bottom only: one side is no frame
    assert content_box(img, 300, 200) == (0, 0, 300, 200)


def test_a_white_ground_that_a_product_nearly_fills_is_no_border() -> None:
    """A telephone on white paper (a trial's startbootstrap contact-bg.jpg): the handset ends a run
    of white 2 % in from the left edge and the base 2 % in from the right, so each edge's white
    strip "steps" into a dark object, yet past it the picture stays white; the photo is whole. White
    bars round a busy picture are still trimmed."""
    rng = np.random.default_rng(3)
    img = np.clip(249 + rng.normal(0, 1.5, (200, 300, 3)), 0, 255).astype(np.uint8)
    img[60:120, 6:60] = 20  # the handset, 6 px in from the left edge
    img[40:150, 230:294] = 15  # the base, 6 px in from the right edge
    img[95:100, 60:230] = 25  # the cord between them
    img[:, :6] = img[:, -6:] = 249
    assert content_box(img, 300, 200) == (0, 0, 300, 200)
    bars = _picture()
    bars[:, :24] = 252
    bars[:, -20:] = 250
    assert content_box(bars, 300, 200)[::2] == (25, 300 - 25 - 21)


def test_fit_inside_keeps_the_ratio_and_leaves_inner_boxes_alone() -> None:
    boxes = np.array([[0, 0, 300, 200], [0, 0, 200, 200], [50, 50, 100, 100]])
    out = fit_inside(boxes, (4, 4, 292, 192), 1.0)
    assert out[2].tolist() == [50, 50, 100, 100]
    x, y, w, h = out[1]
    assert w == h == 192 and x >= 4 and y >= 4 and x + w <= 296 and y + h <= 196
    x, y, w, h = fit_inside(boxes[:1], (4, 4, 292, 192), None)[0]  # free: the intersection
    assert (x, y, w, h) == (4, 4, 292, 192)
    x, y, w, h = fit_inside(boxes[:1], (4, 4, 292, 192), 1.5)[0]
    assert abs(w / h - 1.5) < 0.02 and x >= 4 and x + w <= 296 and y + h <= 196


def test_protection_reads_an_edge_on_the_scan_border_as_the_pictures_edge() -> None:
    """A crop ending on the border ends where the picture does: protection sees it reach the frame
    (a person whose box runs into the border is not cut by it); inner edges stay where they are."""
    from types import SimpleNamespace

    from procrop.candidates import to_the_frame

    a = SimpleNamespace(width=300, height=200, content=(4, 5, 292, 190))
    boxes = np.array([[4, 5, 150, 190], [50, 60, 100, 100], [146, 20, 150, 176]])
    assert to_the_frame(boxes, a).tolist() == [[0, 0, 154, 200], [50, 60, 100, 100], [146, 20, 154, 180]]
    whole = SimpleNamespace(width=300, height=200, content=None)
    assert to_the_frame(boxes, whole).tolist() == boxes.tolist()


@pytest.mark.parametrize("profile", ["fast", "default"])
def test_the_readme_photo_is_cropped_inside_its_scan_border(profile: str) -> None:
    """Every side of the border is found, also by ``--fast``, whose working image (224 px) alone is
    too small to see it (the decode before the shrink is read: it kept the top row until 2026-12-05)."""
    from procrop import Cropper

    ratios = ["1:1", "4:5", "16:9", "free"]
    result = Cropper(profile=profile).process(BEACH, ratios, top_k=3)
    cx, cy, cw, ch = result.analysis.content
    assert cx > 0 and cy > 0 and cx + cw < result.width and cy + ch < result.height  # grey border, black row
    assert result.to_dict()["analysis"]["content"] == [cx, cy, cw, ch]
    for c in result.crops:
        x, y, w, h = c.box
        assert x >= cx and y >= cy and x + w <= cx + cw and y + h <= cy + ch, (c.ratio, c.box)


def test_the_scan_border_is_no_line_of_the_composition() -> None:
    """The black row under the README photo's top border was read as its strongest level line."""
    from procrop import Cropper

    a = Cropper(reference_db=None, scorer="classic").analyze(BEACH)
    cx, cy, cw, ch = a.content
    near_edge = [ln for ln in a.lines if abs(ln.angle) < 5 and (max(ln.y1, ln.y2) <= cy + 3
                                                               or min(ln.y1, ln.y2) >= cy + ch - 3)]
    assert a.lines and not near_edge


def test_the_border_check_reads_the_largest_copy() -> None:
    """--fast keeps the DCT-scaled decode (twice its 224-px working image) for the border check; the
    default keeps it too when it is larger than its 416-px detail copy (a 768-px Kodak scan, whose
    1-px black last row is gone at 416 px)."""
    from procrop.imaging.load import load_image

    fast = load_image(BEACH, 224)
    assert fast.decoded is not None and max(fast.decoded.shape) > 224 and fast.border_pixels is fast.decoded
    default = load_image(BEACH, 224, detail_side=416)
    assert default.border_pixels.shape[0] * default.border_pixels.shape[1] >= default.detail.size // 3
    assert max(default.border_pixels.shape) >= 416


def test_a_one_pixel_black_row_of_a_kodak_scan_is_trimmed(photos_dir: Path) -> None:
    """kodim20-23 end in a 1-px black row (and kodim20 starts with a grey one): visible in the
    768-px decode, not in the 416-px detail copy the check read before."""
    from procrop import Cropper

    a = Cropper(reference_db=None).analyze(str(photos_dir / "zelex-kodak/kodim23.jpg"))
    assert a.content is not None and a.content[1] + a.content[3] < a.height


def test_the_scan_blur_past_the_beach_photos_right_border_is_trimmed() -> None:
    """At full size the README photo's right border (2 flat grey columns) is followed by two blurred
    columns (std 7 and 19 against 54 in the picture): both go, the frame's last grey column stayed in
    every crop that reached the right edge."""
    from procrop.imaging.load import load_image
    from procrop.perception.borders import content_box

    im = load_image(BEACH, 224, detail_side=416)
    x, y, w, h = content_box(im.border_pixels, im.width, im.height)
    assert x + w == im.width - 4 and x == 5 and y == 3
