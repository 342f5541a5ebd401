"""Step 3: open a read-only connection to the chosen datasource and load its schema."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from datasources.errors import DatasourceError
from graph.context import Context
from graph.errors import SQLBotError, Text
from graph.protocol import ErrorCode
from graph.reporting import StepReporter
from graph.state import State


async def connect_db(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Connect (reusing a pooled connection when caching is on) and introspect the schema."""
    report = StepReporter("connect_db", runtime.stream_writer)
    registry = runtime.context.registry
    source = state["datasource"]
    zh = state.get("locale") == "zh"
    try:
        report.progress(0, "正在打开数据库（只读）" if zh else "Opening the database read-only")
        connection = await asyncio.to_thread(registry.connect, source["id"])
        latency_ms = await asyncio.to_thread(connection.test)
        report.progress(50, "正在读取表结构" if zh else "Reading the schema")
        schema = await asyncio.to_thread(registry.schema, source["id"])
    except DatasourceError as exc:  # ConnectionFailed and the rest: the database cannot be used as it is
        raise SQLBotError(
            ErrorCode.DATABASE_CONNECTION_FAILED,
            Text(f"{source['name']} could not be opened: {exc.message}", f"无法打开 {source.get('nameZh') or source['name']}：{exc.message}"),
            detail=str(exc),
        ) from exc
    tables = [t.name for t in schema.tables]
    report.progress(100, None)
    kind = source["type"]
    if zh:
        summary = f"已连接 {source.get('nameZh') or source['name']}（{kind}，只读），{len(tables)} 张表"
    else:
        summary = f"Connected to {source['name']} ({kind}, read-only), {len(tables)} tables"
    return {
        "schema_version": schema.version,
        "tables": tables,
        "steps": report.record(summary, {"tables": tables, "schemaVersion": schema.version, "latencyMs": round(latency_ms, 2)}),
    }
