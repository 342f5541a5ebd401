"""The stand-in model shared by every system in the benchmarks, and the two peer SQL agents.

:class:`StandIn` is the scripted OpenAI-compatible test server (``tests/support/openai_server.py``) with a
responder that reads each system's *real* prompt and answers it sensibly, so every system finishes the
same questions with the same gold SQL and the comparison measures orchestration, prompts and calls:

* SQLBot's SQL prompt → the gold SQL in a fenced block; its explanation prompt → one sentence;
* LangChain's ``create_sql_agent`` (the default text ReAct format) → ``Action: sql_db_list_tables``, then
  ``sql_db_schema`` on the gold's tables, then ``sql_db_query`` with the gold SQL, then a ``Final Answer``;
* the LangGraph SQL-agent tutorial's ReAct agent (tool calling) → the same three tool calls, then an answer.

The test server streams text only; tool-call answers are added here by :class:`StandIn` (a subclass that
answers ``ToolCalls`` itself and hands every text reply to the base server). Both kinds pay the same
``latency_s`` before the reply and ``token_delay_s`` per streamed piece.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from tests.support.openai_server import OpenAIServer, Reply, _content_text, _sse, tokenize

TUTORIAL_PROMPT = """You are an agent designed to interact with a SQL database.
Given an input question, create a syntactically correct {dialect} query to run,
then look at the results of the query and return the answer. Unless the user
specifies a specific number of examples they wish to obtain, always limit your
query to at most {top_k} results.

You can order the results by a relevant column to return the most interesting
examples in the database. Never query for all the columns from a specific table,
only ask for the relevant columns given the question.

You MUST double check your query before executing it. If you get an error while
executing a query, rewrite the query and try again.

DO NOT make any DML statements (INSERT, UPDATE, DELETE, DROP etc.) to the
database.

To start you should ALWAYS look at the tables in the database to see what you
can query. Do NOT skip this step.

Then you should query the schema of the most relevant tables."""
"""The system prompt of LangGraph's "Build a SQL agent" tutorial (prebuilt ReAct agent version)."""


@dataclass(frozen=True)
class ToolCall:
    """One function call the stand-in asks for."""

    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class ToolCalls:
    """An assistant turn that calls tools instead of answering."""

    calls: tuple[ToolCall, ...]


def tables_of(sql: str) -> list[str]:
    """Tables a statement reads, in order of appearance."""
    seen: dict[str, None] = {}
    for table in sqlglot.parse_one(sql).find_all(exp.Table):
        seen.setdefault(table.name, None)
    return list(seen)


ANSWER = "The query result above answers the question: see the rows returned for the details."
"""Every system's final answer is this same sentence, so answer length costs all of them alike."""


def _answer(observation: str) -> str:
    del observation  # the answer's content is not what is measured
    return ANSWER


