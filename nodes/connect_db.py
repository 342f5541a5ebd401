"""Step 3: open a read-only connection to the chosen datasource and load its schema.

When the schema is larger than the prompt budget, the step also retrieves the tables this question needs
and reports which ones it considered and why (live step output).
"""

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
from llm.retrieval import Retrieval, index_for, reason_zh, retrieve

MAX_LISTED = 25
"""Tables listed with their reasons in the step output (the rest are counted)."""


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
    pinned = await _knowledge_pins(state, runtime.context, schema)
    retrieval = await asyncio.to_thread(_retrieve, state, runtime.context, schema, pinned)
    report.progress(100, None)
    kind = source["type"]
    if zh:
        summary = f"已连接 {source.get('nameZh') or source['name']}（{kind}，只读），{len(tables)} 张表"
    else:
        summary = f"Connected to {source['name']} ({kind}, read-only), {len(tables)} tables"
    data: dict[str, Any] = {"tables": tables, "schemaVersion": schema.version, "latencyMs": round(latency_ms, 2)}
    if retrieval is not None:
        report.content(_explain(retrieval, zh), kind="trace")
        summary += (
            f"，为本问题检索出 {len(retrieval.tables)} 张" if zh else f"; {len(retrieval.tables)} retrieved for this question"
        )
        data["retrieval"] = retrieval.to_state()
    return {
        "schema_version": schema.version,
        "tables": tables,
        "retrieval": retrieval.to_state() if retrieval is not None else None,
        "steps": report.record(summary, data),
    }


def _over_budget(state: State, context: Context, schema: Any) -> bool:
    """Whether the schema's DDL is over the prompt budget (the index is cached per schema version)."""
    return index_for(schema, state.get("locale", "en")).total_tokens > context.settings.schema_token_budget


async def _knowledge_pins(state: State, context: Context, schema: Any) -> dict[str, str]:
    """Tables the glossary entries and the closest SQL examples of this question use, with the reason.

    Only for a schema that will be cut: a term like "GMV" = SUM(order_items.amount) or a saved example about the
    same thing names tables that the question's own words may not.
    """
    if context.knowledge is None or not await asyncio.to_thread(_over_budget, state, context, schema):
        return {}
    bundle = await context.knowledge.for_question(schema.datasource_id, state["question"])
    return knowledge_tables(bundle, schema) if bundle else {}


def knowledge_tables(bundle: Any, schema: Any) -> dict[str, str]:
    """``{table: reason}`` for the tables a bundle's matched glossary expressions and best examples read."""
    import sqlglot
    from sqlglot import exp

    names = {t.name.lower(): t.name for t in schema.tables}
    by_column: dict[str, list[str]] = {}
    for t in schema.tables:
        for c in t.columns:
            by_column.setdefault(c.name.lower(), []).append(t.name)
    pins: dict[str, str] = {}
    for entry in bundle.glossary:
        if not entry.expression:
            continue
        try:
            tree = sqlglot.parse_one(f"SELECT {entry.expression}", read=schema.dialect)
        except sqlglot.errors.ParseError:
            continue
        for col in tree.find_all(exp.Column):
            owners = [names[col.table.lower()]] if col.table and col.table.lower() in names else by_column.get(col.name.lower(), [])
            if len(owners) == 1:  # a column name many tables share says nothing about which one
                pins.setdefault(owners[0], f"glossary term '{entry.term}'")
    for match in bundle.examples[:2]:
        try:
            tree = sqlglot.parse_one(match.example.sql, read=schema.dialect)
        except sqlglot.errors.ParseError:
            continue
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            name = table.name.lower()
            if name in names and name not in ctes:
                pins.setdefault(names[name], f"SQL example '{match.example.question}'")
    return pins


def _retrieve(state: State, context: Context, schema: Any, pinned: dict[str, str] | None = None) -> Retrieval | None:
    """The retrieved part of a schema over the token budget (None when the whole schema fits)."""
    if not _over_budget(state, context, schema):
        return None
    earlier = " ".join(t["question"] for t in (state.get("turns") or [])[-2:])
    # only a schema that is cut needs its value index here (built once per datasource, then cached)
    values = context.registry.values(schema.datasource_id)
    return retrieve(
        schema, state["question"], budget=context.settings.schema_token_budget, values=values, context=earlier,
        pinned=pinned, locale=state.get("locale", "en"),
    )


def _explain(retrieval: Retrieval, zh: bool) -> str:
    """The considered tables and why, as the person reads it in the step's output."""
    if zh:
        head = (
            f"表结构共 {retrieval.total_tables} 张表（约 {retrieval.schema_tokens} 个词元），超出提示预算 {retrieval.budget}；"
            f"为本问题选用 {len(retrieval.tables)} 张（{retrieval.tokens} 个词元，{retrieval.elapsed_ms:.0f} 毫秒）："
        )
    else:
        head = (
            f"The schema has {retrieval.total_tables} tables (~{retrieval.schema_tokens} tokens), over the prompt budget of "
            f"{retrieval.budget}; {len(retrieval.tables)} considered for this question "
            f"({retrieval.tokens} tokens, {retrieval.elapsed_ms:.0f} ms):"
        )
    lines = [head]
    for name in retrieval.tables[:MAX_LISTED]:
        reasons = retrieval.reasons.get(name) or []
        worded = [reason_zh(r) for r in reasons] if zh else reasons
        lines.append(f"- {name}: {'; '.join(worded[:3]) or ('补足预算' if zh else 'fills the budget')}")
    rest = len(retrieval.tables) - MAX_LISTED
    if rest > 0:
        lines.append(f"……另有 {rest} 张" if zh else f"… and {rest} more")
    return "\n".join(lines)
