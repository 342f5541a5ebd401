"""Chat routes in process, over a scripted engine: streams, legacy frames, records, retry, regenerate, chats."""

from __future__ import annotations

import json

import httpx
from httpx_sse import aconnect_sse

from tests.server.scripted import COLUMNS, ROWS, SQL, ScriptedEngine


async def enhanced(client: httpx.AsyncClient, path: str, body: dict | None = None) -> tuple[list[dict], httpx.Headers]:
    async with aconnect_sse(client, "POST", path, json=body or {}) as source:
        assert source.response.status_code == 200
        events = []
        async for sse in source.aiter_sse():
            data = json.loads(sse.data)
            assert sse.event == data["type"]
            assert sse.id == str(data["sequence"])
            events.append(data)
        return events, source.response.headers


async def legacy(client: httpx.AsyncClient, body: dict) -> list[dict]:
    response = await client.post("/api/chat/question", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = [c for c in response.text.split("\n\n") if c]
    assert all(c.startswith("data:{") and "\n" not in c for c in chunks), chunks  # SQLBot framing, no id/event lines
    return [json.loads(c[len("data:"):]) for c in chunks]


async def test_enhanced_stream_is_the_step_protocol(client: httpx.AsyncClient) -> None:
    events, headers = await enhanced(client, "/api/chat/enhanced-question", {"question": "flights per carrier"})
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "final_complete"
    assert sum(e["type"] in ("final_complete", "stream_error") for e in events) == 1
    assert {e["sessionId"] for e in events} == {headers["x-run-id"]}
    assert headers["cache-control"] == "no-cache, no-transform"
    assert headers["x-accel-buffering"] == "no"


async def test_question_with_enhanced_flag_streams_protocol(client: httpx.AsyncClient) -> None:
    events, _ = await enhanced(client, "/api/chat/question", {"question": "flights", "enhanced_streaming": True})
    assert events[0]["type"] == "step_start"


async def test_legacy_stream_frames_and_record_data(client: httpx.AsyncClient) -> None:
    frames = await legacy(client, {"question": "flights per carrier"})
    types = [f["type"] for f in frames]
    assert types[:3] == ["id", "brief", "question"]
    assert types[-1] == "finish"
    order = [t for t in types if t in ("datasource", "sql-result", "sql", "sql-data", "chart", "finish")]
    assert order == ["datasource", "sql-result", "sql-result", "sql-result", "sql", "sql-data", "chart", "finish"]
    by_type = {f["type"]: f for f in frames}
    assert by_type["sql"]["content"] == SQL
    assert by_type["sql-data"]["content"] == "execute-success"
    assert by_type["sql-result"]["reasoning_content"] == "think"
    assert by_type["datasource"]["datasource_name"] == "NYC flights"
    assert json.loads(by_type["chart"]["content"])["type"] == "bar"
    data = (await client.get(f"/api/chat/records/{by_type['id']['id']}/data")).json()
    assert data == {"fields": COLUMNS, "data": ROWS}
    assert (await client.get(f"/api/chat/record/{by_type['id']['id']}/data")).json() == data


async def test_legacy_error_frame(client: httpx.AsyncClient) -> None:
    frames = await legacy(client, {"question": "FAIL@execute_query please"})
    assert frames[-1]["type"] == "error"
    assert json.loads(frames[-1]["content"])["type"] == "exec-sql-err"
    assert "finish" not in [f["type"] for f in frames]


async def test_detailed_streaming_switch_answers_legacy(client: httpx.AsyncClient, app) -> None:  # type: ignore[no-untyped-def]
    app.state.services.settings.enable_detailed_streaming = False
    response = await client.post("/api/chat/enhanced-question", json={"question": "flights"})
    assert response.text.startswith('data:{"type":"id"')


async def test_chat_records_and_follow_up(client: httpx.AsyncClient, engine: ScriptedEngine) -> None:
    _, headers = await enhanced(client, "/api/chat/enhanced-question", {"question": "flights per carrier"})
    chat_id = headers["x-chat-id"]
    _, again = await enhanced(client, "/api/chat/enhanced-question", {"question": "and by month", "chat_id": chat_id})
    assert again["x-chat-id"] == chat_id
    assert engine.threads[chat_id].turns == ["flights per carrier", "and by month"]  # same thread
    chats = (await client.get("/api/chats")).json()
    assert [c["id"] for c in chats] == [chat_id]
    assert chats[0]["title"] == "flights per carrier"
    detail = (await client.get(f"/api/chats/{chat_id}")).json()
    assert [r["question"] for r in detail["records"]] == ["flights per carrier", "and by month"]
    record = detail["records"][0]
    assert record["status"] == "succeeded"
    assert record["sql"] == SQL and record["columns"] == COLUMNS and record["rowCount"] == 2
    assert record["preview"] == [["AA", 10], ["UA", 7]]
    assert record["chart"]["type"] == "bar" and record["explanation"] == "AA flew most."
    assert [s["status"] for s in record["steps"]] == ["completed"] * 7
    assert record["timings"]["total"] == 5
    deleted = await client.delete(f"/api/chats/{chat_id}")
    assert deleted.json() == {"id": chat_id, "deleted": True}
    assert (await client.get(f"/api/chats/{chat_id}")).status_code == 404
    assert chat_id not in engine.threads


async def test_retry_resumes_at_the_failed_step(client: httpx.AsyncClient, engine: ScriptedEngine) -> None:
    events, headers = await enhanced(client, "/api/chat/enhanced-question", {"question": "FAIL@execute_query x"})
    run_id = headers["x-run-id"]
    assert events[-1]["type"] == "stream_error" and events[-1]["stepId"] == "step_005"
    mismatch = await client.post(f"/api/chat/runs/{run_id}/retry", json={"stepId": "step_004"})
    assert mismatch.status_code == 409 and mismatch.json()["code"] == "STEP_MISMATCH"
    retried, retry_headers = await enhanced(client, f"/api/chat/runs/{run_id}/retry", {"stepId": "step_005"})
    assert retry_headers["x-run-id"] == run_id
    assert retried[0]["sequence"] == 1
    reused = [e["stepId"] for e in retried if e["type"] == "step_complete" and e["result"].get("reused")]
    assert reused == ["step_001", "step_002", "step_003", "step_004"]
    assert retried[-1]["type"] == "final_complete"
    assert engine.started[-1] == (run_id, True)
    record = (await client.get(f"/api/chats/{retry_headers['x-chat-id']}")).json()["records"]
    assert len(record) == 1 and record[0]["status"] == "succeeded" and record[0]["attempts"] == 2
    again = await client.post(f"/api/chat/runs/{run_id}/retry")
    assert again.status_code == 409 and again.json()["code"] == "NOT_RETRYABLE"


async def test_retry_refused_when_chat_moved_on(client: httpx.AsyncClient) -> None:
    _, headers = await enhanced(client, "/api/chat/enhanced-question", {"question": "FAIL@generate_sql x"})
    await enhanced(client, "/api/chat/enhanced-question", {"question": "next", "chat_id": headers["x-chat-id"]})
    response = await client.post(f"/api/chat/runs/{headers['x-run-id']}/retry")
    assert response.status_code == 409 and response.json()["code"] == "CHAT_MOVED_ON"


async def test_regenerate_asks_again_as_a_new_record(client: httpx.AsyncClient) -> None:
    _, headers = await enhanced(client, "/api/chat/enhanced-question", {"question": "flights"})
    events, again = await enhanced(client, f"/api/chat/runs/{headers['x-run-id']}/regenerate")
    assert again["x-run-id"] != headers["x-run-id"] and again["x-chat-id"] == headers["x-chat-id"]
    assert events[-1]["type"] == "final_complete"
    records = (await client.get(f"/api/chats/{headers['x-chat-id']}")).json()["records"]
    assert [r["kind"] for r in records] == ["ask", "regenerate"]


async def test_finished_run_replays_after_last_event_id(client: httpx.AsyncClient) -> None:
    events, headers = await enhanced(client, "/api/chat/enhanced-question", {"question": "flights"})
    run_id = headers["x-run-id"]
    async with aconnect_sse(client, "GET", f"/api/chat/runs/{run_id}/stream", headers={"Last-Event-ID": "10"}) as s:
        replay = [json.loads(e.data) async for e in s.aiter_sse()]
    assert replay == events[10:]
    status = (await client.get(f"/api/chat/runs/{run_id}")).json()
    assert status["done"] is True and status["lastSequence"] == len(events)


async def test_openapi_operation_ids_and_protocol_schema(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert {"ask_question", "ask_question_enhanced", "cancel_run", "retry_run", "regenerate_run", "stream_run",
            "list_chats", "get_chat", "delete_chat", "list_datasources", "create_datasource", "healthz",
            "get_protocol_schema"} <= set(ids)
    schema = (await client.get("/api/protocol/schema")).json()
    assert {"StepStartEvent", "FinalCompleteEvent", "StreamErrorEvent"} <= set(schema["$defs"])


async def test_health_names_the_embedded_stores(client: httpx.AsyncClient) -> None:
    health = (await client.get("/healthz")).json()
    assert health["status"] == "ok"
    assert (health["eventLog"], health["eventLogOk"], health["chatStore"]) == ("memory", True, "sqlite")


async def test_ui_placeholder_and_spa_fallback(client: httpx.AsyncClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    page = await client.get("/")
    assert page.status_code == 200 and "not built" in page.text
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<html>app</html>")
    (static / "assets" / "app.js").write_text("console.log(1)")
    assert (await client.get("/chats/abc")).text == "<html>app</html>"
    assert (await client.get("/assets/app.js")).text == "console.log(1)"
    assert (await client.get("/../../etc/passwd")).text == "<html>app</html>"
    assert (await client.get("/api/unknown")).json()["code"] == "ROUTE_NOT_FOUND"