class StandIn(OpenAIServer):
    """The scripted server answering SQLBot, LangChain's SQL agent and the ReAct agent from the same golds."""

    def __init__(self, golds: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.golds = dict(golds)
        """Question text → gold SQL."""
        self.responder = self._text_only

    # ---- which question, which stage -------------------------------------------------------------

    def _gold(self, text: str) -> tuple[str, str]:
        matches = [q for q in self.golds if q in text]
        if not matches:
            raise LookupError(f"stand-in: no known question in the prompt: {text[-300:]!r}")
        question = max(matches, key=len)
        return question, self.golds[question]

    def decide(self, body: Mapping[str, Any]) -> Reply | ToolCalls:
        """The answer to one chat request, from the system's own prompt and the conversation so far."""
        messages = list(body.get("messages", []))
        system = next((_content_text(m.get("content")) for m in messages if m.get("role") == "system"), "")
        text = "\n".join(_content_text(m.get("content")) for m in messages)
        if system.startswith("You explain the result"):  # SQLBot's explanation
            rows = text.rsplit("Result (", 1)[-1]
            return Reply(_answer(rows))
        if system.startswith("You are an expert data analyst"):  # SQLBot's SQL prompt
            _, gold = self._gold(text.rsplit("Question:", 1)[-1])
            return Reply(f"```sql\n{gold}\n```")
        if body.get("tools"):  # the tool-calling ReAct agent
            return self._react(messages)
        if "Action Input:" in text:  # create_sql_agent's text ReAct prompt
            return self._mrkl(text)
        raise LookupError(f"stand-in: unrecognised prompt: {text[:300]!r}")

    def _react(self, messages: Sequence[Mapping[str, Any]]) -> Reply | ToolCalls:
        last_user = max(i for i, m in enumerate(messages) if m.get("role") == "user")
        question, gold = self._gold(_content_text(messages[last_user].get("content")))
        done = [m for m in messages[last_user:] if m.get("role") == "tool"]
        if len(done) == 0:
            return ToolCalls((ToolCall("sql_db_list_tables", {"tool_input": ""}),))
        if len(done) == 1:
            return ToolCalls((ToolCall("sql_db_schema", {"table_names": ", ".join(tables_of(gold))}),))
        if len(done) == 2:
            return ToolCalls((ToolCall("sql_db_query", {"query": gold}),))
        return Reply(_answer(_content_text(done[-1].get("content"))))

    def _mrkl(self, text: str) -> Reply:
        question, gold = self._gold(text)
        scratchpad = text.rsplit(f"Question: {question}", 1)[-1]
        observations = scratchpad.count("Observation:")
        if observations == 0:
            return Reply("Action: sql_db_list_tables\nAction Input: ")
        if observations == 1:
            return Reply(f"I should look at the schema of the relevant tables.\nAction: sql_db_schema\nAction Input: {', '.join(tables_of(gold))}")
        if observations == 2:
            return Reply(f"I can now query the database.\nAction: sql_db_query\nAction Input: {gold}")
        last = scratchpad.rsplit("Observation:", 1)[-1].split("\nThought:")[0]
        return Reply(f"I now know the final answer\nFinal Answer: {_answer(last)}")

    def _text_only(self, messages: list[dict[str, Any]]) -> Reply:
        answer = self.decide({"messages": messages})
        if not isinstance(answer, Reply):  # pragma: no cover - tool calls never reach the base server
            raise TypeError("tool calls are answered by StandIn._chat")
        return answer

    # ---- serving tool calls (the base server streams text only) ----------------------------------

    async def _chat(self, body: dict[str, Any], send: Any) -> None:
        try:
            answer = self.decide(body)
        except LookupError as exc:
            from tests.support.openai_server import HTTPFault

            self.push(HTTPFault(500, str(exc)))
            await super()._chat(body, send)
            return
        if isinstance(answer, Reply):
            self.push(answer)
            await super()._chat(body, send)
            return
        await self._tool_calls(body, answer, send)

    async def _tool_calls(self, body: dict[str, Any], answer: ToolCalls, send: Any) -> None:
        model = str(body.get("model", self.model_ids[0]))
        calls = [
            {"id": f"call_{i}_{time.monotonic_ns()}", "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))}}
            for i, c in enumerate(answer.calls)
        ]
        pieces = sum(len(tokenize(c["function"]["arguments"])) + 1 for c in calls)
        prompt_tokens = sum(len(tokenize(_content_text(m.get("content")))) for m in body.get("messages", []))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": pieces, "total_tokens": prompt_tokens + pieces}
        await asyncio.sleep(self.latency_s + pieces * self.token_delay_s)
        created = int(time.time())
        if not body.get("stream"):
            payload = {
                "id": self._new_id(), "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None,
                             "message": {"role": "assistant", "content": None, "tool_calls": calls}}],
                "usage": usage,
            }
            data = json.dumps(payload).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data})
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        chunk_id = self._new_id()

        async def event(choices: list[dict[str, Any]], **extra: Any) -> None:
            chunk = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices, **extra}
            await send({"type": "http.response.body", "body": _sse(chunk), "more_body": True})

        deltas = [{"index": i, **c} for i, c in enumerate(calls)]
        await event([{"index": 0, "delta": {"role": "assistant", "content": None, "tool_calls": deltas}, "finish_reason": None}])
        await event([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}])
        if (body.get("stream_options") or {}).get("include_usage"):
            await event([], usage=usage)
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})


