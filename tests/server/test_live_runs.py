"""Runs on a real socket (uvicorn in a thread, scripted engine): disconnect, grace, reconnect, cancel."""

from __future__ import annotations

import json
import time

import httpx
from httpx_sse import aconnect_sse

from tests.server.conftest import ThreadedServer, wait_for
from tests.server.scripted import ScriptedEngine


async def read_until(it, predicate) -> list[dict]:  # type: ignore[no-untyped-def]
    events = []
    async for sse in it:
        events.append(json.loads(sse.data))
        if predicate(events[-1]):
            break
    return events


async def run_status(client: httpx.AsyncClient, run_id: str) -> dict:
    return (await client.get(f"/api/chat/runs/{run_id}")).json()


async def test_dropped_client_is_cancelled_after_the_grace_period(live: ThreadedServer, engine: ScriptedEngine) -> None:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
        async with aconnect_sse(client, "POST", "/api/chat/enhanced-question", json={"question": "SLOW carriers"}) as s:
            run_id = s.response.headers["x-run-id"]
            await read_until(s.aiter_sse(), lambda e: e["type"] == "step_start" and e["step"]["id"] == "step_005")
        dropped = time.monotonic()
        status = await run_status(client, run_id)
        assert status["done"] is False  # a dropped connection is not a cancel
        while not (status := await run_status(client, run_id))["done"]:
            time.sleep(0.02)
        waited = time.monotonic() - dropped
        assert status["status"] == "cancelled"
        assert 0.25 <= waited < 3.0  # grace is 0.3 s
        assert run_id in engine.interrupted  # the slow step itself was stopped
        async with aconnect_sse(client, "GET", f"/api/chat/runs/{run_id}/stream", headers={"Last-Event-ID": "0"}) as s:
            tail = [json.loads(e.data) async for e in s.aiter_sse()]
        assert tail[-1]["type"] == "stream_error" and tail[-1]["error"]["code"] == "CANCELLED"


