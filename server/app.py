"""The FastAPI application: ``create_app()`` wires settings, registry, graph, checkpointer, store and runs.

Everything live is built in ``lifespan`` and reached by routes through :mod:`server.deps`; nothing imports
the app object. ``uv run sqlbot serve`` runs ``create_app()`` under uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute

from datasources.registry import Registry
from graph.settings import Settings, get_settings
from server import mcp_server
from server.auth import Authenticator, AuthGate, parse_keys
from server.backends import open_event_log, open_knowledge, open_store
from server.deps import Services
from server.engine import Engine
from server.errors import install_error_handlers
from server.limits import EdgeLimits
from server.routes import chat, chats, datasources, edit_sql, export, meta, users
from server.routes import knowledge as knowledge_routes
from server.runs import RunManager

log = logging.getLogger(__name__)
startup_log = logging.getLogger("uvicorn.error")
"""Start-up notices go where uvicorn prints its own, at its log level."""

EngineFactory = Callable[[Settings, AsyncExitStack], Awaitable[tuple[Engine, Registry]]]
"""Builds the engine (and the registry it uses); tests pass a scripted one."""

HEARTBEAT_S = 5.0
EXECUTOR_THREADS = 64
REPLAY_BUDGET_BYTES = 32 << 20
"""Frames of finished runs kept for late reconnects (with at most 512 runs)."""


async def graph_engine(settings: Settings, stack: AsyncExitStack) -> tuple[Engine, Registry]:
    """The default engine: the compiled graph with its SQLite checkpointer (see :mod:`server.graph_engine`)."""
    # Imported on use so an app built around another engine (tests) does not compile the graph.
    from server.graph_engine import graph_engine as build

    return await build(settings, stack)


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


async def _announce_access(auth: Authenticator, host: str) -> None:
    """Say at start-up whether the API needs keys, and warn loudly when an open API is reachable from afar."""
    if await auth.enabled():
        env = len(auth.env_users)
        startup_log.info("API keys required (%d user(s) from SQLBOT_AUTH_KEYS, %d in the users table)",
                 env, await auth.store.count_users())
        return
    if host in _LOOPBACK or host.startswith("127."):
        startup_log.info("no users configured: the API is open to anyone who can reach %s (see 'sqlbot users add')", host)
    else:
        startup_log.warning("NO USERS CONFIGURED and bound to %s: anyone who can reach this address can read every chat "
                    "and query every datasource. Add a user ('sqlbot users add NAME --role admin') or set "
                    "SQLBOT_AUTH_KEYS.", host)


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(
    settings: Settings | None = None,
    *,
    engine_factory: EngineFactory = graph_engine,
    heartbeat_s: float = HEARTBEAT_S,
    executor_threads: int = EXECUTOR_THREADS,
    static_dir: Path = meta.STATIC_DIR,
    replay_budget_bytes: int = REPLAY_BUDGET_BYTES,
) -> FastAPI:
    """Build the app. Nothing is opened until the lifespan starts."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            # Nodes run registry calls and queries in the default executor (asyncio.to_thread); its default
            # size (cpu + 4) makes concurrent runs queue behind each other's queries before their first event.
            executor = ThreadPoolExecutor(max_workers=executor_threads, thread_name_prefix="sqlbot")
            asyncio.get_running_loop().set_default_executor(executor)
            stack.callback(executor.shutdown, wait=False, cancel_futures=True)
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            store = await open_store(settings, stack)
            event_log = open_event_log(settings)
            engine, registry = await engine_factory(settings, stack)
            knowledge = await open_knowledge(settings, stack)
            if (context := getattr(engine, "context", None)) is not None:  # the graph engine's runtime context
                context.knowledge = knowledge
            runs = RunManager(engine, store, grace_s=settings.disconnect_grace_s, keep_finished_bytes=replay_budget_bytes,
                              event_log=event_log, default_locale=settings.default_locale)
            await runs.start()
            stack.push_async_callback(event_log.close)
            # Other workers' runs are alive: only records whose run has no owner any more are interrupted.
            if interrupted := await store.mark_interrupted(event_log.alive if event_log.shared else None):
                log.info("%d run(s) were interrupted by a stopped server; they can be retried", interrupted)
            stack.push_async_callback(runs.shutdown)  # first out: runs end before the log and the store close
            auth = Authenticator(parse_keys(settings.auth_keys), store)
            await _announce_access(auth, settings.host)
            app.state.services = Services(settings, registry, engine, store, runs, auth, heartbeat_s, knowledge)
            await mcp.serve(stack)  # MCP over streamable HTTP at /mcp, behind the same keys (AuthGate)
            yield

    app = FastAPI(
        title="SQLBot",
        summary="Ask data questions; watch every step stream live.",
        version="0.1.0",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    install_error_handlers(app)
    app.add_middleware(AuthGate)
    app.add_middleware(EdgeLimits, max_body_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes)
    for module in (chat, chats, datasources, edit_sql, export, knowledge_routes, meta, users):
        app.include_router(module.router)
    mcp = mcp_server.mount(app, settings)
    app.include_router(meta.static_router(static_dir))  # last: the SPA fallback matches every other GET
    return app
