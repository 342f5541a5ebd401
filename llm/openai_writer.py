"""The LLM SQL writer: any OpenAI-compatible chat endpoint through ``langchain-openai``.

It streams the model's answer through ``emit`` as it arrives: visible text as ``Chunk(text=...)`` and
reasoning as ``Chunk(reasoning=...)``. Reasoning comes two ways: the ``reasoning_content`` field of the
streamed delta (DeepSeek, Qwen, vLLM, llama.cpp) and ``<think>…</think>`` blocks inside the content.
``ChatOpenAI`` drops the non-standard ``reasoning_content`` field, so :class:`ReasoningChatOpenAI` puts it
back into each chunk's ``additional_kwargs``.

The client never retries (``max_retries=0``): the graph's retry policies do, visibly. Failures become
:class:`llm.base.WriterError` with a precise ``kind``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from langchain_core.messages import AIMessageChunk, BaseMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_openai import ChatOpenAI

from llm.base import Chunk, Emit, ExplainRequest, SQLDraft, SQLRequest, WriterError
from llm.extract import ThinkSplitter, extract_sql, split_think
from llm.prompts import PromptMessage, explain_messages, sql_messages

try:  # the openai SDK's own HTTP client; its errors are normally wrapped, but not on every path
    import httpx2

    _TIMEOUTS: tuple[type[BaseException], ...] = (httpx.TimeoutException, httpx2.TimeoutException)
    _TRANSPORT: tuple[type[BaseException], ...] = (httpx.TransportError, httpx2.TransportError)
except ImportError:  # pragma: no cover - depends on the installed openai version
    _TIMEOUTS = (httpx.TimeoutException,)
    _TRANSPORT = (httpx.TransportError,)

__all__ = ["OpenAIWriter", "ReasoningChatOpenAI"]

_DETAIL_CHARS = 300
REASONING_KEY = "reasoning_content"


class ReasoningChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` that keeps the ``reasoning_content`` (or ``reasoning``) field of streamed deltas.

    langchain-openai 1.7 converts each delta with ``_convert_delta_to_message_chunk``, which keeps only
    the official fields; this override copies the reasoning text into ``additional_kwargs["reasoning_content"]``.
    """

    def _convert_chunk_to_generation_chunk(
        self,
        chunk: dict[str, Any],
        default_chunk_class: type[BaseMessageChunk],
        base_generation_info: dict[str, Any] | None,
    ) -> ChatGenerationChunk | None:
        generation = super()._convert_chunk_to_generation_chunk(
            chunk, default_chunk_class, base_generation_info
        )
        choices = chunk.get("choices") or chunk.get("chunk", {}).get("choices") or []
        if generation is not None and choices and isinstance(generation.message, AIMessageChunk):
            delta = choices[0].get("delta") or {}
            reasoning = delta.get(REASONING_KEY) or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                generation.message.additional_kwargs[REASONING_KEY] = reasoning
        return generation


@dataclass
class _Answer:
    """One streamed model answer, accumulated."""

    text: str = ""
    reasoning_field: str = ""
    """Reasoning from the delta's ``reasoning_content`` field."""
    reasoning_think: str = ""
    """Reasoning from ``<think>`` blocks in the content."""
    usage: dict[str, int] = field(default_factory=dict)
    finish_reason: str | None = None


