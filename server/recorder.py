"""Fill a chat record from the protocol events of its run, as they flow.

This is the one place that reads a run's outcome for storage, so the legacy and the enhanced stream record
exactly the same thing.
"""

from __future__ import annotations

import time
from typing import Any

from graph.protocol import (
    Event,
    FinalCompleteEvent,
    StepCompleteEvent,
    StepErrorEvent,
    StepStartEvent,
    StreamErrorEvent,
)
from graph.steps import BY_ID
from server.legacy import chosen_datasource
from server.store import AuditEntry, Record, StepRecord

STORED_ROWS = 1000
"""Result rows kept per record (``GET /api/chat/records/{id}/data`` serves these)."""


def _step(record: Record, step_id: str) -> StepRecord:
    for step in reversed(record.steps):
        if step.step_id == step_id:
            return step
    name = BY_ID[step_id].name if step_id in BY_ID else step_id
    step = StepRecord(step_id=step_id, name=name, status="running")
    record.steps.append(step)
    return step


def _sql_of(data: Any) -> str | None:
    if isinstance(data, str):
        return data
    if isinstance(data, dict) and isinstance(data.get("sql"), str):
        return str(data["sql"])
    return None


def rows_as_arrays(columns: list[str], data: list[dict[str, Any]], cap: int = STORED_ROWS) -> list[list[Any]]:
    """Protocol result rows (objects keyed by column) as arrays in column order, at most ``cap``."""
    return [[row.get(c) for c in columns] for row in data[:cap]]


def start_attempt(record: Record) -> None:
    """Reset what a new attempt (a retry) will report again, keeping the question and the chat."""
    record.status = "running"
    record.error = None
    record.failed_step = None
    record.pending = []
    record.steps = []


def apply_event(record: Record, event: Event) -> None:
    """Update ``record`` with what ``event`` says."""
    if isinstance(event, StepStartEvent):
        step = _step(record, event.step.id)
        step.status = "running"
        step.reused = bool(event.step.metadata.get("reused"))
    elif isinstance(event, StepCompleteEvent):
        step = _step(record, event.step_id)
        step.status = "skipped" if event.result.skipped else "completed"
        step.duration = event.result.duration
        step.reused = bool(event.result.reused) or step.reused
        record.timings.setdefault("steps", {})[step.name] = event.result.duration
        data = event.result.data
        if step.name == "select_datasource" and isinstance(data, dict) and (ds := chosen_datasource(data)):
            record.datasource = ds
        elif step.name == "generate_sql" and (sql := _sql_of(data)):
            record.sql = sql
    elif isinstance(event, StepErrorEvent):
        _step(record, event.step_id).status = "error"
        record.failed_step = event.step_id
    elif isinstance(event, FinalCompleteEvent):
        out = event.summary.output
        record.status = "succeeded"
        record.sql = out.sql or record.sql
        record.columns = out.columns
        if out.columns is not None and out.data is not None:
            record.rows = rows_as_arrays(out.columns, out.data)
        record.row_count = out.row_count
        record.truncated = out.truncated
        record.chart = out.chart
        record.explanation = out.explanation
        record.datasource = out.datasource or record.datasource
        record.timings["total"] = event.summary.total_duration
    elif isinstance(event, StreamErrorEvent):
        record.status = "cancelled" if event.error.code == "CANCELLED" else "failed"
        record.error = event.error.wire()
        record.failed_step = event.step_id or record.failed_step


REFUSALS = frozenset({"INSUFFICIENT_PERMISSIONS"})
"""Error codes the audit log counts as refusals (the run was not allowed), not as failures."""


def audit_entry(record: Record) -> AuditEntry:
    """What the audit log keeps of a finished run."""
    code = (record.error or {}).get("code")
    if record.status == "succeeded":
        outcome = "ok"
    elif record.status in ("cancelled", "interrupted"):
        outcome = record.status
    else:
        outcome = "refusal" if code in REFUSALS else "error"
    datasource_id = (record.datasource or {}).get("id") or record.datasource_id
    return AuditEntry(at=time.time(), user=record.owner, chat_id=record.chat_id, record_id=record.id,
                      question=record.question, datasource_id=datasource_id, sql=record.sql,
                      row_count=record.row_count, outcome=outcome,  # type: ignore[arg-type]
                      code=None if outcome == "ok" else code)
