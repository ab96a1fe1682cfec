"""Training fills on real photos: canvas size, the photo pasted back exactly, determinism, a fill
that is not flat; the backend registry; and ``draw_canvas``'s augmented canvases."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrop.errors import UsageError
from procrop.imaging.load import load_image
from procrop.training.scorer import boxsets
from procrop.training.scorer.boxsets import SELF_EVERY, BoxSetOptions, draw_canvas
from procrop.weaklabels.canvas import CANVAS_RATIOS, CanvasSpec, sample_canvas
from procrop.weaklabels.outpaint import BACKENDS, TRAINING_FILLS, Outpainter, create_outpainter

LANDSCAPE = "budgie-backgrounds/beacon-street-sunset.jpg"
PORTRAIT = "smartcrop-js-unsplash/makhmutova-dina-1580313.jpg"
OTHER = "budgie-backgrounds/blue-periwinkle.jpg"  # the foreign fill's pool


def _load(photo_paths: list[Path], name: str, side: int) -> np.ndarray:
    path = next(p for p in photo_paths if p.as_posix().endswith(name))
    return np.ascontiguousarray(load_image(str(path), max_side=side).pixels)


@pytest.fixture(scope="module")
def photos(photo_paths: list[Path]) -> dict[str, np.ndarray]:
    return {"landscape": _load(photo_paths, LANDSCAPE, 400), "portrait": _load(photo_paths, PORTRAIT, 400)}


@pytest.fixture(scope="module")
def pool(photo_paths: list[Path]) -> list[np.ndarray]:
    return [_load(photo_paths, OTHER, 320)]


def _outpainter(name: str, pool: list[np.ndarray]) -> Outpainter:
    return create_outpainter(name, pool=pool) if name == "foreign" else create_outpainter(name)


def _outside(canvas: np.ndarray, spec: CanvasSpec) -> np.ndarray:
    """The canvas's pixels outside the frame, ``(n, 3)``."""
    x, y, w, h = spec.frame
    mask = np.ones(canvas.shape[:2], bool)
    mask[y : y + h, x : x + w] = False
    return canvas[mask]


def _pasted(canvas: np.ndarray, spec: CanvasSpec) -> np.ndarray:
    x, y, w, h = spec.frame
    return canvas[y : y + h, x : x + w]


@pytest.mark.parametrize("kind", ["landscape", "portrait"])
@pytest.mark.parametrize("name", TRAINING_FILLS)
def test_training_fill_on_a_real_photo(name: str, kind: str, photos: dict[str, np.ndarray],
                                       pool: list[np.ndarray]) -> None:
    photo = photos[kind]
    spec = sample_canvas(photo.shape[1], photo.shape[0], np.random.default_rng(7), (0.3, 0.7))
    fill = _outpainter(name, pool)
    canvas = fill.fill(photo, spec, np.random.default_rng(1))
    assert canvas.shape == (spec.height, spec.width, 3) and canvas.dtype == np.uint8
    assert np.array_equal(_pasted(canvas, spec), photo)
    # deterministic for a seed, different for another
    assert np.array_equal(canvas, fill.fill(photo, spec, np.random.default_rng(1)))
    assert not np.array_equal(canvas, fill.fill(photo, spec, np.random.default_rng(2)))
    # a scene around the photo, not a flat border: every fill re-grains or carries texture
    outside = _outside(canvas, spec).astype(np.float32)
    assert outside.std(axis=0).mean() > 5.0
    assert len(np.unique(outside[:, 0])) > 20


@pytest.mark.parametrize("name", TRAINING_FILLS)
def test_training_fill_of_a_full_frame_is_the_photo(name: str, photos: dict[str, np.ndarray],
                                                     pool: list[np.ndarray]) -> None:
    """Coverage 1: nothing to fill (the self-supervised canvases)."""
    photo = photos["landscape"]
    h, w = photo.shape[:2]
    canvas = _outpainter(name, pool).fill(photo, CanvasSpec(w, h, (0, 0, w, h)), np.random.default_rng(0))
    assert np.array_equal(canvas, photo)


@pytest.mark.parametrize("name", TRAINING_FILLS)
@given(data=st.data())
@settings(max_examples=15, deadline=None)
def test_training_fill_any_frame_position(name: str, data: st.DataObject, photos: dict[str, np.ndarray],
                                          pool: list[np.ndarray]) -> None:
    """Frames touching any side, thin margins, wide margins: the size and the pasted photo hold."""
    photo = cv2.resize(photos["portrait"], (60, 90), interpolation=cv2.INTER_AREA)
    W = data.draw(st.integers(60, 240), "W")
    H = data.draw(st.integers(90, 240), "H")
    x = data.draw(st.integers(0, W - 60), "x")
    y = data.draw(st.integers(0, H - 90), "y")
    spec = CanvasSpec(W, H, (x, y, 60, 90))
    rng = np.random.default_rng(data.draw(st.integers(0, 99), "seed"))
    canvas = _outpainter(name, pool).fill(photo, spec, rng)
    assert canvas.shape == (H, W, 3) and canvas.dtype == np.uint8
    assert np.array_equal(_pasted(canvas, spec), photo)


