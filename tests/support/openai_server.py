"""A scripted, local OpenAI-compatible chat server for tests and benchmarks.

It is a real HTTP server (a small ASGI app under uvicorn, in a background thread on ``127.0.0.1`` and a
free port) speaking the parts of the OpenAI API that SQL writers use:

* ``POST /v1/chat/completions`` — streaming (SSE ``data: {chunk}`` lines, ``reasoning_content`` deltas
  like DeepSeek/Qwen/vLLM, a final usage chunk when ``stream_options.include_usage`` is set, then
  ``data: [DONE]``) and non-streaming;
* ``GET /v1/models``.

What it answers is scripted. Each request takes the next item of a queue (:meth:`OpenAIServer.push`);
when the queue is empty a *responder* ``(messages) -> response`` decides; with neither, the request gets
HTTP 500 ``no scripted response left`` so a test that forgot to script fails loudly. A response is one of:

* :class:`Reply` (or a plain ``str``, meaning ``Reply(content=str)``): content, optional reasoning, a
  per-token delay;
* :class:`HTTPFault`: an HTTP error (429, 500, ...) with an OpenAI-style JSON error body;
* :class:`Hang`: no answer (before the headers, or after some tokens) until the client gives up;
* :class:`Cut`: stream some tokens, then close the connection without ``[DONE]``.

Every request is recorded (:attr:`OpenAIServer.requests`) for assertions. Text is streamed in small
pieces (words, spaces, punctuation, single CJK characters, see :func:`tokenize`), and usage counts those
pieces, so timings and token counts are deterministic.

Usage in a test (the ``openai_server`` pytest fixture, from ``tests/conftest.py``, is a started
server)::

    async def test_writes_sql(openai_server):
        openai_server.push(Reply("```sql\\nSELECT 1\\n```", reasoning="easy"), HTTPFault(429))
        writer = OpenAIWriter(base_url=openai_server.base_url, model="m", timeout_s=2)
        ...
        assert "SELECT" in openai_server.requests[0].messages[-1]["content"]

As a context manager (benchmarks, notebooks)::

    with OpenAIServer(token_delay_s=0.005, responder=lambda messages: "SELECT 1") as server:
        ...  # point a client at server.base_url

Standalone (answers ``SELECT 1`` to everything unless ``--script`` gives a JSON list of responses such as
``[{"content": "...", "reasoning": "..."}, {"status": 429}, {"hang": 30}, {"cut_after": 3, "content": "..."}]``)::

    uv run python -m tests.support.openai_server --port 8011 --token-delay-ms 5 --latency-ms 200

For benchmarks, fix ``token_delay_s`` (and ``latency_s``, the pause before a reply starts) and use a
deterministic responder: a reply of N pieces then takes about ``latency_s + N * token_delay_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

__all__ = [
    "Cut",
    "HTTPFault",
    "Hang",
    "OpenAIServer",
    "RecordedRequest",
    "Reply",
    "Response",
    "Responder",
    "echo_sql",
    "tokenize",
]


@dataclass(frozen=True)
class Reply:
    """A normal answer."""

    content: str = ""
    """The assistant's visible text."""
    reasoning: str = ""
    """Streamed first as ``reasoning_content`` deltas (and returned as ``message.reasoning_content``)."""
    token_delay_s: float | None = None
    """Pause before each streamed piece; None means the server's default."""
    latency_s: float | None = None
    """Pause before the response starts (time to first byte); None means the server's default."""
    usage: Mapping[str, int] | None = None
    """Overrides the computed usage (prompt/completion pieces)."""
    finish_reason: str = "stop"


@dataclass(frozen=True)
class HTTPFault:
    """An HTTP error status with an OpenAI-style JSON body ``{"error": {...}}``."""

    status: int = 500
    message: str = "scripted server error"
    type: str = "server_error"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hang:
    """Stop answering: after ``after_tokens`` pieces of ``content`` (0: before any header) the server waits.

    It waits ``seconds`` (or until the server stops), then ends the response normally.
    """

    seconds: float = 30.0
    after_tokens: int = 0
    content: str = ""


@dataclass(frozen=True)
class Cut:
    """Stream the first ``after_tokens`` pieces of ``content``, then drop the connection without ``[DONE]``."""

    content: str = "SELECT"
    after_tokens: int = 1
    reasoning: str = ""


