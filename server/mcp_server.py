"""SQLBot as an MCP server (the official ``mcp`` SDK): ``ask``, ``list_datasources``, ``describe_datasource``.

``ask`` runs the same graph and event stream as the web UI (:meth:`server.engine.Engine.start`) and reports
every step as MCP progress notifications (at its start ``progress`` = n + 0.5, at its end n + 1, of ``total``
= 7 steps; ``message`` = the step's title, then its one-line result), then returns the SQL, the rows (bounded), the chart configuration, the
explanation and the interpretation. Two transports:

- **stdio**: ``sqlbot mcp`` (its own engine and checkpointer, built in the MCP server's lifespan; the caller is
  the local user, optionally named with ``--user/--role/--attr`` so row and column policies apply);
- **streamable HTTP** at ``/mcp`` of the FastAPI app (:func:`mount`), sharing the app's engine and registry.
  It is a plain route, so whatever guards the API (keys) can guard it the same way.

The principal of a call comes from :attr:`Backend.principal_of` (None = open mode, no policy).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from mcp.server.mcpserver import Context as MCPContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from datasources.errors import DatasourceError
from datasources.policy import PolicyProvider, StaticPolicies, visible_schema
from datasources.registry import Registry
from graph.access import policy_for
from graph.errors import SQLBotError
from graph.settings import Settings
from graph.state import Principal
from graph.steps import STEPS
from server.engine import Engine

MAX_ROWS = 200
"""Most rows ``ask`` returns (the answer is for a model's context, not an export)."""
INSTRUCTIONS = (
    "SQLBot answers questions about the data in its datasources. Call list_datasources to see them, "
    "describe_datasource for tables and columns, and ask with a question in plain Chinese or English; "
    "pass the returned chat id back to ask follow-up questions."
)


@dataclass
class Backend:
    """What the tools need: the engine that runs questions, the registry, the policies, who is calling."""

    engine: Engine
    registry: Registry
    settings: Settings
    policies: PolicyProvider
    principal_of: Callable[[MCPContext[Any, Any]], Principal | None] = lambda ctx: None
    allowed_of: Callable[[MCPContext[Any, Any]], Awaitable[list[str] | None]] | None = None
    """The datasources the caller may query (None = all): the same grants as the chat API."""

    async def allowed(self, ctx: MCPContext[Any, Any]) -> list[str] | None:
        """The caller's granted datasources (None = no restriction)."""
        return await self.allowed_of(ctx) if self.allowed_of is not None else None


def _progress_message(event: dict[str, Any], titles: dict[str, str]) -> str | None:
    kind = event["type"]
    if kind == "step_start":
        return f"{event['step']['title']}…"
    if kind == "step_complete":
        title = titles.get(event["stepId"], event["stepId"])
        return f"{title}: {'skipped' if event['result'].get('skipped') else event['result']['summary']}"
    if kind == "step_error":
        title = titles.get(event["stepId"], event["stepId"])
        return f"{title} failed: {event['error']['message']}"
    return None


def build_mcp(get_backend: Callable[[], Backend], *, lifespan: Any = None) -> MCPServer[Any]:
    """The MCP server; ``get_backend`` is called per tool call (the HTTP mount builds it in the app's lifespan)."""
    mcp: MCPServer[Any] = MCPServer("sqlbot", instructions=INSTRUCTIONS, version="0.1.0", lifespan=lifespan)

    @mcp.tool()
    async def ask(
        question: str, ctx: MCPContext[Any, Any], datasource: str | None = None, chat: str | None = None,
        max_rows: int = 50,
    ) -> dict[str, Any]:
        """Answer a data question: writes SQL, runs it read-only and returns the SQL, rows, chart and explanation.

        Args:
            question: The question in plain Chinese or English, e.g. "total sales by region".
            datasource: A datasource id from list_datasources; omitted = chosen automatically.
            chat: The chat id of an earlier answer, to ask a follow-up in the same conversation.
            max_rows: Most rows to return (at most 200); rowCount says how many the query produced.
            ctx: The MCP request (progress notifications go to it; supplied by the SDK).
        """
        backend = get_backend()
        chat_id = chat or uuid.uuid4().hex
        inputs: dict[str, Any] = {"question": question, "datasource_id": datasource}
        principal = backend.principal_of(ctx)
        thread = chat_id
        if principal is not None:
            inputs["principal"] = principal
            allowed = await backend.allowed(ctx)
            if allowed is not None:
                inputs["allowed_datasources"] = allowed
            # each user's MCP chats are their own: another user's chat id names a different conversation
            thread = f"mcp:{principal['name']}:{chat_id}"
        stream = backend.engine.start(chat_id=thread, run_id=uuid.uuid4().hex[:12], inputs=inputs, locale=None)
        titles: dict[str, str] = {}
        done = 0
        ticks = 0  # one per step start and end: progress = ticks / 2 rises strictly, as MCP requires
        final: dict[str, Any] | None = None
        error: dict[str, Any] | None = None
        steps: list[dict[str, Any]] = []
        async for item in stream:
            event = item.wire()
            if event["type"] == "step_start":
                titles[event["step"]["id"]] = event["step"]["title"]
            elif event["type"] in ("step_complete", "step_error"):
                done += 1
                outcome = event["result"]["summary"] if event["type"] == "step_complete" else event["error"]["message"]
                steps.append({"step": titles.get(event["stepId"], event["stepId"]), "result": outcome})
            elif event["type"] == "final_complete":
                final = event["summary"]["output"]
            elif event["type"] == "stream_error":
                error = event["error"]
            message = _progress_message(event, titles)
            if message is not None:
                ticks += 1
                await ctx.report_progress(ticks / 2, max(len(STEPS), ticks / 2), message)
        if error is not None or final is None:
            error = error or {"code": "INTERNAL_ERROR", "message": "The run ended without an answer."}
            suggestion = f" Suggestion: {error['suggestion']}" if error.get("suggestion") else ""
            raise ToolError(f"{error['code']}: {error['message']}{suggestion} (chat {chat_id})")
        limit = max(1, min(max_rows, MAX_ROWS))
        data = final.get("data") or []
        return {
            "chat": chat_id,
            "datasource": (final.get("datasource") or {}).get("id"),
            "sql": final.get("sql"),
            "columns": final.get("columns"),
            "rows": [[row.get(c) for c in final.get("columns") or []] for row in data[:limit]],
            "rowCount": final.get("rowCount"),
            "rowsReturned": min(len(data), limit),
            "truncated": bool(final.get("truncated")) or len(data) > limit,
            "chart": final.get("chart"),
            "explanation": final.get("explanation"),
            "interpretation": final.get("interpretation"),
            "steps": steps,
        }

    @mcp.tool()
    async def list_datasources(ctx: MCPContext[Any, Any]) -> list[dict[str, Any]]:
        """The datasources questions can be asked about: id, name, type and description."""
        backend = get_backend()
        allowed = await backend.allowed(ctx)
        return [
            {"id": c.id, "name": c.name, "nameZh": c.name_zh or c.name, "type": c.type,
             "description": c.description_en or c.description_zh}
            for c in backend.registry.list()
            if allowed is None or c.id in allowed
        ]

    @mcp.tool()
    async def describe_datasource(datasource: str, ctx: MCPContext[Any, Any]) -> dict[str, Any]:
        """The tables and columns of one datasource (only the columns the caller may see).

        Args:
            datasource: A datasource id from list_datasources.
            ctx: The MCP request (supplied by the SDK).
        """
        backend = get_backend()
        allowed = await backend.allowed(ctx)
        if allowed is not None and datasource not in allowed:
            raise ToolError(f"DATASOURCE_NOT_FOUND: no datasource {datasource!r} you may query")
        try:
            config = backend.registry.get(datasource)
            schema = backend.registry.schema(datasource)
        except DatasourceError as exc:
            raise ToolError(f"DATASOURCE_NOT_FOUND: {exc.message}") from exc
        try:
            policy = policy_for(backend.principal_of(ctx), backend.policies, schema)
        except SQLBotError as exc:
            raise ToolError(f"{exc.code}: {exc.message.en}") from exc
        schema = visible_schema(schema, policy)
        return {
            "id": config.id,
            "name": config.name,
            "type": config.type,
            "dialect": schema.dialect,
            "description": schema.description_en or config.description_en,
            "tables": [
                {
                    "name": t.name,
                    "description": t.description_en or t.description_zh,
                    "rowCount": t.row_count,
                    "columns": [{"name": c.name, "type": c.type, "description": c.description_en or c.description_zh}
                                for c in t.columns],
                }
                for t in schema.tables
            ],
        }

    return mcp


# --- transports ---------------------------------------------------------------------------------------------


def stdio_server(settings: Settings, principal: Principal | None = None) -> MCPServer[Any]:
    """The stdio server of ``sqlbot mcp``: its own engine (graph, checkpointer, registry) for its lifetime."""
    holder: dict[str, Backend] = {}

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[None]:
        from server.graph_engine import graph_engine

        async with AsyncExitStack() as stack:
            engine, registry = await graph_engine(settings, stack)
            context = getattr(engine, "context", None)
            policies = context.policies if context is not None else StaticPolicies()
            holder["backend"] = Backend(engine, registry, settings, policies, lambda ctx: principal)
            yield

    return build_mcp(lambda: holder["backend"], lifespan=lifespan)


def _request_user(ctx: MCPContext[Any, Any]) -> tuple[Any, Any]:
    """The HTTP request of a tool call and its signed-in user, as the auth middleware left it (None = open)."""
    from server.auth import current_user

    try:
        request = ctx.request_context.request
    except (AttributeError, ValueError):
        return None, None
    scope = getattr(request, "scope", None)
    return request, current_user(scope) if scope is not None else None


def _request_principal(ctx: MCPContext[Any, Any]) -> Principal | None:
    """The signed-in user of an HTTP call as the graph knows it (None = open)."""
    _, user = _request_user(ctx)
    return user.principal() if user is not None else None


async def _request_allowed(ctx: MCPContext[Any, Any]) -> list[str] | None:
    """The datasources the signed-in user of an HTTP call is granted (None = open mode or every one)."""
    from server.access import run_access

    request, user = _request_user(ctx)
    if user is None:
        return None
    services = request.app.state.services
    access = await run_access(services.store, services.registry, user, services.settings.auth_default_grant)
    allowed: list[str] | None = access["allowed_datasources"] if access else None
    return allowed


class HTTPMount:
    """``/mcp`` of the FastAPI app: an ASGI endpoint that forwards to the session manager of the running lifespan.

    The SDK's session manager runs once per instance and owns an anyio task group, so each lifespan of the app
    makes a fresh one (:meth:`serve`) in a task of its own: the lifespan may be entered and left by different
    tasks (pytest fixtures do), which a task group entered directly in the lifespan would not survive.
    """

    def __init__(self, mcp: MCPServer[Any], host: str) -> None:
        self.mcp = mcp
        self.host = host
        self.manager: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Handle one request to ``/mcp`` (503 outside the lifespan)."""
        if self.manager is None:
            response = PlainTextResponse("The MCP endpoint is not running.", status_code=503)
            await response(scope, receive, send)
            return
        await self.manager.handle_request(scope, receive, send)

    async def serve(self, stack: AsyncExitStack) -> None:
        """Start a session manager for this lifespan; ``stack`` stops it."""
        self.mcp.streamable_http_app(streamable_http_path="/mcp", host=self.host)  # builds a fresh manager
        manager = self.mcp.session_manager
        started, stop = asyncio.Event(), asyncio.Event()

        async def run() -> None:
            async with manager.run():
                started.set()
                await stop.wait()

        task = asyncio.create_task(run(), name="mcp-sessions")
        await started.wait()
        self.manager = manager

        async def close() -> None:
            self.manager = None
            stop.set()
            await task

        stack.push_async_callback(close)


def mount(app: FastAPI, settings: Settings) -> HTTPMount:
    """Serve streamable HTTP at ``/mcp`` of ``app``, over the app's own engine and registry.

    The app's lifespan calls :meth:`HTTPMount.serve` (see :mod:`server.app`).
    """

    def backend() -> Backend:
        services = app.state.services
        context = getattr(services.engine, "context", None)
        policies = context.policies if context is not None else StaticPolicies()
        return Backend(services.engine, services.registry, services.settings, policies, _request_principal, _request_allowed)

    endpoint = HTTPMount(build_mcp(backend), settings.host)
    app.router.routes.append(Route("/mcp", endpoint=endpoint))
    return endpoint