def test_foreign_fill_without_a_pool_uses_the_mirrored_photo(photos: dict[str, np.ndarray]) -> None:
    photo = photos["landscape"]
    spec = sample_canvas(photo.shape[1], photo.shape[0], np.random.default_rng(3), (0.4, 0.6))
    canvas = create_outpainter("foreign").fill(photo, spec, np.random.default_rng(0))
    assert np.array_equal(_pasted(canvas, spec), photo)
    assert _outside(canvas, spec).astype(np.float32).std(axis=0).mean() > 5.0


def test_unknown_backend_names_the_valid_ones() -> None:
    with pytest.raises(UsageError) as err:
        create_outpainter("nope")
    message = str(err.value)
    assert "nope" in message
    assert all(name in message for name in BACKENDS)
    assert set(TRAINING_FILLS) <= set(BACKENDS) and "diffusers" not in TRAINING_FILLS


# ---- draw_canvas --------------------------------------------------------------------------------

def _identity(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return canvas


def _expected_photo(photo: np.ndarray, spec: CanvasSpec) -> tuple[np.ndarray, np.ndarray]:
    """The photo at the frame's size as ``draw_canvas`` resizes it, and its mirror image."""
    _, _, w, h = spec.frame
    img = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
    return img, np.ascontiguousarray(img[:, ::-1])


def _draws(photo: np.ndarray, pool: list[np.ndarray], n: int = 24):
    """``(index, fill, canvas, spec)`` for canvases 0..n-1 with the fills cycled as training does."""
    options = BoxSetOptions()
    for i in range(n):
        fill = options.fills[i % len(options.fills)]
        canvas, spec = draw_canvas(photo, i, fill, np.random.default_rng([5, i]), pool, options)
        yield i, fill, canvas, spec


@pytest.mark.parametrize("kind", ["landscape", "portrait"])
def test_draw_canvas_frames_the_augmented_photo(kind: str, photos: dict[str, np.ndarray],
                                                pool: list[np.ndarray],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    photo, options = photos[kind], BoxSetOptions()
    lo, hi = options.photo_side
    with monkeypatch.context() as m:  # without the photometric step the frame is the resized photo, exactly
        m.setattr(boxsets, "photometric", _identity)
        for i, fill, canvas, spec in _draws(photo, pool):
            x, y, w, h = spec.frame
            assert canvas.shape == (spec.height, spec.width, 3) and canvas.dtype == np.uint8
            assert 0 <= x and 0 <= y and x + w <= spec.width and y + h <= spec.height
            assert lo - 1 <= max(w, h) < hi + 1
            assert abs(w / h - photo.shape[1] / photo.shape[0]) < 0.02
            region = _pasted(canvas, spec)
            assert any(np.array_equal(region, e) for e in _expected_photo(photo, spec)), (i, fill)
            if i % SELF_EVERY == 0:
                assert spec.frame == (0, 0, spec.width, spec.height) and spec.coverage == 1.0
            else:
                assert spec.coverage <= options.coverage[1] + 1e-6
                assert min(abs(spec.width / spec.height - r) for r in CANVAS_RATIOS) < 0.02
    # with it, the frame is still the photo, only re-toned and re-encoded
    for i, fill, canvas, spec in _draws(photo, pool):
        region = cv2.cvtColor(_pasted(canvas, spec), cv2.COLOR_RGB2GRAY).astype(np.float32).ravel()
        best = max(np.corrcoef(region, cv2.cvtColor(e, cv2.COLOR_RGB2GRAY).astype(np.float32).ravel())[0, 1]
                   for e in _expected_photo(photo, spec))
        assert best > 0.9, (i, fill, best)


def test_draw_canvas_is_seeded(photos: dict[str, np.ndarray], pool: list[np.ndarray]) -> None:
    photo, options = photos["landscape"], BoxSetOptions()
    a, sa = draw_canvas(photo, 3, "foreign", np.random.default_rng(11), pool, options)
    b, sb = draw_canvas(photo, 3, "foreign", np.random.default_rng(11), pool, options)
    c, sc = draw_canvas(photo, 3, "foreign", np.random.default_rng(12), pool, options)
    assert sa == sb and np.array_equal(a, b)
    assert sa != sc or not np.array_equal(a, c)
