"""A subject on a studio backdrop (a shop's product on white): found, framed with a margin, and its
empty ground counted against a crop (a new user's trial got the whole 97 %-white canvas back as
"keep the uncropped photo")."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from procrop import Cropper
from procrop.candidates import CandidateConfig
from procrop.geometry import parse_ratio
from procrop.perception.backdrop import ground_share, studio_backdrop, subject_extent, subject_frames


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)


def _product(size: tuple[int, int] = (1200, 900), box: tuple[int, int, int, int] = (820, 120, 180, 260),
             ground: int = 250) -> np.ndarray:
    """A brown, striped "product" on a plain light ground."""
    w, h = size
    img = np.full((h, w, 3), ground, np.uint8)
    x, y, bw, bh = box
    img[y:y + bh, x:x + bw] = (120, 70, 30)
    img[y:y + bh:12, x:x + bw] = (230, 160, 40)  # some detail on it
    return img


def test_a_light_plain_ground_is_a_backdrop_and_a_scene_or_a_dark_ground_is_not() -> None:
    small = cv2.resize(_product(), (96, 72), interpolation=cv2.INTER_AREA)
    ground = studio_backdrop(_lab(small))
    assert ground is not None and ground.mean() > 0.9
    x, y, w, h = subject_extent(ground, 1200, 900)
    assert 780 <= x <= 820 and 80 <= y <= 120 and 180 <= w <= 260 and 260 <= h <= 340
    dark = cv2.resize(_product(ground=8), (96, 72), interpolation=cv2.INTER_AREA)
    assert studio_backdrop(_lab(dark)) is None  # a jellyfish on black keeps its space
    rng = np.random.default_rng(0)
    scene = (rng.random((72, 96, 3)) * 255).astype(np.uint8)
    assert studio_backdrop(_lab(scene)) is None
    sky = np.zeros((72, 96, 3), np.uint8)
    sky[:] = (120, 170, 235)  # plain, but blue: a sky, not a studio's paper
    assert studio_backdrop(_lab(sky)) is None


def test_subject_frames_hold_the_subject_with_a_margin_at_the_exact_ratio() -> None:
    extent = (800.0, 100.0, 220.0, 300.0)
    for label in ("1:1", "4:5", "16:9", "9:16", "free"):
        ratio = parse_ratio(label)
        frames = subject_frames(extent, ratio, 1200, 900)
        assert len(frames)
        for x, y, w, h in frames:
            assert x >= 0 and y >= 0 and x + w <= 1200 and y + h <= 900
            if ratio.value is not None:
                assert abs(w / h - ratio.value) < 0.01
        x, y, w, h = frames[0]  # the tightest holds the subject whole
        assert x <= 800 and y <= 100 and x + w >= 1020 and y + h >= 400
    ground = np.zeros((9, 12), bool)
    ground[:, :6] = True
    halves = np.array([[0, 0, 600, 900], [300, 0, 600, 900]])
    assert ground_share(ground, halves, 1200, 900).tolist() == [1.0, 0.5]


def test_a_product_on_white_is_framed_not_kept_on_its_empty_canvas() -> None:
    buf = io.BytesIO()
    Image.fromarray(_product()).save(buf, "PNG")
    result = Cropper().process(buf.getvalue(), ["free", "1:1", "4:5"], 1)
    assert result.analysis.backdrop is not None and result.to_dict()["analysis"]["backdrop"] == "plain light"
    assert "on a plain light backdrop" in result.description
    for crop in result.crops:
        x, y, w, h = crop.box
        assert w * h < 0.3 * 1200 * 900, crop  # not the canvas, nor 30 % of it
        assert x <= 820 and y <= 120 and x + w >= 1000 and y + h >= 380, crop  # the product whole
        assert "empty backdrop" not in crop.reason
    config = CandidateConfig()
    assert config.for_photo(result.analysis).min_area == config.backdrop_min_area
    assert CandidateConfig(min_area=0.5, backdrop_min_area=None).for_photo(result.analysis).min_area == 0.5


def test_things_on_the_ground_stay_whole_together_and_fill_the_frame() -> None:
    """A car at a photo's left edge lost 14 px of its wheels in a 1:1 crop that kept 300 px of white
    above it, and a man near the right edge stayed small on an empty 1:1 canvas (a trial): on a
    studio backdrop every thing stays whole, together, and the crop not mostly ground."""
    from procrop.perception.backdrop import studio_allowed

    ground = np.ones((30, 40), bool)
    ground[10:20, 2:12] = False  # a thing at x 50-300, y 250-500 of a 1000x750 photo (25-px cells)
    W, H = 1000, 750
    boxes = np.array([[0, 190, 380, 380],  # holds it with room
                      [0, 190, 320, 290],  # cuts its bottom
                      [0, 0, 1000, 750],   # the whole canvas: mostly ground
                      [600, 0, 380, 380]])  # leaves it out, all ground
    allowed = studio_allowed(np.ones(4, bool), boxes, ground, W, H)
    assert allowed.tolist() == [True, False, False, False]


def test_a_user_s_min_area_holds_on_a_backdrop_and_white_is_not_letterbox() -> None:
    """`--min-area` of the user's own holds on a studio backdrop too (a trial got a 0.16 crop for
    0.9); the white above and below a tall product is ground, not letterbox bars (a parrot's head
    was shaved at every ratio)."""
    img = _product(size=(1200, 700), box=(500, 40, 200, 620))  # tall: 40 px of white above and below
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    own = Cropper(candidates=CandidateConfig(min_area=0.6, backdrop_min_area=None))
    result = own.process(buf.getvalue(), ["1:1"], 1)
    assert result.analysis.backdrop is not None and result.analysis.content in (None, (0, 0, 1200, 700))
    x, y, w, h = result.crops[0].box
    assert w * h >= 0.6 * 700 * 700 * 0.99


def test_a_paper_that_fades_is_a_backdrop_unless_the_frame_cuts_what_stands_on_it() -> None:
    """A studio sweep (255 at the top to 215 at the bottom) round a product is a backdrop (a trial's
    car on a sweep kept its canvas); the same paper with a branch running off the frame is a
    minimalist photo, not a catalogue one (widened tolerances once gave it crops of a leaf's tip)."""
    h, w = 72, 96
    sweep = np.repeat(np.linspace(255, 215, h)[:, None], w, axis=1).astype(np.uint8)
    rgb = np.dstack([sweep] * 3)
    product = rgb.copy()
    product[30:45, 40:60] = (120, 70, 30)
    assert studio_backdrop(_lab(product)) is not None
    branch = rgb.copy()
    branch[30:36, 40:96] = (40, 110, 40)  # runs off the right edge
    assert studio_backdrop(_lab(branch)) is None
