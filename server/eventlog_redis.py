"""The shared run event log in Redis Streams (``SQLBOT_REDIS_URL``), for several server processes.

Keys (all under ``SQLBOT_REDIS_PREFIX``):

* ``run:<id>:events`` — a stream with one entry per event, entry id ``<sequence>-0`` (so a replay from
  ``Last-Event-ID`` is ``XREAD`` from that id, and an event cannot be appended twice); fields ``t`` (type)
  and ``f`` (the SSE frame);
* ``run:<id>`` — a hash: ``chat``, ``owner`` (worker id), ``locale``, ``status``, ``done``;
* ``worker:<id>`` — the owner's lease, renewed every third of ``SQLBOT_WORKER_LEASE_S``; a follower that
  finds it gone while the run is not done appends a terminal ``stream_error`` (WORKER_LOST, ``canRetry``);
* ``run:<id>:remote`` — set for a few seconds by each follower on another worker, so the owner does not
  cancel the run for want of listeners;
* ``cancel:<worker>`` — the owner's pub/sub channel for cancel requests from other workers;
* ``chat:<id>:run`` — the chat's latest run, so a second question in a chat answering on another worker
  is refused (a run that is done, or whose owner is gone, no longer holds the chat).

A finished run's keys expire after ``SQLBOT_REDIS_RETENTION_S``; a stream is capped (``MAXLEN ~``) at
:data:`MAX_EVENTS` entries while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError, ResponseError, WatchError

from graph.errors import SQLBotError
from graph.protocol import TERMINAL_TYPES, ErrorCode, StreamErrorEvent
from server.eventlog import (
    CancelHandler,
    ChatBusy,
    DownHandler,
    EventLogUnavailable,
    LoggedEvent,
    LostHandler,
    RemoteRun,
    frame,
)

log = logging.getLogger(__name__)

MAX_EVENTS = 100_000
"""Cap on one run's stream (a safety bound; a run sends tens to a few thousand events)."""
RUNNING_TTL_S = 24 * 3600
"""Expiry of a running run's keys (renewed by nothing: a run longer than this is not replayable)."""
FOLLOW_POLL_S = 1.0
"""How long a follower blocks on the stream before it looks at the owner's lease."""
COMMAND_CONNECTIONS = 64
"""Connections for appends and look-ups; a burst of runs waits for one (redis-py's default pool raises
"Too many connections" past 100, which lost 900 of 1000 concurrent runs' events)."""
POOL_WAIT_S = 20.0
"""How long a command may wait for a free connection before the log counts as unreachable."""
FOLLOW_CONNECTIONS = 4096
"""Connections for followers on other workers: each holds one while its ``XREAD`` blocks."""


