"""Load test of the HTTP server: latency, throughput, errors and peak memory, 1 and 2 workers.

    python benchmarks/bench_server.py --workers 1,2 --clients 4 --requests 60 --max-seconds 60

For each worker count the script starts ``python -m procrop.server`` on 127.0.0.1 (loopback
only) on a free port, warms it up, then N client threads send a fixed number of
``POST /v1/crop`` requests (the example photo, three ratios); it stops by itself when the
requests are done or the time cap is reached, stops the server it started, and writes
``benchmarks/results/server_load.md``. Memory is read from ``/proc``: the peak of the summed
resident size of the server's process tree (sampled every 50 ms) and the sum of each process's
own high-water mark (``VmHWM``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # never any other address


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def multipart(image: bytes, name: str, fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + image + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def tree_pids(root: int) -> list[int]:
    """``root`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler(threading.Thread):
    """Peak summed RSS of a process tree, plus per-process high-water marks."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_kb = 0
        self.hwm_kb: dict[int, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            pids = tree_pids(self.root)
            self.peak_kb = max(self.peak_kb, sum(status_kb(p, "VmRSS") for p in pids))
            for p in pids:
                self.hwm_kb[p] = max(self.hwm_kb.get(p, 0), status_kb(p, "VmHWM"))
            self.stop.wait(0.05)


def start_server(workers: int, port: int, max_queue: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "procrop.server", "--host", HOST, "--port", str(port),
           "--workers", str(workers), "--max-queue", str(max_queue), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError("server did not start within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # the session this script started
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def one_request(port: int, body: bytes, ctype: str) -> tuple[int, float]:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("POST", "/v1/crop", body=body, headers={"Content-Type": ctype})
        resp = conn.getresponse()
        resp.read()
        status = resp.status
    except OSError:
        status = 0
    finally:
        conn.close()
    return status, (time.perf_counter() - t0) * 1e3


def load(port: int, body: bytes, ctype: str, clients: int, requests: int, max_seconds: float) -> dict:
    """N client threads share a fixed request budget; each stops at the time cap."""
    lock = threading.Lock()
    remaining = [requests]
    results: list[tuple[int, float]] = []
    stop_at = time.perf_counter() + max_seconds

    def client() -> None:
        while time.perf_counter() < stop_at:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            r = one_request(port, body, ctype)
            with lock:
                results.append(r)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + 70)
    wall = time.perf_counter() - t0
    ok = sorted(ms for status, ms in results if status == 200)
    q = statistics.quantiles(ok, n=100, method="inclusive") if len(ok) >= 2 else [ok[0] if ok else float("nan")] * 99
    return {"sent": len(results), "ok": len(ok), "errors": len(results) - len(ok), "wall_s": wall,
            "p50_ms": q[49], "p99_ms": q[98], "throughput_rps": len(ok) / wall if wall else 0.0,
            "statuses": sorted({s for s, _ in results})}


def run_one(workers: int, args: argparse.Namespace, body: bytes, ctype: str) -> dict:
    port = free_port()
    proc = start_server(workers, port, max_queue=max(16, 2 * args.clients))
    sampler = MemorySampler(proc.pid)
    sampler.start()
    try:
        for _ in range(2 * workers):  # warm-up (first request per worker loads the database)
            one_request(port, body, ctype)
        row = load(port, body, ctype, args.clients, args.requests, args.max_seconds)
    finally:
        sampler.stop.set()
        sampler.join()
        stop_server(proc)
    row.update(workers=workers, clients=args.clients, peak_rss_mb=sampler.peak_kb / 1024,
               sum_hwm_mb=sum(sampler.hwm_kb.values()) / 1024, processes=len(sampler.hwm_kb))
    return row


def write_report(rows: list[dict], args: argparse.Namespace, path: Path) -> str:
    lines = [
        "# Server load (`benchmarks/bench_server.py`)",
        "",
        (f"`python benchmarks/bench_server.py --workers {args.workers} --clients {args.clients} "
        f"--requests {args.requests} --max-seconds {args.max_seconds:g}`: `POST /v1/crop` with "
        f"`{Path(args.image).name}` ({Path(args.image).stat().st_size:,} bytes), ratios `{args.ratios}`, top-k 3, "
        f"{os.cpu_count()} CPU cores, server on {HOST}. Latency over successful requests; peak RSS is the "
        "largest summed resident size of the server's process tree (supervisor included), "
        "sum of HWM adds each process's own peak."),
        "",
        "| workers | clients | requests | ok | errors | p50 ms | p99 ms | req/s | peak RSS MB | sum of HWM MB | processes |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['workers']} | {r['clients']} | {r['sent']} | {r['ok']} | {r['errors']} | "
                     f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['throughput_rps']:.2f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['sum_hwm_mb']:.0f} | {r['processes']} |")
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return text


def main() -> None:
    from procrop.helptext import plain

    p = argparse.ArgumentParser(description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", default="1,2", help="comma list of worker counts")
    p.add_argument("--clients", type=int, default=4, help="concurrent clients")
    p.add_argument("--requests", type=int, default=60, help="requests per worker count")
    p.add_argument("--max-seconds", type=float, default=60.0, help="time cap per worker count")
    p.add_argument("--image", default=str(ROOT / "examples" / "beach.jpg"),
                   help="the photo every request sends")
    p.add_argument("--ratios", default="1:1,4:5,16:9", help="ratios asked in every request")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "server_load.md"),
                   help="Markdown report to write")
    args = p.parse_args()
    body, ctype = multipart(Path(args.image).read_bytes(), Path(args.image).name,
                            {"ratios": args.ratios, "top_k": "3"})
    rows = [run_one(int(w), args, body, ctype) for w in args.workers.split(",")]
    print(write_report(rows, args, Path(args.out)))


if __name__ == "__main__":
    main()
