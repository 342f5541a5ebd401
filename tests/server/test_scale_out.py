"""Several real `sqlbot serve` processes sharing one Redis event log and one PostgreSQL store.

Two servers (A and B) run on different ports over the same data directory, a PostgreSQL database of the
test's own (``sqlbot_t_<hex>``) and a Redis key prefix of its own. The outage test starts a private
``redis-server`` on a free port and kills it; the shared Redis and PostgreSQL are never stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest
from httpx_sse import connect_sse

from tests.server.test_real_server import (
    HEAVY,
    LIGHT,
    Server,
    _server_cpu,
    _until_the_query_runs,
    ask,
    check_stream,
    make_db,
    register,
    sql_reply,
)
from tests.support.databases import REDIS_URL, require, temp_pg_database, temp_redis_prefix
from tests.support.net import free_port
from tests.support.openai_server import OpenAIServer

pytestmark = pytest.mark.slow

LEASE_S = 1.5


def shared_env(database_url: str, prefix: str, redis_url: str = REDIS_URL) -> dict[str, str]:
    return {"SQLBOT_REDIS_URL": redis_url, "SQLBOT_REDIS_PREFIX": prefix, "SQLBOT_DATABASE_URL": database_url,
            "SQLBOT_WORKER_LEASE_S": str(LEASE_S), "SQLBOT_DISCONNECT_GRACE_S": "3"}


@pytest.fixture(scope="module")
def llm() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, llm: OpenAIServer) -> Iterator[tuple[Server, Server]]:
    """Workers A and B, shared stores, one data directory (the datasource ``shop`` registered once)."""
    data_dir = tmp_path_factory.mktemp("pair") / "data"
    make_db(data_dir)
    with temp_pg_database() as url, temp_redis_prefix() as prefix:
        a = Server(data_dir, llm, **shared_env(url, prefix)).start()
        b: Server | None = None
        try:
            register(a)
            b = Server(data_dir, llm, **shared_env(url, prefix)).start()
            yield a, b
        finally:
            a.stop()
            if b is not None:
                b.stop()


def _events(client: httpx.Client, run_id: str, after: int | None = None) -> list[dict]:
    headers = {"Last-Event-ID": str(after)} if after is not None else {}
    with connect_sse(client, "GET", f"/api/chat/runs/{run_id}/stream", headers=headers) as source:
        assert source.response.status_code == 200, source.response.read()
        return [json.loads(s.data) for s in source.iter_sse()]


def test_a_run_on_a_is_replayed_and_followed_in_full_from_b(pair: tuple[Server, Server], llm: OpenAIServer) -> None:
    a, b = pair
    llm.responder = lambda messages: sql_reply(LIGHT, token_delay_s=0.02)
    with httpx.Client(base_url=a.url, timeout=60) as ca, httpx.Client(base_url=b.url, timeout=60) as cb:
        with connect_sse(ca, "POST", "/api/chat/enhanced-question",
                         json={"question": "total amount by region", "datasource_id": "shop"}) as source:
            run_id = source.response.headers["x-run-id"]
            it = source.iter_sse()
            first = json.loads(next(it).data)
            live_on_b = _events(cb, run_id)  # followed live from B while A answers
            on_a = [first, *(json.loads(s.data) for s in it)]
        check_stream(on_a)
        assert on_a[-1]["type"] == "final_complete"
        assert live_on_b == on_a
        assert _events(cb, run_id) == on_a  # replayed after the end
        assert _events(cb, run_id, after=5) == on_a[5:]  # from a Last-Event-ID
        status = cb.get(f"/api/chat/runs/{run_id}").json()
        assert status["done"] and status["status"] == "succeeded" and status["lastSequence"] == len(on_a)
        finished = cb.get(f"/api/chat/runs/{run_id}/stream", headers={"Last-Event-ID": str(len(on_a))})
        assert finished.status_code == 409 and finished.json()["detail"]["terminal"]["type"] == "final_complete"


def test_chats_are_listed_and_read_from_any_worker(pair: tuple[Server, Server], llm: OpenAIServer) -> None:
    a, b = pair
    llm.responder = lambda messages: sql_reply(LIGHT)
    with httpx.Client(base_url=a.url, timeout=60) as ca, httpx.Client(base_url=b.url, timeout=60) as cb:
        events, headers = ask(ca, {"question": "sales by region", "datasource_id": "shop"})
        assert events[-1]["type"] == "final_complete"
        chat_id = headers["x-chat-id"]
        assert chat_id in [c["id"] for c in cb.get("/api/chats").json()]
        records = cb.get(f"/api/chats/{chat_id}").json()["records"]
        assert len(records) == 1 and records[0]["status"] == "succeeded" and records[0]["rowCount"] == 3
        # a follow-up asked on B continues A's chat (the thread's checkpoints are shared too)
        events, _ = ask(cb, {"question": "sales by region again", "chat_id": chat_id, "datasource_id": "shop"})
        assert events[-1]["type"] == "final_complete"
        assert len(ca.get(f"/api/chats/{chat_id}").json()["records"]) == 2
        assert cb.delete(f"/api/chats/{chat_id}").status_code == 200
        assert ca.get(f"/api/chats/{chat_id}").status_code == 404


def test_cancel_sent_to_b_stops_the_run_and_its_query_on_a(pair: tuple[Server, Server], llm: OpenAIServer) -> None:
    a, b = pair
    llm.responder = lambda messages: sql_reply(HEAVY)
    with httpx.Client(base_url=a.url, timeout=60) as ca, httpx.Client(base_url=b.url, timeout=60) as cb:
        with connect_sse(ca, "POST", "/api/chat/enhanced-question",
                         json={"question": "count the pairs", "datasource_id": "shop"}) as source:
            run_id = source.response.headers["x-run-id"]
            it = source.iter_sse()
            _until_the_query_runs(it)
            t0 = time.monotonic()
            cancelled = cb.post(f"/api/chat/runs/{run_id}/cancel")
            tail = [json.loads(s.data) for s in it]
            elapsed = time.monotonic() - t0
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert tail[-1]["type"] == "stream_error" and tail[-1]["error"]["code"] == "CANCELLED"
        assert elapsed < 3, elapsed
        assert _server_cpu(a) < 20  # the DuckDB query on A stopped, not just the stream
        assert _events(cb, run_id)[-1]["error"]["code"] == "CANCELLED"


def _shrink_big(data_dir: Path) -> None:
    """Swap the datasource file for one whose ``big`` table is small (atomically, as a data refresh would)."""
    tmp = data_dir / "shop.next.duckdb"
    make_db_small(tmp)
    os.replace(tmp, data_dir / "shop.duckdb")


def make_db_small(path: Path) -> None:
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE sales AS SELECT i AS id, ['north','south','east'][i % 3 + 1] AS region, "
                     "i * 1.5 AS amount FROM range(1000) t(i)")
        conn.execute("CREATE TABLE big AS SELECT i AS x FROM range(3000) t(i)")


def test_killing_a_mid_run_ends_it_on_b_and_retry_on_b_resumes_the_failed_step(
    tmp_path: Path, llm: OpenAIServer
) -> None:
    data_dir = tmp_path / "data"
    make_db(data_dir)
    llm.reset()
    llm.responder = lambda messages: sql_reply(HEAVY)
    with temp_pg_database() as url, temp_redis_prefix() as prefix:
        a = Server(data_dir, llm, **shared_env(url, prefix)).start()
        b = Server(data_dir, llm, **shared_env(url, prefix))
        try:
            register(a)
            b.start()
            with httpx.Client(base_url=a.url, timeout=60) as ca, httpx.Client(base_url=b.url, timeout=60) as cb:
                with connect_sse(ca, "POST", "/api/chat/enhanced-question",
                                 json={"question": "count the pairs", "datasource_id": "shop"}) as source:
                    run_id, chat_id = source.response.headers["x-run-id"], source.response.headers["x-chat-id"]
                    with connect_sse(cb, "GET", f"/api/chat/runs/{run_id}/stream") as on_b:
                        it = on_b.iter_sse()
                        _until_the_query_runs(it)  # followed on B while A's database works
                        assert a.proc is not None
                        killed = time.monotonic()
                        os.kill(a.proc.pid, signal.SIGKILL)
                        tail = [json.loads(s.data) for s in it]
                        ended = time.monotonic() - killed
                assert tail[-1]["type"] == "stream_error", tail[-1]
                error = tail[-1]["error"]
                assert error["code"] == "WORKER_LOST" and error["canRetry"] is True and error["suggestion"]
                assert ended < LEASE_S + 3, ended
                record = cb.get(f"/api/chats/{chat_id}").json()["records"][0]
                assert record["status"] == "interrupted" and record["error"]["code"] == "WORKER_LOST"

                _shrink_big(data_dir)
                # SQL written now would differ: the final SQL shows whether generate_sql ran again.
                llm.responder = lambda messages: sql_reply("SELECT 'rewritten' AS x")
                events, _ = ask(cb, {}, f"/api/chat/runs/{run_id}/retry")
                check_stream(events)
                assert events[-1]["type"] == "final_complete", events[-1]
                starts = [(e["step"]["name"], bool(e["step"]["metadata"].get("reused"))) for e in events
                          if e["type"] == "step_start"]
                assert starts[:4] == [("analyzing_question", True), ("select_datasource", True),
                                      ("connect_db", True), ("generate_sql", True)]  # from A's checkpoints
                assert ("execute_query", False) in starts
                out = events[-1]["summary"]["output"]
                assert out["sql"].strip().rstrip(";") == HEAVY
                record = cb.get(f"/api/chats/{chat_id}").json()["records"][0]
                assert record["status"] == "succeeded" and record["attempts"] == 2
        finally:
            a.stop()
            b.stop()


class PrivateRedis:
    """A throwaway ``redis-server`` on a free port (never the machine's shared one)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        require(binary is not None, "redis-server is not installed")
        assert binary is not None
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--save", "", "--appendonly", "no",
                                      "--daemonize", "no", "--bind", "127.0.0.1"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if redis.Redis(port=self.port, socket_connect_timeout=0.5).ping():
                    return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_a_redis_outage_ends_the_run_with_a_code_and_the_server_recovers(tmp_path: Path, llm: OpenAIServer) -> None:
    data_dir = tmp_path / "data"
    make_db(data_dir)
    llm.reset()
    llm.responder = lambda messages: sql_reply(HEAVY)
    private = PrivateRedis().start()
    try:
        with temp_pg_database() as url:
            a = Server(data_dir, llm, **shared_env(url, "sqlbot_t_outage:", private.url)).start()
            try:
                register(a)
                with httpx.Client(base_url=a.url, timeout=60) as client:
                    with connect_sse(client, "POST", "/api/chat/enhanced-question",
                                     json={"question": "count the pairs", "datasource_id": "shop"}) as source:
                        chat_id = source.response.headers["x-chat-id"]
                        it = source.iter_sse()
                        _until_the_query_runs(it)
                        lost = time.monotonic()
                        private.kill()
                        tail = [json.loads(s.data) for s in it]
                        ended = time.monotonic() - lost
                    assert tail[-1]["type"] == "stream_error", tail[-1]
                    assert tail[-1]["error"]["code"] == "EVENT_LOG_UNAVAILABLE" and tail[-1]["error"]["canRetry"]
                    assert ended < LEASE_S + 4, ended
                    assert _server_cpu(a) < 20  # the query was stopped too
                    # still serving: health, chats (PostgreSQL), and a clear refusal of new runs
                    health = client.get("/healthz")
                    assert health.status_code == 200
                    assert health.json()["eventLog"] == "redis" and health.json()["chatStore"] == "postgres"
                    assert health.json()["eventLogOk"] is False  # says why new questions are refused
                    record = client.get(f"/api/chats/{chat_id}").json()["records"][0]
                    assert record["status"] == "failed" and record["error"]["code"] == "EVENT_LOG_UNAVAILABLE"
                    refused = client.post("/api/chat/enhanced-question",
                                          json={"question": "total amount by region", "datasource_id": "shop"})
                    assert refused.status_code == 503 and refused.json()["code"] == "EVENT_LOG_UNAVAILABLE"

                    private.start()  # Redis is back (empty: it kept nothing)
                    llm.responder = lambda messages: sql_reply(LIGHT)
                    deadline = time.monotonic() + 15
                    while True:
                        with connect_sse(client, "POST", "/api/chat/enhanced-question",
                                         json={"question": "total amount by region", "datasource_id": "shop"}) as s:
                            if s.response.status_code == 200:
                                events = [json.loads(e.data) for e in s.iter_sse()]
                                break
                        assert time.monotonic() < deadline, "the server did not recover"
                        time.sleep(0.2)
                    check_stream(events)
                    assert events[-1]["type"] == "final_complete"
                    assert client.get("/healthz").json()["eventLogOk"] is True
            finally:
                a.stop()
    finally:
        private.kill()


DOCS_NGINX = Path(__file__).resolve().parents[2] / "docs" / "nginx-sqlbot.conf"


@contextlib.contextmanager
def nginx_front(tmp: Path, a: Server, b: Server) -> Iterator[str]:
    """nginx with the documented config (ports swapped for the test's) in front of A and B; yields its URL."""
    binary = shutil.which("nginx")
    require(binary is not None, "nginx is not installed")
    assert binary is not None
    port = free_port()
    conf = DOCS_NGINX.read_text().replace("127.0.0.1:8001", f"127.0.0.1:{a.port}") \
        .replace("127.0.0.1:8002", f"127.0.0.1:{b.port}").replace("listen 8000;", f"listen 127.0.0.1:{port};")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "sqlbot.conf").write_text(conf)
    (tmp / "nginx.conf").write_text(
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
        f"http {{\n access_log off;\n client_body_temp_path {tmp};\n proxy_temp_path {tmp};\n"
        f" include {tmp}/sqlbot.conf;\n}}\n")
    proc = subprocess.Popen([binary, "-e", str(tmp / "error.log"), "-c", str(tmp / "nginx.conf"), "-p", str(tmp),
                             "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, (tmp / "error.log").read_text()
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_documented_nginx_front_streams_unbuffered_and_reconnects_anywhere(
    pair: tuple[Server, Server], llm: OpenAIServer, tmp_path: Path
) -> None:
    a, b = pair
    llm.responder = lambda messages: sql_reply(LIGHT, token_delay_s=0.05)
    with nginx_front(tmp_path / "nginx", a, b) as front, httpx.Client(base_url=front, timeout=60) as client:
        t0 = time.monotonic()
        with connect_sse(client, "POST", "/api/chat/enhanced-question",
                         json={"question": "total amount by region", "datasource_id": "shop"}) as source:
            run_id = source.response.headers["x-run-id"]
            arrivals, events = [], []
            for s in source.iter_sse():
                arrivals.append(time.monotonic() - t0)
                events.append(json.loads(s.data))
        check_stream(events)
        assert events[-1]["type"] == "final_complete"
        # unbuffered: the first event came long before the last (the SQL streams at 50 ms a token)
        assert arrivals[-1] - arrivals[0] > 0.5, arrivals
        # the proxy's round robin sends successive reconnects to both workers; each replays the same run
        for after in (0, 3, 0, 3):
            assert _events(client, run_id, after=after) == events[after:]