Response = Reply | HTTPFault | Hang | Cut
Responder = Callable[[list[dict[str, Any]]], "Response | str"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    """The parsed JSON body (empty for GET)."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages sent."""
        return list(self.body.get("messages", []))

    @property
    def model(self) -> str | None:
        """The model name sent."""
        return self.body.get("model")

    @property
    def stream(self) -> bool:
        """Whether the client asked for a streamed answer."""
        return bool(self.body.get("stream"))

    @property
    def params(self) -> dict[str, Any]:
        """Everything in the body except the messages (temperature, stream_options, ...)."""
        return {k: v for k, v in self.body.items() if k != "messages"}

    def text(self) -> str:
        """All message contents joined, for substring assertions."""
        return "\n".join(_content_text(m.get("content")) for m in self.messages)


_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W\u3400-\u9fff\uf900-\ufaff]+|\s+|[^\w\s]", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Split text into small streaming pieces: words, runs of spaces, single punctuation and CJK characters."""
    return _TOKEN.findall(text)


def echo_sql(messages: list[dict[str, Any]]) -> Response:
    """A deterministic responder: always the same fenced ``SELECT 1``."""
    return Reply("```sql\nSELECT 1\n```")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def response_from_json(item: Any) -> Response:
    """Build a response from its JSON form (used by ``--script``)."""
    if isinstance(item, str):
        return Reply(item)
    if "status" in item:
        return HTTPFault(int(item["status"]), item.get("message", "scripted server error"))
    if "hang" in item:
        return Hang(float(item["hang"]), int(item.get("after_tokens", 0)), item.get("content", ""))
    if "cut_after" in item:
        return Cut(item.get("content", "SELECT"), int(item["cut_after"]), item.get("reasoning", ""))
    delay = item.get("token_delay_ms")
    latency = item.get("latency_ms")
    return Reply(
        item.get("content", ""),
        item.get("reasoning", ""),
        token_delay_s=None if delay is None else delay / 1000,
        latency_s=None if latency is None else latency / 1000,
    )


# Set while a Cut is being served, so the log line uvicorn writes when the app drops the connection
# on purpose is not reported as an error.
_cutting: contextvars.ContextVar[bool] = contextvars.ContextVar("openai_server_cutting", default=False)


class _HideDeliberateCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _cutting.get()