async def test_reconnect_with_last_event_id_loses_nothing(live: ThreadedServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
        async with aconnect_sse(client, "POST", "/api/chat/enhanced-question", json={"question": "DELAY=60 x"}) as s:
            run_id = s.response.headers["x-run-id"]
            first = await read_until(s.aiter_sse(), lambda e: e["sequence"] == 4)
        async with aconnect_sse(client, "GET", f"/api/chat/runs/{run_id}/stream",
                                headers={"Last-Event-ID": str(first[-1]["sequence"])}) as s:
            rest = [json.loads(e.data) async for e in s.aiter_sse()]
        seqs = [e["sequence"] for e in first + rest]
        assert seqs == list(range(1, len(seqs) + 1))
        assert rest[-1]["type"] == "final_complete"
        assert (await run_status(client, run_id))["status"] == "succeeded"


async def test_two_listeners_see_the_same_events(live: ThreadedServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
        async with aconnect_sse(client, "POST", "/api/chat/enhanced-question", json={"question": "DELAY=30 x"}) as s:
            run_id = s.response.headers["x-run-id"]
            async with aconnect_sse(client, "GET", f"/api/chat/runs/{run_id}/stream") as s2:
                a = [json.loads(e.data) async for e in s.aiter_sse()]
                b = [json.loads(e.data) async for e in s2.aiter_sse()]
        assert a == b and a[-1]["type"] == "final_complete"


async def test_cancel_endpoint_stops_the_run_at_once(live: ThreadedServer, engine: ScriptedEngine) -> None:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
        async with aconnect_sse(client, "POST", "/api/chat/enhanced-question", json={"question": "SLOW x"}) as s:
            run_id = s.response.headers["x-run-id"]
            it = s.aiter_sse()
            await read_until(it, lambda e: e["type"] == "step_start" and e["step"]["id"] == "step_005")
            started = time.monotonic()
            response = await client.post(f"/api/chat/runs/{run_id}/cancel")
            tail = [json.loads(e.data) async for e in it]
            elapsed = time.monotonic() - started
        assert response.json() == {"runId": run_id, "status": "cancelled"}
        assert [e["type"] for e in tail] == ["step_error", "stream_error"]
        assert tail[-1]["error"]["code"] == "CANCELLED"
        assert elapsed < 1.0
        assert run_id in engine.interrupted
        again = await client.post(f"/api/chat/runs/{run_id}/cancel")
        assert again.json()["status"] == "cancelled"  # idempotent


async def test_busy_chat_refuses_a_second_question(live: ThreadedServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
        async with aconnect_sse(client, "POST", "/api/chat/enhanced-question", json={"question": "SLOW x"}) as s:
            chat_id, run_id = s.response.headers["x-chat-id"], s.response.headers["x-run-id"]
            await read_until(s.aiter_sse(), lambda e: e["sequence"] == 1)
            busy = await client.post("/api/chat/enhanced-question", json={"question": "again", "chat_id": chat_id})
            assert busy.status_code == 409 and busy.json()["code"] == "CHAT_BUSY"
            await client.post(f"/api/chat/runs/{run_id}/cancel")


async def test_zero_grace_cancels_at_once(app, engine: ScriptedEngine) -> None:  # type: ignore[no-untyped-def]
    with ThreadedServer(app) as server:
        app.state.services.runs.grace_s = 0
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            async with aconnect_sse(client, "POST", "/api/chat/enhanced-question", json={"question": "SLOW x"}) as s:
                run_id = s.response.headers["x-run-id"]
                await read_until(s.aiter_sse(), lambda e: e["type"] == "step_start" and e["step"]["id"] == "step_005")
            dropped = time.monotonic()
            await wait_for(lambda: run_id in engine.interrupted, 2)
            assert time.monotonic() - dropped < 0.3


async def _events(client: httpx.AsyncClient, url: str, **kw) -> list[dict]:  # type: ignore[no-untyped-def]
    async with aconnect_sse(client, "GET", url, **kw) as s:
        assert s.response.status_code == 200
        return [json.loads(sse.data) async for sse in s.aiter_sse()]


async def test_a_finished_run_never_answers_an_empty_stream(live: ThreadedServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
        async with aconnect_sse(client, "POST", "/api/chat/enhanced-question", json={"question": "carriers"}) as s:
            run_id = s.response.headers["x-run-id"]
            events = [json.loads(sse.data) async for sse in s.aiter_sse()]
        last = events[-1]
        assert last["type"] == "final_complete"
        url = f"/api/chat/runs/{run_id}/stream"
        # Missing only the terminal event: it is replayed, and the stream ends with it.
        tail = await _events(client, url, headers={"Last-Event-ID": str(last["sequence"] - 1)})
        assert [e["sequence"] for e in tail] == [last["sequence"]]
        # At or past the terminal event: a 409 (an EventSource stops on an error status; on an empty 200 it
        # reconnects forever), in the envelope, carrying the terminal event.
        for query, headers in (("", {"Last-Event-ID": str(last["sequence"])}), (f"?after={last['sequence']}", {}),
                               ("?after=999", {}), ("", {"Last-Event-ID": "999"})):
            response = await client.get(url + query, headers=headers)
            assert response.status_code == 409, response.text
            body = response.json()
            assert body["code"] == "RUN_FINISHED"
            assert body["detail"]["lastSequence"] == last["sequence"] and body["detail"]["status"] == "succeeded"
            assert body["detail"]["terminal"] == last


async def test_a_live_run_followed_from_past_its_end_still_ends_with_its_terminal_event(live: ThreadedServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as client:
        async with aconnect_sse(client, "POST", "/api/chat/enhanced-question",
                                json={"question": "DELAY=100 carriers"}) as s:
            run_id = s.response.headers["x-run-id"]
            await read_until(s.aiter_sse(), lambda e: e["sequence"] >= 1)
            late = await _events(client, f"/api/chat/runs/{run_id}/stream?after=999")
        assert [e["type"] for e in late] == ["final_complete"]
