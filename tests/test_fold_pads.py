"""``fold_pads``: zero pads folded into the convolutions they feed, and nothing else touched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("torch")  # boxnet_export imports it

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from procrop.model.scorer.boxnet_export import fold_pads  # noqa: E402


def _graph(tmp_path: Path) -> Path:
    """Four branches over one input ``x (1, 2, 8, 8)``: a zero pad into a stride-2 convolution
    (foldable), a reflect pad, a zero pad also read as a graph output, and a zero pad into a
    convolution with ``auto_pad``; the pad amounts come from Constant nodes, as torch exports them."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), "w")]
    nodes, outputs = [], []
    for k, (mode, also_output, auto) in enumerate([("constant", False, None), ("reflect", False, None),
                                                   ("constant", True, None), ("constant", False, "VALID")]):
        amounts = np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64)
        nodes.append(helper.make_node("Constant", [], [f"p{k}"], value=numpy_helper.from_array(amounts)))
        nodes.append(helper.make_node("Pad", ["x", f"p{k}"], [f"padded{k}"], mode=mode))
        conv = {"strides": [2, 2]} | ({"auto_pad": auto} if auto else {})
        nodes.append(helper.make_node("Conv", [f"padded{k}", "w"], [f"y{k}"], **conv))
        outputs.append(helper.make_tensor_value_info(f"y{k}", TensorProto.FLOAT, None))
        if also_output:
            outputs.append(helper.make_tensor_value_info(f"padded{k}", TensorProto.FLOAT, None))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])
    model = helper.make_model(helper.make_graph(nodes, "pads", [x], outputs, inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "pads.onnx"
    onnx.save(model, str(path))
    return path


def _run(path: Path, x: np.ndarray) -> list[np.ndarray]:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})


def test_only_a_plain_zero_pad_into_one_convolution_is_folded(tmp_path: Path) -> None:
    path = _graph(tmp_path)
    x = np.random.default_rng(1).standard_normal((1, 2, 8, 8)).astype(np.float32)
    before = _run(path, x)
    assert fold_pads(path, {"x": x}) == 1
    g = onnx.load(str(path)).graph
    assert [n.op_type for n in g.node].count("Pad") == 3  # reflect, a graph output, auto_pad: kept
    first = next(n for n in g.node if n.output == ["y0"])
    assert first.input[0] == "x"
    assert [list(a.ints) for a in first.attribute if a.name == "pads"] == [[0, 0, 1, 1]]
    assert "p0" not in {o for n in g.node for o in n.output}  # what computed its amounts is gone
    for a, b in zip(before, _run(path, x)):
        assert np.array_equal(a, b)
    assert fold_pads(path, {"x": x}) == 0  # nothing left to fold
