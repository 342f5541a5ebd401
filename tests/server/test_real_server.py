"""The real thing: `sqlbot serve` in a subprocess with the real graph, a tmp data dir and a local model server.

A small DuckDB datasource is built in the data dir; the scripted OpenAI-compatible server decides the SQL
(a heavy cross join when a test needs a run that is slow in the database itself).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import psutil
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from tests.support.net import free_port
from tests.support.openai_server import HTTPFault, OpenAIServer, Reply

pytestmark = pytest.mark.slow

HEAVY = "SELECT COUNT(*) AS n FROM big a, big b WHERE (a.x * b.x) % 7 = 3"
LIGHT = "SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region"
SQLBOT = str(Path(sys.executable).with_name("sqlbot"))


def make_db(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(data_dir / "shop.duckdb")) as conn:
        conn.execute("CREATE TABLE sales AS SELECT i AS id, ['north','south','east'][i % 3 + 1] AS region, "
                     "i * 1.5 AS amount FROM range(1000) t(i)")
        conn.execute("CREATE TABLE big AS SELECT i AS x FROM range(300000) t(i)")


class Server:
    def __init__(self, data_dir: Path, llm: OpenAIServer, **env: str) -> None:
        self.port = free_port()
        self.data_dir, self.llm, self.env = data_dir, llm, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        env = {**os.environ, "SQLBOT_DATA_DIR": str(self.data_dir), "SQLBOT_LLM_BASE_URL": self.llm.base_url,
               "SQLBOT_LLM_MODEL": "test-model", "SQLBOT_LLM_API_KEY": "x", "SQLBOT_DISCONNECT_GRACE_S": "1",
               "SQLBOT_RETRY_DELAY_SCALE": "0", "SQLBOT_MAX_RETRY_ATTEMPTS": "0", "SQLBOT_QUERY_TIMEOUT_S": "120",
               **self.env}
        self.proc = subprocess.Popen([SQLBOT, "serve", "--port", str(self.port), "--log-level", "warning"],
                                     env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120  # a start-up deadline, not a speed check: demo builds on 2 shared cores
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(self.url + "/healthz", timeout=1).json().get("ready", True):
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start: " + self.log.read_text())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def llm() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    make_db(tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def server(data_dir: Path, llm: OpenAIServer) -> Iterator[Server]:
    s = Server(data_dir, llm).start()
    try:
        register(s)
        yield s
    finally:
        s.stop()


def register(s: Server) -> None:
    r = httpx.post(s.url + "/api/datasources", json={"id": "shop", "type": "duckdb", "path": "shop.duckdb"})
    assert r.status_code in (201, 409), r.text


def sql_reply(sql: str, **kw: float) -> Reply:
    return Reply(f"```sql\n{sql}\n```", **kw)  # type: ignore[arg-type]


def ask(client: httpx.Client, body: dict, path: str = "/api/chat/enhanced-question") -> tuple[list[dict], httpx.Headers]:
    with connect_sse(client, "POST", path, json=body) as source:
        assert source.response.status_code == 200
        return [json.loads(e.data) for e in source.iter_sse()], source.response.headers


def check_stream(events: list[dict]) -> None:
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert [e["type"] in ("final_complete", "stream_error") for e in events].count(True) == 1
    assert events[-1]["type"] in ("final_complete", "stream_error")


def test_streams_the_protocol_and_answers(server: Server, llm: OpenAIServer) -> None:
    llm.responder = lambda messages: sql_reply(LIGHT)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        events, headers = ask(client, {"question": "total amount by region", "datasource_id": "shop"})
        check_stream(events)
        final = events[-1]
        assert final["type"] == "final_complete", final
        out = final["summary"]["output"]
        assert out["columns"] == ["region", "total"] and out["rowCount"] == 3
        started = [e["step"]["name"] for e in events if e["type"] == "step_start"]
        assert started[:5] == ["analyzing_question", "select_datasource", "connect_db", "generate_sql", "execute_query"]
        chat = client.get(f"/api/chats/{headers['x-chat-id']}").json()
        assert chat["records"][0]["status"] == "succeeded" and chat["records"][0]["rowCount"] == 3


def test_legacy_frames_from_the_real_graph(server: Server, llm: OpenAIServer) -> None:
    llm.responder = lambda messages: sql_reply(LIGHT)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        response = client.post("/api/chat/question", json={"question": "total amount by region", "datasource_id": "shop"})
        frames = [json.loads(c[5:]) for c in response.text.split("\n\n") if c.startswith("data:")]
        types = [f["type"] for f in frames]
        assert types[:3] == ["id", "brief", "question"] and types[-1] == "finish", types
        assert {"datasource", "sql-result", "sql", "sql-data"} <= set(types)
        data = client.get(f"/api/chat/records/{frames[0]['id']}/data").json()
        assert data["fields"] == ["region", "total"] and len(data["data"]) == 3


def test_model_failure_is_a_step_error_on_a_200_stream(server: Server, llm: OpenAIServer) -> None:
    llm.responder = lambda messages: HTTPFault(500)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        events, _ = ask(client, {"question": "total amount by region", "datasource_id": "shop"})
        check_stream(events)
        assert events[-1]["type"] == "stream_error" and events[-2]["type"] == "step_error"
        assert events[-1]["stepId"] == "step_004"
        assert client.get("/healthz").status_code == 200  # still serving


def _server_cpu(server: Server, seconds: float = 1.0) -> float:
    """CPU percent of the server and its query worker processes (where user queries run) together."""
    assert server.proc is not None
    root = psutil.Process(server.proc.pid)
    procs = [root, *root.children(recursive=True)]
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.cpu_percent(None)
    time.sleep(seconds)
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.cpu_percent(None)
    return total


def _until_the_query_runs(events: Iterator[ServerSentEvent]) -> None:
    """Read events until the database reports the query's progress: the query itself is running.

    ``step_start`` of execute_query is not enough: on a loaded machine the datasource's query worker may still
    be starting then, and its start-up would be measured as the query's work.
    """
    executing = None
    for sse in events:
        e = json.loads(sse.data)
        if e["type"] == "step_start" and e["step"]["name"] == "execute_query":
            executing = e["step"]["id"]
        elif e["type"] == "step_progress" and e["stepId"] == executing and e.get("progress") is not None:
            return
    raise AssertionError("the stream ended before the query reported progress")


def test_cancel_interrupts_the_database_query(server: Server, llm: OpenAIServer) -> None:
    llm.responder = lambda messages: sql_reply(HEAVY)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        with connect_sse(client, "POST", "/api/chat/enhanced-question",
                         json={"question": "count the pairs", "datasource_id": "shop"}) as source:
            run_id = source.response.headers["x-run-id"]
            it = source.iter_sse()
            _until_the_query_runs(it)
            assert _server_cpu(server, 0.5) > 10  # DuckDB is busy (a low bar: the machine may be shared)
            t0 = time.monotonic()
            cancelled = client.post(f"/api/chat/runs/{run_id}/cancel")
            tail = [json.loads(s.data) for s in it]
            elapsed = time.monotonic() - t0
        assert cancelled.json()["status"] == "cancelled"
        assert tail[-1]["type"] == "stream_error" and tail[-1]["error"]["code"] == "CANCELLED"
        assert elapsed < 1.0, elapsed  # prompt, not after the query (a bound, not a speed check)
        assert _server_cpu(server) < 20  # the query itself stopped, not just the stream


def test_disconnect_grace_then_cancel(server: Server, llm: OpenAIServer) -> None:
    llm.responder = lambda messages: sql_reply(HEAVY)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        with connect_sse(client, "POST", "/api/chat/enhanced-question",
                         json={"question": "count the pairs", "datasource_id": "shop"}) as source:
            run_id = source.response.headers["x-run-id"]
            _until_the_query_runs(source.iter_sse())
        dropped = time.monotonic()
        time.sleep(0.5)
        assert client.get(f"/api/chat/runs/{run_id}").json()["done"] is False  # not cancelled by the drop
        while not (status := client.get(f"/api/chat/runs/{run_id}").json())["done"]:
            time.sleep(0.02)
        waited = time.monotonic() - dropped
        assert status["status"] == "cancelled"
        assert 0.9 <= waited < 3.0, waited  # SQLBOT_DISCONNECT_GRACE_S=1
        assert _server_cpu(server) < 20  # the DuckDB query was interrupted


def test_reconnect_with_last_event_id_loses_nothing(server: Server, llm: OpenAIServer) -> None:
    llm.responder = lambda messages: sql_reply(LIGHT, token_delay_s=0.02)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        with connect_sse(client, "POST", "/api/chat/enhanced-question",
                         json={"question": "total amount by region", "datasource_id": "shop"}) as source:
            run_id = source.response.headers["x-run-id"]
            first = []
            for sse in source.iter_sse():
                first.append(json.loads(sse.data))
                if first[-1]["type"] == "step_content":
                    break  # drop the connection in the middle of the SQL stream
        time.sleep(0.2)
        with connect_sse(client, "GET", f"/api/chat/runs/{run_id}/stream",
                         headers={"Last-Event-ID": str(first[-1]["sequence"])}) as source:
            rest = [json.loads(s.data) for s in source.iter_sse()]
        check_stream(first + rest)
        assert rest[-1]["type"] == "final_complete"
        with connect_sse(client, "GET", f"/api/chat/runs/{run_id}/stream") as source:
            assert [json.loads(s.data) for s in source.iter_sse()] == first + rest


def test_retry_after_restart_reruns_only_the_failed_step(data_dir: Path, llm: OpenAIServer) -> None:
    llm.responder = lambda messages: HTTPFault(500)
    first = Server(data_dir, llm).start()
    try:
        register(first)
        with httpx.Client(base_url=first.url, timeout=60) as client:
            events, headers = ask(client, {"question": "total amount by region", "datasource_id": "shop"})
        assert events[-1]["type"] == "stream_error" and events[-1]["stepId"] == "step_004"
    finally:
        first.stop()
    run_id, chat_id = headers["x-run-id"], headers["x-chat-id"]
    llm.reset()
    llm.responder = lambda messages: sql_reply(LIGHT)
    second = Server(data_dir, llm).start()
    try:
        with httpx.Client(base_url=second.url, timeout=60) as client:
            events, _ = ask(client, {"stepId": "step_004"}, f"/api/chat/runs/{run_id}/retry")
            check_stream(events)
            assert events[-1]["type"] == "final_complete", events[-1]
            starts = [(e["step"]["name"], bool(e["step"]["metadata"].get("reused"))) for e in events
                      if e["type"] == "step_start"]
            assert starts[:3] == [("analyzing_question", True), ("select_datasource", True), ("connect_db", True)]
            assert ("generate_sql", False) in starts and ("execute_query", False) in starts
            assert len(llm.chat_requests) >= 1
            record = client.get(f"/api/chats/{chat_id}").json()["records"]
            assert len(record) == 1 and record[0]["status"] == "succeeded" and record[0]["attempts"] == 2
    finally:
        second.stop()


def test_retrying_a_failed_query_goes_back_through_writing_the_sql(server: Server, llm: OpenAIServer) -> None:
    """Running the same failed statement again would fail the same way: the retry asks for new SQL."""
    llm.push(sql_reply("SELECT region, SUM(no_such_column) AS total FROM sales GROUP BY region"))
    llm.responder = lambda messages: sql_reply(LIGHT)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        events, headers = ask(client, {"question": "total amount by region", "datasource_id": "shop"})
        assert events[-1]["type"] == "stream_error" and events[-1]["stepId"] == "step_005", events[-1]
        asked = len(llm.chat_requests)
        events, _ = ask(client, {"stepId": "step_005"}, f"/api/chat/runs/{headers['x-run-id']}/retry")
        check_stream(events)
        assert events[-1]["type"] == "final_complete", events[-1]
        starts = [(e["step"]["name"], bool(e["step"]["metadata"].get("reused"))) for e in events
                  if e["type"] == "step_start"]
        assert starts[:3] == [("analyzing_question", True), ("select_datasource", True), ("connect_db", True)]
        assert ("generate_sql", False) in starts  # written again, not reused
        assert len(llm.chat_requests) > asked  # the model was asked for SQL again (then for the explanation)
        sql = next(e for e in events if e["type"] == "step_complete" and e["stepId"] == "step_004")["result"]["data"]
        assert "no_such_column" not in sql["sql"]
        assert events[-1]["summary"]["output"]["rowCount"] == 3


def test_edited_sql_runs_through_the_guard_and_is_recorded(server: Server, llm: OpenAIServer) -> None:
    llm.responder = lambda messages: sql_reply(LIGHT)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        events, headers = ask(client, {"question": "total amount by region", "datasource_id": "shop"})
        assert events[-1]["type"] == "final_complete"
        edited = "SELECT region, COUNT(*) AS n FROM sales GROUP BY region ORDER BY region"
        events, second = ask(client, {"sql": edited}, f"/api/chat/runs/{headers['x-run-id']}/sql")
        check_stream(events)
        assert events[-1]["type"] == "final_complete", events[-1]
        starts = {e["step"]["name"]: bool(e["step"]["metadata"].get("reused")) for e in events if e["type"] == "step_start"}
        assert starts["generate_sql"] is True and starts["execute_query"] is False  # writing skipped, the query ran
        written = next(e for e in events if e["type"] == "step_complete" and e["stepId"] == "step_004")
        assert written["result"]["data"]["sql"] == edited and written["result"]["data"]["edited"] is True
        output = events[-1]["summary"]["output"]
        assert output["sql"] == edited and output["columns"] == ["region", "n"] and output["rowCount"] == 3

        # the guard applies: a write is refused, never run, and not sent to the model for repair
        events, _ = ask(client, {"sql": "DELETE FROM sales"}, f"/api/chat/runs/{second['x-run-id']}/sql")
        assert events[-1]["type"] == "stream_error" and events[-1]["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
        records = client.get(f"/api/chats/{headers['x-chat-id']}").json()["records"]
        assert [r["kind"] for r in records] == ["ask", "edit", "edit"]
        assert [r["status"] for r in records] == ["succeeded", "succeeded", "failed"]
        # an older answer cannot be edited any more; a bad body is a 422
        r = client.post(f"/api/chat/runs/{headers['x-run-id']}/sql", json={"sql": edited})
        assert r.status_code == 409 and r.json()["code"] == "CHAT_MOVED_ON"
        r = client.post(f"/api/chat/runs/{second['x-run-id']}/sql", json={"sql": ""})
        assert r.status_code == 422
