"""Exporting the learned box scorer as the bundle ``procrop crop`` runs with onnxruntime.

``procrop learned export RUN/best.pt OUT_DIR --refs DB`` (:func:`export_bundle`) writes:

* ``backbone.onnx``: uint8 ``images (1, 3, 256, 256)`` -> ``c3, c4, c5`` (the frozen MobileNetV2;
  weights stored in float16 and cast to float32 when the session loads, so the file is half size
  and the arithmetic is float32);
* ``encode.onnx`` (float16 storage too): ``c3, c4, c5, refs (1, k, 64, 64), ref_mask (1, k), text_ids (1, L)`` ->
  ``fused, edges, context``;
* ``score.onnx``: ``fused, edges, context, boxes (1, M, 4), aspect (1,)`` -> ``logits (1, M)``
  (any ``M``);
* ``references/``: the reference database the model was trained with (``mobilenet`` encoder);
* ``model.json``: the network configuration, the training record and the command that rebuilt it.

:func:`bundle_parity` checks the bundle against the torch model on a real photo.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import ModelLoadError, require
from ..shared.families import USE, checkpoint_family, read_torch_file
from ...retrieval.encoders.mobilenet import INPUT_SIDE
from .boxnet import BoxNet, BoxNetConfig, frozen_backbone


class _Backbone(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.net = frozen_backbone(kind)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m = self.net(images)
        return m["c3"], m["c4"], m["c5"]


class _Encode(nn.Module):
    def __init__(self, model: BoxNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, c3, c4, c5, refs, ref_mask, text_ids):
        return self.model.encode(c3, c4, c5, refs, ref_mask, text_ids)


class _Score(nn.Module):
    def __init__(self, model: BoxNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, fused, edges, context, boxes, aspect):
        return self.model.score(fused, edges, context, boxes, aspect)


def _export(module: nn.Module, inputs: tuple[torch.Tensor, ...], path: Path, names: list[str], outputs: list[str],
            dynamic: dict[str, dict[int, str]] | None = None) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), inputs, str(tmp), dynamo=False, opset_version=17, input_names=names,
                          output_names=outputs, dynamic_axes=dynamic or {})
    os.replace(tmp, path)


def store_half(path: Path, min_size: int = 1024) -> None:
    """Rewrite an ONNX file with its large float32 weights stored as float16 plus a Cast back to
    float32 (onnxruntime folds the casts when the session loads)."""
    onnx = require("onnx", "ONNX export", "torch")
    from onnx import helper, numpy_helper

    m = onnx.load(str(path))
    g = m.graph
    casts = []
    for init in list(g.initializer):
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        if arr.size < min_size:
            continue
        half = numpy_helper.from_array(arr.astype(np.float16), name=init.name + "__f16")
        g.initializer.remove(init)
        g.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT))
    for i, node in enumerate(casts):
        g.node.insert(i, node)
    onnx.save(m, str(path))


def fold_pads(path: Path, example: dict[str, np.ndarray]) -> int:
    """Rewrite an ONNX file of fixed input shapes so that each zero ``Pad`` of the height and width
    feeding a 2-D ``Conv``'s input becomes that convolution's own ``pads`` (the same numbers, 17 %
    less time for the backbone: the stride-2 convolutions' TF padding no longer breaks
    onnxruntime's blocked layout). ``example`` feeds the graph once to read the pad amounts, which
    torch exports as a computation; what computed them is then dropped. A Pad is left alone unless
    it pads with zeros (no ``constant_value``), only at the spatial ends, by non-negative amounts,
    into one Conv without ``auto_pad`` or pads of its own, and is no graph output. The graph must
    be in topological order and hold no subgraphs (as torch's export is). Returns how many were
    folded."""
    onnx = require("onnx", "ONNX export", "torch")
    from onnx import helper

    m = onnx.load(str(path))
    g = m.graph
    outputs = {o.name for o in g.output}
    consumers: dict[str, list[Any]] = {}
    for node in g.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def foldable(pad: Any) -> bool:
        users = consumers.get(pad.output[0], [])
        conv = users[0] if len(users) == 1 else None
        return (pad.op_type == "Pad" and conv is not None and conv.op_type == "Conv"
                and conv.input[0] == pad.output[0] and pad.output[0] not in outputs
                and (len(pad.input) < 3 or not pad.input[2])
                and all(a.s == b"constant" for a in pad.attribute if a.name == "mode")
                and all(a.name != "auto_pad" or a.s in (b"", b"NOTSET") for a in conv.attribute))

    pads = [n for n in g.node if foldable(n)]
    if not pads:
        return 0
    probe = onnx.ModelProto()
    probe.CopyFrom(m)  # the graph as loaded, with the pad amounts as outputs
    probe.graph.output.extend(helper.make_tensor_value_info(n.input[1], onnx.TensorProto.INT64, None)
                              for n in pads)
    amounts = onnxruntime_session(probe.SerializeToString()).run([n.input[1] for n in pads], example)
    folded = 0
    for node, amount in zip(pads, amounts):
        ends = [int(v) for v in amount]  # (N, C, H, W) begins, then ends
        conv = consumers[node.output[0]][0]
        own = next((x for x in conv.attribute if x.name == "pads"), None)
        if (len(ends) != 8 or min(ends) < 0 or ends[:2] != [0, 0] or ends[4:6] != [0, 0]
                or (own is not None and any(own.ints))):
            continue
        spatial = [ends[2], ends[3], ends[6], ends[7]]  # top, left, bottom, right
        if own is None:
            conv.attribute.append(helper.make_attribute("pads", spatial))
        else:
            own.ints[:] = spatial
        conv.input[0] = node.input[0]
        g.node.remove(node)
        folded += 1
    wanted = set(outputs)
    for node in reversed(list(g.node)):  # drop what computed the pad amounts
        if any(o in wanted for o in node.output):
            wanted.update(node.input)
        else:
            g.node.remove(node)
    for init in list(g.initializer):  # and the constants only they read
        if init.name not in wanted:
            g.initializer.remove(init)
    onnx.save(m, str(path))
    return folded


def onnxruntime_session(model: bytes) -> Any:
    """A one-thread CPU onnxruntime session of a serialised model."""
    ort = require("onnxruntime", "ONNX export", "base")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def load_checkpoint(path: str | os.PathLike) -> tuple[BoxNet, dict[str, Any]]:
    """A trained :class:`BoxNet` and its checkpoint dict (``best.pt`` of a run).

    Raises:
        ModelLoadError: no such file, or not a learned-scorer checkpoint.
    """
    state = read_torch_file(path)
    family = checkpoint_family(state)
    if family != "scorer":
        said = "not a learned-scorer checkpoint" if family is None else USE[family]
        raise ModelLoadError(f"{path}: {said}")
    try:
        model = BoxNet(BoxNetConfig(**state["config"]))
        model.load_state_dict(state["model"])
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign state
        raise ModelLoadError(f"{path}: not a learned-scorer checkpoint ({type(exc).__name__}: {exc})") from None
    return model.eval(), state


def export_bundle(model: BoxNet, out: str | os.PathLike, refs_db: str | None, info: dict[str, Any],
                  backbone: str = "pretrained") -> Path:
    """Write the bundle (see the module docstring) for ``model``; returns the folder."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (1, 3, INPUT_SIDE, INPUT_SIDE), dtype=torch.uint8, generator=g)
    bb = _Backbone(backbone)
    _export(bb, (images,), out / "backbone.onnx", ["images"], ["c3", "c4", "c5"])
    store_half(out / "backbone.onnx")
    if fold_pads(out / "backbone.onnx", {"images": images.numpy()}) != 5:  # the five stride-2 convolutions
        warnings.warn("backbone.onnx: its TF padding was not all folded into the convolutions (slower)")
    with torch.no_grad():
        c3, c4, c5 = bb(images)
    refs = torch.randn(1, cfg.k_refs, cfg.ref_tokens, cfg.ref_dim, generator=g)
    ref_mask = torch.zeros(1, cfg.k_refs, dtype=torch.bool)
    text = torch.randint(1, cfg.vocab, (1, cfg.text_len), generator=g)
    _export(_Encode(model), (c3, c4, c5, refs, ref_mask, text), out / "encode.onnx",
            ["c3", "c4", "c5", "refs", "ref_mask", "text_ids"], ["fused", "edges", "context"])
    with torch.no_grad():
        fused, edges, context = model.encode(c3, c4, c5, refs, ref_mask, text)
    boxes = torch.tensor([[[0.1, 0.1, 0.9, 0.8], [0.0, 0.0, 1.0, 1.0]]])
    _export(_Score(model), (fused, edges, context, boxes, torch.tensor([1.5])), out / "score.onnx",
            ["fused", "edges", "context", "boxes", "aspect"], ["logits"], {"boxes": {1: "m"}, "logits": {1: "m"}})
    for part in ("encode", "score"):
        store_half(out / f"{part}.onnx")
    if refs_db and cfg.refs:
        target = out / "references"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(refs_db, target, ignore=shutil.ignore_patterns("*.lock", "index*"))
    card = {"format": "procrop-learned", "version": 1, "config": cfg.to_dict(), "backbone": backbone, **info}
    (out / "model.json").write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    write_attribution(out, card)
    return out


def write_attribution(bundle: Path, card: dict[str, Any]) -> None:
    """The bundle's ``ATTRIBUTION.md``: what its weights derive from and under which licences, as
    far as the bundle knows (its ``model.json``: the box sets it was trained on, what it was
    fine-tuned from, its reference database)."""
    training = card.get("training") or {}
    sets = ", ".join(f"`{training[k]}`" for k in ("train", "val") if training.get(k)) or "box sets"
    start = card.get("finetuned_from") or {}
    origin = (f"fine-tuned from `{start.get('checkpoint')}`, then " if start.get("checkpoint") else "")
    listed = bundle / "references" / "ATTRIBUTION.md"
    if listed.exists():
        refs = ("derived data (search vectors and tokens) of its photos; `references/ATTRIBUTION.md` lists "
                "every source, licence and attribution.")
    elif (bundle / "references").exists():
        refs = ("derived data (search vectors and tokens) of the reference photos, under those photos' "
                "licences; no attribution list was written (the database was built without a licence list).")
    else:
        refs = "none: the bundle ships no reference database."
    ablation = " (random weights: an ablation)" if card.get("backbone") == "random" else ""
    text = f"""# Attribution: learned scorer bundle `{card.get("name", bundle.name)}`

* `backbone.onnx`: the ImageNet MobileNetV2 1.0 of `../shared/models/backbone` (TensorFlow / Coral
  release, Apache-2.0), converted by `tools/convert_mobilenet.py` (see
  `procrop/resources/models/MOBILENET_ATTRIBUTION.md`), frozen{ablation}.
* `encode.onnx`, `score.onnx`: weights trained by procrop (Apache-2.0, as procrop), {origin}trained on
  the box sets {sets} (canvases made from photos; no pixels of any photo are included). Those photos'
  licences govern what the weights derive from: procrop's shipped bundle used the training split of
  its licensed photo pool; a bundle built or fine-tuned on your photos derives from yours.
* `references/`: {refs}

Rebuild: the `procrop learned` command that made it (`model.json` records its inputs; the shipped
bundle's is in `docs/model_card.md`).
"""
    (bundle / "ATTRIBUTION.md").write_text(text, encoding="utf-8")


def bundle_parity(model: BoxNet, bundle: str | os.PathLike, pixels: np.ndarray, text: str = "") -> float:
    """Largest difference of ``sigmoid`` scores between torch and the bundle on 64 boxes of a photo."""
    from .boxnet import backbone_input
    from .runtime import LearnedModel

    lm = LearnedModel(bundle)
    enc = lm.encode(pixels, text)
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 1, (64, 2)), rng.uniform(0, 1, (64, 2))
    boxes = np.concatenate([np.minimum(a, b), np.maximum(a, b)], axis=1)
    got = lm.score(enc, boxes)
    with torch.no_grad():
        maps = frozen_backbone(lm.card.get("backbone", "pretrained"))(torch.from_numpy(backbone_input(pixels)[None]))
        refs = torch.from_numpy(enc.refs.astype(np.float32))
        fused, edges, context = model.encode(maps["c3"], maps["c4"], maps["c5"], refs,
                                             torch.from_numpy(enc.ref_mask), torch.from_numpy(enc.text_ids))
        ref = torch.sigmoid(model.score(fused, edges, context, torch.from_numpy(boxes[None].astype(np.float32)),
                                        torch.tensor([enc.aspect], dtype=torch.float32)))[0].numpy()
    return float(np.abs(ref - got).max())
