"""``procrop export CKPT model.onnx``: the network as one ONNX graph, and a parity check.

The graph takes ``images (1, 3, H, W)``, ``mask (1, H, W)``, ``refs (1, k, T, F)``,
``ref_mask (1, k)``, ``text_ids (1, L)`` and ``candidates (N, 4)`` (boxes to score, input pixels,
any N) and returns ``logits (1, Q)``, ``boxes (1, Q, 4)`` and ``candidate_logits (N,)``. It is
exported for a fixed input size (``--size``, default the model's canvas or 640 x 640): photos are
resized to fit and padded, as at training time. The configuration travels in the model's metadata.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...errors import require
from .checkpoint import config_of, load_model
from .ops import roi_align_single


class _ExportGraph(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images, mask, refs, ref_mask, text_ids, candidates):
        out = self.model(images, mask, refs, ref_mask, text_ids)
        head = self.model.box_scorer
        stride = self.model.cfg.stride
        pooled = roi_align_single(out["features"], candidates, head.roi, 1.0 / stride, 2)
        local = torch.relu(head.reduce(pooled)).flatten(1)
        context = out["features"].mean(dim=(2, 3)).expand(candidates.shape[0], -1)
        cand_logits = head.fc2(torch.relu(head.fc1(torch.cat([local, context], dim=1))))[:, 0]
        return out["logits"], out["boxes"], cand_logits


def example_inputs(model: nn.Module, size: tuple[int, int], candidates: int = 8) -> tuple[torch.Tensor, ...]:
    cfg = model.cfg
    w, h = size
    g = torch.Generator().manual_seed(0)
    images = torch.rand(1, 3, h, w, generator=g)
    mask = torch.zeros(1, h, w, dtype=torch.bool)
    mask[:, :, w - w // 8 :] = True  # some padding, as real inputs have
    refs = torch.randn(1, cfg.k_refs, cfg.ref_tokens, cfg.ref_dim, generator=g)
    ref_mask = torch.zeros(1, cfg.k_refs, dtype=torch.bool)
    text_ids = torch.randint(1, cfg.text_vocab, (1, cfg.text_len), generator=g)
    x0 = torch.rand(candidates, 2, generator=g) * torch.tensor([w / 2, h / 2])
    cand = torch.cat([x0, x0 + torch.tensor([w / 3, h / 3])], dim=1)
    return images, mask, refs, ref_mask, text_ids, cand


def export_onnx(checkpoint: str | os.PathLike, out: str | os.PathLike, size: tuple[int, int] | None = None,
                opset: int = 17) -> Path:
    """Export a checkpoint; returns the written path (written atomically)."""
    require("onnx", "ONNX export", "torch")
    model, state = load_model(checkpoint, device="cpu")
    cfg = config_of(state)
    if cfg.model.text == "clip":
        from ...errors import UsageError

        raise UsageError("a model with the CLIP text encoder cannot be exported (its tokenizer runs in Python)")
    canvas = cfg.model.canvas or 640
    size = size or (canvas, canvas)
    graph = _ExportGraph(model).eval()
    inputs = example_inputs(model, size)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:  # nothing half-written: the temporary file goes whatever stops the export
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph,
                inputs,
                str(tmp),
                dynamo=False,
                opset_version=opset,
                input_names=["images", "mask", "refs", "ref_mask", "text_ids", "candidates"],
                output_names=["logits", "boxes", "candidate_logits"],
                dynamic_axes={"candidates": {0: "n"}, "candidate_logits": {0: "n"}},
            )
        import onnx

        m = onnx.load(str(tmp))
        meta = {"procrop_config": json.dumps(cfg.to_dict()),
                "procrop_version": state.get("procrop_version", "")}
        for key, value in meta.items():
            entry = m.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(m, str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def parity(checkpoint: str | os.PathLike, onnx_path: str | os.PathLike, candidates: int = 16) -> dict[str, float]:
    """Largest absolute differences between torch and onnxruntime outputs on one input."""
    ort = require("onnxruntime", "ONNX inference", "torch")
    model, _ = load_model(checkpoint, device="cpu")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    shape = sess.get_inputs()[0].shape
    inputs = example_inputs(model, (shape[3], shape[2]), candidates)
    with torch.inference_mode():
        ref = _ExportGraph(model).eval()(*inputs)
    names = [i.name for i in sess.get_inputs()]
    got = sess.run(None, {n: t.numpy() for n, t in zip(names, inputs)})
    probs = {
        "scores": float(np.abs(torch.sigmoid(ref[0]).numpy() - 1 / (1 + np.exp(-got[0]))).max()),
        "boxes": float(np.abs(ref[1].numpy() - got[1]).max()),
        "candidate_scores": float(np.abs(torch.sigmoid(ref[2]).numpy() - 1 / (1 + np.exp(-got[2]))).max()),
    }
    return probs
