#!/usr/bin/env python
"""Convert Google's uint8/int8-quantised MobileNetV2 1.0 TFLite classifier into procrop's float weights.

    python tools/convert_mobilenet.py \\
        --tflite ../shared/models/backbone/mobilenet_v2_1.0_224_quant.tflite \\
        --out procrop/resources/models/mobilenet_v2_imagenet.npz

Reads the model with ai-edge-litert (``pip install ai-edge-litert``), walks the operator graph in order and
maps every CONV_2D / DEPTHWISE_CONV_2D to the convolutions of :class:`procrop.model.shared.mobilenet.MobileNetV2`
(BatchNorm is already folded into the TFLite weights and int32 biases). For each one it checks the op type,
the weight and bias shapes, the stride and TF 'SAME' output size, the fused activation (ReLU6 is read off the
output quantisation range [0, 6]) and that the op consumes the previous op's output; each residual ADD must
join the block input and the projection. The weights are dequantised, ``w = (q - zero_point) * scale``, per
tensor or per output channel, transposed to torch layout (conv OHWI -> OIHW, depthwise 1HWC -> C1HW) and
stored as float16 in an ``.npz`` with a ``__metadata__`` JSON entry (source sha256, repo@commit, licence,
conversion date, op mapping version, input normalisation, per-tensor mapping). The zip is written with fixed
timestamps and no compression, so re-running gives identical bytes. ``--verify PHOTO ...`` also compares
top-1 and probabilities of the converted model with the TFLite model on real photos.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import io
import json
import math
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from procrop.model.shared.mobilenet import METADATA_KEY, NUM_CLASSES, MobileNetV2, conv_specs

OP_MAPPING_VERSION = 1
SOURCE_REPO = "google-coral/test_data"
SOURCE_COMMIT = "104342d2d3480b3e66203073dac24f4e2dbb4c41"
LICENCE = "Apache-2.0"
# Fixed so that re-running gives identical bytes; override with --date or SOURCE_DATE_EPOCH.
DEFAULT_CONVERSION_DATE = "2026-12-01"
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def load_interpreter(path: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        sys.exit("tools/convert_mobilenet.py needs ai-edge-litert: pip install ai-edge-litert")
    # No XNNPACK delegate: it would replace the ops by one DELEGATE node and hide the graph.
    interp = Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    interp.allocate_tensors()
    return interp


def dequantize(detail: dict, q: np.ndarray) -> np.ndarray:
    """``(q - zero_point) * scale`` with per-tensor or per-axis (``quantized_dimension``) parameters."""
    qp = detail["quantization_parameters"]
    scales = np.asarray(qp["scales"], np.float64)
    zps = np.asarray(qp["zero_points"], np.float64)
    if scales.size == 0:
        if not np.issubdtype(q.dtype, np.floating):
            raise ValueError(f"tensor {detail['name']!r} is integer but has no quantisation parameters")
        return q.astype(np.float64)
    shape = [1] * q.ndim
    if scales.size > 1:
        axis = int(qp["quantized_dimension"])
        if q.shape[axis] != scales.size:
            raise ValueError(f"tensor {detail['name']!r}: {scales.size} scales for axis {axis} of {q.shape}")
        shape[axis] = scales.size
    return (q.astype(np.float64) - zps.reshape(shape)) * scales.reshape(shape)


def value_range(detail: dict) -> tuple[float, float]:
    """Real range representable by an (activation) tensor: [(qmin - zp) * s, (qmax - zp) * s]."""
    info = np.iinfo(detail["dtype"])
    scale = float(detail["quantization_parameters"]["scales"][0])
    zp = float(detail["quantization_parameters"]["zero_points"][0])
    return (info.min - zp) * scale, (info.max - zp) * scale


def is_relu6(detail: dict) -> bool:
    lo, hi = value_range(detail)
    if abs(lo) < 1e-6 and abs(hi - 6.0) < 0.05:
        return True
    if lo < -1e-3:
        return False
    raise ValueError(f"cannot tell the activation of {detail['name']!r} from its range [{lo}, {hi}]")


def short_name(name: str) -> str:
    return name.split(";")[0]


class Graph:
    """The TFLite op list with tensor details, consumed in order."""

    def __init__(self, interp) -> None:
        self.interp = interp
        self.tensors = {t["index"]: t for t in interp.get_tensor_details()}
        self.ops = interp._get_ops_details()  # the only way to read the graph
        self.convs = [op for op in self.ops if op["op_name"] in CONV_OPS]

    def shape(self, index: int) -> tuple[int, ...]:
        return tuple(int(s) for s in self.tensors[index]["shape"])

    def constant(self, index: int) -> np.ndarray:
        return dequantize(self.tensors[index], self.interp.get_tensor(index))

    def find_op(self, name: str, inputs: set[int]) -> dict:
        found = [op for op in self.ops if op["op_name"] == name and set(op["inputs"]) == inputs]
        if len(found) != 1:
            raise ValueError(f"expected one {name} op with inputs {sorted(inputs)}, found {len(found)}")
        return found[0]


def check_conv(graph: Graph, op: dict, prefix: str, conv, current: int | None) -> None:
    """Verify that TFLite op ``op`` is torch conv ``conv`` (type, shapes, stride, SAME, activation, input)."""
    x, w, b = op["inputs"][:3]
    y = op["outputs"][0]
    depthwise = conv.groups > 1
    where = f"{prefix} <- op {op['index']} {op['op_name']} {short_name(graph.tensors[w]['name'])!r}"
    if op["op_name"] != ("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"):
        raise ValueError(f"{where}: wrong op type")
    cout, cin_g, kh, kw = conv.weight.shape
    want_w = (1, kh, kw, cout) if depthwise else (cout, kh, kw, cin_g)
    if graph.shape(w) != want_w or graph.shape(b) != (cout,):
        raise ValueError(
            f"{where}: weight {graph.shape(w)} bias {graph.shape(b)}, expected {want_w}, ({cout},)"
        )
    (_, hin, win, cin), (_, hout, wout, c_out) = graph.shape(x), graph.shape(y)
    stride = conv.stride[0]
    if cin != conv.in_channels or c_out != cout:
        raise ValueError(f"{where}: channels {cin}->{c_out}, expected {conv.in_channels}->{cout}")
    if (hout, wout) != (math.ceil(hin / stride), math.ceil(win / stride)):
        raise ValueError(f"{where}: {hin}x{win} -> {hout}x{wout} is not TF SAME with stride {stride}")
    if is_relu6(graph.tensors[y]) != conv.relu6:
        raise ValueError(f"{where}: activation mismatch (torch relu6={conv.relu6})")
    if current is not None and x != current:
        raise ValueError(f"{where}: consumes tensor {x}, but the previous op produced {current}")


def torch_layout(graph: Graph, op: dict, depthwise: bool) -> tuple[np.ndarray, np.ndarray]:
    w = graph.constant(op["inputs"][1])
    w = w.transpose(3, 0, 1, 2) if depthwise else w.transpose(0, 3, 1, 2)  # 1HWC -> C1HW ; OHWI -> OIHW
    return w, graph.constant(op["inputs"][2])


def map_backbone(graph: Graph, model: MobileNetV2) -> tuple[dict[str, np.ndarray], list, int]:
    """Weights of every backbone conv, in graph order; returns arrays, mapping rows and the head output."""
    specs = conv_specs(model)
    if len(graph.convs) != len(specs) + 1:
        raise ValueError(f"{len(graph.convs)} conv ops in the graph, expected {len(specs)} + 1 classifier")
    by_prefix = dict(zip([p for p, _ in specs], graph.convs[: len(specs)]))
    arrays, rows, current = {}, [], None
    blocks = [("stem", None)] + [(f"blocks.{i}", b) for i, b in enumerate(model.blocks)] + [("head", None)]
    n_add = 0
    for name, block in blocks:
        block_in = current
        parts = [name] if block is None else [f"{name}.{p}" for p in ("expand", "depthwise", "project")]
        for prefix in (p for p in parts if p in by_prefix):
            op, conv = by_prefix[prefix], model.get_submodule(prefix)
            check_conv(graph, op, prefix, conv, current)
            arrays[f"{prefix}.weight"], arrays[f"{prefix}.bias"] = torch_layout(graph, op, conv.groups > 1)
            rows.append(
                [prefix, op["index"], op["op_name"], short_name(graph.tensors[op["inputs"][1]]["name"])]
            )
            current = op["outputs"][0]
        if block is not None and block.residual:
            current = graph.find_op("ADD", {block_in, current})["outputs"][0]
            n_add += 1
    n_graph_add = sum(op["op_name"] == "ADD" for op in graph.ops)
    if n_add != n_graph_add:
        raise ValueError(f"{n_graph_add} ADD ops in the graph, {n_add} residual connections in MobileNetV2")
    return arrays, rows, current


def map_classifier(graph: Graph, head_out: int) -> tuple[dict[str, np.ndarray], list]:
    """Global pool (AVERAGE_POOL_2D or MEAN) of the head output -> 1x1 conv 1280 -> 1001 = Linear."""
    op = graph.convs[-1]
    pool = [p for p in graph.ops if p["op_name"] in ("AVERAGE_POOL_2D", "MEAN") and head_out in p["inputs"]]
    if len(pool) != 1 or op["inputs"][0] != pool[0]["outputs"][0]:
        raise ValueError("the classifier conv does not consume the global pool of the head output")
    if graph.shape(op["inputs"][1]) != (NUM_CLASSES, 1, 1, 1280) or is_relu6(graph.tensors[op["outputs"][0]]):
        raise ValueError(f"unexpected classifier {graph.shape(op['inputs'][1])} or activation")
    w = graph.constant(op["inputs"][1])[:, 0, 0, :]
    arrays = {"classifier.weight": w, "classifier.bias": graph.constant(op["inputs"][2])}
    return arrays, [
        ["classifier", op["index"], op["op_name"], short_name(graph.tensors[op["inputs"][1]]["name"])]
    ]


def input_normalization(interp) -> dict:
    detail = interp.get_input_details()[0]
    scale, zp = detail["quantization"]
    if detail["dtype"] != np.uint8 or tuple(detail["shape"]) != (1, 224, 224, 3):
        raise ValueError(f"unexpected input {detail['dtype']} {detail['shape']}")
    return {
        "zero_point": float(zp),
        "scale": float(scale),
        "pixels": "RGB uint8 in [0, 255]",
        "layout": "NCHW",
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert(tflite: Path, dtype: str, date: str) -> tuple[dict[str, np.ndarray], dict]:
    interp = load_interpreter(tflite)
    graph = Graph(interp)
    model = MobileNetV2()
    arrays, rows, head_out = map_backbone(graph, model)
    cls_arrays, cls_rows = map_classifier(graph, head_out)
    arrays.update(cls_arrays)
    params = dict(model.named_parameters())
    if set(arrays) != set(params):
        raise ValueError(f"unmapped parameters: {sorted(set(params) ^ set(arrays))}")
    for name, p in params.items():
        if tuple(arrays[name].shape) != tuple(p.shape):
            raise ValueError(f"{name}: converted shape {arrays[name].shape} != torch {tuple(p.shape)}")
    ordered = {name: arrays[name].astype(dtype) for name in params}
    meta = {
        "format": "procrop MobileNetV2 float weights (torch parameter names)",
        "op_mapping_version": OP_MAPPING_VERSION,
        "source": {
            "repo": SOURCE_REPO,
            "commit": SOURCE_COMMIT,
            "path": tflite.name,
            "sha256": sha256(tflite),
        },
        "licence": LICENCE,
        "conversion_date": date,
        "converter": "tools/convert_mobilenet.py",
        "dtype": dtype,
        "num_parameters": int(sum(a.size for a in ordered.values())),
        "num_classes": NUM_CLASSES,
        "labels": "imagenet_labels.txt of the source (index 0 = background)",
        "input_normalization": input_normalization(interp),
        "bn_folded": True,
        "padding": "TF SAME (stride-2: pad (0,1) on even sides, (1,1) on odd)",
        "mapping": [["torch", "tflite op index", "op", "tflite weight tensor"]] + rows + cls_rows,
    }
    return ordered, meta


def write_npz(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """An npz (zip of .npy files) with fixed timestamps and order, stored uncompressed: reproducible bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = dict(arrays)
    entries[METADATA_KEY] = np.array(json.dumps(meta, sort_keys=True, separators=(",", ":")))
    tmp = path.with_suffix(path.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in entries.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr if arr.flags.c_contiguous else arr.copy(), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    os.replace(tmp, path)


def run_tflite(interp, image: np.ndarray) -> np.ndarray:
    """Dequantised softmax probabilities (1001) of a (224, 224, 3) uint8 RGB image."""
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.set_tensor(inp["index"], image[None])
    interp.invoke()
    return dequantize(out, interp.get_tensor(out["index"]))[0]


def load_photo(path: Path, size: int = 224) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR))


