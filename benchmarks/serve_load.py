"""Load test of ``emobalance serve`` on 127.0.0.1: throughput, latency, errors, server memory.

Starts the server (a subprocess, a free loopback port), then runs, bounded in time:

* ``load``: ``--concurrency`` closed-loop clients for ``--duration`` s sending a mix of
  single-text and batch predictions, explanations and invalid requests (bad JSON, wrong types,
  empty list, too many texts, non-UTF-8 bytes); prints ``rps``, ``p50_ms``, ``p99_ms``,
  ``errors_5xx``, ``errors_4xx`` (all of them expected) and the server's RSS.
* ``rate``: open-loop single-text predictions at ``--rate`` req/s for ``--rate-duration`` s;
  latency is measured from each request's scheduled start (no coordinated omission). The bars:
  p99 <= 30 ms, no 5xx, server RSS <= 1 GiB.

One JSON line per mode. The client is plain asyncio over keep-alive HTTP/1.1 connections, so it
takes little CPU from the server on a small machine.

    python benchmarks/serve_load.py runs/quick/models/imbalanced-seed0
    python benchmarks/serve_load.py --synthetic --mode rate     # default-size random model
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine

DEFAULT_MODEL = "runs/quick/models/imbalanced-seed0"
BARS = {"p99_ms": 30.0, "errors_5xx": 0, "server_rss_mb": 1024.0}
SAMPLE_TEXTS = [
    "Thank you so much, this made my day!",
    "I can't believe they cancelled it again, this is so annoying.",
    "What do you mean by that?",
    "I miss her so much, it still hurts.",
    "lol that is hilarious",
    "Wow, I did not expect that at all!",
    "Honestly I'm a bit nervous about tomorrow's interview.",
    "That's disgusting, how could anyone eat that",
    "I'm so proud of you for finishing the marathon!",
    "ok",
    "The meeting was moved to Monday at 10.",
    "I really hope things get better for you soon.",
    "Sorry, that was my fault, I shouldn't have said it.",
    "Oh I finally get it now, that makes sense.",
    "This is the best thing I've read all week, love it",
    "Why would you even do that? Seriously, why?",
    "I'm so relieved the test came back negative.",
    "Great, another rainy weekend. Just great.",
    "Can you recommend a good book about history?",
    "I want that jacket so badly",
]
INVALID = [
    b'{"texts": ["unterminated',
    b'{"texts": "not a list"}',
    b'{"texts": [1, 2, 3]}',
    b'{"texts": []}',
    b'{"texts": ["caf\xe9 \xff\xfe"]}',
    json.dumps({"texts": ["x"] * 65}).encode(),  # over the default 64-text limit
]


# ------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> dict[str, float]:
    """Current (VmRSS) and peak (VmHWM) resident memory of a process, MiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key = "server_rss_mb" if line.startswith("VmRSS") else "server_peak_rss_mb"
                out[key] = round(int(line.split()[1]) / 1024, 1)
    return out


