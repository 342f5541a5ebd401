"""Benchmark the SSE chat API on loopback against a real ``sqlbot serve`` (one worker, offline writer).

Measures, for 1 / 100 / 1000 concurrent streams: time to first event (median, p99), completion time, and
lost or out-of-order events (every stream must carry sequences 1..N and end with one terminal event).
Then compares the legacy stream's cost to the enhanced one's (server CPU per stream, bytes, latency), and
measures server memory per open stream (RSS delta while 1000 runs wait on a slow local model).

The client is a minimal asyncio HTTP/1.1 reader, so the 2-core box spends its time on the server, not on
client parsing.

    uv run python -m evals.bench_server            # everything
    uv run python -m evals.bench_server --quick    # 1 and 100 streams only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psutil

from tests.support.net import free_port
from tests.support.openai_server import OpenAIServer, Reply

SQLBOT = str(Path(sys.executable).with_name("sqlbot"))
QUESTION = "total amount by region"



def make_db(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(data_dir / "shop.duckdb")) as conn:
        conn.execute(
            "CREATE TABLE sales AS SELECT i AS id, ['north','south','east'][i % 3 + 1] AS region, "
            "i * 1.5 AS amount FROM range(1000) t(i)"
        )


class Server:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SQLBOT_")}
        env |= {"SQLBOT_DATA_DIR": str(self.data_dir), **self.env}
        self.proc = subprocess.Popen(
            [SQLBOT, "serve", "--port", str(self.port), "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).json().get("ready", True):
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        register_shop(self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    @property
    def ps(self) -> psutil.Process:
        assert self.proc is not None
        return psutil.Process(self.proc.pid)


def register_shop(port: int) -> None:
    """Register the benchmark's own DuckDB file (``shop.duckdb`` in the data directory) as datasource ``shop``."""
    r = httpx.post(f"http://127.0.0.1:{port}/api/datasources", json={"id": "shop", "type": "duckdb", "path": "shop.duckdb"})
    assert r.status_code in (201, 409), r.text


@dataclass
class StreamResult:
    ttfe: float = float("nan")
    total: float = float("nan")
    events: int = 0
    bytes: int = 0
    lost: int = 0
    out_of_order: int = 0
    terminal: str = ""
    error: str = ""
    first_seen: asyncio.Event = field(default_factory=asyncio.Event)

    def tally(self, payload: dict[str, Any], expected: int) -> int:
        """Count one protocol event against the ``expected`` sequence number; returns the next one expected."""
        seq = payload["sequence"]
        if seq > expected:
            self.lost += seq - expected
        elif seq < expected:
            self.out_of_order += 1
        if payload["type"] in ("final_complete", "stream_error"):
            self.terminal = payload["type"]
        return max(expected, seq + 1)


async def one_stream(
    port: int, *, legacy: bool, hold: asyncio.Event | None = None, res: StreamResult | None = None
) -> StreamResult:
    """POST a question and read the SSE response to the end, checking sequences (into ``res`` if given)."""
    res = res or StreamResult()
    body = json.dumps({"question": QUESTION, "datasource_id": "shop"}).encode()
    path = "/api/chat/question" if legacy else "/api/chat/enhanced-question"
    t0 = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
        )
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            res.error = status.decode().strip()
            return res
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        expected = 1
        buf = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            res.bytes += len(chunk)
            buf += chunk
            # chunked transfer framing is interleaved; parse only the SSE payload lines we need
            for line in buf.split(b"\n")[:-1]:
                if line.startswith(b"data:"):
                    if res.events == 0:
                        res.ttfe = time.perf_counter() - t0
                        res.first_seen.set()
                    res.events += 1
                    payload = json.loads(line[5:])
                    if legacy:
                        if payload["type"] in ("finish", "error"):
                            res.terminal = payload["type"]
                        continue
                    expected = res.tally(payload, expected)
            buf = buf.rsplit(b"\n", 1)[-1]
            if hold is not None and res.events and not hold.is_set():
                await hold.wait()
        writer.close()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        res.error = f"{type(exc).__name__}: {exc}"
    res.total = time.perf_counter() - t0
    if not res.terminal and not res.error:
        res.error = "no terminal event"
    return res


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def wave(port: int, n: int, *, legacy: bool = False) -> dict[str, float]:
    results = await asyncio.gather(*(one_stream(port, legacy=legacy) for _ in range(n)))
    ok = [r for r in results if not r.error]
    ttfe = [r.ttfe * 1000 for r in ok]
    total = [r.total * 1000 for r in ok]
    return {
        "streams": n,
        "failed": n - len(ok),
        "ttfe_median_ms": round(statistics.median(ttfe), 2) if ttfe else float("nan"),
        "ttfe_p99_ms": round(pct(ttfe, 99), 2) if ttfe else float("nan"),
        "complete_median_ms": round(statistics.median(total), 1) if total else float("nan"),
        "complete_p99_ms": round(pct(total, 99), 1) if total else float("nan"),
        "events": sum(r.events for r in ok),
        "lost": sum(r.lost for r in results),
        "out_of_order": sum(r.out_of_order for r in results),
        "bytes_per_stream": round(statistics.mean(r.bytes for r in ok)) if ok else 0,
        "errors": sorted({r.error for r in results if r.error})[:3],  # type: ignore[dict-item]
    }


