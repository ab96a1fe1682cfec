"""Reference-database search at scale: latency, recall@10 against exact search, build time, memory.

Synthetic vectors of the default (layout encoder) dimension are drawn from a Gaussian fitted to the
bundled database's real vectors (its mean and covariance), then L2-normalised, so the benchmark
sees the correlation structure of real composition embeddings rather than isotropic noise.
Queries are fresh draws from the same distribution. Ground truth is exact inner-product search.

    python benchmarks/bench_search.py --n 1000000 --queries 1000 --kinds exact,hnsw,ivf
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    """Current resident memory of this process in MB (Linux)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def synthetic(n: int, seed: int) -> np.ndarray:
    from procrop.retrieval import ReferenceDB, bundled_db_path

    path = bundled_db_path()
    if path is None:
        sys.exit("no bundled reference database to fit the synthetic distribution on")
    real = ReferenceDB.open(path).vectors.astype(np.float64)
    mean = real.mean(axis=0)
    cov = np.cov(real, rowvar=False) + 1e-4 * np.eye(real.shape[1])
    chol = np.linalg.cholesky(cov)
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), np.float32)
    step = 100_000
    for s in range(0, n, step):
        z = rng.standard_normal((min(step, n - s), real.shape[1]))
        x = mean + z @ chol.T
        out[s : s + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def exact_topk(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((len(q), k), np.int64)
    for s in range(0, len(q), 100):
        sims = q[s : s + 100] @ x.T
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1)
        out[s : s + 100] = np.take_along_axis(part, order, axis=1)
    return out


def main() -> None:
    from procrop.helptext import plain

    ap = argparse.ArgumentParser(description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="vectors in the synthetic database")
    ap.add_argument("--queries", type=int, default=1000, help="query vectors")
    ap.add_argument("--k", type=int, default=10, help="neighbours per query")
    ap.add_argument("--kinds", default="exact,hnsw,ivf", help="comma list of indexes: exact, hnsw, ivf")
    ap.add_argument("--ef-search", default="32,64,128", help="HNSW efSearch values to sweep")
    ap.add_argument("--nprobe", default="8,16,32,64", help="IVF nprobe values to sweep")
    ap.add_argument("--json", help="write results here")
    args = ap.parse_args()

    from procrop.retrieval.search import ExactIndex, FaissIndex

    base = rss_mb()
    t = time.perf_counter()
    x = synthetic(args.n, 0)
    q = synthetic(args.queries, 1)
    print(f"{args.n:,} x {x.shape[1]} synthetic vectors ({x.nbytes / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    t = time.perf_counter()
    truth = exact_topk(x, q, args.k)
    print(f"exact ground truth for {args.queries} queries in {time.perf_counter() - t:.1f} s", file=sys.stderr)

    rows = []

    def measure(name: str, index, params: str, build_s: float, mem_mb: float) -> None:
        lat = []
        got = np.empty_like(truth)
        for i in range(len(q)):
            s = time.perf_counter()
            _, idx = index.search(q[i : i + 1], args.k)
            lat.append((time.perf_counter() - s) * 1e3)
            got[i] = idx[0]
        recall = float(np.mean([len(set(a) & set(b)) / args.k for a, b in zip(truth, got)]))
        lat.sort()
        row = {
            "index": name,
            "params": params,
            "p50_ms": statistics.median(lat),
            "p99_ms": lat[int(0.99 * (len(lat) - 1))],
            "recall@10": recall,
            "build_s": build_s,
            "index_mb": mem_mb,
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)

    for kind in args.kinds.split(","):
        before = rss_mb()
        t = time.perf_counter()
        if kind == "exact":
            index = ExactIndex(x)
            build = time.perf_counter() - t
            measure("exact (numpy)", index, "-", build, x.nbytes / 1e6)
        elif kind == "hnsw":
            index = FaissIndex(x, kind="hnsw")
            build = time.perf_counter() - t
            mem = rss_mb() - before
            for ef in map(int, args.ef_search.split(",")):
                index.set_search_params(ef_search=ef)
                measure("faiss HNSW (M=32)", index, f"efSearch={ef}", build, mem)
        elif kind == "ivf":
            index = FaissIndex(x, kind="ivf")
            build = time.perf_counter() - t
            mem = rss_mb() - before
            for p in map(int, args.nprobe.split(",")):
                index.set_search_params(nprobe=p)
                measure(f"faiss IVF-Flat (nlist={index.index.nlist})", index, f"nprobe={p}", build, mem)
        del index

    print(f"\n{args.n:,} vectors x {x.shape[1]} dims, {args.queries} single-vector queries, k={args.k}; "
          f"process baseline {base:.0f} MB\n")
    print("| index | search params | p50 ms | p99 ms | recall@10 | build s | index memory MB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['index']} | {r['params']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['recall@10']:.3f} | {r['build_s']:.0f} | {r['index_mb']:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
