"""The mirror symmetry of a crop (procrop/scoring/symmetry.py), a feature of the preference scorer."""

from __future__ import annotations

import numpy as np

from procrop.scoring.symmetry import mirror_symmetry


def _direct(lum: np.ndarray, x0: int, x1: int, y0: int, y1: int) -> float:
    a = lum[y0:y1, x0:x1].astype(np.float64)
    a = a - a.mean(axis=1, keepdims=True)
    spread = (a * a).sum()
    return float((a * a[:, ::-1]).sum() / spread) if spread > 1e-6 else 0.0


def test_many_boxes_at_once_match_the_definition() -> None:
    rng = np.random.default_rng(0)
    lum = rng.random((32, 48)) * 255
    n = 200
    w = rng.integers(1, 49, n)
    x0 = rng.integers(0, 49 - w)
    h = rng.integers(1, 33, n)
    y0 = rng.integers(0, 33 - h)
    got = mirror_symmetry(lum, x0, x0 + w, y0, y0 + h)
    want = [_direct(lum, a, a + b, c, c + d) for a, b, c, d in zip(x0, w, y0, h)]
    assert np.allclose(got, want, atol=1e-9)


def test_a_mirror_image_is_one_and_a_ramp_is_minus_one() -> None:
    rng = np.random.default_rng(1)
    half = rng.random((20, 15))
    mirrored = np.concatenate([half, half[:, ::-1]], axis=1)  # (20, 30), symmetric about its middle
    ramp = np.tile(np.arange(30.0), (20, 1))  # bright on the right, dark on the left
    sky = np.tile(np.arange(20.0)[:, None], (1, 30))  # changes only from top to bottom: no left-right test
    one = np.array([0]), np.array([30]), np.array([0]), np.array([20])
    assert np.isclose(mirror_symmetry(mirrored, *one)[0], 1.0)
    assert np.isclose(mirror_symmetry(ramp, *one)[0], -1.0)
    assert mirror_symmetry(sky, *one)[0] == 0.0
    off_centre = np.array([5]), np.array([30]), np.array([0]), np.array([20])
    assert mirror_symmetry(mirrored, *off_centre)[0] < 0.5  # the same scene, its axis off the crop's middle


def test_a_crop_keeps_its_width_on_the_map_and_narrow_ones_read_zero() -> None:
    """Boxes of one width keep one width on the pooled map wherever they sit (rounded apart, they
    changed the measure's bias with their position); a box under four pooled pixels reads 0; a
    photo without a colour map reads 0; a portrait photo is pooled to 48 pixels on its long side."""
    from types import SimpleNamespace

    from procrop.scoring.symmetry import LONG_SIDE, crop_symmetry

    rng = np.random.default_rng(2)
    lab = rng.random((96, 64, 3)).astype(np.float32) * 255  # a portrait photo's map, 640 x 960
    ctx = SimpleNamespace(analysis=SimpleNamespace(lab=lab, width=640, height=960), cache={})
    boxes = np.array([[x, 0, 333, 500] for x in range(0, 300, 7)] + [[10, 10, 30, 500]], float)
    got = crop_symmetry(ctx, boxes)
    assert ctx.cache["symmetry:lightness"].shape == (LONG_SIDE, 32)
    assert got[-1] == 0.0  # 2 pooled pixels wide
    pooled, scale = ctx.cache["symmetry:lightness"], 32 / 640
    for (x, y, w, h), value in zip(boxes[:-1], got[:-1]):
        x0, width = int(round(x * scale)), int(round(w * scale))
        assert np.isclose(value, _direct(pooled, x0, x0 + width, 0, int(round(h * LONG_SIDE / 960))))
    none = SimpleNamespace(analysis=SimpleNamespace(lab=None, width=640, height=960), cache={})
    assert crop_symmetry(none, boxes).tolist() == [0.0] * len(boxes)
