"""The workflow: seven nodes over one state, wired with the repair loop and the optional chart step.

``graph`` (compiled without a checkpointer, as LangGraph Studio requires) is what ``langgraph.json``
points at; the server compiles its own with :func:`build_graph` and a checkpointer.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from langgraph.cache.base import BaseCache
from langgraph.cache.memory import InMemoryCache
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import CachePolicy, RetryPolicy

from graph.context import Context
from graph.errors import RETRY_STRATEGIES, SQLBotError
from graph.protocol import ErrorCode
from graph.reporting import StepReporter
from graph.routes import AfterExecute, route_after_execute
from graph.settings import Settings, get_settings
from graph.state import InputState, State
from nodes.analyzing_question import analyzing_question
from nodes.configure_chart import configure_chart
from nodes.connect_db import connect_db
from nodes.execute_query import execute_query
from nodes.generate_sql import generate_sql
from nodes.present_result import present_result
from nodes.select_datasource import select_datasource

Node = Callable[[State, Runtime[Context]], Awaitable[dict[str, Any]]]


def _is_code(code: ErrorCode) -> Callable[[Exception], bool]:
    def matches(exc: Exception) -> bool:
        return isinstance(exc, SQLBotError) and exc.code == code

    return matches


def retry_policies(settings: Settings) -> list[RetryPolicy]:
    """The proposal's retry strategies as LangGraph retry policies, one per transient error code."""
    policies = []
    for code, strategy in RETRY_STRATEGIES.items():
        policies.append(
            RetryPolicy(
                initial_interval=strategy.base_delay_s * settings.retry_delay_scale,
                # linear over two retries (2 s, 4 s) is the same as doubling; fixed is a factor of 1
                backoff_factor=1.0 if strategy.backoff == "fixed" else 2.0,
                max_attempts=strategy.max_retries + 1,
                jitter=False,
                retry_on=_is_code(code),
            )
        )
    return policies


def visible_retries(node: Node, name: str) -> Node:
    """Report a transient failure that LangGraph is about to retry as a ``step_progress`` event."""

    @functools.wraps(node)
    async def run(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        try:
            return await node(state, runtime)
        except SQLBotError as exc:
            strategy = RETRY_STRATEGIES.get(exc.code)
            attempt = runtime.execution_info.node_attempt if runtime.execution_info else 1
            if strategy and attempt <= strategy.max_retries:
                delay = strategy.delay(attempt) * runtime.context.settings.retry_delay_scale
                locale = state.get("locale", "en")
                message = (
                    f"{exc.message.get(locale)} 将在 {delay:g} 秒后重试（第 {attempt}/{strategy.max_retries} 次）"
                    if locale == "zh"
                    else f"{exc.message.get(locale)} Retrying in {delay:g} s (retry {attempt} of {strategy.max_retries})."
                )
                StepReporter(name, runtime.stream_writer).progress(None, message)
            raise

    return run


def connect_cache_key(state: State) -> str:
    """A connection and schema stay valid while the datasource's file is unchanged (same fingerprint).

    The locale is part of the key because the cached step record carries a localized summary; the
    question and the chat's last turns are, because a large schema's retrieved tables depend on them.
    """
    asked = "\n".join([*(t["question"] for t in (state.get("turns") or [])[-2:]), state.get("question", "")])
    digest = hashlib.sha256(asked.encode()).hexdigest()[:16]
    return f"{(state.get('datasource') or {}).get('id')}|{state.get('fingerprint', '')}|{state.get('locale', '')}|{digest}"


def route_after_execute_query(state: State, runtime: Runtime[Context]) -> AfterExecute:
    """Repair failed SQL, chart a chartable result, otherwise present it."""
    return route_after_execute(state, runtime.context.settings)


def build_graph(
    *,
    settings: Settings | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    cache: BaseCache[Any] | None = None,
) -> CompiledStateGraph[State, Context, InputState, State]:
    """Compile the workflow. Pass a checkpointer for chats and retries; the step cache follows settings."""
    settings = settings or get_settings()
    policies = retry_policies(settings)
    builder = StateGraph(State, context_schema=Context, input_schema=InputState)
    nodes: list[tuple[str, Node]] = [
        ("analyzing_question", analyzing_question),
        ("select_datasource", select_datasource),
        ("connect_db", connect_db),
        ("generate_sql", generate_sql),
        ("execute_query", execute_query),
        ("configure_chart", configure_chart),
        ("present_result", present_result),
    ]
    for name, fn in nodes:
        cache_policy = None
        if name == "connect_db" and settings.enable_step_caching:
            # A datasource's connection and schema are reused until its file changes (fingerprint).
            cache_policy = CachePolicy(key_func=connect_cache_key, ttl=600)
        builder.add_node(  # type: ignore[call-overload]  # a Runtime[Context] node; the overloads miss it with options
            name,
            visible_retries(fn, name),
            retry_policy=policies,
            cache_policy=cache_policy,
            timeout=settings.default_step_timeout,
        )
    builder.add_edge(START, "analyzing_question")
    builder.add_edge("analyzing_question", "select_datasource")
    builder.add_edge("select_datasource", "connect_db")
    builder.add_edge("connect_db", "generate_sql")
    builder.add_edge("generate_sql", "execute_query")
    builder.add_conditional_edges(
        "execute_query",
        route_after_execute_query,
        {"generate_sql": "generate_sql", "configure_chart": "configure_chart", "present_result": "present_result"},
    )
    builder.add_edge("configure_chart", "present_result")
    builder.add_edge("present_result", END)
    if cache is None and settings.enable_step_caching:
        cache = InMemoryCache()
    return builder.compile(checkpointer=checkpointer, cache=cache, name="sqlbot")


graph = build_graph()
"""The workflow as LangGraph Studio and notebooks load it (no checkpointer: the platform adds its own)."""
