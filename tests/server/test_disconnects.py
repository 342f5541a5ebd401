"""Memory after dropped streams levels off: a real uvicorn server, N clients that hang up mid-answer, for two
values of N. Traced Python memory, live objects and file descriptors after N and after 3N must be the same
within a tolerance far below what keeping anything per run would add."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from graph.settings import Settings
from server.app import create_app
from server.deps import Services
from tests.server.conftest import ThreadedServer
from tests.server.scripted import ScriptedEngine, scripted_factory

N = 120
BUDGET = 64 * 1024
"""A small replay cache, so it is full long before N and whatever still grows is a leak."""


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[ThreadedServer, ScriptedEngine]]:
    engine = ScriptedEngine()
    settings = Settings(data_dir=tmp_path / "data", disconnect_grace_s=0.05, _env_file=None)  # type: ignore[call-arg]
    app: FastAPI = create_app(settings, engine_factory=scripted_factory(engine), heartbeat_s=0.2,
                              static_dir=tmp_path / "static", replay_budget_bytes=BUDGET)
    with ThreadedServer(app) as live:
        yield live, engine


async def drop(port: int, i: int) -> None:
    """Ask, read the first events, hang up without a word (a closed tab)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"question": f"DELAY=10 carriers {i}"}).encode()
    writer.write(b"POST /api/chat/enhanced-question HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    seen = b""
    while b"id: 2\n" not in seen:
        chunk = await asyncio.wait_for(reader.read(4096), 10)
        assert chunk, "the server closed the stream before the second event"
        seen += chunk
    writer.transport.abort()


async def drops(port: int, count: int, start: int) -> None:
    for batch in range(start, start + count, 10):
        await asyncio.gather(*(drop(port, i) for i in range(batch, min(batch + 10, start + count))))


def settle(live: ThreadedServer, engine: ScriptedEngine) -> tuple[int, int, int]:
    """Wait for every run to end; traced bytes, live objects and open descriptors."""
    services: Services = live.server.config.app.state.services
    deadline = time.monotonic() + 20
    while services.runs.active_count or services.runs._background:
        assert time.monotonic() < deadline, "runs did not end after their clients left"
        time.sleep(0.05)
    time.sleep(0.2)
    # The scripted engine's own bookkeeping (per chat and per run), not the server's.
    engine.threads.clear()
    engine.streams.clear()
    engine.started.clear()
    engine.interrupted.clear()
    gc.collect()
    return tracemalloc.get_traced_memory()[0], len(gc.get_objects()), len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts file descriptors through /proc")
def test_memory_levels_off_after_dropped_streams(setup: tuple[ThreadedServer, ScriptedEngine]) -> None:
    live, engine = setup
    asyncio.run(drops(live.port, 40, 0))  # warm up: caches, pools, the replay cache filled to its budget
    tracemalloc.start()
    try:
        base = settle(live, engine)
        asyncio.run(drops(live.port, N, 100))
        first = settle(live, engine)
        asyncio.run(drops(live.port, 2 * N, 1000))
        second = settle(live, engine)
    finally:
        tracemalloc.stop()
    grew_first = first[0] - base[0]
    grew_second = second[0] - first[0]
    print(f"\nafter {N} drops: +{grew_first / 1024:.0f} KiB, {first[1] - base[1]:+d} objects, {first[2] - base[2]:+d} fds;"
          f" after {3 * N}: +{(second[0] - base[0]) / 1024:.0f} KiB, {second[1] - base[1]:+d} objects,"
          f" {second[2] - base[2]:+d} fds")
    # One retained run weighs ~10 KiB here (its log and record); 2N more runs kept would be ~2.4 MB.
    assert grew_second < 400 * 1024, f"traced memory kept growing: +{grew_second} bytes over {2 * N} more drops"
    assert second[1] - first[1] < 2 * N * 5, "live objects kept growing"
    assert second[2] - first[2] <= 3, "file descriptors kept growing"
