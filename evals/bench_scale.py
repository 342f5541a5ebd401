"""Benchmark scale-out: the real ``sqlbot serve`` with the shared Redis event log and PostgreSQL store, 1 vs 2 workers.

For 100 and 1000 concurrent streams (offline writer, the ``shop`` DuckDB datasource): time to first event,
events per second over the wave, lost and out-of-order events on the live streams, then every run replayed
from ``/api/chat/runs/{id}/stream`` (served by whichever worker the connection lands on, so about half of the
replays on 2 workers read another worker's run from Redis) and checked again; Redis memory per finished run
(``MEMORY USAGE`` of its stream and hash).

Each configuration gets its own PostgreSQL database ``sqlbot_b_<hex>`` and Redis prefix, both removed after.
Needs Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres).

    uv run python -m evals.bench_scale               # 100 and 1000 streams
    uv run python -m evals.bench_scale --streams 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from evals.bench_server import StreamResult, make_db, pct, register_shop
from tests.support.net import free_port

SQLBOT = str(Path(sys.executable).with_name("sqlbot"))
QUESTION = "total amount by region"
REDIS_URL = "redis://127.0.0.1:6379/0"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def shared_stores() -> Iterator[tuple[str, str]]:
    """A PostgreSQL database and a Redis prefix of this run's own; yields (database URL, prefix)."""
    import psycopg
    import redis

    name, prefix = f"sqlbot_b_{secrets.token_hex(5)}", f"sqlbot_b_{secrets.token_hex(5)}:"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}", prefix
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i:i + 1000])
        client.close()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