class OpenAIServer:
    """The scripted server; see the module docstring. Thread-safe: tests push from their own thread."""

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        token_delay_s: float = 0.0,
        latency_s: float = 0.0,
        model_ids: Sequence[str] = ("test-model",),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.responder = responder
        """Answers when the queue is empty (None: HTTP 500)."""
        self.token_delay_s = token_delay_s
        """Default pause before each streamed piece."""
        self.latency_s = latency_s
        """Default pause before a reply starts."""
        self.model_ids = list(model_ids)
        self.host = host
        self.port = port
        self._queue: deque[Response] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ids = 0

    # ----- scripting and inspection (test side) -----

    def push(self, *responses: Response | str) -> None:
        """Queue responses, answered in order by the next chat requests."""
        with self._lock:
            self._queue.extend(Reply(r) if isinstance(r, str) else r for r in responses)

    @property
    def pending(self) -> int:
        """How many pushed responses are still unused."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The ``/chat/completions`` requests received so far."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def reset(self) -> None:
        """Forget the queue, the responder and the recorded requests."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
        self.responder = None

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ending in ``/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    # ----- lifecycle -----

    def start(self) -> OpenAIServer:
        """Start serving in a background thread; returns when the server accepts connections."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            interface="asgi3",
            log_level="warning",
            log_config=None,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        error_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _HideDeliberateCuts) for f in error_log.filters):
            error_log.addFilter(_HideDeliberateCuts())
        self._stopping = False
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"openai-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("openai_server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving (hanging responses end at once) and wait for the thread."""
        self._stopping = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- the ASGI app (server thread) -----

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body_bytes = b""
        while True:
            message = await receive()
            body_bytes += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            body = json.loads(body_bytes) if body_bytes else {}
        except json.JSONDecodeError:
            await _send_json(
                send, 400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}}
            )
            return
        path: str = scope["path"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        with self._lock:
            self._requests.append(
                RecordedRequest(scope["method"], path, headers, body if isinstance(body, dict) else {})
            )
        if scope["method"] == "GET" and path.rstrip("/").endswith("/models"):
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "openai_server"}
                for m in self.model_ids
            ]
            await _send_json(send, 200, {"object": "list", "data": data})
        elif scope["method"] == "POST" and path.rstrip("/").endswith("/chat/completions"):
            await self._chat(body, send)
        else:
            await _send_json(
                send, 404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}}
            )

    def _next_response(self, messages: list[dict[str, Any]]) -> Response:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            answer = self.responder(messages)
            return Reply(answer) if isinstance(answer, str) else answer
        return HTTPFault(500, "openai_server: no scripted response left and no responder")

    async def _chat(self, body: dict[str, Any], send: Any) -> None:
        messages = list(body.get("messages", []))
        response = self._next_response(messages)
        model = str(body.get("model", self.model_ids[0]))
        if isinstance(response, HTTPFault):
            error = {"message": response.message, "type": response.type, "code": response.status}
            await _send_json(send, response.status, {"error": error}, response.headers)
            return
        if isinstance(response, Hang) and response.after_tokens == 0:
            await self._wait(response.seconds)
        latency = (
            response.latency_s
            if isinstance(response, Reply) and response.latency_s is not None
            else self.latency_s
        )
        if latency > 0:
            await asyncio.sleep(latency)
        prompt_tokens = sum(len(tokenize(_content_text(m.get("content")))) for m in messages)
        if not body.get("stream"):
            await self._complete(response, model, prompt_tokens, send)
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        await self._stream(response, model, prompt_tokens, include_usage, send)

    async def _complete(self, response: Response, model: str, prompt_tokens: int, send: Any) -> None:
        if isinstance(response, Cut):
            _cutting.set(True)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"id": "cut', "more_body": True})
            return
        content = response.content if isinstance(response, Reply | Hang) else ""
        reasoning = response.reasoning if isinstance(response, Reply) else ""
        if isinstance(response, Hang) and response.after_tokens:
            await self._wait(response.seconds)
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if reasoning:
            message["reasoning_content"] = reasoning
        completion_tokens = len(tokenize(content)) + len(tokenize(reasoning))
        usage = self._usage(response, prompt_tokens, completion_tokens)
        finish = response.finish_reason if isinstance(response, Reply) else "stop"
        await _send_json(
            send,
            200,
            {
                "id": self._new_id(),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": usage,
            },
        )

    async def _stream(
        self, response: Response, model: str, prompt_tokens: int, include_usage: bool, send: Any
    ) -> None:
        if isinstance(response, HTTPFault):  # handled earlier; keeps the type checker content
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
            }
        )
        chunk_id = self._new_id()
        created = int(time.time())

        async def event(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            }
            await send({"type": "http.response.body", "body": _sse(chunk), "more_body": True})

        reasoning = response.reasoning if isinstance(response, Reply | Cut) else ""
        pieces = [("reasoning_content", p) for p in tokenize(reasoning)]
        pieces += [("content", p) for p in tokenize(response.content)]
        limit = len(pieces)
        if isinstance(response, Cut):
            limit = min(limit, response.after_tokens + len(tokenize(reasoning)))
        elif isinstance(response, Hang) and response.after_tokens:
            limit = min(limit, response.after_tokens + len(tokenize(reasoning)))
        delay = self.token_delay_s
        if isinstance(response, Reply) and response.token_delay_s is not None:
            delay = response.token_delay_s

        await event({"role": "assistant", "content": ""})
        for key, piece in pieces[:limit]:
            if delay > 0:
                await asyncio.sleep(delay)
            await event({key: piece})
        if isinstance(response, Cut):
            _cutting.set(True)
            return  # uvicorn closes the connection of an unfinished response
        if isinstance(response, Hang) and response.after_tokens:
            await self._wait(response.seconds)
        finish = response.finish_reason if isinstance(response, Reply) else "stop"
        await event({}, finish)
        if include_usage:
            usage = self._usage(response, prompt_tokens, len(pieces))
            chunk = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            }
            await send({"type": "http.response.body", "body": _sse(chunk), "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})

    @staticmethod
    def _usage(response: Response, prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
        if isinstance(response, Reply) and response.usage is not None:
            return dict(response.usage)
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    async def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def _new_id(self) -> str:
        with self._lock:
            self._ids += 1
            return f"chatcmpl-test-{self._ids}"


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


async def _send_json(
    send: Any, status: int, payload: dict[str, Any], headers: Mapping[str, str] | None = None
) -> None:
    data = json.dumps(payload, ensure_ascii=False).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": data})


def running_server(**kwargs: Any) -> Iterator[OpenAIServer]:
    """Yield a started server and stop it afterwards (the body of the pytest fixture)."""
    server = OpenAIServer(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until interrupted (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description="Scripted OpenAI-compatible chat server for tests and benchmarks."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--token-delay-ms", type=float, default=0.0, help="pause before each streamed piece")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="pause before each reply starts")
    parser.add_argument(
        "--script", type=Path, help="JSON list of responses answered in order before the default"
    )
    parser.add_argument("--model", action="append", help="model id listed by /v1/models (repeatable)")
    parser.add_argument(
        "--echo-sql",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="answer unscripted requests with SELECT 1",
    )
    args = parser.parse_args(argv)
    server = OpenAIServer(
        responder=echo_sql if args.echo_sql else None,
        token_delay_s=args.token_delay_ms / 1000,
        latency_s=args.latency_ms / 1000,
        model_ids=args.model or ("test-model",),
        host=args.host,
        port=args.port,
    )
    if args.script:
        server.push(*(response_from_json(item) for item in json.loads(args.script.read_text())))
    with server:
        print(f"openai_server listening on {server.base_url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
