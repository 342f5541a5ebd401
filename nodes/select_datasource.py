"""Step 2: choose the datasource — the person's choice, or the one the question links to best."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from langgraph.runtime import Runtime

from datasources.errors import DatasourceError, DatasourceNotFound
from graph.context import Context
from graph.errors import SQLBotError, Text
from graph.protocol import ErrorCode
from graph.reporting import StepReporter
from graph.state import State
from llm.offline import score_question


def _describe(config: Any, dialect: str) -> dict[str, Any]:
    return {"id": config.id, "name": config.name, "nameZh": config.name_zh, "type": config.type, "dialect": dialect}


def _fingerprint(registry: Any, datasource_id: str) -> str:
    """The datasource's cache fingerprint; an unreadable file gets none (connect_db reports the problem)."""
    try:
        return str(registry.fingerprint(datasource_id))
    except (DatasourceError, OSError):
        return ""


def _name(config: Any, zh: bool) -> str:
    return str(config.name_zh or config.name) if zh else str(config.name)


def _not_granted(name: str) -> SQLBotError:
    return SQLBotError(
        ErrorCode.INSUFFICIENT_PERMISSIONS,
        Text(f"You have no access to the datasource '{name}'.", f"您没有访问数据源“{name}”的权限。"),
        suggestion=Text("Ask an administrator to grant it to you, or ask about a datasource you can use.",
                        "请联系管理员为您授权，或针对您可以使用的数据源提问。"),
    )


def _named_in(question: str, config: Any) -> bool:
    """Whether the question names the datasource by its id or name (as a whole word, any case)."""
    text = question.casefold()
    for name in {config.id, config.name, config.name_zh}:
        if not name:
            continue
        needle = str(name).casefold()
        if needle.isascii():
            if re.search(rf"(?<![\w]){re.escape(needle)}(?![\w])", text):
                return True
        elif needle in text:
            return True
    return False


async def select_datasource(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Rank every datasource by how well the question links to its schema and pick the best."""
    report = StepReporter("select_datasource", runtime.stream_writer)
    registry = runtime.context.registry
    zh = state.get("locale") == "zh"
    wanted = state.get("datasource_id")
    allowed = state.get("allowed_datasources")
    try:
        if wanted and allowed is not None and wanted not in allowed:
            raise _not_granted(registry.get(wanted).name)
        if wanted:
            # No schema here: a chosen datasource that cannot be opened fails in connect_db, with that step's
            # error and retry, not as a selection failure.
            config = registry.get(wanted)
            summary = f"使用指定的数据源：{_name(config, zh)}" if zh else f"Using the chosen datasource: {config.name}"
            chosen = _describe(config, config.dialect)
            return {
                "datasource": chosen,
                "fingerprint": await asyncio.to_thread(_fingerprint, registry, wanted),
                "candidates": [{"id": config.id, "name": config.name, "score": None}],
                "steps": report.record(summary, {"chosen": config.id, "datasource": chosen, "runnerUp": None, "scores": []}),
            }
        configs = registry.list()
        if allowed is not None:
            # A question that names a datasource the user may not query is refused rather than answered from
            # another one; the rest are simply not considered.
            named = [c for c in configs if c.id not in allowed and _named_in(state["question"], c)]
            configs = [c for c in configs if c.id in allowed]
            if named and not any(_named_in(state["question"], c) for c in configs):
                raise _not_granted(_name(named[0], zh))
            if not configs:
                raise SQLBotError(
                    ErrorCode.INSUFFICIENT_PERMISSIONS,
                    Text("You have no access to any datasource.", "您没有任何数据源的访问权限。"),
                    suggestion=Text("Ask an administrator to grant you a datasource.", "请联系管理员为您授权数据源。"),
                )
    except DatasourceNotFound as exc:
        raise SQLBotError(
            ErrorCode.DATASOURCE_NOT_FOUND,
            Text(f"There is no datasource '{wanted}'.", f"数据源“{wanted}”不存在。"),
            detail=str(exc),
        ) from exc
    if not configs:
        raise SQLBotError(ErrorCode.DATASOURCE_NOT_FOUND, Text("No datasource is configured.", "尚未配置任何数据源。"))

    scored: list[dict[str, Any]] = []
    dialects: dict[str, str] = {}
    for done, config in enumerate(configs, start=1):
        try:
            schema = await asyncio.to_thread(registry.schema, config.id)
            values = await asyncio.to_thread(registry.values, config.id)
        except DatasourceError as exc:  # an unusable datasource is passed over, not fatal
            report.progress(done / len(configs) * 100, f"{_name(config, zh)}: {exc}")
            continue
        link = score_question(state["question"], schema, values)
        dialects[config.id] = schema.dialect
        scored.append({"id": config.id, "name": _name(config, zh), "score": round(link.score, 3), "matched": list(link.matched)[:8]})
        report.progress(done / len(configs) * 100, f"{_name(config, zh)}: {link.score:.2f}")
    scored.sort(key=lambda c: -c["score"])
    if not scored or scored[0]["score"] <= 0:
        raise SQLBotError(
            ErrorCode.DATASOURCE_NOT_FOUND,
            Text("No datasource seems to hold data about this question.", "没有找到与该问题相关的数据源。"),
            suggestion=Text("Pick a datasource yourself, or mention a table or column name.", "请手动选择数据源，或在问题中提及表名或字段名。"),
        )
    best, runner_up = scored[0], (scored[1] if len(scored) > 1 else None)
    lines = [f"{c['name']}: {c['score']:.2f}" + (f"  ({', '.join(c['matched'])})" if c["matched"] else "") for c in scored]
    report.content("\n".join(lines), kind="trace")
    config = registry.get(best["id"])
    if zh:
        summary = f"选择数据源：{best['name']}（得分 {best['score']:.2f}" + (f"，次选 {runner_up['name']} {runner_up['score']:.2f}）" if runner_up else "）")
    else:
        summary = f"Chose {best['name']} (score {best['score']:.2f}" + (f"; runner-up {runner_up['name']} {runner_up['score']:.2f})" if runner_up else ")")
    chosen = _describe(config, dialects[best["id"]])
    return {
        "datasource": chosen,
        "fingerprint": await asyncio.to_thread(_fingerprint, registry, best["id"]),
        "candidates": scored,
        "steps": report.record(summary, {"chosen": best["id"], "datasource": chosen, "runnerUp": runner_up, "scores": scored}),
    }