def start_server(model_dir: Path, port: int, threads: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "emobalance.cli", "serve", str(model_dir), "--port", str(port),
           "--no-access-log", "--threads", str(threads)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise SystemExit(f"server exited ({proc.returncode}): {err.strip()[-500:]}")
        url = f"http://127.0.0.1:{port}/healthz"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                return proc
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not answer /healthz within 180 s")


def synthetic_model(out: Path) -> Path:
    """A default-architecture model with random weights and a 50k vocabulary (latency/memory
    as a real model; predictions meaningless)."""
    from emobalance.models.cnn_bilstm_attention import CNNBiLSTMAttention
    from emobalance.models.reference import EmotionClassifier
    from emobalance.text import Vocab, tokenize

    words = {t for text in SAMPLE_TEXTS for t in tokenize(text)}
    itos = ["<pad>", "<unk>", *sorted(words)]
    itos += [f"w{i}" for i in range(50_000 - len(itos))]
    clf = EmotionClassifier(model={"vectors": None, "pretrained": False})
    clf.vocab_ = Vocab(itos)
    clf.network_ = CNNBiLSTMAttention(len(clf.vocab_), clf.model_config).eval()
    clf.thresholds_ = np.full(28, 0.5, dtype=np.float32)
    clf.metrics_, clf.history_ = {"synthetic": True}, []
    return clf.save(out)


# ------------------------------------------------------------------------- client
class Conn:
    """One keep-alive HTTP/1.1 connection (requests answered with Content-Length)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, body: bytes) -> int:
        if self.writer is None:
            return await self._request(path, body)
        try:
            return await self._request(path, body)
        except (ConnectionError, asyncio.IncompleteReadError):
            # the server may close an idle keep-alive connection (uvicorn: after 5 s) just as
            # we reuse it; like any HTTP client, retry once on a fresh connection
            await self.close()
            return await self._request(path, body)

    async def _request(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection") == "close":
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def server_slow(port: int, over_s: float = 0.025) -> float:
    """POST /v1/predict requests the server itself timed over ``over_s`` (from /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    series = (
        'emobalance_http_request_duration_seconds_bucket{{le="{}",method="POST",'
        'path="/v1/predict"}}'
    )
    counts = {}
    for le in (str(over_s), "+Inf"):
        m = re.search(re.escape(series.format(le)) + r" (\S+)", text)
        counts[le] = float(m.group(1)) if m else 0.0
    return counts["+Inf"] - counts[str(over_s)]


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else float("nan")


def summarise(lat: dict[str, list[float]], codes: dict[str, list[int]]) -> dict[str, Any]:
    return {
        kind: {
            "n": len(lat[kind]),
            "p50_ms": pct(lat[kind], 50),
            "p99_ms": pct(lat[kind], 99),
            "status": {str(c): codes[kind].count(c) for c in sorted(set(codes[kind]))},
        }
        for kind in lat
    }


def make_body(kind: str, rng: random.Random, texts: list[str], batch: int) -> tuple[str, bytes]:
    if kind == "single":
        return "/v1/predict", json.dumps({"texts": [rng.choice(texts)]}).encode()
    if kind == "batch":
        return "/v1/predict", json.dumps({"texts": rng.sample(texts, batch)}).encode()
    if kind == "explain":
        return "/v1/explain", json.dumps({"text": rng.choice(texts)}).encode()
    return "/v1/predict", rng.choice(INVALID)


async def run_load(port: int, texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    kinds = ["single"] * 55 + ["batch"] * 25 + ["explain"] * 10 + ["invalid"] * 10
    lat: dict[str, list[float]] = {k: [] for k in ("single", "batch", "explain", "invalid")}
    codes: dict[str, list[int]] = {k: [] for k in lat}
    conn_errors = 0
    stop = time.perf_counter() + args.duration

    async def worker(seed: int) -> None:
        nonlocal conn_errors
        rng = random.Random(seed)
        conn = Conn(port)
        while time.perf_counter() < stop:
            kind = rng.choice(kinds)
            path, body = make_body(kind, rng, texts, args.batch)
            t0 = time.perf_counter()
            try:
                status = await asyncio.wait_for(conn.request(path, body), 30)
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                conn_errors += 1
                await conn.close()
                continue
            lat[kind].append((time.perf_counter() - t0) * 1000)
            codes[kind].append(status)
        await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
    elapsed = time.perf_counter() - t0
    every = [x for v in lat.values() for x in v]
    statuses = [c for v in codes.values() for c in v]
    return {
        "mode": "load",
        "duration_s": round(elapsed, 1),
        "concurrency": args.concurrency,
        "batch": args.batch,
        "requests": len(every),
        "rps": round(len(every) / elapsed, 1),
        "texts_per_s": round(
            (len(lat["single"]) + args.batch * len(lat["batch"]) + len(lat["explain"])) / elapsed,
            1,
        ),
        "p50_ms": pct(every, 50),
        "p99_ms": pct(every, 99),
        "errors_5xx": sum(500 <= c < 600 for c in statuses),
        "errors_4xx": sum(400 <= c < 500 for c in statuses),
        # every invalid request should get a 4xx, and nothing else should
        "unexpected_4xx": sum(
            400 <= c < 500 for kind, cs in codes.items() if kind != "invalid" for c in cs
        ),
        "invalid_not_4xx": sum(not 400 <= c < 500 for c in codes["invalid"]),
        "connection_errors": conn_errors,
        "by_kind": summarise(lat, codes),
    }


async def run_rate(port: int, texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(1)
    n = int(args.rate * args.rate_duration)
    pool = collections.deque(Conn(port) for _ in range(8))  # FIFO: no connection idles long
    lat: list[float] = []
    at: list[float] = []  # when each request was due, s from the start: locates stalls
    codes: list[int] = []
    conn_errors = 0

    async def one(scheduled: float, body: bytes) -> None:
        nonlocal conn_errors
        conn = pool.popleft() if pool else Conn(port)  # never wait for a free connection
        try:
            status = await asyncio.wait_for(conn.request("/v1/predict", body), 30)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            conn_errors += 1
            await conn.close()
            return
        lat.append((time.perf_counter() - scheduled) * 1000)
        at.append(scheduled - start)
        codes.append(status)
        pool.append(conn)

    slow_before = server_slow(port)
    start = time.perf_counter() + 0.1
    tasks = []
    for i in range(n):
        scheduled = start + i / args.rate
        body = json.dumps({"texts": [rng.choice(texts)]}).encode()
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, body)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for conn in pool:
        await conn.close()
    return {
        "mode": "rate",
        "target_rps": args.rate,
        "duration_s": round(elapsed, 1),
        "requests": len(lat),
        "rps": round(len(lat) / elapsed, 1),
        "p50_ms": pct(lat, 50),
        "p90_ms": pct(lat, 90),
        "p99_ms": pct(lat, 99),
        "max_ms": round(max(lat), 2) if lat else float("nan"),
        "slowest_at_s": [round(at[i], 2) for i in np.argsort(lat)[::-1][:5]],
        # server-side view: a tail the server did not see came from scheduling or the client
        "server_timed_over_25ms": int(server_slow(port) - slow_before),
        "errors_5xx": sum(500 <= c < 600 for c in codes),
        "errors_4xx": sum(400 <= c < 500 for c in codes),
        "connection_errors": conn_errors,
    }


def load_texts() -> list[str]:
    """GoEmotions test texts when ``$EMOBALANCE_DATA`` has them, else the built-in sample."""
    root = os.environ.get("EMOBALANCE_DATA")
    path = Path(root or "/nonexistent") / "goemotions" / "test.tsv"
    if path.is_file():
        from emobalance.data import goemotions

        texts = goemotions.read_tsv(path).texts
        return list(random.Random(0).sample(list(texts), min(2000, len(texts))))
    return SAMPLE_TEXTS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir", nargs="?", default=DEFAULT_MODEL, type=Path)
    ap.add_argument(
        "--synthetic",
        action="store_true",
        help="serve a default-architecture model with random weights instead",
    )
    ap.add_argument("--mode", choices=("load", "rate", "both"), default="both")
    ap.add_argument("--duration", type=float, default=20.0, help="load mode seconds")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--batch", type=int, default=16, help="texts per batch request")
    ap.add_argument("--rate", type=float, default=100.0, help="rate mode requests/s")
    ap.add_argument("--rate-duration", type=float, default=20.0)
    ap.add_argument(
        "--server-threads", type=int, default=1, help="the server's --threads (torch threads)"
    )
    ap.add_argument("--check", action="store_true", help="exit 1 when a rate-mode bar fails")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = synthetic_model(Path(tmp) / "synthetic") if args.synthetic else args.model_dir
        if not model_dir.is_dir():
            raise SystemExit(f"{model_dir}: no model directory (train one, or use --synthetic)")
        texts = load_texts()
        port = free_port()
        proc = start_server(model_dir, port, args.server_threads)
        base = {
            "benchmark": "serve_load",
            "model": "synthetic" if args.synthetic else str(model_dir),
            "server_threads": args.server_threads,
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "machine": machine(),
        }
        failed = False
        # This process holds torch (for --synthetic) and many small objects: a full collection
        # here paused the client ~200 ms mid-run, which showed up as server latency.
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            if args.mode in ("load", "both"):
                out = asyncio.run(run_load(port, texts, args))
                emit({**base, **out, **rss_mb(proc.pid)})
            if args.mode in ("rate", "both"):
                out = {**base, **asyncio.run(run_rate(port, texts, args)), **rss_mb(proc.pid)}
                out["bars"] = {
                    "p99_ms<=30": out["p99_ms"] <= BARS["p99_ms"],
                    "errors_5xx==0": out["errors_5xx"] == 0 and out["connection_errors"] == 0,
                    "server_rss_mb<=1024": out["server_peak_rss_mb"] <= BARS["server_rss_mb"],
                }
                failed = not all(out["bars"].values())
                emit(out)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if args.check and failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