class Workers:
    """``sqlbot serve --workers N`` with the shared stores."""

    def __init__(self, data_dir: Path, workers: int, database_url: str | None, prefix: str) -> None:
        self.port = free_port()
        self.workers = workers
        env = {k: v for k, v in os.environ.items() if not k.startswith("SQLBOT_")}
        self.env = env | {"SQLBOT_DATA_DIR": str(data_dir), "SQLBOT_DISCONNECT_GRACE_S": "30"}
        if database_url:  # None: the embedded default (memory and SQLite), the baseline
            self.env |= {"SQLBOT_REDIS_URL": REDIS_URL, "SQLBOT_REDIS_PREFIX": prefix, "SQLBOT_DATABASE_URL": database_url}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Workers:
        self.proc = subprocess.Popen(
            [SQLBOT, "serve", "--port", str(self.port), "--workers", str(self.workers), "--log-level", "warning"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        ready, deadline = 0, time.monotonic() + 600  # demo builds on a loaded 2-core box
        while ready < 5 * self.workers:  # each worker answers /healthz ready (connections land on any of them)
            assert time.monotonic() < deadline, "the workers did not start"
            try:
                ready = ready + 1 if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).json()["ready"] else 0
            except httpx.TransportError:
                time.sleep(0.2)
        register_shop(self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


@dataclass
class Stream(StreamResult):
    run_id: str = ""


async def read_stream(port: int, method: str, path: str, body: bytes = b"") -> Stream:
    """One SSE response read to the end over a bare HTTP/1.1 connection, sequences checked."""
    res = Stream()
    t0 = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            res.error = status.decode().strip()
            return res
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"x-run-id:"):
                res.run_id = line.split(b":", 1)[1].strip().decode()
        expected, buf = 1, b""
        while chunk := await reader.read(65536):
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if not line.startswith(b"data:"):
                    continue
                if res.events == 0:
                    res.ttfe = time.perf_counter() - t0
                res.events += 1
                expected = res.tally(json.loads(line[5:]), expected)
        writer.close()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        res.error = f"{type(exc).__name__}: {exc}"
    if not res.terminal and not res.error:
        res.error = "no terminal event"
    return res


def summary(results: list[Stream], wall: float) -> dict[str, Any]:
    ok = [r for r in results if not r.error]
    ttfe = [r.ttfe * 1000 for r in ok]
    events = sum(r.events for r in ok)
    return {
        "streams": len(results), "failed": len(results) - len(ok),
        "ttfe_median_ms": round(statistics.median(ttfe), 1) if ttfe else None,
        "ttfe_p99_ms": round(pct(ttfe, 99), 1) if ttfe else None,
        "wall_s": round(wall, 2), "events": events, "events_per_s": round(events / wall, 1),
        "lost": sum(r.lost for r in results), "out_of_order": sum(r.out_of_order for r in results),
        "succeeded": sum(r.terminal == "final_complete" for r in ok),
        "errors": sorted({r.error for r in results if r.error})[:3],
    }


async def wave(port: int, n: int) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """``n`` questions at once, then every run replayed; returns (live, replay, run ids)."""
    body = json.dumps({"question": QUESTION, "datasource_id": "shop"}).encode()
    t0 = time.perf_counter()
    live = await asyncio.gather(*(read_stream(port, "POST", "/api/chat/enhanced-question", body) for _ in range(n)))
    live_wall = time.perf_counter() - t0
    ids = [r.run_id for r in live if r.run_id]
    t0 = time.perf_counter()
    replay = await asyncio.gather(*(read_stream(port, "GET", f"/api/chat/runs/{i}/stream") for i in ids))
    replay_wall = time.perf_counter() - t0
    replay_summary = summary(replay, replay_wall)
    replay_summary["mismatched_counts"] = sum(a.events != b.events for a, b in zip(
        [r for r in live if r.run_id], replay, strict=True))
    return summary(live, live_wall), replay_summary, ids


def redis_bytes_per_run(prefix: str, ids: list[str]) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    sizes = []
    for run_id in ids[:200]:
        total = 0
        for key in (f"{prefix}run:{run_id}:events", f"{prefix}run:{run_id}"):
            total += int(client.memory_usage(key, samples=0) or 0)
        sizes.append(total)
    ttl = client.ttl(f"{prefix}run:{ids[0]}:events") if ids else None
    client.close()
    return {"runs_measured": len(sizes), "bytes_median": int(statistics.median(sizes)) if sizes else None,
            "ttl_s": ttl}


async def main_async(streams: tuple[int, ...] = (100, 1000)) -> dict[str, Any]:
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, workers in (("embedded", 1), ("workers1", 1), ("workers2", 2)):
            data_dir = Path(tmp) / label
            make_db(data_dir)
            with shared_stores() as (url, prefix), Workers(data_dir, workers, url if label != "embedded" else None,
                                                             prefix) as server:
                await wave(server.port, 10)  # warm-up: imports, schema, value index on every worker
                for n in streams:
                    live, replay, ids = await wave(server.port, n)
                    report[f"{label}_{n}"] = {"live": live, "replay": replay}
                    print(json.dumps({f"{label}_{n}": report[f"{label}_{n}"]}), flush=True)
                if label != "embedded":
                    report[f"{label}_redis"] = redis_bytes_per_run(prefix, ids)
    for n in streams:
        base, one, two = report.get(f"embedded_{n}"), report.get(f"workers1_{n}"), report.get(f"workers2_{n}")
        if one and two and one["live"]["ttfe_median_ms"] and two["live"]["ttfe_median_ms"]:
            report[f"ratio_{n}"] = {
                "ttfe_median_2_vs_1": round(two["live"]["ttfe_median_ms"] / one["live"]["ttfe_median_ms"], 2),
                "events_per_s_2_vs_1": round(two["live"]["events_per_s"] / one["live"]["events_per_s"], 2),
            }
            if base and base["live"]["ttfe_median_ms"]:
                report[f"ratio_{n}"] |= {
                    "ttfe_median_redis1_vs_embedded": round(one["live"]["ttfe_median_ms"] / base["live"]["ttfe_median_ms"], 2),
                    "events_per_s_redis1_vs_embedded": round(one["live"]["events_per_s"] / base["live"]["events_per_s"], 2),
                }
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = ["| workers | streams | failed | first event median ms | p99 ms | events/s | lost | out of order | "
             "replayed: lost / out of order / count mismatches |", "|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    names = {"embedded": "1, embedded (memory + SQLite)", "workers1": "1, Redis + PostgreSQL",
             "workers2": "2, Redis + PostgreSQL"}
    for key, v in report.items():
        if isinstance(v, dict) and "live" in v:
            w = names[key.split("_")[0]]
            live, rep = v["live"], v["replay"]
            lines.append(f"| {w} | {live['streams']} | {live['failed']} | {live['ttfe_median_ms']} | {live['ttfe_p99_ms']} | "
                         f"{live['events_per_s']} | {live['lost']} | {live['out_of_order']} | "
                         f"{rep['lost']} / {rep['out_of_order']} / {rep['mismatched_counts']} |")
    for key, v in report.items():
        if key.startswith("ratio_"):
            lines.append(f"\n{key.removeprefix('ratio_')} streams, 2 workers vs 1 (both with Redis): first event median "
                         f"×{v['ttfe_median_2_vs_1']}, events/s ×{v['events_per_s_2_vs_1']}.")
            if "ttfe_median_redis1_vs_embedded" in v:
                lines.append(f"1 worker with Redis + PostgreSQL vs embedded: first event median "
                             f"×{v['ttfe_median_redis1_vs_embedded']}, events/s ×{v['events_per_s_redis1_vs_embedded']}.")
    for key, v in report.items():
        if key.endswith("_redis"):
            lines.append(f"\nRedis per finished run ({key.split('_')[0]}): {v['bytes_median']} bytes median "
                         f"(stream + hash, {v['runs_measured']} runs), expiring in {v['ttl_s']} s.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", default="100,1000", help="comma-separated concurrent streams")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    args = parser.parse_args()
    report = asyncio.run(main_async(tuple(int(s) for s in args.streams.split(","))))
    print(json.dumps(report, indent=2))
    print(markdown(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
