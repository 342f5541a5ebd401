"""The shared backends on the machine's real servers: the PostgreSQL chat store and the Redis event log.

Each test has its own PostgreSQL database (``sqlbot_t_<hex>``) and its own Redis key prefix.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest
import redis

from graph.protocol import StepProgressEvent, StreamErrorEvent
from graph.settings import Settings
from server.eventlog import LoggedEvent, frame
from server.eventlog_redis import RedisEventLog
from server.store import Record
from server.store_postgres import MIGRATIONS, PostgresStore
from tests.support.databases import REDIS_URL, pg_empty, redis_prefix  # noqa: F401


def _record(rid: str, chat: str, status: str = "running") -> Record:
    r = Record(id=rid, chat_id=chat, question="q " + rid, locale="en")
    r.status = status  # type: ignore[assignment]
    return r


async def test_postgres_store_keeps_chats_and_records(pg_empty: str) -> None:
    store = await PostgresStore.open(pg_empty)
    try:
        await store.create_chat("c1", "first question " * 10, "shop")
        await store.create_chat("c2", "second", None)
        r1 = _record("r1", "c1", "succeeded")
        r1.columns, r1.rows = ["region", "total"], [["east", 1.5], ["北", 2]]
        await store.save_record(r1)
        await store.save_record(_record("r2", "c1", "failed"))
        assert [c.id for c in await store.list_chats()] == ["c1", "c2"]  # c1 was active last
        assert (await store.get_chat("c1")).title == ("first question " * 10)[:80]  # type: ignore[union-attr]
        got = await store.get_record("r1")
        assert got is not None and got.rows == [["east", 1.5], ["北", 2]] and got.status == "succeeded"
        assert [r.id for r in await store.list_records("c1")] == ["r1", "r2"]
        r1.explanation = "changed"
        await store.save_record(r1)
        assert (await store.get_record("r1")).explanation == "changed"  # type: ignore[union-attr]
        assert await store.delete_chat("c1") and not await store.delete_chat("c1")
        assert await store.get_record("r1") is None and await store.list_records("c1") == []
        assert await store.get_chat("missing") is None
    finally:
        await store.close()


async def test_postgres_interrupts_only_runs_without_a_live_owner(pg_empty: str) -> None:
    store = await PostgresStore.open(pg_empty)
    try:
        await store.create_chat("c", "t", None)
        for rid in ("alive", "dead"):
            await store.save_record(_record(rid, "c"))
        await store.save_record(_record("done", "c", "succeeded"))

        async def alive(run_id: str) -> bool:
            return run_id == "alive"

        assert await store.mark_interrupted(alive) == 1
        assert (await store.get_record("alive")).status == "running"  # type: ignore[union-attr]
        dead = await store.get_record("dead")
        assert dead is not None and dead.status == "interrupted" and dead.error and dead.error["canRetry"]
        assert (await store.get_record("done")).status == "succeeded"  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_migrations_run_once_when_processes_start_together(pg_empty: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(pg_empty) for _ in range(4)))
    for s in stores:
        await s.close()
    with psycopg.connect(pg_empty) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM sqlbot_migrations ORDER BY version")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    again = await PostgresStore.open(pg_empty)  # an up-to-date database is left alone
    await again.close()


# the Redis event log


def _log(prefix: str, lease_s: float = 1.0) -> RedisEventLog:
    return RedisEventLog.from_url(REDIS_URL, prefix=prefix, lease_s=lease_s, retention_s=60, locale="en")


def _progress(run_id: str, seq: int) -> LoggedEvent:
    return frame(StepProgressEvent(sequence=seq, session_id=run_id, step_id="step_005", progress=seq % 100))


class Owner:
    """Callbacks a run manager would give its log."""

    def __init__(self) -> None:
        self.cancels: list[str] = []
        self.lost: list[tuple[str, dict[str, Any]]] = []
        self.down = 0

    def on_cancel(self, run_id: str) -> None:
        self.cancels.append(run_id)

    async def on_lost(self, run_id: str, error: dict[str, Any]) -> None:
        self.lost.append((run_id, error))

    def on_down(self) -> None:
        self.down += 1

    async def start(self, log: RedisEventLog) -> RedisEventLog:
        await log.start(on_cancel=self.on_cancel, on_lost=self.on_lost, on_down=self.on_down)
        return log


async def _collect(it: Any, n: int | None = None) -> list[LoggedEvent]:
    out: list[LoggedEvent] = []
    async for item in it:
        if item is not None:
            out.append(item)
            if n is not None and len(out) == n:
                break
    return out


async def test_a_run_is_replayed_and_followed_from_another_worker(redis_prefix: str) -> None:
    a_owner, b_owner = Owner(), Owner()
    a = await a_owner.start(_log(redis_prefix))
    b = await b_owner.start(_log(redis_prefix))
    try:
        await a.begin("run1", "chat1", "en")
        frames = [_progress("run1", seq) for seq in range(1, 9)]
        for item in frames[:5]:
            await a.append("run1", item)
        remote = await b.remote("run1")
        assert remote is not None and remote.chat_id == "chat1" and not remote.done and remote.last_sequence == 5
        follower = asyncio.create_task(_collect(remote.follow(0, heartbeat=0.2)))
        partial = await _collect(remote.follow(3), 2)
        assert [e.seq for e in partial] == [4, 5]
        for item in frames[5:]:
            await a.append("run1", item)
        end = frame(StreamErrorEvent(sequence=9, session_id="run1", error=_error(), step_id=None))
        await a.end("run1", end, "failed")
        got = await asyncio.wait_for(follower, 5)
        assert [e.seq for e in got] == list(range(1, 10)) and got[-1].type == "stream_error"
        assert [e.sse for e in got[:8]] == [f.sse for f in frames]  # the very frames the owner wrote
        finished = await b.remote("run1")
        assert finished is not None and finished.done and finished.status == "failed"
        assert finished.terminal is not None and finished.terminal.seq == 9
        # a reconnect from past the end still ends with the terminal event
        assert [e.seq for e in await _collect(finished.follow(9))] == [9]
        client = redis.Redis.from_url(REDIS_URL)
        ttl = client.ttl(f"{redis_prefix}run:run1:events")
        assert 0 < ttl <= 60  # finished runs expire after the retention
        assert all(k.decode().startswith(redis_prefix) for k in client.scan_iter(match="*run1*"))
        client.close()
    finally:
        await a.close()
        await b.close()


def _error() -> Any:
    from graph.errors import SQLBotError
    from graph.protocol import ErrorCode

    return SQLBotError(ErrorCode.SQL_EXECUTION_FAILED).info("en")


async def test_cancel_requests_reach_the_owner(redis_prefix: str) -> None:
    a_owner, b_owner = Owner(), Owner()
    a = await a_owner.start(_log(redis_prefix))
    b = await b_owner.start(_log(redis_prefix))
    try:
        await a.begin("run2", "chat2", None)
        await asyncio.sleep(0.2)  # the cancel channel subscription is made in the background
        assert await b.request_cancel("run2")
        deadline = time.monotonic() + 3
        while not a_owner.cancels and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert a_owner.cancels == ["run2"] and b_owner.cancels == []
        assert not await b.request_cancel("no-such-run")
    finally:
        await a.close()
        await b.close()


async def test_a_dead_owner_ends_its_run_for_followers_with_worker_lost(redis_prefix: str) -> None:
    a_owner, b_owner = Owner(), Owner()
    a = await a_owner.start(_log(redis_prefix, lease_s=1.0))
    b = await b_owner.start(_log(redis_prefix, lease_s=1.0))
    await a.begin("run3", "chat3", "en")
    await a.append("run3", _progress("run3", 1))
    assert await b.alive("run3")
    remote = await b.remote("run3")
    assert remote is not None
    follower = asyncio.create_task(_collect(remote.follow(0, heartbeat=0.5)))
    started = time.monotonic()
    for task in a._tasks:  # the owner stops renewing its lease, as a killed process would
        task.cancel()
    got = await asyncio.wait_for(follower, 10)
    took = time.monotonic() - started
    await b.close()
    assert [e.seq for e in got] == [1, 2] and got[-1].type == "stream_error"
    error = got[-1].wire()["error"]
    assert error["code"] == "WORKER_LOST" and error["canRetry"] is True and error["suggestion"]
    assert took < 4, took
    assert [r for r, _ in b_owner.lost] == ["run3"]  # declared once, by the follower's worker
    assert not await _log(redis_prefix).alive("run3")


async def test_settings_for_the_shared_stores() -> None:
    plain = Settings(_env_file=None)  # type: ignore[call-arg]
    assert not plain.shared and plain.checkpoint_durability == "exit"
    shared = Settings(_env_file=None, redis_url=REDIS_URL, database_url="postgresql://x/y")  # type: ignore[call-arg]
    assert shared.shared and shared.checkpoint_durability == "sync"  # another worker can take over a step
    kept = Settings(_env_file=None, database_url="postgresql://x/y", checkpoint_durability="exit")  # type: ignore[call-arg]
    assert kept.checkpoint_durability == "exit"


def test_the_embedded_default_imports_neither_redis_nor_psycopg() -> None:
    import subprocess
    import sys

    code = ("import sys; from graph.settings import Settings; from server.app import create_app; "
            "import server.backends, server.runs, server.store; create_app(Settings(_env_file=None)); "
            "print([m for m in ('redis', 'psycopg', 'psycopg_pool', 'langgraph.checkpoint.postgres') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_several_workers_are_refused_without_the_shared_stores(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("SQLBOT_")}
    env["SQLBOT_DATA_DIR"] = str(tmp_path)
    env["SQLBOT_REDIS_URL"] = REDIS_URL
    sqlbot = str(Path(sys.executable).with_name("sqlbot"))
    out = subprocess.run([sqlbot, "serve", "--workers", "2", "--port", "1"], capture_output=True, text=True,
                         timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 2
    assert "--workers 2 needs the shared stores: set SQLBOT_DATABASE_URL" in out.stderr
    assert "SQLBOT_REDIS_URL" not in out.stderr.split("set ", 1)[1].split("(")[0]  # only what is missing


async def test_one_question_at_a_time_per_chat_across_workers(redis_prefix: str) -> None:
    from server.eventlog import ChatBusy

    a_owner, b_owner = Owner(), Owner()
    a = await a_owner.start(_log(redis_prefix))
    b = await b_owner.start(_log(redis_prefix))
    try:
        await a.begin("first", "chat", "en")
        with pytest.raises(ChatBusy) as busy:
            await b.begin("second", "chat", "en")
        assert busy.value.run_id == "first"
        await b.begin("other-chat-run", "another chat", "en")  # other chats are free
        await a.begin("first", "chat", "en")  # a retry of the same run is not blocked by itself
        end = frame(StreamErrorEvent(sequence=1, session_id="first", error=_error(), step_id=None))
        await a.end("first", end, "failed")
        await b.begin("second", "chat", "en")  # the chat is free once its run is done
        for task in b._tasks:  # B dies while answering: its run no longer holds the chat after the lease
            task.cancel()
        with pytest.raises(ChatBusy):
            await a.begin("third", "chat", "en")
        await asyncio.sleep(1.3)
        await a.begin("third", "chat", "en")
    finally:
        await a.close()
        await b.close()


async def test_two_workers_taking_over_a_finished_chat_at_once_let_only_one_in(redis_prefix: str) -> None:
    """The take-over of a chat whose run is over is a compare-and-set: of 2 × 10 racing questions exactly one wins."""
    from server.eventlog import ChatBusy

    a_owner, b_owner = Owner(), Owner()
    a = await a_owner.start(_log(redis_prefix))
    b = await b_owner.start(_log(redis_prefix))
    try:
        for round_ in range(5):
            chat = f"race-{round_}"
            await a.begin(f"old-{round_}", chat, "en")
            end = frame(StreamErrorEvent(sequence=1, session_id=f"old-{round_}", error=_error(), step_id=None))
            await a.end(f"old-{round_}", end, "failed")  # the chat's key still names the finished run
            logs = [a, b] * 10
            results = await asyncio.gather(
                *(log.begin(f"new-{round_}-{i}", chat, "en") for i, log in enumerate(logs)), return_exceptions=True
            )
            winners = [i for i, r in enumerate(results) if r is None]
            assert len(winners) == 1, results
            busy = [r for r in results if isinstance(r, ChatBusy)]
            assert len(busy) == len(logs) - 1
            assert {r.run_id for r in busy} == {f"new-{round_}-{winners[0]}"}
    finally:
        await a.close()
        await b.close()


async def test_a_burst_of_runs_loses_no_event(redis_prefix: str) -> None:
    """1000 runs appending at once (redis-py's default pool refused past 100 connections and events were lost)."""
    owner = Owner()
    log = await owner.start(_log(redis_prefix))
    try:
        async def run(i: int) -> None:
            await log.begin(f"b{i}", f"chat{i}", None)
            for seq in range(1, 11):
                await log.append(f"b{i}", _progress(f"b{i}", seq))

        results = await asyncio.gather(*(run(i) for i in range(1000)), return_exceptions=True)
        assert [r for r in results if r is not None] == []
        client = redis.Redis.from_url(REDIS_URL)
        lengths = {client.xlen(f"{redis_prefix}run:b{i}:events") for i in range(1000)}
        client.close()
        assert lengths == {10}
    finally:
        await log.close()
