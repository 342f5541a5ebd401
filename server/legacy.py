"""The legacy simple stream: protocol events mapped onto the frames existing SQLBot clients read.

SQLBot's ``/chat/question`` sends ``data:{json}`` frames (no ``event:``/``id:`` lines) whose ``type`` is one of
``id``, ``brief``, ``question``, ``datasource-result``, ``datasource``, ``sql-result``, ``info``, ``sql``,
``sql-data``, ``chart-result``, ``chart``, ``finish`` or ``error``. ``sql-data`` only announces the rows; the
client then reads them from ``GET /api/chat/records/{record_id}/data``. This module is a pure mapping over
the one event iterator: no second pipeline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from graph.protocol import (
    ErrorInfo,
    Event,
    FinalCompleteEvent,
    StepCompleteEvent,
    StepContentEvent,
    StreamErrorEvent,
)
from graph.steps import BY_ID

Frame = dict[str, Any]

_CONTENT_TYPES = {
    "select_datasource": "datasource-result",
    "generate_sql": "sql-result",
    "configure_chart": "chart-result",
}


def encode(frame: Frame) -> bytes:
    """One frame as SQLBot writes it: ``data:`` + compact JSON + a blank line."""
    return b"data:" + json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def preamble(record_id: str, question: str, *, title: str | None = None) -> list[Frame]:
    """The frames SQLBot sends before any work: the record id, the chat title (new chats), the question."""
    frames: list[Frame] = [{"type": "id", "id": record_id}]
    if title is not None:
        frames.append({"type": "brief", "brief": title})
    frames.append({"type": "question", "question": question})
    return frames


def _step_name(step_id: str) -> str:
    return BY_ID[step_id].name if step_id in BY_ID else step_id


def _datasource_frame(ds: dict[str, Any]) -> Frame:
    ident = ds.get("id") or ds.get("datasource_id") or ds.get("datasourceId")
    name = ds.get("name") or ds.get("title") or ident
    engine = ds.get("dialect") or ds.get("engine") or ds.get("type") or ""
    return {"type": "datasource", "id": ident, "name": name, "datasource_name": name, "engine_type": engine}


def chosen_datasource(data: dict[str, Any]) -> dict[str, Any] | None:
    """The datasource a ``select_datasource`` result names: ``{"chosen": id, "scores": [{id, name, ...}]}``."""
    if isinstance(data.get("datasource"), dict):
        return dict(data["datasource"])
    ident = data.get("chosen") or data.get("id")
    if not ident:
        return None
    for scored in data.get("scores") or ():
        if isinstance(scored, dict) and scored.get("id") == ident:
            return {"id": ident, "name": scored.get("name") or ident}
    return {"id": ident, "name": ident}


def _error_content(error: ErrorInfo) -> str:
    """SQLBot's error content: a plain message, or JSON with a ``type`` its UI recognises."""
    if error.code == "DATABASE_CONNECTION_FAILED":
        return json.dumps({"message": error.message, "type": "db-connection-err"}, ensure_ascii=False)
    if error.code in ("SQL_EXECUTION_FAILED", "SQL_SYNTAX_ERROR"):
        payload = {"message": error.message, "traceback": error.detail or "", "type": "exec-sql-err"}
        return json.dumps(payload, ensure_ascii=False)
    return error.message


@dataclass
class LegacyAdapter:
    """Maps one run's protocol events onto legacy frames; remembers only what it already announced."""

    sent_datasource: bool = False
    sent_sql: bool = False

    def frames(self, event: Event) -> list[Frame]:
        """The legacy frames for ``event`` (often none)."""
        if isinstance(event, StepContentEvent):
            kind = _CONTENT_TYPES.get(_step_name(event.step_id))
            if kind is None or not (event.content.text or event.content.reasoning):
                return []
            return [{"type": kind, "content": event.content.text, "reasoning_content": event.content.reasoning or ""}]
        if isinstance(event, StepCompleteEvent):
            return self._complete(event)
        if isinstance(event, FinalCompleteEvent):
            return self._final(event)
        if isinstance(event, StreamErrorEvent):
            return [{"type": "error", "content": _error_content(event.error)}]
        return []

    def _complete(self, event: StepCompleteEvent) -> list[Frame]:
        name = _step_name(event.step_id)
        data = event.result.data
        if event.result.skipped:
            return []
        if name == "select_datasource" and isinstance(data, dict) and (ds := chosen_datasource(data)):
            self.sent_datasource = True
            return [_datasource_frame(ds)]
        if name == "generate_sql":
            sql = data if isinstance(data, str) else data.get("sql") if isinstance(data, dict) else None
            if isinstance(sql, str):
                self.sent_sql = True
                return [{"type": "info", "msg": "sql generated"}, {"type": "sql", "content": sql}]
        if name == "execute_query" and not (isinstance(data, dict) and data.get("error")):
            # A failed statement sent back for repair also completes the step; only real rows are announced.
            return [{"type": "sql-data", "content": "execute-success"}]
        return []

    def _final(self, event: FinalCompleteEvent) -> list[Frame]:
        out = event.summary.output
        frames: list[Frame] = []
        if not self.sent_datasource and out.datasource:
            frames.append(_datasource_frame(out.datasource))
        if not self.sent_sql and out.sql:
            frames += [{"type": "info", "msg": "sql generated"}, {"type": "sql", "content": out.sql}]
        if out.chart:
            chart = json.dumps(out.chart, ensure_ascii=False)
            frames += [
                {"type": "info", "msg": "chart generated"},
                {"type": "chart", "content": chart},
            ]
        frames.append({"type": "finish"})
        return frames