def verify(tflite: Path, npz: Path, photos: list[Path]) -> None:
    import torch

    interp = load_interpreter(tflite)
    model = MobileNetV2.from_file(npz)
    agree, diffs = 0, []
    for p in photos:
        img = load_photo(p)
        ref = run_tflite(interp, img)
        with torch.no_grad():
            prob = torch.softmax(model(model.preprocess(img)), -1)[0].numpy()
        agree += int(ref.argmax() == prob.argmax())
        diffs.append(float(np.abs(ref - prob).mean()))
        print(f"{p.name}: tflite {ref.argmax()} ({ref.max():.3f}) torch {prob.argmax()} ({prob.max():.3f})")
    print(f"top-1 agreement {agree}/{len(photos)}, mean |prob diff| {np.mean(diffs):.2e}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tflite", type=Path, required=True, help="quantised MobileNetV2 1.0 224 .tflite")
    ap.add_argument("--out", type=Path, required=True, help="output .npz")
    ap.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    ap.add_argument(
        "--date", help=f"conversion date recorded (default SOURCE_DATE_EPOCH or {DEFAULT_CONVERSION_DATE})"
    )
    ap.add_argument(
        "--verify", type=Path, nargs="*", default=[], help="photos to compare top-1 with the tflite"
    )
    args = ap.parse_args(argv)
    date = args.date or DEFAULT_CONVERSION_DATE
    if not args.date and os.environ.get("SOURCE_DATE_EPOCH"):
        date = (
            _dt.datetime.fromtimestamp(int(os.environ["SOURCE_DATE_EPOCH"]), _dt.timezone.utc)
            .date()
            .isoformat()
        )
    arrays, meta = convert(args.tflite, args.dtype, date)
    write_npz(args.out, arrays, meta)
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {meta['num_parameters']} parameters, "
        f"sha256 {sha256(args.out)})"
    )
    if args.verify:
        verify(args.tflite, args.out, args.verify)


if __name__ == "__main__":
    main()
