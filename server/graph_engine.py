"""The :class:`server.engine.Engine` over the compiled LangGraph graph: the only server module that runs it."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack
from typing import Any

from datasources.registry import Registry
from graph.builder import build_graph
from graph.context import Context, warm_up
from graph.events import start_run
from graph.routes import RETRY_RESET
from graph.settings import Settings
from server.backends import open_checkpointer
from server.engine import Engine, EventStream, ThreadHead


class GraphEngine:
    """:class:`Engine` over the compiled graph, its runtime context and its checkpointer."""

    def __init__(self, graph: Any, context: Any, checkpointer: Any, warming: asyncio.Task[None] | None = None) -> None:
        self.graph = graph
        self.context = context
        self.checkpointer = checkpointer
        self.warming = warming
        self.writer_name: str = getattr(context.writer, "name", "unknown")

    def start(
        self, *, chat_id: str, run_id: str, inputs: dict[str, Any] | None, locale: str | None
    ) -> EventStream:
        """Start a run with ``graph.events.start_run``."""
        config: dict[str, Any] = {"configurable": {"thread_id": chat_id}, "metadata": {"run_id": run_id}}
        stream: EventStream = start_run(
            self.graph,
            inputs=inputs,  # type: ignore[arg-type]
            context=self.context,
            config=config,  # type: ignore[arg-type]
            session_id=run_id,
            locale=locale if locale in ("zh", "en") else None,  # type: ignore[arg-type]
        )
        return stream

    @property
    def ready(self) -> bool:
        """Whether the start-up warm-up has finished."""
        return self.warming is None or self.warming.done()

    async def head(self, chat_id: str) -> ThreadHead:
        """Read the thread's state snapshot."""
        snapshot = await self.graph.aget_state({"configurable": {"thread_id": chat_id}})
        configurable = (snapshot.config or {}).get("configurable", {})
        return ThreadHead(configurable.get("checkpoint_id"), tuple(snapshot.next or ()))

    async def prepare_edit(self, chat_id: str, sql: str) -> ThreadHead | None:
        """A checkpoint as if ``generate_sql`` had written ``sql``: the earlier steps are re-announced as reused.

        The statement counts as having spent the repair budget, so a failing edit is reported to the person
        rather than rewritten by the model.
        """
        config = {"configurable": {"thread_id": chat_id}}
        snapshot = await self.graph.aget_state(config)
        values = dict(snapshot.values or {})
        if not values.get("datasource") or not values.get("question"):
            return None
        before = {k: v for k, v in (values.get("steps") or {}).items()
                  if k in ("analyzing_question", "select_datasource", "connect_db")}
        zh = values.get("locale") == "zh"
        written = {"summary": "SQL 由您编辑" if zh else "SQL edited by you",
                   "data": {"sql": sql, "attempt": 1, "writer": "person", "repair": False, "edited": True},
                   "duration": 0}
        update = {**RETRY_RESET, "sql": sql, "failures": [], "chart": None,
                  "sql_attempts": 1 + self.context.settings.max_retry_attempts,
                  "steps": {"__reset__": {}, **before, "generate_sql": written}}
        await self.graph.aupdate_state(config, update, as_node="generate_sql")
        return await self.head(chat_id)

    async def rewind(self, chat_id: str, as_node: str) -> ThreadHead:
        """A new checkpoint as if ``as_node`` had just completed (with :data:`RETRY_RESET` written)."""
        await self.graph.aupdate_state({"configurable": {"thread_id": chat_id}}, dict(RETRY_RESET), as_node=as_node)
        return await self.head(chat_id)

    async def delete_thread(self, chat_id: str) -> None:
        """Delete the thread's checkpoints."""
        if self.checkpointer is not None:
            await self.checkpointer.adelete_thread(chat_id)


async def graph_engine(settings: Settings, stack: AsyncExitStack) -> tuple[Engine, Registry]:
    """The real engine: the compiled graph with its checkpointer (SQLite, or PostgreSQL when configured)."""
    context = Context.from_settings(settings)
    stack.callback(context.registry.close)
    checkpointer = await open_checkpointer(settings, stack)
    graph = build_graph(settings=settings, checkpointer=checkpointer)
    # First questions should not pay for demo builds, introspection and dictionary loading: do it now, aside.
    warming = asyncio.create_task(asyncio.to_thread(warm_up, context), name="warm-up")
    stack.push_async_callback(_settle, warming)
    return GraphEngine(graph, context, checkpointer, warming), context.registry


async def _settle(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(BaseException):
        await task