def _s(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def worker_id() -> str:
    """A fresh id for this process: host, pid and a random part (a restarted pid is another worker)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class RedisEventLog:
    """:class:`server.eventlog.EventLog` in Redis Streams, shared by every worker with the same prefix."""

    shared = True
    kind: Literal["memory", "redis"] = "redis"

    def __init__(self, client: aioredis.Redis, *, prefix: str, lease_s: float, retention_s: int,
                 locale: str = "zh", reader: aioredis.Redis | None = None) -> None:
        self.redis = client
        self.reader = reader or client
        """The client for blocking reads (followers), apart so they never starve the owner's appends."""
        self.prefix = prefix
        self.lease_s = lease_s
        self.retention_s = retention_s
        self.default_locale = locale
        self.worker = worker_id()
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: list[tuple[str, LoggedEvent, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._on_cancel: CancelHandler | None = None
        self._on_lost: LostHandler | None = None
        self._on_down: DownHandler | None = None

    @classmethod
    def from_url(cls, url: str, *, prefix: str, lease_s: float, retention_s: int, locale: str = "zh") -> RedisEventLog:
        """A log over a new client for ``url`` (nothing is connected until first use)."""
        def client(max_connections: int) -> aioredis.Redis:
            # Waiting for a connection is bounded by POOL_WAIT_S: a burst of replays queues rather than fails.
            pool = aioredis.BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=POOL_WAIT_S, socket_connect_timeout=2,
                socket_timeout=FOLLOW_POLL_S + 4, health_check_interval=30)
            # Few, quick retries: an outage must be noticed within a lease, not hidden behind seconds of backoff.
            return aioredis.Redis(connection_pool=pool, retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2))

        return cls(client(COMMAND_CONNECTIONS), prefix=prefix, lease_s=lease_s, retention_s=retention_s, locale=locale,
                   reader=client(FOLLOW_CONNECTIONS))

    # keys

    def _events(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}:events"

    def _meta(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}"

    def _lease(self, worker: str) -> str:
        return f"{self.prefix}worker:{worker}"

    def _channel(self, worker: str) -> str:
        return f"{self.prefix}cancel:{worker}"

    def _remote(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}:remote"

    def _chat(self, chat_id: str) -> str:
        return f"{self.prefix}chat:{chat_id}:run"

    # this worker

    async def start(self, *, on_cancel: CancelHandler, on_lost: LostHandler, on_down: DownHandler) -> None:
        """Take the lease (failing start-up when Redis is not there) and listen for cancel requests."""
        self._on_cancel, self._on_lost, self._on_down = on_cancel, on_lost, on_down
        try:
            await self.redis.set(self._lease(self.worker), "1", px=int(self.lease_s * 1000))
        except RedisError as exc:
            raise RuntimeError(f"SQLBOT_REDIS_URL: Redis cannot be reached ({exc})") from exc
        self._tasks = [asyncio.create_task(self._keep_lease(), name="redis-lease"),
                       asyncio.create_task(self._listen_cancels(), name="redis-cancels")]

    async def close(self) -> None:
        """Stop the lease and the cancel listener; drop the lease so followers learn at once."""
        if self._flusher is not None:
            self._tasks.append(self._flusher)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(RedisError):
            await self.redis.delete(self._lease(self.worker))
        await self.redis.aclose()
        if self.reader is not self.redis:
            await self.reader.aclose()

    async def _keep_lease(self) -> None:
        last_ok = time.monotonic()
        down = False
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.redis.set(self._lease(self.worker), "1", px=int(self.lease_s * 1000))
                last_ok = time.monotonic()
                if down:
                    log.warning("Redis is back; worker %s holds its lease again", self.worker)
                down = False
            except RedisError as exc:
                if not down and time.monotonic() - last_ok >= self.lease_s:
                    down = True
                    log.error("Redis unreachable for %.1fs (%s); ending this worker's runs", self.lease_s, exc)
                    if self._on_down is not None:
                        self._on_down()

    async def _listen_cancels(self) -> None:
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self._channel(self.worker))
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=FOLLOW_POLL_S)
                    if message and message.get("type") == "message" and self._on_cancel is not None:
                        self._on_cancel(_s(message["data"]))
            except RedisError:
                await asyncio.sleep(0.5)  # Redis went away; subscribe again when it is back
            finally:
                with contextlib.suppress(BaseException):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    # the owner's side

    async def begin(self, run_id: str, chat_id: str, locale: str | None) -> None:
        """Announce the run as this worker's; a retried run's previous attempt is dropped (sequences restart)."""
        try:
            await self._claim_chat(chat_id, run_id)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._events(run_id))
                pipe.hset(self._meta(run_id), mapping={"chat": chat_id, "owner": self.worker, "locale": locale or "",
                                                       "status": "running", "done": "0"})
                pipe.expire(self._meta(run_id), RUNNING_TTL_S)
                await pipe.execute()
        except RedisError as exc:
            raise EventLogUnavailable(str(exc)) from exc

    async def _claim_chat(self, chat_id: str, run_id: str) -> None:
        """Make ``run_id`` the chat's one running question, or raise :class:`ChatBusy` naming the live one.

        Taking over from a finished (or orphaned) holder is a compare-and-set (``WATCH`` the key, ``MULTI``/``EXEC``):
        when two workers find the same dead holder at once, one ``EXEC`` fails, that worker looks again and sees the
        winner's live run.
        """
        key = self._chat(chat_id)
        if await self.redis.set(key, run_id, nx=True, ex=RUNNING_TTL_S):
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    holder = _s(await pipe.get(key))
                    if holder and holder != run_id and await self.alive(holder):
                        raise ChatBusy(holder)
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                    pipe.set(key, run_id, ex=RUNNING_TTL_S)  # the previous run is over (or its owner is gone)
                    await pipe.execute()
                    return
                except WatchError:
                    continue  # another worker claimed the chat meanwhile: look at its holder

    async def append(self, run_id: str, item: LoggedEvent) -> None:
        """``XADD`` with the sequence as the entry id; returns once Redis has it.

        Appends from every run of this worker are sent together, one pipeline per round trip, so a burst of
        runs costs a few round trips rather than one each (and never queues for a connection).
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((run_id, item, done))
        self._wake.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="redis-appends")
        await done

    async def _flush(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for run_id, item, _ in batch:
                        pipe.xadd(self._events(run_id), {"t": item.type, "f": item.sse}, id=f"{item.seq}-0",
                                  maxlen=MAX_EVENTS, approximate=True)
                        pipe.expire(self._events(run_id), RUNNING_TTL_S, nx=True)
                    results = await pipe.execute(raise_on_error=False)
            except RedisError as exc:
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(EventLogUnavailable(str(exc)))
                continue
            for (_, _, done), result in zip(batch, results[::2], strict=True):
                if done.done():
                    continue
                if isinstance(result, Exception):
                    done.set_exception(EventLogUnavailable(str(result)))
                else:
                    done.set_result(None)

    async def end(self, run_id: str, terminal: LoggedEvent, status: str) -> None:
        """Append the terminal event, mark the run done and let its keys expire after the retention."""
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xadd(self._events(run_id), {"t": terminal.type, "f": terminal.sse}, id=f"{terminal.seq}-0")
                pipe.hset(self._meta(run_id), mapping={"status": status, "done": "1"})
                pipe.expire(self._events(run_id), self.retention_s)
                pipe.expire(self._meta(run_id), self.retention_s)
                await pipe.execute()
        except ResponseError as exc:  # the terminal is already there: a follower declared this worker lost
            log.warning("run %s: terminal event not appended (%s)", run_id, exc)
        except RedisError as exc:
            raise EventLogUnavailable(str(exc)) from exc

    # everyone's side

    async def _state(self, run_id: str) -> tuple[dict[str, str], bool] | None:
        meta = {_s(k): _s(v) for k, v in (await self.redis.hgetall(self._meta(run_id))).items()}
        if not meta:
            return None
        owner_alive = bool(await self.redis.exists(self._lease(meta.get("owner", ""))))
        return meta, owner_alive

    async def _last(self, run_id: str) -> LoggedEvent | None:
        entries: Any = await self.redis.xrevrange(self._events(run_id), count=1)
        return _logged(entries[0]) if entries else None

    async def remote(self, run_id: str) -> RemoteRun | None:
        """A snapshot of the run from Redis (one round trip), or None when Redis has no such run."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._meta(run_id))
            pipe.xrevrange(self._events(run_id), count=1)
            raw, entries = await pipe.execute()
        meta = {_s(k): _s(v) for k, v in raw.items()}
        if not meta:
            return None
        last = _logged(entries[0]) if entries else None
        done = meta.get("done") == "1"
        return RedisRun(self, run_id, meta.get("chat", ""), status=meta.get("status", "running"), done=done,
                        last_sequence=last.seq if last else 0,
                        terminal=last if done and last is not None and last.type in TERMINAL_TYPES else None)

    async def request_cancel(self, run_id: str) -> bool:
        """Publish the run id on its owner's cancel channel; False when nobody is subscribed there."""
        state = await self._state(run_id)
        if state is None:
            return False
        meta, _ = state
        return bool(await self.redis.publish(self._channel(meta.get("owner", "")), run_id))

    async def alive(self, run_id: str) -> bool:
        """The run is not done and its owner's lease is held."""
        try:
            state = await self._state(run_id)
        except RedisError:
            return True  # cannot tell: leave the record as it is
        return state is not None and state[0].get("done") != "1" and state[1]

    async def followed_elsewhere(self, run_id: str) -> bool:
        """A follower on another worker refreshed the run's ``remote`` key lately."""
        try:
            return bool(await self.redis.exists(self._remote(run_id)))
        except RedisError:
            return False

    async def touch_follower(self, run_id: str) -> None:
        """Say a listener here follows ``run_id`` (for a few leases)."""
        await self.redis.set(self._remote(run_id), self.worker, px=int(self.lease_s * 2000))

    async def healthy(self) -> bool:
        """``PING``."""
        try:
            return bool(await self.redis.ping())
        except RedisError:
            return False

    async def declare_lost(self, run_id: str, locale: str) -> LoggedEvent | None:
        """Append a terminal WORKER_LOST after the last event of a run whose owner died; None if someone was first."""
        last = await self._last(run_id)
        if last is not None and last.type in TERMINAL_TYPES:
            return None
        info = SQLBotError(ErrorCode.WORKER_LOST).info("en" if locale == "en" else "zh")
        terminal = frame(StreamErrorEvent(sequence=(last.seq if last else 0) + 1, session_id=run_id, error=info,
                                          step_id=None))
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xadd(self._events(run_id), {"t": terminal.type, "f": terminal.sse}, id=f"{terminal.seq}-0")
                pipe.hset(self._meta(run_id), mapping={"status": "interrupted", "done": "1"})
                pipe.expire(self._events(run_id), self.retention_s)
                pipe.expire(self._meta(run_id), self.retention_s)
                await pipe.execute()
        except ResponseError:
            return None  # another follower (or the owner, after all) appended first
        log.warning("run %s: its worker is gone; ended it with WORKER_LOST", run_id)
        if self._on_lost is not None:
            await self._on_lost(run_id, info.wire())
        return terminal


