"""Freeing an ONNX model's fixed sizes (procrop.perception.onnx_shapes) and YOLOX on rectangles.

YOLOX-nano was exported for 416 x 416; the detector feeds onnxruntime a letterbox padded only to
a multiple of 32 (416 x 288 for a 3:2 landscape). The edit must leave every weight byte in place
and the rectangle must find what the square finds.
"""

from __future__ import annotations

import numpy as np
import pytest

from procrop.perception import objects as yolox
from procrop.perception.model_files import model_path
from procrop.perception.onnx_shapes import _fields, free_dims
from tests.test_perception_models import PEOPLE_PHOTO, read_rgb

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def freed() -> bytes:
    return free_dims(model_path(yolox.MODEL).read_bytes(), {2: "height", 3: "width"}, {1: "cells"})


def _shape(session, which: str) -> list:
    info = (session.get_inputs() if which == "input" else session.get_outputs())[0]
    return list(info.shape)


def test_sizes_become_named_and_nothing_else_changes(freed):
    original = model_path(yolox.MODEL).read_bytes()
    fixed = ort.InferenceSession(original, providers=["CPUExecutionProvider"])
    free = ort.InferenceSession(freed, providers=["CPUExecutionProvider"])
    assert _shape(fixed, "input") == [1, 3, 416, 416] and _shape(fixed, "output") == [1, 3549, 85]
    assert _shape(free, "input") == [1, 3, "height", "width"]
    assert _shape(free, "output") == [1, "cells", 85]
    # the graph's nodes and weights are the same bytes: only the input and output shapes moved
    def graph_parts(model: bytes) -> list[tuple[int, bytes]]:
        (graph,) = [p for f, _, p in _fields(model) if f == 7]
        return [(f, p) for f, _, p in _fields(graph) if f not in (11, 12)]

    assert graph_parts(original) == graph_parts(freed)
    # the square still gives the original's output, bit for bit
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 416, 416)).astype(np.float32)
    np.testing.assert_array_equal(fixed.run(None, {"images": x})[0], free.run(None, {"images": x})[0])


def test_a_rectangle_runs_with_its_own_grids(freed):
    free = ort.InferenceSession(freed, providers=["CPUExecutionProvider"])
    raw = free.run(None, {"images": np.full((1, 3, 288, 416), 114, np.float32)})[0]
    cells = sum((288 // s) * (416 // s) for s in yolox.STRIDES)
    assert raw.shape == (1, cells, 85)
    boxes, scores, cls = yolox.decode(raw, 288, 416)
    assert boxes.shape == (cells, 4) and scores.shape == cls.shape == (cells,)
    with pytest.raises(ValueError, match="expected"):
        yolox.decode(raw, 416, 416)


def test_not_a_model_is_refused():
    with pytest.raises(ValueError):
        free_dims(b"\x0f\xff\xff", {2: "h"}, {})


@pytest.mark.parametrize("backend", ["onnxruntime", "opencv"])
def test_rectangle_finds_what_the_square_finds(photos_dir, backend, monkeypatch):
    rgb = read_rgb(photos_dir / PEOPLE_PHOTO)
    assert yolox.preprocess(rgb)[0].shape[2:] != (416, 416)  # a landscape: not padded to a square
    detector = yolox.YoloxObjectDetector(backend=backend)
    rect = detector.detect(rgb)
    square_input = yolox.preprocess
    monkeypatch.setattr(yolox, "preprocess", lambda image: square_input(image, square=True))
    square = detector.detect(rgb)
    sure = [d for d in square if d.score >= 0.5]
    assert sure
    for d in sure:
        near = min((r for r in rect if r.label == d.label), default=None,
                   key=lambda r: float(np.abs(np.subtract(r.box, d.box)).max()))
        assert near is not None, d
        np.testing.assert_allclose(near.box, d.box, atol=0.02 * max(rgb.shape))