async def cost(server: Server, n: int, *, legacy: bool) -> dict[str, float]:
    before = server.ps.cpu_times()
    t0 = time.perf_counter()
    stats = await wave(server.port, n, legacy=legacy)
    wall = time.perf_counter() - t0
    after = server.ps.cpu_times()
    cpu = (after.user + after.system) - (before.user + before.system)
    return {**stats, "server_cpu_ms_per_stream": round(cpu * 1000 / n, 2), "wall_s": round(wall, 2)}


async def memory_per_open_stream(data_dir: Path, n: int) -> dict[str, float]:
    """RSS delta of the server while ``n`` runs wait (first event received) on a slow local model."""
    with OpenAIServer(latency_s=20.0, responder=lambda m: Reply("```sql\nSELECT 1\n```")) as llm, Server(
        data_dir, SQLBOT_LLM_BASE_URL=llm.base_url, SQLBOT_LLM_MODEL="m", SQLBOT_LLM_API_KEY="x",
        SQLBOT_DISCONNECT_GRACE_S="60",
    ) as server:
        base = server.ps.memory_info().rss
        hold = asyncio.Event()
        tasks = [asyncio.create_task(one_stream(server.port, legacy=False, hold=hold)) for _ in range(n)]
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.5)
            active = httpx.get(f"http://127.0.0.1:{server.port}/healthz").json()["activeRuns"]
            if active >= n:
                break
        await asyncio.sleep(1.0)
        loaded = server.ps.memory_info().rss
        active = httpx.get(f"http://127.0.0.1:{server.port}/healthz").json()["activeRuns"]
        hold.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"open_streams": active, "rss_base_mb": round(base / 2**20, 1), "rss_loaded_mb": round(loaded / 2**20, 1),
                "kb_per_open_stream": round((loaded - base) / max(active, 1) / 1024, 1)}


async def ttfe_with_open_streams(data_dir: Path, open_n: int, probes: int = 30) -> dict[str, float]:
    """Time to first event of new questions while ``open_n`` other streams are open and waiting on the model.

    This is the steady-state reading of "TTFE with N concurrent streams": the server carries N live
    streams (each parked in generate_sql on a slow stand-in model, as real model calls are), and a new
    question arrives. (``wave`` measures the harsher case of N questions arriving in the same instant.)
    """
    with OpenAIServer(latency_s=30.0, responder=lambda m: Reply("```sql\nSELECT 1\n```")) as llm, Server(
        data_dir, SQLBOT_LLM_BASE_URL=llm.base_url, SQLBOT_LLM_MODEL="m", SQLBOT_LLM_API_KEY="x",
        SQLBOT_DISCONNECT_GRACE_S="60",
    ) as server:
        hold = asyncio.Event()
        held = [asyncio.create_task(one_stream(server.port, legacy=False, hold=hold)) for _ in range(open_n)]
        deadline = time.perf_counter() + 90
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.5)
            if httpx.get(f"http://127.0.0.1:{server.port}/healthz").json()["activeRuns"] >= open_n:
                break
        await asyncio.sleep(0.5)
        ttfe = []
        for _ in range(probes):
            res = StreamResult()
            probe = asyncio.create_task(one_stream(server.port, legacy=False, hold=hold, res=res))
            await asyncio.wait_for(res.first_seen.wait(), 30)
            ttfe.append(res.ttfe * 1000)
            probe.cancel()
            await asyncio.sleep(0.05)
        open_now = httpx.get(f"http://127.0.0.1:{server.port}/healthz").json()["activeRuns"]
        hold.set()
        for t in held:
            t.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        return {"open_streams": open_now, "probes": len(ttfe), "ttfe_median_ms": round(statistics.median(ttfe), 2),
                "ttfe_p99_ms": round(pct(ttfe, 99), 2)}


async def main_async(quick: bool) -> dict[str, object]:
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        make_db(data_dir)
        with Server(data_dir) as server:
            await wave(server.port, 5)  # warm-up: imports, schema, value index
            for n in (1, 100) if quick else (1, 100, 1000):
                report[f"enhanced_{n}"] = await wave(server.port, n)
                print(json.dumps({f"enhanced_{n}": report[f"enhanced_{n}"]}), flush=True)
            report["cost_enhanced_100"] = await cost(server, 100, legacy=False)
            report["cost_legacy_100"] = await cost(server, 100, legacy=True)
            print(json.dumps({k: report[k] for k in ("cost_enhanced_100", "cost_legacy_100")}), flush=True)
        if not quick:
            make_db(Path(tmp) / "data2")
            report["memory"] = await memory_per_open_stream(Path(tmp) / "data2", 1000)
            print(json.dumps({"memory": report["memory"]}), flush=True)
        for n in (1, 100) if quick else (1, 100, 1000):
            make_db(Path(tmp) / f"open{n}")
            report[f"ttfe_with_{n}_open"] = await ttfe_with_open_streams(Path(tmp) / f"open{n}", n)
            print(json.dumps({f"ttfe_with_{n}_open": report[f"ttfe_with_{n}_open"]}), flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 and 100 streams, no memory phase")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    args = parser.parse_args()
    report = asyncio.run(main_async(args.quick))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