def _logged(entry: tuple[Any, dict[Any, Any]]) -> LoggedEvent:
    entry_id, fields = entry
    return LoggedEvent(int(_s(entry_id).split("-", 1)[0]), _s(fields[b"t"]), None, bytes(fields[b"f"]))


class RedisRun:
    """:class:`server.eventlog.RemoteRun` read from Redis: a snapshot plus a live follow."""

    listeners = 0

    def __init__(self, log_: RedisEventLog, run_id: str, chat_id: str, *, status: str, done: bool,
                 last_sequence: int, terminal: LoggedEvent | None) -> None:
        self.log = log_
        self.id = run_id
        self.chat_id = chat_id
        self.status = status
        self.done = done
        self.last_sequence = last_sequence
        self.terminal = terminal

    async def follow(self, after: int = 0, heartbeat: float | None = None) -> AsyncIterator[LoggedEvent | None]:
        """Replay from ``after`` and follow live; ends with the terminal event, which a dead owner's run gets too.

        When Redis itself goes away the stream ends with an EVENT_LOG_UNAVAILABLE ``stream_error`` made here.
        """
        redis, key = self.log.reader, self.log._events(self.id)
        cursor, last_seq, quiet_since = f"{after}-0", after, time.monotonic()
        block = min(heartbeat or FOLLOW_POLL_S, FOLLOW_POLL_S)
        try:
            while True:
                answer: Any = await redis.xread({key: cursor}, count=256, block=int(block * 1000))
                items = [_logged(e) for _, entries in answer or () for e in entries]
                for item in items:
                    cursor, last_seq, quiet_since = f"{item.seq}-0", item.seq, time.monotonic()
                    yield item
                    if item.type in TERMINAL_TYPES:
                        return
                if items:
                    continue
                await self.log.touch_follower(self.id)
                state = await self.log._state(self.id)
                if state is None:
                    return  # expired or deleted under us
                meta, owner_alive = state
                if meta.get("done") == "1":
                    last = await self.log._last(self.id)
                    if last is not None and last.seq <= last_seq and last.type in TERMINAL_TYPES:
                        yield last  # the stream always ends with its terminal event
                        return
                    continue
                if not owner_alive:
                    await self.log.declare_lost(self.id, meta.get("locale") or self.log.default_locale)
                    continue
                if heartbeat is not None and time.monotonic() - quiet_since >= heartbeat:
                    quiet_since = time.monotonic()
                    yield None
        except RedisError as exc:
            log.warning("run %s: lost Redis while following (%s)", self.id, exc)
            info = SQLBotError(ErrorCode.EVENT_LOG_UNAVAILABLE, detail=str(exc)).info(
                "en" if self.log.default_locale == "en" else "zh")
            yield frame(StreamErrorEvent(sequence=last_seq + 1, session_id=self.id, error=info, step_id=None))

    async def wait_finished(self, timeout: float | None = None) -> bool:
        """Poll the run's hash until it is done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            state = await self.log._state(self.id)
            if state is None or state[0].get("done") == "1":
                if state is not None:
                    self.status, self.done = state[0].get("status", self.status), True
                return True
            if not state[1]:
                await self.log.declare_lost(self.id, state[0].get("locale") or self.log.default_locale)
                continue
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.1)