# ------------------------------------------------------------------------------------------------- peers


@dataclass
class PeerRun:
    """One question answered by one system."""

    wall_ms: float
    first_progress_ms: float
    """Until the system's own streaming interface yielded anything a UI could show."""
    finished: bool
    answer: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def sql_database(path: Path) -> Any:
    """LangChain's ``SQLDatabase`` over a SQLite file, opened read-only."""
    from langchain_community.utilities import SQLDatabase

    return SQLDatabase.from_uri(f"sqlite:///file:{path}?mode=ro&uri=true")


def chat_model(base_url: str, **kwargs: Any) -> Any:
    """The chat model every peer uses: the same endpoint and settings."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(base_url=base_url, model="stand-in", api_key="not-needed", temperature=0, max_retries=0, **kwargs)  # type: ignore[arg-type]


class LangChainSQLAgent:
    """LangChain's ``create_sql_agent`` (langchain-community SQL toolkit, default agent type)."""

    name = "LangChain create_sql_agent"

    def __init__(self, db: Any, base_url: str) -> None:
        from langchain_community.agent_toolkits import create_sql_agent

        self.agent = create_sql_agent(chat_model(base_url), db=db, max_iterations=15)

    async def ask(self, question: str) -> PeerRun:
        """Stream the agent's steps; the first yielded step is the first progress a person could see."""
        started = time.perf_counter()
        first = None
        answer = ""
        async for chunk in self.agent.astream({"input": question}):
            first = first if first is not None else (time.perf_counter() - started) * 1000
            answer = chunk.get("output", answer)
        wall = (time.perf_counter() - started) * 1000
        return PeerRun(wall, first if first is not None else wall, bool(answer), answer)


class LangGraphReActAgent:
    """The LangGraph SQL-agent tutorial's design: a prebuilt ReAct agent with the SQL toolkit's tools."""

    name = "LangGraph ReAct SQL agent (tutorial)"

    def __init__(self, db: Any, base_url: str) -> None:
        import warnings

        from langchain_community.agent_toolkits import SQLDatabaseToolkit
        from langgraph.prebuilt import create_react_agent

        llm = chat_model(base_url)
        tools = SQLDatabaseToolkit(db=db, llm=llm).get_tools()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # create_react_agent is deprecated in favour of langchain's create_agent
            self.agent = create_react_agent(llm, tools, prompt=TUTORIAL_PROMPT.format(dialect=db.dialect, top_k=5))

    async def ask(self, question: str) -> PeerRun:
        """Stream the agent's updates (tool calls, tool results, answer) as the tutorial does."""
        started = time.perf_counter()
        first = None
        answer = ""
        async for update in self.agent.astream({"messages": [{"role": "user", "content": question}]}, stream_mode="updates"):
            first = first if first is not None else (time.perf_counter() - started) * 1000
            for node in update.values():
                for message in (node or {}).get("messages", []):
                    if getattr(message, "type", "") == "ai" and message.content and not message.tool_calls:
                        answer = str(message.content)
        wall = (time.perf_counter() - started) * 1000
        return PeerRun(wall, first if first is not None else wall, bool(answer), answer)


def prompt_chars(body: Mapping[str, Any]) -> int:
    """Characters a request sends as prompt: message contents plus the tool definitions."""
    chars = sum(len(_content_text(m.get("content"))) for m in body.get("messages", []))
    for m in body.get("messages", []):
        chars += sum(len(json.dumps(c.get("function", {}))) for c in m.get("tool_calls") or [])
    if body.get("tools"):
        chars += len(json.dumps(body["tools"]))
    return chars