class OpenAIWriter:
    """A :class:`llm.base.SQLWriter` backed by an OpenAI-compatible chat completions endpoint."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        temperature: float = 0.0,
        max_prompt_tables: int = 12,
    ) -> None:
        self.name = model
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.max_prompt_tables = max_prompt_tables
        self._chat = ReasoningChatOpenAI(
            base_url=base_url,
            model=model,
            # Local servers ignore the key, but the client insists on one.
            api_key=api_key or "not-needed",
            timeout=timeout_s,
            max_retries=0,
            temperature=temperature,
            streaming=True,
            stream_usage=True,
            # Also bound the wait between parsed chunks (keep-alive bytes reset httpx's read timeout).
            stream_chunk_timeout=timeout_s,
            use_responses_api=False,
            # Tokens reach the UI through ``emit``; LangGraph's "messages" stream mode skips "nostream"
            # runs, so it does not carry every token a second time.
            tags=["nostream"],
        )

    async def write_sql(self, request: SQLRequest, emit: Emit) -> SQLDraft:
        """Write (or, with ``request.failed_sql``, repair) one statement, streaming the answer."""
        answer = await self._stream(sql_messages(request, max_tables=self.max_prompt_tables), emit)
        extraction = extract_sql(answer.text)
        reasoning = "\n\n".join(
            r.strip() for r in (answer.reasoning_field, answer.reasoning_think) if r.strip()
        )
        if extraction.sql is None:
            start = answer.text.strip()[:_DETAIL_CHARS]
            raise WriterError(
                f"The model ({self.name}) answered without a SQL query.",
                "bad_output",
                detail=start or "(empty answer)",
            )
        return SQLDraft(sql=extraction.sql, reasoning=reasoning, model_calls=1, usage=answer.usage)

    async def explain(self, request: ExplainRequest, emit: Emit) -> str:
        """Explain a result in 1–3 sentences in the request's locale, streaming the text."""
        answer = await self._stream(explain_messages(request), emit)
        visible, _ = split_think(answer.text)
        return visible.strip()

    async def _stream(self, messages: Sequence[PromptMessage], emit: Emit) -> _Answer:
        answer = _Answer()
        splitter = ThinkSplitter()

        def route(chunks: list[Chunk]) -> None:
            for chunk in chunks:
                answer.text += chunk.text
                answer.reasoning_think += chunk.reasoning
                emit(chunk)

        try:
            async for message in self._chunks(messages):
                reasoning = message.additional_kwargs.get(REASONING_KEY)
                if isinstance(reasoning, str) and reasoning:
                    answer.reasoning_field += reasoning
                    emit(Chunk(reasoning=reasoning))
                if isinstance(message.content, str) and message.content:
                    route(splitter.feed(message.content))
                if message.usage_metadata:
                    usage = message.usage_metadata
                    answer.usage = {
                        "prompt_tokens": answer.usage.get("prompt_tokens", 0) + usage.get("input_tokens", 0),
                        "completion_tokens": answer.usage.get("completion_tokens", 0)
                        + usage.get("output_tokens", 0),
                    }
                finish = message.response_metadata.get("finish_reason")
                if finish:
                    answer.finish_reason = str(finish)
        except WriterError:
            raise
        except Exception as exc:
            error = self._classify(exc)
            if error is None:
                raise
            raise error from exc
        route(splitter.flush())
        if answer.finish_reason is None:
            # The stream ended without a finish reason: the server dropped it ([DONE] never came).
            raise WriterError(
                f"The model server at {self.base_url} ended the answer before it was finished.",
                "model_unavailable",
                detail=f"stream cut after {len(answer.text)} characters: {answer.text[-_DETAIL_CHARS:]}",
            )
        return answer

    async def _chunks(self, messages: Sequence[PromptMessage]) -> AsyncIterator[AIMessageChunk]:
        async for message in self._chat.astream(list(messages)):
            if isinstance(message, AIMessageChunk):
                yield message

    def _classify(self, exc: BaseException) -> WriterError | None:
        """Map a client exception to a WriterError (None: not a model-transport problem, re-raise)."""
        where = f"the model server at {self.base_url}"
        # Timeouts first: openai.APITimeoutError is a subclass of APIConnectionError.
        if isinstance(exc, (openai.APITimeoutError, asyncio.TimeoutError, *_TIMEOUTS)):
            return WriterError(
                f"No answer from {where} within {self.timeout_s:g} s.",
                "model_timeout",
                detail=f"{type(exc).__name__}: timeout {self.timeout_s:g} s",
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if isinstance(exc, openai.RateLimitError):
                reason = "is rate limiting requests (HTTP 429)"
            elif isinstance(exc, openai.InternalServerError):
                reason = f"failed with HTTP {status}"
            else:
                reason = f"refused the request with HTTP {status}"
            return WriterError(
                f"{where[0].upper()}{where[1:]} {reason}.",
                "model_unavailable",
                detail=f"HTTP {status}: {_body_snippet(exc)}",
            )
        if isinstance(exc, (openai.APIConnectionError, openai.APIError, *_TRANSPORT)):
            cause = _root_cause(exc)
            return WriterError(
                f"Cannot reach {where}.",
                "model_unavailable",
                detail=f"{type(cause).__name__}: {cause}"[:_DETAIL_CHARS],
            )
        return None


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost cause (e.g. the ``ConnectError`` or ``RemoteProtocolError`` under APIConnectionError)."""
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
    return exc


def _body_snippet(exc: openai.APIStatusError) -> str:
    try:
        text = exc.response.text
    except Exception:  # a streamed response whose body was not read
        text = str(exc.body or exc.message)
    return " ".join(text.split())[:_DETAIL_CHARS]
