"""The scripted OpenAI-compatible test server speaks the protocol real clients expect."""

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.openai_server import Cut, Hang, HTTPFault, OpenAIServer, Reply, tokenize

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}


def sse_payloads(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


def test_tokenize_makes_small_pieces() -> None:
    assert tokenize("SELECT a, b\nFROM t") == ["SELECT", " ", "a", ",", " ", "b", "\n", "FROM", " ", "t"]
    assert tokenize("共 2 家") == ["共", " ", "2", " ", "家"]


def test_streaming_protocol(openai_server: OpenAIServer) -> None:
    openai_server.push(Reply("SELECT 1", reasoning="why not"))
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}, "temperature": 0.2}
    response = httpx.post(f"{openai_server.base_url}/chat/completions", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(response.text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "why not"
    assert "".join(d.get("content") or "" for d in deltas) == "SELECT 1"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 6,
        "total_tokens": 9,
    }
    recorded = openai_server.chat_requests[0]
    assert recorded.messages == CHAT["messages"] and recorded.params["temperature"] == 0.2 and recorded.stream


def test_no_usage_chunk_unless_asked(openai_server: OpenAIServer) -> None:
    openai_server.push("SELECT 1")
    payloads = sse_payloads(
        httpx.post(f"{openai_server.base_url}/chat/completions", json={**CHAT, "stream": True}).text
    )
    assert not any("usage" in json.loads(p) for p in payloads[:-1])


def test_non_streaming_and_models_with_the_openai_sdk(openai_server: OpenAIServer) -> None:
    client = openai.OpenAI(base_url=openai_server.base_url, api_key="x", max_retries=0)
    openai_server.push(Reply("SELECT 2", reasoning="r"))
    completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "SELECT 2"
    assert completion.choices[0].message.model_extra == {"reasoning_content": "r"}
    assert completion.usage is not None and completion.usage.completion_tokens == 4
    assert [m.id for m in client.models.list()] == ["test-model"]


def test_responder_answers_per_prompt_after_the_queue(openai_server: OpenAIServer) -> None:
    openai_server.responder = lambda messages: f"echo {messages[-1]['content']}"
    openai_server.push("queued first")
    client = openai.OpenAI(base_url=openai_server.base_url, api_key="x", max_retries=0)
    answers = [
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": q}])
        .choices[0]
        .message.content
        for q in ("one", "two")
    ]
    assert answers == ["queued first", "echo two"]
    assert openai_server.pending == 0


def test_unscripted_requests_fail_loudly(openai_server: OpenAIServer) -> None:
    response = httpx.post(f"{openai_server.base_url}/chat/completions", json=CHAT)
    assert response.status_code == 500
    assert "no scripted response" in response.json()["error"]["message"]


def test_faults(openai_server: OpenAIServer) -> None:
    openai_server.push(HTTPFault(429, "slow down", headers={"retry-after": "1"}), Cut("SELECT a FROM t", 2))
    limited = httpx.post(f"{openai_server.base_url}/chat/completions", json=CHAT)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    assert limited.json()["error"]["message"] == "slow down"
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{openai_server.base_url}/chat/completions", json={**CHAT, "stream": True})


def test_token_delay_paces_the_stream(openai_server: OpenAIServer) -> None:
    openai_server.token_delay_s = 0.02
    openai_server.push("a b c d e")  # 9 pieces
    started = time.monotonic()
    httpx.post(f"{openai_server.base_url}/chat/completions", json={**CHAT, "stream": True})
    assert time.monotonic() - started >= 0.18


def test_stopping_ends_a_hang_at_once() -> None:
    server = OpenAIServer().start()
    server.push(Hang(60))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.base_url}/chat/completions", json=CHAT, timeout=0.2)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3


def test_standalone_mode_with_a_script(tmp_path: Path) -> None:
    with OpenAIServer() as probe:  # find a free port
        port = probe.port
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"content": "SELECT 42"}, {"status": 503}]))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.openai_server", "--port", str(port), "--script", str(script)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None and "listening" in process.stdout.readline()
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        first = httpx.post(url, json=CHAT).json()["choices"][0]["message"]["content"]
        assert first == "SELECT 42"
        assert httpx.post(url, json=CHAT).status_code == 503
        assert (
            "SELECT 1" in httpx.post(url, json=CHAT).json()["choices"][0]["message"]["content"]
        )  # --echo-sql
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_latency_delays_the_first_byte(openai_server: OpenAIServer) -> None:
    openai_server.push(Reply("SELECT 1", latency_s=0.15))
    started = time.monotonic()
    with httpx.stream(
        "POST", f"{openai_server.base_url}/chat/completions", json={**CHAT, "stream": True}
    ) as response:
        assert response.status_code == 200
        first_byte = time.monotonic() - started
    assert first_byte >= 0.15
