"""Free the fixed sizes of an ONNX model's input and output, without the ``onnx`` package.

A fully convolutional net exported for one input size (YOLOX-nano: ``[1, 3, 416, 416]``) runs at
any size a multiple of its largest stride, but onnxruntime refuses inputs whose shape differs from
the declared one. :func:`free_dims` rewrites the declared sizes as named (free) dimensions in the
serialised model, so the shipped file stays byte for byte what was vendored (its sha256 still
checks) while the session built from the edited bytes takes, say, a ``[1, 3, 288, 416]``
letterbox of a landscape photo instead of padding it to a square.

Only the few protobuf messages on the way to the shapes are decoded (``ModelProto.graph`` ->
``GraphProto.input`` / ``output`` -> ``ValueInfoProto.type`` -> ``TypeProto.tensor_type`` ->
``TensorShapeProto.dim``); every other byte (the nodes, the weights) is copied unchanged. The wire
format is protobuf's documented encoding: a key ``field << 3 | wire type``, then a varint, a
length-prefixed payload or 4 / 8 fixed bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

_GRAPH, _INPUT, _OUTPUT = 7, 11, 12  # ModelProto.graph, GraphProto.input / output
_TYPE, _TENSOR, _SHAPE, _DIM = 2, 1, 2, 1  # ValueInfoProto.type, TypeProto.tensor_type, .shape, .dim
_DIM_VALUE, _DIM_PARAM = 1, 2  # TensorShapeProto.Dimension


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(buf: bytes) -> list[tuple[int, int, bytes]]:
    """A message's fields in order: ``(field number, wire type, payload)``; a varint's payload is
    its encoded bytes, a length-delimited one's the bytes after the length."""
    out = []
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, j = _read_varint(buf, i)
        elif wire == 2:
            n, i = _read_varint(buf, i)
            j = i + n
        elif wire in (1, 5):
            j = i + (8 if wire == 1 else 4)
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if j > len(buf):
            raise ValueError("truncated field")
        out.append((field, wire, buf[i:j]))
        i = j
    return out


def _join(fields: list[tuple[int, int, bytes]]) -> bytes:
    parts = []
    for field, wire, payload in fields:
        parts.append(_varint(field << 3 | wire))
        if wire == 2:
            parts.append(_varint(len(payload)))
        parts.append(payload)
    return b"".join(parts)


def _edit(buf: bytes, field: int, edit: Callable[[int, bytes], bytes]) -> bytes:
    """``buf`` with the payload of every occurrence ``k`` (0, 1, ...) of length-delimited ``field``
    replaced by ``edit(k, payload)``."""
    out, k = [], 0
    for f, wire, payload in _fields(buf):
        if f == field and wire == 2:
            payload = edit(k, payload)
            k += 1
        out.append((f, wire, payload))
    return _join(out)


def _named_dims(value_info: bytes, names: Mapping[int, str]) -> bytes:
    """A ``ValueInfoProto`` whose dimensions ``i`` in ``names`` become ``dim_param = names[i]``."""

    def dim(i: int, payload: bytes) -> bytes:
        if i not in names:
            return payload
        return _join([(_DIM_PARAM, 2, names[i].encode())])

    def shape(_: int, payload: bytes) -> bytes:
        return _edit(payload, _DIM, dim)

    def tensor(_: int, payload: bytes) -> bytes:
        return _edit(payload, _SHAPE, shape)

    return _edit(value_info, _TYPE, lambda _, t: _edit(t, _TENSOR, tensor))


def free_dims(model: bytes, inputs: Mapping[int, str], outputs: Mapping[int, str]) -> bytes:
    """The serialised ONNX ``model`` with the first graph input's dimensions ``inputs`` (index ->
    name, e.g. ``{2: "height", 3: "width"}``) and the first output's ``outputs`` made free.

    Raises:
        ValueError: the bytes are not a protobuf message this can walk.
    """

    def graph(_: int, payload: bytes) -> bytes:
        payload = _edit(payload, _INPUT, lambda k, v: _named_dims(v, inputs) if k == 0 else v)
        return _edit(payload, _OUTPUT, lambda k, v: _named_dims(v, outputs) if k == 0 else v)

    return _edit(model, _GRAPH, graph)
