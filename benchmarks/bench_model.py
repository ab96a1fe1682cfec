"""Neural ProCrop speed on the CPU: ms per image through torch and onnxruntime, parameters, FLOPs.

Configurations: ``small`` (small CNN, 2+2 layers, d 128) and ``paper`` (ResNet-50 C5, 6+6 layers,
d 256, ``mix`` fusion on a 1024 canvas). Randomly initialised weights: speed does not depend on
their values. Each measurement is the forward pass of one image (references and description
tokens included) plus scoring 64 candidate boxes with the box head, after warm-up runs.

    python benchmarks/bench_model.py [--configs small,paper] [--size 960x640] [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch


def flops(model, inputs) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(*inputs)
    return counter.get_total_flops()


def main() -> None:
    from procrop.helptext import plain

    ap = argparse.ArgumentParser(description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="small,paper",
                    help="comma list of model presets to time (small, paper, mix)")
    ap.add_argument("--size", default="960x640", help="input WxH for configs without a fixed canvas")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per configuration")
    ap.add_argument("--threads", type=int, default=0, help="torch/onnxruntime threads (0: library default)")
    args = ap.parse_args()

    import onnxruntime as ort

    from procrop.model.paper.checkpoint import save_checkpoint
    from procrop.model.paper.config import PRESETS, ModelConfig
    from procrop.model.paper.export import _ExportGraph, example_inputs, export_onnx
    from procrop.model.paper.network import build_model

    if args.threads:
        torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.lower().split("x"))
    rows = []
    tmp = Path(tempfile.mkdtemp())
    for name in args.configs.split(","):
        cfg = PRESETS[name]()
        cfg = cfg.replace(model={"backbone_weights": ""})
        model = build_model(ModelConfig(**cfg.model.__dict__)).eval()
        size = (cfg.model.canvas, cfg.model.canvas) if cfg.model.canvas else (w, h)
        graph = _ExportGraph(model).eval()
        inputs = example_inputs(model, size, candidates=64)
        params = sum(p.numel() for p in model.parameters())
        gflops = flops(graph, inputs) / 1e9
        with torch.inference_mode():
            for _ in range(3):
                graph(*inputs)
            ts = []
            for _ in range(args.runs):
                t = time.perf_counter()
                graph(*inputs)
                ts.append((time.perf_counter() - t) * 1e3)
        torch_ms = statistics.median(ts)
        ck = tmp / f"{name}.pt"
        save_checkpoint(ck, {"model": model.state_dict(), "config": cfg.to_dict()})
        onnx_path = export_onnx(ck, tmp / f"{name}.onnx", size=size)
        so = ort.SessionOptions()
        if args.threads:
            so.intra_op_num_threads = args.threads
        sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        feed = {i.name: t.numpy() for i, t in zip(sess.get_inputs(), inputs)}
        for _ in range(3):
            sess.run(None, feed)
        ts = []
        for _ in range(args.runs):
            t = time.perf_counter()
            sess.run(None, feed)
            ts.append((time.perf_counter() - t) * 1e3)
        ort_ms = statistics.median(ts)
        rows.append((name, f"{size[0]}x{size[1]}", params / 1e6, gflops, torch_ms, ort_ms))
        print(f"{name}: done", file=sys.stderr)

    print(f"\nCPU: {torch.get_num_threads()} torch threads; median of {args.runs} runs, one image + 64 candidate boxes\n")
    print("| config | input WxH | params (M) | GFLOPs | torch ms | onnxruntime ms | onnxruntime images/s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, size, p, g, tm, om in rows:
        print(f"| {name} | {size} | {p:.2f} | {g:.1f} | {tm:.1f} | {om:.1f} | {1000 / om:.1f} |")


if __name__ == "__main__":
    main()
